//! The Client Portal pages: invitation form, sign-in, home, file page, Need Help, sign-out.

use reqwest::StatusCode;
use serde_json::json;

use crate::on_both_backends;
use crate::support::portal::CLIENT_PASSWORD;
use crate::support::{TestApp, new_client};

on_both_backends!(client_journey_through_the_pages);

fn csrf_of(page: &str) -> String {
    let marker = "name=\"csrf\" value=\"";
    let start = page.find(marker).expect("csrf field") + marker.len();
    page[start..].chars().take_while(|c| *c != '"').collect()
}

async fn client_journey_through_the_pages(app: TestApp) {
    let admin = app.firm_with_admin().await;
    let email = format!("paula@{}.example", admin.slug);
    let contact = app.contact(&admin, "Paula Page", &[&email]).await;
    let file = app.file(&admin, "P-7", admin.member_id, &[]).await;
    app.add_client(&admin, file, contact).await;
    app.allow_portal(&admin, contact, &email, &[file]).await;
    let token = app.invitation_token(&admin.slug, &email, 0).await;
    let origin = app.portal_url(&admin.slug);
    let browser = new_client();
    let url = app.firm_url(&admin.slug, &format!("/invitations/{token}"));

    // Without ticking the terms the account is not created.
    let refused = browser
        .post(&url)
        .header("origin", &origin)
        .form(&[
            ("password", CLIENT_PASSWORD),
            ("password_confirm", CLIENT_PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        refused
            .text()
            .await
            .unwrap()
            .contains("accept the terms of service")
    );
    let mismatch = browser
        .post(&url)
        .header("origin", &origin)
        .form(&[
            ("accept_terms", "on"),
            ("password", CLIENT_PASSWORD),
            ("password_confirm", "something else entirely"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(mismatch.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let created = browser
        .post(&url)
        .header("origin", &origin)
        .form(&[
            ("accept_terms", "on"),
            ("password", CLIENT_PASSWORD),
            ("password_confirm", CLIENT_PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::OK);
    let page = created.text().await.unwrap();
    assert!(
        page.contains("Account Created") && page.contains("id=\"go-login\""),
        "{page}"
    );

    // Sign in through the form; the home page lists the shared file.
    let wrong = browser
        .post(app.firm_url(&admin.slug, "/login"))
        .header("origin", &origin)
        .form(&[
            ("email", email.as_str()),
            ("password", "not my password at all"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let signed_in = browser
        .post(app.firm_url(&admin.slug, "/login"))
        .header("origin", &origin)
        .form(&[("email", email.as_str()), ("password", CLIENT_PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(signed_in.status(), StatusCode::SEE_OTHER);
    let home = browser
        .get(app.firm_url(&admin.slug, "/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(home.contains("Welcome, Paula Page") && home.contains("P-7"));
    let file_page = browser
        .get(app.firm_url(&admin.slug, &format!("/files/{file}")))
        .send()
        .await
        .unwrap();
    assert_eq!(file_page.status(), 200);
    let missing = browser
        .get(app.firm_url(&admin.slug, &format!("/files/{}", uuid::Uuid::now_v7())))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);

    // A sibling firm's page cannot sign the client out (CSRF), the real form can.
    let csrf = csrf_of(&home);
    let forged = browser
        .post(app.firm_url(&admin.slug, "/logout"))
        .header("origin", app.portal_url("otherfirm"))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    let out = browser
        .post(app.firm_url(&admin.slug, "/logout"))
        .header("origin", &origin)
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), StatusCode::SEE_OTHER);
    let after = browser
        .get(app.firm_url(&admin.slug, "/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(after.contains("client-login"));

    // Need Help: the same page for any address.
    let help = browser
        .post(app.firm_url(&admin.slug, "/help"))
        .header("origin", &origin)
        .form(&[("email", "nobody@example.org")])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(help.contains("If nobody@example.org is a login of this portal"));

    // Cookie-authenticated API calls need the CSRF token from the same origin.
    let cookie_client = app
        .client_sign_in(&admin.slug, &email, CLIENT_PASSWORD)
        .await;
    let session_url = app.firm_url(&admin.slug, "/api/v1/portal/session");
    let refused = cookie_client
        .client
        .delete(&session_url)
        .header("origin", &origin)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let ended = cookie_client
        .client
        .delete(&session_url)
        .header("origin", &origin)
        .header("x-csrf-token", &cookie_client.csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(ended.status(), StatusCode::NO_CONTENT);

    // The firm closing its portal stops clients at once, without deleting anything.
    let client = app
        .client_sign_in(&admin.slug, &email, CLIENT_PASSWORD)
        .await;
    let mut options: serde_json::Value = app
        .firm_api(&admin, reqwest::Method::GET, "/options/client-portal")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    options["enabled"] = json!(false);
    app.firm_api(&admin, reqwest::Method::PUT, "/options/client-portal")
        .json(&options)
        .send()
        .await
        .unwrap();
    let closed = app
        .portal_api(&client, reqwest::Method::GET, "/files")
        .send()
        .await
        .unwrap();
    assert_eq!(closed.status(), 401);
    let login = app
        .http
        .get(app.firm_url(&admin.slug, "/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(login.contains("currently closed"));
}
