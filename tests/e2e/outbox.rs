//! The mail outbox against a real SMTP server (aiosmtpd): delivery with a stable Message-ID,
//! survival of the server being down, and no second send after a success.

use std::time::Duration;

use serde_json::json;

use crate::on_both_backends;
use crate::support::smtp::{SmtpSink, free_port};
use crate::support::{TestApp, link_token, unique_slug};

on_both_backends!(
    setup_email_is_delivered_over_smtp_once,
    smtp_down_at_send_time_delivers_when_it_returns
);

async fn smtp_app(backend: crate::support::Backend, port: u16) -> TestApp {
    TestApp::spawn_with(
        backend,
        json!({"mail": {"transport": "smtp", "smtp_host": "127.0.0.1", "smtp_port": port,
                        "smtp_tls": "none", "timeout_secs": 2, "from": "Portico <no-reply@portico.test>"}}),
    )
    .await
}

async fn onboard(app: &TestApp) -> (String, String) {
    let slug = unique_slug();
    let email = format!("admin@{slug}.example");
    let response = app
        .operator_api(reqwest::Method::POST, "/tenants")
        .json(&json!({"slug": slug, "name": "Mail Test LLP", "admin_email": email, "admin_name": "Ada"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    (slug, email)
}

async fn setup_email_is_delivered_over_smtp_once(app: TestApp) {
    let backend = app.backend;
    drop(app);
    let smtp = SmtpSink::start().await;
    let app = smtp_app(backend, smtp.port).await;
    let (slug, email) = onboard(&app).await;
    let message = smtp.wait_for(&email, 15).await;
    assert!(
        message.contains("From: Portico <no-reply@portico.test>"),
        "{message}"
    );
    assert!(message.contains("Subject: Set up your Portico account for Mail Test LLP"));
    assert!(message.contains("Message-ID: <"));
    let token = link_token(&message, &format!("{}/firm/setup/", app.portal_url(&slug)));
    assert_eq!(token.len(), 43);
    // Later passes of the worker never send it again.
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(smtp.messages_to(&email).len(), 1);
    smtp.stop().await;
}

async fn smtp_down_at_send_time_delivers_when_it_returns(app: TestApp) {
    let backend = app.backend;
    drop(app);
    let port = free_port();
    let app = smtp_app(backend, port).await;
    let (slug, email) = onboard(&app).await;
    // Nothing listens yet: the worker records failed attempts and keeps the email pending.
    let mut attempts = 0;
    for _ in 0..100 {
        attempts = app
            .count("SELECT CAST(COALESCE(MAX(attempts), 0) AS BIGINT) AS n FROM mail_outbox WHERE to_address = $1 AND status = 'pending'", vec![email.clone().into()])
            .await;
        if attempts >= 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(attempts >= 1, "a failed attempt is recorded");
    let smtp = SmtpSink::start_on(port).await;
    let message = smtp.wait_for(&email, 20).await;
    assert!(message.contains(&format!("{}/firm/setup/", app.portal_url(&slug))));
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(smtp.messages_to(&email).len(), 1, "delivered exactly once");
    let sent = app
        .count("SELECT COUNT(*) AS n FROM mail_outbox WHERE to_address = $1 AND status = 'sent' AND sent_at IS NOT NULL", vec![email.clone().into()])
        .await;
    assert_eq!(sent, 1);
    smtp.stop().await;
}
