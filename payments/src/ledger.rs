//! Payments received on a file and what they do to invoices: a payment applied to an invoice
//! raises its `amount_paid`, and the invoice is paid when its balance reaches zero. Payments are
//! recorded offline by members (cheque, cash, transfer…) or taken through the Portal
//! (`crate::checkout`). Also the client's view of it all: the Billing module's three views.
//!
//! What a client sees is computed from what was shared with them: an invoice's Paid stamp and
//! its Due amount count only the payments shown in the Portal, so a payment the firm has not
//! shared does not appear to the client, even indirectly.

use chrono::{DateTime, NaiveDate, Utc};
use portico_platform::ids::{ContactId, FileId, InvoiceId, MemberId, PaymentId};
use portico_platform::money::{Currency, Money};
use portico_platform::{TenantActiveModel, TenantScoped, TenantTx};
use sea_orm::{ActiveModelTrait, ActiveValue::Set, ColumnTrait, QueryFilter, QueryOrder};
use serde::Serialize;

use crate::entity::{invoice, payment};
use crate::error::{BillingError, BillingResult};
use crate::invoices::{self, Invoice, InvoiceStatus, MAX_AMOUNT};
use crate::settings;

pub const OFFLINE_METHODS: &[&str] = &["check", "cash", "bank_transfer", "card", "other"];

#[derive(Clone, Debug, Serialize)]
pub struct Payment {
    pub id: PaymentId,
    pub file_id: FileId,
    pub invoice_id: Option<InvoiceId>,
    pub client_contact_id: ContactId,
    pub amount: Money,
    pub method: String,
    /// `offline` or `portal`.
    pub source: String,
    pub reference: String,
    pub confirmation_number: Option<String>,
    pub provider_payment_id: Option<String>,
    pub shared: bool,
    pub shared_at: Option<DateTime<Utc>>,
    pub received_at: DateTime<Utc>,
}

pub(crate) fn payment_of(row: payment::Model) -> Payment {
    Payment {
        id: PaymentId::from_uuid(row.id),
        file_id: FileId::from_uuid(row.matter_id),
        invoice_id: row.invoice_id.map(InvoiceId::from_uuid),
        client_contact_id: ContactId::from_uuid(row.client_contact_id),
        amount: Money::new(row.amount, crate::stored_currency(&row.currency)),
        method: row.method,
        source: row.source,
        reference: row.reference,
        confirmation_number: row.confirmation_number,
        provider_payment_id: row.provider_payment_id,
        shared: row.shared,
        shared_at: row.shared_at,
        received_at: row.received_at,
    }
}

pub async fn for_file(tx: &TenantTx, file: FileId) -> BillingResult<Vec<Payment>> {
    Ok(payment::Entity::scoped(tx)
        .filter(payment::Column::MatterId.eq(file.as_uuid()))
        .order_by_desc(payment::Column::ReceivedAt)
        .all(tx.conn())
        .await?
        .into_iter()
        .map(payment_of)
        .collect())
}

pub async fn get(tx: &TenantTx, id: PaymentId) -> BillingResult<Payment> {
    payment::Entity::scoped(tx)
        .filter(payment::Column::Id.eq(id.as_uuid()))
        .one(tx.conn())
        .await?
        .map(payment_of)
        .ok_or(BillingError::NotFound)
}

/// Checks that `amount` can be applied to the (locked) invoice row.
pub(crate) fn check_applicable(row: &invoice::Model, amount: i64) -> BillingResult<()> {
    match InvoiceStatus::parse(&row.status) {
        InvoiceStatus::Finalized => {}
        InvoiceStatus::Draft => {
            return Err(BillingError::Conflict(format!(
                "invoice {} is a draft; finalize it before taking payments",
                row.number
            )));
        }
        InvoiceStatus::Paid => {
            return Err(BillingError::Conflict(format!(
                "invoice {} is already paid",
                row.number
            )));
        }
        InvoiceStatus::Void => {
            return Err(BillingError::Conflict(format!(
                "invoice {} is void",
                row.number
            )));
        }
    }
    let balance = row.total - row.amount_paid;
    if amount > balance {
        return Err(overpayment(
            amount,
            &row.number,
            balance,
            crate::stored_currency(&row.currency),
        ));
    }
    Ok(())
}

/// The refusal of an amount above what is left to pay on an invoice.
pub(crate) fn overpayment(
    amount: i64,
    number: &str,
    balance: i64,
    currency: Currency,
) -> BillingError {
    BillingError::Invalid(format!(
        "amount: {} is more than the balance of invoice {number} ({}); overpayment is not accepted",
        crate::format_money(Money::new(amount, currency)),
        crate::format_money(Money::new(balance, currency)),
    ))
}

/// Raises the invoice's paid amount; paid when the balance reaches zero.
pub(crate) async fn apply_to_invoice(
    tx: &TenantTx,
    row: invoice::Model,
    amount: i64,
) -> BillingResult<invoice::Model> {
    let now = Utc::now();
    let paid = row.amount_paid + amount;
    let total = row.total;
    let mut active: invoice::ActiveModel = row.into();
    active.amount_paid = Set(paid);
    if paid >= total {
        active.status = Set(InvoiceStatus::Paid.as_str().to_owned());
        active.paid_at = Set(Some(now));
    }
    active.updated_at = Set(now);
    Ok(active.update(tx.conn()).await?)
}

pub struct OfflinePayment {
    pub file: FileId,
    /// The file's primary client (who the payment is from).
    pub client: ContactId,
    pub amount: i64,
    pub currency: Option<String>,
    pub invoice: Option<InvoiceId>,
    pub method: String,
    pub reference: Option<String>,
    /// `YYYY-MM-DD`; today when absent.
    pub received_on: Option<String>,
    pub shared: bool,
    pub recorded_by: MemberId,
}

pub fn parse_amount(amount: i64) -> BillingResult<i64> {
    if amount <= 0 || amount > MAX_AMOUNT {
        return Err(BillingError::Invalid(format!(
            "amount: a positive number of minor units (cents) up to {MAX_AMOUNT}"
        )));
    }
    Ok(amount)
}

/// Records a payment received outside the Portal, applied to an invoice on the same file when
/// one is given.
pub async fn record_offline(tx: &TenantTx, new: OfflinePayment) -> BillingResult<Payment> {
    let amount = parse_amount(new.amount)?;
    let method = new.method.trim().to_lowercase();
    if !OFFLINE_METHODS.contains(&method.as_str()) {
        return Err(BillingError::Invalid(format!(
            "method: one of {}",
            OFFLINE_METHODS.join(", ")
        )));
    }
    let reference = new.reference.unwrap_or_default().trim().to_owned();
    if reference.chars().count() > 200 {
        return Err(BillingError::Invalid(
            "reference: at most 200 characters".into(),
        ));
    }
    let received_at = match new
        .received_on
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        None => Utc::now(),
        Some(day) => NaiveDate::parse_from_str(day, "%Y-%m-%d")
            .ok()
            .and_then(|d| d.and_hms_opt(12, 0, 0))
            .map(|t| t.and_utc())
            .ok_or_else(|| BillingError::Invalid("received_on: a date as YYYY-MM-DD".into()))?,
    };
    let requested_currency = match new
        .currency
        .as_deref()
        .map(str::trim)
        .filter(|c| !c.is_empty())
    {
        Some(code) => Some(settings::parse_currency(code)?),
        None => None,
    };
    let (currency, invoice_row) = match new.invoice {
        Some(id) => {
            let row = invoices::row_for_update(tx, id)
                .await
                .map_err(|e| match e {
                    BillingError::NotFound => {
                        BillingError::Invalid("invoice_id: no such invoice on this file".into())
                    }
                    other => other,
                })?;
            if row.matter_id != new.file.as_uuid() {
                return Err(BillingError::Invalid(
                    "invoice_id: no such invoice on this file".into(),
                ));
            }
            let currency =
                Currency::parse(&row.currency).map_err(|e| BillingError::Invalid(e.to_string()))?;
            if requested_currency.is_some_and(|c| c != currency) {
                return Err(BillingError::Invalid(format!(
                    "currency: invoice {} is in {currency}",
                    row.number
                )));
            }
            check_applicable(&row, amount)?;
            (currency, Some(row))
        }
        None => (
            match requested_currency {
                Some(c) => c,
                None => settings::get(tx).await?.currency,
            },
            None,
        ),
    };
    let now = Utc::now();
    let id = PaymentId::new();
    let mut row = payment::ActiveModel::new_active(tx);
    row.id = Set(id.as_uuid());
    row.matter_id = Set(new.file.as_uuid());
    row.invoice_id = Set(invoice_row.as_ref().map(|r| r.id));
    row.client_contact_id = Set(new.client.as_uuid());
    row.amount = Set(amount);
    row.currency = Set(currency.as_str().to_owned());
    row.method = Set(method);
    row.source = Set("offline".into());
    row.reference = Set(reference);
    row.provider = Set(None);
    row.provider_payment_id = Set(None);
    row.confirmation_number = Set(None);
    row.attempt_id = Set(None);
    row.shared = Set(new.shared);
    row.shared_at = Set(new.shared.then_some(now));
    row.recorded_by_kind = Set("member".into());
    row.recorded_by_id = Set(Some(new.recorded_by.as_uuid()));
    row.received_at = Set(received_at);
    row.created_at = Set(now);
    let inserted = row.insert(tx.conn()).await?;
    if let Some(invoice_row) = invoice_row {
        apply_to_invoice(tx, invoice_row, amount).await?;
    }
    Ok(payment_of(inserted))
}

// ---- the client's view --------------------------------------------------------------------

/// Whose bills, and which files are shared with them (from the Portal's sharing rules).
#[derive(Clone, Debug)]
pub struct ClientScope {
    pub client: ContactId,
    pub files: Vec<FileId>,
    /// The client's previous sign-in (for Since Last Login); `None` on the first visit.
    pub since: Option<DateTime<Utc>>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BillingView {
    All,
    Outstanding,
    SinceLastLogin,
}

impl BillingView {
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "all" => Some(BillingView::All),
            "outstanding" => Some(BillingView::Outstanding),
            "since_last_login" => Some(BillingView::SinceLastLogin),
            _ => None,
        }
    }
}

/// An invoice as its client sees it.
#[derive(Clone, Debug, Serialize)]
pub struct ClientInvoice {
    pub invoice: Invoice,
    /// Shared payments applied to it.
    pub payments: Vec<Payment>,
    pub paid_visible: i64,
    pub due: i64,
    /// The Paid stamp: shared payments cover the total.
    pub paid: bool,
}

/// One row of the Billing module.
#[derive(Clone, Debug, Serialize)]
pub struct BillingItem {
    /// `invoice` or `payment`.
    pub kind: &'static str,
    pub id: uuid::Uuid,
    pub file_id: FileId,
    pub date: DateTime<Utc>,
    /// Invoice number, or the invoice a payment was applied to.
    pub number: Option<String>,
    pub description: String,
    pub amount: Money,
    /// Invoices: what is still due as the client sees it.
    pub due: Option<Money>,
    pub due_date: Option<NaiveDate>,
    /// Invoices: `finalized`, `paid` or `void` (as the client sees it); payments: `received`.
    pub status: String,
    pub paid: bool,
    pub confirmation_number: Option<String>,
}

pub struct ClientBilling {
    pub items: Vec<BillingItem>,
    pub balance_owing: Money,
}

async fn visible_invoices(
    tx: &TenantTx,
    scope: &ClientScope,
) -> BillingResult<Vec<invoice::Model>> {
    if scope.files.is_empty() {
        return Ok(Vec::new());
    }
    Ok(invoice::Entity::scoped(tx)
        .filter(invoice::Column::ClientContactId.eq(scope.client.as_uuid()))
        .filter(invoice::Column::MatterId.is_in(scope.files.iter().map(|f| f.as_uuid())))
        .filter(invoice::Column::Shared.eq(true))
        .filter(invoice::Column::Status.ne(InvoiceStatus::Draft.as_str()))
        .order_by_desc(invoice::Column::FinalizedAt)
        .all(tx.conn())
        .await?)
}

async fn visible_payments(tx: &TenantTx, scope: &ClientScope) -> BillingResult<Vec<Payment>> {
    if scope.files.is_empty() {
        return Ok(Vec::new());
    }
    Ok(payment::Entity::scoped(tx)
        .filter(payment::Column::ClientContactId.eq(scope.client.as_uuid()))
        .filter(payment::Column::MatterId.is_in(scope.files.iter().map(|f| f.as_uuid())))
        .filter(payment::Column::Shared.eq(true))
        .order_by_desc(payment::Column::ReceivedAt)
        .all(tx.conn())
        .await?
        .into_iter()
        .map(payment_of)
        .collect())
}

fn client_invoice(invoice: Invoice, shared_payments: &[Payment]) -> ClientInvoice {
    let payments: Vec<Payment> = shared_payments
        .iter()
        .filter(|p| p.invoice_id == Some(invoice.id))
        .cloned()
        .collect();
    let paid_visible: i64 = payments.iter().map(|p| p.amount.amount).sum();
    let due = if invoice.status == InvoiceStatus::Void {
        0
    } else {
        (invoice.total - paid_visible).max(0)
    };
    ClientInvoice {
        paid: invoice.status != InvoiceStatus::Void && paid_visible >= invoice.total,
        invoice,
        payments,
        paid_visible,
        due,
    }
}

/// The client's bills: invoices and payments shared with them, newest first.
pub async fn client_billing(
    tx: &TenantTx,
    scope: &ClientScope,
    view: BillingView,
) -> BillingResult<ClientBilling> {
    let firm_currency = settings::get(tx).await?.currency;
    let rows = visible_invoices(tx, scope).await?;
    let payments = visible_payments(tx, scope).await?;
    let invoices: Vec<ClientInvoice> = invoices::with_lines(tx, rows)
        .await?
        .into_iter()
        .map(|i| client_invoice(i, &payments))
        .collect();
    let balance_owing: i64 = invoices
        .iter()
        .filter(|i| i.invoice.currency == firm_currency)
        .map(|i| i.due)
        .sum();
    let numbers: std::collections::HashMap<InvoiceId, String> = invoices
        .iter()
        .map(|i| (i.invoice.id, i.invoice.number.clone()))
        .collect();
    let since = scope.since;
    let is_new = |at: Option<DateTime<Utc>>| match (since, at) {
        (None, _) => true,
        (Some(since), Some(at)) => at > since,
        (Some(_), None) => false,
    };
    let mut items = Vec::new();
    for ci in &invoices {
        let include = match view {
            BillingView::All => true,
            BillingView::Outstanding => ci.due > 0,
            BillingView::SinceLastLogin => is_new(ci.invoice.shared_at),
        };
        if !include {
            continue;
        }
        let status = if ci.invoice.status == InvoiceStatus::Void {
            "void"
        } else if ci.paid {
            "paid"
        } else {
            "finalized"
        };
        items.push(BillingItem {
            kind: "invoice",
            id: ci.invoice.id.as_uuid(),
            file_id: ci.invoice.file_id,
            date: ci.invoice.finalized_at.unwrap_or(ci.invoice.created_at),
            number: Some(ci.invoice.number.clone()),
            description: ci
                .invoice
                .lines
                .first()
                .map(|l| l.description.clone())
                .unwrap_or_default(),
            amount: ci.invoice.money(ci.invoice.total),
            due: Some(ci.invoice.money(ci.due)),
            due_date: ci.invoice.due_date,
            status: status.into(),
            paid: ci.paid,
            confirmation_number: None,
        });
    }
    if view != BillingView::Outstanding {
        for p in &payments {
            if view == BillingView::SinceLastLogin && !is_new(p.shared_at) {
                continue;
            }
            let number = p.invoice_id.and_then(|i| numbers.get(&i).cloned());
            items.push(BillingItem {
                kind: "payment",
                id: p.id.as_uuid(),
                file_id: p.file_id,
                date: p.received_at,
                description: match &number {
                    Some(n) => format!("Payment — {n}"),
                    None => "Payment on account".into(),
                },
                number,
                amount: p.amount,
                due: None,
                due_date: None,
                status: "received".into(),
                paid: false,
                confirmation_number: p.confirmation_number.clone(),
            });
        }
    }
    items.sort_by_key(|item| std::cmp::Reverse(item.date));
    Ok(ClientBilling {
        items,
        balance_owing: Money::new(balance_owing, firm_currency),
    })
}

/// One invoice as the client sees it, or `NotFound` — the same for another client's, another
/// firm's, an unshared or a missing invoice.
pub async fn client_invoice_detail(
    tx: &TenantTx,
    scope: &ClientScope,
    id: InvoiceId,
) -> BillingResult<ClientInvoice> {
    client_view(tx, scope, invoices::row(tx, id).await?).await
}

/// An invoice row as its client sees it (for a caller that already holds the row), or
/// `NotFound` as in [`client_invoice_detail`].
pub(crate) async fn client_view(
    tx: &TenantTx,
    scope: &ClientScope,
    row: invoice::Model,
) -> BillingResult<ClientInvoice> {
    if row.client_contact_id != scope.client.as_uuid()
        || !scope.files.iter().any(|f| f.as_uuid() == row.matter_id)
        || !row.shared
        || InvoiceStatus::parse(&row.status) == InvoiceStatus::Draft
    {
        return Err(BillingError::NotFound);
    }
    let payments = visible_payments(tx, scope).await?;
    let invoice = invoices::one_with_lines(tx, row).await?;
    Ok(client_invoice(invoice, &payments))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_must_be_positive_and_bounded() {
        assert!(parse_amount(1).is_ok());
        assert!(parse_amount(0).is_err());
        assert!(parse_amount(-5).is_err());
        assert!(parse_amount(MAX_AMOUNT + 1).is_err());
    }

    #[test]
    fn views_parse() {
        assert_eq!(
            BillingView::parse("outstanding"),
            Some(BillingView::Outstanding)
        );
        assert_eq!(
            BillingView::parse("since_last_login"),
            Some(BillingView::SinceLastLogin)
        );
        assert_eq!(BillingView::parse("everything"), None);
    }
}
