//! Session lifetimes, reset-link expiry, links built from the stored Portal URL whatever the
//! request's headers, and per-firm caches.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::on_both_backends;
use crate::support::firm::STRONG_PASSWORD;
use crate::support::{TestApp, expect_problem, fetch_json, link_token};

on_both_backends!(
    idle_and_absolute_session_lifetimes_end_sessions,
    reset_links_expire_and_use_the_stored_portal_url,
    cached_options_never_cross_firms,
    a_signed_in_request_sees_every_change_at_once,
    sign_ins_do_not_retire_cached_sessions,
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

/// Sessions answered from memory must still see every change at once: each step below follows
/// requests that put the session in the cache.
async fn a_signed_in_request_sees_every_change_at_once(app: TestApp) {
    let (admin, client, contact, _file) = app.firm_with_client().await;
    let client_me = || app.portal_api(&client, Method::GET, "/me");
    for _ in 0..3 {
        let me = fetch_json(client_me()).await;
        assert_eq!(me["client"]["name"], "Chris Client");
    }
    // The firm renames the contact: the client's next request shows the new name.
    let renamed = app
        .firm_api(&admin, Method::PATCH, &format!("/contacts/{contact}"))
        .json(&json!({"name": "Chris Renamed"}))
        .send()
        .await
        .unwrap();
    assert_eq!(renamed.status(), 200);
    assert_eq!(
        fetch_json(client_me()).await["client"]["name"],
        "Chris Renamed"
    );

    // A demoted administrator loses the right with their next request, and a deactivated
    // member their session.
    let second = app.member(&admin, "Sam Second", true, true).await;
    let invite = |name: &str| {
        app.firm_api(&second, Method::POST, "/members")
            .json(&json!({
                "name": name,
                "email": format!("{}@{}.example", name.to_lowercase(), second.slug),
                "is_admin": false,
                "portal_rights": false,
            }))
    };
    assert_eq!(invite("first").send().await.unwrap().status(), 201);
    let patch_second = |body: Value| {
        app.firm_api(
            &admin,
            Method::PATCH,
            &format!("/members/{}", second.member_id),
        )
        .json(&body)
        .send()
    };
    assert_eq!(
        patch_second(json!({"is_admin": false}))
            .await
            .unwrap()
            .status(),
        200
    );
    expect_problem(invite("second").send().await.unwrap(), 403).await;
    assert_eq!(
        patch_second(json!({"active": false}))
            .await
            .unwrap()
            .status(),
        200
    );
    expect_problem(
        app.firm_api(&second, Method::GET, "/me")
            .send()
            .await
            .unwrap(),
        401,
    )
    .await;

    // Signing out ends the session on its next use.
    for _ in 0..2 {
        assert_eq!(client_me().send().await.unwrap().status(), 200);
    }
    let out = app
        .portal_api(&client, Method::DELETE, "/session")
        .send()
        .await
        .unwrap();
    assert!(out.status().is_success(), "{}", out.status());
    expect_problem(client_me().send().await.unwrap(), 401).await;

    // Most of these were answered from the session cache, on both backends (PostgreSQL checks
    // the firm's shared write epoch instead of reading the session).
    let cached = session_lookups(&app, "cache").await;
    assert!(cached >= 3, "cache hits: {cached}");
}

async fn session_lookups(app: &TestApp, source: &str) -> u64 {
    app.counter(&format!(
        "portico_session_lookups_total{{source=\"{source}\"}}"
    ))
    .await
}

/// Signing in writes only bookkeeping (a new session, last-login time, audit): the other
/// signed-in requests of the firm keep being answered from memory meanwhile, so a burst of
/// sign-ins does not push everyone else back to the database.
async fn sign_ins_do_not_retire_cached_sessions(app: TestApp) {
    let (admin, client, _contact, _file) = app.firm_with_client().await;
    let me = || async {
        app.firm_api(&admin, Method::GET, "/me")
            .send()
            .await
            .unwrap()
            .status()
    };
    assert_eq!(me().await, 200);
    assert_eq!(me().await, 200);
    let (cached, read) = (
        session_lookups(&app, "cache").await,
        session_lookups(&app, "database").await,
    );
    // Another sign-in of the firm (the client again, on a second device), and a failed one.
    let second = app
        .client_sign_in(
            &client.slug,
            &client.email,
            crate::support::portal::CLIENT_PASSWORD,
        )
        .await;
    let wrong = app
        .http
        .post(app.firm_url(&admin.slug, "/api/v1/portal/session"))
        .json(&json!({"email": client.email, "password": "not the password at all"}))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    assert_eq!(me().await, 200);
    let after = (
        session_lookups(&app, "cache").await,
        session_lookups(&app, "database").await,
    );
    assert_eq!(
        after,
        (cached + 1, read),
        "the member's session stayed cached"
    );
    // Both of the client's sessions work.
    for session in [&client, &second] {
        assert_eq!(
            app.portal_api(session, Method::GET, "/me")
                .send()
                .await
                .unwrap()
                .status(),
            200
        );
    }
}
