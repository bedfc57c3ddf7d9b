//! Webhook events from a provider: after the signature is verified (by the provider) and the
//! object re-fetched from the provider (never trusting the event body), the event id is
//! recorded and its effect applied in one transaction. A second delivery of the same event —
//! after the first or at the same time — finds the id recorded and does nothing.

use chrono::Utc;
use portico_platform::ids::TenantId;
use portico_platform::{Database, TenantActiveModel, TenantTx};
use sea_orm::{ActiveValue::Set, DbErr, EntityTrait, TryInsertResult};

use crate::checkout::{self, Settled};
use crate::entity::{payment_account, webhook_event};
use crate::error::BillingResult;
use crate::provider::{ProviderCharge, ProviderKind, WebhookEvent};

pub enum WebhookOutcome {
    /// Seen before: nothing done.
    Duplicate,
    /// Recorded; `settled` when it concerned one of our payment attempts.
    Applied(Option<Settled>),
}

/// The firm an event's account belongs to (webhooks arrive on no firm's host).
pub async fn tenant_for_account(
    db: &Database,
    provider: ProviderKind,
    account: &str,
) -> Result<Option<TenantId>, DbErr> {
    // Platform-level map, not tenant-owned.
    #[allow(clippy::disallowed_methods)]
    let row =
        payment_account::Entity::find_by_id((provider.as_str().to_owned(), account.to_owned()))
            .one(db.unscoped_registry())
            .await?;
    Ok(row.map(|r| TenantId::from_uuid(r.tenant_id)))
}

/// Records the event (once) and applies the re-fetched charge to its attempt.
pub async fn record_and_apply(
    tx: &TenantTx,
    provider: ProviderKind,
    event: &WebhookEvent,
    charge: Option<ProviderCharge>,
    firm_name: &str,
) -> BillingResult<WebhookOutcome> {
    let mut row = webhook_event::ActiveModel::new_active(tx);
    row.provider = Set(provider.as_str().to_owned());
    row.event_id = Set(event.id.clone());
    row.event_type = Set(event.event_type.clone());
    row.object_id = Set(event.object_id.clone());
    row.received_at = Set(Utc::now());
    // ON CONFLICT DO NOTHING: a concurrent delivery waits for the first to commit and then
    // inserts nothing, without aborting its transaction.
    let inserted = webhook_event::Entity::insert(row)
        .on_conflict_do_nothing()
        .exec_without_returning(tx.conn())
        .await?;
    if !matches!(inserted, TryInsertResult::Inserted(n) if n > 0) {
        return Ok(WebhookOutcome::Duplicate);
    }
    let Some(charge) = charge else {
        return Ok(WebhookOutcome::Applied(None));
    };
    let Some(attempt) = checkout::attempt_for_charge(tx, provider, &charge).await? else {
        // A charge made outside the Portal (e.g. in the provider's dashboard): recorded only.
        return Ok(WebhookOutcome::Applied(None));
    };
    let settled = checkout::settle(
        tx,
        portico_platform::ids::PaymentAttemptId::from_uuid(attempt.id),
        Ok(charge),
        firm_name,
    )
    .await?;
    Ok(WebhookOutcome::Applied(Some(settled)))
}
