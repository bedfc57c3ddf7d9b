//! Firm members through the API: invitation, rights, the last administrator, deactivation.

use reqwest::Method;
use serde_json::{Value, json};

use crate::on_both_backends;
use crate::support::firm::FirmSession;
use crate::support::{TestApp, expect_problem, link_token};

on_both_backends!(
    administrators_invite_and_manage_members,
    members_page_lists_and_invites,
    member_page_edits_rights_and_keeps_an_administrator,
    members_pages_are_for_administrators_only,
    setup_links_can_be_resent_until_a_password_is_chosen,
);

async fn administrators_invite_and_manage_members(app: TestApp) {
    let admin = app.firm_with_admin().await;
    let clerk = app.member(&admin, "Carl Clerk", false, false).await;

    // Only administrators manage members, and the refusal names the rule.
    let refused = app
        .firm_api(&clerk, Method::GET, "/members")
        .send()
        .await
        .unwrap();
    assert!(
        expect_problem(refused, 403)
            .await
            .contains("administrators")
    );
    let refused = app
        .firm_api(&clerk, Method::POST, "/members")
        .json(&json!({"name": "X", "email": "x@x.example"}))
        .send()
        .await
        .unwrap();
    expect_problem(refused, 403).await;

    let list: Vec<Value> = app
        .firm_api(&admin, Method::GET, "/members")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list.len(), 2);
    let duplicate = app
        .firm_api(&admin, Method::POST, "/members")
        .json(&json!({"name": "Again", "email": clerk.email.to_uppercase()}))
        .send()
        .await
        .unwrap();
    expect_problem(duplicate, 409).await;

    // Grant the Portal right.
    let updated: Value = app
        .firm_api(
            &admin,
            Method::PATCH,
            &format!("/members/{}", clerk.member_id),
        )
        .json(&json!({"portal_rights": true, "name": "Carl C. Clerk"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(updated["portal_rights"], true);
    assert_eq!(updated["name"], "Carl C. Clerk");

    // The only administrator cannot remove their own administrator flag or deactivate.
    let last = app
        .firm_api(
            &admin,
            Method::PATCH,
            &format!("/members/{}", admin.member_id),
        )
        .json(&json!({"is_admin": false}))
        .send()
        .await
        .unwrap();
    assert!(
        expect_problem(last, 409)
            .await
            .contains("at least one active administrator")
    );

    // Deactivating a member ends their sessions at once.
    assert_eq!(
        app.firm_api(&clerk, Method::GET, "/me")
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let deactivated = app
        .firm_api(
            &admin,
            Method::PATCH,
            &format!("/members/{}", clerk.member_id),
        )
        .json(&json!({"active": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(deactivated.status(), 200);
    expect_problem(
        app.firm_api(&clerk, Method::GET, "/me")
            .send()
            .await
            .unwrap(),
        401,
    )
    .await;
    let again = app
        .http
        .post(app.firm_url(&clerk.slug, "/api/v1/firm/session"))
        .json(&json!({"email": clerk.email, "password": crate::support::firm::STRONG_PASSWORD}))
        .send()
        .await
        .unwrap();
    expect_problem(again, 401).await;

    // Unknown and malformed ids answer 404.
    let missing = app
        .firm_api(
            &admin,
            Method::GET,
            &format!("/members/{}", uuid::Uuid::now_v7()),
        )
        .send()
        .await
        .unwrap();
    expect_problem(missing, 404).await;
    let malformed = app
        .firm_api(&admin, Method::GET, "/members/not-a-uuid")
        .send()
        .await
        .unwrap();
    expect_problem(malformed, 404).await;
    // Every change is in the audit trail.
    let audit = app
        .count(
            "SELECT COUNT(*) AS n FROM audit_log WHERE tenant_id = $1 AND action IN ('member.invited', 'member.updated')",
            vec![admin.tenant_id.into()],
        )
        .await;
    assert_eq!(audit, 3);
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

async fn member_json(app: &TestApp, admin: &FirmSession, id: &str) -> Value {
    app.firm_api(admin, Method::GET, &format!("/members/{id}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn members_page_lists_and_invites(app: TestApp) {
    let admin = app.firm_with_admin().await;
    let clerk = app.member(&admin, "Carl Clerk", false, true).await;
    let (status, html) = page_get(&app, &admin, "/firm/members").await;
    assert_eq!(status, 200);
    assert!(html.contains("Ada Admin") && html.contains(&admin.email));
    assert!(html.contains("Carl Clerk") && html.contains(&clerk.email));
    assert!(html.contains(&format!("href=\"/firm/members/{}\"", clerk.member_id)));
    assert!(html.contains("<span class=\"badge admin\">Admin</span>"));
    assert!(html.contains(">Portal right</span>"));
    assert!(html.contains("<span class=\"badge active\">Active</span>"));
    assert!(html.contains("Permitted to share items and invite clients to the Portal"));
    assert!(!html.contains("Never"), "both members have signed in");

    // Inviting through the form: the member exists at once and receives the setup email.
    let email = format!("nora.new@{}.example", admin.slug);
    let invited = page_post(&app, &admin, "/firm/members")
        .form(&[
            ("csrf", admin.csrf.as_str()),
            ("name", "Nora New"),
            ("email", email.as_str()),
            ("portal_rights", "on"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(invited.status(), 303);
    let location = invited.headers()["location"].to_str().unwrap().to_owned();
    assert!(location.starts_with("/firm/members?invited="), "{location}");
    let list: Vec<Value> = app
        .firm_api(&admin, Method::GET, "/members")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let nora = list
        .iter()
        .find(|m| m["email"] == email.as_str())
        .expect("Nora was added");
    assert_eq!(nora["name"], "Nora New");
    assert_eq!(nora["is_admin"], false);
    assert_eq!(nora["portal_rights"], true);
    assert_eq!(nora["has_password"], false);
    let mail = app.wait_for_file_mail(&email).await;
    let token = link_token(
        &mail,
        &format!("{}/firm/setup/", app.portal_url(&admin.slug)),
    );
    assert!(!token.is_empty());
    let (_, html) = page_get(&app, &admin, &location).await;
    assert!(
        html.contains("Nora New has been added and emailed a link"),
        "the notice"
    );
    assert!(html.contains("<span class=\"badge pending\">Setup pending</span>"));
    assert!(html.contains("Never"), "Nora has not signed in yet");

    // Refusals come back on the page with what was typed.
    let refused = page_post(&app, &admin, "/firm/members")
        .form(&[
            ("csrf", admin.csrf.as_str()),
            ("name", "Bad Address"),
            ("email", "not-an-address"),
            ("is_admin", "on"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 422);
    let html = refused.text().await.unwrap();
    assert!(html.contains("is not a valid email address"), "{html}");
    assert!(html.contains("value=\"Bad Address\""));
    assert!(html.contains("name=\"is_admin\" id=\"invite-admin\" checked"));
    let duplicate = page_post(&app, &admin, "/firm/members")
        .form(&[
            ("csrf", admin.csrf.as_str()),
            ("name", "Again"),
            ("email", email.to_uppercase().as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(duplicate.status(), 409);
    assert!(
        duplicate
            .text()
            .await
            .unwrap()
            .contains("another member already uses")
    );
    // Without the CSRF field nothing happens.
    let forged = page_post(&app, &admin, "/firm/members")
        .form(&[("name", "Forged"), ("email", "forged@example.com")])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);
    let list: Vec<Value> = app
        .firm_api(&admin, Method::GET, "/members")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list.len(), 3);
}

async fn member_page_edits_rights_and_keeps_an_administrator(app: TestApp) {
    let admin = app.firm_with_admin().await;
    let clerk = app.member(&admin, "Carl Clerk", false, false).await;
    let path = format!("/firm/members/{}", clerk.member_id);
    let (status, html) = page_get(&app, &admin, &path).await;
    assert_eq!(status, 200);
    assert!(html.contains("Carl Clerk") && html.contains(&clerk.email));
    assert!(
        html.contains("name=\"portal_rights\" id=\"portal_rights\">"),
        "the Portal right is off"
    );
    assert!(html.contains("Permitted to share items and invite clients to the Portal"));

    // Grant the Portal right and rename in one save; unticked boxes mean "off".
    let email = clerk.email.clone();
    let saved = page_post(&app, &admin, &path)
        .form(&[
            ("csrf", admin.csrf.as_str()),
            ("name", "Carl C. Clerk"),
            ("email", email.as_str()),
            ("portal_rights", "on"),
            ("active", "on"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(saved.status(), 303);
    assert_eq!(
        saved.headers()["location"].to_str().unwrap(),
        format!("{path}?saved=1")
    );
    let stored = member_json(&app, &admin, &clerk.member_id.to_string()).await;
    assert_eq!(stored["portal_rights"], true);
    assert_eq!(stored["name"], "Carl C. Clerk");
    assert_eq!(stored["is_admin"], false);
    assert_eq!(stored["active"], true);
    let (_, html) = page_get(&app, &admin, &format!("{path}?saved=1")).await;
    assert!(html.contains("Changes saved."));
    assert!(html.contains("name=\"portal_rights\" id=\"portal_rights\" checked"));

    // And take it away again.
    let saved = page_post(&app, &admin, &path)
        .form(&[
            ("csrf", admin.csrf.as_str()),
            ("name", "Carl C. Clerk"),
            ("email", email.as_str()),
            ("active", "on"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(saved.status(), 303);
    assert_eq!(
        member_json(&app, &admin, &clerk.member_id.to_string()).await["portal_rights"],
        false
    );

    // The only administrator cannot drop their own flag: the page says why, nothing changes.
    let own = format!("/firm/members/{}", admin.member_id);
    let refused = page_post(&app, &admin, &own)
        .form(&[
            ("csrf", admin.csrf.as_str()),
            ("name", "Ada Admin"),
            ("email", admin.email.as_str()),
            ("active", "on"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 409);
    let html = refused.text().await.unwrap();
    assert!(
        html.contains("Not saved: the firm must keep at least one active administrator"),
        "{html}"
    );
    assert!(
        html.contains("name=\"is_admin\" id=\"is_admin\">"),
        "the form shows what was typed"
    );
    assert_eq!(
        member_json(&app, &admin, &admin.member_id.to_string()).await["is_admin"],
        true
    );
    // A validation error is a 422 with the message.
    let refused = page_post(&app, &admin, &path)
        .form(&[
            ("csrf", admin.csrf.as_str()),
            ("name", "  "),
            ("email", email.as_str()),
            ("active", "on"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 422);
    assert!(
        refused
            .text()
            .await
            .unwrap()
            .contains("Not saved: name is required.")
    );

    // Deactivating through the page signs the member out.
    let saved = page_post(&app, &admin, &path)
        .form(&[
            ("csrf", admin.csrf.as_str()),
            ("name", "Carl C. Clerk"),
            ("email", email.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(saved.status(), 303);
    expect_problem(
        app.firm_api(&clerk, Method::GET, "/me")
            .send()
            .await
            .unwrap(),
        401,
    )
    .await;
    let (_, html) = page_get(&app, &admin, "/firm/members").await;
    assert!(html.contains("<span class=\"badge inactive\">Inactive</span>"));

    // Unknown and malformed ids: the not-found page.
    assert_eq!(
        page_get(
            &app,
            &admin,
            &format!("/firm/members/{}", uuid::Uuid::now_v7())
        )
        .await
        .0,
        404
    );
    assert_eq!(page_get(&app, &admin, "/firm/members/nope").await.0, 404);
    // Another firm's member is not found either.
    let other = app.firm_with_admin().await;
    assert_eq!(page_get(&app, &other, &path).await.0, 404);
}

async fn members_pages_are_for_administrators_only(app: TestApp) {
    let admin = app.firm_with_admin().await;
    let clerk = app.member(&admin, "Carl Clerk", false, true).await;
    let (status, html) = page_get(&app, &clerk, "/firm/members").await;
    assert_eq!(status, 403);
    assert!(html.contains("Only administrators"));
    assert!(!html.contains(&admin.email));
    assert_eq!(
        page_get(&app, &clerk, &format!("/firm/members/{}", admin.member_id))
            .await
            .0,
        403
    );
    let refused = page_post(&app, &clerk, "/firm/members")
        .form(&[
            ("csrf", clerk.csrf.as_str()),
            ("name", "Sneaky"),
            ("email", "sneaky@example.com"),
            ("is_admin", "on"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
    let refused = page_post(&app, &clerk, &format!("/firm/members/{}", clerk.member_id))
        .form(&[
            ("csrf", clerk.csrf.as_str()),
            ("name", "Carl"),
            ("email", clerk.email.as_str()),
            ("is_admin", "on"),
            ("active", "on"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
    let list: Vec<Value> = app
        .firm_api(&admin, Method::GET, "/members")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list.len(), 2, "nobody was added");
    assert!(
        list.iter().all(|m| m["name"] != "Carl"
            && (m["email"] == admin.email.as_str() || m["is_admin"] == false))
    );
    // The workspace navigation offers the page to administrators only.
    let (_, home) = page_get(&app, &clerk, "/firm").await;
    assert!(!home.contains("href=\"/firm/members\""));
    let (_, home) = page_get(&app, &admin, "/firm").await;
    assert!(home.contains("href=\"/firm/members\""));
}

async fn setup_links_can_be_resent_until_a_password_is_chosen(app: TestApp) {
    let admin = app.firm_with_admin().await;
    let email = format!("late.joiner@{}.example", admin.slug);
    let invited: Value = app
        .firm_api(&admin, Method::POST, "/members")
        .json(&json!({"name": "Late Joiner", "email": email}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = invited["id"].as_str().unwrap().to_owned();
    let prefix = format!("{}/firm/setup/", app.portal_url(&admin.slug));
    let first = crate::support::link_token(&app.wait_for_file_mail(&email).await, &prefix);
    let resent = app
        .firm_api(&admin, Method::POST, &format!("/members/{id}/setup-link"))
        .send()
        .await
        .unwrap();
    assert_eq!(resent.status(), 200);
    // The newest link works, the first one no longer does.
    let mut second = None;
    for _ in 0..200 {
        let tokens: Vec<String> = app
            .sent_files()
            .into_iter()
            .filter(|m| m.contains(&format!("To: {email}")))
            .map(|m| crate::support::link_token(&m, &prefix))
            .filter(|t| *t != first)
            .collect();
        if let Some(t) = tokens.into_iter().next() {
            second = Some(t);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let second = second.expect("a second setup email");
    let old = app
        .http
        .post(app.firm_url(&admin.slug, &format!("/api/v1/firm/setup/{first}")))
        .json(&json!({"password": crate::support::firm::STRONG_PASSWORD}))
        .send()
        .await
        .unwrap();
    expect_problem(old, 410).await;
    let new = app
        .http
        .post(app.firm_url(&admin.slug, &format!("/api/v1/firm/setup/{second}")))
        .json(&json!({"password": crate::support::firm::STRONG_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(new.status(), 200);
    // Once a password is chosen there is nothing to resend.
    let refused = app
        .firm_api(&admin, Method::POST, &format!("/members/{id}/setup-link"))
        .send()
        .await
        .unwrap();
    assert!(
        expect_problem(refused, 422)
            .await
            .contains("already set a password")
    );
    // Only administrators resend.
    let clerk = app.member(&admin, "Carla Clerk", false, false).await;
    let forbidden = app
        .firm_api(&clerk, Method::POST, &format!("/members/{id}/setup-link"))
        .send()
        .await
        .unwrap();
    expect_problem(forbidden, 403).await;
}
