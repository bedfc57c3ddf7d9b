//! A fake Stripe API on 127.0.0.1:<random port>, inside the test process, for the Stripe
//! provider's tests (there is no stripe-mock here). It checks what Stripe would check on the
//! wire (secret key, form encoding, integer amounts, the connected account, idempotency keys,
//! unknown parameters), keeps customers, SetupIntents, PaymentMethods and PaymentIntents per
//! connected account, replays idempotent requests like Stripe, records every request for
//! assertions, and answers with the JSON fixtures in `tests/e2e/fixtures/stripe/`, which carry
//! every field async-stripe requires.
//!
//! Test payment methods, as at Stripe: `pm_card_visa` and `pm_card_mastercard` succeed,
//! `pm_card_chargeDeclined` is declined (`card_declined`),
//! `pm_card_chargeDeclinedInsufficientFunds` is declined with
//! `decline_code = insufficient_funds`, and `pm_usBankAccount` (ACH) stays
//! `processing`. The browser's part (Stripe.js confirming a SetupIntent) is played by
//! `FakeStripe::confirm_setup_intent`; `fail_next_payment_intent_after_charge` scripts a
//! network failure after the money moved.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use poem::http::StatusCode;
use poem::listener::TcpAcceptor;
use poem::{Request, Response};
use portico_platform::config::StripeSettings;
use serde_json::{Map, Value, json};

const CUSTOMER: &str = include_str!("../fixtures/stripe/customer.json");
const SETUP_INTENT: &str = include_str!("../fixtures/stripe/setup_intent.json");
const PAYMENT_METHOD_CARD: &str = include_str!("../fixtures/stripe/payment_method_card.json");
const PAYMENT_METHOD_BANK: &str =
    include_str!("../fixtures/stripe/payment_method_us_bank_account.json");
const PAYMENT_INTENT: &str = include_str!("../fixtures/stripe/payment_intent.json");
const ERROR: &str = include_str!("../fixtures/stripe/error.json");

/// One request as the fake received it.
#[derive(Clone, Debug)]
pub struct RecordedRequest {
    pub method: String,
    /// Without the query string, e.g. `/v1/payment_intents`.
    pub path: String,
    /// Whether `Authorization: Bearer <the fake's secret>` was sent (the secret is not kept).
    pub authorized: bool,
    pub account: Option<String>,
    pub idempotency_key: Option<String>,
    pub stripe_version: Option<String>,
    pub content_type: Option<String>,
    /// The decoded form body, in order (`metadata[portico_attempt_id]` as one key).
    pub form: Vec<(String, String)>,
    /// The status the fake answered with.
    pub status: u16,
    /// The answer was an idempotent replay.
    pub replayed: bool,
}

impl RecordedRequest {
    pub fn param(&self, name: &str) -> Option<&str> {
        param(&self.form, name)
    }
}

/// A charge the fake performed (a confirmed PaymentIntent's attempt on the card).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FakeCharge {
    pub payment_intent: String,
    pub amount: i64,
    pub currency: String,
    /// `succeeded`, `failed` or `pending`.
    pub status: String,
}

/// How a test payment method behaves when charged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Behaviour {
    Succeed,
    Decline,
    InsufficientFunds,
    Processing,
}

#[derive(Default)]
struct Account {
    customers: HashMap<String, Value>,
    setup_intents: HashMap<String, Value>,
    payment_methods: HashMap<String, Value>,
    behaviours: HashMap<String, Behaviour>,
    payment_intents: HashMap<String, Value>,
    charges: Vec<FakeCharge>,
}

/// The first answer to an idempotency key, replayed to later requests with the same key.
struct Stored {
    endpoint: String,
    params: Vec<(String, String)>,
    status: u16,
    body: Value,
}

#[derive(Default)]
struct State {
    requests: Vec<RecordedRequest>,
    accounts: HashMap<String, Account>,
    /// Keyed by (connected account, key): Stripe scopes keys to the account they were sent for.
    idempotency: HashMap<(String, String), Stored>,
    fail_next_payment_intent_after_charge: bool,
    next_id: u64,
}

impl State {
    /// A connected account's objects (created empty on first use, as any `acct_` is valid).
    fn account(&mut self, id: &str) -> &mut Account {
        self.accounts.entry(id.to_owned()).or_default()
    }

    fn id(&mut self, prefix: &str) -> String {
        self.next_id += 1;
        format!(
            "{prefix}_Fake{:08}{}",
            self.next_id,
            super::random_suffix(6)
        )
    }
}

pub struct FakeStripe {
    addr: SocketAddr,
    secret: String,
    state: Arc<Mutex<State>>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for FakeStripe {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// A Stripe-shaped error answer.
struct Failure {
    status: u16,
    body: Value,
}

impl Failure {
    fn new(status: u16, type_: &str, code: Option<&str>, message: &str) -> Self {
        let mut body: Value = serde_json::from_str(ERROR).expect("error fixture");
        body["error"]["type"] = json!(type_);
        body["error"]["message"] = json!(message);
        if let Some(code) = code {
            body["error"]["code"] = json!(code);
            body["error"]["doc_url"] = json!(format!("https://stripe.com/docs/error-codes/{code}"));
        }
        Failure { status, body }
    }

    fn invalid(message: impl Into<String>) -> Self {
        Self::new(400, "invalid_request_error", None, &message.into())
    }

    fn invalid_param(param: &str, message: impl Into<String>) -> Self {
        let mut failure = Self::invalid(message);
        failure.body["error"]["param"] = json!(param);
        failure
    }

    fn missing(what: &str, id: &str) -> Self {
        Self::new(
            404,
            "invalid_request_error",
            Some("resource_missing"),
            &format!("No such {what}: '{id}'"),
        )
    }

    /// A parameter naming an object that does not exist: Stripe answers 400, not 404.
    fn missing_param(param: &str, what: &str, id: &str) -> Self {
        let mut failure = Self::new(
            400,
            "invalid_request_error",
            Some("resource_missing"),
            &format!("No such {what}: '{id}'"),
        );
        failure.body["error"]["param"] = json!(param);
        failure
    }
}

type Answer = Result<(u16, Value), Failure>;

impl FakeStripe {
    pub async fn start() -> FakeStripe {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("fake Stripe binds");
        let addr = listener.local_addr().expect("fake Stripe address");
        let acceptor = TcpAcceptor::from_tokio(listener).expect("fake Stripe acceptor");
        let secret = format!("sk_test_fake_{}", super::random_suffix(24));
        let state = Arc::new(Mutex::new(State::default()));
        let endpoint = {
            let state = state.clone();
            let secret = secret.clone();
            poem::endpoint::make(move |request: Request| {
                let state = state.clone();
                let secret = secret.clone();
                async move { serve(&state, &secret, request).await }
            })
        };
        let server = tokio::spawn(async move {
            let _ = poem::Server::new_with_acceptor(acceptor)
                .run(endpoint)
                .await;
        });
        FakeStripe {
            addr,
            secret,
            state,
            server,
        }
    }

    /// `http://127.0.0.1:<port>/`, for `payments.stripe.api_base`.
    pub fn base_url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    /// The only secret key the fake accepts.
    pub fn secret(&self) -> &str {
        &self.secret
    }

    /// `payments.stripe` settings pointing at this fake.
    pub fn settings(&self, webhook_secret: &str) -> StripeSettings {
        stripe_settings(&self.base_url(), &self.secret, webhook_secret)
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.state().requests.clone()
    }

    /// Charges performed on `account`, in order (declined attempts included).
    pub fn charges(&self, account: &str) -> Vec<FakeCharge> {
        self.state()
            .accounts
            .get(account)
            .map(|a| a.charges.clone())
            .unwrap_or_default()
    }

    /// Successful charges on `account`: the money that actually moved.
    pub fn charges_count(&self, account: &str) -> usize {
        self.charges(account)
            .iter()
            .filter(|c| c.status == "succeeded")
            .count()
    }

    /// PaymentIntents that exist on `account`.
    pub fn payment_intents_count(&self, account: &str) -> usize {
        self.state()
            .accounts
            .get(account)
            .map_or(0, |a| a.payment_intents.len())
    }

    pub fn customer(&self, account: &str, id: &str) -> Option<Value> {
        self.state()
            .accounts
            .get(account)
            .and_then(|a| a.customers.get(id).cloned())
    }

    pub fn payment_method(&self, account: &str, id: &str) -> Option<Value> {
        self.state()
            .accounts
            .get(account)
            .and_then(|a| a.payment_methods.get(id).cloned())
    }

    /// The next PaymentIntent create charges the card, stores its answer under the key, and
    /// then answers 500, as if the connection broke after Stripe did the work.
    pub fn fail_next_payment_intent_after_charge(&self) {
        self.state().fail_next_payment_intent_after_charge = true;
    }

    /// Plays Stripe.js in the browser: confirms the SetupIntent with a test payment method
    /// (`pm_card_visa`, …). Like Stripe, the test method is copied into a new PaymentMethod,
    /// attached to the SetupIntent's customer; its id (what the browser posts back) is
    /// returned.
    pub fn confirm_setup_intent(&self, setup_intent_id: &str, test_method: &str) -> String {
        let mut state = self.state();
        let account_id = state
            .accounts
            .iter()
            .find(|(_, a)| a.setup_intents.contains_key(setup_intent_id))
            .map(|(id, _)| id.clone())
            .unwrap_or_else(|| panic!("no SetupIntent {setup_intent_id} at the fake Stripe"));
        let method_id = state.id("pm");
        let (mut method, behaviour) =
            test_payment_method(test_method, &method_id).unwrap_or_else(|| {
                panic!("{test_method} is not a test payment method of the fake Stripe")
            });
        let account = state.accounts.get_mut(&account_id).expect("account exists");
        let setup = account
            .setup_intents
            .get_mut(setup_intent_id)
            .expect("setup exists");
        assert_eq!(
            setup["status"], "requires_payment_method",
            "SetupIntent {setup_intent_id} was already confirmed"
        );
        method["customer"] = setup["customer"].clone();
        setup["status"] = json!("succeeded");
        setup["payment_method"] = json!(method_id);
        account.payment_methods.insert(method_id.clone(), method);
        account.behaviours.insert(method_id.clone(), behaviour);
        method_id
    }
}

/// `payments.stripe` settings as the configuration file would give them (deserialised, so a
/// setting added later, such as the publishable key, is filled or ignored rather than breaking
/// every test that builds them).
pub fn stripe_settings(api_base: &str, secret_key: &str, webhook_secret: &str) -> StripeSettings {
    serde_json::from_value(json!({
        "api_base": api_base,
        "secret_key": secret_key,
        "webhook_secret": webhook_secret,
        "publishable_key": "pk_test_fake",
    }))
    .expect("Stripe settings")
}

/// A fresh PaymentMethod from one of Stripe's test payment method ids.
fn test_payment_method(test_id: &str, id: &str) -> Option<(Value, Behaviour)> {
    let card = |brand: &str, last4: &str, behaviour: Behaviour| {
        let mut method: Value = serde_json::from_str(PAYMENT_METHOD_CARD).expect("fixture");
        method["id"] = json!(id);
        method["created"] = json!(chrono::Utc::now().timestamp());
        method["card"]["brand"] = json!(brand);
        method["card"]["display_brand"] = json!(brand);
        method["card"]["networks"]["available"] = json!([brand]);
        method["card"]["last4"] = json!(last4);
        method["card"]["fingerprint"] = json!(format!("fp{last4}{brand}"));
        (method, behaviour)
    };
    Some(match test_id {
        "pm_card_visa" => card("visa", "4242", Behaviour::Succeed),
        "pm_card_mastercard" => card("mastercard", "4444", Behaviour::Succeed),
        "pm_card_chargeDeclined" => card("visa", "0002", Behaviour::Decline),
        "pm_card_chargeDeclinedInsufficientFunds" => {
            card("visa", "9995", Behaviour::InsufficientFunds)
        }
        "pm_usBankAccount" => {
            let mut method: Value = serde_json::from_str(PAYMENT_METHOD_BANK).expect("fixture");
            method["id"] = json!(id);
            method["created"] = json!(chrono::Utc::now().timestamp());
            (method, Behaviour::Processing)
        }
        _ => return None,
    })
}

/// What is checked on every request before it reaches an endpoint, as Stripe would (plus the
/// Connect rule that every Portico call names the firm's account).
async fn serve(state: &Mutex<State>, secret: &str, mut request: Request) -> Response {
    let method = request.method().as_str().to_owned();
    let path = request.uri().path().to_owned();
    let header = |name: &str| {
        request
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let authorization = header("authorization");
    let account = header("stripe-account").filter(|a| !a.is_empty());
    let idempotency_key = header("idempotency-key");
    let stripe_version = header("stripe-version");
    let content_type = header("content-type");
    let body = request.take_body().into_vec().await.unwrap_or_default();
    let form = decode_form(&body);

    let authorized = authorization.as_deref() == Some(&format!("Bearer {secret}"));
    let mut recorded = RecordedRequest {
        method: method.clone(),
        path: path.clone(),
        authorized,
        account: account.clone(),
        idempotency_key: idempotency_key.clone(),
        stripe_version: stripe_version.clone(),
        content_type: content_type.clone(),
        form: form.clone().unwrap_or_default(),
        status: 0,
        replayed: false,
    };

    let mut state = state.lock().unwrap_or_else(|e| e.into_inner());
    let checked = (|| {
        if !authorized {
            let shown = authorization
                .as_deref()
                .and_then(|a| a.strip_prefix("Bearer "))
                .map(|key| format!("{}…", key.chars().take(8).collect::<String>()))
                .unwrap_or_default();
            return Err(Failure::new(
                401,
                "invalid_request_error",
                None,
                &format!("Invalid API Key provided: {shown}"),
            ));
        }
        if stripe_version.is_none() {
            return Err(Failure::invalid("fake Stripe: no Stripe-Version header"));
        }
        let Some(account) = account.clone() else {
            return Err(Failure::invalid(
                "fake Stripe: Portico must name the firm's connected account (Stripe-Account)",
            ));
        };
        if !account.starts_with("acct_") {
            return Err(Failure::new(
                403,
                "invalid_request_error",
                Some("account_invalid"),
                &format!("The provided key does not have access to account '{account}'"),
            ));
        }
        let form = form.map_err(|e| Failure::invalid(format!("fake Stripe: {e}")))?;
        match method.as_str() {
            "POST" => {
                let form_encoded = content_type
                    .as_deref()
                    .is_some_and(|c| c.starts_with("application/x-www-form-urlencoded"));
                if !form_encoded {
                    return Err(Failure::invalid(format!(
                        "fake Stripe: POST bodies are form-encoded, got {content_type:?}"
                    )));
                }
                let Some(key) = idempotency_key.clone().filter(|k| !k.is_empty()) else {
                    return Err(Failure::invalid(
                        "fake Stripe: every Portico POST carries an Idempotency-Key",
                    ));
                };
                Ok((account, Some(key), form))
            }
            "GET" if form.is_empty() => Ok((account, None, form)),
            "GET" => Err(Failure::invalid("fake Stripe: a GET with a body")),
            other => Err(Failure::invalid(format!("fake Stripe: method {other}"))),
        }
    })();

    let answer: Answer = match checked {
        Err(failure) => Err(failure),
        Ok((account, key, form)) => {
            let endpoint = format!("{method} {path}");
            match key {
                None => route(&mut state, &account, &method, &path, &form),
                Some(key) => idempotent(
                    &mut state,
                    &mut recorded,
                    (account, key),
                    endpoint,
                    &path,
                    form,
                ),
            }
        }
    };
    let (status, body) = match answer {
        Ok(answer) => answer,
        Err(failure) => (failure.status, failure.body),
    };
    recorded.status = status;
    let replayed = recorded.replayed;
    state.requests.push(recorded);
    drop(state);

    let mut response = Response::builder()
        .status(StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .content_type("application/json")
        .header(
            "request-id",
            format!("req_fake{}", super::random_suffix(12)),
        );
    if replayed {
        response = response.header("idempotent-replayed", "true");
    }
    response.body(body.to_string())
}

/// Stripe's idempotency: the first answer is stored (when the endpoint ran: a success or a
/// card error, not a validation failure) and replayed for the same key and parameters; the
/// same key with other parameters or on another endpoint is an `idempotency_error`.
fn idempotent(
    state: &mut State,
    recorded: &mut RecordedRequest,
    slot: (String, String),
    endpoint: String,
    path: &str,
    form: Vec<(String, String)>,
) -> Answer {
    let mut params = form.clone();
    params.sort();
    if let Some(stored) = state.idempotency.get(&slot) {
        if stored.endpoint != endpoint {
            return Err(Failure::new(
                400,
                "idempotency_error",
                None,
                &format!(
                    "Keys for idempotent requests can only be used for the same endpoint they \
                     were first used for ('{}' vs '{endpoint}'). Try using a key other than \
                     '{}' if you meant to execute a different request.",
                    stored.endpoint, slot.1
                ),
            ));
        }
        if stored.params != params {
            return Err(Failure::new(
                400,
                "idempotency_error",
                None,
                &format!(
                    "Keys for idempotent requests can only be used with the same parameters \
                     they were first used with. Try using a key other than '{}' if you meant \
                     to execute a different request.",
                    slot.1
                ),
            ));
        }
        recorded.replayed = true;
        return Ok((stored.status, stored.body.clone()));
    }
    let is_payment_intent_create = path == "/v1/payment_intents";
    let answer = route(state, &slot.0, "POST", path, &form);
    let (status, body) = match &answer {
        Ok((status, body)) => (*status, body.clone()),
        Err(failure) => (failure.status, failure.body.clone()),
    };
    if (200..300).contains(&status) || status == 402 {
        state.idempotency.insert(
            slot,
            Stored {
                endpoint,
                params,
                status,
                body,
            },
        );
        if is_payment_intent_create && state.fail_next_payment_intent_after_charge {
            state.fail_next_payment_intent_after_charge = false;
            return Err(Failure::new(
                500,
                "api_error",
                None,
                "fake Stripe: scripted failure after the charge",
            ));
        }
    }
    answer
}

fn route(
    state: &mut State,
    account: &str,
    method: &str,
    path: &str,
    form: &[(String, String)],
) -> Answer {
    let segments: Vec<&str> = path
        .strip_prefix("/v1/")
        .map(|rest| rest.split('/').collect())
        .unwrap_or_default();
    match (method, segments.as_slice()) {
        ("POST", ["customers"]) => create_customer(state, account, form),
        ("GET", ["customers", id]) => {
            found(state.account(account).customers.get(*id), "customer", id)
        }
        ("POST", ["customers", id]) => update_customer(state, account, id, form),
        ("POST", ["setup_intents"]) => create_setup_intent(state, account, form),
        ("GET", ["setup_intents", id]) => found(
            state.account(account).setup_intents.get(*id),
            "setup_intent",
            id,
        ),
        ("GET", ["payment_methods", id]) => found(
            state.account(account).payment_methods.get(*id),
            "PaymentMethod",
            id,
        ),
        ("POST", ["payment_methods", id]) => update_payment_method(state, account, id, form),
        ("POST", ["payment_methods", id, "detach"]) => {
            detach_payment_method(state, account, id, form)
        }
        ("POST", ["payment_intents"]) => create_payment_intent(state, account, form),
        ("GET", ["payment_intents", id]) => found(
            state.account(account).payment_intents.get(*id),
            "payment_intent",
            id,
        ),
        _ => Err(Failure::new(
            404,
            "invalid_request_error",
            None,
            &format!("Unrecognized request URL ({method}: {path})."),
        )),
    }
}

fn found(object: Option<&Value>, what: &str, id: &str) -> Answer {
    object
        .map(|o| (200, o.clone()))
        .ok_or_else(|| Failure::missing(what, id))
}

/// Stripe refuses parameters it does not know; so does the fake, per endpoint.
fn only_known(form: &[(String, String)], known: &[&str]) -> Result<(), Failure> {
    for (key, _) in form {
        let top = key.split('[').next().unwrap_or_default();
        if top != "expand" && !known.contains(&top) {
            return Err(Failure::invalid_param(
                key,
                format!("Received unknown parameter: {key}"),
            ));
        }
    }
    Ok(())
}

fn param<'a>(form: &'a [(String, String)], name: &str) -> Option<&'a str> {
    form.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// `name[]=a&name[]=b` or `name[0]=a&name[1]=b`.
fn list<'a>(form: &'a [(String, String)], name: &str) -> Vec<&'a str> {
    form.iter()
        .filter(|(k, _)| {
            k.strip_prefix(name)
                .and_then(|rest| rest.strip_prefix('['))
                .and_then(|rest| rest.strip_suffix(']'))
                .is_some_and(|index| index.chars().all(|c| c.is_ascii_digit()))
        })
        .map(|(_, v)| v.as_str())
        .collect()
}

/// `metadata[key]=value` pairs as an object.
fn hash(form: &[(String, String)], name: &str) -> Map<String, Value> {
    form.iter()
        .filter_map(|(k, v)| {
            let inner = k.strip_prefix(name)?.strip_prefix('[')?.strip_suffix(']')?;
            (!inner.contains('[')).then(|| (inner.to_owned(), json!(v)))
        })
        .collect()
}

fn integer(form: &[(String, String)], name: &str) -> Result<Option<i64>, Failure> {
    param(form, name)
        .map(|v| {
            v.parse::<i64>()
                .map_err(|_| Failure::invalid_param(name, format!("Invalid integer: {v}")))
        })
        .transpose()
}

fn boolean(form: &[(String, String)], name: &str) -> Result<Option<bool>, Failure> {
    param(form, name)
        .map(|v| match v {
            "true" => Ok(true),
            "false" => Ok(false),
            _ => Err(Failure::invalid_param(
                name,
                format!("Invalid boolean: {v}"),
            )),
        })
        .transpose()
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn create_customer(state: &mut State, account: &str, form: &[(String, String)]) -> Answer {
    only_known(form, &["name", "email", "metadata", "description", "phone"])?;
    let id = state.id("cus");
    let mut customer: Value = serde_json::from_str(CUSTOMER).expect("fixture");
    customer["id"] = json!(id);
    customer["created"] = json!(now());
    for field in ["name", "email", "description", "phone"] {
        if let Some(value) = param(form, field) {
            customer[field] = json!(value);
        }
    }
    customer["metadata"] = Value::Object(hash(form, "metadata"));
    let account = state.account(account);
    account.customers.insert(id, customer.clone());
    Ok((200, customer))
}

fn update_customer(
    state: &mut State,
    account: &str,
    id: &str,
    form: &[(String, String)],
) -> Answer {
    only_known(
        form,
        &[
            "name",
            "email",
            "metadata",
            "description",
            "phone",
            "invoice_settings",
        ],
    )?;
    let account = state.account(account);
    if !account.customers.contains_key(id) {
        return Err(Failure::missing("customer", id));
    }
    let default_key = "invoice_settings[default_payment_method]";
    if let Some(method) = param(form, default_key)
        && !method.is_empty()
    {
        let attached = account
            .payment_methods
            .get(method)
            .is_some_and(|m| m["customer"] == id);
        if !attached {
            return Err(Failure::invalid_param(
                default_key,
                format!(
                    "The customer does not have a payment method with the ID {method}. The \
                     payment method must be attached to the customer."
                ),
            ));
        }
    }
    let customer = account.customers.get_mut(id).expect("checked above");
    for field in ["name", "email", "description", "phone"] {
        if let Some(value) = param(form, field) {
            customer[field] = json!(value);
        }
    }
    if let Some(method) = param(form, default_key) {
        customer["invoice_settings"]["default_payment_method"] = if method.is_empty() {
            Value::Null
        } else {
            json!(method)
        };
    }
    for (key, value) in hash(form, "metadata") {
        customer["metadata"][key] = value;
    }
    Ok((200, customer.clone()))
}

fn create_setup_intent(state: &mut State, account: &str, form: &[(String, String)]) -> Answer {
    only_known(
        form,
        &[
            "customer",
            "usage",
            "payment_method_types",
            "allowed_payment_method_types",
            "metadata",
            "description",
        ],
    )?;
    let id = state.id("seti");
    let secret = super::random_suffix(24);
    let account = state.account(account);
    let customer = param(form, "customer");
    if let Some(customer) = customer
        && !account.customers.contains_key(customer)
    {
        return Err(Failure::missing_param("customer", "customer", customer));
    }
    let usage = param(form, "usage").unwrap_or("off_session");
    if !["off_session", "on_session"].contains(&usage) {
        return Err(Failure::invalid_param(
            "usage",
            format!("Invalid usage: must be one of on_session or off_session, got {usage}"),
        ));
    }
    let mut types = list(form, "payment_method_types");
    types.extend(list(form, "allowed_payment_method_types"));
    if types.is_empty() {
        types.push("card");
    }
    let mut setup: Value = serde_json::from_str(SETUP_INTENT).expect("fixture");
    setup["id"] = json!(id);
    setup["client_secret"] = json!(format!("{id}_secret_{secret}"));
    setup["created"] = json!(now());
    setup["customer"] = json!(customer);
    setup["usage"] = json!(usage);
    setup["payment_method_types"] = json!(types);
    setup["metadata"] = Value::Object(hash(form, "metadata"));
    account.setup_intents.insert(id, setup.clone());
    Ok((200, setup))
}

fn update_payment_method(
    state: &mut State,
    account: &str,
    id: &str,
    form: &[(String, String)],
) -> Answer {
    only_known(
        form,
        &["billing_details", "card", "metadata", "allow_redisplay"],
    )?;
    let account = state.account(account);
    let method = account
        .payment_methods
        .get_mut(id)
        .ok_or_else(|| Failure::missing("PaymentMethod", id))?;
    if method["customer"].is_null() {
        return Err(Failure::invalid(
            "You must save this PaymentMethod to a customer before you can update it.",
        ));
    }
    for (key, value) in form {
        let Some(field) = key
            .strip_prefix("billing_details[")
            .and_then(|k| k.strip_suffix(']'))
        else {
            continue;
        };
        let value = if value.is_empty() {
            Value::Null
        } else {
            json!(value)
        };
        match field.split_once("][") {
            Some(("address", part))
                if ["line1", "line2", "city", "state", "postal_code", "country"]
                    .contains(&part) =>
            {
                method["billing_details"]["address"][part] = value;
            }
            None if ["name", "email", "phone"].contains(&field) => {
                method["billing_details"][field] = value;
            }
            _ => {
                return Err(Failure::invalid_param(
                    key,
                    format!("Received unknown parameter: {key}"),
                ));
            }
        }
    }
    let month = integer(form, "card[exp_month]")?;
    let year = integer(form, "card[exp_year]")?;
    if month.is_some() || year.is_some() {
        if method["type"] != "card" {
            return Err(Failure::invalid_param(
                "card",
                "This PaymentMethod is not a card.",
            ));
        }
        if let Some(month) = month {
            if !(1..=12).contains(&month) {
                return Err(Failure::new(
                    402,
                    "card_error",
                    Some("invalid_expiry_month"),
                    "Your card's expiration month is invalid.",
                ));
            }
            method["card"]["exp_month"] = json!(month);
        }
        if let Some(year) = year {
            method["card"]["exp_year"] = json!(year);
        }
    }
    for (key, value) in hash(form, "metadata") {
        method["metadata"][key] = value;
    }
    Ok((200, method.clone()))
}

fn detach_payment_method(
    state: &mut State,
    account: &str,
    id: &str,
    form: &[(String, String)],
) -> Answer {
    only_known(form, &[])?;
    let account = state.account(account);
    let method = account
        .payment_methods
        .get_mut(id)
        .ok_or_else(|| Failure::missing("PaymentMethod", id))?;
    let Some(customer) = method["customer"].as_str().map(str::to_owned) else {
        return Err(Failure::invalid(
            "The payment method you provided is not attached to a customer so detachment is \
             impossible.",
        ));
    };
    method["customer"] = Value::Null;
    let detached = method.clone();
    // Stripe forgets a detached method as the customer's default.
    if let Some(customer) = account.customers.get_mut(&customer)
        && customer["invoice_settings"]["default_payment_method"] == id
    {
        customer["invoice_settings"]["default_payment_method"] = Value::Null;
    }
    Ok((200, detached))
}

fn create_payment_intent(state: &mut State, account_id: &str, form: &[(String, String)]) -> Answer {
    only_known(
        form,
        &[
            "amount",
            "currency",
            "customer",
            "payment_method",
            "confirm",
            "off_session",
            "description",
            "metadata",
            "payment_method_types",
            "allowed_payment_method_types",
            "setup_future_usage",
        ],
    )?;
    let amount = integer(form, "amount")?
        .ok_or_else(|| Failure::invalid_param("amount", "Missing required param: amount."))?;
    if amount < 1 {
        return Err(Failure::invalid_param(
            "amount",
            "This value must be greater than or equal to 1.",
        ));
    }
    let currency = param(form, "currency")
        .ok_or_else(|| Failure::invalid_param("currency", "Missing required param: currency."))?;
    if currency.len() != 3 || !currency.bytes().all(|b| b.is_ascii_lowercase()) {
        return Err(Failure::invalid_param(
            "currency",
            format!("Invalid currency: {currency}. Stripe supports these currencies: usd, eur, …"),
        ));
    }
    let confirm = boolean(form, "confirm")?.unwrap_or(false);
    // `off_session` is a boolean, or `one_off` / `recurring`.
    if let Some(off_session) = param(form, "off_session")
        && !["true", "false", "one_off", "recurring"].contains(&off_session)
    {
        return Err(Failure::invalid_param(
            "off_session",
            format!("Invalid off_session: {off_session}"),
        ));
    }
    let id = state.id("pi");
    let charge_id = state.id("ch");
    let secret = super::random_suffix(24);
    let account = state.account(account_id);
    let customer = param(form, "customer");
    if let Some(customer) = customer
        && !account.customers.contains_key(customer)
    {
        return Err(Failure::missing_param("customer", "customer", customer));
    }
    let method_id = param(form, "payment_method");
    let behaviour = match method_id {
        None => None,
        Some(method_id) => {
            let method = account.payment_methods.get(method_id).ok_or_else(|| {
                Failure::missing_param("payment_method", "PaymentMethod", method_id)
            })?;
            let owner = method["customer"].as_str();
            if owner.is_some() && owner != customer {
                return Err(Failure::invalid_param(
                    "payment_method",
                    format!(
                        "The provided PaymentMethod {method_id} belongs to a Customer other \
                         than the one supplied."
                    ),
                ));
            }
            account.behaviours.get(method_id).copied()
        }
    };
    let mut intent: Value = serde_json::from_str(PAYMENT_INTENT).expect("fixture");
    intent["id"] = json!(id);
    intent["client_secret"] = json!(format!("{id}_secret_{secret}"));
    intent["created"] = json!(now());
    intent["amount"] = json!(amount);
    intent["currency"] = json!(currency);
    intent["customer"] = json!(customer);
    intent["payment_method"] = json!(method_id);
    intent["description"] = json!(param(form, "description"));
    intent["metadata"] = Value::Object(hash(form, "metadata"));
    let types = list(form, "payment_method_types");
    if !types.is_empty() {
        intent["payment_method_types"] = json!(types);
    }
    if !confirm {
        intent["status"] = json!(if method_id.is_some() {
            "requires_confirmation"
        } else {
            "requires_payment_method"
        });
        account.payment_intents.insert(id, intent.clone());
        return Ok((200, intent));
    }
    let Some(behaviour) = behaviour else {
        return Err(Failure::invalid(
            "You cannot confirm this PaymentIntent because it's missing a payment method.",
        ));
    };
    intent["latest_charge"] = json!(charge_id);
    let mut charge = FakeCharge {
        payment_intent: id.clone(),
        amount,
        currency: currency.to_owned(),
        status: String::new(),
    };
    let decline = match behaviour {
        Behaviour::Succeed => {
            intent["status"] = json!("succeeded");
            intent["amount_received"] = json!(amount);
            charge.status = "succeeded".to_owned();
            None
        }
        Behaviour::Processing => {
            intent["status"] = json!("processing");
            intent["payment_method_types"] = json!(["us_bank_account"]);
            charge.status = "pending".to_owned();
            None
        }
        Behaviour::Decline => Some(("generic_decline", "Your card was declined.")),
        Behaviour::InsufficientFunds => {
            Some(("insufficient_funds", "Your card has insufficient funds."))
        }
    };
    account.charges.push(charge);
    let Some((decline_code, message)) = decline else {
        account.payment_intents.insert(id, intent.clone());
        return Ok((200, intent));
    };
    let mut failure = Failure::new(402, "card_error", Some("card_declined"), message);
    failure.body["error"]["decline_code"] = json!(decline_code);
    failure.body["error"]["charge"] = json!(charge_id);
    if let Some(last) = account.charges.last_mut() {
        last.status = "failed".to_owned();
    }
    intent["status"] = json!("requires_payment_method");
    intent["last_payment_error"] = failure.body["error"].clone();
    failure.body["error"]["payment_intent"] = intent.clone();
    account.payment_intents.insert(id, intent);
    Err(failure)
}

/// `application/x-www-form-urlencoded`, decoded by hand so that keys keep their brackets and
/// order.
fn decode_form(body: &[u8]) -> Result<Vec<(String, String)>, String> {
    let text = std::str::from_utf8(body).map_err(|_| "the body is not UTF-8".to_owned())?;
    text.split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            Ok((percent_decode(key)?, percent_decode(value)?))
        })
        .collect()
}

fn percent_decode(text: &str) -> Result<String, String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or_else(|| format!("bad percent-encoding in {text:?}"))?;
                out.push(hex);
                i += 2;
            }
            byte => out.push(byte),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| format!("{text:?} is not UTF-8 once decoded"))
}
