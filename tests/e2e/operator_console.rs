//! The operator console (HTML): sign-in, host-only session cookie, CSRF, onboarding forms; and
//! wrong operator tokens (console or API) locking out their address.

use reqwest::StatusCode;
use serde_json::json;

use crate::on_both_backends;
use crate::support::{TestApp, new_client, unique_slug};

on_both_backends!(
    console_sign_in_onboard_suspend_and_sign_out,
    console_forms_refuse_cross_site_requests,
    wrong_operator_tokens_lock_out_their_address_on_the_console_and_the_api
);

/// Wrong operator tokens an address may send before it is refused (`operator_throttle::LIMIT`).
const WRONG_TOKENS_ALLOWED: usize = 10;

fn csrf_of(page: &str) -> String {
    let marker = "name=\"csrf\" value=\"";
    let start = page.find(marker).expect("csrf field") + marker.len();
    page[start..].chars().take_while(|c| *c != '"').collect()
}

async fn sign_in(app: &TestApp, client: &reqwest::Client) -> String {
    let response = client
        .post(app.operator_url("/login"))
        .header("origin", app.operator_url(""))
        .form(&[("token", app.operator_token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let page = client
        .get(app.operator_url("/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Onboard a firm"), "signed in");
    csrf_of(&page)
}

async fn console_sign_in_onboard_suspend_and_sign_out(app: TestApp) {
    let client = new_client();
    let login = client.get(app.operator_url("/")).send().await.unwrap();
    assert_eq!(login.status(), 200);
    assert!(login.text().await.unwrap().contains("Operator token"));

    let wrong = client
        .post(app.operator_url("/login"))
        .form(&[("token", "not-the-operator-token-at-all")])
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert!(wrong.text().await.unwrap().contains("not valid"));

    let response = client
        .post(app.operator_url("/login"))
        .form(&[("token", app.operator_token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let cookie = response
        .headers()
        .get("set-cookie")
        .expect("session cookie")
        .to_str()
        .unwrap()
        .to_owned();
    assert!(cookie.starts_with("portico_operator="), "{cookie}");
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(cookie.contains(attribute), "{attribute} in {cookie}");
    }
    assert!(
        !cookie.to_lowercase().contains("domain="),
        "host-only: {cookie}"
    );
    let session_value: String = cookie["portico_operator=".len()..]
        .chars()
        .take_while(|c| *c != ';')
        .collect();

    let page = client
        .get(app.operator_url("/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = csrf_of(&page);
    let slug = unique_slug();
    let created = client
        .post(app.operator_url("/tenants"))
        .header("origin", app.operator_url(""))
        .header("sec-fetch-site", "same-origin")
        .form(&[
            ("csrf", csrf.as_str()),
            ("slug", &slug),
            ("name", "Console & Co"),
            ("admin_email", "ada@console.example"),
            ("admin_name", "Ada"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::SEE_OTHER);
    let location = created
        .headers()
        .get("location")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(location, format!("/?created={slug}"));
    let page = client
        .get(app.operator_url(&location))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("onboarded") && page.contains("Console &amp; Co"),
        "listed, escaped"
    );
    assert_eq!(
        app.http
            .get(app.firm_url(&slug, "/"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    // Validation errors re-render the form with the reason and the values typed.
    let invalid = client
        .post(app.operator_url("/tenants"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("slug", "www"),
            ("name", "Typed Name"),
            ("admin_email", "a@b.example"),
            ("admin_name", "A"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(invalid.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = invalid.text().await.unwrap();
    assert!(page.contains("reserved") && page.contains("value=\"Typed Name\""));

    let suspended = client
        .post(app.operator_url(&format!("/tenants/{slug}/suspend")))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(suspended.status(), 200);
    assert!(suspended.text().await.unwrap().contains("is suspended"));
    assert_eq!(
        app.http
            .get(app.firm_url(&slug, "/"))
            .send()
            .await
            .unwrap()
            .status(),
        403
    );

    let out = client
        .post(app.operator_url("/logout"))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), StatusCode::SEE_OTHER);
    // The old cookie no longer opens the console: the session is gone server-side.
    let replay = new_client()
        .get(app.operator_url("/"))
        .header("cookie", format!("portico_operator={session_value}"))
        .send()
        .await
        .unwrap();
    assert!(replay.text().await.unwrap().contains("Operator token"));
    // A forged cookie is just as useless.
    let forged = new_client()
        .get(app.operator_url("/"))
        .header(
            "cookie",
            format!(
                "portico_operator={}x",
                &session_value[..session_value.len() - 1]
            ),
        )
        .send()
        .await
        .unwrap();
    assert!(forged.text().await.unwrap().contains("Operator token"));
}

async fn console_forms_refuse_cross_site_requests(app: TestApp) {
    let client = new_client();
    let csrf = sign_in(&app, &client).await;
    let attempt = |extra: Vec<(&'static str, String)>, csrf: String| {
        let client = client.clone();
        let url = app.operator_url("/tenants");
        let slug = unique_slug();
        async move {
            let mut request = client.post(url);
            for (name, value) in extra {
                request = request.header(name, value);
            }
            let response = request
                .form(&[
                    ("csrf", csrf.as_str()),
                    ("slug", &slug),
                    ("name", "Forged"),
                    ("admin_email", "x@forged.example"),
                    ("admin_name", "X"),
                ])
                .send()
                .await
                .unwrap();
            (response.status(), slug)
        }
    };
    let sibling = format!("http://otherfirm.localhost:{}", app.port());
    for (headers, token) in [
        (vec![], String::new()),
        (vec![], "wrong-token".to_owned()),
        (
            vec![("sec-fetch-site", "cross-site".to_owned())],
            csrf.clone(),
        ),
        (
            vec![("sec-fetch-site", "same-site".to_owned())],
            csrf.clone(),
        ),
        (vec![("origin", sibling.clone())], csrf.clone()),
        (
            vec![("origin", "http://evil.example".to_owned())],
            csrf.clone(),
        ),
    ] {
        let (status, slug) = attempt(headers.clone(), token).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{headers:?}");
        let firms = app
            .count(
                "SELECT COUNT(*) AS n FROM tenant WHERE slug = $1",
                vec![slug.into()],
            )
            .await;
        assert_eq!(firms, 0, "no state change for {headers:?}");
    }
    let (status, slug) = attempt(
        vec![
            ("sec-fetch-site", "same-origin".to_owned()),
            ("origin", app.operator_url("")),
        ],
        csrf,
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(
        app.count(
            "SELECT COUNT(*) AS n FROM tenant WHERE slug = $1",
            vec![slug.into()]
        )
        .await,
        1
    );

    // The console's forms do not exist on a firm's host.
    let firm = app.create_tenant().await;
    let on_firm = client
        .post(app.firm_url(firm["slug"].as_str().unwrap(), "/tenants"))
        .form(&[("csrf", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(on_firm.status(), StatusCode::NOT_FOUND);
}

/// Ten wrong tokens from one address (through the API and the console together) and that
/// address is refused — 429 with Retry-After, even with the right token, on both — while
/// another address signs in; a right token before the limit clears the count.
async fn wrong_operator_tokens_lock_out_their_address_on_the_console_and_the_api(app: TestApp) {
    let app = TestApp::spawn_with(app.backend, json!({"auth": {"trusted_proxy_hops": 1}})).await;
    let http = new_client();
    let tenants = app.operator_url("/api/v1/platform/tenants");
    let api = |address: &str, token: &str| {
        http.get(&tenants)
            .header("x-forwarded-for", address)
            .bearer_auth(token)
    };
    let console = |address: &str, token: &str| {
        new_client()
            .post(app.operator_url("/login"))
            .header("x-forwarded-for", address)
            .header("origin", app.operator_url(""))
            .form(&[("token", token.to_owned())])
    };
    let (guesser, operator, clears) = ("203.0.113.9", "198.51.100.4", "192.0.2.77");
    let wrong = "not-the-operator-token-at-all";

    // A right token before the limit starts the count again.
    for round in 0..2 {
        for _ in 0..WRONG_TOKENS_ALLOWED - 1 {
            assert_eq!(api(clears, wrong).send().await.unwrap().status(), 401);
        }
        let right = api(clears, &app.operator_token).send().await.unwrap();
        assert_eq!(
            right.status(),
            200,
            "round {round}: nine wrong since the count began"
        );
    }

    // Half the guesses through the API, half through the console: one count.
    for attempt in 0..WRONG_TOKENS_ALLOWED {
        let status = if attempt % 2 == 0 {
            api(guesser, wrong).send().await.unwrap().status()
        } else {
            console(guesser, wrong).send().await.unwrap().status()
        };
        assert_eq!(status, 401, "wrong token {attempt}");
    }
    let refused = api(guesser, &app.operator_token).send().await.unwrap();
    assert_eq!(
        refused.status(),
        429,
        "the right token from a locked-out address"
    );
    let retry_after: u64 = refused.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (1..=900).contains(&retry_after),
        "Retry-After {retry_after}"
    );
    let problem: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(problem["status"], 429, "{problem}");
    let page = console(guesser, &app.operator_token).send().await.unwrap();
    assert_eq!(page.status(), 429, "the console refuses it too");
    assert!(page.headers().contains_key("retry-after"));
    let page = page.text().await.unwrap();
    assert!(page.contains("Too many wrong tokens"), "{page}");

    // Another address is not affected.
    assert_eq!(
        api(operator, &app.operator_token)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let signed_in = console(operator, &app.operator_token).send().await.unwrap();
    assert_eq!(
        signed_in.status(),
        StatusCode::SEE_OTHER,
        "console sign-in elsewhere"
    );
}
