//! `PaymentProvider`: the one trait every payment provider implements, and the provider-neutral
//! types that cross it.
//!
//! A provider is stateless translation: our types in, provider calls out, provider answers
//! translated back. It never touches our database and never decides a status transition;
//! `crate::checkout`, `crate::methods` and `crate::webhooks` do. Every mutating call carries an idempotency key derived from one of
//! our rows, so a retried call can never charge twice.

use async_trait::async_trait;
use portico_platform::money::{Currency, Money};
use serde::{Deserialize, Serialize};

/// Which provider a firm uses. Stored as `as_str()` in the firm's billing settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProviderKind {
    Mock,
    Stripe,
}

impl ProviderKind {
    pub const ALL: [ProviderKind; 2] = [ProviderKind::Mock, ProviderKind::Stripe];

    pub fn as_str(self) -> &'static str {
        match self {
            ProviderKind::Mock => "mock",
            ProviderKind::Stripe => "stripe",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == value)
    }
}

/// The firm's account at the provider: a Stripe connected account id (`acct_…`, sent as
/// `Stripe-Account`), or the mock's per-firm account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProviderAccount(pub String);

impl ProviderAccount {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Who a provider customer is (the file's primary client).
#[derive(Clone, Debug)]
pub struct CustomerDetails {
    pub name: String,
    pub email: String,
    /// Our contact id, kept in the provider's metadata for reconciliation.
    pub reference: String,
}

/// The first step of adding a payment method: the provider's setup object. In Stripe mode the
/// browser confirms it with Stripe.js using `client_secret`; the mock needs no secret (its
/// tokenisation endpoint stands in for Stripe.js).
#[derive(Clone, Debug)]
pub struct SetupSession {
    pub provider_setup_id: String,
    pub client_secret: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MethodKind {
    Card,
    /// A US bank account (ACH debit).
    BankAccount,
}

impl MethodKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MethodKind::Card => "card",
            MethodKind::BankAccount => "bank_account",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        [MethodKind::Card, MethodKind::BankAccount]
            .into_iter()
            .find(|k| k.as_str() == value)
    }
}

/// Postal address of a payment method's holder. Every part optional, as at Stripe.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BillingAddress {
    pub line1: Option<String>,
    pub line2: Option<String>,
    pub city: Option<String>,
    pub state: Option<String>,
    pub postal_code: Option<String>,
    pub country: Option<String>,
}

/// A payment method as the provider describes it. Never holds a full card number.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProviderPaymentMethod {
    pub provider_method_id: String,
    pub kind: MethodKind,
    /// `visa`, `mastercard`, … or the bank's name.
    pub brand: String,
    pub last4: String,
    pub exp_month: Option<u32>,
    pub exp_year: Option<i32>,
    pub holder_name: Option<String>,
    pub email: Option<String>,
    pub billing_address: BillingAddress,
}

/// Editable details of a saved method (the number and the type never change).
#[derive(Clone, Debug, Default)]
pub struct MethodUpdate {
    pub holder_name: Option<String>,
    pub email: Option<String>,
    pub billing_address: Option<BillingAddress>,
    pub exp_month: Option<u32>,
    pub exp_year: Option<i32>,
}

/// One charge request.
#[derive(Clone, Debug)]
pub struct PayRequest {
    pub customer_id: String,
    pub provider_method_id: String,
    pub amount: Money,
    /// Derived from our payment attempt row: the same attempt always sends the same key.
    pub idempotency_key: String,
    pub description: String,
    /// Kept in the provider's metadata (`portico_attempt_id`, `portico_invoice_id`), so a
    /// webhook can be matched to our attempt.
    pub attempt_reference: String,
    pub invoice_reference: String,
}

/// Where a charge stands, as the provider reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChargeStatus {
    Succeeded,
    Failed {
        code: String,
        message: String,
    },
    /// Processing, requires action, or anything we do not recognise: never a final state.
    Pending,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProviderCharge {
    /// The provider's payment id (`pi_…`): the transaction id shown to people.
    pub provider_payment_id: String,
    pub status: ChargeStatus,
    pub amount: i64,
    pub currency: Currency,
    /// Our attempt id from the metadata, when present.
    pub attempt_reference: Option<String>,
}

/// What a provider error means for us.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    /// The card or account was refused. `payment_id` is the provider's transaction id when the
    /// provider created one (Stripe does for declined PaymentIntents).
    #[error("{message}")]
    Declined {
        code: String,
        message: String,
        payment_id: Option<String>,
    },
    /// The idempotency key was already used with different parameters.
    #[error("the idempotency key was already used with different parameters")]
    IdempotencyConflict,
    /// The provider refused the request as invalid (bad token, unknown object…).
    #[error("{0}")]
    Invalid(String),
    /// The object does not exist at the provider (for this account).
    #[error("not found at the payment provider")]
    NotFound,
    /// Network failure, timeout or a 5xx: the outcome is unknown; retry with the same key.
    #[error("payment provider unavailable: {0}")]
    Unavailable(String),
    /// The provider is not configured on this server (e.g. no Stripe secret key).
    #[error("{0}")]
    NotConfigured(String),
}

/// A verified webhook event, reduced to what we act on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebhookEvent {
    /// The provider's event id (`evt_…`), recorded once.
    pub id: String,
    /// `payment_intent.succeeded`, `payment_intent.payment_failed`, …
    pub event_type: String,
    /// The connected account the event belongs to (`account` in Stripe Connect events).
    pub account: Option<String>,
    /// The id of the event's object (`data.object.id`), re-fetched before it is trusted.
    pub object_id: Option<String>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum WebhookError {
    #[error("missing signature header")]
    MissingSignature,
    #[error("malformed signature header")]
    MalformedSignature,
    #[error("no signature matches")]
    BadSignature,
    #[error("timestamp outside the tolerance")]
    Stale,
    #[error("the payload is not a webhook event")]
    BadPayload,
    #[error("webhooks are not configured for this provider")]
    NotConfigured,
}

/// What a provider can do (shown on Options > Billing and used by the pay page).
#[derive(Clone, Copy, Debug)]
pub struct Capabilities {
    pub cards: bool,
    pub bank_accounts: bool,
    /// The browser must load the provider's script (Stripe.js) to tokenise.
    pub browser_tokenisation: bool,
}

/// The provider contract. Implementations: `crate::mock`, `crate::stripe`.
#[async_trait]
pub trait PaymentProvider: Send + Sync {
    fn kind(&self) -> ProviderKind;

    fn capabilities(&self) -> Capabilities;

    /// Creates the customer for a client (called once; the id is stored by the service).
    async fn create_customer(
        &self,
        account: &ProviderAccount,
        customer: &CustomerDetails,
        idempotency_key: &str,
    ) -> Result<String, ProviderError>;

    /// Step one of adding a payment method.
    async fn begin_method_setup(
        &self,
        account: &ProviderAccount,
        customer_id: &str,
        idempotency_key: &str,
    ) -> Result<SetupSession, ProviderError>;

    /// Step two: the browser's token (Stripe: the PaymentMethod id from the confirmed
    /// SetupIntent; mock: a `tok_…` from `/mock-psp/tokens`) becomes a method attached to the
    /// customer.
    async fn complete_method_setup(
        &self,
        account: &ProviderAccount,
        customer_id: &str,
        provider_setup_id: &str,
        provider_token: &str,
        idempotency_key: &str,
    ) -> Result<ProviderPaymentMethod, ProviderError>;

    async fn update_method(
        &self,
        account: &ProviderAccount,
        provider_method_id: &str,
        update: &MethodUpdate,
    ) -> Result<ProviderPaymentMethod, ProviderError>;

    async fn set_default_method(
        &self,
        account: &ProviderAccount,
        customer_id: &str,
        provider_method_id: &str,
    ) -> Result<(), ProviderError>;

    async fn detach_method(
        &self,
        account: &ProviderAccount,
        provider_method_id: &str,
    ) -> Result<(), ProviderError>;

    /// Charges a saved method. A refusal is `Err(Declined)` (with the provider's transaction id
    /// when there is one); the same `idempotency_key` never charges twice.
    async fn pay(
        &self,
        account: &ProviderAccount,
        request: &PayRequest,
    ) -> Result<ProviderCharge, ProviderError>;

    /// The charge as the provider knows it now (webhooks re-fetch before trusting an event).
    async fn retrieve_payment(
        &self,
        account: &ProviderAccount,
        provider_payment_id: &str,
    ) -> Result<ProviderCharge, ProviderError>;

    /// Verifies the signature header (any matching `v1`, timestamp within tolerance of `now`)
    /// and parses the event.
    fn verify_webhook(
        &self,
        payload: &[u8],
        signature_header: Option<&str>,
        now_unix: i64,
    ) -> Result<WebhookEvent, WebhookError>;
}
