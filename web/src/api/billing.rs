//! Billing over JSON: invoices, payments and their Portal sharing, Options > Billing (firm
//! side); the Billing module, payment methods and Pay Now (client side). Money is always
//! `{amount: <integer minor units>, currency}`.

use chrono::{DateTime, NaiveDate, Utc};
use poem::web::Data;
use poem_openapi::param::{Header, Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};
use portico_payments::ProviderKind;
use portico_payments::checkout::{PayResult, PayStatus};
use portico_payments::invoices::{self, Invoice};
use portico_payments::ledger::{self, BillingItem, BillingView, ClientInvoice, Payment};
use portico_payments::methods::{self, DetailsChange, SavedMethod};
use portico_payments::provider::BillingAddress;
use portico_payments::settings::{self as billing_settings, CURRENCIES};
use portico_platform::ids::{InvoiceId, PaymentId, PaymentMethodId};
use portico_platform::money::Money;
use portico_tenants::audit::{self, AuditEvent};

use super::items::SharedBody;
use super::kept_json::KeptJson;
use super::{
    Answer, ApiTags, Conflict, JsonBody, PaymentRequired, Provider, Session, Unprocessable,
};
use crate::auth::FirmMember;
use crate::billing::{self, NewInvoiceInput, OfflinePaymentInput};
use crate::client_auth::PortalClient;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

#[derive(Object, Clone)]
pub struct MoneyView {
    /// Integer minor units (cents).
    pub amount: i64,
    /// ISO 4217 code.
    pub currency: String,
}

impl From<Money> for MoneyView {
    fn from(m: Money) -> Self {
        Self {
            amount: m.amount,
            currency: m.currency.as_str().to_owned(),
        }
    }
}

#[derive(Object)]
pub struct LineView {
    pub description: String,
    /// Minor units; negative for a discount.
    pub amount: i64,
}

impl From<invoices::Line> for LineView {
    fn from(l: invoices::Line) -> Self {
        Self {
            description: l.description,
            amount: l.amount,
        }
    }
}

impl From<LineView> for invoices::Line {
    fn from(l: LineView) -> Self {
        Self {
            description: l.description,
            amount: l.amount,
        }
    }
}

#[derive(Object)]
pub struct InvoiceView {
    pub id: uuid::Uuid,
    pub file_id: uuid::Uuid,
    /// The file's primary client when the invoice was created.
    pub client_contact_id: uuid::Uuid,
    pub number: String,
    /// `draft`, `finalized`, `paid` or `void`.
    pub status: String,
    pub currency: String,
    pub total: MoneyView,
    pub amount_paid: MoneyView,
    pub balance: MoneyView,
    /// `YYYY-MM-DD`.
    #[oai(nullable)]
    pub due_date: Option<String>,
    pub memo: String,
    /// Shown in the Portal.
    pub shared: bool,
    pub lines: Vec<LineView>,
    pub created_at: DateTime<Utc>,
    #[oai(nullable)]
    pub finalized_at: Option<DateTime<Utc>>,
    #[oai(nullable)]
    pub paid_at: Option<DateTime<Utc>>,
}

impl From<Invoice> for InvoiceView {
    fn from(i: Invoice) -> Self {
        Self {
            id: i.id.as_uuid(),
            file_id: i.file_id.as_uuid(),
            client_contact_id: i.client_contact_id.as_uuid(),
            total: i.money(i.total).into(),
            amount_paid: i.money(i.amount_paid).into(),
            balance: i.money(i.balance).into(),
            number: i.number,
            status: i.status.as_str().to_owned(),
            currency: i.currency.as_str().to_owned(),
            due_date: i.due_date.map(|d| d.format("%Y-%m-%d").to_string()),
            memo: i.memo,
            shared: i.shared,
            lines: i.lines.into_iter().map(LineView::from).collect(),
            created_at: i.created_at,
            finalized_at: i.finalized_at,
            paid_at: i.paid_at,
        }
    }
}

#[derive(Object)]
pub struct PaymentView {
    pub id: uuid::Uuid,
    pub file_id: uuid::Uuid,
    #[oai(nullable)]
    pub invoice_id: Option<uuid::Uuid>,
    pub amount: MoneyView,
    /// `check`, `cash`, `bank_transfer`, `card`, `other` (offline) or `card`/`bank_account`
    /// (Portal).
    pub method: String,
    /// `offline` or `portal`.
    pub source: String,
    pub reference: String,
    #[oai(nullable)]
    pub confirmation_number: Option<String>,
    #[oai(nullable)]
    pub transaction_id: Option<String>,
    pub shared: bool,
    pub received_at: DateTime<Utc>,
}

impl From<Payment> for PaymentView {
    fn from(p: Payment) -> Self {
        Self {
            id: p.id.as_uuid(),
            file_id: p.file_id.as_uuid(),
            invoice_id: p.invoice_id.map(|i| i.as_uuid()),
            amount: p.amount.into(),
            method: p.method,
            source: p.source,
            reference: p.reference,
            confirmation_number: p.confirmation_number,
            transaction_id: p.provider_payment_id,
            shared: p.shared,
            received_at: p.received_at,
        }
    }
}

#[derive(Object)]
pub struct FileBillingView {
    pub invoices: Vec<InvoiceView>,
    pub payments: Vec<PaymentView>,
}

#[derive(Object)]
pub struct NewInvoiceBody {
    /// ISO 4217; the firm's billing currency when absent.
    #[oai(nullable)]
    pub currency: Option<String>,
    pub lines: Vec<LineView>,
    /// `YYYY-MM-DD`.
    #[oai(nullable)]
    pub due_date: Option<String>,
    #[oai(nullable)]
    pub memo: Option<String>,
}

#[derive(Object)]
pub struct NewPaymentBody {
    /// Minor units.
    pub amount: i64,
    #[oai(nullable)]
    pub currency: Option<String>,
    /// Applies the payment to this invoice (same file, finalized, not more than its balance).
    #[oai(nullable)]
    pub invoice_id: Option<uuid::Uuid>,
    /// `check`, `cash`, `bank_transfer`, `card` or `other`.
    pub method: String,
    /// Cheque number or bank reference.
    #[oai(nullable)]
    pub reference: Option<String>,
    /// `YYYY-MM-DD`; today when absent.
    #[oai(nullable)]
    pub received_on: Option<String>,
    /// Show in the Portal at once.
    #[oai(default)]
    pub shared: bool,
}

#[derive(Object)]
pub struct BulkShareBody {
    #[oai(default)]
    pub invoice_ids: Vec<uuid::Uuid>,
    #[oai(default)]
    pub payment_ids: Vec<uuid::Uuid>,
    pub shared: bool,
}

#[derive(Object)]
pub struct BulkShareView {
    /// How many bills changed (the others were already in that state).
    pub changed: u32,
}

#[derive(Object)]
pub struct BillingOptionsView {
    /// `mock` or `stripe`.
    pub provider: String,
    pub currency: String,
    /// The firm's Stripe connected account (`acct_…`).
    #[oai(nullable)]
    pub stripe_account_id: Option<String>,
    /// Whether this server has Stripe credentials (platform configuration).
    pub stripe_available: bool,
    pub providers: Vec<String>,
    pub currencies: Vec<String>,
}

#[derive(Object)]
pub struct BillingOptionsBody {
    pub provider: String,
    pub currency: String,
    #[oai(nullable)]
    pub stripe_account_id: Option<String>,
}

#[derive(ApiResponse)]
pub enum CreatedInvoice {
    #[oai(status = 201)]
    Created(Json<InvoiceView>),
}

#[derive(ApiResponse)]
pub enum CreatedPayment {
    #[oai(status = 201)]
    Created(Json<PaymentView>),
}

/// An id from the path; one that does not parse is as missing as one that does not exist.
fn path_id<T: std::str::FromStr>(raw: &str) -> ApiResult<T> {
    raw.parse().map_err(|_| ApiError::not_found())
}

fn options_view(state: &AppState, s: billing_settings::BillingSettings) -> BillingOptionsView {
    BillingOptionsView {
        provider: s.provider.as_str().to_owned(),
        currency: s.currency.as_str().to_owned(),
        stripe_account_id: s.stripe_account_id,
        stripe_available: billing::stripe_available(state),
        providers: ProviderKind::ALL
            .iter()
            .map(|k| k.as_str().to_owned())
            .collect(),
        currencies: CURRENCIES.iter().map(|c| (*c).to_owned()).collect(),
    }
}

pub struct FirmBillingApi;

#[OpenApi(prefix_path = "/firm", tag = "ApiTags::Billing")]
impl FirmBillingApi {
    /// Invoices and payments of a file
    #[oai(path = "/files/:id/billing", method = "get")]
    async fn file_billing(
        &self,
        auth: FirmMember,
        id: Path<String>,
    ) -> Answer<Json<FileBillingView>, Session> {
        let ctx = auth.0;
        let tx = ctx.db.read().await?;
        let file = billing::accessible_file(&tx, &ctx.member, path_id(&id.0)?).await?;
        let invoices = invoices::for_file(&tx, file.id).await?;
        let payments = ledger::for_file(&tx, file.id).await?;
        tx.commit().await?;
        Ok(Json(FileBillingView {
            invoices: invoices.into_iter().map(InvoiceView::from).collect(),
            payments: payments.into_iter().map(PaymentView::from).collect(),
        }))
    }

    /// Create a draft invoice
    ///
    /// The file needs a primary client: the invoice is addressed to them.
    #[oai(path = "/files/:id/invoices", method = "post")]
    async fn create_invoice(
        &self,
        auth: FirmMember,
        id: Path<String>,
        body: Json<NewInvoiceBody>,
    ) -> Answer<CreatedInvoice, (Session, JsonBody, Unprocessable)> {
        let b = body.0;
        let invoice = billing::create_invoice(
            &auth.0,
            path_id(&id.0)?,
            NewInvoiceInput {
                currency: b.currency,
                lines: b.lines.into_iter().map(invoices::Line::from).collect(),
                due_date: b.due_date,
                memo: b.memo,
            },
        )
        .await?;
        Ok(CreatedInvoice::Created(Json(invoice.into())))
    }

    /// One invoice
    #[oai(path = "/invoices/:id", method = "get")]
    async fn invoice(
        &self,
        auth: FirmMember,
        id: Path<String>,
    ) -> Answer<Json<InvoiceView>, Session> {
        let ctx = auth.0;
        let tx = ctx.db.read().await?;
        let invoice = billing::member_invoice(&tx, &ctx.member, path_id(&id.0)?).await?;
        tx.commit().await?;
        Ok(Json(invoice.into()))
    }

    /// Finalize a draft invoice
    #[oai(path = "/invoices/:id/finalize", method = "post")]
    async fn finalize(
        &self,
        auth: FirmMember,
        id: Path<String>,
    ) -> Answer<Json<InvoiceView>, (Session, Conflict)> {
        let invoice = billing::change_invoice_status(&auth.0, path_id(&id.0)?, true).await?;
        Ok(Json(invoice.into()))
    }

    /// Void an unpaid invoice
    #[oai(path = "/invoices/:id/void", method = "post")]
    async fn void(
        &self,
        auth: FirmMember,
        id: Path<String>,
    ) -> Answer<Json<InvoiceView>, (Session, Conflict)> {
        let invoice = billing::change_invoice_status(&auth.0, path_id(&id.0)?, false).await?;
        Ok(Json(invoice.into()))
    }

    /// Show in Portal / Remove from Portal (one invoice)
    ///
    /// Drafts are refused (409) with the reason.
    #[oai(path = "/invoices/:id/portal", method = "put")]
    async fn share_invoice(
        &self,
        state: Data<&AppState>,
        auth: FirmMember,
        id: Path<String>,
        body: Json<SharedBody>,
    ) -> Answer<Json<InvoiceView>, (Session, JsonBody, Conflict)> {
        let ctx = auth.0;
        let id = path_id(&id.0)?;
        // Read first so that an invoice the member cannot see is a 404 whatever their rights.
        let tx = ctx.db.read().await?;
        let mut invoice = billing::member_invoice(&tx, &ctx.member, id).await?;
        tx.commit().await?;
        let shared = body.0.shared;
        billing::share_bills(&state, &ctx, None, &[id], &[], shared).await?;
        // Sharing changes nothing else the view shows.
        invoice.shared = shared;
        Ok(Json(invoice.into()))
    }

    /// Record a payment received outside the Portal
    #[oai(path = "/files/:id/payments", method = "post")]
    async fn record_payment(
        &self,
        state: Data<&AppState>,
        auth: FirmMember,
        id: Path<String>,
        body: Json<NewPaymentBody>,
    ) -> Answer<CreatedPayment, (Session, JsonBody, Conflict, Unprocessable)> {
        let b = body.0;
        let payment = billing::record_payment(
            &state,
            &auth.0,
            path_id(&id.0)?,
            OfflinePaymentInput {
                amount: b.amount,
                currency: b.currency,
                invoice_id: b.invoice_id.map(InvoiceId::from_uuid),
                method: b.method,
                reference: b.reference,
                received_on: b.received_on,
                shared: b.shared,
            },
        )
        .await?;
        Ok(CreatedPayment::Created(Json(payment.into())))
    }

    /// Show in Portal / Remove from Portal (one payment)
    #[oai(path = "/payments/:id/portal", method = "put")]
    async fn share_payment(
        &self,
        state: Data<&AppState>,
        auth: FirmMember,
        id: Path<String>,
        body: Json<SharedBody>,
    ) -> Answer<Json<PaymentView>, (Session, JsonBody)> {
        let ctx = auth.0;
        let id = path_id(&id.0)?;
        // As for an invoice: 404 before any refusal, and the view derived, not read again.
        let tx = ctx.db.read().await?;
        let mut payment = billing::member_payment(&tx, &ctx.member, id).await?;
        tx.commit().await?;
        let shared = body.0.shared;
        billing::share_bills(&state, &ctx, None, &[], &[id], shared).await?;
        payment.shared = shared;
        Ok(Json(payment.into()))
    }

    /// Show in Portal / Remove from Portal for several bills of a file at once
    ///
    /// All or nothing: one draft refuses the whole request (409) naming the drafts.
    #[oai(path = "/files/:id/billing/portal", method = "post")]
    async fn share_many(
        &self,
        state: Data<&AppState>,
        auth: FirmMember,
        id: Path<String>,
        body: Json<BulkShareBody>,
    ) -> Answer<Json<BulkShareView>, (Session, JsonBody, Conflict, Unprocessable)> {
        let b = body.0;
        let invoices: Vec<InvoiceId> = b
            .invoice_ids
            .into_iter()
            .map(InvoiceId::from_uuid)
            .collect();
        let payments: Vec<PaymentId> = b
            .payment_ids
            .into_iter()
            .map(PaymentId::from_uuid)
            .collect();
        let changes = billing::share_bills(
            &state,
            &auth.0,
            Some(path_id(&id.0)?),
            &invoices,
            &payments,
            b.shared,
        )
        .await?;
        Ok(Json(BulkShareView {
            changed: changes.iter().filter(|c| c.changed).count() as u32,
        }))
    }

    /// Options > Billing
    #[oai(path = "/options/billing", method = "get")]
    async fn options(
        &self,
        state: Data<&AppState>,
        auth: FirmMember,
    ) -> Answer<Json<BillingOptionsView>, Session> {
        let ctx = auth.0;
        ctx.require_admin()?;
        let tx = ctx.db.read().await?;
        let settings = billing_settings::get(&tx).await?;
        tx.commit().await?;
        Ok(Json(options_view(&state, settings)))
    }

    /// Save Options > Billing (administrators)
    ///
    /// Stripe needs the firm's connected account id; the platform's Stripe secret and webhook
    /// secret come from the server's configuration.
    #[oai(path = "/options/billing", method = "put")]
    async fn save_options(
        &self,
        state: Data<&AppState>,
        auth: FirmMember,
        body: Json<BillingOptionsBody>,
    ) -> Answer<Json<BillingOptionsView>, (Session, JsonBody, Unprocessable)> {
        let b = body.0;
        let after = billing::save_billing_options(
            &auth.0,
            &b.provider,
            &b.currency,
            b.stripe_account_id.as_deref(),
        )
        .await?;
        Ok(Json(options_view(&state, after)))
    }
}

// ---- client side ----------------------------------------------------------------------------

#[derive(Object, Clone)]
pub struct BillingItemView {
    /// `invoice` or `payment`.
    pub kind: String,
    pub id: uuid::Uuid,
    pub file_id: uuid::Uuid,
    pub date: DateTime<Utc>,
    #[oai(nullable)]
    pub number: Option<String>,
    pub description: String,
    pub amount: MoneyView,
    /// Invoices: what is still due.
    #[oai(nullable)]
    pub due: Option<MoneyView>,
    #[oai(nullable)]
    pub due_date: Option<String>,
    /// Invoices: `finalized`, `paid` or `void`; payments: `received`.
    pub status: String,
    /// The Paid stamp (counts only payments shown in the Portal).
    pub paid: bool,
    #[oai(nullable)]
    pub confirmation_number: Option<String>,
}

impl From<BillingItem> for BillingItemView {
    fn from(i: BillingItem) -> Self {
        Self {
            kind: i.kind.to_owned(),
            id: i.id,
            file_id: i.file_id.as_uuid(),
            date: i.date,
            number: i.number,
            description: i.description,
            amount: i.amount.into(),
            due: i.due.map(MoneyView::from),
            due_date: i
                .due_date
                .map(|d: NaiveDate| d.format("%Y-%m-%d").to_string()),
            status: i.status,
            paid: i.paid,
            confirmation_number: i.confirmation_number,
        }
    }
}

#[derive(Object, Clone)]
pub struct ClientBillingView {
    pub view: String,
    pub items: Vec<BillingItemView>,
    /// Sum of what is due on invoices shown in the Portal (the firm's currency).
    pub balance_owing: MoneyView,
}

#[derive(Object)]
pub struct ClientInvoiceView {
    pub id: uuid::Uuid,
    pub file_id: uuid::Uuid,
    pub number: String,
    /// `finalized`, `paid` or `void` (as you see it).
    pub status: String,
    pub total: MoneyView,
    pub paid_amount: MoneyView,
    pub due: MoneyView,
    #[oai(nullable)]
    pub due_date: Option<String>,
    pub memo: String,
    pub paid: bool,
    pub lines: Vec<LineView>,
    pub payments: Vec<PaymentView>,
    #[oai(nullable)]
    pub finalized_at: Option<DateTime<Utc>>,
}

impl From<ClientInvoice> for ClientInvoiceView {
    fn from(c: ClientInvoice) -> Self {
        let status = billing::client_status(&c);
        let i = c.invoice;
        Self {
            id: i.id.as_uuid(),
            file_id: i.file_id.as_uuid(),
            total: i.money(i.total).into(),
            paid_amount: i.money(c.paid_visible).into(),
            due: i.money(c.due).into(),
            number: i.number,
            status: status.to_owned(),
            due_date: i.due_date.map(|d| d.format("%Y-%m-%d").to_string()),
            memo: i.memo,
            paid: c.paid,
            lines: i.lines.into_iter().map(LineView::from).collect(),
            payments: c.payments.into_iter().map(PaymentView::from).collect(),
            finalized_at: i.finalized_at,
        }
    }
}

#[derive(Object)]
pub struct AddressView {
    #[oai(nullable)]
    pub line1: Option<String>,
    #[oai(nullable)]
    pub line2: Option<String>,
    #[oai(nullable)]
    pub city: Option<String>,
    #[oai(nullable)]
    pub state: Option<String>,
    #[oai(nullable)]
    pub postal_code: Option<String>,
    #[oai(nullable)]
    pub country: Option<String>,
}

impl From<BillingAddress> for AddressView {
    fn from(a: BillingAddress) -> Self {
        Self {
            line1: a.line1,
            line2: a.line2,
            city: a.city,
            state: a.state,
            postal_code: a.postal_code,
            country: a.country,
        }
    }
}

impl From<AddressView> for BillingAddress {
    fn from(a: AddressView) -> Self {
        let clean = |v: Option<String>| v.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty());
        Self {
            line1: clean(a.line1),
            line2: clean(a.line2),
            city: clean(a.city),
            state: clean(a.state),
            postal_code: clean(a.postal_code),
            country: clean(a.country),
        }
    }
}

#[derive(Object)]
pub struct MethodView {
    pub id: uuid::Uuid,
    /// `card` or `bank_account`.
    pub kind: String,
    pub brand: String,
    pub last4: String,
    #[oai(nullable)]
    pub exp_month: Option<i32>,
    #[oai(nullable)]
    pub exp_year: Option<i32>,
    #[oai(nullable)]
    pub holder_name: Option<String>,
    #[oai(nullable)]
    pub email: Option<String>,
    pub billing_address: AddressView,
    pub is_default: bool,
}

impl From<SavedMethod> for MethodView {
    fn from(m: SavedMethod) -> Self {
        Self {
            id: m.id.as_uuid(),
            kind: m.kind.as_str().to_owned(),
            brand: m.brand,
            last4: m.last4,
            exp_month: m.exp_month,
            exp_year: m.exp_year,
            holder_name: m.holder_name,
            email: m.email,
            billing_address: m.billing_address.into(),
            is_default: m.is_default,
        }
    }
}

#[derive(Object)]
pub struct SetupView {
    /// `mock` or `stripe`.
    pub provider: String,
    pub setup_id: uuid::Uuid,
    /// Stripe: confirm the SetupIntent with Stripe.js using this secret.
    #[oai(nullable)]
    pub client_secret: Option<String>,
    /// Stripe: the publishable key for Stripe.js.
    #[oai(nullable)]
    pub publishable_key: Option<String>,
}

#[derive(Object)]
pub struct CompleteSetupBody {
    pub setup_id: uuid::Uuid,
    /// Stripe: the PaymentMethod id from the confirmed SetupIntent; mock: a token from
    /// `POST /mock-psp/tokens`.
    pub provider_token: String,
}

#[derive(Object)]
pub struct MethodPatch {
    #[oai(nullable)]
    pub holder_name: Option<String>,
    #[oai(nullable)]
    pub billing_address: Option<AddressView>,
    #[oai(nullable)]
    pub email: Option<String>,
    #[oai(nullable)]
    pub exp_month: Option<u32>,
    #[oai(nullable)]
    pub exp_year: Option<i32>,
}

#[derive(Object)]
pub struct PayBody {
    /// Minor units; the balance due when absent. Partial amounts are allowed; more than the
    /// balance is refused (422).
    #[oai(nullable)]
    pub amount: Option<i64>,
    pub payment_method_id: uuid::Uuid,
}

#[derive(Object)]
pub struct PayView {
    /// `succeeded`, `failed` or `pending` (outcome not known yet: retry with the same key).
    pub status: String,
    pub invoice_id: uuid::Uuid,
    pub amount: MoneyView,
    /// The provider's transaction id (our attempt id when the provider gave none).
    pub transaction_id: String,
    /// Succeeded: the confirmation number shown and emailed with the receipt.
    #[oai(nullable)]
    pub confirmation_number: Option<String>,
    #[oai(nullable)]
    pub payment_id: Option<uuid::Uuid>,
    /// Failed: why, in the provider's words.
    #[oai(nullable)]
    pub message: Option<String>,
}

impl From<PayResult> for PayView {
    fn from(r: PayResult) -> Self {
        Self {
            status: match r.status {
                PayStatus::Succeeded => "succeeded",
                PayStatus::Failed => "failed",
                PayStatus::Pending => "pending",
            }
            .to_owned(),
            invoice_id: r.invoice_id.as_uuid(),
            amount: r.amount.into(),
            transaction_id: r.transaction_id,
            confirmation_number: r.confirmation_number,
            payment_id: r.payment_id.map(|p| p.as_uuid()),
            message: r.message,
        }
    }
}

#[derive(ApiResponse)]
pub enum PayResponse {
    /// Succeeded or failed (see `status`).
    #[oai(status = 200)]
    Done(Json<PayView>),
    /// The provider has not decided yet; retry with the same Idempotency-Key.
    #[oai(status = 202)]
    Pending(Json<PayView>),
}

#[derive(ApiResponse)]
pub enum CreatedMethod {
    #[oai(status = 201)]
    Created(Json<MethodView>),
}

#[derive(ApiResponse)]
pub enum Removed {
    #[oai(status = 204)]
    Removed,
}

pub struct PortalBillingApi;

#[OpenApi(prefix_path = "/portal", tag = "ApiTags::Billing")]
impl PortalBillingApi {
    /// My bills: All Transactions, Outstanding, Since Last Login
    #[oai(path = "/billing", method = "get")]
    async fn billing(
        &self,
        state: Data<&AppState>,
        auth: PortalClient,
        view: Query<Option<String>>,
    ) -> Answer<KeptJson<ClientBillingView>, (Session, Unprocessable)> {
        let ctx = auth.0;
        let name = view.0.unwrap_or_else(|| "all".into());
        let parsed = BillingView::parse(&name)
            .ok_or_else(|| ApiError::unprocessable("view: all, outstanding or since_last_login"))?;
        let load = async {
            let (result, _) = billing::client_bills(&state, &ctx, parsed).await?;
            Ok::<_, ApiError>(ClientBillingView {
                view: name.clone(),
                items: result
                    .items
                    .into_iter()
                    .map(BillingItemView::from)
                    .collect(),
                balance_owing: result.balance_owing.into(),
            })
        };
        Ok(KeptJson::remembered(
            &state.client_reads,
            &ctx,
            "bills",
            since_last_login_key(&name, &ctx),
            load,
        )
        .await?)
    }

    /// One of my invoices
    #[oai(path = "/invoices/:id", method = "get")]
    async fn invoice(
        &self,
        state: Data<&AppState>,
        auth: PortalClient,
        id: Path<String>,
    ) -> Answer<Json<ClientInvoiceView>, Session> {
        let ctx = auth.0;
        let tx = ctx.db.read().await?;
        let scope = billing::client_scope(&state, &ctx, &tx).await?;
        let invoice = ledger::client_invoice_detail(&tx, &scope, path_id(&id.0)?).await?;
        tx.commit().await?;
        Ok(Json(invoice.into()))
    }

    /// Pay Now
    ///
    /// Requires an `Idempotency-Key` header: retrying with the same key (even concurrently)
    /// never charges twice and answers with the first outcome; the same key with a different
    /// amount, invoice or method is refused (409).
    #[oai(path = "/invoices/:id/payments", method = "post")]
    async fn pay(
        &self,
        state: Data<&AppState>,
        auth: PortalClient,
        id: Path<String>,
        #[oai(name = "Idempotency-Key")] key: Header<Option<String>>,
        body: Json<PayBody>,
    ) -> Answer<PayResponse, (Session, JsonBody, Conflict, Unprocessable, Provider)> {
        let key = key
            .0
            .ok_or_else(|| ApiError::bad_request("the Idempotency-Key header is required"))?;
        let result = billing::pay_now(
            &state,
            &auth.0,
            path_id(&id.0)?,
            body.0.amount,
            PaymentMethodId::from_uuid(body.0.payment_method_id),
            key,
        )
        .await?;
        Ok(if result.status == PayStatus::Pending {
            PayResponse::Pending(Json(result.into()))
        } else {
            PayResponse::Done(Json(result.into()))
        })
    }

    /// My saved payment methods
    #[oai(path = "/payment-methods", method = "get")]
    async fn methods(&self, auth: PortalClient) -> Answer<Json<Vec<MethodView>>, Session> {
        let ctx = auth.0;
        let tx = ctx.db.read().await?;
        let list = methods::list(&tx, ctx.client.contact_id).await?;
        tx.commit().await?;
        Ok(Json(list.into_iter().map(MethodView::from).collect()))
    }

    /// Add a payment method, step one
    ///
    /// Returns the provider's setup: with Stripe, confirm it in the browser with Stripe.js
    /// (the card number goes to Stripe, never to us); with the mock, tokenise at
    /// `/mock-psp/tokens`. Then `POST /payment-methods`.
    #[oai(path = "/payment-methods/setup", method = "post")]
    async fn begin_setup(
        &self,
        state: Data<&AppState>,
        auth: PortalClient,
    ) -> Answer<Json<SetupView>, (Session, Provider)> {
        let ctx = auth.0;
        let start =
            methods::begin_setup(&ctx.db, &state.payments, &billing::payer(&ctx.client)).await?;
        let publishable = state.settings.payments.stripe.publishable_key.clone();
        Ok(Json(SetupView {
            provider: start.provider.as_str().to_owned(),
            setup_id: start.setup_id,
            client_secret: start.client_secret,
            publishable_key: (start.provider == ProviderKind::Stripe && !publishable.is_empty())
                .then_some(publishable),
        }))
    }

    /// Add a payment method, step two
    #[oai(path = "/payment-methods", method = "post")]
    async fn complete_setup(
        &self,
        state: Data<&AppState>,
        auth: PortalClient,
        body: Json<CompleteSetupBody>,
    ) -> Answer<
        CreatedMethod,
        (
            Session,
            JsonBody,
            Conflict,
            Unprocessable,
            PaymentRequired,
            Provider,
        ),
    > {
        let ctx = auth.0;
        let method = methods::complete_setup(
            &ctx.db,
            &state.payments,
            &billing::payer(&ctx.client),
            body.0.setup_id,
            &body.0.provider_token,
        )
        .await?;
        record_client_audit(&ctx, "payment_method.added", method.id).await?;
        Ok(CreatedMethod::Created(Json(method.into())))
    }

    /// Edit a payment method
    ///
    /// Holder name, billing address, notification email and (cards) expiry; the number and
    /// type cannot change.
    #[oai(path = "/payment-methods/:id", method = "patch")]
    async fn update_method(
        &self,
        state: Data<&AppState>,
        auth: PortalClient,
        id: Path<String>,
        body: Json<MethodPatch>,
    ) -> Answer<Json<MethodView>, (Session, JsonBody, Unprocessable, PaymentRequired, Provider)>
    {
        let ctx = auth.0;
        let b = body.0;
        // Expiry dates are compared as `year * 100 + month`; a card carries a four-digit year,
        // and anything else is refused here rather than overflowing there.
        if let Some(year) = b.exp_year
            && !(1000..=9999).contains(&year)
        {
            return Err(ApiError::unprocessable("exp_year: a four-digit year").into());
        }
        let id = path_id(&id.0)?;
        let method = methods::update(
            &ctx.db,
            &state.payments,
            ctx.client.contact_id,
            id,
            &DetailsChange {
                holder_name: b.holder_name,
                email: b.email,
                billing_address: b.billing_address.map(BillingAddress::from),
                exp_month: b.exp_month,
                exp_year: b.exp_year,
            },
        )
        .await?;
        record_client_audit(&ctx, "payment_method.updated", id).await?;
        Ok(Json(method.into()))
    }

    /// Make a payment method the default
    #[oai(path = "/payment-methods/:id/default", method = "post")]
    async fn set_default(
        &self,
        state: Data<&AppState>,
        auth: PortalClient,
        id: Path<String>,
    ) -> Answer<Json<MethodView>, (Session, Provider)> {
        let ctx = auth.0;
        let method = methods::set_default(
            &ctx.db,
            &state.payments,
            &billing::payer(&ctx.client),
            path_id(&id.0)?,
        )
        .await?;
        Ok(Json(method.into()))
    }

    /// Remove a payment method
    #[oai(path = "/payment-methods/:id", method = "delete")]
    async fn remove_method(
        &self,
        state: Data<&AppState>,
        auth: PortalClient,
        id: Path<String>,
    ) -> Answer<Removed, (Session, Provider)> {
        let ctx = auth.0;
        let id = path_id(&id.0)?;
        methods::remove(&ctx.db, &state.payments, ctx.client.contact_id, id).await?;
        record_client_audit(&ctx, "payment_method.removed", id).await?;
        Ok(Removed::Removed)
    }
}

async fn record_client_audit(
    ctx: &crate::client_auth::ClientCtx,
    action: &'static str,
    id: PaymentMethodId,
) -> ApiResult<()> {
    let tx = ctx.db.write().await?;
    audit::record(
        &tx,
        AuditEvent {
            actor: ctx.client.actor(),
            action,
            target_kind: "payment_method",
            target_id: Some(id.to_string()),
            ip: ctx.ip.clone(),
            detail: None,
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// "Since Last Login" depends on the session's account as read at sign-in (a sign-in does not
/// move the firm's write epoch), so its kept answer is per previous-login time.
fn since_last_login_key(view: &str, ctx: &crate::client_auth::ClientCtx) -> String {
    match ctx.client.previous_login_at {
        Some(at) => format!("{view} {}", at.timestamp_micros()),
        None => view.to_owned(),
    }
}
