//! Billing on the firm side: the Billing section of a member's file page (invoices and
//! payments, a draft invoice with its lines, Finalize and Void, recording a payment received
//! outside the Portal, Show in Portal / Remove from Portal one at a time or several at once),
//! the invoice page (`/firm/invoices/{id}`) and Options > Billing (`/firm/options/billing`).
//!
//! Every change goes through `crate::billing` (the same functions as the JSON API), so the
//! rules live in one place; this module turns forms into calls and refusals into notices.

use poem::http::StatusCode;
use poem::web::{Data, Form, Path, Query, Redirect};
use poem::{IntoResponse, Request, Response, Route, get, handler, post};
use portico_payments::invoices::{self, Invoice, InvoiceStatus, MAX_AMOUNT};
use portico_payments::ledger::{self, OFFLINE_METHODS, Payment};
use portico_payments::settings::{self as billing_settings, CURRENCIES};
use portico_payments::{BillingError, format_money};
use portico_platform::TenantTx;
use portico_platform::ids::{FileId, InvoiceId, PaymentId};
use portico_tenants::files::File;
use serde::{Deserialize, Serialize};

use super::directory::{FileOutcome, file_view};
use super::{not_found, render, require_admin_page, require_member, require_member_form};
use crate::auth::MemberCtx;
use crate::billing::{self, NewInvoiceInput, OfflinePaymentInput};
use crate::error::ApiError;
use crate::state::AppState;

const OPTIONS_PAGE: &str = "/firm/options/billing";

/// Adds this module's pages to the firm routes.
pub fn routes(route: Route) -> Route {
    route
        .at("/firm/files/:id/invoices", post(create_invoice))
        .at("/firm/files/:id/payments", post(record_payment))
        .at("/firm/files/:id/billing/portal", post(share_selected))
        .at("/firm/invoices/:id", get(invoice_page))
        .at("/firm/invoices/:id/finalize", post(finalize_invoice))
        .at("/firm/invoices/:id/void", post(void_invoice))
        .at("/firm/invoices/:id/portal", post(share_invoice))
        .at("/firm/payments/:id/portal", post(share_payment))
        .at(OPTIONS_PAGE, get(options_page).post(save_options))
}

// ---- amounts typed in major units ----------------------------------------------------------

/// An amount typed in major units (`1250`, `1250.5`, `1,250.00`; `-150.00` where `negative`
/// is allowed, for discount lines) as minor units. Strict on purpose: a typo is refused with
/// the reason, never guessed at (no symbols, letters, more than two decimals or odd grouping).
pub fn parse_major_units(text: &str, negative: bool) -> Result<i64, String> {
    const EXAMPLE: &str = "enter an amount such as 1,250.00";
    let text = text.trim();
    if text.is_empty() {
        return Err("enter an amount".into());
    }
    let (is_negative, unsigned) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    if is_negative && !negative {
        return Err("the amount cannot be negative".into());
    }
    let (whole, fraction) = match unsigned.split_once('.') {
        Some((whole, fraction)) => (whole, Some(fraction)),
        None => (unsigned, None),
    };
    let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let cents = match fraction {
        None => 0,
        Some(f) if f.len() > 2 && all_digits(f) => {
            return Err("at most two decimals (cents)".into());
        }
        Some(f) if all_digits(f) => {
            let value: i64 = f.parse().map_err(|_| EXAMPLE.to_owned())?;
            if f.len() == 1 { value * 10 } else { value }
        }
        Some(_) => return Err(EXAMPLE.into()),
    };
    let mut groups = whole.split(',');
    let first = groups.next().unwrap_or_default();
    let grouped = whole.contains(',');
    if !all_digits(first) || (grouped && first.len() > 3) {
        return Err(EXAMPLE.into());
    }
    let mut digits = first.to_owned();
    for group in groups {
        if group.len() != 3 || !all_digits(group) {
            return Err(EXAMPLE.into());
        }
        digits.push_str(group);
    }
    // More digits than any amount we accept could have: refused before parsing can overflow.
    let too_large = || format!("the amount is too large (at most {})", MAX_AMOUNT / 100);
    if digits.trim_start_matches('0').len() > 12 {
        return Err(too_large());
    }
    let major: i64 = digits.parse().map_err(|_| EXAMPLE.to_owned())?;
    let minor = major
        .checked_mul(100)
        .and_then(|m| m.checked_add(cents))
        .ok_or_else(too_large)?;
    if minor > MAX_AMOUNT {
        return Err(too_large());
    }
    if minor == 0 {
        return Err("the amount cannot be zero".into());
    }
    Ok(if is_negative { -minor } else { minor })
}

/// Minor units as they are typed back into a form (`1250.00`).
pub(crate) fn major_text(minor: i64) -> String {
    let sign = if minor < 0 { "-" } else { "" };
    let abs = minor.unsigned_abs();
    format!("{sign}{}.{:02}", abs / 100, abs % 100)
}

// ---- what the templates show ---------------------------------------------------------------

#[derive(Serialize)]
struct LineRow {
    description: String,
    amount: String,
}

#[derive(Serialize)]
struct InvoiceRow {
    id: InvoiceId,
    number: String,
    status: &'static str,
    currency: String,
    total: String,
    paid: String,
    balance: String,
    /// The balance typed back into the payment form.
    balance_major: String,
    has_balance: bool,
    shared: bool,
    due_date: Option<String>,
    memo: String,
    description: String,
    lines: Vec<LineRow>,
    created_on: String,
    is_draft: bool,
    /// Void is refused once anything was paid (and for a void invoice).
    can_void: bool,
    /// Payments can be applied to a finalized invoice with a balance.
    payable: bool,
}

fn invoice_row(i: &Invoice) -> InvoiceRow {
    InvoiceRow {
        id: i.id,
        number: i.number.clone(),
        status: i.status.as_str(),
        currency: i.currency.as_str().to_owned(),
        total: format_money(i.money(i.total)),
        paid: format_money(i.money(i.amount_paid)),
        balance: format_money(i.money(i.balance)),
        balance_major: major_text(i.balance),
        has_balance: i.balance > 0 && i.status != InvoiceStatus::Void,
        shared: i.shared,
        due_date: i.due_date.map(|d| d.format("%Y-%m-%d").to_string()),
        memo: i.memo.clone(),
        description: i
            .lines
            .first()
            .map(|l| l.description.clone())
            .unwrap_or_default(),
        lines: i
            .lines
            .iter()
            .map(|l| LineRow {
                description: l.description.clone(),
                amount: format_money(i.money(l.amount)),
            })
            .collect(),
        created_on: i.created_at.format("%Y-%m-%d").to_string(),
        is_draft: i.status == InvoiceStatus::Draft,
        can_void: i.status != InvoiceStatus::Void && i.amount_paid == 0,
        payable: i.status == InvoiceStatus::Finalized && i.balance > 0,
    }
}

#[derive(Serialize)]
struct PaymentRow {
    id: PaymentId,
    date: String,
    amount: String,
    method: &'static str,
    /// Taken by the client in the Portal (the others were recorded by the firm).
    portal: bool,
    reference: String,
    confirmation_number: Option<String>,
    invoice_id: Option<InvoiceId>,
    invoice_number: Option<String>,
    shared: bool,
}

fn payment_row(p: &Payment, invoices: &[Invoice]) -> PaymentRow {
    PaymentRow {
        id: p.id,
        date: p.received_at.format("%Y-%m-%d").to_string(),
        amount: format_money(p.amount),
        method: billing::method_label(&p.method),
        portal: p.source == "portal",
        reference: p.reference.clone(),
        confirmation_number: p.confirmation_number.clone(),
        invoice_id: p.invoice_id,
        invoice_number: p
            .invoice_id
            .and_then(|id| invoices.iter().find(|i| i.id == id))
            .map(|i| i.number.clone()),
        shared: p.shared,
    }
}

#[derive(Serialize)]
struct MethodChoice {
    value: &'static str,
    label: &'static str,
}

fn method_choices() -> Vec<MethodChoice> {
    OFFLINE_METHODS
        .iter()
        .map(|m| MethodChoice {
            value: m,
            label: billing::method_label(m),
        })
        .collect()
}

/// The draft invoice form as typed (shown again when it is refused).
#[derive(Clone, Debug, Default, Serialize)]
pub struct InvoiceFormValues {
    currency: String,
    due_date: String,
    memo: String,
    lines: Vec<(String, String)>,
}

/// The payment form as typed.
#[derive(Clone, Debug, Default, Serialize)]
pub struct PaymentFormValues {
    amount: String,
    method: String,
    reference: String,
    received_on: String,
    invoice_id: String,
    shared: bool,
}

/// A refused billing change, shown in the file page's Billing section.
#[derive(Default)]
pub struct SectionOutcome {
    pub error: Option<String>,
    pub invoice_form: Option<InvoiceFormValues>,
    pub payment_form: Option<PaymentFormValues>,
}

/// The `?done=` notices of billing actions: fixed texts, so nothing from the address is
/// echoed into the page.
fn notice(done: &str) -> Option<&'static str> {
    Some(match done {
        "invoice-created" => "Draft invoice created. Finalize it to bill the client.",
        "invoice-finalized" => "Invoice finalized. Show it in the Portal so the client can pay it.",
        "invoice-voided" => "Invoice voided.",
        "payment-recorded" => "Payment recorded.",
        "bills-shared" => "Shown in the Portal.",
        "bills-unshared" => "Removed from the Portal.",
        "bills-unchanged" => "Nothing to change: the bills were already in that state.",
        _ => return None,
    })
}

/// What `firm_file_billing.html` needs (the `billing` context of the file page).
pub async fn firm_file_section(
    ctx: &MemberCtx,
    file: &File,
    done: &str,
    outcome: SectionOutcome,
) -> minijinja::Value {
    let loaded = async {
        let tx = ctx.db.read().await?;
        let settings = billing_settings::get(&tx).await?;
        let invoices = invoices::for_file(&tx, file.id).await?;
        let payments = ledger::for_file(&tx, file.id).await?;
        tx.commit().await?;
        Ok::<_, BillingError>((settings, invoices, payments))
    }
    .await;
    let (settings, invoices, payments) = match loaded {
        Ok(loaded) => loaded,
        Err(err) => {
            tracing::error!(error = %err, "loading the billing of a file failed");
            return minijinja::context! { failed => "The bills of this file could not be loaded." };
        }
    };
    let invoice_form = outcome.invoice_form.unwrap_or_else(|| InvoiceFormValues {
        currency: settings.currency.as_str().to_owned(),
        lines: vec![(String::new(), String::new()); 3],
        ..Default::default()
    });
    let payment_form = outcome.payment_form.unwrap_or_else(|| PaymentFormValues {
        method: "check".into(),
        received_on: chrono::Utc::now().format("%Y-%m-%d").to_string(),
        ..Default::default()
    });
    let rows: Vec<InvoiceRow> = invoices.iter().map(invoice_row).collect();
    let payable: Vec<&InvoiceRow> = rows.iter().filter(|r| r.payable).collect();
    minijinja::context! {
        invoices => rows.iter().collect::<Vec<_>>(),
        payable => payable,
        payments => payments.iter().map(|p| payment_row(p, &invoices)).collect::<Vec<_>>(),
        has_primary => file.primary_client().is_some(),
        primary => file.primary_client().map(|p| p.name.clone()),
        can_share => ctx.member.portal_rights,
        currencies => CURRENCIES,
        methods => method_choices(),
        invoice_form => invoice_form,
        payment_form => payment_form,
        notice => notice(done),
        error => outcome.error,
    }
}

// ---- responses -----------------------------------------------------------------------------

fn to_file(file: FileId, done: &str) -> Response {
    Redirect::see_other(format!("/firm/files/{file}?done={done}#billing")).into_response()
}

fn to_invoice(invoice: InvoiceId, done: &str) -> Response {
    Redirect::see_other(format!("/firm/invoices/{invoice}?done={done}")).into_response()
}

/// A refusal as a page of its own: a missing or inaccessible file or bill is the usual 404.
fn error_page(state: &AppState, err: &ApiError) -> Response {
    if err.status() == StatusCode::NOT_FOUND {
        not_found(state)
    } else {
        state.templates.error_page(err.status(), err.detail())
    }
}

/// What a page or an action reads first, in one read transaction; a failure is its page.
async fn read_or_page<T>(
    state: &AppState,
    ctx: &MemberCtx,
    read: impl AsyncFnOnce(&TenantTx) -> Result<T, ApiError>,
) -> Result<T, Response> {
    let loaded = async {
        let tx = ctx.db.read().await?;
        let value = read(&tx).await?;
        tx.commit().await?;
        Ok::<_, ApiError>(value)
    }
    .await;
    loaded.map_err(|err| error_page(state, &err))
}

/// The file page again, with the refusal in its Billing section (a missing or inaccessible
/// file or bill is the usual 404 page).
async fn refused_on_file(
    state: &AppState,
    ctx: &MemberCtx,
    file: FileId,
    err: ApiError,
    outcome: SectionOutcome,
) -> Response {
    if err.status() == StatusCode::NOT_FOUND {
        return not_found(state);
    }
    let outcome = SectionOutcome {
        error: Some(err.detail().to_owned()),
        ..outcome
    };
    file_view(
        state,
        ctx,
        &file.to_string(),
        FileOutcome::billing_refused(err.status(), outcome),
    )
    .await
}

fn parse_id<T: std::str::FromStr>(state: &AppState, raw: &str) -> Result<T, Response> {
    raw.parse().map_err(|_| not_found(state))
}

// ---- the file page's forms -----------------------------------------------------------------

/// Draft invoice: `line_description` and `line_amount` repeat once per line, in order.
fn read_invoice_form(pairs: &[(String, String)]) -> (String, InvoiceFormValues) {
    let mut csrf = String::new();
    let mut values = InvoiceFormValues::default();
    let mut descriptions = Vec::new();
    let mut amounts = Vec::new();
    for (name, value) in pairs {
        match name.as_str() {
            "csrf" => csrf = value.clone(),
            "currency" => values.currency = value.trim().to_owned(),
            "due_date" => values.due_date = value.trim().to_owned(),
            "memo" => values.memo = value.replace("\r\n", "\n"),
            "line_description" => descriptions.push(value.clone()),
            "line_amount" => amounts.push(value.clone()),
            _ => {}
        }
    }
    amounts.resize(descriptions.len().max(amounts.len()), String::new());
    descriptions.resize(amounts.len(), String::new());
    values.lines = descriptions.into_iter().zip(amounts).collect();
    (csrf, values)
}

/// The lines typed, without the blank rows; the message names the line that is wrong.
fn invoice_lines(values: &InvoiceFormValues) -> Result<Vec<invoices::Line>, String> {
    let mut lines = Vec::new();
    for (i, (description, amount)) in values.lines.iter().enumerate() {
        let (description, amount) = (description.trim(), amount.trim());
        if description.is_empty() && amount.is_empty() {
            continue;
        }
        let n = i + 1;
        if description.is_empty() {
            return Err(format!("Line {n}: add a description."));
        }
        let amount = parse_major_units(amount, true).map_err(|e| format!("Line {n}: {e}."))?;
        lines.push(invoices::Line {
            description: description.to_owned(),
            amount,
        });
    }
    if lines.is_empty() {
        return Err("Add at least one line with a description and an amount.".into());
    }
    Ok(lines)
}

#[handler]
async fn create_invoice(
    req: &Request,
    state: Data<&AppState>,
    Path(id): Path<String>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    let (csrf, values) = read_invoice_form(&pairs);
    let ctx = match require_member_form(req, &state, &csrf).await {
        Ok(ctx) => ctx,
        Err(response) => return response,
    };
    let file = match parse_id::<FileId>(&state, &id) {
        Ok(file) => file,
        Err(response) => return response,
    };
    let lines = match invoice_lines(&values) {
        Ok(lines) => lines,
        Err(message) => {
            let err = ApiError::unprocessable(message);
            let outcome = SectionOutcome {
                invoice_form: Some(values),
                ..Default::default()
            };
            return refused_on_file(&state, &ctx, file, err, outcome).await;
        }
    };
    let input = NewInvoiceInput {
        currency: Some(values.currency.clone()).filter(|c| !c.is_empty()),
        lines,
        due_date: Some(values.due_date.clone()),
        memo: Some(values.memo.clone()),
    };
    match billing::create_invoice(&ctx, file, input).await {
        Ok(_) => to_file(file, "invoice-created"),
        Err(err) => {
            let outcome = SectionOutcome {
                invoice_form: Some(values),
                ..Default::default()
            };
            refused_on_file(&state, &ctx, file, err, outcome).await
        }
    }
}

#[derive(Deserialize)]
pub struct PaymentForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    amount: String,
    #[serde(default)]
    method: String,
    #[serde(default)]
    reference: String,
    #[serde(default)]
    received_on: String,
    /// Empty: a payment on account, applied to no invoice.
    #[serde(default)]
    invoice_id: String,
    #[serde(default)]
    shared: Option<String>,
}

#[handler]
async fn record_payment(
    req: &Request,
    state: Data<&AppState>,
    Path(id): Path<String>,
    Form(form): Form<PaymentForm>,
) -> Response {
    let ctx = match require_member_form(req, &state, &form.csrf).await {
        Ok(ctx) => ctx,
        Err(response) => return response,
    };
    let file = match parse_id::<FileId>(&state, &id) {
        Ok(file) => file,
        Err(response) => return response,
    };
    let typed = PaymentFormValues {
        amount: form.amount.clone(),
        method: form.method.clone(),
        reference: form.reference.clone(),
        received_on: form.received_on.clone(),
        invoice_id: form.invoice_id.clone(),
        shared: form.shared.is_some(),
    };
    let outcome = || SectionOutcome {
        payment_form: Some(typed.clone()),
        ..Default::default()
    };
    let amount = match parse_major_units(&form.amount, false) {
        Ok(amount) => amount,
        Err(message) => {
            let err = ApiError::unprocessable(format!("Payment amount: {message}."));
            return refused_on_file(&state, &ctx, file, err, outcome()).await;
        }
    };
    let invoice_id = match form.invoice_id.trim() {
        "" => None,
        raw => match raw.parse::<InvoiceId>() {
            Ok(id) => Some(id),
            Err(_) => {
                let err = ApiError::unprocessable("Choose an invoice of this file.");
                return refused_on_file(&state, &ctx, file, err, outcome()).await;
            }
        },
    };
    let input = OfflinePaymentInput {
        amount,
        currency: None,
        invoice_id,
        method: form.method.clone(),
        reference: Some(form.reference.clone()),
        received_on: Some(form.received_on.clone()),
        shared: form.shared.is_some(),
    };
    match billing::record_payment(&state, &ctx, file, input).await {
        Ok(_) => to_file(file, "payment-recorded"),
        Err(err) => refused_on_file(&state, &ctx, file, err, outcome()).await,
    }
}

/// "Show selected in Portal" / "Remove selected from Portal": `invoice` and `payment` repeat
/// once per ticked bill; `shared` is `1` or `0` (the button pressed).
#[handler]
async fn share_selected(
    req: &Request,
    state: Data<&AppState>,
    Path(id): Path<String>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    let field = |name: &str| {
        pairs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or_default()
    };
    let ctx = match require_member_form(req, &state, field("csrf")).await {
        Ok(ctx) => ctx,
        Err(response) => return response,
    };
    let file = match parse_id::<FileId>(&state, &id) {
        Ok(file) => file,
        Err(response) => return response,
    };
    let shared = field("shared") == "1";
    let mut invoice_ids = Vec::new();
    let mut payment_ids = Vec::new();
    for (name, value) in &pairs {
        let parsed = match name.as_str() {
            "invoice" => value.parse().map(|id| invoice_ids.push(id)),
            "payment" => value.parse().map(|id| payment_ids.push(id)),
            _ => Ok(()),
        };
        if parsed.is_err() {
            return not_found(&state);
        }
    }
    if invoice_ids.is_empty() && payment_ids.is_empty() {
        let err = ApiError::unprocessable("Tick at least one invoice or payment first.");
        return refused_on_file(&state, &ctx, file, err, SectionOutcome::default()).await;
    }
    match billing::share_bills(&state, &ctx, Some(file), &invoice_ids, &payment_ids, shared).await {
        Ok(changes) => to_file(
            file,
            sharing_done(shared, changes.iter().any(|c| c.changed)),
        ),
        Err(err) => refused_on_file(&state, &ctx, file, err, SectionOutcome::default()).await,
    }
}

fn sharing_done(shared: bool, changed: bool) -> &'static str {
    match (changed, shared) {
        (false, _) => "bills-unchanged",
        (true, true) => "bills-shared",
        (true, false) => "bills-unshared",
    }
}

#[derive(Deserialize)]
pub struct ActionForm {
    #[serde(default)]
    csrf: String,
    /// `1` shows the bill in the Portal, anything else removes it (sharing forms only).
    #[serde(default)]
    shared: String,
    /// `invoice`: the form is on the invoice page, which is where to come back to.
    #[serde(default)]
    from: String,
}

/// The invoice behind an action: loaded (and access-checked) first, so the answer can go back
/// to its file; a missing or inaccessible invoice is the 404 page.
async fn action_invoice(state: &AppState, ctx: &MemberCtx, raw: &str) -> Result<Invoice, Response> {
    let id = parse_id::<InvoiceId>(state, raw)?;
    read_or_page(state, ctx, async |tx| {
        billing::member_invoice(tx, &ctx.member, id).await
    })
    .await
}

/// Where a bill action's answer goes: the invoice page when the form was on it (`invoice`),
/// else the file page.
async fn after_action(
    state: &AppState,
    ctx: &MemberCtx,
    file: FileId,
    invoice: Option<InvoiceId>,
    result: Result<&'static str, ApiError>,
) -> Response {
    match (result, invoice) {
        (Ok(done), Some(invoice)) => to_invoice(invoice, done),
        (Ok(done), None) => to_file(file, done),
        (Err(err), Some(invoice)) if err.status() != StatusCode::NOT_FOUND => {
            invoice_view(state, ctx, invoice, "", Some((err.status(), err.detail()))).await
        }
        (Err(err), _) => refused_on_file(state, ctx, file, err, SectionOutcome::default()).await,
    }
}

/// [`after_action`] for an action on `invoice`.
async fn after_invoice_action(
    state: &AppState,
    ctx: &MemberCtx,
    invoice: &Invoice,
    from: &str,
    result: Result<&'static str, ApiError>,
) -> Response {
    let back_to = (from == "invoice").then_some(invoice.id);
    after_action(state, ctx, invoice.file_id, back_to, result).await
}

async fn change_status(
    req: &Request,
    state: &AppState,
    id: &str,
    form: ActionForm,
    finalize: bool,
) -> Response {
    let ctx = match require_member_form(req, state, &form.csrf).await {
        Ok(ctx) => ctx,
        Err(response) => return response,
    };
    let invoice = match action_invoice(state, &ctx, id).await {
        Ok(invoice) => invoice,
        Err(response) => return response,
    };
    let result = billing::change_invoice_status(&ctx, invoice.id, finalize)
        .await
        .map(|_| {
            if finalize {
                "invoice-finalized"
            } else {
                "invoice-voided"
            }
        });
    after_invoice_action(state, &ctx, &invoice, &form.from, result).await
}

#[handler]
async fn finalize_invoice(
    req: &Request,
    state: Data<&AppState>,
    Path(id): Path<String>,
    Form(form): Form<ActionForm>,
) -> Response {
    change_status(req, &state, &id, form, true).await
}

#[handler]
async fn void_invoice(
    req: &Request,
    state: Data<&AppState>,
    Path(id): Path<String>,
    Form(form): Form<ActionForm>,
) -> Response {
    change_status(req, &state, &id, form, false).await
}

#[handler]
async fn share_invoice(
    req: &Request,
    state: Data<&AppState>,
    Path(id): Path<String>,
    Form(form): Form<ActionForm>,
) -> Response {
    let ctx = match require_member_form(req, &state, &form.csrf).await {
        Ok(ctx) => ctx,
        Err(response) => return response,
    };
    let invoice = match action_invoice(&state, &ctx, &id).await {
        Ok(invoice) => invoice,
        Err(response) => return response,
    };
    let shared = form.shared == "1";
    let result = billing::share_bills(&state, &ctx, None, &[invoice.id], &[], shared)
        .await
        .map(|changes| sharing_done(shared, changes.iter().any(|c| c.changed)));
    after_invoice_action(&state, &ctx, &invoice, &form.from, result).await
}

#[handler]
async fn share_payment(
    req: &Request,
    state: Data<&AppState>,
    Path(id): Path<String>,
    Form(form): Form<ActionForm>,
) -> Response {
    let ctx = match require_member_form(req, &state, &form.csrf).await {
        Ok(ctx) => ctx,
        Err(response) => return response,
    };
    let id = match parse_id::<PaymentId>(&state, &id) {
        Ok(id) => id,
        Err(response) => return response,
    };
    let payment = match read_or_page(&state, &ctx, async |tx| {
        billing::member_payment(tx, &ctx.member, id).await
    })
    .await
    {
        Ok(payment) => payment,
        Err(response) => return response,
    };
    let shared = form.shared == "1";
    let result = billing::share_bills(&state, &ctx, None, &[], &[id], shared)
        .await
        .map(|changes| sharing_done(shared, changes.iter().any(|c| c.changed)));
    let back_to = payment.invoice_id.filter(|_| form.from == "invoice");
    after_action(&state, &ctx, payment.file_id, back_to, result).await
}

// ---- the invoice page ----------------------------------------------------------------------

#[derive(Deserialize, Default)]
pub struct DoneQuery {
    #[serde(default)]
    done: String,
}

#[handler]
async fn invoice_page(
    req: &Request,
    state: Data<&AppState>,
    Path(id): Path<String>,
    Query(query): Query<DoneQuery>,
) -> Response {
    let ctx = match require_member(req, &state).await {
        Ok(ctx) => ctx,
        Err(response) => return response,
    };
    let id = match parse_id::<InvoiceId>(&state, &id) {
        Ok(id) => id,
        Err(response) => return response,
    };
    invoice_view(&state, &ctx, id, &query.done, None).await
}

async fn invoice_view(
    state: &AppState,
    ctx: &MemberCtx,
    id: InvoiceId,
    done: &str,
    refused: Option<(StatusCode, &str)>,
) -> Response {
    let loaded = read_or_page(state, ctx, async |tx| {
        let (invoice, file) = billing::member_invoice_and_file(tx, &ctx.member, id).await?;
        let payments = ledger::for_file(tx, invoice.file_id).await?;
        Ok((invoice, file, payments))
    })
    .await;
    let (invoice, file, payments) = match loaded {
        Ok(loaded) => loaded,
        Err(response) => return response,
    };
    let applied: Vec<PaymentRow> = payments
        .iter()
        .filter(|p| p.invoice_id == Some(invoice.id))
        .map(|p| payment_row(p, std::slice::from_ref(&invoice)))
        .collect();
    let client = invoice_client_name(&file, &invoice);
    render(
        state,
        ctx,
        "firm_invoice.html",
        refused.map(|(s, _)| s).unwrap_or(StatusCode::OK),
        "files",
        minijinja::context! {
            invoice => invoice_row(&invoice),
            file => file,
            client => client,
            payments => applied,
            can_share => ctx.member.portal_rights,
            notice => notice(done),
            error => refused.map(|(_, m)| m),
        },
    )
    .await
}

/// The client the invoice is addressed to, by their current name (when still on the file).
fn invoice_client_name(file: &File, invoice: &Invoice) -> Option<String> {
    file.people
        .iter()
        .find(|p| p.contact_id == invoice.client_contact_id)
        .map(|p| p.name.clone())
}

// ---- Options > Billing ---------------------------------------------------------------------

#[derive(Deserialize, Serialize, Default, Clone)]
pub struct OptionsForm {
    #[serde(default, skip_serializing)]
    csrf: String,
    #[serde(default)]
    provider: String,
    #[serde(default)]
    currency: String,
    #[serde(default)]
    stripe_account_id: String,
}

#[derive(Deserialize, Default)]
pub struct OptionsQuery {
    #[serde(default)]
    saved: String,
}

async fn options_view(
    state: &AppState,
    ctx: &MemberCtx,
    status: StatusCode,
    typed: Option<OptionsForm>,
    notice: Option<&str>,
    error: Option<&str>,
) -> Response {
    let values = match typed {
        Some(typed) => typed,
        None => {
            let loaded = async {
                let tx = ctx.db.read().await?;
                let settings = billing_settings::get(&tx).await?;
                tx.commit().await?;
                Ok::<_, BillingError>(settings)
            }
            .await;
            match loaded {
                Ok(s) => OptionsForm {
                    csrf: String::new(),
                    provider: s.provider.as_str().to_owned(),
                    currency: s.currency.as_str().to_owned(),
                    stripe_account_id: s.stripe_account_id.unwrap_or_default(),
                },
                Err(err) => {
                    return state
                        .templates
                        .server_error("loading Options > Billing failed", err);
                }
            }
        }
    };
    render(
        state,
        ctx,
        "firm_options_billing.html",
        status,
        "options",
        minijinja::context! {
            values => values,
            currencies => CURRENCIES,
            stripe_configured => billing::stripe_available(state),
            notice => notice,
            error => error,
        },
    )
    .await
}

#[handler]
async fn options_page(
    req: &Request,
    state: Data<&AppState>,
    Query(query): Query<OptionsQuery>,
) -> Response {
    let ctx = match require_member(req, &state).await {
        Ok(ctx) => ctx,
        Err(response) => return response,
    };
    if let Err(response) = require_admin_page(&state, &ctx) {
        return response;
    }
    let notice = (query.saved == "1").then_some("Billing options saved.");
    options_view(&state, &ctx, StatusCode::OK, None, notice, None).await
}

#[handler]
async fn save_options(
    req: &Request,
    state: Data<&AppState>,
    Form(form): Form<OptionsForm>,
) -> Response {
    let ctx = match require_member_form(req, &state, &form.csrf).await {
        Ok(ctx) => ctx,
        Err(response) => return response,
    };
    if let Err(response) = require_admin_page(&state, &ctx) {
        return response;
    }
    let saved = billing::save_billing_options(
        &ctx,
        &form.provider,
        &form.currency,
        Some(form.stripe_account_id.as_str()),
    )
    .await
    .map(|_| ());
    match saved {
        Ok(()) => Redirect::see_other(format!("{OPTIONS_PAGE}?saved=1")).into_response(),
        Err(err) => {
            let status = err.status();
            options_view(&state, &ctx, status, Some(form), None, Some(err.detail())).await
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// Whatever is typed, the parser answers without panicking or overflowing, and a
        /// number it accepts prints back (as `major.cc`) to the same number.
        #[test]
        fn typed_amounts_parse_or_are_refused(text in "\\PC{0,30}", negative in any::<bool>()) {
            if let Ok(minor) = parse_major_units(&text, negative) {
                prop_assert!(negative || minor >= 0);
                let printed = format!("{}{}.{:02}", if minor < 0 { "-" } else { "" }, minor.unsigned_abs() / 100, minor.unsigned_abs() % 100);
                prop_assert_eq!(parse_major_units(&printed, true), Ok(minor));
            }
        }

        #[test]
        fn every_amount_round_trips(minor in 0i64..1_000_000_000_000) {
            let printed = format!("{}.{:02}", minor / 100, minor % 100);
            prop_assert_eq!(parse_major_units(&printed, false), Ok(minor));
        }
    }

    #[test]
    fn amounts_in_major_units() {
        assert_eq!(parse_major_units("1250", false), Ok(125_000));
        assert_eq!(parse_major_units("1250.5", false), Ok(125_050));
        assert_eq!(parse_major_units("1,250.00", false), Ok(125_000));
        assert_eq!(parse_major_units(" 0.07 ", false), Ok(7));
        assert_eq!(parse_major_units("1,234,567.89", false), Ok(123_456_789));
        assert_eq!(parse_major_units("-150.00", true), Ok(-15_000));
    }

    #[test]
    fn typos_are_refused_not_guessed() {
        for bad in [
            "", "  ", "abc", "12a", "$12", "1.2.3", "1,25", "12,50.00", "1234,567", ",100",
            "1250.", ".5", "1 250", "+5", "--5", "1e3", "0x10", "١٢",
        ] {
            assert!(
                parse_major_units(bad, true).is_err(),
                "{bad:?} should be refused"
            );
        }
        assert_eq!(
            parse_major_units("1.234", false),
            Err("at most two decimals (cents)".into())
        );
        assert_eq!(
            parse_major_units("-5", false),
            Err("the amount cannot be negative".into())
        );
        assert!(parse_major_units("0", true).is_err());
        assert!(parse_major_units("0.00", false).is_err());
    }

    #[test]
    fn amounts_are_bounded() {
        assert_eq!(
            parse_major_units("10,000,000,000", false),
            Ok(MAX_AMOUNT),
            "the largest amount a line may have"
        );
        assert!(parse_major_units("10000000000.01", false).is_err());
        assert!(parse_major_units("99999999999999999999999", false).is_err());
        assert!(parse_major_units("000000000000000000001", false).is_ok());
    }

    #[test]
    fn major_text_round_trips() {
        for minor in [1, 99, 100, 125_050, -15_000] {
            assert_eq!(parse_major_units(&major_text(minor), true), Ok(minor));
        }
    }

    #[test]
    fn invoice_lines_skip_blank_rows_and_name_the_wrong_one() {
        let values = InvoiceFormValues {
            lines: vec![
                ("Consultation".into(), "1,250.00".into()),
                (String::new(), String::new()),
                ("Courtesy discount".into(), "-250".into()),
            ],
            ..Default::default()
        };
        let lines = invoice_lines(&values).expect("valid lines");
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[1].amount, -25_000);
        let bad = InvoiceFormValues {
            lines: vec![
                ("Consultation".into(), "100".into()),
                ("Filing".into(), "12.345".into()),
            ],
            ..Default::default()
        };
        assert_eq!(
            invoice_lines(&bad).unwrap_err(),
            "Line 2: at most two decimals (cents)."
        );
        assert!(invoice_lines(&InvoiceFormValues::default()).is_err());
    }

    #[test]
    fn repeated_line_fields_are_read_in_order() {
        let pairs: Vec<(String, String)> = [
            ("csrf", "t"),
            ("line_description", "A"),
            ("line_amount", "1"),
            ("line_description", "B"),
            ("line_amount", "2"),
        ]
        .iter()
        .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
        .collect();
        let (csrf, values) = read_invoice_form(&pairs);
        assert_eq!(csrf, "t");
        assert_eq!(
            values.lines,
            vec![("A".into(), "1".into()), ("B".into(), "2".into())]
        );
    }
}
