//! Billing as the web layer drives it: the glue between the `payments` crate (which knows no
//! firms, files or clients beyond plain ids) and `tenants` (who may see which file, who the
//! responsible lawyer is, the audit trail and the activity feed). The JSON API and the HTML
//! pages both call these functions, so a rule lives in one place.

use portico_payments::checkout::{self, PayNow, PayResult, PayStatus, Started};
use portico_payments::invoices::{
    self, BillKind, Invoice, InvoiceStatus, NewInvoice, SharingChange,
};
use portico_payments::ledger::{
    self, BillingView, ClientBilling, ClientInvoice, ClientScope, OfflinePayment, Payment,
};
use portico_payments::methods::Payer;
use portico_payments::{BillingError, ProviderError, format_money};
use portico_platform::TenantTx;
use portico_platform::ids::{FileId, InvoiceId, PaymentId, PaymentMethodId};
use portico_tenants::activity::{self, ActivityKind};
use portico_tenants::audit::{self, AuditEvent};
use portico_tenants::files::{self, File};
use portico_tenants::members::Member;
use portico_tenants::notifications;
use portico_tenants::portal_access::{self, Client, SharedFile};
use sea_orm::DbErr;
use secrecy::ExposeSecret;

use crate::auth::MemberCtx;
use crate::client_auth::ClientCtx;
use crate::error::ApiError;
use crate::state::AppState;

impl From<BillingError> for ApiError {
    fn from(err: BillingError) -> Self {
        match err {
            BillingError::Invalid(m) => ApiError::unprocessable(m),
            BillingError::NotFound => ApiError::not_found(),
            BillingError::Conflict(m) => ApiError::conflict(m),
            BillingError::Provider(ProviderError::NotConfigured(m)) => ApiError::new(
                poem::http::StatusCode::SERVICE_UNAVAILABLE,
                format!("Online payments are unavailable: {m}"),
            ),
            BillingError::Provider(ProviderError::Declined { message, .. }) => {
                ApiError::new(poem::http::StatusCode::PAYMENT_REQUIRED, message)
            }
            BillingError::Provider(other) => {
                tracing::warn!(error = %other, "payment provider call failed");
                ApiError::new(
                    poem::http::StatusCode::BAD_GATEWAY,
                    "The payment provider could not be reached. Nothing was charged twice: \
                     try again with the same Idempotency-Key.",
                )
            }
            BillingError::Db(e) => ApiError::internal(e),
        }
    }
}

/// A file the member can access, or 404.
pub async fn accessible_file(
    tx: &TenantTx,
    member: &Member,
    file: FileId,
) -> Result<File, ApiError> {
    files::get(tx, member, file)
        .await?
        .ok_or_else(ApiError::not_found)
}

/// An invoice on a file the member can access, or 404 (the same for another firm's).
pub async fn member_invoice(
    tx: &TenantTx,
    member: &Member,
    id: InvoiceId,
) -> Result<Invoice, ApiError> {
    member_invoice_and_file(tx, member, id)
        .await
        .map(|(invoice, _)| invoice)
}

/// [`member_invoice`] with the file it is on, which the access check has just read.
pub async fn member_invoice_and_file(
    tx: &TenantTx,
    member: &Member,
    id: InvoiceId,
) -> Result<(Invoice, File), ApiError> {
    let invoice = invoices::get(tx, id).await?;
    let file = accessible_file(tx, member, invoice.file_id).await?;
    Ok((invoice, file))
}

pub async fn member_payment(
    tx: &TenantTx,
    member: &Member,
    id: PaymentId,
) -> Result<Payment, ApiError> {
    let payment = ledger::get(tx, id).await?;
    accessible_file(tx, member, payment.file_id).await?;
    Ok(payment)
}

fn require_share_right(member: &Member) -> Result<(), ApiError> {
    if member.portal_rights {
        Ok(())
    } else {
        Err(ApiError::forbidden(
            "you are not permitted to share items and invite clients to the Portal",
        ))
    }
}

fn primary_client(file: &File) -> Result<portico_platform::ids::ContactId, ApiError> {
    file.primary_client().map(|p| p.contact_id).ok_or_else(|| {
        ApiError::unprocessable(format!(
            "file {} has no primary client; add one before billing",
            file.number
        ))
    })
}

pub struct NewInvoiceInput {
    pub currency: Option<String>,
    pub lines: Vec<invoices::Line>,
    pub due_date: Option<String>,
    pub memo: Option<String>,
}

pub async fn create_invoice(
    ctx: &MemberCtx,
    file: FileId,
    input: NewInvoiceInput,
) -> Result<Invoice, ApiError> {
    let tx = ctx.db.write().await?;
    let file = accessible_file(&tx, &ctx.member, file).await?;
    let client = primary_client(&file)?;
    let invoice = invoices::create_draft(
        &tx,
        NewInvoice {
            file: file.id,
            client,
            currency: input.currency,
            lines: input.lines,
            due_date: input.due_date,
            memo: input.memo,
            created_by: ctx.member.id,
        },
    )
    .await?;
    audit::record(
        &tx,
        AuditEvent {
            actor: ctx.member.actor(),
            action: "invoice.created",
            target_kind: "invoice",
            target_id: Some(invoice.id.to_string()),
            ip: ctx.ip.clone(),
            detail: Some(
                serde_json::json!({"number": invoice.number, "file": file.number,
                "total": invoice.total, "currency": invoice.currency.as_str()}),
            ),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(invoice)
}

/// `finalize` or `void`, with its audit entry.
pub async fn change_invoice_status(
    ctx: &MemberCtx,
    id: InvoiceId,
    finalize: bool,
) -> Result<Invoice, ApiError> {
    let tx = ctx.db.write().await?;
    member_invoice(&tx, &ctx.member, id).await?;
    let invoice = if finalize {
        invoices::finalize(&tx, id).await?
    } else {
        invoices::void(&tx, id).await?
    };
    audit::record(
        &tx,
        AuditEvent {
            actor: ctx.member.actor(),
            action: if finalize {
                "invoice.finalized"
            } else {
                "invoice.voided"
            },
            target_kind: "invoice",
            target_id: Some(id.to_string()),
            ip: ctx.ip.clone(),
            detail: Some(serde_json::json!({"number": invoice.number})),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(invoice)
}

pub struct OfflinePaymentInput {
    pub amount: i64,
    pub currency: Option<String>,
    pub invoice_id: Option<InvoiceId>,
    pub method: String,
    pub reference: Option<String>,
    pub received_on: Option<String>,
    pub shared: bool,
}

pub async fn record_payment(
    state: &AppState,
    ctx: &MemberCtx,
    file: FileId,
    input: OfflinePaymentInput,
) -> Result<Payment, ApiError> {
    if input.shared {
        require_share_right(&ctx.member)?;
    }
    let tx = ctx.db.write().await?;
    let file = accessible_file(&tx, &ctx.member, file).await?;
    let client = primary_client(&file)?;
    let payment = ledger::record_offline(
        &tx,
        OfflinePayment {
            file: file.id,
            client,
            amount: input.amount,
            currency: input.currency,
            invoice: input.invoice_id,
            method: input.method,
            reference: input.reference,
            received_on: input.received_on,
            shared: input.shared,
            recorded_by: ctx.member.id,
        },
    )
    .await?;
    audit::record(
        &tx,
        AuditEvent {
            actor: ctx.member.actor(),
            action: "payment.recorded",
            target_kind: "payment",
            target_id: Some(payment.id.to_string()),
            ip: ctx.ip.clone(),
            detail: Some(
                serde_json::json!({"file": file.number, "amount": payment.amount.amount,
                "currency": payment.amount.currency.as_str(), "method": payment.method,
                "invoice_id": payment.invoice_id}),
            ),
        },
    )
    .await?;
    if input.shared {
        notify_bill_shared(state, ctx, &tx, client, "a payment was shared with you").await?;
    }
    tx.commit().await?;
    Ok(payment)
}

async fn notify_bill_shared(
    state: &AppState,
    ctx: &MemberCtx,
    tx: &TenantTx,
    client: portico_platform::ids::ContactId,
    summary: &str,
) -> Result<(), DbErr> {
    // Read in the held transaction on a cache miss: never a second pooled connection.
    if crate::firm_options::options_in(state, &ctx.tenant, tx)
        .await?
        .notify_client_on_share
    {
        notifications::queue_notice(tx, client, summary).await?;
    }
    Ok(())
}

/// Show in Portal / Remove from Portal for invoices and payments, all or nothing. Every bill
/// must be on a file the member can access (and on `file` when given).
pub async fn share_bills(
    state: &AppState,
    ctx: &MemberCtx,
    file: Option<FileId>,
    invoice_ids: &[InvoiceId],
    payment_ids: &[PaymentId],
    shared: bool,
) -> Result<Vec<SharingChange>, ApiError> {
    require_share_right(&ctx.member)?;
    if shared
        && !crate::firm_options::options(state, &ctx.tenant)
            .await?
            .allows("bills")
    {
        return Err(ApiError::forbidden(
            "the firm does not share bills in the Portal (Options > Client Portal)",
        ));
    }
    let tx = ctx.db.write().await?;
    let payments: Vec<uuid::Uuid> = payment_ids.iter().map(|p| p.as_uuid()).collect();
    let changes = invoices::set_shared(&tx, invoice_ids, &payments, shared).await?;
    let mut checked = std::collections::BTreeMap::new();
    for change in &changes {
        if file.is_some_and(|f| f != change.file_id) {
            return Err(ApiError::not_found());
        }
        if let std::collections::btree_map::Entry::Vacant(slot) = checked.entry(change.file_id) {
            slot.insert(accessible_file(&tx, &ctx.member, change.file_id).await?);
        }
    }
    for change in changes.iter().filter(|c| c.changed) {
        let file = &checked[&change.file_id];
        let (action, verb) = match (change.kind, shared) {
            (BillKind::Invoice, true) => ("invoice.shared", "shared"),
            (BillKind::Invoice, false) => ("invoice.unshared", "removed from the Portal"),
            (BillKind::Payment, true) => ("payment.shared", "shared"),
            (BillKind::Payment, false) => ("payment.unshared", "removed from the Portal"),
        };
        audit::record(
            &tx,
            AuditEvent {
                actor: ctx.member.actor(),
                action,
                target_kind: match change.kind {
                    BillKind::Invoice => "invoice",
                    BillKind::Payment => "payment",
                },
                target_id: Some(change.id.to_string()),
                ip: ctx.ip.clone(),
                detail: Some(serde_json::json!({"shared": shared, "file": file.number})),
            },
        )
        .await?;
        activity::record(
            &tx,
            ActivityKind::MemberActivity,
            Some(change.file_id),
            &ctx.member.actor(),
            if shared {
                "item.shared"
            } else {
                "item.unshared"
            },
            format!("{verb} {} on {}", change.label, file.number),
        )
        .await?;
        if shared {
            let summary = match change.kind {
                BillKind::Invoice => "a bill was shared with you",
                BillKind::Payment => "a payment was shared with you",
            };
            notify_bill_shared(state, ctx, &tx, change.client, summary).await?;
        }
    }
    tx.commit().await?;
    Ok(changes)
}

/// Saves Options > Billing (administrators), with its audit entry; the settings after.
pub async fn save_billing_options(
    ctx: &MemberCtx,
    provider: &str,
    currency: &str,
    stripe_account_id: Option<&str>,
) -> Result<portico_payments::settings::BillingSettings, ApiError> {
    ctx.require_admin()?;
    let provider = portico_payments::ProviderKind::parse(provider.trim())
        .ok_or_else(|| ApiError::unprocessable("provider: mock or stripe"))?;
    let tx = ctx.db.write().await?;
    let (before, after) =
        portico_payments::settings::update(&tx, provider, currency, stripe_account_id).await?;
    audit::record(
        &tx,
        AuditEvent {
            actor: ctx.member.actor(),
            action: "options.billing.updated",
            target_kind: "firm_options",
            target_id: None,
            ip: ctx.ip.clone(),
            detail: Some(serde_json::json!({
                "provider": [before.provider.as_str(), after.provider.as_str()],
                "currency": [before.currency.as_str(), after.currency.as_str()],
                "stripe_account_id": [before.stripe_account_id, after.stripe_account_id],
            })),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(after)
}

// ---- the client's side ---------------------------------------------------------------------

/// Whose bills and which files: the files shared with the client — none when the firm does
/// not share bills in the Portal (Options > Client Portal), so the Billing module is empty and
/// every bill answers 404, like any other kind the firm stopped sharing.
pub async fn client_scope(
    state: &AppState,
    ctx: &ClientCtx,
    tx: &TenantTx,
) -> Result<ClientScope, DbErr> {
    client_scope_and_files(state, ctx, tx)
        .await
        .map(|(scope, _)| scope)
}

/// [`client_scope`] with the files it covers, for the pages that show their numbers and names.
pub async fn client_scope_and_files(
    state: &AppState,
    ctx: &ClientCtx,
    tx: &TenantTx,
) -> Result<(ClientScope, Vec<SharedFile>), DbErr> {
    let files = if shares_bills(state, ctx, tx).await? {
        crate::client_reads::shared_files_in(state, ctx, tx)
            .await?
            .to_vec()
    } else {
        Vec::new()
    };
    Ok((scope_of(ctx, &files), files))
}

/// [`client_scope`] read inside `tx`, for a payment that must see the sharing as it commits.
async fn client_scope_in(
    state: &AppState,
    ctx: &ClientCtx,
    tx: &TenantTx,
) -> Result<ClientScope, DbErr> {
    let files = if shares_bills(state, ctx, tx).await? {
        portal_access::files_for_client(tx, &ctx.client).await?
    } else {
        Vec::new()
    };
    Ok(scope_of(ctx, &files))
}

/// Whether the firm shares bills in the Portal, read in the held transaction on a cache miss
/// (never a second pooled connection); an error rather than the defaults when it cannot be read.
async fn shares_bills(state: &AppState, ctx: &ClientCtx, tx: &TenantTx) -> Result<bool, DbErr> {
    Ok(crate::firm_options::options_in(state, &ctx.tenant, tx)
        .await?
        .allows("bills"))
}

fn scope_of(ctx: &ClientCtx, files: &[SharedFile]) -> ClientScope {
    ClientScope {
        client: ctx.client.contact_id,
        files: files.iter().map(|f| f.id).collect(),
        since: ctx.client.previous_login_at,
    }
}

/// The client's bills in `view` (the Billing module, its home tile, a file's Billing tab), with
/// the files they are on.
pub async fn client_bills(
    state: &AppState,
    ctx: &ClientCtx,
    view: BillingView,
) -> Result<(ClientBilling, Vec<SharedFile>), BillingError> {
    let tx = ctx.db.read().await?;
    let (scope, files) = client_scope_and_files(state, ctx, &tx).await?;
    let billing = ledger::client_billing(&tx, &scope, view).await?;
    tx.commit().await?;
    Ok((billing, files))
}

/// An invoice's status as its client sees it: paid once the payments shown in the Portal
/// cover it, whatever the firm's ledger says.
pub fn client_status(invoice: &ClientInvoice) -> &'static str {
    if invoice.invoice.status == InvoiceStatus::Void {
        "void"
    } else if invoice.paid {
        "paid"
    } else {
        "finalized"
    }
}

/// How a payment method (offline or Portal) is named on the pages.
pub fn method_label(method: &str) -> &'static str {
    match method {
        "check" => "Check",
        "cash" => "Cash",
        "bank_transfer" => "Bank transfer",
        "card" => "Card",
        "bank_account" => "Bank account",
        _ => "Other",
    }
}

/// Whether this server has Stripe credentials (platform configuration, not the firm's).
pub fn stripe_available(state: &AppState) -> bool {
    !state
        .settings
        .payments
        .stripe
        .secret_key
        .expose_secret()
        .is_empty()
}

pub fn payer(client: &Client) -> Payer {
    Payer {
        client: client.contact_id,
        name: client.name.clone(),
        email: client.login_email.clone(),
    }
}

/// Pay Now, end to end: start (in a transaction), the provider call (outside any), settle and
/// the activity entry (in one transaction).
pub async fn pay_now(
    state: &AppState,
    ctx: &ClientCtx,
    invoice: InvoiceId,
    amount: Option<i64>,
    method: PaymentMethodId,
    idempotency_key: String,
) -> Result<PayResult, ApiError> {
    let tx = ctx.db.write().await?;
    let scope = client_scope_in(state, ctx, &tx).await?;
    let detail = ledger::client_invoice_detail(&tx, &scope, invoice).await?;
    let lawyer = files::responsible_lawyer(&tx, detail.invoice.file_id).await?;
    let request = PayNow {
        invoice,
        scope,
        payer: payer(&ctx.client),
        amount,
        method,
        idempotency_key,
        lawyer_email: lawyer.filter(|m| m.active).map(|m| m.email),
    };
    let call = match checkout::start(&tx, &request).await? {
        Started::Done(result) => {
            tx.commit().await?;
            return Ok(result);
        }
        Started::Call(call) => call,
    };
    tx.commit().await?;
    let outcome = checkout::call(&state.payments, &call).await;
    let tx = ctx.db.write().await?;
    let settled = checkout::settle(&tx, call.attempt_id, outcome, &ctx.tenant.name).await?;
    if settled.changed {
        let amount = format_money(settled.result.amount);
        let (action, summary) = match settled.result.status {
            PayStatus::Succeeded => (
                "payment.made",
                format!(
                    "paid {amount} on invoice {} in the Portal",
                    settled.invoice_number
                ),
            ),
            _ => (
                "payment.failed",
                format!(
                    "tried to pay {amount} on invoice {}; the payment failed",
                    settled.invoice_number
                ),
            ),
        };
        activity::record(
            &tx,
            ActivityKind::ClientActivity,
            Some(settled.file_id),
            &ctx.client.actor(),
            action,
            summary,
        )
        .await?;
        audit::record(
            &tx,
            AuditEvent {
                actor: ctx.client.actor(),
                action,
                target_kind: "invoice",
                target_id: Some(invoice.to_string()),
                ip: ctx.ip.clone(),
                detail: Some(serde_json::json!({"amount": settled.result.amount.amount,
                    "transaction_id": settled.result.transaction_id})),
            },
        )
        .await?;
    }
    tx.commit().await?;
    Ok(settled.result)
}
