//! The outbox worker: claims due emails with a lease (so several nodes never send the same one
//! while it is being sent, and a crashed node's claims expire), sends them, records the outcome.

use std::time::Duration;

use chrono::{DateTime, Utc};
use lettre::Message;
use lettre::message::header::ContentType;
use lettre::message::{Mailbox, SinglePart};
use sea_orm::sea_query::{Expr, ExprTrait, LockBehavior, LockType};
use sea_orm::{ColumnTrait, Condition, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use tokio::sync::watch;
use uuid::Uuid;

use super::entity::{self, Column, STATUS_FAILED, STATUS_PENDING, STATUS_SENT};
use super::transport::MailTransport;
use crate::config::MailSettings;
use crate::db::{Backend, Database, SystemJob};

#[derive(Clone, Debug)]
pub struct WorkerConfig {
    pub from: Mailbox,
    /// Right-hand side of Message-IDs (`<outbox-id@domain>`), stable across retries.
    pub message_id_domain: String,
    pub poll_interval: Duration,
    pub batch_size: u64,
    pub lease: Duration,
    pub retry_base: Duration,
    pub retry_max: Duration,
    pub max_attempts: i32,
}

impl WorkerConfig {
    pub fn from_settings(settings: &MailSettings, base_domain: &str) -> Result<Self, String> {
        Ok(Self {
            from: settings
                .from
                .parse()
                .map_err(|err| format!("mail.from: {err}"))?,
            message_id_domain: base_domain.to_owned(),
            poll_interval: settings.poll_interval(),
            batch_size: u64::from(settings.batch_size),
            lease: Duration::from_secs(settings.lease_secs),
            retry_base: Duration::from_secs(settings.retry_base_secs),
            retry_max: Duration::from_secs(settings.retry_max_secs),
            max_attempts: i32::try_from(settings.max_attempts).unwrap_or(i32::MAX),
        })
    }

    /// Exponential back-off: base · 2^(attempt-1), capped.
    pub fn backoff(&self, attempts: i32) -> Duration {
        let exponent = u32::try_from(attempts.saturating_sub(1).clamp(0, 20)).unwrap_or(20);
        self.retry_base
            .saturating_mul(2u32.saturating_pow(exponent))
            .min(self.retry_max)
    }
}

pub struct OutboxWorker {
    db: Database,
    transport: MailTransport,
    config: WorkerConfig,
}

/// What one pass did, for logs and tests.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct BatchOutcome {
    pub sent: usize,
    pub retried: usize,
    pub failed: usize,
    /// Claimed, but taken over by another worker before their turn came.
    pub skipped: usize,
}

impl OutboxWorker {
    pub fn new(db: Database, transport: MailTransport, config: WorkerConfig) -> Self {
        Self {
            db,
            transport,
            config,
        }
    }

    /// Runs until `stop` changes; finishes the batch in hand before returning.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        tracing::info!("mail outbox worker started");
        loop {
            if *stop.borrow() {
                break;
            }
            match self.run_once().await {
                Ok(outcome) if outcome != BatchOutcome::default() => {
                    tracing::info!(
                        sent = outcome.sent,
                        retried = outcome.retried,
                        failed = outcome.failed,
                        "mail outbox batch"
                    );
                }
                Ok(_) => {}
                Err(err) => tracing::warn!(error = %err, "mail outbox pass failed"),
            }
            tokio::select! {
                _ = tokio::time::sleep(self.config.poll_interval) => {}
                _ = stop.changed() => {}
            }
        }
        tracing::info!("mail outbox worker stopped");
    }

    /// Claims and sends one batch of due emails.
    pub async fn run_once(&self) -> Result<BatchOutcome, DbErr> {
        let (claim, claimed) = self.claim_batch().await?;
        let mut outcome = BatchOutcome::default();
        for row in claimed {
            // The batch's lease covers the first emails; a slow server could make later ones
            // outlive it and another node take them over. Renew the claim right before each
            // email, and skip it if it is no longer ours.
            if !self.renew(&row, claim).await? {
                outcome.skipped += 1;
                continue;
            }
            let result = match self.build_message(&row) {
                Ok(message) => self
                    .transport
                    .send(message)
                    .await
                    .map_err(|err| err.to_string()),
                Err(err) => Err(err),
            };
            match result {
                Ok(()) => {
                    self.mark_sent(&row, claim).await?;
                    outcome.sent += 1;
                }
                Err(error) => {
                    let attempts = row.attempts + 1;
                    let gave_up = attempts >= self.config.max_attempts;
                    tracing::warn!(outbox_id = %row.id, attempts, gave_up, %error, "email not sent");
                    self.mark_failed_attempt(&row, claim, attempts, gave_up, &error)
                        .await?;
                    if gave_up {
                        outcome.failed += 1;
                    } else {
                        outcome.retried += 1;
                    }
                }
            }
        }
        Ok(outcome)
    }

    #[allow(clippy::disallowed_methods)] // named cross-firm system job, guarded by its RLS clause
    async fn claim_batch(&self) -> Result<(Uuid, Vec<entity::Model>), DbErr> {
        let claim = Uuid::new_v4();
        let now = Utc::now();
        let tx = self.db.system_job(SystemJob::MailOutbox).await?;
        let mut query = entity::Entity::find()
            .filter(Column::Status.eq(STATUS_PENDING))
            .filter(Column::NextAttemptAt.lte(now))
            .filter(
                Condition::any()
                    .add(Column::ClaimedUntil.is_null())
                    .add(Column::ClaimedUntil.lt(now)),
            )
            .order_by_asc(Column::NextAttemptAt)
            .limit(self.config.batch_size);
        if tx.backend() == Backend::Postgres {
            query = query.lock_with_behavior(LockType::Update, LockBehavior::SkipLocked);
        }
        let rows = query.all(tx.conn()).await?;
        if rows.is_empty() {
            tx.commit().await?;
            return Ok((claim, rows));
        }
        let lease_until = now + chrono::Duration::from_std(self.config.lease).unwrap_or_default();
        // The whole batch in one statement, by primary key.
        entity::Entity::update_many()
            .col_expr(Column::ClaimedUntil, Expr::value(Some(lease_until)))
            .col_expr(Column::ClaimedBy, Expr::value(Some(claim)))
            .filter(
                Expr::tuple([Expr::col(Column::TenantId), Expr::col(Column::Id)])
                    .in_tuples(rows.iter().map(|r| (r.tenant_id, r.id))),
            )
            .exec(tx.conn())
            .await?;
        tx.commit().await?;
        Ok((claim, rows))
    }

    /// Extends this claim on one email for another lease; false when the lease ran out and
    /// another worker claimed it (or it was sent) meanwhile.
    #[allow(clippy::disallowed_methods)] // named cross-firm system job, guarded by its RLS clause
    async fn renew(&self, row: &entity::Model, claim: Uuid) -> Result<bool, DbErr> {
        let lease_until =
            Utc::now() + chrono::Duration::from_std(self.config.lease).unwrap_or_default();
        let tx = self.db.system_job(SystemJob::MailOutbox).await?;
        let renewed = entity::Entity::update_many()
            .col_expr(Column::ClaimedUntil, Expr::value(Some(lease_until)))
            .filter(Column::TenantId.eq(row.tenant_id))
            .filter(Column::Id.eq(row.id))
            .filter(Column::Status.eq(STATUS_PENDING))
            .filter(Column::ClaimedBy.eq(claim))
            .exec(tx.conn())
            .await?;
        tx.commit().await?;
        Ok(renewed.rows_affected == 1)
    }

    fn build_message(&self, row: &entity::Model) -> Result<Message, String> {
        let to: Mailbox = row
            .to_address
            .parse()
            .map_err(|err| format!("bad recipient: {err}"))?;
        let body = row.body_text.clone().unwrap_or_default();
        Message::builder()
            .from(self.config.from.clone())
            .to(to)
            .subject(row.subject.clone())
            .message_id(Some(format!(
                "<{}@{}>",
                row.id, self.config.message_id_domain
            )))
            .singlepart(
                SinglePart::builder()
                    .header(ContentType::TEXT_PLAIN)
                    .body(body),
            )
            .map_err(|err| err.to_string())
    }

    #[allow(clippy::disallowed_methods)] // named cross-firm system job, guarded by its RLS clause
    async fn mark_sent(&self, row: &entity::Model, claim: Uuid) -> Result<(), DbErr> {
        let tx = self.db.system_job(SystemJob::MailOutbox).await?;
        entity::Entity::update_many()
            .col_expr(Column::Status, Expr::value(STATUS_SENT))
            .col_expr(Column::SentAt, Expr::value(Some(Utc::now())))
            .col_expr(Column::BodyText, Expr::value(Option::<String>::None))
            .col_expr(
                Column::ClaimedUntil,
                Expr::value(Option::<DateTime<Utc>>::None),
            )
            .col_expr(Column::Attempts, Expr::value(row.attempts + 1))
            .filter(Column::TenantId.eq(row.tenant_id))
            .filter(Column::Id.eq(row.id))
            .filter(Column::ClaimedBy.eq(claim))
            .exec(tx.conn())
            .await?;
        tx.commit().await
    }

    #[allow(clippy::disallowed_methods)] // named cross-firm system job, guarded by its RLS clause
    async fn mark_failed_attempt(
        &self,
        row: &entity::Model,
        claim: Uuid,
        attempts: i32,
        gave_up: bool,
        error: &str,
    ) -> Result<(), DbErr> {
        let next = Utc::now()
            + chrono::Duration::from_std(self.config.backoff(attempts)).unwrap_or_default();
        let status = if gave_up {
            STATUS_FAILED
        } else {
            STATUS_PENDING
        };
        let error: String = error.chars().take(500).collect();
        let tx = self.db.system_job(SystemJob::MailOutbox).await?;
        entity::Entity::update_many()
            .col_expr(Column::Status, Expr::value(status))
            .col_expr(Column::Attempts, Expr::value(attempts))
            .col_expr(Column::NextAttemptAt, Expr::value(next))
            .col_expr(Column::LastError, Expr::value(Some(error)))
            .col_expr(
                Column::ClaimedUntil,
                Expr::value(Option::<DateTime<Utc>>::None),
            )
            .filter(Column::TenantId.eq(row.tenant_id))
            .filter(Column::Id.eq(row.id))
            // Only while the claim is ours: never put an email another worker sent back into
            // the queue.
            .filter(Column::ClaimedBy.eq(claim))
            .filter(Column::Status.eq(STATUS_PENDING))
            .exec(tx.conn())
            .await?;
        tx.commit().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        let config = WorkerConfig {
            from: "a@b.example".parse().expect("mailbox"),
            message_id_domain: "example".into(),
            poll_interval: Duration::from_secs(1),
            batch_size: 10,
            lease: Duration::from_secs(60),
            retry_base: Duration::from_secs(5),
            retry_max: Duration::from_secs(60),
            max_attempts: 5,
        };
        assert_eq!(config.backoff(1), Duration::from_secs(5));
        assert_eq!(config.backoff(2), Duration::from_secs(10));
        assert_eq!(config.backoff(3), Duration::from_secs(20));
        assert_eq!(config.backoff(10), Duration::from_secs(60));
    }
}
