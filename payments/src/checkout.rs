//! Pay Now: a client pays (part of) an invoice with a saved method.
//!
//! The client's `Idempotency-Key` names one payment attempt (a row, unique per client and
//! key). The provider call carries a key derived from that row, so however often the request is
//! retried — one after the other or at the same time — the provider charges once, and the
//! attempt's first final answer is replayed. The same key with another amount, invoice or
//! method is refused (409).
//!
//! Three steps, so no database transaction is held across the network call:
//! [`start`] (validate, lock the invoice, create or find the attempt), [`call`] (the provider),
//! [`settle`] (record the outcome). `settle` is also what a webhook runs, and it only ever moves
//! an attempt forward: pending → succeeded or failed, failed → succeeded (a later success), never
//! succeeded → anything else. An unknown outcome (network failure, processing) stays pending.

use chrono::Utc;
use portico_platform::ids::{InvoiceId, PaymentAttemptId, PaymentId, PaymentMethodId};
use portico_platform::mail::{self, OutgoingEmail};
use portico_platform::money::Money;
use portico_platform::{TenantActiveModel, TenantScoped, TenantTx};
use rand::Rng;
use sea_orm::{ActiveModelTrait, ActiveValue::Set, ColumnTrait, QueryFilter, SqlErr};
use serde::Serialize;

use crate::entity::{invoice, payment, payment_attempt};
use crate::error::{BillingError, BillingResult};
use crate::invoices::{self, InvoiceStatus};
use crate::ledger::{self, ClientScope};
use crate::methods::{self, Payer};
use crate::provider::{
    ChargeStatus, PayRequest, ProviderAccount, ProviderCharge, ProviderError, ProviderKind,
};
use crate::registry::Providers;

pub struct PayNow {
    pub invoice: InvoiceId,
    pub scope: ClientScope,
    pub payer: Payer,
    /// Minor units; the balance due when absent.
    pub amount: Option<i64>,
    pub method: PaymentMethodId,
    pub idempotency_key: String,
    /// The file's responsible lawyer, emailed when the payment fails.
    pub lawyer_email: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PayStatus {
    Succeeded,
    Failed,
    Pending,
}

#[derive(Clone, Debug, Serialize)]
pub struct PayResult {
    pub status: PayStatus,
    pub attempt_id: PaymentAttemptId,
    pub invoice_id: InvoiceId,
    pub amount: Money,
    /// The provider's transaction id, or our attempt id when the provider gave none.
    pub transaction_id: String,
    pub confirmation_number: Option<String>,
    pub payment_id: Option<PaymentId>,
    /// Failures: what the provider said, for the client.
    pub message: Option<String>,
}

/// A provider call to make for an attempt.
#[derive(Clone, Debug)]
pub struct Call {
    pub attempt_id: PaymentAttemptId,
    pub provider: ProviderKind,
    pub account: ProviderAccount,
    pub request: PayRequest,
}

pub enum Started {
    /// The key's attempt already has a final answer.
    Done(PayResult),
    Call(Call),
}

/// What `settle` did, for the caller's activity entry.
pub struct Settled {
    pub result: PayResult,
    /// True when this call recorded the payment or the failure (false on a replay).
    pub changed: bool,
    pub invoice_number: String,
    pub file_id: portico_platform::ids::FileId,
}

fn check_key(key: &str) -> BillingResult<()> {
    if key.is_empty() || key.len() > 255 || !key.chars().all(|c| c.is_ascii_graphic()) {
        return Err(BillingError::Invalid(
            "Idempotency-Key: 1 to 255 visible ASCII characters (a UUID per payment is ideal)"
                .into(),
        ));
    }
    Ok(())
}

async fn result_of(tx: &TenantTx, attempt: &payment_attempt::Model) -> BillingResult<PayResult> {
    let status = match attempt.status.as_str() {
        "succeeded" => PayStatus::Succeeded,
        "failed" => PayStatus::Failed,
        _ => PayStatus::Pending,
    };
    let confirmation_number = match attempt.payment_id {
        Some(id) => payment::Entity::scoped(tx)
            .filter(payment::Column::Id.eq(id))
            .one(tx.conn())
            .await?
            .and_then(|p| p.confirmation_number),
        None => None,
    };
    Ok(PayResult {
        status,
        attempt_id: PaymentAttemptId::from_uuid(attempt.id),
        invoice_id: InvoiceId::from_uuid(attempt.invoice_id),
        amount: Money::new(attempt.amount, crate::stored_currency(&attempt.currency)),
        transaction_id: attempt
            .provider_payment_id
            .clone()
            .unwrap_or_else(|| attempt.id.to_string()),
        confirmation_number,
        payment_id: attempt.payment_id.map(PaymentId::from_uuid),
        message: attempt.failure_message.clone(),
    })
}

fn call_of(
    attempt: &payment_attempt::Model,
    customer: String,
    provider_method_id: String,
    number: &str,
) -> BillingResult<Call> {
    let provider = ProviderKind::parse(&attempt.provider)
        .ok_or_else(|| BillingError::Conflict("unknown payment provider".into()))?;
    Ok(Call {
        attempt_id: PaymentAttemptId::from_uuid(attempt.id),
        provider,
        account: ProviderAccount(attempt.account.clone()),
        request: PayRequest {
            customer_id: customer,
            provider_method_id,
            amount: Money::new(attempt.amount, crate::stored_currency(&attempt.currency)),
            // Derived from our row: every retry of this attempt sends the same key.
            idempotency_key: format!("portico-attempt-{}", attempt.id),
            description: format!("Invoice {number}"),
            attempt_reference: attempt.id.to_string(),
            invoice_reference: attempt.invoice_id.to_string(),
        },
    })
}

async fn customer_of(
    tx: &TenantTx,
    client: uuid::Uuid,
    provider: &str,
    account: &str,
) -> BillingResult<String> {
    methods::customer_row(tx, client, provider, account)
        .await?
        .map(|c| c.customer_id)
        .ok_or_else(|| {
            BillingError::Invalid("payment_method_id: add a payment method first".into())
        })
}

/// Validates the request and creates (or finds) the key's attempt, in the caller's write
/// transaction.
pub async fn start(tx: &TenantTx, req: &PayNow) -> BillingResult<Started> {
    check_key(&req.idempotency_key)?;
    // Serialises attempts on this invoice (PostgreSQL row lock; SQLite writes are exclusive).
    let row = invoices::row_for_update(tx, req.invoice).await?;
    // Visible to this client, or 404 like a missing one.
    let visible = ledger::client_view(tx, &req.scope, row.clone()).await?;
    let existing = payment_attempt::Entity::scoped(tx)
        .filter(payment_attempt::Column::ContactId.eq(req.scope.client.as_uuid()))
        .filter(payment_attempt::Column::IdempotencyKey.eq(req.idempotency_key.as_str()))
        .one(tx.conn())
        .await?;
    if let Some(attempt) = existing {
        let same = attempt.invoice_id == req.invoice.as_uuid()
            && attempt.payment_method_id == req.method.as_uuid()
            && req.amount.is_none_or(|a| a == attempt.amount);
        if !same {
            return Err(BillingError::key_reused());
        }
        if attempt.status != "pending" {
            return Ok(Started::Done(result_of(tx, &attempt).await?));
        }
        let method = methods::method_row(tx, req.scope.client, req.method).await?;
        let customer =
            customer_of(tx, attempt.contact_id, &attempt.provider, &attempt.account).await?;
        return Ok(Started::Call(call_of(
            &attempt,
            customer,
            method.provider_method_id,
            &row.number,
        )?));
    }
    if InvoiceStatus::parse(&row.status) != InvoiceStatus::Finalized || visible.due <= 0 {
        return Err(BillingError::Conflict(format!(
            "invoice {} has nothing left to pay",
            row.number
        )));
    }
    // Other attempts still in flight hold their amounts, so two different keys cannot
    // together pay more than the balance.
    let in_flight: i64 = payment_attempt::Entity::scoped(tx)
        .filter(payment_attempt::Column::InvoiceId.eq(row.id))
        .filter(payment_attempt::Column::Status.eq("pending"))
        .all(tx.conn())
        .await?
        .iter()
        .map(|a| a.amount)
        .sum();
    let payable = (row.total - row.amount_paid - in_flight)
        .min(visible.due)
        .max(0);
    let amount = match req.amount {
        Some(a) => ledger::parse_amount(a)?,
        None => payable,
    };
    if amount > payable {
        return Err(ledger::overpayment(
            amount,
            &row.number,
            payable,
            crate::stored_currency(&row.currency),
        ));
    }
    if amount <= 0 {
        return Err(BillingError::Conflict(format!(
            "invoice {} has a payment in progress; try again in a moment",
            row.number
        )));
    }
    let method = methods::method_row(tx, req.scope.client, req.method)
        .await
        .map_err(|e| match e {
            BillingError::NotFound => {
                BillingError::Invalid("payment_method_id: no such saved payment method".into())
            }
            other => other,
        })?;
    let customer = customer_of(
        tx,
        req.scope.client.as_uuid(),
        &method.provider,
        &method.account,
    )
    .await?;
    let now = Utc::now();
    let mut attempt = payment_attempt::ActiveModel::new_active(tx);
    attempt.id = Set(PaymentAttemptId::new().as_uuid());
    attempt.invoice_id = Set(row.id);
    attempt.contact_id = Set(req.scope.client.as_uuid());
    attempt.idempotency_key = Set(req.idempotency_key.clone());
    attempt.payment_method_id = Set(method.id);
    attempt.amount = Set(amount);
    attempt.currency = Set(row.currency.clone());
    attempt.provider = Set(method.provider.clone());
    attempt.account = Set(method.account.clone());
    attempt.status = Set("pending".into());
    attempt.provider_payment_id = Set(None);
    attempt.failure_code = Set(None);
    attempt.failure_message = Set(None);
    attempt.payment_id = Set(None);
    attempt.payer_name = Set(req.payer.name.clone());
    attempt.receipt_email = Set(req.payer.email.clone());
    attempt.lawyer_email = Set(req.lawyer_email.clone());
    attempt.created_at = Set(now);
    attempt.updated_at = Set(now);
    let attempt = attempt.insert(tx.conn()).await.map_err(|e| {
        if matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) {
            BillingError::Conflict(
                "a payment with this Idempotency-Key is already in progress; retry it".into(),
            )
        } else {
            BillingError::Db(e)
        }
    })?;
    Ok(Started::Call(call_of(
        &attempt,
        customer,
        method.provider_method_id,
        &row.number,
    )?))
}

/// The provider call for an attempt.
pub async fn call(providers: &Providers, call: &Call) -> Result<ProviderCharge, ProviderError> {
    providers
        .get(call.provider)
        .pay(&call.account, &call.request)
        .await
}

fn confirmation_number() -> String {
    // Unambiguous characters (no 0/O, 1/I), 10 of them: ~50 bits, shown to people.
    const ALPHABET: &[u8] = b"23456789ABCDEFGHJKLMNPQRSTUVWXYZ";
    let mut rng = rand::thread_rng();
    let code: String = (0..10)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect();
    format!("PC-{}-{}", &code[..5], &code[5..])
}

/// Looks up the attempt a provider charge belongs to: by the provider's id, or by our id in
/// the charge's metadata (an attempt whose call never returned has no provider id yet).
pub async fn attempt_for_charge(
    tx: &TenantTx,
    provider: ProviderKind,
    charge: &ProviderCharge,
) -> BillingResult<Option<payment_attempt::Model>> {
    let by_id = payment_attempt::Entity::scoped(tx)
        .filter(payment_attempt::Column::Provider.eq(provider.as_str()))
        .filter(payment_attempt::Column::ProviderPaymentId.eq(charge.provider_payment_id.as_str()))
        .one(tx.conn())
        .await?;
    if by_id.is_some() {
        return Ok(by_id);
    }
    let Some(reference) = charge
        .attempt_reference
        .as_deref()
        .and_then(|r| r.parse::<uuid::Uuid>().ok())
    else {
        return Ok(None);
    };
    Ok(payment_attempt::Entity::scoped(tx)
        .filter(payment_attempt::Column::Provider.eq(provider.as_str()))
        .filter(payment_attempt::Column::Id.eq(reference))
        .one(tx.conn())
        .await?)
}

/// Records a provider outcome for an attempt, in the caller's write transaction: the payment
/// (applied, shared, receipt queued) on success; the failure (lawyer emailed) on refusal;
/// nothing when the outcome is unknown.
pub async fn settle(
    tx: &TenantTx,
    attempt_id: PaymentAttemptId,
    outcome: Result<ProviderCharge, ProviderError>,
    firm_name: &str,
) -> BillingResult<Settled> {
    let invoice_id = attempt_row(tx, attempt_id).await?.invoice_id;
    // Lock the invoice first: a webhook and the paying request may settle at the same time.
    let invoice_row = invoices::row_for_update(tx, InvoiceId::from_uuid(invoice_id)).await?;
    // Read again under the lock, so an outcome the other one recorded meanwhile is seen.
    let attempt = attempt_row(tx, attempt_id).await?;
    let settled = |result: PayResult, changed: bool| Settled {
        result,
        changed,
        invoice_number: invoice_row.number.clone(),
        file_id: portico_platform::ids::FileId::from_uuid(invoice_row.matter_id),
    };
    if attempt.status == "succeeded" {
        return Ok(settled(result_of(tx, &attempt).await?, false));
    }
    let currency = crate::stored_currency(&attempt.currency);
    let (result, changed) = match outcome {
        Ok(charge) if charge.status == ChargeStatus::Succeeded => {
            if charge.amount != attempt.amount || charge.currency != currency {
                // Never trust a charge that does not match what we asked for.
                tracing::error!(attempt = %attempt.id, provider_payment = %charge.provider_payment_id,
                    "provider charge does not match the attempt; left pending");
                (result_of(tx, &attempt).await?, false)
            } else {
                let attempt =
                    record_portal_payment(tx, &attempt, &invoice_row, &charge, firm_name).await?;
                (result_of(tx, &attempt).await?, true)
            }
        }
        Ok(ProviderCharge {
            status: ChargeStatus::Failed { code, message },
            provider_payment_id,
            ..
        }) => {
            let transaction = Some(provider_payment_id);
            fail(tx, attempt, &invoice_row, transaction, code, message).await?
        }
        Err(ProviderError::Declined {
            code,
            message,
            payment_id,
        }) => fail(tx, attempt, &invoice_row, payment_id, code, message).await?,
        Err(ProviderError::Invalid(message)) => {
            let code = "invalid_request".to_owned();
            fail(tx, attempt, &invoice_row, None, code, message).await?
        }
        Err(ProviderError::NotConfigured(message)) => {
            let code = "not_configured".to_owned();
            fail(tx, attempt, &invoice_row, None, code, message.clone()).await?;
            return Err(BillingError::Provider(ProviderError::NotConfigured(
                message,
            )));
        }
        Err(ProviderError::IdempotencyConflict) => return Err(BillingError::key_reused()),
        // Pending, processing, network failure: the outcome is unknown; a retry with the same
        // key or the provider's webhook settles it.
        Ok(charge) => {
            let attempt = if attempt.provider_payment_id.is_none() {
                let mut active: payment_attempt::ActiveModel = attempt.into();
                active.provider_payment_id = Set(Some(charge.provider_payment_id));
                active.updated_at = Set(Utc::now());
                active.update(tx.conn()).await?
            } else {
                attempt
            };
            (result_of(tx, &attempt).await?, false)
        }
        Err(ProviderError::Unavailable(reason)) => {
            tracing::warn!(attempt = %attempt.id, %reason, "payment outcome unknown; left pending");
            (result_of(tx, &attempt).await?, false)
        }
        Err(ProviderError::NotFound) => {
            tracing::warn!(attempt = %attempt.id, "provider does not know the payment; left pending");
            (result_of(tx, &attempt).await?, false)
        }
    };
    Ok(settled(result, changed))
}

async fn attempt_row(tx: &TenantTx, id: PaymentAttemptId) -> BillingResult<payment_attempt::Model> {
    payment_attempt::Entity::scoped(tx)
        .filter(payment_attempt::Column::Id.eq(id.as_uuid()))
        .one(tx.conn())
        .await?
        .ok_or(BillingError::NotFound)
}

/// Records the payment, applies it to the invoice and queues the receipt; answers the attempt
/// as updated.
async fn record_portal_payment(
    tx: &TenantTx,
    attempt: &payment_attempt::Model,
    invoice_row: &invoice::Model,
    charge: &ProviderCharge,
    firm_name: &str,
) -> BillingResult<payment_attempt::Model> {
    let now = Utc::now();
    let currency = crate::stored_currency(&attempt.currency);
    let method_kind = methods_kind(tx, attempt.payment_method_id).await?;
    let id = PaymentId::new();
    let confirmation = confirmation_number();
    let mut row = payment::ActiveModel::new_active(tx);
    row.id = Set(id.as_uuid());
    row.matter_id = Set(invoice_row.matter_id);
    row.invoice_id = Set(Some(invoice_row.id));
    row.client_contact_id = Set(attempt.contact_id);
    row.amount = Set(attempt.amount);
    row.currency = Set(attempt.currency.clone());
    row.method = Set(method_kind);
    row.source = Set("portal".into());
    row.reference = Set(String::new());
    row.provider = Set(Some(attempt.provider.clone()));
    row.provider_payment_id = Set(Some(charge.provider_payment_id.clone()));
    row.confirmation_number = Set(Some(confirmation.clone()));
    row.attempt_id = Set(Some(attempt.id));
    // Payments made in the Portal are shown there at once.
    row.shared = Set(true);
    row.shared_at = Set(Some(now));
    row.recorded_by_kind = Set("client".into());
    row.recorded_by_id = Set(Some(attempt.contact_id));
    row.received_at = Set(now);
    row.created_at = Set(now);
    row.insert(tx.conn()).await?;
    let updated = if InvoiceStatus::parse(&invoice_row.status) == InvoiceStatus::Finalized {
        ledger::apply_to_invoice(tx, invoice_row.clone(), attempt.amount).await?
    } else {
        // Paid or voided meanwhile (e.g. a cheque recorded while the card was charged): the
        // money is recorded on the file for the firm to refund or apply; the invoice is left.
        tracing::warn!(invoice = %invoice_row.id, "portal payment arrived for an invoice that is no longer open");
        invoice_row.clone()
    };
    let mut active: payment_attempt::ActiveModel = attempt.clone().into();
    active.status = Set("succeeded".into());
    active.provider_payment_id = Set(Some(charge.provider_payment_id.clone()));
    active.payment_id = Set(Some(id.as_uuid()));
    active.failure_code = Set(None);
    active.failure_message = Set(None);
    active.updated_at = Set(now);
    let updated_attempt = active.update(tx.conn()).await?;
    let balance = Money::new((updated.total - updated.amount_paid).max(0), currency);
    let amount = Money::new(attempt.amount, currency);
    mail::enqueue(
        tx,
        OutgoingEmail {
            to: attempt.receipt_email.clone(),
            subject: format!("Payment receipt — invoice {} — {firm_name}", invoice_row.number),
            body_text: format!(
                "Dear {name},\n\n{firm_name} received your payment of {amount} for invoice {number}.\n\n\
                 Confirmation number: {confirmation}\nTransaction id: {transaction}\nRemaining balance: {balance}\n\n\
                 Keep this email as your receipt. You can see your bills at any time in the Billing section of the Client Portal.\n",
                name = attempt.payer_name,
                amount = crate::format_money(amount),
                number = invoice_row.number,
                transaction = charge.provider_payment_id,
                balance = crate::format_money(balance),
            ),
            kind: "payment_receipt",
        },
    )
    .await?;
    Ok(updated_attempt)
}

async fn methods_kind(tx: &TenantTx, id: uuid::Uuid) -> BillingResult<String> {
    Ok(crate::entity::payment_method::Entity::scoped(tx)
        .filter(crate::entity::payment_method::Column::Id.eq(id))
        .one(tx.conn())
        .await?
        .map(|m| m.kind)
        .unwrap_or_else(|| "card".into()))
}

async fn fail(
    tx: &TenantTx,
    attempt: payment_attempt::Model,
    invoice_row: &invoice::Model,
    provider_payment_id: Option<String>,
    code: String,
    message: String,
) -> BillingResult<(PayResult, bool)> {
    if attempt.status == "failed" {
        return Ok((result_of(tx, &attempt).await?, false));
    }
    let now = Utc::now();
    let amount = Money::new(attempt.amount, crate::stored_currency(&attempt.currency));
    let transaction = provider_payment_id
        .clone()
        .unwrap_or_else(|| attempt.id.to_string());
    let lawyer = attempt.lawyer_email.clone();
    let payer = attempt.payer_name.clone();
    let mut active: payment_attempt::ActiveModel = attempt.into();
    active.status = Set("failed".into());
    active.provider_payment_id = Set(provider_payment_id);
    active.failure_code = Set(Some(code.chars().take(100).collect()));
    active.failure_message = Set(Some(message.chars().take(500).collect()));
    active.updated_at = Set(now);
    let updated = active.update(tx.conn()).await?;
    if let Some(lawyer) = lawyer {
        mail::enqueue(
            tx,
            OutgoingEmail {
                to: lawyer,
                subject: format!("Client Portal payment failed — invoice {}", invoice_row.number),
                body_text: format!(
                    "A payment of {amount} by {payer} for invoice {number} in the Client Portal failed.\n\n\
                     Reason given by the payment provider: {message} ({code})\nTransaction id: {transaction}\n\n\
                     Nothing was recorded as paid. The client was shown this failure and can try again with another method.\n",
                    amount = crate::format_money(amount),
                    number = invoice_row.number,
                ),
                kind: "payment_failed",
            },
        )
        .await?;
    }
    Ok((result_of(tx, &updated).await?, true))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_checked() {
        assert!(check_key("8f14e45f-ceea-467a-9f0b-1a2b3c4d5e6f").is_ok());
        assert!(check_key("").is_err());
        assert!(check_key("has space").is_err());
        assert!(check_key(&"k".repeat(256)).is_err());
    }

    #[test]
    fn confirmation_numbers_are_readable_and_distinct() {
        let a = confirmation_number();
        let b = confirmation_number();
        assert_eq!(a.len(), "PC-XXXXX-XXXXX".len());
        assert!(a.starts_with("PC-"));
        assert_ne!(a, b);
    }
}
