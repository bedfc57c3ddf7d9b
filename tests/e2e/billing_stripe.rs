//! Billing with the Stripe provider, through the application, against the fake Stripe server:
//! the two-step add with a SetupIntent (the browser's Stripe.js part played by the fake),
//! payments on the firm's connected account with our idempotency keys, declines, a network
//! failure after the charge (retry replays, one charge), and a `pending` attempt settled by a
//! signed Stripe webhook.

use reqwest::{Method, StatusCode};
use sea_orm::{ConnectionTrait, Statement};
use serde_json::{Value, json};

use crate::on_both_backends_with;
use crate::support::fake_stripe::FakeStripe;
use crate::support::portal::ClientSession;
use crate::support::{Backend, TestApp, expect_problem, fetch_json};

const WEBHOOK_SECRET: &str = "whsec_test_portico_stripe";

on_both_backends_with!(stripe_payments_on_the_connected_account);

async fn setup_id_at_stripe(app: &TestApp, setup_id: &str) -> String {
    let db = app.owner_db().await;
    let row = db
        .query_one_raw(Statement::from_sql_and_values(
            db.get_database_backend(),
            app.sql("SELECT provider_setup_id FROM payment_method_setup WHERE id = $1"),
            [uuid::Uuid::parse_str(setup_id).unwrap().into()],
        ))
        .await
        .unwrap()
        .expect("setup row");
    row.try_get("", "provider_setup_id").unwrap()
}

async fn add_stripe_method(
    app: &TestApp,
    fake: &FakeStripe,
    client: &ClientSession,
    test_method: &str,
) -> Value {
    let setup = fetch_json(app.portal_api(client, Method::POST, "/payment-methods/setup")).await;
    assert_eq!(setup["provider"], "stripe");
    assert!(
        setup["client_secret"]
            .as_str()
            .unwrap()
            .contains("_secret_")
    );
    assert_eq!(setup["publishable_key"], "pk_test_fake");
    let seti = setup_id_at_stripe(app, setup["setup_id"].as_str().unwrap()).await;
    // What Stripe.js does in the browser: the card goes to Stripe, we get a PaymentMethod id.
    let pm = fake.confirm_setup_intent(&seti, test_method);
    let response = app
        .portal_api(client, Method::POST, "/payment-methods")
        .json(&json!({"setup_id": setup["setup_id"], "provider_token": pm}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    response.json().await.unwrap()
}

async fn pay(
    app: &TestApp,
    client: &ClientSession,
    invoice: &str,
    amount: i64,
    method: &Value,
    key: &str,
) -> reqwest::Response {
    app.portal_api(
        client,
        Method::POST,
        &format!("/invoices/{invoice}/payments"),
    )
    .header("Idempotency-Key", key)
    .json(&json!({"amount": amount, "payment_method_id": method["id"]}))
    .send()
    .await
    .unwrap()
}

async fn stripe_payments_on_the_connected_account(backend: Backend) {
    let fake = FakeStripe::start().await;
    let app = TestApp::spawn_with(
        backend,
        json!({"payments": {"stripe": {
            "api_base": fake.base_url(),
            "secret_key": fake.secret(),
            "webhook_secret": WEBHOOK_SECRET,
            "publishable_key": "pk_test_fake",
        }}}),
    )
    .await;
    let (admin, client, _contact, file) = app.firm_with_client().await;
    let account = format!("acct_{}", admin.slug);
    let saved = app
        .firm_api(&admin, Method::PUT, "/options/billing")
        .json(&json!({"provider": "stripe", "currency": "USD", "stripe_account_id": account}))
        .send()
        .await
        .unwrap();
    assert_eq!(saved.status(), 200);
    let saved: Value = saved.json().await.unwrap();
    assert!(saved["stripe_available"].as_bool().unwrap());

    let invoice = fetch_json(
        app.firm_api(&admin, Method::POST, &format!("/files/{file}/invoices"))
            .json(&json!({"lines": [{"description": "Retainer", "amount": 90_000}]})),
    )
    .await;
    let id = invoice["id"].as_str().unwrap().to_owned();
    app.firm_api(&admin, Method::POST, &format!("/invoices/{id}/finalize"))
        .send()
        .await
        .unwrap();
    app.firm_api(&admin, Method::PUT, &format!("/invoices/{id}/portal"))
        .json(&json!({"shared": true}))
        .send()
        .await
        .unwrap();

    let card = add_stripe_method(&app, &fake, &client, "pm_card_visa").await;
    assert_eq!(card["brand"], "visa");
    assert_eq!(card["last4"], "4242");

    // A payment: on the connected account, form-encoded minor units, our idempotency key.
    let paid: Value = pay(&app, &client, &id, 25_000, &card, "stripe-1")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(paid["status"], "succeeded", "{paid}");
    let create = fake
        .requests()
        .into_iter()
        .rfind(|r| r.method == "POST" && r.path == "/v1/payment_intents")
        .unwrap();
    assert_eq!(create.account.as_deref(), Some(account.as_str()));
    assert_eq!(create.param("amount"), Some("25000"));
    assert_eq!(create.param("currency"), Some("usd"));
    assert!(
        create
            .idempotency_key
            .as_deref()
            .unwrap()
            .starts_with("portico-attempt-")
    );
    assert_eq!(
        create.content_type.as_deref(),
        Some("application/x-www-form-urlencoded")
    );
    assert!(
        fake.requests()
            .iter()
            .all(|r| r.authorized && r.account.as_deref() == Some(account.as_str()))
    );
    assert_eq!(fake.charges_count(&account), 1);

    // Declined at Stripe: a clear failure with Stripe's transaction id, nothing recorded.
    let declined = add_stripe_method(&app, &fake, &client, "pm_card_chargeDeclined").await;
    let failed: Value = pay(&app, &client, &id, 1_000, &declined, "stripe-2")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(failed["status"], "failed");
    assert!(
        failed["transaction_id"]
            .as_str()
            .unwrap()
            .starts_with("pi_")
    );
    assert!(
        failed["message"]
            .as_str()
            .unwrap()
            .to_lowercase()
            .contains("declined")
    );

    // The connection breaks after Stripe charged: pending; the retry with the same key replays
    // Stripe's stored answer: one charge, one payment.
    fake.fail_next_payment_intent_after_charge();
    let pending = pay(&app, &client, &id, 5_000, &card, "stripe-3").await;
    assert_eq!(pending.status(), StatusCode::ACCEPTED);
    let pending: Value = pending.json().await.unwrap();
    assert_eq!(pending["status"], "pending");
    let retried: Value = pay(&app, &client, &id, 5_000, &card, "stripe-3")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(retried["status"], "succeeded");
    assert_eq!(fake.charges_count(&account), 2);
    let payments = app
        .count(
            "SELECT COUNT(*) AS n FROM payment WHERE tenant_id = $1",
            vec![admin.tenant_id.into()],
        )
        .await;
    assert_eq!(payments, 2);
    // The same key with another amount: 409, nothing charged.
    expect_problem(pay(&app, &client, &id, 6_000, &card, "stripe-3").await, 409).await;
    assert_eq!(fake.charges_count(&account), 2);

    // Pending again, and this time Stripe's webhook settles it (re-fetched, not trusted).
    fake.fail_next_payment_intent_after_charge();
    let pending: Value = pay(&app, &client, &id, 7_000, &card, "stripe-4")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(pending["status"], "pending");
    let charge = fake.charges(&account).into_iter().last().unwrap();
    let event = json!({"id": "evt_stripe_1", "object": "event", "type": "payment_intent.succeeded",
                       "account": account, "data": {"object": {"id": charge.payment_intent, "object": "payment_intent"}}})
    .to_string();
    let now = chrono::Utc::now().timestamp();
    let bad = app
        .http
        .post(app.operator_url("/webhooks/stripe"))
        .header(
            "Stripe-Signature",
            portico_payments::signature::sign("whsec_other", event.as_bytes(), now),
        )
        .body(event.clone())
        .send()
        .await
        .unwrap();
    expect_problem(bad, 400).await;
    for _ in 0..2 {
        let delivered = app
            .http
            .post(app.operator_url("/webhooks/stripe"))
            .header(
                "Stripe-Signature",
                portico_payments::signature::sign(WEBHOOK_SECRET, event.as_bytes(), now),
            )
            .body(event.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(delivered.status(), 200);
    }
    let payments = app
        .count(
            "SELECT COUNT(*) AS n FROM payment WHERE tenant_id = $1",
            vec![admin.tenant_id.into()],
        )
        .await;
    assert_eq!(payments, 3, "the webhook recorded the pending payment once");
    let replay: Value = pay(&app, &client, &id, 7_000, &card, "stripe-4")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(replay["status"], "succeeded");
    let firm_view = fetch_json(app.firm_api(&admin, Method::GET, &format!("/invoices/{id}"))).await;
    assert_eq!(
        firm_view["balance"]["amount"],
        90_000 - 25_000 - 5_000 - 7_000
    );
    assert_eq!(fake.charges_count(&account), 3);
}
