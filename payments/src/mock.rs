//! The mock payment provider: a complete, persistent stand-in for Stripe, for development,
//! demos and tests. It keeps its objects (customers, setups, tokens, payment methods, charges,
//! events) in its own `mock_psp_*` tables, as an external service would keep them on its side,
//! and behaves like Stripe where it matters: idempotency keys replay the first answer (and a
//! reused key with other parameters is refused), outcomes follow Stripe's test card numbers,
//! objects are scoped to the firm's account, and its webhooks are signed in Stripe's scheme.
//!
//! Test cards (any future expiry, any 3–4 digit CVC): `4242424242424242` succeeds,
//! `4000000000000002` is declined (`card_declined`), `4000000000009995` fails with
//! insufficient funds; any other Luhn-valid number succeeds. Bank accounts (routing number
//! `110000000`): `000123456789` succeeds, `000222222227` fails with insufficient funds.
//! Only the last four digits and the scripted outcome are stored, never a full number.

use async_trait::async_trait;
use chrono::Utc;
use portico_platform::{Database, RegistryTx};
use rand::Rng;
use rand::distributions::Alphanumeric;
use sea_orm::{ActiveModelTrait, ActiveValue::Set, ConnectionTrait, DbErr, EntityTrait, SqlErr};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::entity::{mock_psp_idempotency as idem, mock_psp_object as object};
use crate::provider::{
    BillingAddress, Capabilities, ChargeStatus, CustomerDetails, MethodKind, MethodUpdate,
    PayRequest, PaymentProvider, ProviderAccount, ProviderCharge, ProviderError, ProviderKind,
    ProviderPaymentMethod, SetupSession, WebhookError, WebhookEvent,
};
use crate::signature;

/// The mock's account for a firm (one per firm, like a Stripe connected account).
pub fn account_for_tenant(tenant: uuid::Uuid) -> String {
    format!("acct_mock_{}", tenant.simple())
}

/// Card details typed into the mock's tokenisation form (what Stripe.js would collect).
#[derive(Clone, Debug, serde::Deserialize)]
pub struct CardInput {
    pub card_number: String,
    pub exp_month: u32,
    pub exp_year: i32,
    pub cvc: String,
}

/// US bank account details for ACH debit.
#[derive(Clone, Debug, serde::Deserialize)]
pub struct BankInput {
    pub routing_number: String,
    pub account_number: String,
}

#[derive(Debug, thiserror::Error)]
pub enum MockError {
    /// Bad card or bank details; the message says which field.
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Db(#[from] DbErr),
}

/// What a stored card or bank account does when charged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    Succeed,
    Decline,
    InsufficientFunds,
}

impl Outcome {
    fn as_str(self) -> &'static str {
        match self {
            Outcome::Succeed => "succeed",
            Outcome::Decline => "decline",
            Outcome::InsufficientFunds => "insufficient_funds",
        }
    }

    fn parse(value: &str) -> Self {
        match value {
            "decline" => Outcome::Decline,
            "insufficient_funds" => Outcome::InsufficientFunds,
            _ => Outcome::Succeed,
        }
    }
}

fn luhn_valid(digits: &str) -> bool {
    let mut sum = 0;
    for (i, c) in digits.chars().rev().enumerate() {
        let Some(mut d) = c.to_digit(10) else {
            return false;
        };
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

fn brand_of(number: &str) -> &'static str {
    if number.starts_with('4') {
        "visa"
    } else if number.starts_with("34") || number.starts_with("37") {
        "amex"
    } else if number.starts_with("6011") || number.starts_with("65") {
        "discover"
    } else if number.starts_with('5') || number.starts_with('2') {
        "mastercard"
    } else {
        "unknown"
    }
}

fn random_id(prefix: &str) -> String {
    let tail: String = rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(24)
        .map(char::from)
        .collect();
    format!("{prefix}_{tail}")
}

fn last4(number: &str) -> String {
    number[number.len().saturating_sub(4)..].to_owned()
}

/// Checks typed card details the way Stripe.js would (number, expiry, CVC); returns the digits.
pub fn check_card(card: &CardInput) -> Result<String, MockError> {
    let number: String = card
        .card_number
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .collect();
    if !(12..=19).contains(&number.len()) || !luhn_valid(&number) {
        return Err(MockError::Invalid(
            "card_number: your card number is invalid".into(),
        ));
    }
    if !(1..=12).contains(&card.exp_month) {
        return Err(MockError::Invalid(
            "exp_month: must be between 1 and 12".into(),
        ));
    }
    let now = Utc::now();
    let this_month = now.format("%Y%m").to_string().parse::<i32>().unwrap_or(0);
    // The range first, so the arithmetic below cannot overflow on hostile input.
    if !(1000..=9999).contains(&card.exp_year) {
        return Err(MockError::Invalid("exp_year: a four-digit year".into()));
    }
    let expiry = card.exp_year * 100 + card.exp_month as i32;
    if expiry < this_month {
        return Err(MockError::Invalid("exp_year: your card has expired".into()));
    }
    if !(3..=4).contains(&card.cvc.len()) || !card.cvc.chars().all(|c| c.is_ascii_digit()) {
        return Err(MockError::Invalid(
            "cvc: your card's security code is invalid".into(),
        ));
    }
    Ok(number)
}

/// Checks typed card details and stores a single-use token (last four digits and outcome only).
pub async fn tokenise(db: &Database, card: &CardInput) -> Result<String, MockError> {
    let number = check_card(card)?;
    let outcome = match number.as_str() {
        "4000000000000002" => Outcome::Decline,
        "4000000000009995" => Outcome::InsufficientFunds,
        _ => Outcome::Succeed,
    };
    let data = json!({
        "type": "card",
        "brand": brand_of(&number),
        "last4": last4(&number),
        "exp_month": card.exp_month,
        "exp_year": card.exp_year,
        "outcome": outcome.as_str(),
        "used": false,
    });
    store_token(db, data).await
}

/// Checks US bank account details and stores a single-use token.
pub async fn tokenise_bank_account(db: &Database, bank: &BankInput) -> Result<String, MockError> {
    let routing = bank.routing_number.trim();
    let account = bank.account_number.trim();
    if routing.len() != 9 || !routing.chars().all(|c| c.is_ascii_digit()) {
        return Err(MockError::Invalid(
            "routing_number: must be 9 digits".into(),
        ));
    }
    if !(4..=17).contains(&account.len()) || !account.chars().all(|c| c.is_ascii_digit()) {
        return Err(MockError::Invalid(
            "account_number: must be 4 to 17 digits".into(),
        ));
    }
    let outcome = match account {
        "000222222227" => Outcome::InsufficientFunds,
        "000111111116" => Outcome::Decline,
        _ => Outcome::Succeed,
    };
    let data = json!({
        "type": "bank_account",
        "brand": "STRIPE TEST BANK",
        "last4": last4(account),
        "outcome": outcome.as_str(),
        "used": false,
    });
    store_token(db, data).await
}

async fn store_token(db: &Database, data: Value) -> Result<String, MockError> {
    let id = random_id("tok");
    let now = Utc::now();
    // Tokens exist before anyone knows the account; they are bound to one when used.
    object::ActiveModel {
        id: Set(id.clone()),
        account: Set(String::new()),
        kind: Set("token".into()),
        data: Set(data),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(db.unscoped_registry())
    .await?;
    Ok(id)
}

pub struct MockProvider {
    db: Database,
    webhook_secret: String,
}

/// A stored failure, replayed for the same idempotency key.
fn error_json(err: &ProviderError) -> Option<Value> {
    match err {
        ProviderError::Declined {
            code,
            message,
            payment_id,
        } => Some(json!({"code": code, "message": message, "payment_id": payment_id})),
        _ => None,
    }
}

fn error_from_json(value: &Value) -> ProviderError {
    ProviderError::Declined {
        code: value["code"].as_str().unwrap_or("card_declined").to_owned(),
        message: value["message"]
            .as_str()
            .unwrap_or("Your card was declined.")
            .to_owned(),
        payment_id: value["payment_id"].as_str().map(str::to_owned),
    }
}

/// The first answer given under an idempotency key, if the key was used.
async fn stored_answer(
    conn: &impl ConnectionTrait,
    account: &ProviderAccount,
    key: &str,
) -> Result<Option<idem::Model>, ProviderError> {
    // The mock's store is the provider's side of the wire: not tenant-owned.
    #[allow(clippy::disallowed_methods)]
    idem::Entity::find_by_id((account.as_str().to_owned(), key.to_owned()))
        .one(conn)
        .await
        .map_err(db_error)
}

fn replay(answer: idem::Model) -> Result<String, ProviderError> {
    match (answer.error, answer.object_id) {
        (Some(error), _) => Err(error_from_json(&error)),
        (None, Some(id)) => Ok(id),
        (None, None) => Err(in_progress()),
    }
}

fn in_progress() -> ProviderError {
    ProviderError::Unavailable("request in progress".into())
}

fn db_error(err: DbErr) -> ProviderError {
    ProviderError::Unavailable(format!("mock provider storage: {err}"))
}

fn fingerprint(operation: &str, params: &Value) -> String {
    hex::encode(Sha256::digest(format!("{operation}:{params}").as_bytes()))
}

impl MockProvider {
    pub fn new(db: Database, webhook_secret: String) -> Self {
        Self { db, webhook_secret }
    }

    async fn load(
        &self,
        conn: &impl ConnectionTrait,
        account: &ProviderAccount,
        id: &str,
        kind: &str,
    ) -> Result<object::Model, ProviderError> {
        // The mock's store is the provider's side of the wire: not tenant-owned.
        #[allow(clippy::disallowed_methods)]
        let row = object::Entity::find_by_id(id.to_owned())
            .one(conn)
            .await
            .map_err(db_error)?;
        match row {
            Some(row) if row.kind == kind && row.account == account.as_str() => Ok(row),
            _ => Err(ProviderError::NotFound),
        }
    }

    async fn save(
        &self,
        conn: &impl ConnectionTrait,
        account: &ProviderAccount,
        id: &str,
        kind: &str,
        data: Value,
    ) -> Result<(), ProviderError> {
        let now = Utc::now();
        #[allow(clippy::disallowed_methods)]
        let existing = object::Entity::find_by_id(id.to_owned())
            .one(conn)
            .await
            .map_err(db_error)?;
        match existing {
            Some(row) => {
                let mut row: object::ActiveModel = row.into();
                row.data = Set(data);
                row.account = Set(account.as_str().to_owned());
                row.updated_at = Set(now);
                row.update(conn).await.map_err(db_error)?;
            }
            None => {
                object::ActiveModel {
                    id: Set(id.to_owned()),
                    account: Set(account.as_str().to_owned()),
                    kind: Set(kind.to_owned()),
                    data: Set(data),
                    created_at: Set(now),
                    updated_at: Set(now),
                }
                .insert(conn)
                .await
                .map_err(db_error)?;
            }
        }
        Ok(())
    }

    /// Claims an idempotency key: a key seen before replays its first answer (or is refused
    /// when the parameters differ); a fresh key opens the transaction the operation runs in.
    async fn claim(
        &self,
        account: &ProviderAccount,
        key: &str,
        operation: &str,
        params: &Value,
    ) -> Result<Claim, ProviderError> {
        if key.is_empty() {
            return Err(ProviderError::Invalid(
                "an idempotency key is required".into(),
            ));
        }
        let print = fingerprint(operation, params);
        let tx = self.db.registry_write().await.map_err(db_error)?;
        let Some(previous) = stored_answer(tx.registry_conn(), account, key).await? else {
            return Ok(Claim::Fresh(tx, print));
        };
        drop(tx);
        if previous.fingerprint != print {
            return Err(ProviderError::IdempotencyConflict);
        }
        Ok(Claim::Replay(replay(previous)))
    }

    /// Remembers the operation's answer under the key and commits; when a concurrent request
    /// with the same key committed first, its answer wins and this one is rolled back.
    async fn settle(
        &self,
        tx: RegistryTx,
        account: &ProviderAccount,
        key: &str,
        print: String,
        outcome: Result<String, ProviderError>,
    ) -> Result<String, ProviderError> {
        let (object_id, error) = match &outcome {
            Ok(id) => (Some(id.clone()), None),
            Err(err) => match error_json(err) {
                Some(json) => (None, Some(json)),
                // Invalid requests are not remembered (Stripe does not either).
                None => return outcome,
            },
        };
        let inserted = idem::ActiveModel {
            account: Set(account.as_str().to_owned()),
            idempotency_key: Set(key.to_owned()),
            fingerprint: Set(print),
            object_id: Set(object_id),
            error: Set(error),
            created_at: Set(Utc::now()),
        }
        .insert(tx.registry_conn())
        .await;
        match inserted {
            Ok(_) => {
                tx.commit().await.map_err(db_error)?;
                outcome
            }
            Err(e) if matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {
                drop(tx);
                match stored_answer(self.db.unscoped_registry(), account, key).await? {
                    Some(winner) => replay(winner),
                    None => Err(in_progress()),
                }
            }
            Err(e) => Err(db_error(e)),
        }
    }

    fn method_of(id: &str, data: &Value) -> ProviderPaymentMethod {
        let address: BillingAddress =
            serde_json::from_value(data["billing_address"].clone()).unwrap_or_default();
        ProviderPaymentMethod {
            provider_method_id: id.to_owned(),
            kind: MethodKind::parse(data["type"].as_str().unwrap_or("card"))
                .unwrap_or(MethodKind::Card),
            brand: data["brand"].as_str().unwrap_or("unknown").to_owned(),
            last4: data["last4"].as_str().unwrap_or("").to_owned(),
            exp_month: data["exp_month"].as_u64().map(|m| m as u32),
            exp_year: data["exp_year"].as_i64().map(|y| y as i32),
            holder_name: data["holder_name"].as_str().map(str::to_owned),
            email: data["email"].as_str().map(str::to_owned),
            billing_address: address,
        }
    }

    fn charge_of(id: &str, data: &Value) -> ProviderCharge {
        let status = match data["status"].as_str() {
            Some("succeeded") => ChargeStatus::Succeeded,
            Some("failed") => ChargeStatus::Failed {
                code: data["failure_code"]
                    .as_str()
                    .unwrap_or("card_declined")
                    .into(),
                message: data["failure_message"].as_str().unwrap_or("").into(),
            },
            _ => ChargeStatus::Pending,
        };
        ProviderCharge {
            provider_payment_id: id.to_owned(),
            status,
            amount: data["amount"].as_i64().unwrap_or(0),
            currency: crate::stored_currency(data["currency"].as_str().unwrap_or_default()),
            attempt_reference: data["metadata"]["portico_attempt_id"]
                .as_str()
                .map(str::to_owned),
        }
    }

    /// A signed `payment_intent.*` event for a charge, as the mock would deliver it: the body
    /// and the `Portico-Mock-Signature` header value.
    pub async fn signed_event(
        &self,
        account: &ProviderAccount,
        provider_payment_id: &str,
    ) -> Result<(String, String), ProviderError> {
        let row = self
            .load(
                self.db.unscoped_registry(),
                account,
                provider_payment_id,
                "payment_intent",
            )
            .await?;
        let event_type = match row.data["status"].as_str() {
            Some("succeeded") => "payment_intent.succeeded",
            Some("failed") => "payment_intent.payment_failed",
            _ => "payment_intent.processing",
        };
        let body = json!({
            "id": random_id("evt"),
            "object": "event",
            "type": event_type,
            "account": account.as_str(),
            "created": Utc::now().timestamp(),
            "data": {"object": {"id": provider_payment_id, "object": "payment_intent",
                                "status": row.data["status"]}},
        })
        .to_string();
        let header = signature::sign(
            &self.webhook_secret,
            body.as_bytes(),
            Utc::now().timestamp(),
        );
        Ok((body, header))
    }
}

/// The result of claiming an idempotency key.
enum Claim {
    Replay(Result<String, ProviderError>),
    Fresh(RegistryTx, String),
}

#[async_trait]
impl PaymentProvider for MockProvider {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Mock
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            cards: true,
            bank_accounts: true,
            browser_tokenisation: false,
        }
    }

    async fn create_customer(
        &self,
        account: &ProviderAccount,
        customer: &CustomerDetails,
        idempotency_key: &str,
    ) -> Result<String, ProviderError> {
        let data = json!({"name": customer.name, "email": customer.email,
                          "reference": customer.reference, "default_payment_method": null});
        let (tx, print) = match self
            .claim(account, idempotency_key, "create_customer", &data)
            .await?
        {
            Claim::Replay(answer) => return answer,
            Claim::Fresh(tx, print) => (tx, print),
        };
        let id = random_id("cus");
        let outcome = self
            .save(tx.registry_conn(), account, &id, "customer", data)
            .await
            .map(|()| id);
        self.settle(tx, account, idempotency_key, print, outcome)
            .await
    }

    async fn begin_method_setup(
        &self,
        account: &ProviderAccount,
        customer_id: &str,
        idempotency_key: &str,
    ) -> Result<SetupSession, ProviderError> {
        let params = json!({"customer": customer_id});
        let id = match self
            .claim(account, idempotency_key, "begin_setup", &params)
            .await?
        {
            Claim::Replay(answer) => answer?,
            Claim::Fresh(tx, print) => {
                let outcome = async {
                    let conn = tx.registry_conn();
                    self.load(conn, account, customer_id, "customer").await?;
                    let id = random_id("seti");
                    let data =
                        json!({"customer": customer_id, "status": "requires_payment_method"});
                    self.save(conn, account, &id, "setup_intent", data).await?;
                    Ok(id)
                }
                .await;
                self.settle(tx, account, idempotency_key, print, outcome)
                    .await?
            }
        };
        Ok(SetupSession {
            provider_setup_id: id,
            client_secret: None,
        })
    }

    async fn complete_method_setup(
        &self,
        account: &ProviderAccount,
        customer_id: &str,
        provider_setup_id: &str,
        provider_token: &str,
        idempotency_key: &str,
    ) -> Result<ProviderPaymentMethod, ProviderError> {
        let params =
            json!({"customer": customer_id, "setup": provider_setup_id, "token": provider_token});
        let id = match self
            .claim(account, idempotency_key, "complete_setup", &params)
            .await?
        {
            Claim::Replay(answer) => answer?,
            Claim::Fresh(tx, print) => {
                let outcome = async {
                    let conn = tx.registry_conn();
                    let setup = self
                        .load(conn, account, provider_setup_id, "setup_intent")
                        .await?;
                    if setup.data["customer"].as_str() != Some(customer_id)
                        || setup.data["status"] != "requires_payment_method"
                    {
                        return Err(ProviderError::Invalid(
                            "this setup was already completed or belongs to someone else".into(),
                        ));
                    }
                    // Tokens are not bound to an account until used (like Stripe.js tokens
                    // before they are attached).
                    let token = self
                        .load(
                            conn,
                            &ProviderAccount(String::new()),
                            provider_token,
                            "token",
                        )
                        .await
                        .map_err(|_| ProviderError::Invalid("unknown payment token".into()))?;
                    if token.data["used"] == true {
                        return Err(ProviderError::Invalid(
                            "this payment token was already used".into(),
                        ));
                    }
                    let mut used = token.data.clone();
                    used["used"] = json!(true);
                    self.save(
                        conn,
                        &ProviderAccount(String::new()),
                        provider_token,
                        "token",
                        used,
                    )
                    .await?;
                    let mut method = token.data.clone();
                    method["customer"] = json!(customer_id);
                    method["detached"] = json!(false);
                    method["billing_address"] = json!({});
                    if let Some(map) = method.as_object_mut() {
                        map.remove("used");
                    }
                    let pm_id = random_id("pm");
                    self.save(conn, account, &pm_id, "payment_method", method)
                        .await?;
                    let mut done = setup.data.clone();
                    done["status"] = json!("succeeded");
                    done["payment_method"] = json!(pm_id);
                    self.save(conn, account, provider_setup_id, "setup_intent", done)
                        .await?;
                    Ok(pm_id)
                }
                .await;
                self.settle(tx, account, idempotency_key, print, outcome)
                    .await?
            }
        };
        let row = self
            .load(self.db.unscoped_registry(), account, &id, "payment_method")
            .await?;
        Ok(Self::method_of(&id, &row.data))
    }

    async fn update_method(
        &self,
        account: &ProviderAccount,
        provider_method_id: &str,
        update: &MethodUpdate,
    ) -> Result<ProviderPaymentMethod, ProviderError> {
        let conn = self.db.unscoped_registry();
        let row = self
            .load(conn, account, provider_method_id, "payment_method")
            .await?;
        let mut data = row.data.clone();
        if let Some(name) = &update.holder_name {
            data["holder_name"] = json!(name);
        }
        if let Some(email) = &update.email {
            data["email"] = json!(email);
        }
        if let Some(address) = &update.billing_address {
            data["billing_address"] = json!(address);
        }
        if data["type"] == "card" {
            if let Some(month) = update.exp_month {
                data["exp_month"] = json!(month);
            }
            if let Some(year) = update.exp_year {
                data["exp_year"] = json!(year);
            }
        }
        self.save(
            conn,
            account,
            provider_method_id,
            "payment_method",
            data.clone(),
        )
        .await?;
        Ok(Self::method_of(provider_method_id, &data))
    }

    async fn set_default_method(
        &self,
        account: &ProviderAccount,
        customer_id: &str,
        provider_method_id: &str,
    ) -> Result<(), ProviderError> {
        let conn = self.db.unscoped_registry();
        let method = self
            .load(conn, account, provider_method_id, "payment_method")
            .await?;
        if method.data["customer"].as_str() != Some(customer_id) {
            return Err(ProviderError::Invalid(
                "the payment method belongs to another customer".into(),
            ));
        }
        let customer = self.load(conn, account, customer_id, "customer").await?;
        let mut data = customer.data.clone();
        data["default_payment_method"] = json!(provider_method_id);
        self.save(conn, account, customer_id, "customer", data)
            .await
    }

    async fn detach_method(
        &self,
        account: &ProviderAccount,
        provider_method_id: &str,
    ) -> Result<(), ProviderError> {
        let conn = self.db.unscoped_registry();
        let row = self
            .load(conn, account, provider_method_id, "payment_method")
            .await?;
        let mut data = row.data.clone();
        data["detached"] = json!(true);
        data["customer"] = Value::Null;
        self.save(conn, account, provider_method_id, "payment_method", data)
            .await
    }

    async fn pay(
        &self,
        account: &ProviderAccount,
        request: &PayRequest,
    ) -> Result<ProviderCharge, ProviderError> {
        if request.amount.amount <= 0 {
            return Err(ProviderError::Invalid(
                "amount must be a positive number of minor units".into(),
            ));
        }
        let params = json!({
            "customer": request.customer_id,
            "payment_method": request.provider_method_id,
            "amount": request.amount.amount,
            "currency": request.amount.currency.as_str(),
        });
        let key = request.idempotency_key.as_str();
        let id = match self.claim(account, key, "pay", &params).await? {
            Claim::Replay(answer) => answer?,
            Claim::Fresh(tx, print) => {
                let outcome = async {
                    let conn = tx.registry_conn();
                    let method = self
                        .load(conn, account, &request.provider_method_id, "payment_method")
                        .await
                        .map_err(|_| ProviderError::Invalid("unknown payment method".into()))?;
                    if method.data["customer"].as_str() != Some(request.customer_id.as_str()) {
                        return Err(ProviderError::Invalid(
                            "the payment method is not attached to this customer".into(),
                        ));
                    }
                    let outcome = Outcome::parse(method.data["outcome"].as_str().unwrap_or(""));
                    let id = random_id("pi");
                    let (status, code, message) = match outcome {
                        Outcome::Succeed => ("succeeded", None, None),
                        Outcome::Decline => (
                            "failed",
                            Some("card_declined"),
                            Some("Your card was declined."),
                        ),
                        Outcome::InsufficientFunds => (
                            "failed",
                            Some("card_declined"),
                            Some("Your card has insufficient funds."),
                        ),
                    };
                    let data = json!({
                        "amount": request.amount.amount,
                        "currency": request.amount.currency.as_str(),
                        "customer": request.customer_id,
                        "payment_method": request.provider_method_id,
                        "description": request.description,
                        "status": status,
                        "failure_code": code,
                        "decline_code": if outcome == Outcome::InsufficientFunds { Some("insufficient_funds") } else { None },
                        "failure_message": message,
                        "metadata": {"portico_attempt_id": request.attempt_reference,
                                     "portico_invoice_id": request.invoice_reference},
                    });
                    self.save(conn, account, &id, "payment_intent", data).await?;
                    match (code, message) {
                        (Some(code), Some(message)) => Err(ProviderError::Declined {
                            code: code.into(),
                            message: message.into(),
                            payment_id: Some(id),
                        }),
                        _ => Ok(id),
                    }
                }
                .await;
                self.settle(tx, account, key, print, outcome).await?
            }
        };
        self.retrieve_payment(account, &id).await
    }

    async fn retrieve_payment(
        &self,
        account: &ProviderAccount,
        provider_payment_id: &str,
    ) -> Result<ProviderCharge, ProviderError> {
        let row = self
            .load(
                self.db.unscoped_registry(),
                account,
                provider_payment_id,
                "payment_intent",
            )
            .await?;
        Ok(Self::charge_of(provider_payment_id, &row.data))
    }

    fn verify_webhook(
        &self,
        payload: &[u8],
        signature_header: Option<&str>,
        now_unix: i64,
    ) -> Result<WebhookEvent, WebhookError> {
        signature::verify(
            payload,
            signature_header,
            &[self.webhook_secret.as_str()],
            now_unix,
        )?;
        parse_event(payload)
    }
}

/// The mock's events have Stripe's shape, so Stripe's parser reads them.
pub use crate::stripe::wire::webhook_event as parse_event;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn luhn_accepts_test_cards_and_refuses_typos() {
        assert!(luhn_valid("4242424242424242"));
        assert!(luhn_valid("4000000000000002"));
        assert!(luhn_valid("4000000000009995"));
        assert!(!luhn_valid("4242424242424241"));
        assert!(!luhn_valid("42424242x2424242"));
    }

    #[test]
    fn brands_follow_prefixes() {
        assert_eq!(brand_of("4242424242424242"), "visa");
        assert_eq!(brand_of("5555555555554444"), "mastercard");
        assert_eq!(brand_of("378282246310005"), "amex");
    }

    #[test]
    fn events_parse_and_garbage_is_refused() {
        let event = parse_event(
            br#"{"id":"evt_1","type":"payment_intent.succeeded","account":"acct_1","data":{"object":{"id":"pi_1"}}}"#,
        )
        .unwrap();
        assert_eq!(event.object_id.as_deref(), Some("pi_1"));
        assert_eq!(event.account.as_deref(), Some("acct_1"));
        assert_eq!(parse_event(b"[]"), Err(WebhookError::BadPayload));
        assert_eq!(parse_event(b"not json"), Err(WebhookError::BadPayload));
    }
}
