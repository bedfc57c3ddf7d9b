//! Session lifetimes, reset-link expiry, links built from the stored Portal URL whatever the
//! request's headers, and per-firm caches.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::on_both_backends;
use crate::support::firm::STRONG_PASSWORD;
use crate::support::{TestApp, expect_problem, link_token};

on_both_backends!(
    idle_and_absolute_session_lifetimes_end_sessions,
    reset_links_expire_and_use_the_stored_portal_url,
    cached_options_never_cross_firms,
);

async fn idle_and_absolute_session_lifetimes_end_sessions(app: TestApp) {
    let backend = app.backend;
    drop(app);
    // Idle: 1 s without a request ends the session.
    let idle = TestApp::spawn_with(backend, json!({"auth": {"session_idle_secs": 1}})).await;
    let admin = idle.firm_with_admin().await;
    assert_eq!(
        idle.firm_api(&admin, Method::GET, "/me")
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    tokio::time::sleep(Duration::from_millis(2100)).await;
    expect_problem(
        idle.firm_api(&admin, Method::GET, "/me")
            .send()
            .await
            .unwrap(),
        401,
    )
    .await;

    // Absolute: 2 s after sign-in, however busy the session is.
    let absolute =
        TestApp::spawn_with(backend, json!({"auth": {"session_absolute_secs": 2}})).await;
    let admin = absolute.firm_with_admin().await;
    let mut last = 200;
    for _ in 0..12 {
        last = absolute
            .firm_api(&admin, Method::GET, "/me")
            .send()
            .await
            .unwrap()
            .status()
            .as_u16();
        if last == 401 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert_eq!(last, 401, "the absolute lifetime ends an active session");
}

async fn reset_links_expire_and_use_the_stored_portal_url(app: TestApp) {
    let backend = app.backend;
    drop(app);
    let app = TestApp::spawn_with(backend, json!({"auth": {"password_reset_valid_secs": 1}})).await;
    let admin = app.firm_with_admin().await;
    // A request claiming another host through forwarding headers still gets the firm's own link.
    let response = app
        .http
        .post(app.firm_url(&admin.slug, "/api/v1/firm/password-reset"))
        .header("x-forwarded-host", "evil.example")
        .header("forwarded", "host=evil.example")
        .json(&json!({"email": admin.email}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    let mut mail = None;
    for _ in 0..200 {
        mail = app
            .sent_files()
            .into_iter()
            .find(|m| m.contains(&format!("To: {}", admin.email)) && m.contains("/firm/reset/"));
        if mail.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mail = mail.expect("reset email");
    assert!(!mail.contains("evil.example"), "{mail}");
    let token = link_token(
        &mail,
        &format!("{}/firm/reset/", app.portal_url(&admin.slug)),
    );
    // A 1-second link is dead two seconds later.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let late = app
        .http
        .post(app.firm_url(&admin.slug, &format!("/api/v1/firm/password-reset/{token}")))
        .json(&json!({"password": "too late for this passphrase 1"}))
        .send()
        .await
        .unwrap();
    expect_problem(late, 410).await;
    // And the old password still works.
    app.sign_in(&admin.slug, &admin.email, STRONG_PASSWORD)
        .await;
}

async fn cached_options_never_cross_firms(app: TestApp) {
    let a = app.firm_with_admin().await;
    let b = app.firm_with_admin().await;
    let mut options: Value = app
        .firm_api(&a, Method::GET, "/options/client-portal")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    options["accent_color"] = json!("#aa0000");
    options["display_name"] = json!("Firm A Portal");
    assert_eq!(
        app.firm_api(&a, Method::PUT, "/options/client-portal")
            .json(&options)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    // Warm firm A's cached options, then ask firm B for the same paths.
    for _ in 0..2 {
        let css_a = app
            .http
            .get(app.firm_url(&a.slug, "/branding.css"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(css_a.contains("#aa0000"));
        let css_b = app
            .http
            .get(app.firm_url(&b.slug, "/branding.css"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(!css_b.contains("#aa0000"), "{css_b}");
        let login_b = app
            .http
            .get(app.firm_url(&b.slug, "/"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(!login_b.contains("Firm A Portal"));
        let options_b: Value = app
            .firm_api(&b, Method::GET, "/options/client-portal")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_ne!(options_b["display_name"], "Firm A Portal");
    }
}
