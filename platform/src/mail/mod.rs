//! The mail outbox. A state change and the email it causes are written in one transaction
//! ([`enqueue`]); the [`worker`] sends later through lettre and retries with back-off, so a
//! request never waits on SMTP and an email is never lost or sent for a change that rolled back.

pub mod entity;
pub mod transport;
pub mod worker;

use chrono::Utc;
use sea_orm::{ActiveModelTrait, ActiveValue::Set, DbErr};

use crate::db::TenantTx;
use crate::ids::OutboxId;
use crate::scoped::TenantActiveModel;

pub use transport::MailTransport;
pub use worker::{OutboxWorker, WorkerConfig};

/// An email to queue. Bodies are plain text: every email Portico sends is a short notice with
/// a link, and text renders safely everywhere.
#[derive(Clone, Debug)]
pub struct OutgoingEmail {
    pub to: String,
    pub subject: String,
    pub body_text: String,
    /// What caused the email (e.g. `member_setup`), for the outbox listing and tests.
    pub kind: &'static str,
}

#[derive(Debug, thiserror::Error)]
pub enum EnqueueError {
    #[error("`{0}` is not a valid email address")]
    BadAddress(String),
    #[error(transparent)]
    Db(#[from] DbErr),
}

/// Queues `email` inside the caller's transaction: it is sent only if that transaction commits.
pub async fn enqueue(tx: &TenantTx, email: OutgoingEmail) -> Result<OutboxId, EnqueueError> {
    if email.to.parse::<lettre::Address>().is_err() {
        return Err(EnqueueError::BadAddress(email.to));
    }
    let id = OutboxId::new();
    let now = Utc::now();
    let mut row = entity::ActiveModel::new_active(tx);
    row.id = Set(id.as_uuid());
    row.kind = Set(email.kind.to_owned());
    row.to_address = Set(email.to);
    row.subject = Set(email.subject);
    row.body_text = Set(Some(email.body_text));
    row.status = Set(entity::STATUS_PENDING.to_owned());
    row.attempts = Set(0);
    row.next_attempt_at = Set(now);
    row.claimed_until = Set(None);
    row.last_error = Set(None);
    row.created_at = Set(now);
    row.sent_at = Set(None);
    row.insert(tx.conn()).await?;
    Ok(id)
}
