//! Billing end to end with the mock provider: invoices from draft to paid, offline payments,
//! Show in Portal, the client's three views and the Paid stamp, Pay Now (partial, rest,
//! retries with one key, concurrent retries, key reuse, overpayment, declines), payment
//! methods, webhooks (signatures, duplicates, ordering, unknown accounts), Options > Billing,
//! and isolation between firms and between clients.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::on_both_backends;
use crate::support::firm::FirmSession;
use crate::support::portal::{CLIENT_PASSWORD, ClientSession};
use crate::support::{TestApp, expect_problem, fetch_json};

on_both_backends!(
    invoices_go_from_draft_to_paid_with_offline_payments,
    sharing_bills_refuses_drafts_all_or_nothing,
    clients_see_only_shared_bills_and_the_paid_stamp_counts_shared_payments,
    pay_now_partial_then_the_rest_with_receipts,
    one_idempotency_key_never_charges_twice,
    declined_cards_email_the_lawyer_and_record_nothing,
    payment_methods_are_edited_defaulted_and_removed,
    webhooks_are_verified_recorded_once_and_never_revert,
    billing_options_choose_the_provider,
    bills_stay_inside_their_firm_and_client,
);

const MOCK_WEBHOOK_SECRET: &str = "whsec_mock_development_only";

async fn create_invoice(
    app: &TestApp,
    s: &FirmSession,
    file: uuid::Uuid,
    amounts: &[i64],
) -> Value {
    let lines: Vec<Value> = amounts
        .iter()
        .enumerate()
        .map(|(i, a)| json!({"description": format!("Work item {i}"), "amount": a}))
        .collect();
    let response = app
        .firm_api(s, Method::POST, &format!("/files/{file}/invoices"))
        .json(&json!({"lines": lines, "due_date": "2026-12-31"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201, "create invoice");
    response.json().await.unwrap()
}

async fn finalize(app: &TestApp, s: &FirmSession, invoice: &Value) -> Value {
    let response = app
        .firm_api(
            s,
            Method::POST,
            &format!("/invoices/{}/finalize", invoice["id"].as_str().unwrap()),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "finalize");
    response.json().await.unwrap()
}

async fn share_invoice(
    app: &TestApp,
    s: &FirmSession,
    invoice: &Value,
    shared: bool,
) -> reqwest::Response {
    app.firm_api(
        s,
        Method::PUT,
        &format!("/invoices/{}/portal", invoice["id"].as_str().unwrap()),
    )
    .json(&json!({"shared": shared}))
    .send()
    .await
    .unwrap()
}

/// A finalized invoice of `amount` on the client's file, shown in the Portal.
async fn shared_invoice(app: &TestApp, s: &FirmSession, file: uuid::Uuid, amount: i64) -> Value {
    let invoice = create_invoice(app, s, file, &[amount]).await;
    let invoice = finalize(app, s, &invoice).await;
    assert_eq!(share_invoice(app, s, &invoice, true).await.status(), 200);
    invoice
}

async fn mock_token(app: &TestApp, slug: &str, card: &str) -> String {
    let response = app
        .http
        .post(app.firm_url(slug, "/mock-psp/tokens"))
        .json(&json!({"card_number": card, "exp_month": 12, "exp_year": 2031, "cvc": "123"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201, "tokenise {card}");
    let body: Value = response.json().await.unwrap();
    body["provider_token"].as_str().unwrap().to_owned()
}

/// Adds a card through the two-step setup; returns the saved method.
async fn add_card(app: &TestApp, client: &ClientSession, card: &str) -> Value {
    let setup = fetch_json(app.portal_api(client, Method::POST, "/payment-methods/setup")).await;
    assert_eq!(setup["provider"], "mock");
    let token = mock_token(app, &client.slug, card).await;
    let response = app
        .portal_api(client, Method::POST, "/payment-methods")
        .json(&json!({"setup_id": setup["setup_id"], "provider_token": token}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201, "complete setup");
    response.json().await.unwrap()
}

async fn pay(
    app: &TestApp,
    client: &ClientSession,
    invoice: &Value,
    amount: Option<i64>,
    method: &Value,
    key: &str,
) -> reqwest::Response {
    let mut body = json!({"payment_method_id": method["id"]});
    if let Some(amount) = amount {
        body["amount"] = json!(amount);
    }
    app.portal_api(
        client,
        Method::POST,
        &format!("/invoices/{}/payments", invoice["id"].as_str().unwrap()),
    )
    .header("Idempotency-Key", key)
    .json(&body)
    .send()
    .await
    .unwrap()
}

async fn billing(app: &TestApp, client: &ClientSession, view: &str) -> Value {
    let response = app
        .portal_api(client, Method::GET, &format!("/billing?view={view}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "billing {view}");
    response.json().await.unwrap()
}

async fn firm_invoice(app: &TestApp, s: &FirmSession, invoice: &Value) -> Value {
    fetch_json(app.firm_api(
        s,
        Method::GET,
        &format!("/invoices/{}", invoice["id"].as_str().unwrap()),
    ))
    .await
}

/// Each body, sent with a fresh `request()`, is refused with a 422 whose detail mentions the
/// needle beside it.
async fn expect_refusals<const N: usize>(
    cases: [(Value, &str); N],
    request: impl Fn() -> reqwest::RequestBuilder,
) {
    for (body, needle) in cases {
        let detail = expect_problem(request().json(&body).send().await.unwrap(), 422).await;
        assert!(detail.contains(needle), "{detail} should mention {needle}");
    }
}

/// Records an offline payment on `file`.
async fn record_payment(
    app: &TestApp,
    s: &FirmSession,
    file: uuid::Uuid,
    body: Value,
) -> reqwest::Response {
    app.firm_api(s, Method::POST, &format!("/files/{file}/payments"))
        .json(&body)
        .send()
        .await
        .unwrap()
}

async fn share_payment(
    app: &TestApp,
    s: &FirmSession,
    payment: &Value,
    shared: bool,
) -> reqwest::Response {
    app.firm_api(
        s,
        Method::PUT,
        &format!("/payments/{}/portal", payment["id"].as_str().unwrap()),
    )
    .json(&json!({"shared": shared}))
    .send()
    .await
    .unwrap()
}

/// The client's view of `invoice`.
async fn portal_invoice(
    app: &TestApp,
    client: &ClientSession,
    invoice: &Value,
) -> reqwest::Response {
    app.portal_api(
        client,
        Method::GET,
        &format!("/invoices/{}", invoice["id"].as_str().unwrap()),
    )
    .send()
    .await
    .unwrap()
}

async fn count(app: &TestApp, sql: &str, tenant: uuid::Uuid) -> i64 {
    app.count(sql, vec![tenant.into()]).await
}

async fn invoices_go_from_draft_to_paid_with_offline_payments(app: TestApp) {
    let (admin, _client, _contact, file) = app.firm_with_client().await;
    // Bad drafts are refused with the reason, and nothing is written.
    let bad_drafts = [
        (json!({"lines": []}), "at least one line"),
        (
            json!({"lines": [{"description": "x", "amount": 0}]}),
            "non-zero",
        ),
        (
            json!({"lines": [{"description": " ", "amount": 10}]}),
            "description",
        ),
        (
            json!({"lines": [{"description": "fee", "amount": 100}, {"description": "discount", "amount": -200}]}),
            "total must be positive",
        ),
        (
            json!({"currency": "XYZ", "lines": [{"description": "fee", "amount": 100}]}),
            "currency",
        ),
        (
            json!({"due_date": "31/12/2026", "lines": [{"description": "fee", "amount": 100}]}),
            "due_date",
        ),
    ];
    expect_refusals(bad_drafts, || {
        app.firm_api(&admin, Method::POST, &format!("/files/{file}/invoices"))
    })
    .await;
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) AS n FROM invoice WHERE tenant_id = $1",
            admin.tenant_id
        )
        .await,
        0
    );
    // A file without a primary client cannot be billed.
    let lonely = app.file(&admin, "2026-002", admin.member_id, &[]).await;
    let detail = expect_problem(
        app.firm_api(&admin, Method::POST, &format!("/files/{lonely}/invoices"))
            .json(&json!({"lines": [{"description": "fee", "amount": 100}]}))
            .send()
            .await
            .unwrap(),
        422,
    )
    .await;
    assert!(detail.contains("primary client"));

    let first = create_invoice(&app, &admin, file, &[100_000, 25_050, -5_050]).await;
    let second = create_invoice(&app, &admin, file, &[1_000]).await;
    assert_eq!(first["status"], "draft");
    assert_eq!(
        first["total"],
        json!({"amount": 120_000, "currency": "USD"})
    );
    assert_eq!(first["number"], "INV-00001");
    assert_eq!(second["number"], "INV-00002");
    assert_eq!(first["lines"].as_array().unwrap().len(), 3);

    // Payments need a finalized invoice.
    let detail = expect_problem(
        record_payment(
            &app,
            &admin,
            file,
            json!({"amount": 100, "invoice_id": first["id"], "method": "check"}),
        )
        .await,
        409,
    )
    .await;
    assert!(detail.contains("draft"));
    let first = finalize(&app, &admin, &first).await;
    assert_eq!(first["status"], "finalized");
    expect_problem(
        app.firm_api(
            &admin,
            Method::POST,
            &format!("/invoices/{}/finalize", first["id"].as_str().unwrap()),
        )
        .send()
        .await
        .unwrap(),
        409,
    )
    .await;

    let cheque = json!({"amount": 20_000, "invoice_id": first["id"], "method": "check",
                        "reference": "Cheque 1042", "received_on": "2026-11-20"});
    let paid = record_payment(&app, &admin, file, cheque).await;
    assert_eq!(paid.status(), 201);
    let paid: Value = paid.json().await.unwrap();
    assert_eq!(paid["source"], "offline");
    assert!(!paid["shared"].as_bool().unwrap());
    let now = firm_invoice(&app, &admin, &first).await;
    assert_eq!(now["balance"]["amount"], 100_000);
    assert_eq!(now["status"], "finalized");

    // Overpayment is refused and nothing is recorded.
    let detail = expect_problem(
        record_payment(
            &app,
            &admin,
            file,
            json!({"amount": 100_001, "invoice_id": first["id"], "method": "cash"}),
        )
        .await,
        422,
    )
    .await;
    assert!(
        detail.contains("overpayment") && detail.contains("$1,000.00"),
        "{detail}"
    );
    let bad_payments = [
        (json!({"amount": -5, "method": "cash"}), "amount"),
        (json!({"amount": 5, "method": "bitcoin"}), "method"),
        (
            json!({"amount": 5, "method": "cash", "invoice_id": uuid::Uuid::now_v7()}),
            "invoice_id",
        ),
    ];
    expect_refusals(bad_payments, || {
        app.firm_api(&admin, Method::POST, &format!("/files/{file}/payments"))
    })
    .await;
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) AS n FROM payment WHERE tenant_id = $1",
            admin.tenant_id
        )
        .await,
        1
    );

    let rest = record_payment(
        &app,
        &admin,
        file,
        json!({"amount": 100_000, "invoice_id": first["id"], "method": "bank_transfer"}),
    )
    .await;
    assert_eq!(rest.status(), 201);
    let now = firm_invoice(&app, &admin, &first).await;
    assert_eq!(now["status"], "paid");
    assert_eq!(now["balance"]["amount"], 0);
    assert!(now["paid_at"].is_string());
    // Paid invoices cannot be voided; an unpaid finalized one can.
    expect_problem(
        app.firm_api(
            &admin,
            Method::POST,
            &format!("/invoices/{}/void", first["id"].as_str().unwrap()),
        )
        .send()
        .await
        .unwrap(),
        409,
    )
    .await;
    let second = finalize(&app, &admin, &second).await;
    let voided = fetch_json(app.firm_api(
        &admin,
        Method::POST,
        &format!("/invoices/{}/void", second["id"].as_str().unwrap()),
    ))
    .await;
    assert_eq!(voided["status"], "void");

    let listing =
        fetch_json(app.firm_api(&admin, Method::GET, &format!("/files/{file}/billing"))).await;
    assert_eq!(listing["invoices"].as_array().unwrap().len(), 2);
    assert_eq!(listing["payments"].as_array().unwrap().len(), 2);
    let audit = count(
        &app,
        "SELECT COUNT(*) AS n FROM audit_log WHERE tenant_id = $1 AND action IN ('invoice.created', 'invoice.finalized', 'invoice.voided', 'payment.recorded')",
        admin.tenant_id,
    )
    .await;
    assert_eq!(audit, 2 + 2 + 1 + 2);
}

async fn sharing_bills_refuses_drafts_all_or_nothing(app: TestApp) {
    let (admin, client, _contact, file) = app.firm_with_client().await;
    let draft = create_invoice(&app, &admin, file, &[5_000]).await;
    let ready = finalize(
        &app,
        &admin,
        &create_invoice(&app, &admin, file, &[7_000]).await,
    )
    .await;
    let detail = expect_problem(share_invoice(&app, &admin, &draft, true).await, 409).await;
    assert!(detail.contains("finalize") && detail.contains(draft["number"].as_str().unwrap()));
    // Several at once: one draft refuses the lot, naming it; nothing changes.
    let detail = expect_problem(
        app.firm_api(
            &admin,
            Method::POST,
            &format!("/files/{file}/billing/portal"),
        )
        .json(&json!({"invoice_ids": [draft["id"], ready["id"]], "shared": true}))
        .send()
        .await
        .unwrap(),
        409,
    )
    .await;
    assert!(detail.contains(draft["number"].as_str().unwrap()));
    assert!(
        !firm_invoice(&app, &admin, &ready).await["shared"]
            .as_bool()
            .unwrap()
    );
    assert!(
        billing(&app, &client, "all").await["items"]
            .as_array()
            .unwrap()
            .is_empty()
    );

    let payment: Value = record_payment(
        &app,
        &admin,
        file,
        json!({"amount": 2_000, "invoice_id": ready["id"], "method": "cash"}),
    )
    .await
    .json()
    .await
    .unwrap();
    let done = fetch_json(
        app.firm_api(
            &admin,
            Method::POST,
            &format!("/files/{file}/billing/portal"),
        )
        .json(
            &json!({"invoice_ids": [ready["id"]], "payment_ids": [payment["id"]], "shared": true}),
        ),
    )
    .await;
    assert_eq!(done["changed"], 2);
    let all = billing(&app, &client, "all").await;
    assert_eq!(all["items"].as_array().unwrap().len(), 2);
    // Removing from the Portal, one at a time.
    let response = share_payment(&app, &admin, &payment, false).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        billing(&app, &client, "all").await["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    // A member without the Portal right cannot share bills.
    let plain = app.member(&admin, "Pat Plain", false, false).await;
    let assign = app
        .firm_api(&admin, Method::PATCH, &format!("/files/{file}"))
        .json(&json!({"member_ids": [plain.member_id]}))
        .send()
        .await
        .unwrap();
    assert!(assign.status().is_success());
    let detail = expect_problem(share_invoice(&app, &plain, &ready, false).await, 403).await;
    assert!(detail.contains("not permitted"));
    let activity = count(
        &app,
        "SELECT COUNT(*) AS n FROM activity WHERE tenant_id = $1 AND action = 'item.shared' AND summary LIKE 'shared invoice%'",
        admin.tenant_id,
    )
    .await;
    assert_eq!(activity, 1);

    // A firm that stops sharing bills (Options > Client Portal) hides them from clients and
    // refuses to show more.
    let mut options = app.firm_options(&admin).await;
    let kinds: Vec<Value> = options["shareable_kinds"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|k| *k != "bills")
        .cloned()
        .collect();
    options["shareable_kinds"] = json!(kinds);
    let saved = app.save_firm_options(&admin, &options).await;
    assert_eq!(saved.status(), 200);
    assert!(
        billing(&app, &client, "all").await["items"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    expect_problem(portal_invoice(&app, &client, &ready).await, 404).await;
    let detail = expect_problem(share_invoice(&app, &admin, &ready, true).await, 403).await;
    assert!(detail.contains("does not share bills"));
}

async fn clients_see_only_shared_bills_and_the_paid_stamp_counts_shared_payments(app: TestApp) {
    let (admin, client, _contact, file) = app.firm_with_client().await;
    let invoice = shared_invoice(&app, &admin, file, 30_000).await;
    let _hidden = finalize(
        &app,
        &admin,
        &create_invoice(&app, &admin, file, &[999]).await,
    )
    .await;
    let outstanding = billing(&app, &client, "outstanding").await;
    let items = outstanding["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "only the shared invoice");
    assert_eq!(
        items[0]["due"],
        json!({"amount": 30_000, "currency": "USD"})
    );
    assert_eq!(items[0]["due_date"], "2026-12-31");
    assert_eq!(
        outstanding["balance_owing"],
        json!({"amount": 30_000, "currency": "USD"})
    );

    // An offline payment covers the invoice but is not shared: the client still sees it due.
    let payment: Value = record_payment(
        &app,
        &admin,
        file,
        json!({"amount": 30_000, "invoice_id": invoice["id"], "method": "check"}),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(firm_invoice(&app, &admin, &invoice).await["status"], "paid");
    let detail: Value = portal_invoice(&app, &client, &invoice)
        .await
        .json()
        .await
        .unwrap();
    assert!(
        !detail["paid"].as_bool().unwrap(),
        "no Paid stamp for an unshared payment"
    );
    assert_eq!(detail["due"]["amount"], 30_000);
    assert!(detail["payments"].as_array().unwrap().is_empty());

    let response = share_payment(&app, &admin, &payment, true).await;
    assert_eq!(response.status(), 200);
    let detail: Value = portal_invoice(&app, &client, &invoice)
        .await
        .json()
        .await
        .unwrap();
    assert!(
        detail["paid"].as_bool().unwrap(),
        "Paid stamp once the payment is shared"
    );
    assert_eq!(detail["status"], "paid");
    let outstanding = billing(&app, &client, "outstanding").await;
    assert!(outstanding["items"].as_array().unwrap().is_empty());
    assert_eq!(outstanding["balance_owing"]["amount"], 0);
    let all = billing(&app, &client, "all").await;
    let kinds: Vec<&str> = all["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds.len(), 2);
    assert!(kinds.contains(&"invoice") && kinds.contains(&"payment"));

    // Since Last Login: everything shared after the previous sign-in is new; signing in
    // again moves the mark.
    let second = app
        .client_sign_in(&client.slug, &client.email, CLIENT_PASSWORD)
        .await;
    assert_eq!(
        billing(&app, &second, "since_last_login").await["items"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let again = app
        .client_sign_in(&client.slug, &client.email, CLIENT_PASSWORD)
        .await;
    assert!(
        billing(&app, &again, "since_last_login").await["items"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    let fresh = shared_invoice(&app, &admin, file, 4_200).await;
    let since = billing(&app, &again, "since_last_login").await;
    let items = since["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["id"], fresh["id"]);
    expect_problem(
        app.portal_api(&again, Method::GET, "/billing?view=everything")
            .send()
            .await
            .unwrap(),
        422,
    )
    .await;
}

async fn pay_now_partial_then_the_rest_with_receipts(app: TestApp) {
    let (admin, client, _contact, file) = app.firm_with_client().await;
    let invoice = shared_invoice(&app, &admin, file, 50_000).await;
    let card = add_card(&app, &client, "4242 4242 4242 4242").await;
    assert_eq!(card["brand"], "visa");
    assert_eq!(card["last4"], "4242");
    assert!(card["is_default"].as_bool().unwrap());
    assert_eq!(
        card["holder_name"], "Chris Client",
        "prefilled from the primary client"
    );

    // The key is required, the amount may not exceed the balance.
    expect_problem(
        app.portal_api(
            &client,
            Method::POST,
            &format!("/invoices/{}/payments", invoice["id"].as_str().unwrap()),
        )
        .json(&json!({"payment_method_id": card["id"], "amount": 100}))
        .send()
        .await
        .unwrap(),
        400,
    )
    .await;
    let detail = expect_problem(
        pay(&app, &client, &invoice, Some(50_001), &card, "over-1").await,
        422,
    )
    .await;
    assert!(detail.contains("overpayment"));

    let first = pay(&app, &client, &invoice, Some(20_000), &card, "pay-1").await;
    assert_eq!(first.status(), 200);
    let first: Value = first.json().await.unwrap();
    assert_eq!(first["status"], "succeeded");
    assert!(
        first["confirmation_number"]
            .as_str()
            .unwrap()
            .starts_with("PC-")
    );
    assert!(first["transaction_id"].as_str().unwrap().starts_with("pi_"));
    let now = firm_invoice(&app, &admin, &invoice).await;
    assert_eq!(now["balance"]["amount"], 30_000);
    assert_eq!(now["status"], "finalized");

    // No amount: the rest of the balance.
    let rest: Value = pay(&app, &client, &invoice, None, &card, "pay-2")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(rest["status"], "succeeded");
    assert_eq!(rest["amount"]["amount"], 30_000);
    assert_eq!(firm_invoice(&app, &admin, &invoice).await["status"], "paid");
    let detail: Value = portal_invoice(&app, &client, &invoice)
        .await
        .json()
        .await
        .unwrap();
    assert!(
        detail["paid"].as_bool().unwrap(),
        "Portal payments are shared at once"
    );
    assert_eq!(detail["payments"].as_array().unwrap().len(), 2);
    // Nothing left to pay.
    expect_problem(
        pay(&app, &client, &invoice, None, &card, "pay-3").await,
        409,
    )
    .await;

    let receipts = count(
        &app,
        "SELECT COUNT(*) AS n FROM mail_outbox WHERE tenant_id = $1 AND kind = 'payment_receipt'",
        admin.tenant_id,
    )
    .await;
    assert_eq!(receipts, 2);
    let mail = app.wait_for_file_mail(&client.email).await;
    let receipt = app
        .wait_for_sent_file("with a payment receipt", |m| m.contains("Payment receipt"))
        .await;
    assert!(!mail.is_empty());
    assert!(
        receipt.contains(first["confirmation_number"].as_str().unwrap())
            || receipt.contains(rest["confirmation_number"].as_str().unwrap())
    );
    // The card number never reached a table (only its last four digits).
    let pan = app
        .count(
            "SELECT COUNT(*) AS n FROM mock_psp_object WHERE CAST(data AS TEXT) LIKE '%4242424242424242%' OR CAST(data AS TEXT) LIKE '%4242 4242%'",
            vec![],
        )
        .await;
    assert_eq!(pan, 0);
    let activity = count(
        &app,
        "SELECT COUNT(*) AS n FROM activity WHERE tenant_id = $1 AND action = 'payment.made'",
        admin.tenant_id,
    )
    .await;
    assert_eq!(activity, 2);
}

async fn one_idempotency_key_never_charges_twice(app: TestApp) {
    let (admin, client, _contact, file) = app.firm_with_client().await;
    let invoice = shared_invoice(&app, &admin, file, 10_000).await;
    let card = add_card(&app, &client, "4242424242424242").await;
    // Eight identical requests at once.
    let attempts = (0..8).map(|_| pay(&app, &client, &invoice, Some(2_500), &card, "same-key-1"));
    let results = futures::future::join_all(attempts).await;
    let mut confirmations = std::collections::BTreeSet::new();
    for response in results {
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["status"], "succeeded");
        confirmations.insert(body["confirmation_number"].as_str().unwrap().to_owned());
    }
    assert_eq!(
        confirmations.len(),
        1,
        "every retry answers with the first outcome"
    );
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) AS n FROM payment WHERE tenant_id = $1",
            admin.tenant_id
        )
        .await,
        1
    );
    let charges = app
        .count(
            "SELECT COUNT(*) AS n FROM mock_psp_object WHERE kind = 'payment_intent' AND account = $1",
            vec![portico_payments::mock::account_for_tenant(admin.tenant_id).into()],
        )
        .await;
    assert_eq!(charges, 1, "the provider charged once");
    assert_eq!(
        firm_invoice(&app, &admin, &invoice).await["balance"]["amount"],
        7_500
    );
    // A later retry with the same key replays; the same key with another amount is refused.
    let replay: Value = pay(&app, &client, &invoice, Some(2_500), &card, "same-key-1")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        replay["confirmation_number"].as_str().unwrap(),
        confirmations.first().unwrap()
    );
    let detail = expect_problem(
        pay(&app, &client, &invoice, Some(3_000), &card, "same-key-1").await,
        409,
    )
    .await;
    assert!(detail.contains("Idempotency-Key"));
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) AS n FROM payment WHERE tenant_id = $1",
            admin.tenant_id
        )
        .await,
        1
    );
}

async fn declined_cards_email_the_lawyer_and_record_nothing(app: TestApp) {
    let (admin, client, _contact, file) = app.firm_with_client().await;
    let invoice = shared_invoice(&app, &admin, file, 8_000).await;
    let declined = add_card(&app, &client, "4000000000000002").await;
    let response = pay(&app, &client, &invoice, None, &declined, "declined-1").await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "failed");
    assert!(body["message"].as_str().unwrap().contains("declined"));
    assert!(body["transaction_id"].as_str().unwrap().starts_with("pi_"));
    assert!(body["confirmation_number"].is_null());
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) AS n FROM payment WHERE tenant_id = $1",
            admin.tenant_id
        )
        .await,
        0
    );
    let now = firm_invoice(&app, &admin, &invoice).await;
    assert_eq!(now["status"], "finalized");
    assert_eq!(now["balance"]["amount"], 8_000);
    let to_lawyer = format!("To: {}", admin.email);
    let mail = app
        .wait_for_sent_file("to the lawyer about the failed payment", |m| {
            m.contains(&to_lawyer) && m.contains("payment failed")
        })
        .await;
    assert!(mail.contains(body["transaction_id"].as_str().unwrap()));
    assert!(mail.contains(invoice["number"].as_str().unwrap()));

    let poor = add_card(&app, &client, "4000000000009995").await;
    let body: Value = pay(&app, &client, &invoice, None, &poor, "declined-2")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["status"], "failed");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("insufficient funds")
    );
    // A retry of the failed key replays the failure, without a second lawyer email.
    let again: Value = pay(&app, &client, &invoice, None, &poor, "declined-2")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(again["transaction_id"], body["transaction_id"]);
    let failures = count(
        &app,
        "SELECT COUNT(*) AS n FROM mail_outbox WHERE tenant_id = $1 AND kind = 'payment_failed'",
        admin.tenant_id,
    )
    .await;
    assert_eq!(failures, 2);
    // A good card still pays the whole invoice afterwards.
    let good = add_card(&app, &client, "4242424242424242").await;
    let ok: Value = pay(&app, &client, &invoice, None, &good, "good-1")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(ok["status"], "succeeded");
    assert_eq!(ok["amount"]["amount"], 8_000);
}

async fn payment_methods_are_edited_defaulted_and_removed(app: TestApp) {
    let (admin, client, _contact, file) = app.firm_with_client().await;
    let first = add_card(&app, &client, "4242424242424242").await;
    let second = add_card(&app, &client, "5555555555554444").await;
    assert!(first["is_default"].as_bool().unwrap());
    assert!(!second["is_default"].as_bool().unwrap());
    assert_eq!(second["brand"], "mastercard");
    // Bad card details never become a token.
    let bad = app
        .http
        .post(app.firm_url(&client.slug, "/mock-psp/tokens"))
        .json(&json!({"card_number": "4242424242424241", "exp_month": 12, "exp_year": 2031, "cvc": "123"}))
        .send()
        .await
        .unwrap();
    assert!(expect_problem(bad, 422).await.contains("card_number"));

    let path = format!("/payment-methods/{}", second["id"].as_str().unwrap());
    let edited = app
        .portal_api(&client, Method::PATCH, &path)
        .json(&json!({"holder_name": "C. Client", "email": "billing@example.com", "exp_month": 3, "exp_year": 2033,
                      "billing_address": {"line1": "1 Main St", "city": "Springfield", "postal_code": "12345", "country": "US"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(edited.status(), 200);
    let edited: Value = edited.json().await.unwrap();
    assert_eq!(edited["holder_name"], "C. Client");
    assert_eq!(edited["exp_year"], 2033);
    assert_eq!(edited["billing_address"]["city"], "Springfield");
    assert_eq!(edited["last4"], "4444", "the number does not change");
    let bad_edits = [
        (json!({"exp_month": 13}), "exp_month"),
        (json!({"exp_month": 1, "exp_year": 2020}), "expired"),
        (json!({"email": "not-an-email"}), "email"),
        (json!({"holder_name": ""}), "holder_name"),
    ];
    expect_refusals(bad_edits, || app.portal_api(&client, Method::PATCH, &path)).await;
    let defaulted =
        fetch_json(app.portal_api(&client, Method::POST, &format!("{path}/default"))).await;
    assert!(defaulted["is_default"].as_bool().unwrap());
    let list = fetch_json(app.portal_api(&client, Method::GET, "/payment-methods")).await;
    let defaults: Vec<bool> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["is_default"].as_bool().unwrap())
        .collect();
    assert_eq!(defaults, vec![true, false], "one default, listed first");

    let removed = app
        .portal_api(
            &client,
            Method::DELETE,
            &format!("/payment-methods/{}", second["id"].as_str().unwrap()),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(removed.status(), 204);
    let list = fetch_json(app.portal_api(&client, Method::GET, "/payment-methods")).await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["id"], first["id"]);
    assert!(
        list[0]["is_default"].as_bool().unwrap(),
        "the remaining method became the default"
    );
    // A removed method cannot pay.
    let invoice = shared_invoice(&app, &admin, file, 1_000).await;
    let detail = expect_problem(
        pay(&app, &client, &invoice, None, &second, "removed-1").await,
        422,
    )
    .await;
    assert!(detail.contains("payment_method_id"));
    // Another client of the same firm cannot see or touch these methods.
    let (other, _, _) = app.second_client(&admin).await;
    let list = fetch_json(app.portal_api(&other, Method::GET, "/payment-methods")).await;
    assert!(list.as_array().unwrap().is_empty());
    expect_problem(
        app.portal_api(&other, Method::PATCH, &path)
            .json(&json!({"holder_name": "Mine"}))
            .send()
            .await
            .unwrap(),
        404,
    )
    .await;
    expect_problem(
        app.portal_api(&other, Method::DELETE, &path)
            .send()
            .await
            .unwrap(),
        404,
    )
    .await;
}

fn mock_event(event_id: &str, event_type: &str, account: &str, object: &str) -> String {
    json!({"id": event_id, "object": "event", "type": event_type, "account": account,
           "data": {"object": {"id": object, "object": "payment_intent"}}})
    .to_string()
}

async fn deliver(app: &TestApp, body: &str, header: Option<String>) -> reqwest::Response {
    let mut request = app
        .http
        .post(app.operator_url("/webhooks/mock"))
        .header("content-type", "application/json")
        .body(body.to_owned());
    if let Some(header) = header {
        request = request.header("Portico-Mock-Signature", header);
    }
    request.send().await.unwrap()
}

fn sign(body: &str, at: i64) -> String {
    portico_payments::signature::sign(MOCK_WEBHOOK_SECRET, body.as_bytes(), at)
}

async fn webhooks_are_verified_recorded_once_and_never_revert(app: TestApp) {
    let (admin, client, _contact, file) = app.firm_with_client().await;
    let invoice = shared_invoice(&app, &admin, file, 6_000).await;
    let card = add_card(&app, &client, "4242424242424242").await;
    let paid: Value = pay(&app, &client, &invoice, None, &card, "hook-1")
        .await
        .json()
        .await
        .unwrap();
    let pi = paid["transaction_id"].as_str().unwrap().to_owned();
    let account = portico_payments::mock::account_for_tenant(admin.tenant_id);
    let now = chrono::Utc::now().timestamp();
    let events = || async {
        count(
            &app,
            "SELECT COUNT(*) AS n FROM webhook_event WHERE tenant_id = $1",
            admin.tenant_id,
        )
        .await
    };

    // Refused before anything is recorded: no header, wrong secret, stale, tampered.
    let body = mock_event("evt_good_1", "payment_intent.succeeded", &account, &pi);
    expect_problem(deliver(&app, &body, None).await, 400).await;
    let wrong = portico_payments::signature::sign("whsec_wrong", body.as_bytes(), now);
    expect_problem(deliver(&app, &body, Some(wrong)).await, 400).await;
    expect_problem(
        deliver(&app, &body, Some(sign(&body, now - 301))).await,
        400,
    )
    .await;
    let tampered = body.replace("evt_good_1", "evt_good_2");
    expect_problem(deliver(&app, &tampered, Some(sign(&body, now))).await, 400).await;
    assert_eq!(events().await, 0);

    // Delivered twice, one after the other: one record, no second payment or receipt.
    for _ in 0..2 {
        let response = deliver(&app, &body, Some(sign(&body, now))).await;
        assert_eq!(response.status(), StatusCode::OK);
    }
    assert_eq!(events().await, 1);
    // Twice at the same time, with a rotated secret's extra v1 in the header.
    let body2 = mock_event("evt_good_3", "payment_intent.succeeded", &account, &pi);
    let rotated = format!("{},v1={}", sign(&body2, now), "00".repeat(32));
    let (a, b) = tokio::join!(
        deliver(&app, &body2, Some(rotated.clone())),
        deliver(&app, &body2, Some(rotated.clone()))
    );
    assert_eq!((a.status(), b.status()), (StatusCode::OK, StatusCode::OK));
    assert_eq!(events().await, 2);
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) AS n FROM payment WHERE tenant_id = $1",
            admin.tenant_id
        )
        .await,
        1
    );
    assert_eq!(
        count(&app, "SELECT COUNT(*) AS n FROM mail_outbox WHERE tenant_id = $1 AND kind = 'payment_receipt'", admin.tenant_id).await,
        1
    );

    // A payment_failed after succeeded never reverts the payment.
    let failed = mock_event(
        "evt_failed_1",
        "payment_intent.payment_failed",
        &account,
        &pi,
    );
    assert_eq!(
        deliver(&app, &failed, Some(sign(&failed, now)))
            .await
            .status(),
        StatusCode::OK
    );
    let now_invoice = firm_invoice(&app, &admin, &invoice).await;
    assert_eq!(now_invoice["status"], "paid");
    assert_eq!(
        count(&app, "SELECT COUNT(*) AS n FROM payment_attempt WHERE tenant_id = $1 AND status = 'succeeded'", admin.tenant_id).await,
        1
    );

    // Events of accounts no firm uses are acknowledged and ignored.
    let stranger = mock_event(
        "evt_stranger",
        "payment_intent.succeeded",
        "acct_mock_nobody",
        "pi_nothing",
    );
    assert_eq!(
        deliver(&app, &stranger, Some(sign(&stranger, now)))
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(count(&app, "SELECT COUNT(*) AS n FROM webhook_event WHERE event_id = 'evt_stranger' AND tenant_id <> $1", uuid::Uuid::nil()).await, 0);
    // Garbage with a valid signature is a bad request, not a crash.
    let garbage = "[1,2,3]";
    expect_problem(deliver(&app, garbage, Some(sign(garbage, now))).await, 400).await;
}

async fn billing_options_choose_the_provider(app: TestApp) {
    let admin = app.firm_with_admin().await;
    let options = fetch_json(app.firm_api(&admin, Method::GET, "/options/billing")).await;
    assert_eq!(options["provider"], "mock");
    assert_eq!(options["currency"], "USD");
    assert!(!options["stripe_available"].as_bool().unwrap());
    let bad_options = [
        (
            json!({"provider": "stripe", "currency": "USD"}),
            "stripe_account_id",
        ),
        (
            json!({"provider": "stripe", "currency": "USD", "stripe_account_id": "cus_123"}),
            "acct_",
        ),
        (json!({"provider": "paypal", "currency": "USD"}), "provider"),
        (json!({"provider": "mock", "currency": "JPY"}), "currency"),
    ];
    expect_refusals(bad_options, || {
        app.firm_api(&admin, Method::PUT, "/options/billing")
    })
    .await;
    let account = format!("acct_{}", admin.slug);
    let saved = fetch_json(
        app.firm_api(&admin, Method::PUT, "/options/billing")
            .json(&json!({"provider": "stripe", "currency": "cad", "stripe_account_id": account})),
    )
    .await;
    assert_eq!(saved["provider"], "stripe");
    assert_eq!(saved["currency"], "CAD");
    // One connected account belongs to one firm.
    let other = app.firm_with_admin().await;
    let detail = expect_problem(
        app.firm_api(&other, Method::PUT, "/options/billing")
            .json(&json!({"provider": "stripe", "currency": "USD", "stripe_account_id": account}))
            .send()
            .await
            .unwrap(),
        409,
    )
    .await;
    assert!(detail.contains("another firm"));
    // Administrators only.
    let lawyer = app.member(&admin, "Lee Lawyer", false, true).await;
    expect_problem(
        app.firm_api(&lawyer, Method::GET, "/options/billing")
            .send()
            .await
            .unwrap(),
        403,
    )
    .await;
    let audit = count(&app, "SELECT COUNT(*) AS n FROM audit_log WHERE tenant_id = $1 AND action = 'options.billing.updated'", admin.tenant_id).await;
    assert_eq!(audit, 1);
    // New invoices default to the firm's currency.
    let contact = app
        .contact(&admin, "Cam Client", &["cam@example.com"])
        .await;
    let file = app.file(&admin, "2026-050", admin.member_id, &[]).await;
    app.add_client(&admin, file, contact).await;
    let invoice = create_invoice(&app, &admin, file, &[100]).await;
    assert_eq!(invoice["currency"], "CAD");
}

async fn bills_stay_inside_their_firm_and_client(app: TestApp) {
    let (admin, client, _contact, file) = app.firm_with_client().await;
    let invoice = shared_invoice(&app, &admin, file, 2_000).await;
    let draft = create_invoice(&app, &admin, file, &[3_000]).await;
    let id = invoice["id"].as_str().unwrap();
    let (other_admin, other_client, _c, _f) = app.firm_with_client().await;
    let missing = uuid::Uuid::now_v7();
    // Another firm's member and client: 404, byte-identical to an id that never existed.
    for path in [format!("/invoices/{id}"), format!("/invoices/{missing}")] {
        let response = app
            .firm_api(&other_admin, Method::GET, &path)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 404);
    }
    let foreign = app
        .portal_api(&other_client, Method::GET, &format!("/invoices/{id}"))
        .send()
        .await
        .unwrap();
    let never = app
        .portal_api(&other_client, Method::GET, &format!("/invoices/{missing}"))
        .send()
        .await
        .unwrap();
    assert_eq!(foreign.status(), 404);
    assert_eq!(foreign.text().await.unwrap(), never.text().await.unwrap());
    expect_problem(
        app.firm_api(&other_admin, Method::PUT, &format!("/invoices/{id}/portal"))
            .json(&json!({"shared": false}))
            .send()
            .await
            .unwrap(),
        404,
    )
    .await;
    // Paying another firm's invoice is a 404 too, and charges nothing.
    let card = add_card(&app, &other_client, "4242424242424242").await;
    expect_problem(
        pay(&app, &other_client, &invoice, None, &card, "foreign-1").await,
        404,
    )
    .await;
    // The client's own draft is invisible.
    expect_problem(portal_invoice(&app, &client, &draft).await, 404).await;
    assert!(
        billing(&app, &other_client, "all").await["items"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) AS n FROM payment_attempt WHERE tenant_id = $1",
            other_admin.tenant_id
        )
        .await,
        0
    );
    // A member without access to the file cannot see its invoices.
    let outsider = app.member(&admin, "Out Sider", false, true).await;
    expect_problem(
        app.firm_api(&outsider, Method::GET, &format!("/invoices/{id}"))
            .send()
            .await
            .unwrap(),
        404,
    )
    .await;
    expect_problem(
        app.firm_api(&outsider, Method::GET, &format!("/files/{file}/billing"))
            .send()
            .await
            .unwrap(),
        404,
    )
    .await;
}
