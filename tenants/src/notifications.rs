//! Notifications: alerts to members when clients add things, batched notices to clients when
//! things are shared with them, and the nightly digest. The emails go through the outbox in the
//! same transaction as the state they report.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use portico_platform::ids::{ContactId, FileId, MemberId, TenantId};
use portico_platform::mail::{self, EnqueueError, OutgoingEmail};
use portico_platform::{Database, SystemJob, TenantActiveModel, TenantScoped, TenantTx};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
};
use uuid::Uuid;

use crate::activity::{self, ActivityKind};
use crate::entity::{
    client_notice, digest_run, member_preferences, portal_account, portal_file_share,
};
use crate::members;
use crate::portal_access::Client;

fn enqueue_err(err: EnqueueError) -> DbErr {
    match err {
        EnqueueError::Db(db) => db,
        EnqueueError::BadAddress(a) => DbErr::Custom(format!("bad address {a}")),
    }
}

/// Emails the members whose alert preference covers `file` that `client` added `what`.
pub async fn alert_members(
    tx: &TenantTx,
    file: FileId,
    file_label: &str,
    client: &Client,
    what: &str,
    portal_url: &str,
) -> Result<usize, DbErr> {
    let recipients = activity::alert_recipients(tx, file).await?;
    for member in &recipients {
        mail::enqueue(
            tx,
            OutgoingEmail {
                to: member.email.clone(),
                subject: format!("{} added {what} on {file_label}", client.name),
                body_text: format!(
                    "Hello {},\n\n{} added {what} on file {file_label} through the Client Portal.\n\n\
                     See it in the firm workspace: {portal_url}/firm/files/{file}\n\n\
                     (You receive these alerts by your preferences; change them on the Activity page.)\n",
                    member.name, client.name
                ),
                kind: "member_alert",
            },
        )
        .await
        .map_err(enqueue_err)?;
    }
    Ok(recipients.len())
}

/// Queues a notice for every client who can see `file` (active account, file shared).
pub async fn queue_client_notices(
    tx: &TenantTx,
    file: FileId,
    summary: &str,
) -> Result<usize, DbErr> {
    let shares = portal_file_share::Entity::scoped(tx)
        .filter(portal_file_share::Column::MatterId.eq(file.as_uuid()))
        .all(tx.conn())
        .await?;
    let mut queued = 0;
    for share in shares {
        let active = portal_account::Entity::scoped(tx)
            .filter(portal_account::Column::ContactId.eq(share.contact_id))
            .filter(portal_account::Column::Status.eq("active"))
            .one(tx.conn())
            .await?;
        if active.is_none() {
            continue;
        }
        queue_notice(tx, ContactId::from_uuid(share.contact_id), summary).await?;
        queued += 1;
    }
    Ok(queued)
}

/// [`queue_client_notices`] when the firm asked for client notifications.
pub async fn queue_client_notices_if(
    tx: &TenantTx,
    enabled: bool,
    file: FileId,
    summary: &str,
) -> Result<usize, DbErr> {
    if enabled {
        queue_client_notices(tx, file, summary).await
    } else {
        Ok(0)
    }
}

pub async fn queue_notice(tx: &TenantTx, contact: ContactId, summary: &str) -> Result<(), DbErr> {
    let mut row = client_notice::ActiveModel::new_active(tx);
    row.id = Set(Uuid::now_v7());
    row.contact_id = Set(contact.as_uuid());
    row.summary = Set(summary.chars().take(300).collect());
    row.created_at = Set(Utc::now());
    row.sent_at = Set(None);
    row.insert(tx.conn()).await?;
    Ok(())
}

/// Per-firm details the jobs need to write emails.
pub struct FirmForJob {
    pub portal_url: String,
    pub firm_name: String,
}

/// Clients with pending notices whose last notice email is older than `gap` (or who never got
/// one), across firms. One batch per client.
#[allow(clippy::disallowed_methods)] // named cross-firm job, guarded by its RLS clause
pub async fn due_notice_batches(
    db: &Database,
    gap: Duration,
) -> Result<Vec<(TenantId, ContactId)>, DbErr> {
    let tx = db.system_job(SystemJob::Notifications).await?;
    let pending = client_notice::Entity::find()
        .filter(client_notice::Column::SentAt.is_null())
        .order_by_asc(client_notice::Column::CreatedAt)
        .all(tx.conn())
        .await?;
    let mut due = Vec::new();
    let cutoff = Utc::now() - gap;
    for row in pending {
        let key = (
            TenantId::from_uuid(row.tenant_id),
            ContactId::from_uuid(row.contact_id),
        );
        if due.contains(&key) {
            continue;
        }
        let last_sent: Option<DateTime<Utc>> = client_notice::Entity::find()
            .filter(client_notice::Column::TenantId.eq(row.tenant_id))
            .filter(client_notice::Column::ContactId.eq(row.contact_id))
            .filter(client_notice::Column::SentAt.is_not_null())
            .order_by_desc(client_notice::Column::SentAt)
            .one(tx.conn())
            .await?
            .and_then(|r| r.sent_at);
        if last_sent.is_none_or(|t| t <= cutoff) {
            due.push(key);
        }
    }
    tx.commit().await?;
    Ok(due)
}

/// Sends one client's pending notices as one email (inside the firm's transaction). Returns
/// whether an email was queued.
pub async fn send_notice_batch(
    tx: &TenantTx,
    contact: ContactId,
    firm: &FirmForJob,
) -> Result<bool, DbErr> {
    let pending = client_notice::Entity::scoped(tx)
        .filter(client_notice::Column::ContactId.eq(contact.as_uuid()))
        .filter(client_notice::Column::SentAt.is_null())
        .order_by_asc(client_notice::Column::CreatedAt)
        .all(tx.conn())
        .await?;
    if pending.is_empty() {
        return Ok(false);
    }
    let now = Utc::now();
    let claimed = client_notice::Entity::scoped_update(tx)
        .col_expr(client_notice::Column::SentAt, Expr::value(Some(now)))
        .filter(client_notice::Column::Id.is_in(pending.iter().map(|p| p.id)))
        .filter(client_notice::Column::SentAt.is_null())
        .exec(tx.conn())
        .await?;
    if claimed.rows_affected == 0 {
        return Ok(false);
    }
    let account = portal_account::Entity::scoped(tx)
        .filter(portal_account::Column::ContactId.eq(contact.as_uuid()))
        .filter(portal_account::Column::Status.eq("active"))
        .one(tx.conn())
        .await?;
    let Some(account) = account else {
        return Ok(false);
    };
    let lines: Vec<String> = pending
        .iter()
        .map(|p| format!("  - {}", p.summary))
        .collect();
    mail::enqueue(
        tx,
        OutgoingEmail {
            to: account.login_email.clone(),
            subject: format!("New in your {} Client Portal", firm.firm_name),
            body_text: format!(
                "Hello,\n\n{} shared new information with you:\n{}\n\nSign in to see it: {}\n",
                firm.firm_name,
                lines.join("\n"),
                firm.portal_url
            ),
            kind: "client_notice",
        },
    )
    .await
    .map_err(enqueue_err)?;
    Ok(true)
}

/// Members who asked for the nightly digest, across firms.
#[allow(clippy::disallowed_methods)] // named cross-firm job, guarded by its RLS clause
pub async fn digest_subscribers(db: &Database) -> Result<Vec<(TenantId, MemberId)>, DbErr> {
    let tx = db.system_job(SystemJob::Notifications).await?;
    let rows = member_preferences::Entity::find()
        .filter(member_preferences::Column::NightlyDigest.eq(true))
        .all(tx.conn())
        .await?;
    tx.commit().await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            (
                TenantId::from_uuid(r.tenant_id),
                MemberId::from_uuid(r.member_id),
            )
        })
        .collect())
}

/// Produces the digest of `day` for one member: files clients changed that day on the member's
/// files. The `digest_run` row is inserted first in the same transaction, so a member gets at
/// most one digest per day, even across restarts and several nodes. Returns whether an email
/// was queued (no client changes: no email, but the day still counts as done).
pub async fn send_digest(
    tx: &TenantTx,
    member_id: MemberId,
    day: NaiveDate,
    firm: &FirmForJob,
) -> Result<bool, DbErr> {
    let Some(member) = members::get(tx, member_id).await? else {
        return Ok(false);
    };
    if !member.active {
        return Ok(false);
    }
    let mut run = digest_run::ActiveModel::new_active(tx);
    run.member_id = Set(member_id.as_uuid());
    run.day = Set(day.format("%Y-%m-%d").to_string());
    run.created_at = Set(Utc::now());
    // ON CONFLICT DO NOTHING: when another node claimed the day first, this insert waits for
    // it and then inserts nothing, without aborting our transaction.
    let claimed = digest_run::Entity::insert(run)
        .on_conflict_do_nothing()
        .exec_without_returning(tx.conn())
        .await?;
    if !matches!(claimed, sea_orm::TryInsertResult::Inserted(n) if n > 0) {
        return Ok(false);
    }
    let start = day
        .and_hms_opt(0, 0, 0)
        .map(|t| t.and_utc())
        .unwrap_or_else(Utc::now);
    let end = start + Duration::days(1);
    let entries = activity::list(
        tx,
        &member,
        &activity::Filter {
            kind: Some(ActivityKind::ClientActivity),
            days: Some(2),
            limit: 500,
        },
    )
    .await?;
    let mut files: Vec<String> = entries
        .iter()
        .filter(|e| e.occurred_at >= start && e.occurred_at < end)
        .filter_map(|e| e.file_number.clone())
        .collect();
    files.sort();
    files.dedup();
    if files.is_empty() {
        return Ok(false);
    }
    mail::enqueue(
        tx,
        OutgoingEmail {
            to: member.email.clone(),
            subject: format!("{}: files your clients changed on {day}", firm.firm_name),
            body_text: format!(
                "Hello {},\n\nClients changed these files of yours on {day}:\n{}\n\nOpen the activity: {}/firm/activity\n",
                member.name,
                files.iter().map(|f| format!("  - {f}")).collect::<Vec<_>>().join("\n"),
                firm.portal_url
            ),
            kind: "nightly_digest",
        },
    )
    .await
    .map_err(enqueue_err)?;
    Ok(true)
}
