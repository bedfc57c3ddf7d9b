//! The provider contract: the same flows run against every payment provider through
//! `&dyn PaymentProvider`, so the billing service can rely on one behaviour whichever provider a
//! firm uses. Each provider plugs in through `ContractFixture` (how a browser would tokenise a
//! card for it, and how to count the charges it made); the Stripe fixture runs the real
//! async-stripe client against `FakeStripe`, the mock fixture runs the mock on a migrated
//! SQLite database. Stripe-only checks on the wire format follow the shared flows.

use std::sync::Arc;

use portico_payments::mock::{CardInput, MockProvider};
use portico_payments::provider::{
    BillingAddress, ChargeStatus, CustomerDetails, MethodKind, MethodUpdate, PayRequest,
    PaymentProvider, ProviderAccount, ProviderError, SetupSession, WebhookError,
};
use portico_payments::signature;
use portico_payments::stripe::StripeProvider;
use portico_platform::money::{Currency, Money};
use serde_json::json;

use crate::support::fake_stripe::{FakeStripe, stripe_settings};
use crate::support::{Backend, TestApp, random_suffix};

/// Cards the contract uses; each provider maps them to its own test cards.
#[derive(Clone, Copy, Debug)]
enum TestCard {
    Good,
    Declined,
    InsufficientFunds,
}

/// What every fixture holds: the provider under test, the firm's account at it, the prefix of
/// other firms' accounts and the webhook secret.
struct Provided {
    provider: Arc<dyn PaymentProvider>,
    account: String,
    other_prefix: &'static str,
    webhook_secret: String,
}

trait ContractFixture {
    fn provided(&self) -> &Provided;

    fn provider(&self) -> Arc<dyn PaymentProvider> {
        self.provided().provider.clone()
    }

    /// The firm's account at the provider.
    fn account(&self) -> ProviderAccount {
        ProviderAccount(self.provided().account.clone())
    }

    /// Another firm's account, for isolation checks.
    fn other_account(&self) -> ProviderAccount {
        ProviderAccount(format!(
            "{}{}",
            self.provided().other_prefix,
            random_suffix(8)
        ))
    }

    fn webhook_secret(&self) -> String {
        self.provided().webhook_secret.clone()
    }

    /// What the browser posts back after the client typed `card` into the provider's form for
    /// `setup`.
    async fn card_token(&self, setup: &SetupSession, card: TestCard) -> String;

    /// Payment attempts the provider made on the firm's account (each one a charge of the
    /// card, successful or not).
    async fn charge_attempts(&self) -> usize;
}

fn key(what: &str) -> String {
    format!("{what}-{}", random_suffix(16))
}

fn usd(amount: i64) -> Money {
    Money::new(amount, Currency::parse("USD").unwrap())
}

async fn new_customer(
    provider: &dyn PaymentProvider,
    account: &ProviderAccount,
    name: &str,
    email: &str,
    reference: &str,
) -> String {
    let details = CustomerDetails {
        name: name.to_owned(),
        email: email.to_owned(),
        reference: reference.to_owned(),
    };
    provider
        .create_customer(account, &details, &key("customer"))
        .await
        .unwrap()
}

/// A customer with a saved card: the two-step add-a-method flow.
async fn customer_with_card(
    fixture: &impl ContractFixture,
    card: TestCard,
) -> (String, portico_payments::provider::ProviderPaymentMethod) {
    let provider = fixture.provider();
    let account = fixture.account();
    let customer = new_customer(
        &*provider,
        &account,
        "Clara Client",
        "clara@example.test",
        &uuid::Uuid::new_v4().to_string(),
    )
    .await;
    let setup = provider
        .begin_method_setup(&account, &customer, &key("setup"))
        .await
        .unwrap();
    let token = fixture.card_token(&setup, card).await;
    let method = provider
        .complete_method_setup(
            &account,
            &customer,
            &setup.provider_setup_id,
            &token,
            &key("complete"),
        )
        .await
        .unwrap();
    (customer, method)
}

fn pay_request(customer: &str, method: &str, amount: i64, idempotency_key: &str) -> PayRequest {
    PayRequest {
        customer_id: customer.to_owned(),
        provider_method_id: method.to_owned(),
        amount: usd(amount),
        idempotency_key: idempotency_key.to_owned(),
        description: "Invoice INV-0001".to_owned(),
        attempt_reference: "attempt-1".to_owned(),
        invoice_reference: "invoice-1".to_owned(),
    }
}

async fn saves_updates_and_detaches_a_card(fixture: impl ContractFixture) {
    let provider = fixture.provider();
    let account = fixture.account();
    let (customer, method) = customer_with_card(&fixture, TestCard::Good).await;
    assert_eq!(method.kind, MethodKind::Card);
    assert_eq!(method.brand, "visa");
    assert_eq!(method.last4, "4242");
    assert!(method.exp_month.is_some_and(|m| (1..=12).contains(&m)));
    assert!(method.exp_year.is_some_and(|y| y >= 2025));
    // Only the last four digits ever reach us.
    assert!(!format!("{method:?}").contains("424242424242"));

    let updated = provider
        .update_method(
            &account,
            &method.provider_method_id,
            &MethodUpdate {
                holder_name: Some("Clara B. Client".to_owned()),
                exp_month: Some(11),
                exp_year: Some(2031),
                ..MethodUpdate::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(updated.provider_method_id, method.provider_method_id);
    assert_eq!(updated.holder_name.as_deref(), Some("Clara B. Client"));
    assert_eq!(
        (updated.exp_month, updated.exp_year),
        (Some(11), Some(2031))
    );
    assert_eq!(updated.last4, "4242");

    provider
        .set_default_method(&account, &customer, &method.provider_method_id)
        .await
        .unwrap();
    provider
        .detach_method(&account, &method.provider_method_id)
        .await
        .unwrap();
}

async fn a_token_the_setup_did_not_produce_is_refused(fixture: impl ContractFixture) {
    let provider = fixture.provider();
    let account = fixture.account();
    let customer = new_customer(
        &*provider,
        &account,
        "Mallory",
        "mallory@example.test",
        "contact-m",
    )
    .await;
    let setup = provider
        .begin_method_setup(&account, &customer, &key("setup"))
        .await
        .unwrap();
    let result = provider
        .complete_method_setup(
            &account,
            &customer,
            &setup.provider_setup_id,
            "pm_notissuedbythesetup",
            &key("complete"),
        )
        .await;
    assert!(
        matches!(
            result,
            Err(ProviderError::Invalid(_) | ProviderError::NotFound)
        ),
        "{result:?}"
    );
}

async fn pays_and_retrieves_the_payment(fixture: impl ContractFixture) {
    let provider = fixture.provider();
    let account = fixture.account();
    let (customer, method) = customer_with_card(&fixture, TestCard::Good).await;
    let charge = provider
        .pay(
            &account,
            &pay_request(&customer, &method.provider_method_id, 1234, &key("pay")),
        )
        .await
        .unwrap();
    assert_eq!(charge.status, ChargeStatus::Succeeded);
    assert_eq!(charge.amount, 1234);
    assert_eq!(charge.currency.as_str(), "USD");
    assert_eq!(charge.attempt_reference.as_deref(), Some("attempt-1"));
    assert!(!charge.provider_payment_id.is_empty());

    let retrieved = provider
        .retrieve_payment(&account, &charge.provider_payment_id)
        .await
        .unwrap();
    assert_eq!(retrieved, charge);
    assert_eq!(fixture.charge_attempts().await, 1);
}

async fn the_same_key_never_charges_twice(fixture: impl ContractFixture) {
    let provider = fixture.provider();
    let account = fixture.account();
    let (customer, method) = customer_with_card(&fixture, TestCard::Good).await;
    let key = key("pay");
    let request = pay_request(&customer, &method.provider_method_id, 1234, &key);
    let first = provider.pay(&account, &request).await.unwrap();
    let again = provider.pay(&account, &request).await.unwrap();
    assert_eq!(again.provider_payment_id, first.provider_payment_id);
    assert_eq!(again.status, ChargeStatus::Succeeded);
    assert_eq!(fixture.charge_attempts().await, 1);

    let other_amount = pay_request(&customer, &method.provider_method_id, 999, &key);
    let conflict = provider.pay(&account, &other_amount).await;
    assert!(
        matches!(conflict, Err(ProviderError::IdempotencyConflict)),
        "{conflict:?}"
    );
    assert_eq!(fixture.charge_attempts().await, 1);
}

async fn a_declined_card_is_declined_with_a_transaction_id(fixture: impl ContractFixture) {
    let provider = fixture.provider();
    let account = fixture.account();
    let (customer, method) = customer_with_card(&fixture, TestCard::Declined).await;
    let key = key("pay");
    let request = pay_request(&customer, &method.provider_method_id, 1234, &key);
    let declined = provider.pay(&account, &request).await;
    let Err(ProviderError::Declined {
        code,
        message,
        payment_id,
    }) = declined
    else {
        panic!("expected a decline, got {declined:?}");
    };
    assert_eq!(code, "card_declined");
    assert!(!message.is_empty());
    let payment_id = payment_id.expect("a declined payment has a transaction id");

    // The provider remembers the failure under the payment id and under the key.
    let retrieved = provider
        .retrieve_payment(&account, &payment_id)
        .await
        .unwrap();
    assert!(
        matches!(&retrieved.status, ChargeStatus::Failed { code, .. } if code == "card_declined"),
        "{retrieved:?}"
    );
    let replayed = provider.pay(&account, &request).await;
    let replayed_id = match &replayed {
        Err(ProviderError::Declined { payment_id, .. }) => payment_id.clone(),
        other => panic!("expected the decline again, got {other:?}"),
    };
    assert_eq!(replayed_id, Some(payment_id));
    assert_eq!(fixture.charge_attempts().await, 1);
}

async fn insufficient_funds_is_a_decline_that_says_so(fixture: impl ContractFixture) {
    let provider = fixture.provider();
    let account = fixture.account();
    let (customer, method) = customer_with_card(&fixture, TestCard::InsufficientFunds).await;
    let declined = provider
        .pay(
            &account,
            &pay_request(&customer, &method.provider_method_id, 1234, &key("pay")),
        )
        .await;
    let Err(ProviderError::Declined { code, message, .. }) = declined else {
        panic!("expected a decline, got {declined:?}");
    };
    let said = format!("{code} {message}").to_lowercase();
    assert!(
        said.contains("insufficient_funds") || said.contains("insufficient funds"),
        "{said}"
    );
}

async fn another_firms_account_sees_nothing(fixture: impl ContractFixture) {
    let provider = fixture.provider();
    let account = fixture.account();
    let (customer, method) = customer_with_card(&fixture, TestCard::Good).await;
    let charge = provider
        .pay(
            &account,
            &pay_request(&customer, &method.provider_method_id, 1234, &key("pay")),
        )
        .await
        .unwrap();
    let other = fixture.other_account();
    let seen = provider
        .retrieve_payment(&other, &charge.provider_payment_id)
        .await;
    assert!(matches!(seen, Err(ProviderError::NotFound)), "{seen:?}");
    let unknown = provider.retrieve_payment(&account, "pi_doesnotexist").await;
    assert!(
        matches!(unknown, Err(ProviderError::NotFound)),
        "{unknown:?}"
    );
}

async fn webhooks_need_a_valid_fresh_signature(fixture: impl ContractFixture) {
    let provider = fixture.provider();
    let payload = json!({
        "id": "evt_contract_1", "object": "event", "type": "payment_intent.succeeded",
        "account": fixture.account().as_str(), "created": 1_800_000_000,
        "data": {"object": {"id": "pi_contract_1", "object": "payment_intent"}},
    })
    .to_string();
    let now = chrono::Utc::now().timestamp();
    let header = signature::sign(&fixture.webhook_secret(), payload.as_bytes(), now);
    let event = provider
        .verify_webhook(payload.as_bytes(), Some(&header), now)
        .unwrap();
    assert_eq!(event.id, "evt_contract_1");
    assert_eq!(event.event_type, "payment_intent.succeeded");
    assert_eq!(event.account.as_deref(), Some(fixture.account().as_str()));
    assert_eq!(event.object_id.as_deref(), Some("pi_contract_1"));

    let forged = signature::sign("whsec_someone_else", payload.as_bytes(), now);
    assert_eq!(
        provider.verify_webhook(payload.as_bytes(), Some(&forged), now),
        Err(WebhookError::BadSignature)
    );
    let tampered = payload.replace("pi_contract_1", "pi_contract_2");
    assert_eq!(
        provider.verify_webhook(tampered.as_bytes(), Some(&header), now),
        Err(WebhookError::BadSignature)
    );
    assert_eq!(
        provider.verify_webhook(payload.as_bytes(), Some(&header), now + 301),
        Err(WebhookError::Stale)
    );
    assert_eq!(
        provider.verify_webhook(payload.as_bytes(), None, now),
        Err(WebhookError::MissingSignature)
    );
}

/// One `#[tokio::test]` per provider for each flow.
macro_rules! contract {
    ($($flow:ident),* $(,)?) => {
        mod stripe {
            $(
                #[tokio::test]
                async fn $flow() {
                    super::$flow(super::StripeFixture::start().await).await
                }
            )*
        }
        mod mock {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $flow() {
                    super::$flow(super::MockFixture::start().await).await
                }
            )*
        }
    };
}

contract!(
    saves_updates_and_detaches_a_card,
    a_token_the_setup_did_not_produce_is_refused,
    pays_and_retrieves_the_payment,
    the_same_key_never_charges_twice,
    a_declined_card_is_declined_with_a_transaction_id,
    insufficient_funds_is_a_decline_that_says_so,
    another_firms_account_sees_nothing,
    webhooks_need_a_valid_fresh_signature,
);

// ---------------------------------------------------------------------------------------------
// Stripe: async-stripe against the fake Stripe server.

struct StripeFixture {
    fake: FakeStripe,
    provided: Provided,
}

impl StripeFixture {
    async fn start() -> Self {
        let fake = FakeStripe::start().await;
        let webhook_secret = format!("whsec_{}", random_suffix(24));
        let provided = Provided {
            provider: Arc::new(StripeProvider::new(&fake.settings(&webhook_secret))),
            account: format!("acct_{}", random_suffix(16)),
            other_prefix: "acct_other",
            webhook_secret,
        };
        StripeFixture { fake, provided }
    }
}

impl ContractFixture for StripeFixture {
    fn provided(&self) -> &Provided {
        &self.provided
    }

    async fn card_token(&self, setup: &SetupSession, card: TestCard) -> String {
        let client_secret = setup.client_secret.as_deref().unwrap_or_default();
        assert!(
            client_secret.starts_with(&format!("{}_secret_", setup.provider_setup_id)),
            "Stripe.js needs the SetupIntent's client secret"
        );
        let test_method = match card {
            TestCard::Good => "pm_card_visa",
            TestCard::Declined => "pm_card_chargeDeclined",
            TestCard::InsufficientFunds => "pm_card_chargeDeclinedInsufficientFunds",
        };
        self.fake
            .confirm_setup_intent(&setup.provider_setup_id, test_method)
    }

    async fn charge_attempts(&self) -> usize {
        self.fake.charges(&self.provided.account).len()
    }
}

// ---------------------------------------------------------------------------------------------
// Mock: the persistent mock provider on a migrated SQLite database.

struct MockFixture {
    app: TestApp,
    provided: Provided,
}

impl MockFixture {
    async fn start() -> Self {
        let app = TestApp::spawn(Backend::Sqlite).await;
        let webhook_secret = format!("whsec_{}", random_suffix(24));
        let provided = Provided {
            provider: Arc::new(MockProvider::new(
                app.state.db.clone(),
                webhook_secret.clone(),
            )),
            account: format!("acct_mock_{}", random_suffix(16)),
            other_prefix: "acct_mock_other",
            webhook_secret,
        };
        MockFixture { app, provided }
    }
}

impl ContractFixture for MockFixture {
    fn provided(&self) -> &Provided {
        &self.provided
    }

    async fn card_token(&self, _setup: &SetupSession, card: TestCard) -> String {
        let card_number = match card {
            TestCard::Good => "4242424242424242",
            TestCard::Declined => "4000000000000002",
            TestCard::InsufficientFunds => "4000000000009995",
        };
        let input = CardInput {
            card_number: card_number.to_owned(),
            exp_month: 8,
            exp_year: 2030,
            cvc: "123".to_owned(),
        };
        portico_payments::mock::tokenise(&self.app.state.db, &input)
            .await
            .unwrap()
    }

    async fn charge_attempts(&self) -> usize {
        let n = self
            .app
            .count(
                "SELECT COUNT(*) AS n FROM mock_psp_object \
                 WHERE account = $1 AND kind = 'payment_intent'",
                vec![self.provided.account.clone().into()],
            )
            .await;
        usize::try_from(n).unwrap()
    }
}

// ---------------------------------------------------------------------------------------------
// Stripe only: what goes over the wire.

#[tokio::test]
async fn stripe_calls_carry_the_account_idempotency_keys_and_minor_units() {
    let fixture = StripeFixture::start().await;
    let provider = fixture.provider();
    let account = fixture.account();
    let (customer, method) = customer_with_card(&fixture, TestCard::Good).await;
    let pay_key = key("pay");
    provider
        .pay(
            &account,
            &pay_request(&customer, &method.provider_method_id, 1234, &pay_key),
        )
        .await
        .unwrap();
    provider
        .set_default_method(&account, &customer, &method.provider_method_id)
        .await
        .unwrap();

    let requests = fixture.fake.requests();
    assert!(!requests.is_empty());
    for request in &requests {
        assert!(request.authorized, "{request:?}");
        assert_eq!(request.account.as_deref(), Some(account.as_str()));
        assert!(request.stripe_version.is_some());
        assert_eq!(request.status, 200, "{request:?}");
        if request.method == "POST" {
            assert!(request.idempotency_key.is_some(), "{request:?}");
            assert_eq!(
                request.content_type.as_deref(),
                Some("application/x-www-form-urlencoded")
            );
        }
    }
    let create_customer = requests
        .iter()
        .find(|r| r.method == "POST" && r.path == "/v1/customers")
        .unwrap();
    assert_eq!(create_customer.param("name"), Some("Clara Client"));
    assert_eq!(create_customer.param("email"), Some("clara@example.test"));
    assert!(
        create_customer
            .param("metadata[portico_contact_id]")
            .is_some()
    );

    let setup = requests
        .iter()
        .find(|r| r.method == "POST" && r.path == "/v1/setup_intents")
        .unwrap();
    assert_eq!(setup.param("customer"), Some(customer.as_str()));
    assert_eq!(setup.param("usage"), Some("off_session"));
    assert!(
        setup
            .form
            .iter()
            .any(|(k, v)| k.ends_with("payment_method_types[0]") && v == "card"),
        "{:?}",
        setup.form
    );

    let pay = requests
        .iter()
        .find(|r| r.method == "POST" && r.path == "/v1/payment_intents")
        .unwrap();
    assert_eq!(pay.idempotency_key.as_deref(), Some(pay_key.as_str()));
    assert_eq!(pay.param("amount"), Some("1234"));
    assert_eq!(pay.param("currency"), Some("usd"));
    assert_eq!(pay.param("customer"), Some(customer.as_str()));
    assert_eq!(
        pay.param("payment_method"),
        Some(method.provider_method_id.as_str())
    );
    assert_eq!(pay.param("confirm"), Some("true"));
    assert_eq!(pay.param("off_session"), Some("true"));
    assert_eq!(pay.param("description"), Some("Invoice INV-0001"));
    assert_eq!(pay.param("metadata[portico_attempt_id]"), Some("attempt-1"));
    assert_eq!(pay.param("metadata[portico_invoice_id]"), Some("invoice-1"));

    let default = requests
        .iter()
        .find(|r| r.method == "POST" && r.path == format!("/v1/customers/{customer}"))
        .unwrap();
    assert_eq!(
        default.param("invoice_settings[default_payment_method]"),
        Some(method.provider_method_id.as_str())
    );
    let address = BillingAddress {
        line1: Some("1 Main St".to_owned()),
        city: Some("Springfield".to_owned()),
        postal_code: Some("12345".to_owned()),
        country: Some("US".to_owned()),
        ..BillingAddress::default()
    };
    let updated = provider
        .update_method(
            &account,
            &method.provider_method_id,
            &MethodUpdate {
                email: Some("billing@example.test".to_owned()),
                billing_address: Some(address.clone()),
                ..MethodUpdate::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(updated.billing_address, address);
    assert_eq!(updated.email.as_deref(), Some("billing@example.test"));
    let update = fixture.fake.requests().pop().unwrap();
    assert_eq!(
        update.path,
        format!("/v1/payment_methods/{}", method.provider_method_id)
    );
    assert_eq!(
        update.param("billing_details[address][line1]"),
        Some("1 Main St")
    );
    // Fields not being changed are not sent, so Stripe keeps them.
    assert_eq!(update.param("billing_details[name]"), None);
    assert_eq!(update.param("card[exp_month]"), None);
    let stored = fixture
        .fake
        .payment_method(account.as_str(), &method.provider_method_id)
        .unwrap();
    assert_eq!(stored["billing_details"]["address"]["city"], "Springfield");
    assert_eq!(stored["card"]["last4"], "4242");

    let stored = fixture.fake.customer(account.as_str(), &customer).unwrap();
    assert_eq!(
        stored["invoice_settings"]["default_payment_method"],
        method.provider_method_id.as_str()
    );
}

#[tokio::test]
async fn stripe_retry_after_a_lost_answer_replays_the_charge() {
    let fixture = StripeFixture::start().await;
    let provider = fixture.provider();
    let account = fixture.account();
    let (customer, method) = customer_with_card(&fixture, TestCard::Good).await;
    let request = pay_request(&customer, &method.provider_method_id, 1234, &key("pay"));

    fixture.fake.fail_next_payment_intent_after_charge();
    let lost = provider.pay(&account, &request).await;
    assert!(
        matches!(lost, Err(ProviderError::Unavailable(_))),
        "{lost:?}"
    );
    assert_eq!(fixture.fake.charges_count(account.as_str()), 1);

    let retried = provider.pay(&account, &request).await.unwrap();
    assert_eq!(retried.status, ChargeStatus::Succeeded);
    assert_eq!(fixture.fake.charges_count(account.as_str()), 1);
    assert_eq!(fixture.fake.payment_intents_count(account.as_str()), 1);
    let last = fixture.fake.requests().pop().unwrap();
    assert!(last.replayed);
}

#[tokio::test]
async fn stripe_with_a_wrong_key_or_no_server_fails_cleanly() {
    let fake = FakeStripe::start().await;
    let account = ProviderAccount("acct_wrongkey".to_owned());
    let wrong = StripeProvider::new(&stripe_settings(
        &fake.base_url(),
        "sk_test_not_the_right_one",
        "whsec_x",
    ));
    let refused = wrong.retrieve_payment(&account, "pi_1").await;
    assert!(
        matches!(refused, Err(ProviderError::Invalid(_))),
        "{refused:?}"
    );
    assert!(!fake.requests()[0].authorized);

    // The connection breaks before any answer: the outcome is unknown, so `Unavailable`. The
    // listener stays bound (and hangs up on everyone) so no other test can take its port.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}/", listener.local_addr().unwrap());
    let hangup = tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            drop(socket);
        }
    });
    let cut_off = StripeProvider::new(&stripe_settings(&base, "sk_test_x", "whsec_x"));
    let unavailable = cut_off.retrieve_payment(&account, "pi_1").await;
    assert!(
        matches!(unavailable, Err(ProviderError::Unavailable(_))),
        "{unavailable:?}"
    );
    hangup.abort();

    let unconfigured = StripeProvider::new(&stripe_settings("https://api.stripe.com/", "", ""));
    let not_configured = unconfigured.retrieve_payment(&account, "pi_1").await;
    let Err(ProviderError::NotConfigured(message)) = not_configured else {
        panic!("expected NotConfigured, got {not_configured:?}");
    };
    assert!(message.contains("payments.stripe.secret_key"), "{message}");
}

#[tokio::test]
async fn stripe_bank_accounts_are_translated_and_stay_pending_while_processing() {
    let fixture = StripeFixture::start().await;
    let provider = fixture.provider();
    let account = fixture.account();
    let customer = new_customer(
        &*provider,
        &account,
        "Bank Client",
        "bank@example.test",
        "contact-b",
    )
    .await;
    let setup = provider
        .begin_method_setup(&account, &customer, &key("setup"))
        .await
        .unwrap();
    let token = fixture
        .fake
        .confirm_setup_intent(&setup.provider_setup_id, "pm_usBankAccount");
    let method = provider
        .complete_method_setup(
            &account,
            &customer,
            &setup.provider_setup_id,
            &token,
            &key("complete"),
        )
        .await
        .unwrap();
    assert_eq!(method.kind, MethodKind::BankAccount);
    assert_eq!(method.brand, "STRIPE TEST BANK");
    assert_eq!(method.last4, "6789");
    assert_eq!((method.exp_month, method.exp_year), (None, None));
    assert_eq!(method.holder_name.as_deref(), Some("Jenny Rosen"));

    let charge = provider
        .pay(
            &account,
            &pay_request(&customer, &method.provider_method_id, 5000, &key("pay")),
        )
        .await
        .unwrap();
    assert_eq!(charge.status, ChargeStatus::Pending);
}

#[tokio::test]
async fn stripe_setup_of_another_customer_is_refused() {
    let fixture = StripeFixture::start().await;
    let provider = fixture.provider();
    let account = fixture.account();
    let alice = new_customer(&*provider, &account, "Alice", "alice@example.test", "Alice").await;
    let bob = new_customer(&*provider, &account, "Bob", "bob@example.test", "Bob").await;
    let setup = provider
        .begin_method_setup(&account, &alice, &key("setup"))
        .await
        .unwrap();
    let token = fixture
        .fake
        .confirm_setup_intent(&setup.provider_setup_id, "pm_card_visa");
    let stolen = provider
        .complete_method_setup(&account, &bob, &setup.provider_setup_id, &token, &key("c"))
        .await;
    assert!(
        matches!(&stolen, Err(ProviderError::Invalid(m)) if m.contains("another customer")),
        "{stolen:?}"
    );
}

/// The server's own configuration path: `payments.stripe.*` overrides reach the registry's
/// Stripe provider.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stripe_provider_from_the_application_configuration() {
    let fake = FakeStripe::start().await;
    let app = TestApp::spawn_with(
        Backend::Sqlite,
        json!({"payments": {"stripe": {
            "api_base": fake.base_url(),
            "secret_key": fake.secret(),
            "webhook_secret": "whsec_from_config",
        }}}),
    )
    .await;
    let provider = app
        .state
        .payments
        .get(portico_payments::ProviderKind::Stripe);
    let account = ProviderAccount("acct_fromconfig".to_owned());
    let customer = new_customer(
        &*provider,
        &account,
        "Configured",
        "configured@example.test",
        "contact-c",
    )
    .await;
    assert!(fake.customer("acct_fromconfig", &customer).is_some());
    let payload = br#"{"id":"evt_1","object":"event","type":"payment_intent.succeeded"}"#;
    let now = chrono::Utc::now().timestamp();
    let header = signature::sign("whsec_from_config", payload, now);
    assert!(provider.verify_webhook(payload, Some(&header), now).is_ok());
}

/// The fake itself refuses what Stripe would refuse, so the tests above prove the wire format
/// rather than the fake's leniency.
#[tokio::test]
async fn the_fake_stripe_refuses_what_stripe_would() {
    let fake = FakeStripe::start().await;
    let http = reqwest::Client::new();
    let url = |path: &str| format!("{}v1/{path}", fake.base_url());
    let post = |path: &str, key: &str, body: &str| {
        http.post(url(path))
            .bearer_auth(fake.secret())
            .header("Stripe-Version", "2026-01-01")
            .header("Stripe-Account", "acct_fakecheck")
            .header("Idempotency-Key", key)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(body.to_owned())
    };
    let error = |response: reqwest::Response| async move {
        let status = response.status().as_u16();
        let body: serde_json::Value = response.json().await.unwrap();
        (status, body["error"].clone())
    };

    let (status, body) = error(post("customers", "k1", "name=A").send().await.unwrap()).await;
    assert_eq!(status, 200, "{body}");

    // The wrong secret, no account, no key, a JSON body, a decimal amount, unknown parameters.
    let no_auth = http
        .post(url("customers"))
        .bearer_auth("sk_test_wrong")
        .header("Stripe-Version", "2026-01-01")
        .header("Stripe-Account", "acct_fakecheck")
        .header("Idempotency-Key", "k2")
        .form(&[("name", "A")])
        .send()
        .await
        .unwrap();
    let (status, body) = error(no_auth).await;
    assert_eq!(
        (status, body["type"].as_str()),
        (401, Some("invalid_request_error"))
    );
    let no_account = http
        .get(url("customers/cus_x"))
        .bearer_auth(fake.secret())
        .header("Stripe-Version", "2026-01-01")
        .send()
        .await
        .unwrap();
    assert_eq!(no_account.status(), 400);
    let no_key = http
        .post(url("customers"))
        .bearer_auth(fake.secret())
        .header("Stripe-Version", "2026-01-01")
        .header("Stripe-Account", "acct_fakecheck")
        .form(&[("name", "A")])
        .send()
        .await
        .unwrap();
    assert_eq!(no_key.status(), 400);
    let json_body = post("customers", "k3", r#"{"name":"A"}"#)
        .header("Content-Type", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(json_body.status(), 400);
    let (status, body) = error(
        post(
            "payment_intents",
            "k4",
            "amount=12.34&currency=usd&confirm=false",
        )
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!((status, body["param"].as_str()), (400, Some("amount")));
    let (status, body) = error(
        post("payment_intents", "k5", "amount=1234&currency=USD")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((status, body["param"].as_str()), (400, Some("currency")));
    let (status, body) = error(
        post("customers", "k6", "name=A&nickname=B")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((status, body["param"].as_str()), (400, Some("nickname")));

    // Idempotency: a replay is marked and identical; other parameters are a conflict.
    let first = post("customers", "k7", "name=Same").send().await.unwrap();
    let first: serde_json::Value = first.json().await.unwrap();
    let replay = post("customers", "k7", "name=Same").send().await.unwrap();
    assert_eq!(
        replay
            .headers()
            .get("idempotent-replayed")
            .and_then(|v| v.to_str().ok()),
        Some("true")
    );
    let replay: serde_json::Value = replay.json().await.unwrap();
    assert_eq!(replay, first);
    let (status, body) = error(post("customers", "k7", "name=Other").send().await.unwrap()).await;
    assert_eq!(
        (status, body["type"].as_str()),
        (400, Some("idempotency_error"))
    );
    let (status, body) = error(
        post("setup_intents", "k7", "name=Same")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status, body["type"].as_str()),
        (400, Some("idempotency_error"))
    );

    let requests = fake.requests();
    assert!(requests.iter().any(|r| !r.authorized));
    assert!(requests.iter().any(|r| r.replayed));
    assert!(requests.iter().all(|r| r.status != 0));
}
