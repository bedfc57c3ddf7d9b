//! Client Portal access: invitation, acceptance, sign-in, status, resend, disable, login email
//! change, and the rules that refuse each precondition with a reason.

use reqwest::Method;
use serde_json::{Value, json};

use crate::on_both_backends;
use crate::support::portal::CLIENT_PASSWORD;
use crate::support::{TestApp, expect_problem, link_token, new_client};

on_both_backends!(
    invitation_is_accepted_once_and_the_client_sees_the_shared_file,
    each_precondition_is_refused_with_its_reason,
    expired_and_resent_invitations,
    disabling_ends_sessions_and_re_enabling_invites_again,
    clients_are_kept_apart_across_firms_and_hosts,
    client_password_reset_and_login_email_change,
    file_portal_view_and_sharing_from_the_file,
);

async fn status_of(
    app: &TestApp,
    s: &crate::support::firm::FirmSession,
    contact: uuid::Uuid,
) -> Value {
    app.firm_api(s, Method::GET, &format!("/contacts/{contact}/portal"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn invitation_is_accepted_once_and_the_client_sees_the_shared_file(app: TestApp) {
    let admin = app.firm_with_admin().await;
    let lawyer = app.member(&admin, "Lara Lawyer", false, true).await;
    let email = format!("chris@{}.example", admin.slug);
    let contact = app
        .contact(&admin, "Chris Client", &[&email, "chris.home@example.org"])
        .await;
    let file = app.file(&admin, "2026-001", lawyer.member_id, &[]).await;
    let other_file = app.file(&admin, "2026-002", admin.member_id, &[]).await;
    app.add_client(&admin, file, contact).await;
    app.add_client(&admin, other_file, contact).await;

    let status = status_of(&app, &admin, contact).await;
    assert_eq!(status["status"], "not_invited");

    let invited: Value = app
        .allow_portal(&admin, contact, &email, &[file])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(invited["status"], "invited");
    assert_eq!(invited["login_email"], email);
    assert_eq!(invited["file_ids"], json!([file]));
    let expires =
        chrono::DateTime::parse_from_rfc3339(invited["invitation_expires_at"].as_str().unwrap())
            .unwrap();
    let days = (expires.with_timezone(&chrono::Utc) - chrono::Utc::now()).num_hours();
    assert!(
        (167..=168).contains(&days),
        "default validity is 7 days: {days} h"
    );

    let token = app.invitation_token(&admin.slug, &email, 0).await;
    assert_eq!(token.len(), 43);
    let mail = app.wait_for_file_mail(&email).await;
    assert!(
        mail.contains("invites you to its Client Portal") && mail.contains("Dear Chris Client"),
        "{mail}"
    );

    // The invitation page and API show the firm, the login name and the terms.
    let info: Value = app
        .http
        .get(app.firm_url(&admin.slug, &format!("/api/v1/portal/invitations/{token}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(info["login_email"], email);
    assert!(info["terms_of_service"].as_str().unwrap().len() > 20);
    let page = app
        .http
        .get(app.firm_url(&admin.slug, &format!("/invitations/{token}")))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert_eq!(page.headers()["referrer-policy"], "no-referrer");
    assert!(
        page.text()
            .await
            .unwrap()
            .contains("I accept the terms of service")
    );

    // Terms must be accepted; weak passwords are refused; neither uses up the link.
    let no_terms = app
        .http
        .post(app.firm_url(
            &admin.slug,
            &format!("/api/v1/portal/invitations/{token}/accept"),
        ))
        .json(&json!({"accept_terms": false, "password": CLIENT_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert!(
        expect_problem(no_terms, 422)
            .await
            .contains("terms of service")
    );
    assert!(
        expect_problem(app.accept(&admin.slug, &token, "password1234").await, 422)
            .await
            .contains("too easy")
    );
    let accepted: Value = app
        .accept(&admin.slug, &token, CLIENT_PASSWORD)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(accepted["login_email"], email);
    expect_problem(app.accept(&admin.slug, &token, CLIENT_PASSWORD).await, 410).await;

    // Confirmation with the login name and the Portal address (never the password), and a
    // notice to the responsible lawyer of the shared file.
    let confirmation = wait_for(&app, &email, "account is ready").await;
    assert!(
        confirmation.contains(&format!("Login name: {email}"))
            && confirmation.contains(&app.portal_url(&admin.slug))
    );
    assert!(!confirmation.contains(CLIENT_PASSWORD));
    let notice = wait_for(&app, &lawyer.email, "joined the Client Portal").await;
    assert!(notice.contains("2026-001"));

    let status = status_of(&app, &admin, contact).await;
    assert_eq!(status["status"], "active");

    let client = app
        .client_sign_in(&admin.slug, &email, CLIENT_PASSWORD)
        .await;
    let me: Value = app
        .portal_api(&client, Method::GET, "/me")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["client"]["name"], "Chris Client");
    let files: Vec<Value> = app
        .portal_api(&client, Method::GET, "/files")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(files.len(), 1, "only the shared file");
    assert_eq!(files[0]["number"], "2026-001");
    let shared = app
        .portal_api(&client, Method::GET, &format!("/files/{file}"))
        .send()
        .await
        .unwrap();
    assert_eq!(shared.status(), 200);
    // A file of the client that is not shared answers exactly like a missing one.
    let unshared = app
        .portal_api(&client, Method::GET, &format!("/files/{other_file}"))
        .send()
        .await
        .unwrap();
    assert_eq!(unshared.status(), 404);
    let unshared = unshared.bytes().await.unwrap();
    let missing = app
        .portal_api(
            &client,
            Method::GET,
            &format!("/files/{}", uuid::Uuid::now_v7()),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(missing.bytes().await.unwrap(), unshared);

    // The client's home page lists the shared file with the firm's welcome message.
    let home = client
        .client
        .get(app.firm_url(&admin.slug, "/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        home.contains("Welcome, Chris Client")
            && home.contains("2026-001")
            && !home.contains("2026-002")
    );

    // A renamed contact shows the new name at once.
    app.firm_api(&admin, Method::PATCH, &format!("/contacts/{contact}"))
        .json(&json!({"name": "Christine Client"}))
        .send()
        .await
        .unwrap();
    let me: Value = app
        .portal_api(&client, Method::GET, "/me")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["client"]["name"], "Christine Client");
}

async fn wait_for(app: &TestApp, to: &str, subject_part: &str) -> String {
    for _ in 0..200 {
        if let Some(mail) = app
            .sent_files()
            .into_iter()
            .find(|m| m.contains(&format!("To: {to}")) && m.contains(subject_part))
        {
            return mail;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("no email to {to} about {subject_part}");
}

async fn each_precondition_is_refused_with_its_reason(app: TestApp) {
    let admin = app.firm_with_admin().await;
    let no_rights = app.member(&admin, "Nora Norights", false, false).await;
    let outsider = app.member(&admin, "Otto Outsider", false, true).await;
    let email = format!("dana@{}.example", admin.slug);
    let contact = app.contact(&admin, "Dana Client", &[&email]).await;
    let other = app
        .contact(&admin, "Other Contact", &["shared@example.org"])
        .await;
    let file = app
        .file(&admin, "F-1", admin.member_id, &[no_rights.member_id])
        .await;

    // Not a client on any file yet.
    let refused = app.allow_portal(&admin, contact, &email, &[]).await;
    assert!(
        expect_problem(refused, 403)
            .await
            .contains("not a client on any file you can access")
    );
    app.add_client(&admin, file, contact).await;
    // Without the Portal right.
    let refused = app.allow_portal(&no_rights, contact, &email, &[file]).await;
    assert!(
        expect_problem(refused, 403)
            .await
            .contains("not permitted to share items and invite clients")
    );
    // A member who cannot access the client's files.
    let refused = app.allow_portal(&outsider, contact, &email, &[]).await;
    assert!(
        expect_problem(refused, 403)
            .await
            .contains("not a client on any file you can access")
    );
    // Not one of the contact's addresses.
    let refused = app
        .allow_portal(&admin, contact, "someone@else.example", &[file])
        .await;
    assert!(
        expect_problem(refused, 422)
            .await
            .contains("not one of Dana Client's email addresses")
    );
    // A file the contact is not a client on.
    let stranger_file = app.file(&admin, "F-2", admin.member_id, &[]).await;
    let refused = app
        .allow_portal(&admin, contact, &email, &[stranger_file])
        .await;
    assert!(
        expect_problem(refused, 422)
            .await
            .contains("cannot be shared")
    );
    // The invitation text must keep the placeholder.
    let refused = app
        .firm_api(&admin, Method::PUT, &format!("/contacts/{contact}/portal"))
        .json(&json!({"allow": true, "login_email": email, "file_ids": [file], "message": "Hello, no link here"}))
        .send()
        .await
        .unwrap();
    assert!(expect_problem(refused, 422).await.contains("{setup_link}"));
    // The same login email for another contact of this firm.
    app.firm_api(&admin, Method::PATCH, &format!("/contacts/{other}"))
        .json(&json!({"emails": [&email]}))
        .send()
        .await
        .unwrap();
    app.add_client(&admin, file, other).await;
    assert_eq!(
        app.allow_portal(&admin, contact, &email, &[file])
            .await
            .status(),
        200
    );
    let refused = app.allow_portal(&admin, other, &email, &[file]).await;
    assert!(
        expect_problem(refused, 409)
            .await
            .contains("already the Portal login of another contact")
    );
    // Unknown contact: 404.
    let missing = app
        .allow_portal(&admin, uuid::Uuid::now_v7(), &email, &[])
        .await;
    expect_problem(missing, 404).await;
    // The portal switched off by an administrator.
    let mut options = app.firm_options(&admin).await;
    options["enabled"] = json!(false);
    let saved = app.save_firm_options(&admin, &options).await;
    assert_eq!(saved.status(), 200);
    let refused = app
        .allow_portal(&admin, other, "shared@example.org", &[file])
        .await;
    assert!(
        expect_problem(refused, 403)
            .await
            .contains("Client Portal is disabled")
    );
    // Nothing of the refused attempts was stored: exactly one account, one invitation email.
    let accounts = app
        .count(
            "SELECT COUNT(*) AS n FROM portal_account WHERE tenant_id = $1",
            vec![admin.tenant_id.into()],
        )
        .await;
    assert_eq!(accounts, 1);
}

async fn expired_and_resent_invitations(app: TestApp) {
    let admin = app.firm_with_admin().await;
    let email = format!("eve@{}.example", admin.slug);
    let contact = app.contact(&admin, "Eve Client", &[&email]).await;
    let file = app.file(&admin, "E-1", admin.member_id, &[]).await;
    app.add_client(&admin, file, contact).await;
    app.allow_portal(&admin, contact, &email, &[file]).await;
    let first = app.invitation_token(&admin.slug, &email, 0).await;

    let resent: Value = app
        .firm_api(
            &admin,
            Method::POST,
            &format!("/contacts/{contact}/portal/resend"),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(resent["status"], "invited");
    let second = app.invitation_token(&admin.slug, &email, 1).await;
    assert_ne!(first, second);
    expect_problem(app.accept(&admin.slug, &first, CLIENT_PASSWORD).await, 410).await;

    // An expired link is refused like a used one.
    let db = app.owner_db().await;
    use sea_orm::ConnectionTrait;
    db.execute_raw(sea_orm::Statement::from_sql_and_values(
        db.get_database_backend(),
        app.sql("UPDATE auth_token SET expires_at = $1 WHERE tenant_id = $2 AND purpose = 'client_invitation' AND used_at IS NULL"),
        [(chrono::Utc::now() - chrono::Duration::minutes(1)).into(), admin.tenant_id.into()],
    ))
    .await
    .unwrap();
    expect_problem(app.accept(&admin.slug, &second, CLIENT_PASSWORD).await, 410).await;
    let page = app
        .http
        .get(app.firm_url(&admin.slug, &format!("/invitations/{second}")))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 410);
    // Forged tokens too.
    expect_problem(
        app.accept(&admin.slug, &"x".repeat(43), CLIENT_PASSWORD)
            .await,
        410,
    )
    .await;
    expect_problem(app.accept(&admin.slug, "short", CLIENT_PASSWORD).await, 410).await;

    app.firm_api(
        &admin,
        Method::POST,
        &format!("/contacts/{contact}/portal/resend"),
    )
    .send()
    .await
    .unwrap();
    let third = app.invitation_token(&admin.slug, &email, 2).await;
    assert_eq!(
        app.accept(&admin.slug, &third, CLIENT_PASSWORD)
            .await
            .status(),
        200
    );
    let again = app
        .firm_api(
            &admin,
            Method::POST,
            &format!("/contacts/{contact}/portal/resend"),
        )
        .send()
        .await
        .unwrap();
    assert!(
        expect_problem(again, 409)
            .await
            .contains("already accepted")
    );
}

async fn disabling_ends_sessions_and_re_enabling_invites_again(app: TestApp) {
    let (admin, client, contact, file) = app.firm_with_client().await;
    assert_eq!(
        app.portal_api(&client, Method::GET, "/files")
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    // A member who cannot access every shared file may not disable access.
    let partial = app.member(&admin, "Pat Partial", false, true).await;
    let file2 = app.file(&admin, "2026-002", partial.member_id, &[]).await;
    app.add_client(&admin, file2, contact).await;
    let body = json!({"allow": true, "login_email": client.email, "file_ids": [file, file2]});
    let updated: Value = app
        .firm_api(&admin, Method::PUT, &format!("/contacts/{contact}/portal"))
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(updated["file_ids"].as_array().unwrap().len(), 2);
    let partial_view = status_of(&app, &partial, contact).await;
    assert_eq!(partial_view["file_ids"], json!([file2]));
    assert_eq!(partial_view["other_shared_files"], 1);
    let refused = app
        .firm_api(
            &partial,
            Method::PUT,
            &format!("/contacts/{contact}/portal"),
        )
        .json(&json!({"allow": false}))
        .send()
        .await
        .unwrap();
    assert!(
        expect_problem(refused, 403)
            .await
            .contains("not accessible to you")
    );

    let disabled: Value = app
        .firm_api(&admin, Method::PUT, &format!("/contacts/{contact}/portal"))
        .json(&json!({"allow": false}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(disabled["status"], "disabled");
    assert_eq!(disabled["file_ids"], json!([]));
    // The open session is refused at once, by bearer and by cookie; the login no longer works.
    expect_problem(
        app.portal_api(&client, Method::GET, "/files")
            .send()
            .await
            .unwrap(),
        401,
    )
    .await;
    let page = client
        .client
        .get(app.firm_url(&admin.slug, "/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("client-login"), "back at the sign-in page");
    let again = new_client()
        .post(app.firm_url(&admin.slug, "/api/v1/portal/session"))
        .json(&json!({"email": client.email, "password": CLIENT_PASSWORD}))
        .send()
        .await
        .unwrap();
    expect_problem(again, 401).await;
    let shares = app
        .count(
            "SELECT COUNT(*) AS n FROM portal_file_share WHERE tenant_id = $1",
            vec![admin.tenant_id.into()],
        )
        .await;
    assert_eq!(shares, 0, "file shares dropped");

    // Re-enabling sends a fresh invitation; the old password does not come back.
    let reenabled: Value = app
        .allow_portal(&admin, contact, &client.email, &[file])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(reenabled["status"], "invited");
    let token = app.invitation_token(&admin.slug, &client.email, 1).await;
    assert_eq!(
        app.accept(&admin.slug, &token, "a completely new passphrase 5")
            .await
            .status(),
        200
    );
    app.client_sign_in(&admin.slug, &client.email, "a completely new passphrase 5")
        .await;
}

async fn clients_are_kept_apart_across_firms_and_hosts(app: TestApp) {
    let (admin_a, client_a, _, _) = app.firm_with_client().await;
    // The same person is a client of a second firm, with the same email and another password.
    let admin_b = app.firm_with_admin().await;
    let contact_b = app
        .contact(&admin_b, "Chris Client", &[&client_a.email])
        .await;
    let file_b = app.file(&admin_b, "B-1", admin_b.member_id, &[]).await;
    app.add_client(&admin_b, file_b, contact_b).await;
    assert_eq!(
        app.allow_portal(&admin_b, contact_b, &client_a.email, &[file_b])
            .await
            .status(),
        200
    );
    let token = app
        .invitation_token(&admin_b.slug, &client_a.email, 0)
        .await;
    assert_eq!(
        app.accept(&admin_b.slug, &token, "firm b has its own password 9")
            .await
            .status(),
        200
    );
    let client_b = app
        .client_sign_in(
            &admin_b.slug,
            &client_a.email,
            "firm b has its own password 9",
        )
        .await;
    // Each password opens only its own firm.
    let wrong = new_client()
        .post(app.firm_url(&admin_b.slug, "/api/v1/portal/session"))
        .json(&json!({"email": client_a.email, "password": CLIENT_PASSWORD}))
        .send()
        .await
        .unwrap();
    expect_problem(wrong, 401).await;
    // Firm A's client session is refused on firm B's host.
    let cross = app
        .http
        .get(app.firm_url(&admin_b.slug, "/api/v1/portal/files"))
        .bearer_auth(&client_a.token)
        .send()
        .await
        .unwrap();
    expect_problem(cross, 401).await;
    let files_b: Vec<Value> = app
        .portal_api(&client_b, Method::GET, "/files")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(files_b.len(), 1);
    assert_eq!(files_b[0]["number"], "B-1");
    // A client session is not a member session, and the other way round.
    expect_problem(
        app.http
            .get(app.firm_url(&admin_a.slug, "/api/v1/firm/me"))
            .bearer_auth(&client_a.token)
            .send()
            .await
            .unwrap(),
        401,
    )
    .await;
    expect_problem(
        app.http
            .get(app.firm_url(&admin_a.slug, "/api/v1/portal/me"))
            .bearer_auth(&admin_a.token)
            .send()
            .await
            .unwrap(),
        401,
    )
    .await;
}

async fn client_password_reset_and_login_email_change(app: TestApp) {
    let (admin, client, contact, _) = app.firm_with_client().await;
    let url = app.firm_url(&admin.slug, "/api/v1/portal/password-reset");
    for email in [client.email.as_str(), "nobody@nowhere.example"] {
        let response = app
            .http
            .post(&url)
            .json(&json!({"email": email}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 202);
        assert!(response.text().await.unwrap().is_empty());
    }
    let mail = wait_for(&app, &client.email, "Reset your").await;
    let token = link_token(&mail, &format!("{}/reset/", app.portal_url(&admin.slug)));
    let page = app
        .http
        .get(app.firm_url(&admin.slug, &format!("/reset/{token}")))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert_eq!(page.headers()["referrer-policy"], "no-referrer");
    assert_eq!(page.headers()["cache-control"], "no-store");
    let done = app
        .http
        .post(app.firm_url(
            &admin.slug,
            &format!("/api/v1/portal/password-reset/{token}"),
        ))
        .json(&json!({"password": "reset to a new passphrase 11"}))
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), 200);
    expect_problem(
        app.portal_api(&client, Method::GET, "/me")
            .send()
            .await
            .unwrap(),
        401,
    )
    .await;
    let again = app
        .http
        .post(app.firm_url(
            &admin.slug,
            &format!("/api/v1/portal/password-reset/{token}"),
        ))
        .json(&json!({"password": "reset to a new passphrase 12"}))
        .send()
        .await
        .unwrap();
    expect_problem(again, 410).await;
    app.client_sign_in(&admin.slug, &client.email, "reset to a new passphrase 11")
        .await;

    // Changing the contact's email does not change the login; Change login email does, once
    // the client confirms from the new address.
    let new_email = format!("chris.new@{}.example", admin.slug);
    app.firm_api(&admin, Method::PATCH, &format!("/contacts/{contact}"))
        .json(&json!({"emails": [&client.email, &new_email]}))
        .send()
        .await
        .unwrap();
    let pending: Value = app
        .firm_api(
            &admin,
            Method::POST,
            &format!("/contacts/{contact}/portal/login-email"),
        )
        .json(&json!({"login_email": new_email}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(pending["login_email"], client.email);
    assert_eq!(pending["pending_login_email"], new_email);
    app.client_sign_in(&admin.slug, &client.email, "reset to a new passphrase 11")
        .await;
    let mail = wait_for(&app, &new_email, "Confirm your new login email").await;
    let token = link_token(
        &mail,
        &format!("{}/verify-email/", app.portal_url(&admin.slug)),
    );
    let verified = app
        .http
        .post(app.firm_url(&admin.slug, &format!("/api/v1/portal/verify-email/{token}")))
        .send()
        .await
        .unwrap();
    assert_eq!(verified.status(), 200);
    app.client_sign_in(&admin.slug, &new_email, "reset to a new passphrase 11")
        .await;
    let old = new_client()
        .post(app.firm_url(&admin.slug, "/api/v1/portal/session"))
        .json(&json!({"email": client.email, "password": "reset to a new passphrase 11"}))
        .send()
        .await
        .unwrap();
    expect_problem(old, 401).await;
}

async fn file_portal_view_and_sharing_from_the_file(app: TestApp) {
    let (admin, client, contact, file) = app.firm_with_client().await;
    let invited_email = format!("ivy@{}.example", admin.slug);
    let ivy = app.contact(&admin, "Ivy Invited", &[&invited_email]).await;
    let nobody = app
        .contact(&admin, "Ned Noportal", &["ned@example.org"])
        .await;
    let file2 = app.file(&admin, "2026-002", admin.member_id, &[]).await;
    for c in [ivy, nobody] {
        app.add_client(&admin, file, c).await;
    }
    app.add_client(&admin, file2, ivy).await;
    app.allow_portal(&admin, ivy, &invited_email, &[file2])
        .await;

    let view: Value = app
        .firm_api(&admin, Method::GET, &format!("/files/{file}/portal"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let clients = view["clients"].as_array().unwrap();
    let find = |id: uuid::Uuid| {
        clients
            .iter()
            .find(|c| c["contact_id"] == id.to_string())
            .unwrap()
            .clone()
    };
    assert_eq!(find(contact)["has_file_access"], true);
    assert_eq!(find(contact)["status"], "active");
    assert_eq!(
        find(ivy)["has_file_access"],
        false,
        "Portal access, but not to this file"
    );
    assert_eq!(find(ivy)["status"], "invited");
    assert_eq!(find(nobody)["status"], "not_invited");
    assert!(view["shared_items"].is_array());

    // Share from the file's side; a contact without Portal access cannot be ticked.
    let shared: Value = app
        .firm_api(
            &admin,
            Method::PUT,
            &format!("/files/{file}/portal/clients/{ivy}"),
        )
        .json(&json!({"shared": true}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        shared["clients"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["contact_id"] == ivy.to_string() && c["has_file_access"] == true)
    );
    let refused = app
        .firm_api(
            &admin,
            Method::PUT,
            &format!("/files/{file}/portal/clients/{nobody}"),
        )
        .json(&json!({"shared": true}))
        .send()
        .await
        .unwrap();
    assert!(
        expect_problem(refused, 409)
            .await
            .contains("no Portal access")
    );
    // Unsharing takes the file out of the client's Portal at once.
    app.firm_api(
        &admin,
        Method::PUT,
        &format!("/files/{file}/portal/clients/{contact}"),
    )
    .json(&json!({"shared": false}))
    .send()
    .await
    .unwrap();
    let files: Vec<Value> = app
        .portal_api(&client, Method::GET, "/files")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(files.is_empty());
    expect_problem(
        app.portal_api(&client, Method::GET, &format!("/files/{file}"))
            .send()
            .await
            .unwrap(),
        404,
    )
    .await;
    // Another firm's member cannot see this file's Portal view.
    let other = app.firm_with_admin().await;
    let foreign = app
        .http
        .get(app.firm_url(&other.slug, &format!("/api/v1/firm/files/{file}/portal")))
        .bearer_auth(&other.token)
        .send()
        .await
        .unwrap();
    expect_problem(foreign, 404).await;
}
