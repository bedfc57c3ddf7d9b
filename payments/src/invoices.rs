//! Invoices (bills) on a file: a draft with line items, finalized (numbered at creation,
//! unique per firm), then paid when payments bring its balance to zero, or void. Only finalized
//! (or paid/void) invoices can be shown in the Portal; drafts never.
//!
//! An invoice is addressed to the file's primary client at the time it is created
//! (`client_contact_id`): that client sees it in the Portal's Billing module and pays it with
//! their own saved methods. Other clients on the file do not see bills.

use chrono::{DateTime, NaiveDate, Utc};
use portico_platform::ids::{ContactId, FileId, InvoiceId, MemberId};
use portico_platform::money::{Currency, Money};
use portico_platform::{Backend, TenantActiveModel, TenantScoped, TenantTx};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, QueryFilter, QueryOrder, QuerySelect,
};
use serde::Serialize;

use crate::entity::{invoice, invoice_line, payment};
use crate::error::{BillingError, BillingResult};
use crate::settings;

/// Largest amount of one line or invoice, in minor units (ten billion in major units): far
/// beyond any legal bill, far below overflow.
pub const MAX_AMOUNT: i64 = 1_000_000_000_000;
const MAX_LINES: usize = 200;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum InvoiceStatus {
    Draft,
    Finalized,
    Paid,
    Void,
}

impl InvoiceStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            InvoiceStatus::Draft => "draft",
            InvoiceStatus::Finalized => "finalized",
            InvoiceStatus::Paid => "paid",
            InvoiceStatus::Void => "void",
        }
    }

    pub fn parse(value: &str) -> Self {
        match value {
            "finalized" => InvoiceStatus::Finalized,
            "paid" => InvoiceStatus::Paid,
            "void" => InvoiceStatus::Void,
            _ => InvoiceStatus::Draft,
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct Line {
    pub description: String,
    pub amount: i64,
}

#[derive(Clone, Debug, Serialize)]
pub struct Invoice {
    pub id: InvoiceId,
    pub file_id: FileId,
    pub client_contact_id: ContactId,
    pub number: String,
    pub currency: Currency,
    pub status: InvoiceStatus,
    pub total: i64,
    /// Every payment applied (shared or not).
    pub amount_paid: i64,
    pub balance: i64,
    pub due_date: Option<NaiveDate>,
    pub memo: String,
    pub shared: bool,
    pub shared_at: Option<DateTime<Utc>>,
    pub lines: Vec<Line>,
    pub created_at: DateTime<Utc>,
    pub finalized_at: Option<DateTime<Utc>>,
    pub paid_at: Option<DateTime<Utc>>,
}

impl Invoice {
    pub fn money(&self, amount: i64) -> Money {
        Money::new(amount, self.currency)
    }
}

pub struct NewInvoice {
    pub file: FileId,
    /// The file's primary client.
    pub client: ContactId,
    pub currency: Option<String>,
    pub lines: Vec<Line>,
    pub due_date: Option<String>,
    pub memo: Option<String>,
    pub created_by: MemberId,
}

fn of(row: invoice::Model, lines: Vec<Line>) -> Invoice {
    let currency = crate::stored_currency(&row.currency);
    Invoice {
        id: InvoiceId::from_uuid(row.id),
        file_id: FileId::from_uuid(row.matter_id),
        client_contact_id: ContactId::from_uuid(row.client_contact_id),
        number: row.number,
        currency,
        status: InvoiceStatus::parse(&row.status),
        total: row.total,
        amount_paid: row.amount_paid,
        balance: row.total - row.amount_paid,
        due_date: row
            .due_date
            .as_deref()
            .and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok()),
        memo: row.memo,
        shared: row.shared,
        shared_at: row.shared_at,
        lines,
        created_at: row.created_at,
        finalized_at: row.finalized_at,
        paid_at: row.paid_at,
    }
}

/// Invoices with their lines, two queries for any number of invoices.
pub(crate) async fn with_lines(
    tx: &TenantTx,
    rows: Vec<invoice::Model>,
) -> BillingResult<Vec<Invoice>> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let lines = invoice_line::Entity::scoped(tx)
        .filter(invoice_line::Column::InvoiceId.is_in(rows.iter().map(|r| r.id)))
        .order_by_asc(invoice_line::Column::Position)
        .all(tx.conn())
        .await?;
    Ok(rows
        .into_iter()
        .map(|row| {
            let mine = lines
                .iter()
                .filter(|l| l.invoice_id == row.id)
                .map(|l| Line {
                    description: l.description.clone(),
                    amount: l.amount,
                })
                .collect();
            of(row, mine)
        })
        .collect())
}

/// One invoice with its lines.
pub(crate) async fn one_with_lines(tx: &TenantTx, row: invoice::Model) -> BillingResult<Invoice> {
    let mut invoices = with_lines(tx, vec![row]).await?;
    // `with_lines` answers one invoice for each row it is given.
    Ok(invoices.remove(0))
}

pub(crate) async fn row(tx: &TenantTx, id: InvoiceId) -> BillingResult<invoice::Model> {
    invoice::Entity::scoped(tx)
        .filter(invoice::Column::Id.eq(id.as_uuid()))
        .one(tx.conn())
        .await?
        .ok_or(BillingError::NotFound)
}

/// The invoice row, locked until the transaction ends on PostgreSQL (SQLite write
/// transactions are already exclusive): payments applied concurrently wait for each other.
pub(crate) async fn row_for_update(tx: &TenantTx, id: InvoiceId) -> BillingResult<invoice::Model> {
    let mut query = invoice::Entity::scoped(tx).filter(invoice::Column::Id.eq(id.as_uuid()));
    if tx.backend() == Backend::Postgres {
        query = query.lock_exclusive();
    }
    query.one(tx.conn()).await?.ok_or(BillingError::NotFound)
}

pub async fn get(tx: &TenantTx, id: InvoiceId) -> BillingResult<Invoice> {
    one_with_lines(tx, row(tx, id).await?).await
}

pub async fn for_file(tx: &TenantTx, file: FileId) -> BillingResult<Vec<Invoice>> {
    let rows = invoice::Entity::scoped(tx)
        .filter(invoice::Column::MatterId.eq(file.as_uuid()))
        .order_by_desc(invoice::Column::CreatedAt)
        .all(tx.conn())
        .await?;
    with_lines(tx, rows).await
}

fn parse_lines(lines: &[Line]) -> BillingResult<(Vec<Line>, i64)> {
    if lines.is_empty() {
        return Err(BillingError::Invalid(
            "lines: an invoice needs at least one line".into(),
        ));
    }
    if lines.len() > MAX_LINES {
        return Err(BillingError::Invalid(format!(
            "lines: at most {MAX_LINES} lines"
        )));
    }
    let mut total: i64 = 0;
    let mut clean = Vec::with_capacity(lines.len());
    for (i, line) in lines.iter().enumerate() {
        let description = line.description.trim();
        if description.is_empty() || description.chars().count() > 500 {
            return Err(BillingError::Invalid(format!(
                "lines[{i}].description: 1 to 500 characters"
            )));
        }
        if line.amount == 0 || line.amount.abs() > MAX_AMOUNT {
            return Err(BillingError::Invalid(format!(
                "lines[{i}].amount: a non-zero number of minor units (cents) up to {MAX_AMOUNT}"
            )));
        }
        total += line.amount;
        clean.push(Line {
            description: description.to_owned(),
            amount: line.amount,
        });
    }
    if total <= 0 || total > MAX_AMOUNT {
        return Err(BillingError::Invalid(
            "lines: the invoice total must be positive (discount lines cannot exceed the charges)"
                .into(),
        ));
    }
    Ok((clean, total))
}

fn parse_due_date(value: Option<&str>) -> BillingResult<Option<String>> {
    match value.map(str::trim).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) => NaiveDate::parse_from_str(v, "%Y-%m-%d")
            .map(|d| Some(d.format("%Y-%m-%d").to_string()))
            .map_err(|_| BillingError::Invalid("due_date: a date as YYYY-MM-DD".into())),
    }
}

/// A new draft invoice with its lines, numbered from the firm's counter.
pub async fn create_draft(tx: &TenantTx, new: NewInvoice) -> BillingResult<Invoice> {
    let (lines, total) = parse_lines(&new.lines)?;
    let firm = settings::get(tx).await?;
    let currency = match new
        .currency
        .as_deref()
        .map(str::trim)
        .filter(|c| !c.is_empty())
    {
        Some(code) => settings::parse_currency(code)?,
        None => firm.currency,
    };
    let due_date = parse_due_date(new.due_date.as_deref())?;
    let memo = new.memo.unwrap_or_default().trim().to_owned();
    if memo.chars().count() > 2000 {
        return Err(BillingError::Invalid(
            "memo: at most 2000 characters".into(),
        ));
    }
    let number = settings::next_invoice_number(tx).await?;
    let now = Utc::now();
    let id = InvoiceId::new();
    let mut row = invoice::ActiveModel::new_active(tx);
    row.id = Set(id.as_uuid());
    row.matter_id = Set(new.file.as_uuid());
    row.client_contact_id = Set(new.client.as_uuid());
    row.number = Set(number);
    row.currency = Set(currency.as_str().to_owned());
    row.status = Set(InvoiceStatus::Draft.as_str().to_owned());
    row.total = Set(total);
    row.amount_paid = Set(0);
    row.due_date = Set(due_date);
    row.memo = Set(memo);
    row.shared = Set(false);
    row.shared_at = Set(None);
    row.created_by = Set(new.created_by.as_uuid());
    row.created_at = Set(now);
    row.finalized_at = Set(None);
    row.paid_at = Set(None);
    row.voided_at = Set(None);
    row.updated_at = Set(now);
    let inserted = row.insert(tx.conn()).await?;
    for (position, line) in lines.iter().enumerate() {
        let mut l = invoice_line::ActiveModel::new_active(tx);
        l.id = Set(uuid::Uuid::now_v7());
        l.invoice_id = Set(id.as_uuid());
        l.position = Set(position as i32);
        l.description = Set(line.description.clone());
        l.amount = Set(line.amount);
        l.insert(tx.conn()).await?;
    }
    Ok(of(inserted, lines))
}

/// Draft → finalized. Anything else is a conflict with the reason.
pub async fn finalize(tx: &TenantTx, id: InvoiceId) -> BillingResult<Invoice> {
    let row = row_for_update(tx, id).await?;
    if InvoiceStatus::parse(&row.status) != InvoiceStatus::Draft {
        return Err(BillingError::Conflict(format!(
            "invoice {} is already {}; only a draft can be finalized",
            row.number, row.status
        )));
    }
    let now = Utc::now();
    let mut active: invoice::ActiveModel = row.into();
    active.status = Set(InvoiceStatus::Finalized.as_str().to_owned());
    active.finalized_at = Set(Some(now));
    active.updated_at = Set(now);
    one_with_lines(tx, active.update(tx.conn()).await?).await
}

/// Finalized and unpaid → void (it stays visible, marked void, if it was shared).
pub async fn void(tx: &TenantTx, id: InvoiceId) -> BillingResult<Invoice> {
    let row = row_for_update(tx, id).await?;
    let status = InvoiceStatus::parse(&row.status);
    if status == InvoiceStatus::Void {
        return Err(BillingError::Conflict(format!(
            "invoice {} is already void",
            row.number
        )));
    }
    if row.amount_paid > 0 {
        return Err(BillingError::Conflict(format!(
            "invoice {} has payments applied; it cannot be voided",
            row.number
        )));
    }
    let now = Utc::now();
    let mut active: invoice::ActiveModel = row.into();
    active.status = Set(InvoiceStatus::Void.as_str().to_owned());
    active.voided_at = Set(Some(now));
    active.updated_at = Set(now);
    one_with_lines(tx, active.update(tx.conn()).await?).await
}

/// What can be shown in the Portal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BillKind {
    Invoice,
    Payment,
}

/// One bill's sharing change, for the audit trail and the client notice.
#[derive(Clone, Debug)]
pub struct SharingChange {
    pub kind: BillKind,
    pub id: uuid::Uuid,
    pub file_id: FileId,
    pub client: ContactId,
    pub label: String,
    /// False when the bill was already in the requested state.
    pub changed: bool,
}

/// Show in Portal / Remove from Portal for several invoices and payments at once, all or
/// nothing: a draft (or an id that is not on `file` when one is given) refuses the whole
/// request with the reason.
pub async fn set_shared(
    tx: &TenantTx,
    invoices: &[InvoiceId],
    payments: &[uuid::Uuid],
    shared: bool,
) -> BillingResult<Vec<SharingChange>> {
    if invoices.is_empty() && payments.is_empty() {
        return Err(BillingError::Invalid(
            "choose at least one invoice or payment".into(),
        ));
    }
    let now = Utc::now();
    let mut changes = Vec::new();
    let invoice_rows = if invoices.is_empty() {
        Vec::new()
    } else {
        invoice::Entity::scoped(tx)
            .filter(invoice::Column::Id.is_in(invoices.iter().map(|i| i.as_uuid())))
            .all(tx.conn())
            .await?
    };
    if invoice_rows.len() != dedup_len(invoices.iter().map(|i| i.as_uuid())) {
        return Err(BillingError::NotFound);
    }
    let drafts: Vec<&str> = invoice_rows
        .iter()
        .filter(|r| InvoiceStatus::parse(&r.status) == InvoiceStatus::Draft)
        .map(|r| r.number.as_str())
        .collect();
    if shared && !drafts.is_empty() {
        return Err(BillingError::Conflict(format!(
            "draft invoices cannot be shown in the Portal; finalize them first: {}",
            drafts.join(", ")
        )));
    }
    let payment_rows = if payments.is_empty() {
        Vec::new()
    } else {
        payment::Entity::scoped(tx)
            .filter(payment::Column::Id.is_in(payments.iter().copied()))
            .all(tx.conn())
            .await?
    };
    if payment_rows.len() != dedup_len(payments.iter().copied()) {
        return Err(BillingError::NotFound);
    }
    for row in invoice_rows {
        let changed = row.shared != shared;
        changes.push(SharingChange {
            kind: BillKind::Invoice,
            id: row.id,
            file_id: FileId::from_uuid(row.matter_id),
            client: ContactId::from_uuid(row.client_contact_id),
            label: format!("invoice {}", row.number),
            changed,
        });
        if changed {
            let mut active: invoice::ActiveModel = row.into();
            active.shared = Set(shared);
            active.shared_at = Set(shared.then_some(now));
            active.updated_at = Set(now);
            active.update(tx.conn()).await?;
        }
    }
    for row in payment_rows {
        let changed = row.shared != shared;
        let money = Money::new(row.amount, crate::stored_currency(&row.currency));
        changes.push(SharingChange {
            kind: BillKind::Payment,
            id: row.id,
            file_id: FileId::from_uuid(row.matter_id),
            client: ContactId::from_uuid(row.client_contact_id),
            label: format!("payment of {}", crate::format_money(money)),
            changed,
        });
        if changed {
            let mut active: payment::ActiveModel = row.into();
            active.shared = Set(shared);
            active.shared_at = Set(shared.then_some(now));
            active.update(tx.conn()).await?;
        }
    }
    Ok(changes)
}

fn dedup_len(ids: impl Iterator<Item = uuid::Uuid>) -> usize {
    ids.collect::<std::collections::BTreeSet<_>>().len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(amount: i64) -> Line {
        Line {
            description: "Consultation".into(),
            amount,
        }
    }

    #[test]
    fn totals_and_refusals() {
        assert_eq!(parse_lines(&[line(1000), line(-200)]).unwrap().1, 800);
        assert!(parse_lines(&[]).is_err());
        assert!(parse_lines(&[line(0)]).is_err());
        assert!(parse_lines(&[line(100), line(-200)]).is_err());
        assert!(parse_lines(&[line(MAX_AMOUNT + 1)]).is_err());
        assert!(parse_lines(&[line(MAX_AMOUNT), line(MAX_AMOUNT)]).is_err());
    }

    #[test]
    fn due_dates_are_iso() {
        assert_eq!(
            parse_due_date(Some("2026-12-01")).unwrap().as_deref(),
            Some("2026-12-01")
        );
        assert!(parse_due_date(Some("12/01/2026")).is_err());
        assert_eq!(parse_due_date(Some(" ")).unwrap(), None);
    }
}
