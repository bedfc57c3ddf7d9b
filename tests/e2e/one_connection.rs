//! A request never takes a second pooled connection while it holds one: with a full pool such
//! a request would wait for itself. Run with a pool of one connection, every firm option read
//! in the middle of a change must still be the firm's own — not the defaults a failed second
//! checkout used to fall back to — and every request must succeed.

use reqwest::Method;
use serde_json::json;

use crate::on_both_backends_with;
use crate::support::{Backend, TestApp, decode_mail};

on_both_backends_with!(changes_use_the_firm_options_with_a_pool_of_one);

async fn changes_use_the_firm_options_with_a_pool_of_one(backend: Backend) {
    let app = TestApp::spawn_with(backend, json!({"database": {"max_connections": 1}})).await;
    let (admin, client, _contact, file) = app.firm_with_client().await;

    // Options that differ from the defaults, saved (which empties the options cache, so the
    // next change reads them again while holding its transaction).
    let mut options = app.firm_options(&admin).await;
    assert_eq!(options["notify_client_on_share"], false, "the default");
    options["notify_client_on_share"] = json!(true);
    options["display_name"] = json!("Harbour Chambers Portal");
    let save_options = || async {
        assert_eq!(app.save_firm_options(&admin, &options).await.status(), 200);
    };
    save_options().await;

    // Sharing a note queues a client notice only because the firm asked for notices.
    let note = app
        .firm_api(&admin, Method::POST, &format!("/files/{file}/notes"))
        .json(&json!({"body": "shared with one connection", "shared": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(note.status(), 201);
    let queued = app
        .count(
            "SELECT COUNT(*) AS n FROM client_notice WHERE tenant_id = $1",
            vec![admin.tenant_id.into()],
        )
        .await;
    assert_eq!(queued, 1, "the firm's notify-on-share option was honoured");

    // Allowing Portal access invites under the firm's display name (saved again: the cache is
    // empty when the change starts).
    save_options().await;
    let email = format!("second@{}.example", admin.slug);
    let contact = app.contact(&admin, "Sam Second", &[&email]).await;
    app.add_client(&admin, file, contact).await;
    assert_eq!(
        app.allow_portal(&admin, contact, &email, &[file])
            .await
            .status(),
        200
    );
    let invitation = app
        .wait_for_sent_file("the invitation", |m| m.contains(&format!("To: {email}")))
        .await;
    assert!(
        decode_mail(invitation.as_bytes()).contains("Harbour Chambers Portal invites you"),
        "the invitation names the firm as its options say: {invitation}"
    );

    // The client's reads work with the one connection too.
    for path in ["/files", &format!("/files/{file}/notes"), "/billing"] {
        let response = app
            .portal_api(&client, Method::GET, path)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{path}");
    }
}
