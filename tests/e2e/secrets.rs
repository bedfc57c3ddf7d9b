//! No secret at rest or in transit where it does not belong: after a run through sign-ups,
//! sign-ins, invitations, password resets, card tokenisation and payments, no log line, no
//! database row and no sent email contains a password or a card number (any Luhn-valid run of
//! 13–19 digits), and no database row or log line contains a raw access token (emails carry
//! their links by design; the outbox forgets a body once it is sent).
//!
//! Logs are captured for the whole test binary while this test runs (a global subscriber at
//! debug level for Portico's crates): a secret logged by any concurrent test would fail it too.

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

use reqwest::Method;
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};
use serde_json::json;

use crate::on_both_backends;
use crate::support::firm::STRONG_PASSWORD;
use crate::support::portal::CLIENT_PASSWORD;
use crate::support::{Backend, TestApp, fetch_json, link_token};

on_both_backends!(no_password_token_or_card_number_leaks);

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn logs() -> &'static Captured {
    static LOGS: OnceLock<Captured> = OnceLock::new();
    LOGS.get_or_init(|| {
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter(
                "info,portico_web=debug,portico_tenants=debug,portico_payments=debug,portico_platform=debug",
            )
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .finish();
        // Another test may have set one first; then that one captures nothing and this
        // test still checks the database and the emails.
        let _ = tracing::subscriber::set_global_default(subscriber);
        captured
    })
}

fn luhn_valid(digits: &str) -> bool {
    let mut sum = 0;
    for (i, c) in digits.chars().rev().enumerate() {
        let mut d = c.to_digit(10).unwrap_or(0);
        if i % 2 == 1 {
            d *= 2;
            if d > 9 {
                d -= 9;
            }
        }
        sum += d;
    }
    sum % 10 == 0
}

/// Runs of 13–19 digits (spaces and dashes between groups allowed) that pass the Luhn check.
fn card_numbers(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        if !chars[i].is_ascii_digit() {
            i += 1;
            continue;
        }
        let mut digits = String::new();
        let mut j = i;
        while j < chars.len()
            && (chars[j].is_ascii_digit()
                || ((chars[j] == ' ' || chars[j] == '-')
                    && j + 1 < chars.len()
                    && chars[j + 1].is_ascii_digit()
                    && digits.len().is_multiple_of(4)))
        {
            if chars[j].is_ascii_digit() {
                digits.push(chars[j]);
            }
            j += 1;
        }
        // Only whole runs count: digits inside a hex id, a UUID or a random token are not a
        // card, so the run must not touch a letter or digit on either side.
        let alone = (i == 0 || !chars[i - 1].is_ascii_alphanumeric())
            && (j >= chars.len() || !chars[j].is_ascii_alphanumeric());
        if alone && (13..=19).contains(&digits.len()) && luhn_valid(&digits) {
            found.push(digits);
        }
        i = j.max(i + 1);
    }
    found
}

/// Every row of every table as text.
async fn dump(app: &TestApp, db: &DatabaseConnection) -> String {
    let mut out = String::new();
    let tables = portico_migrations::TENANT_TABLES
        .iter()
        .chain(portico_migrations::PLATFORM_TABLES);
    for table in tables {
        let sql = match app.backend {
            Backend::Postgres => format!("SELECT row_to_json(t)::text AS j FROM {table} t"),
            Backend::Sqlite => {
                let columns = db
                    .query_all_raw(Statement::from_string(
                        db.get_database_backend(),
                        format!("SELECT name FROM pragma_table_info('{table}')"),
                    ))
                    .await
                    .unwrap();
                let parts: Vec<String> = columns
                    .iter()
                    .map(|c| format!("quote({})", c.try_get::<String>("", "name").unwrap()))
                    .collect();
                format!("SELECT {} AS j FROM {table}", parts.join(" || '|' || "))
            }
        };
        for row in db
            .query_all_raw(Statement::from_string(db.get_database_backend(), sql))
            .await
            .unwrap()
        {
            let text: Option<String> = row.try_get("", "j").unwrap();
            out.push_str(&format!("{table}: {}\n", text.unwrap_or_default()));
        }
    }
    out
}

async fn no_password_token_or_card_number_leaks(app: TestApp) {
    let logs = logs();
    let (admin, client, _contact, file) = app.firm_with_client().await;
    let invitation_mail = app
        .sent_files()
        .into_iter()
        .find(|m| m.contains("/invitations/"))
        .unwrap();
    let invitation = link_token(
        &invitation_mail,
        &format!("{}/invitations/", app.portal_url(&admin.slug)),
    );

    // A password reset link for the member, a reset request for the client.
    app.http
        .post(app.firm_url(&admin.slug, "/api/v1/firm/password-reset"))
        .json(&json!({"email": admin.email}))
        .send()
        .await
        .unwrap();
    let reset_mail = app
        .wait_for_sent_file("with a reset link", |m| m.contains("/firm/reset/"))
        .await;
    let reset = link_token(
        &reset_mail,
        &format!("{}/firm/reset/", app.portal_url(&admin.slug)),
    );
    // A wrong password attempt is logged (throttling), without the password.
    let wrong = "a wrong but memorable password 99";
    app.http
        .post(app.firm_url(&admin.slug, "/api/v1/firm/session"))
        .json(&json!({"email": admin.email, "password": wrong}))
        .send()
        .await
        .unwrap();

    // Cards: a good one pays, a declined one fails.
    let invoice = fetch_json(
        app.firm_api(&admin, Method::POST, &format!("/files/{file}/invoices"))
            .json(&json!({"lines": [{"description": "Advice", "amount": 5000}]})),
    )
    .await;
    let id = invoice["id"].as_str().unwrap();
    app.firm_api(&admin, Method::POST, &format!("/invoices/{id}/finalize"))
        .send()
        .await
        .unwrap();
    app.firm_api(&admin, Method::PUT, &format!("/invoices/{id}/portal"))
        .json(&json!({"shared": true}))
        .send()
        .await
        .unwrap();
    let cards = ["4000000000000002", "4242 4242 4242 4242"];
    for (i, card) in cards.iter().enumerate() {
        let setup =
            fetch_json(app.portal_api(&client, Method::POST, "/payment-methods/setup")).await;
        let token = fetch_json(
            app.http
                .post(app.firm_url(&admin.slug, "/mock-psp/tokens"))
                .json(
                    &json!({"card_number": card, "exp_month": 11, "exp_year": 2032, "cvc": "987"}),
                ),
        )
        .await;
        let saved =
            json!({"setup_id": setup["setup_id"], "provider_token": token["provider_token"]});
        let method = fetch_json(
            app.portal_api(&client, Method::POST, "/payment-methods")
                .json(&saved),
        )
        .await;
        let paid = app
            .portal_api(&client, Method::POST, &format!("/invoices/{id}/payments"))
            .header("Idempotency-Key", format!("secrets-{i}"))
            .json(&json!({"payment_method_id": method["id"], "amount": 1000}))
            .send()
            .await
            .unwrap();
        assert_eq!(paid.status(), 200);
    }
    // Let the outbox deliver everything queued.
    for _ in 0..100 {
        let pending = app
            .count(
                "SELECT COUNT(*) AS n FROM mail_outbox WHERE status = 'pending' AND tenant_id = $1",
                vec![admin.tenant_id.into()],
            )
            .await;
        if pending == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }

    let db = app.owner_db().await;
    let tables = dump(&app, &db).await;
    db.close().await.ok();
    let mails = app.sent_files().join("\n");
    let log_text =
        String::from_utf8_lossy(&logs.0.lock().unwrap_or_else(|e| e.into_inner())).into_owned();
    assert!(tables.contains("invoice: "), "the dump read the tables");

    for (place, text) in [
        ("database", &tables),
        ("emails", &mails),
        ("logs", &log_text),
    ] {
        for secret in [STRONG_PASSWORD, CLIENT_PASSWORD, wrong, "987"] {
            if secret == "987" {
                // The CVC: only meaningful as a field value; three digits occur everywhere.
                assert!(!text.contains("\"cvc\""), "{place} contains a CVC field");
                continue;
            }
            assert!(!text.contains(secret), "{place} contains a password");
        }
        let pans = card_numbers(text);
        if !pans.is_empty() {
            let at = text.find(&pans[0][..6]).unwrap_or(0);
            let context: String = text[at.saturating_sub(120)..].chars().take(240).collect();
            panic!("{place} contains card numbers {pans:?}, e.g. in: {context}");
        }
    }
    for (place, text) in [("database", &tables), ("logs", &log_text)] {
        for (what, token) in [
            ("invitation", &invitation),
            ("reset", &reset),
            ("session", &client.token),
            ("session", &admin.token),
        ] {
            assert!(
                !text.contains(token.as_str()),
                "{place} contains a raw {what} token"
            );
        }
    }
}

#[test]
fn the_card_detector_finds_cards_and_ignores_other_numbers() {
    assert_eq!(
        card_numbers("card 4242 4242 4242 4242 ok"),
        vec!["4242424242424242"]
    );
    assert_eq!(
        card_numbers("\"4000000000000002\","),
        vec!["4000000000000002"]
    );
    assert!(
        card_numbers("X'01A20782183272938EE7'").is_empty(),
        "inside a hex blob"
    );
    assert!(card_numbers("id 01a20780-32ad-76c8-bb52-b8cf9e44e50f at 1800000000").is_empty());
    assert!(
        card_numbers("4242424242424241").is_empty(),
        "not Luhn-valid"
    );
}
