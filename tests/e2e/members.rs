//! Firm members through the API: invitation, rights, the last administrator, deactivation.

use reqwest::Method;
use serde_json::{Value, json};

use crate::on_both_backends;
use crate::support::{TestApp, expect_problem};

on_both_backends!(administrators_invite_and_manage_members);

async fn administrators_invite_and_manage_members(app: TestApp) {
    let admin = app.firm_with_admin().await;
    let clerk = app.member(&admin, "Carl Clerk", false, false).await;

    // Only administrators manage members, and the refusal names the rule.
    let refused = app.firm_api(&clerk, Method::GET, "/members").send().await.unwrap();
    assert!(expect_problem(refused, 403).await.contains("administrators"));
    let refused = app
        .firm_api(&clerk, Method::POST, "/members")
        .json(&json!({"name": "X", "email": "x@x.example"}))
        .send()
        .await
        .unwrap();
    expect_problem(refused, 403).await;

    let list: Vec<Value> = app.firm_api(&admin, Method::GET, "/members").send().await.unwrap().json().await.unwrap();
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
        .firm_api(&admin, Method::PATCH, &format!("/members/{}", clerk.member_id))
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
        .firm_api(&admin, Method::PATCH, &format!("/members/{}", admin.member_id))
        .json(&json!({"is_admin": false}))
        .send()
        .await
        .unwrap();
    assert!(expect_problem(last, 409).await.contains("at least one active administrator"));

    // Deactivating a member ends their sessions at once.
    assert_eq!(app.firm_api(&clerk, Method::GET, "/me").send().await.unwrap().status(), 200);
    let deactivated = app
        .firm_api(&admin, Method::PATCH, &format!("/members/{}", clerk.member_id))
        .json(&json!({"active": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(deactivated.status(), 200);
    expect_problem(app.firm_api(&clerk, Method::GET, "/me").send().await.unwrap(), 401).await;
    let again = app
        .http
        .post(app.firm_url(&clerk.slug, "/api/v1/firm/session"))
        .json(&json!({"email": clerk.email, "password": crate::support::firm::STRONG_PASSWORD}))
        .send()
        .await
        .unwrap();
    expect_problem(again, 401).await;

    // Unknown and malformed ids answer 404.
    let missing = app.firm_api(&admin, Method::GET, &format!("/members/{}", uuid::Uuid::now_v7())).send().await.unwrap();
    expect_problem(missing, 404).await;
    let malformed = app.firm_api(&admin, Method::GET, "/members/not-a-uuid").send().await.unwrap();
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
