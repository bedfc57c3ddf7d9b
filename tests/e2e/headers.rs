//! Header and cookie audit over every route: every JSON operation of the OpenAPI document and
//! every HTML page registered in the source, requested as the principal it is meant for (and
//! with ids that exist as well as ids that do not), must carry the security headers — a strict
//! CSP with `frame-ancestors 'none'`, `nosniff`, a Referrer-Policy — and `Cache-Control:
//! no-store` on everything but static assets. Session cookies are host-only, `HttpOnly`,
//! `SameSite=Lax`, and `Secure` with the `__Host-` prefix when the Portal is served over https.
//!
//! The list of HTML pages is read from `web/src` (every `.at("…", get(…))`), so a new page is
//! audited without anyone remembering to add it here.

use std::collections::BTreeSet;

use reqwest::{Method, Response};
use serde_json::json;

use crate::on_both_backends;
use crate::support::{TestApp, fetch_json, new_client};

on_both_backends!(every_route_carries_the_security_headers);

fn check_headers(what: &str, response: &Response) {
    let headers = response.headers();
    let get = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let csp = get("content-security-policy");
    assert!(
        csp.contains("default-src 'self'")
            && csp.contains("frame-ancestors 'none'")
            && csp.contains("object-src 'none'"),
        "{what}: CSP is {csp:?}"
    );
    assert!(!csp.contains("'unsafe-eval'"), "{what}: CSP allows eval");
    assert_eq!(get("x-content-type-options"), "nosniff", "{what}");
    assert!(
        !get("referrer-policy").is_empty(),
        "{what}: no Referrer-Policy"
    );
    assert_eq!(get("x-frame-options"), "DENY", "{what}");
    let cache = get("cache-control");
    // Public assets (the app's static files and a firm's public branding) may be cached or
    // revalidated; everything else may be personal and is never stored.
    if what.contains(" /static/") || what.contains(" /branding") {
        assert!(!cache.is_empty(), "{what}: public assets say how to cache");
    } else {
        assert!(
            cache.contains("no-store"),
            "{what}: Cache-Control is {cache:?}"
        );
    }
}

/// The session cookie a sign-in answer sets.
fn session_cookie(response: &Response) -> String {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|c| c.contains("portico_session"))
        .expect("a session cookie")
}

/// Every `.at("path", get(…))` in the web crate's sources.
fn html_get_routes() -> BTreeSet<String> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../web/src");
    let mut files = vec![root.join("app.rs")];
    let mut dirs = vec![root.join("pages")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    let mut routes = BTreeSet::new();
    for file in files {
        let text: String = std::fs::read_to_string(&file)
            .unwrap()
            .split_whitespace()
            .collect::<Vec<_>>()
            .join("");
        let mut rest = text.as_str();
        while let Some(at) = rest.find(".at(\"") {
            rest = &rest[at + 5..];
            let Some(end) = rest.find('"') else { break };
            let path = &rest[..end];
            let after = &rest[end + 1..];
            if after.starts_with(",get(") {
                routes.insert(path.to_owned());
            }
        }
    }
    routes
}

async fn every_route_carries_the_security_headers(app: TestApp) {
    let (admin, client, contact, file) = app.firm_with_client().await;
    let invoice = fetch_json(
        app.firm_api(&admin, Method::POST, &format!("/files/{file}/invoices"))
            .json(&json!({"lines": [{"description": "Advice", "amount": 5000}]})),
    )
    .await;
    let invoice_id = invoice["id"].as_str().unwrap().to_owned();

    // Cookies of a sign-in: host-only, HttpOnly, SameSite=Lax (Secure and __Host- under https:
    // see the https case below).
    let response = new_client()
        .post(app.firm_url(&admin.slug, "/api/v1/firm/session"))
        .json(&json!({"email": admin.email, "password": crate::support::firm::STRONG_PASSWORD}))
        .send()
        .await
        .unwrap();
    check_headers("POST /api/v1/firm/session", &response);
    let cookie = session_cookie(&response);
    let lower = cookie.to_lowercase();
    assert!(
        lower.contains("httponly") && lower.contains("samesite=lax") && lower.contains("path=/"),
        "{cookie}"
    );
    assert!(!lower.contains("domain="), "host-only: {cookie}");

    // Every JSON operation, for the principal it belongs to, with real and made-up ids.
    let spec = fetch_json(app.http.get(app.operator_url("/api/openapi.json"))).await;
    let ids = [
        ("/firm/files/{id}", file.to_string()),
        ("/firm/contacts/{id}", contact.to_string()),
        ("/firm/invoices/{id}", invoice_id.clone()),
        ("/portal/files/{id}", file.to_string()),
    ];
    let mut audited = 0;
    for (path, item) in spec["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let real = ids
                .iter()
                .find(|(prefix, _)| path.starts_with(prefix))
                .map(|(_, id)| id.clone())
                .unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
            for id in [real, uuid::Uuid::now_v7().to_string()] {
                let concrete = path
                    .split('/')
                    .map(|seg| {
                        if seg.starts_with('{') {
                            id.as_str()
                        } else {
                            seg
                        }
                    })
                    .collect::<Vec<_>>()
                    .join("/");
                let request = if path.starts_with("/platform") {
                    app.operator_api(method.clone(), &concrete)
                } else if path.starts_with("/portal") {
                    app.portal_api(&client, method.clone(), &concrete)
                } else {
                    app.firm_api(&admin, method.clone(), &concrete)
                };
                let request = if method == Method::GET || method == Method::DELETE {
                    request
                } else {
                    request.json(&json!({}))
                };
                let response = request.send().await.unwrap();
                assert!(
                    response.status().as_u16() < 500,
                    "{method} {concrete}: {}",
                    response.status()
                );
                check_headers(&format!("{method} /api/v1{concrete}"), &response);
                audited += 1;
            }
        }
    }
    assert!(audited > 100, "only {audited} JSON requests audited");

    // Every HTML page, signed in as a member (firm pages) or as the client (portal pages), and
    // anonymously.
    let member_cookie = admin.client.clone();
    let client_browser = new_client();
    let response = client_browser
        .post(app.firm_url(&client.slug, "/api/v1/portal/session"))
        .json(&json!({"email": client.email, "password": crate::support::portal::CLIENT_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let pages = html_get_routes();
    assert!(
        pages.contains("/firm/files/:id") && pages.contains("/billing"),
        "{pages:?}"
    );
    for page in &pages {
        let real = if page.contains("invoices") {
            invoice_id.clone()
        } else {
            file.to_string()
        };
        let concrete = page
            .split('/')
            .map(|seg| {
                if seg.starts_with(':') {
                    real.as_str()
                } else {
                    seg
                }
            })
            .collect::<Vec<_>>()
            .join("/");
        let browsers: Vec<(&str, &reqwest::Client)> = vec![
            ("member", &member_cookie),
            ("client", &client_browser),
            ("anonymous", &app.http),
        ];
        for (who, browser) in browsers {
            let url = if page.starts_with("/tenants") || page.starts_with("/operator") {
                app.operator_url(&concrete)
            } else {
                app.firm_url(&admin.slug, &concrete)
            };
            let response = browser.get(url).send().await.unwrap();
            assert!(
                response.status().as_u16() < 500,
                "{who} GET {concrete}: {}",
                response.status()
            );
            check_headers(&format!("{who} GET {concrete}"), &response);
        }
    }

    // Under https the session cookie is Secure with the __Host- prefix.
    let https =
        TestApp::spawn_with(app.backend, json!({"server": {"public_scheme": "https"}})).await;
    let tenant = https.create_tenant().await;
    let slug = tenant["slug"].as_str().unwrap().to_owned();
    let email = format!("admin@{slug}.example");
    let mail = https.wait_for_file_mail(&email).await;
    let token = crate::support::link_token(&mail, "/firm/setup/");
    let setup = https
        .http
        .post(https.firm_url(&slug, &format!("/api/v1/firm/setup/{token}")))
        .json(&json!({"password": crate::support::firm::STRONG_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(setup.status(), 200);
    let response = new_client()
        .post(https.firm_url(&slug, "/api/v1/firm/session"))
        .json(&json!({"email": email, "password": crate::support::firm::STRONG_PASSWORD}))
        .send()
        .await
        .unwrap();
    let cookie = session_cookie(&response);
    assert!(
        cookie.starts_with("__Host-portico_session=") && cookie.to_lowercase().contains("secure"),
        "{cookie}"
    );
    assert!(!cookie.to_lowercase().contains("domain="), "{cookie}");
    assert!(
        response
            .headers()
            .get("strict-transport-security")
            .is_some()
    );
}
