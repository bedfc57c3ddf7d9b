//! Options > Client Portal: the JSON API, the options page, branding applied at once, the logo.

use reqwest::Method;
use reqwest::multipart::{Form, Part};
use serde_json::{Value, json};

use crate::on_both_backends;
use crate::support::firm::FirmSession;
use crate::support::{TestApp, expect_problem};

on_both_backends!(
    administrators_read_and_change_the_options,
    only_administrators_reach_the_options,
    invalid_options_are_refused_and_nothing_is_saved,
    branding_applies_to_the_client_pages_at_once,
    oversized_and_disguised_logos_are_refused,
    options_page_shows_the_portal_address_and_saves_with_csrf,
    options_page_uploads_and_removes_the_logo,
    unreadable_options_are_an_error_where_they_would_be_saved_back,
    unreadable_options_decide_nothing,
    unreadable_options_share_no_document,
    unreadable_options_invite_nobody,
);

const MAX_LOGO_BYTES: usize = portico_tenants::options::MAX_LOGO_BYTES;

/// A body that starts like a PNG file (logos are recognised by their first bytes).
fn png(len: usize) -> Vec<u8> {
    let mut bytes = b"\x89PNG\r\n\x1a\n".to_vec();
    bytes.resize(len, 7);
    bytes
}

fn logo_form(bytes: Vec<u8>, file_name: &str, mime: &str) -> Form {
    Form::new().part(
        "file",
        Part::bytes(bytes)
            .file_name(file_name.to_owned())
            .mime_str(mime)
            .unwrap(),
    )
}

async fn audit_count(app: &TestApp, session: &FirmSession, action: &str) -> i64 {
    app.count(
        "SELECT COUNT(*) AS n FROM audit_log WHERE tenant_id = $1 AND action = $2",
        vec![session.tenant_id.into(), action.into()],
    )
    .await
}

/// A POST from the firm's own pages: the member's cookie and the firm's origin.
fn page_post(app: &TestApp, session: &FirmSession, path: &str) -> reqwest::RequestBuilder {
    session
        .client
        .post(app.firm_url(&session.slug, path))
        .header("origin", app.portal_url(&session.slug))
}

async fn page_get(app: &TestApp, session: &FirmSession, path: &str) -> (u16, String) {
    let response = session
        .client
        .get(app.firm_url(&session.slug, path))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.text().await.unwrap())
}

/// The form fields of the options page as a browser sends them (unticked boxes absent).
fn page_fields(csrf: &str, overrides: &[(&str, &str)], unticked: &[&str]) -> Vec<(String, String)> {
    let mut fields: Vec<(String, String)> = [
        ("csrf", csrf),
        ("enabled", "on"),
        ("invitation_valid_days", "7"),
        (
            "invitation_template",
            "Hello,\r\n\r\nStart here: {setup_link}\r\n",
        ),
        ("terms_of_service", "Be nice."),
        ("display_name", ""),
        ("accent_color", "#1f5f8b"),
        ("welcome_message", "Welcome."),
        ("kind_documents", "on"),
        ("kind_notes", "on"),
        ("kind_appointments", "on"),
        ("kind_tasks", "on"),
        ("kind_custom_fields", "on"),
        ("kind_bills", "on"),
        ("upload_limit_mb", "50"),
    ]
    .iter()
    .filter(|(name, _)| !unticked.contains(name))
    .map(|(name, value)| {
        let value = overrides
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| *v)
            .unwrap_or(value);
        ((*name).to_owned(), value.to_owned())
    })
    .collect();
    for (name, value) in overrides {
        if !fields.iter().any(|(n, _)| n == name) {
            fields.push(((*name).to_owned(), (*value).to_owned()));
        }
    }
    fields
}

async fn administrators_read_and_change_the_options(app: TestApp) {
    let admin = app.firm_with_admin().await;
    let defaults = app.firm_options(&admin).await;
    assert_eq!(defaults["enabled"], true);
    assert_eq!(defaults["portal_url"], app.portal_url(&admin.slug));
    assert_eq!(defaults["invitation_valid_days"], 7);
    assert!(
        defaults["invitation_template"]
            .as_str()
            .unwrap()
            .contains("{setup_link}")
    );
    assert!(!defaults["terms_of_service"].as_str().unwrap().is_empty());
    assert_eq!(defaults["display_name"], "");
    assert_eq!(defaults["accent_color"], "#1f5f8b");
    assert_eq!(
        defaults["shareable_kinds"],
        json!([
            "documents",
            "notes",
            "appointments",
            "tasks",
            "custom_fields",
            "bills"
        ])
    );
    assert_eq!(defaults["notify_client_on_share"], false);
    assert_eq!(defaults["upload_limit_mb"], 50);
    assert_eq!(defaults["has_logo"], false);

    // What GET answered can be sent back changed; the read-only fields are ignored.
    let mut wanted = defaults.clone();
    wanted["enabled"] = json!(false);
    wanted["portal_url"] = json!("https://elsewhere.example");
    wanted["has_logo"] = json!(true);
    wanted["invitation_valid_days"] = json!(14);
    wanted["invitation_template"] = json!("Dear client,\n\nYour link: {setup_link}\n");
    wanted["terms_of_service"] = json!("Confidential. Be kind.");
    wanted["display_name"] = json!("  Harbor Legal  ");
    wanted["accent_color"] = json!("#AA3300");
    wanted["welcome_message"] = json!("Hello from Harbor.");
    wanted["shareable_kinds"] = json!(["bills", "documents", "bills"]);
    wanted["notify_client_on_share"] = json!(true);
    wanted["upload_limit_mb"] = json!(20);
    let response = app.save_firm_options(&admin, &wanted).await;
    assert_eq!(response.status(), 200);
    let saved: Value = response.json().await.unwrap();
    assert_eq!(saved["enabled"], false);
    assert_eq!(
        saved["portal_url"],
        app.portal_url(&admin.slug),
        "the Portal URL cannot be changed here"
    );
    assert_eq!(saved["has_logo"], false);
    assert_eq!(saved["invitation_valid_days"], 14);
    assert_eq!(
        saved["invitation_template"],
        "Dear client,\n\nYour link: {setup_link}\n"
    );
    assert_eq!(saved["terms_of_service"], "Confidential. Be kind.");
    assert_eq!(saved["display_name"], "Harbor Legal", "trimmed");
    assert_eq!(saved["accent_color"], "#aa3300", "stored lower-case");
    assert_eq!(saved["welcome_message"], "Hello from Harbor.");
    assert_eq!(
        saved["shareable_kinds"],
        json!(["documents", "bills"]),
        "once each, in the product's order"
    );
    assert_eq!(saved["notify_client_on_share"], true);
    assert_eq!(saved["upload_limit_mb"], 20);
    assert_eq!(
        app.firm_options(&admin).await,
        saved,
        "GET answers what PUT stored"
    );

    // One audit entry naming the changed fields, and none when nothing changes.
    assert_eq!(audit_count(&app, &admin, "options.updated").await, 1);
    let detail = app
        .count(
            "SELECT COUNT(*) AS n FROM audit_log WHERE tenant_id = $1 AND action = 'options.updated' \
             AND CAST(detail AS TEXT) LIKE '%display_name%' AND CAST(detail AS TEXT) LIKE '%upload_limit_mb%' \
             AND CAST(detail AS TEXT) NOT LIKE '%Be kind%'",
            vec![admin.tenant_id.into()],
        )
        .await;
    assert_eq!(
        detail, 1,
        "the detail names the changed fields without copying the terms"
    );
    assert_eq!(app.save_firm_options(&admin, &saved).await.status(), 200);
    assert_eq!(audit_count(&app, &admin, "options.updated").await, 1);

    // Another firm still has its own defaults.
    let other = app.firm_with_admin().await;
    let theirs = app.firm_options(&other).await;
    assert_eq!(theirs["enabled"], true);
    assert_eq!(theirs["display_name"], "");
    assert_eq!(theirs["portal_url"], app.portal_url(&other.slug));

    // The operation is described in the OpenAPI document, with the logo upload as multipart.
    let spec: Value = app
        .http
        .get(app.operator_url("/api/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let paths = &spec["paths"];
    assert!(paths["/firm/options/client-portal"]["put"].is_object());
    assert!(paths["/firm/options/client-portal/logo"]["put"]["requestBody"]["content"]["multipart/form-data"].is_object());
    assert!(paths["/firm/options/client-portal/logo"]["delete"].is_object());
}

async fn only_administrators_reach_the_options(app: TestApp) {
    let admin = app.firm_with_admin().await;
    // Even a member with the Portal right is not an administrator.
    let clerk = app.member(&admin, "Carla Clerk", false, true).await;
    let refused = app
        .firm_api(&clerk, Method::GET, "/options/client-portal")
        .send()
        .await
        .unwrap();
    assert!(
        expect_problem(refused, 403)
            .await
            .contains("only administrators")
    );
    let mut body = app.firm_options(&admin).await;
    body["display_name"] = json!("Taken Over");
    let refused = app.save_firm_options(&clerk, &body).await;
    assert!(
        expect_problem(refused, 403)
            .await
            .contains("only administrators")
    );
    let refused = app
        .firm_api(&clerk, Method::PUT, "/options/client-portal/logo")
        .multipart(logo_form(png(100), "logo.png", "image/png"))
        .send()
        .await
        .unwrap();
    expect_problem(refused, 403).await;
    let refused = app
        .firm_api(&clerk, Method::DELETE, "/options/client-portal/logo")
        .send()
        .await
        .unwrap();
    expect_problem(refused, 403).await;
    assert_eq!(
        app.firm_options(&admin).await["display_name"],
        "",
        "nothing changed"
    );
    assert_eq!(
        app.count(
            "SELECT COUNT(*) AS n FROM firm_options WHERE tenant_id = $1",
            vec![admin.tenant_id.into()]
        )
        .await,
        0
    );

    // Without a session: 401.
    let anonymous = app
        .http
        .get(app.firm_url(&admin.slug, "/api/v1/firm/options/client-portal"))
        .send()
        .await
        .unwrap();
    expect_problem(anonymous, 401).await;
    // Cookie-authenticated writes need the CSRF header.
    let no_csrf = clerk
        .client
        .put(app.firm_url(&admin.slug, "/api/v1/firm/options/client-portal"))
        .header("origin", app.portal_url(&admin.slug))
        .json(&body)
        .send()
        .await
        .unwrap();
    expect_problem(no_csrf, 403).await;

    // The page: a 403 page naming the rule, for showing and for saving.
    let (status, html) = page_get(&app, &clerk, "/firm/options/client-portal").await;
    assert_eq!(status, 403);
    assert!(html.contains("Only administrators"));
    assert!(!html.contains("portal-url"));
    let refused = page_post(&app, &clerk, "/firm/options/client-portal")
        .form(&page_fields(
            &clerk.csrf,
            &[("display_name", "Taken Over")],
            &[],
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
    assert_eq!(app.firm_options(&admin).await["display_name"], "");
    // Signed out: the page sends to sign-in.
    let anonymous = app
        .http
        .get(app.firm_url(&admin.slug, "/firm/options/client-portal"))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 303);
    assert!(
        anonymous.headers()["location"]
            .to_str()
            .unwrap()
            .starts_with("/firm/login")
    );
}

async fn invalid_options_are_refused_and_nothing_is_saved(app: TestApp) {
    let admin = app.firm_with_admin().await;
    let valid = app.firm_options(&admin).await;
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "invitation_template",
            json!("Hello, sign up at our site."),
            "{setup_link}",
        ),
        ("accent_color", json!("red"), "accent_color"),
        ("accent_color", json!("#12345g"), "accent_color"),
        ("upload_limit_mb", json!(0), "upload_limit_mb"),
        ("upload_limit_mb", json!(501), "upload_limit_mb"),
        ("invitation_valid_days", json!(0), "invitation_valid_days"),
        ("invitation_valid_days", json!(91), "invitation_valid_days"),
        ("shareable_kinds", json!(["documents", "spells"]), "spells"),
        ("terms_of_service", json!("   "), "terms_of_service"),
        ("display_name", json!("x".repeat(101)), "display_name"),
    ];
    for (field, value, expected) in cases {
        let mut body = valid.clone();
        body["display_name"] = json!("Should Not Stick");
        body[field] = value.clone();
        let detail = expect_problem(app.save_firm_options(&admin, &body).await, 422).await;
        assert!(detail.contains(expected), "{field} = {value}: {detail}");
    }
    // A missing field is a malformed request, not a partial update.
    let mut partial = valid.clone();
    partial.as_object_mut().unwrap().remove("terms_of_service");
    partial["display_name"] = json!("Should Not Stick");
    let response = app.save_firm_options(&admin, &partial).await;
    assert_eq!(response.status(), 400);

    assert_eq!(app.firm_options(&admin).await, valid, "nothing was saved");
    assert_eq!(
        app.count(
            "SELECT COUNT(*) AS n FROM firm_options WHERE tenant_id = $1",
            vec![admin.tenant_id.into()]
        )
        .await,
        0
    );
    assert_eq!(audit_count(&app, &admin, "options.updated").await, 0);
}

async fn branding_applies_to_the_client_pages_at_once(app: TestApp) {
    let admin = app.firm_with_admin().await;
    let login_page = || async {
        let response = app
            .http
            .get(app.firm_url(&admin.slug, "/"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        response.text().await.unwrap()
    };
    let branding_css = || async {
        let response = app
            .http
            .get(app.firm_url(&admin.slug, "/branding.css"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        response.text().await.unwrap()
    };
    // Read first, so the options are cached before the change.
    let before = login_page().await;
    assert!(before.contains(&format!("Sign in to Firm {}", admin.slug)));
    assert!(!before.contains("<img src=\"/branding/logo\""));
    assert!(branding_css().await.contains("#1f5f8b"));

    let mut body = app.firm_options(&admin).await;
    body["display_name"] = json!("Harbor & Bay Legal");
    body["accent_color"] = json!("#123ABC");
    assert_eq!(app.save_firm_options(&admin, &body).await.status(), 200);
    let after = login_page().await;
    assert!(
        after.contains("Sign in to Harbor &amp; Bay Legal"),
        "the new name shows at once (escaped)"
    );
    assert!(!after.contains(&format!("Firm {}", admin.slug)));
    let css = branding_css().await;
    assert!(css.contains("--accent: #123abc"), "{css}");

    // A logo: stored as sent, served with its type, shown on the login page.
    let logo = png(2_000);
    let response = app
        .firm_api(&admin, Method::PUT, "/options/client-portal/logo")
        .multipart(logo_form(
            logo.clone(),
            "logo.png",
            "application/octet-stream",
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    let served = app
        .http
        .get(app.firm_url(&admin.slug, "/branding/logo"))
        .send()
        .await
        .unwrap();
    assert_eq!(served.status(), 200);
    assert_eq!(served.headers()["content-type"], "image/png");
    assert_eq!(served.bytes().await.unwrap().to_vec(), logo);
    assert!(login_page().await.contains("<img src=\"/branding/logo\""));
    assert_eq!(app.firm_options(&admin).await["has_logo"], true);
    // Saving the other options keeps the logo.
    body["welcome_message"] = json!("Welcome back.");
    assert_eq!(app.save_firm_options(&admin, &body).await.status(), 200);
    assert_eq!(app.firm_options(&admin).await["has_logo"], true);
    // Another firm's host does not serve it.
    let other = app.firm_with_admin().await;
    assert_eq!(
        app.http
            .get(app.firm_url(&other.slug, "/branding/logo"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );

    let removed = app
        .firm_api(&admin, Method::DELETE, "/options/client-portal/logo")
        .send()
        .await
        .unwrap();
    assert_eq!(removed.status(), 204);
    assert_eq!(
        app.http
            .get(app.firm_url(&admin.slug, "/branding/logo"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    assert!(!login_page().await.contains("<img src=\"/branding/logo\""));
    assert_eq!(app.firm_options(&admin).await["has_logo"], false);

    assert_eq!(audit_count(&app, &admin, "options.updated").await, 2);
    assert_eq!(audit_count(&app, &admin, "options.logo_updated").await, 1);
    assert_eq!(audit_count(&app, &admin, "options.logo_removed").await, 1);
}

async fn oversized_and_disguised_logos_are_refused(app: TestApp) {
    let admin = app.firm_with_admin().await;
    let upload = |form: Form| {
        app.firm_api(&admin, Method::PUT, "/options/client-portal/logo")
            .multipart(form)
    };

    // One byte over, with an honest Content-Length.
    let request = upload(logo_form(png(MAX_LOGO_BYTES + 1), "logo.png", "image/png"))
        .build()
        .unwrap();
    let declared: usize = request.headers()["content-length"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(declared > MAX_LOGO_BYTES, "sent with its true length");
    let response = app.http.execute(request).await.unwrap();
    assert!(expect_problem(response, 413).await.contains("512 KB"));

    // Far over, streamed in chunks without any Content-Length.
    let path = app.dir.path().join("huge.png");
    std::fs::write(&path, png(3 * MAX_LOGO_BYTES)).unwrap();
    let file = tokio::fs::File::open(&path).await.unwrap();
    let part = Part::stream(reqwest::Body::from(file))
        .file_name("huge.png")
        .mime_str("image/png")
        .unwrap();
    let request = upload(Form::new().part("file", part)).build().unwrap();
    assert!(
        !request.headers().contains_key("content-length"),
        "sent chunked"
    );
    let response = app.http.execute(request).await.unwrap();
    expect_problem(response, 413).await;

    // Not an image, whatever the name and the declared type say.
    let html = b"<!doctype html><script>alert(1)</script>".to_vec();
    let response = upload(logo_form(html, "logo.png", "image/png"))
        .send()
        .await
        .unwrap();
    assert!(
        expect_problem(response, 415)
            .await
            .contains("PNG, JPEG, GIF or WebP")
    );
    let svg = b"<svg xmlns=\"http://www.w3.org/2000/svg\" onload=\"alert(1)\"/>".to_vec();
    let response = upload(logo_form(svg, "logo.svg", "image/svg+xml"))
        .send()
        .await
        .unwrap();
    expect_problem(response, 415).await;
    // Not multipart at all.
    let response = app
        .firm_api(&admin, Method::PUT, "/options/client-portal/logo")
        .header("content-type", "image/png")
        .body(png(100))
        .send()
        .await
        .unwrap();
    expect_problem(response, 415).await;
    // No file field.
    let response = upload(Form::new().text("other", "x")).send().await.unwrap();
    assert!(expect_problem(response, 422).await.contains("file"));

    assert_eq!(
        app.http
            .get(app.firm_url(&admin.slug, "/branding/logo"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    assert_eq!(audit_count(&app, &admin, "options.logo_updated").await, 0);

    // Exactly the limit is accepted (a GIF this time).
    let mut gif = b"GIF89a".to_vec();
    gif.resize(MAX_LOGO_BYTES, 1);
    let response = upload(logo_form(gif.clone(), "logo.gif", "image/gif"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    let served = app
        .http
        .get(app.firm_url(&admin.slug, "/branding/logo"))
        .send()
        .await
        .unwrap();
    assert_eq!(served.headers()["content-type"], "image/gif");
    assert_eq!(served.bytes().await.unwrap().len(), MAX_LOGO_BYTES);
}

async fn options_page_shows_the_portal_address_and_saves_with_csrf(app: TestApp) {
    let admin = app.firm_with_admin().await;
    let portal_url = app.portal_url(&admin.slug);
    let (status, html) = page_get(&app, &admin, "/firm/options/client-portal").await;
    assert_eq!(status, 200);
    // Auto-escaping writes `/` as `&#x2f;`; the browser shows (and copies) the plain address.
    let shown = portal_url.replace('/', "&#x2f;");
    assert!(
        html.contains(&format!("<code id=\"portal-url\">{shown}</code>")),
        "the Portal web address:\n{html}"
    );
    assert!(
        html.contains("data-copy=\"#portal-url\""),
        "with a Copy button"
    );
    assert!(html.contains(&format!("name=\"csrf\" value=\"{}\"", admin.csrf)));
    for section in [
        "Portal",
        "Invitations",
        "Branding",
        "Sharing",
        "Limits",
        "Logo",
    ] {
        assert!(
            html.contains(&format!("<h2>{section}</h2>")),
            "section {section}"
        );
    }
    assert!(html.contains("{setup_link}"));
    assert!(html.contains("name=\"kind_custom_fields\" id=\"kind_custom_fields\" checked"));
    assert!(html.contains("Bills and payments"));
    assert!(html.contains("type=\"color\""));
    assert!(!html.contains(" style="), "no inline styles (CSP)");

    // Saving through the form: unticked boxes are absent and mean "off".
    let fields = page_fields(
        &admin.csrf,
        &[
            ("display_name", "Quay Street Law"),
            ("invitation_valid_days", "10"),
            ("accent_color", "#0A7A5C"),
        ],
        &[
            "enabled",
            "kind_documents",
            "kind_tasks",
            "kind_custom_fields",
            "kind_bills",
            "kind_appointments",
        ],
    );
    let saved = page_post(&app, &admin, "/firm/options/client-portal")
        .form(&fields)
        .send()
        .await
        .unwrap();
    assert_eq!(saved.status(), 303);
    let location = saved.headers()["location"].to_str().unwrap().to_owned();
    assert_eq!(location, "/firm/options/client-portal?saved=options");
    let options = app.firm_options(&admin).await;
    assert_eq!(options["enabled"], false);
    assert_eq!(options["display_name"], "Quay Street Law");
    assert_eq!(options["invitation_valid_days"], 10);
    assert_eq!(options["accent_color"], "#0a7a5c");
    assert_eq!(options["shareable_kinds"], json!(["notes"]));
    assert_eq!(options["notify_client_on_share"], false);
    assert_eq!(
        options["invitation_template"], "Hello,\n\nStart here: {setup_link}\n",
        "line breaks stored as LF"
    );
    let (_, html) = page_get(&app, &admin, &location).await;
    assert!(html.contains("Options saved"));
    assert!(html.contains("name=\"kind_notes\" id=\"kind_notes\" checked"));
    assert!(
        html.contains("name=\"kind_bills\" id=\"kind_bills\">"),
        "bills shown unticked"
    );
    assert!(html.contains("value=\"Quay Street Law\""));
    assert_eq!(audit_count(&app, &admin, "options.updated").await, 1);

    // An invalid value: the page comes back with the message and what was typed.
    let fields = page_fields(
        &admin.csrf,
        &[
            ("display_name", "Typed <Name>"),
            ("invitation_template", "No link in here"),
        ],
        &[],
    );
    let refused = page_post(&app, &admin, "/firm/options/client-portal")
        .form(&fields)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 422);
    let html = refused.text().await.unwrap();
    assert!(
        html.contains("Invitation email text must contain the setup-link placeholder {setup_link}"),
        "{html}"
    );
    assert!(
        html.contains("value=\"Typed &lt;Name&gt;\""),
        "typed value kept, escaped"
    );
    assert!(html.contains(">No link in here</textarea>"));
    assert!(html.contains("aria-invalid=\"true\""));
    let refused = page_post(&app, &admin, "/firm/options/client-portal")
        .form(&page_fields(
            &admin.csrf,
            &[("upload_limit_mb", "lots")],
            &[],
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 422);
    assert!(
        refused
            .text()
            .await
            .unwrap()
            .contains("Upload limit (MB) must be a whole number")
    );
    assert_eq!(
        app.firm_options(&admin).await["display_name"],
        "Quay Street Law",
        "nothing saved"
    );

    // Without the CSRF field, with a wrong one, or from another origin: refused.
    let mut no_csrf = page_fields(&admin.csrf, &[("display_name", "Forged")], &[]);
    no_csrf.retain(|(name, _)| name != "csrf");
    let forged = page_post(&app, &admin, "/firm/options/client-portal")
        .form(&no_csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);
    let forged = page_post(&app, &admin, "/firm/options/client-portal")
        .form(&page_fields(
            "not-the-token",
            &[("display_name", "Forged")],
            &[],
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);
    let other = app.firm_with_admin().await;
    let cross_site = admin
        .client
        .post(app.firm_url(&admin.slug, "/firm/options/client-portal"))
        .header("origin", app.portal_url(&other.slug))
        .form(&page_fields(
            &admin.csrf,
            &[("display_name", "Forged")],
            &[],
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(cross_site.status(), 403);
    assert_eq!(
        app.firm_options(&admin).await["display_name"],
        "Quay Street Law"
    );
    assert_eq!(audit_count(&app, &admin, "options.updated").await, 1);
}

async fn options_page_uploads_and_removes_the_logo(app: TestApp) {
    let admin = app.firm_with_admin().await;
    let page_upload = |csrf: Option<&str>, bytes: Vec<u8>| {
        let mut form = Form::new();
        if let Some(csrf) = csrf {
            form = form.text("csrf", csrf.to_owned());
        }
        let form = form.part(
            "file",
            Part::bytes(bytes)
                .file_name("logo.png")
                .mime_str("image/png")
                .unwrap(),
        );
        page_post(&app, &admin, "/firm/options/client-portal/logo").multipart(form)
    };
    let refused = page_upload(None, png(500)).send().await.unwrap();
    assert_eq!(refused.status(), 403);
    let refused = page_upload(Some(&admin.csrf), png(MAX_LOGO_BYTES + 10))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 413);
    assert!(
        refused
            .text()
            .await
            .unwrap()
            .contains("The logo must be at most 512 KB")
    );
    let refused = page_upload(Some(&admin.csrf), b"<html>not an image</html>".to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 415);
    assert_eq!(
        app.http
            .get(app.firm_url(&admin.slug, "/branding/logo"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );

    let logo = png(900);
    let uploaded = page_upload(Some(&admin.csrf), logo.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(uploaded.status(), 303);
    assert_eq!(
        uploaded.headers()["location"],
        "/firm/options/client-portal?saved=logo"
    );
    let served = app
        .http
        .get(app.firm_url(&admin.slug, "/branding/logo"))
        .send()
        .await
        .unwrap();
    assert_eq!(served.bytes().await.unwrap().to_vec(), logo);
    let (_, html) = page_get(&app, &admin, "/firm/options/client-portal?saved=logo").await;
    assert!(html.contains("<img src=\"/branding/logo\""), "the preview");
    assert!(html.contains("Remove the logo"));

    // Removing needs the CSRF field too.
    let refused = page_post(&app, &admin, "/firm/options/client-portal/logo/remove")
        .form(&[("csrf", "wrong")])
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
    assert_eq!(
        app.http
            .get(app.firm_url(&admin.slug, "/branding/logo"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let removed = page_post(&app, &admin, "/firm/options/client-portal/logo/remove")
        .form(&[("csrf", admin.csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(removed.status(), 303);
    assert_eq!(
        app.http
            .get(app.firm_url(&admin.slug, "/branding/logo"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    assert_eq!(audit_count(&app, &admin, "options.logo_updated").await, 1);
    assert_eq!(audit_count(&app, &admin, "options.logo_removed").await, 1);

    // Members who are not administrators cannot upload through the page either.
    let clerk = app.member(&admin, "Carl Clerk", false, true).await;
    let form = Form::new().text("csrf", clerk.csrf.clone()).part(
        "file",
        Part::bytes(png(500))
            .file_name("logo.png")
            .mime_str("image/png")
            .unwrap(),
    );
    let refused = page_post(&app, &clerk, "/firm/options/client-portal/logo")
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
    assert_eq!(
        app.http
            .get(app.firm_url(&admin.slug, "/branding/logo"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
}

/// Renames a table under the running server (through the owner's connection), so that reading
/// it fails until it is renamed back.
async fn rename_table(app: &TestApp, from: &str, to: &str) {
    use sea_orm::ConnectionTrait;
    let owner = app.owner_db().await;
    owner
        .execute_raw(sea_orm::Statement::from_string(
            owner.get_database_backend(),
            format!("ALTER TABLE {from} RENAME TO {to}"),
        ))
        .await
        .unwrap();
}

async fn note_count(app: &TestApp, session: &FirmSession) -> i64 {
    app.count(
        "SELECT COUNT(*) AS n FROM note WHERE tenant_id = $1",
        vec![session.tenant_id.into()],
    )
    .await
}

/// When the options cannot be read, the places that show them for editing answer with an error
/// instead of the defaults (which an administrator, or a client doing GET-change-PUT, would
/// save back as the firm's); the sign-in page still renders.
async fn unreadable_options_are_an_error_where_they_would_be_saved_back(app: TestApp) {
    let admin = app.firm_with_admin().await;
    let mut options = app.firm_options(&admin).await;
    options["enabled"] = json!(false);
    options["display_name"] = json!("Not The Defaults");
    assert_eq!(app.save_firm_options(&admin, &options).await.status(), 200);

    // The save emptied the cache; now the table cannot be read.
    rename_table(&app, "firm_options", "firm_options_away").await;
    let api = app
        .firm_api(&admin, Method::GET, "/options/client-portal")
        .send()
        .await
        .unwrap();
    let api_status = api.status();
    let api_body = api.text().await.unwrap();
    let (page_status, page_body) = page_get(&app, &admin, "/firm/options/client-portal").await;
    let sign_in = app
        .http
        .get(app.portal_url(&admin.slug))
        .send()
        .await
        .unwrap()
        .status();
    rename_table(&app, "firm_options_away", "firm_options").await;

    assert!(api_status.is_server_error(), "{api_status}: {api_body}");
    assert!(!api_body.contains("invitation_template"), "{api_body}");
    assert!((500..600).contains(&page_status), "{page_status}");
    assert!(!page_body.contains("Welcome to your Client Portal."));
    assert_eq!(sign_in, 200, "the sign-in page still renders");
    let back = app.firm_options(&admin).await;
    assert_eq!(back["enabled"], false);
    assert_eq!(back["display_name"], "Not The Defaults");
}

/// Options that cannot be read decide nothing: the defaults would reopen a closed Portal and
/// allow what the firm keeps out of it, so a client's request, a client sign-in, a shared note
/// and an upload are refused with an error, and nothing is written.
async fn unreadable_options_decide_nothing(app: TestApp) {
    let (admin, client, _contact, file) = app.firm_with_client().await;
    let mut options = app.firm_options(&admin).await;
    options["enabled"] = json!(false);
    options["shareable_kinds"] = json!(["documents"]);
    assert_eq!(app.save_firm_options(&admin, &options).await.status(), 200);
    let notes_before = note_count(&app, &admin).await;

    // The save emptied the cache; now the table cannot be read.
    rename_table(&app, "firm_options", "firm_options_away").await;
    let client_read = app
        .portal_api(&client, Method::GET, "/files")
        .send()
        .await
        .unwrap()
        .status();
    let client_sign_in = app
        .http
        .post(app.firm_url(&admin.slug, "/api/v1/portal/session"))
        .json(&json!({"email": client.email, "password": crate::support::portal::CLIENT_PASSWORD}))
        .send()
        .await
        .unwrap()
        .status();
    let shared_note = app
        .firm_api(&admin, Method::POST, &format!("/files/{file}/notes"))
        .json(&json!({"body": "For the client", "shared": true}))
        .send()
        .await
        .unwrap()
        .status();
    let upload = upload_pdf(&app, &admin, file, "a.pdf")
        .send()
        .await
        .unwrap()
        .status();
    rename_table(&app, "firm_options_away", "firm_options").await;

    assert!(client_read.is_server_error(), "client read: {client_read}");
    assert!(
        client_sign_in.is_server_error(),
        "sign-in: {client_sign_in}"
    );
    assert!(shared_note.is_server_error(), "shared note: {shared_note}");
    assert!(upload.is_server_error(), "upload: {upload}");
    let notes_after = note_count(&app, &admin).await;
    assert_eq!(notes_after, notes_before, "nothing written");
    // Readable again: the closed Portal keeps the client out, as the firm decided.
    let client_read = app
        .portal_api(&client, Method::GET, "/files")
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(client_read, 401);
}

/// A member's upload of an empty PDF named `name` to `file`.
fn upload_pdf(
    app: &TestApp,
    admin: &FirmSession,
    file: uuid::Uuid,
    name: &str,
) -> reqwest::RequestBuilder {
    let pdf = Part::bytes(crate::support::process::document_bytes(name, 0))
        .file_name(name.to_owned())
        .mime_str("application/pdf")
        .unwrap();
    app.firm_api(admin, Method::POST, &format!("/files/{file}/documents"))
        .multipart(Form::new().part("file", pdf))
}

/// A document is shared only if the firm's options say documents may be: when they cannot be
/// read, sharing one is an error and the document stays out of the Portal (the defaults allow
/// documents; this firm does not).
async fn unreadable_options_share_no_document(app: TestApp) {
    let (admin, _client, _contact, file) = app.firm_with_client().await;
    let uploaded = upload_pdf(&app, &admin, file, "memo.pdf")
        .send()
        .await
        .unwrap();
    assert_eq!(uploaded.status(), 201);
    let document: Value = uploaded.json().await.unwrap();
    let id = document["id"].as_str().unwrap().to_owned();
    let mut options = app.firm_options(&admin).await;
    options["shareable_kinds"] = json!(["notes"]);
    assert_eq!(app.save_firm_options(&admin, &options).await.status(), 200);

    rename_table(&app, "firm_options", "firm_options_away").await;
    let share = app
        .firm_api(&admin, Method::PUT, &format!("/documents/{id}/portal"))
        .json(&json!({"shared": true}))
        .send()
        .await
        .unwrap()
        .status();
    rename_table(&app, "firm_options_away", "firm_options").await;

    assert!(share.is_server_error(), "sharing a document: {share}");
    let shared = app
        .count(
            "SELECT COUNT(*) AS n FROM document WHERE tenant_id = $1 AND shared",
            vec![admin.tenant_id.into()],
        )
        .await;
    assert_eq!(shared, 0, "the document stays out of the Portal");
}

/// A firm whose Portal is closed invites nobody; when its options cannot be read, allowing a
/// contact Portal access is an error and no account or invitation is made (the defaults would
/// have the Portal open).
async fn unreadable_options_invite_nobody(app: TestApp) {
    let admin = app.firm_with_admin().await;
    let email = format!("client@{}.example", admin.slug);
    let contact = app.contact(&admin, "Chris Client", &[&email]).await;
    let file = app.file(&admin, "2026-001", admin.member_id, &[]).await;
    app.add_client(&admin, file, contact).await;
    let mut options = app.firm_options(&admin).await;
    options["enabled"] = json!(false);
    assert_eq!(app.save_firm_options(&admin, &options).await.status(), 200);

    rename_table(&app, "firm_options", "firm_options_away").await;
    let allowed = app
        .allow_portal(&admin, contact, &email, &[file])
        .await
        .status();
    rename_table(&app, "firm_options_away", "firm_options").await;

    assert!(
        allowed.is_server_error(),
        "allowing Portal access: {allowed}"
    );
    let accounts = app
        .count(
            "SELECT COUNT(*) AS n FROM portal_account WHERE tenant_id = $1",
            vec![admin.tenant_id.into()],
        )
        .await;
    assert_eq!(accounts, 0, "no account, no invitation");
}
