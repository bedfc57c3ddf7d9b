//! Onboarding through the operator API: creation, validation, duplicates, suspension, deletion.

use portico_platform::token::TokenHash;
use reqwest::Method;
use serde_json::{Value, json};

use crate::on_both_backends;
use crate::support::{Backend, TestApp, expect_problem, link_token, unique_slug};

on_both_backends!(
    onboarding_creates_firm_admin_and_setup_email,
    same_slug_again_is_409_and_changes_nothing,
    invalid_input_is_refused_with_reasons,
    operator_auth_is_required_and_base_host_only,
    suspend_and_reactivate_take_effect_at_once,
    delete_removes_every_row_and_blob_of_only_that_firm,
);

async fn onboarding_creates_firm_admin_and_setup_email(app: TestApp) {
    let slug = unique_slug();
    let response = app
        .operator_api(Method::POST, "/tenants")
        .json(&json!({"slug": slug, "name": "Smith & Jones LLP",
                      "admin_email": "ada@smith.example", "admin_name": "Ada Admin"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let created: Value = response.json().await.unwrap();
    assert_eq!(created["slug"], slug);
    assert_eq!(created["name"], "Smith & Jones LLP");
    assert_eq!(created["status"], "active");
    assert_eq!(created["portal_url"], app.portal_url(&slug));
    let id = created["id"].as_str().unwrap().to_owned();
    uuid::Uuid::parse_str(&id).expect("id is a UUID");

    // Listed and shown.
    let list: Vec<Value> = app
        .operator_api(Method::GET, "/tenants")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(list.iter().any(|t| t["slug"] == slug));
    let shown: Value = app
        .operator_api(Method::GET, &format!("/tenants/{slug}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(shown["id"], id);

    // The administrator exists, with no password yet, as an administrator of that firm.
    let tenant_id = uuid::Uuid::parse_str(&id).unwrap();
    let admins = app
        .count(
            "SELECT COUNT(*) AS n FROM member WHERE tenant_id = $1 AND is_admin AND password_hash IS NULL AND email = 'ada@smith.example'",
            vec![tenant_id.into()],
        )
        .await;
    assert_eq!(admins, 1);

    // The setup email carries a link built from the firm's Portal URL, and the token is stored
    // only as its hash.
    let mail = app.wait_for_file_mail("ada@smith.example").await;
    let prefix = format!("{}/firm/setup/", app.portal_url(&slug));
    let token = link_token(&mail, &prefix);
    assert_eq!(token.len(), 43, "256-bit base64url token");
    assert!(
        mail.contains("Subject: Set up your Portico account for Smith & Jones LLP"),
        "{mail}"
    );
    assert!(mail.contains("Message-ID: <"), "{mail}");
    let by_hash = app
        .count(
            "SELECT COUNT(*) AS n FROM auth_token WHERE tenant_id = $1 AND token_hash = $2 AND purpose = 'member_setup'",
            vec![tenant_id.into(), TokenHash::of(&token).as_str().into()],
        )
        .await;
    assert_eq!(by_hash, 1);
    let raw_stored = app
        .count(
            "SELECT COUNT(*) AS n FROM auth_token WHERE token_hash = $1",
            vec![token.clone().into()],
        )
        .await;
    assert_eq!(raw_stored, 0, "the raw token is never stored");
    // Once sent, the body (which holds the link) is cleared from the outbox.
    let bodies = app
        .count(
            "SELECT COUNT(*) AS n FROM mail_outbox WHERE tenant_id = $1 AND status = 'sent' AND body_text IS NULL",
            vec![tenant_id.into()],
        )
        .await;
    assert_eq!(bodies, 1);
    // And the operator's action is in the firm's audit trail.
    let audit = app
        .count(
            "SELECT COUNT(*) AS n FROM audit_log WHERE tenant_id = $1 AND action = 'tenant.created' AND actor_kind = 'operator'",
            vec![tenant_id.into()],
        )
        .await;
    assert_eq!(audit, 1);
}

async fn same_slug_again_is_409_and_changes_nothing(app: TestApp) {
    let first = app.create_tenant().await;
    let slug = first["slug"].as_str().unwrap();
    let again = app
        .operator_api(Method::POST, "/tenants")
        .json(&json!({"slug": slug, "name": "Another Name", "admin_email": "x@y.example", "admin_name": "X"}))
        .send()
        .await
        .unwrap();
    let detail = expect_problem(again, 409).await;
    assert!(detail.contains(slug), "{detail}");
    let shown: Value = app
        .operator_api(Method::GET, &format!("/tenants/{slug}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(shown["name"], first["name"]);
    let tenant_id = uuid::Uuid::parse_str(first["id"].as_str().unwrap()).unwrap();
    let members = app
        .count(
            "SELECT COUNT(*) AS n FROM member WHERE tenant_id = $1",
            vec![tenant_id.into()],
        )
        .await;
    assert_eq!(members, 1, "no second administrator");
    let firms = app
        .count(
            "SELECT COUNT(*) AS n FROM tenant WHERE slug = $1",
            vec![slug.into()],
        )
        .await;
    assert_eq!(firms, 1);
}

async fn invalid_input_is_refused_with_reasons(app: TestApp) {
    let cases = [
        ("ab", "3 to 40"),
        ("a-very-long-slug-that-is-more-than-forty-chars", "3 to 40"),
        ("Acme", "lower-case"),
        ("-acme", "lower-case"),
        ("ac.me", "lower-case"),
        ("xn--acme", "lower-case"),
        ("www", "reserved"),
        ("admin", "reserved"),
    ];
    for (slug, expected) in cases {
        let response = app
            .operator_api(Method::POST, "/tenants")
            .json(&json!({"slug": slug, "name": "N", "admin_email": "a@b.example", "admin_name": "A"}))
            .send()
            .await
            .unwrap();
        let detail = expect_problem(response, 422).await;
        assert!(detail.contains(expected), "{slug}: {detail}");
    }
    let slug = unique_slug();
    let bad_email = app
        .operator_api(Method::POST, "/tenants")
        .json(&json!({"slug": slug, "name": "N", "admin_email": "not-an-email", "admin_name": "A"}))
        .send()
        .await
        .unwrap();
    assert!(expect_problem(bad_email, 422).await.contains("admin_email"));
    let blank_name = app
        .operator_api(Method::POST, "/tenants")
        .json(&json!({"slug": slug, "name": "  ", "admin_email": "a@b.example", "admin_name": "A"}))
        .send()
        .await
        .unwrap();
    assert!(
        expect_problem(blank_name, 422)
            .await
            .contains("name is required")
    );
    let missing_field = app
        .operator_api(Method::POST, "/tenants")
        .json(&json!({"slug": slug}))
        .send()
        .await
        .unwrap();
    expect_problem(missing_field, 400).await;
    let not_json = app
        .operator_api(Method::POST, "/tenants")
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    expect_problem(not_json, 400).await;
    // Nothing was half-written by any of the refused requests.
    let firms = app
        .count(
            "SELECT COUNT(*) AS n FROM tenant WHERE slug = $1",
            vec![slug.into()],
        )
        .await;
    assert_eq!(firms, 0);
    let unknown = app
        .operator_api(Method::GET, "/tenants/nosuchfirm")
        .send()
        .await
        .unwrap();
    expect_problem(unknown, 404).await;
}

async fn operator_auth_is_required_and_base_host_only(app: TestApp) {
    let url = app.operator_url("/api/v1/platform/tenants");
    let missing = app.http.get(&url).send().await.unwrap();
    expect_problem(missing, 401).await;
    let wrong = app
        .http
        .get(&url)
        .bearer_auth("op-wrong-token-wrong-token-wrong")
        .send()
        .await
        .unwrap();
    expect_problem(wrong, 401).await;
    let prefix_of_right = app
        .http
        .get(&url)
        .bearer_auth(&app.operator_token[..10])
        .send()
        .await
        .unwrap();
    expect_problem(prefix_of_right, 401).await;
    let right = app
        .http
        .get(&url)
        .bearer_auth(&app.operator_token)
        .send()
        .await
        .unwrap();
    assert_eq!(right.status(), 200);

    // On a firm's host the operator API does not exist, even with the right token.
    let firm = app.create_tenant().await;
    let slug = firm["slug"].as_str().unwrap();
    let on_firm = app
        .http
        .get(app.firm_url(slug, "/api/v1/platform/tenants"))
        .bearer_auth(&app.operator_token)
        .send()
        .await
        .unwrap();
    assert_eq!(on_firm.status(), 404);
    let on_firm_body = on_firm.bytes().await.unwrap();
    // Byte-identical to a route that does not exist at all.
    let missing_route = app
        .http
        .get(app.firm_url(slug, "/api/v1/platform/nothing-here"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing_route.status(), 404);
    assert_eq!(missing_route.bytes().await.unwrap(), on_firm_body);
}

async fn suspend_and_reactivate_take_effect_at_once(app: TestApp) {
    let firm = app.create_tenant().await;
    let slug = firm["slug"].as_str().unwrap();
    // Warm the host cache first: suspension must invalidate it.
    let page = app.http.get(app.firm_url(slug, "/")).send().await.unwrap();
    assert_eq!(page.status(), 200);

    let suspended: Value = app
        .operator_api(Method::POST, &format!("/tenants/{slug}/suspend"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(suspended["status"], "suspended");
    let page = app.http.get(app.firm_url(slug, "/")).send().await.unwrap();
    assert_eq!(page.status(), 403);
    let text = page.text().await.unwrap();
    assert!(
        text.contains("suspended") && text.contains(firm["name"].as_str().unwrap()),
        "{text}"
    );
    let api = app
        .http
        .get(app.firm_url(slug, "/api/v1/firm/anything"))
        .send()
        .await
        .unwrap();
    assert!(expect_problem(api, 403).await.contains("suspended"));
    // Suspension touches no data.
    let tenant_id = uuid::Uuid::parse_str(firm["id"].as_str().unwrap()).unwrap();
    assert_eq!(
        app.count(
            "SELECT COUNT(*) AS n FROM member WHERE tenant_id = $1",
            vec![tenant_id.into()]
        )
        .await,
        1
    );

    let reactivated: Value = app
        .operator_api(Method::POST, &format!("/tenants/{slug}/reactivate"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(reactivated["status"], "active");
    let page = app.http.get(app.firm_url(slug, "/")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let audit = app
        .count(
            "SELECT COUNT(*) AS n FROM audit_log WHERE tenant_id = $1 AND action IN ('tenant.suspended', 'tenant.reactivated')",
            vec![tenant_id.into()],
        )
        .await;
    assert_eq!(audit, 2);
}

async fn delete_removes_every_row_and_blob_of_only_that_firm(app: TestApp) {
    let doomed = app.create_tenant().await;
    let kept = app.create_tenant().await;
    let slug = doomed["slug"].as_str().unwrap();
    let doomed_id = uuid::Uuid::parse_str(doomed["id"].as_str().unwrap()).unwrap();
    let kept_id = uuid::Uuid::parse_str(kept["id"].as_str().unwrap()).unwrap();
    app.wait_for_file_mail(&format!("admin@{slug}.example"))
        .await;
    // A stored blob of the firm.
    let blob_dir = app
        .state
        .blobs
        .tenant_dir(portico_platform::ids::TenantId::from_uuid(doomed_id));
    std::fs::create_dir_all(&blob_dir).unwrap();
    std::fs::write(blob_dir.join("blob.bin"), b"ciphertext").unwrap();
    // On PostgreSQL onboarding, a write of the firm, moved its shared epoch.
    let epoch_rows = app
        .count(
            "SELECT COUNT(*) AS n FROM tenant_write_epoch WHERE tenant_id = $1",
            vec![doomed_id.into()],
        )
        .await;
    assert_eq!(epoch_rows, i64::from(app.backend == Backend::Postgres));
    // Warm the host cache so deletion must invalidate it.
    assert_eq!(
        app.http
            .get(app.firm_url(slug, "/"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    let wrong = app
        .operator_api(Method::DELETE, &format!("/tenants/{slug}"))
        .json(&json!({"confirm": "something-else"}))
        .send()
        .await
        .unwrap();
    assert!(expect_problem(wrong, 422).await.contains("confirmation"));
    assert_eq!(
        app.count(
            "SELECT COUNT(*) AS n FROM tenant WHERE id = $1",
            vec![doomed_id.into()]
        )
        .await,
        1
    );

    let deleted = app
        .operator_api(Method::DELETE, &format!("/tenants/{slug}"))
        .json(&json!({"confirm": slug}))
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);
    assert_eq!(
        app.http
            .get(app.firm_url(slug, "/"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    assert!(!blob_dir.exists(), "blobs removed");
    // Every firm-owned table, and the platform tables that name a firm (its provider accounts,
    // its shared write epoch on PostgreSQL).
    let naming_the_firm = ["payment_account", "tenant_write_epoch"];
    for table in portico_migrations::TENANT_TABLES
        .iter()
        .chain(&naming_the_firm)
    {
        let gone = app
            .count(
                &format!("SELECT COUNT(*) AS n FROM {table} WHERE tenant_id = $1"),
                vec![doomed_id.into()],
            )
            .await;
        assert_eq!(gone, 0, "{table} rows of the deleted firm");
    }
    assert_eq!(
        app.count(
            "SELECT COUNT(*) AS n FROM tenant WHERE id = $1",
            vec![doomed_id.into()]
        )
        .await,
        0
    );
    // The other firm is untouched.
    assert_eq!(
        app.count(
            "SELECT COUNT(*) AS n FROM member WHERE tenant_id = $1",
            vec![kept_id.into()]
        )
        .await,
        1
    );
    let kept_slug = kept["slug"].as_str().unwrap();
    assert_eq!(
        app.http
            .get(app.firm_url(kept_slug, "/"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let again = app
        .operator_api(Method::DELETE, &format!("/tenants/{slug}"))
        .json(&json!({"confirm": slug}))
        .send()
        .await
        .unwrap();
    expect_problem(again, 404).await;
}
