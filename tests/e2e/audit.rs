//! The audit trail: recorded per firm, readable by administrators, filtered by actor and date.

use reqwest::Method;
use serde_json::{Value, json};

use crate::on_both_backends;
use crate::support::{TestApp, expect_problem};

on_both_backends!(audit_trail_records_who_did_what_and_filters);

async fn audit_trail_records_who_did_what_and_filters(app: TestApp) {
    let admin = app.firm_with_admin().await;
    let other_firm = app.firm_with_admin().await;
    let clerk = app.member(&admin, "Cleo Clerk", false, false).await;
    app.firm_api(
        &admin,
        Method::PATCH,
        &format!("/members/{}", clerk.member_id),
    )
    .json(&json!({"portal_rights": true}))
    .send()
    .await
    .unwrap();

    let all: Vec<Value> = app
        .firm_api(&admin, Method::GET, "/audit")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let actions: Vec<&str> = all.iter().map(|e| e["action"].as_str().unwrap()).collect();
    for expected in [
        "tenant.created",
        "member.setup_completed",
        "member.signed_in",
        "member.invited",
        "member.updated",
    ] {
        assert!(actions.contains(&expected), "{expected} in {actions:?}");
    }
    // Newest first, with actor, target and address.
    assert_eq!(all[0]["action"], "member.updated");
    assert_eq!(all[0]["actor"], "Ada Admin");
    assert_eq!(all[0]["target_id"], clerk.member_id.to_string());
    assert_eq!(all[0]["detail"]["portal_rights"]["to"], true);
    assert_eq!(all[0]["ip"], "127.0.0.1");
    // Only this firm's entries.
    assert!(
        all.iter()
            .all(|e| e["target_id"] != other_firm.member_id.to_string())
    );

    let by_clerk: Vec<Value> = app
        .firm_api(
            &admin,
            Method::GET,
            &format!("/audit?actor={}", clerk.member_id),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(!by_clerk.is_empty());
    assert!(
        by_clerk
            .iter()
            .all(|e| e["actor_id"] == clerk.member_id.to_string())
    );
    let by_operator: Vec<Value> = app
        .firm_api(&admin, Method::GET, "/audit?actor=operator")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(by_operator.len(), 1);
    assert_eq!(by_operator[0]["action"], "tenant.created");
    let today = chrono::Utc::now().date_naive();
    let yesterday = today.pred_opt().unwrap();
    let none: Vec<Value> = app
        .firm_api(
            &admin,
            Method::GET,
            &format!("/audit?from={yesterday}&to={yesterday}"),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(none.is_empty());
    let todays: Vec<Value> = app
        .firm_api(
            &admin,
            Method::GET,
            &format!("/audit?from={today}&to={today}"),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(todays.len(), all.len());
    let bad = app
        .firm_api(&admin, Method::GET, "/audit?from=31/12/2026")
        .send()
        .await
        .unwrap();
    assert!(
        expect_problem(bad, 422)
            .await
            .contains("from must be a date")
    );
    let refused = app
        .firm_api(&clerk, Method::GET, "/audit")
        .send()
        .await
        .unwrap();
    assert!(
        expect_problem(refused, 403)
            .await
            .contains("administrators")
    );

    // The page: administrators only, filter by actor.
    let page = admin
        .client
        .get(app.firm_url(
            &admin.slug,
            &format!("/firm/audit?actor={}", clerk.member_id),
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("member.signed_in") && html.contains("Cleo Clerk"));
    assert!(!html.contains("tenant.created"), "filtered to the clerk");
    let page = clerk
        .client
        .get(app.firm_url(&clerk.slug, "/firm/audit"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 403);
    let anonymous = app
        .http
        .get(app.firm_url(&admin.slug, "/firm/audit"))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 303);
    assert!(
        anonymous.headers()["location"]
            .to_str()
            .unwrap()
            .starts_with("/firm/login?next=/firm/audit")
    );
}
