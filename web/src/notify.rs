//! Wiring notifications into requests (alerts when clients add things, notices when members
//! share things) and the background jobs that batch client notices and send nightly digests.

use std::time::Duration;

use chrono::{Timelike, Utc};
use portico_platform::TenantTx;
use portico_platform::ids::FileId;
use portico_tenants::TenantRecord;
use portico_tenants::notifications::{self, FirmForJob};
use portico_tenants::portal_access::{self, Client};
use sea_orm::DbErr;
use tokio::sync::watch;

use crate::state::AppState;

/// A client added `what` (e.g. "a note") on `file`: alert the members who want to know.
pub async fn client_added(
    state: &AppState,
    tx: &TenantTx,
    tenant: &TenantRecord,
    file: FileId,
    client: &Client,
    what: &str,
) -> Result<(), DbErr> {
    let Some(shared) = portal_access::file_for_client(tx, client, file).await? else {
        return Ok(());
    };
    let _ = state;
    notifications::alert_members(
        tx,
        file,
        &format!("{} {}", shared.number, shared.name),
        client,
        what,
        &tenant.portal_url,
    )
    .await?;
    Ok(())
}

/// Something on `file` became visible to its clients: queue a notice for each of them when
/// the firm asked for it (Options > Client Portal, "notify clients on share").
pub async fn shared_with_clients(
    state: &AppState,
    tx: &TenantTx,
    tenant: &TenantRecord,
    file: FileId,
    summary: &str,
) -> Result<(), DbErr> {
    if crate::firm_options::options_in(state, tenant, tx)
        .await?
        .notify_client_on_share
    {
        notifications::queue_client_notices(tx, file, summary).await?;
    }
    Ok(())
}

/// Runs the notification jobs until `stop` changes.
pub async fn run_jobs(state: AppState, mut stop: watch::Receiver<bool>) {
    let every = Duration::from_secs(state.settings.notifications.poll_interval_secs);
    let mut last_sweep: Option<std::time::Instant> = None;
    loop {
        if *stop.borrow() {
            break;
        }
        if let Err(err) = run_once(&state).await {
            tracing::warn!(error = %err, "notification jobs failed");
        }
        if last_sweep.is_none_or(|t| t.elapsed() >= SWEEP_EVERY) {
            sweep_blobs(&state).await;
            last_sweep = Some(std::time::Instant::now());
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stop.changed() => {}
        }
    }
}

/// Blobs without rows (a crash between storing a blob and committing its row) are removed
/// this often.
const SWEEP_EVERY: Duration = Duration::from_secs(3600);

/// Removes orphan blobs and stale temp files of every active firm.
pub async fn sweep_blobs(state: &AppState) {
    let firms = match state.registry.list().await {
        Ok(firms) => firms,
        Err(err) => {
            tracing::warn!(error = %err, "blob sweep: listing firms failed");
            return;
        }
    };
    let policy = portico_tenants::documents::SweepPolicy::default();
    for firm in firms
        .into_iter()
        .filter(|f| f.status == portico_tenants::TenantStatus::Active)
    {
        let swept = async {
            let tx = state
                .db
                .tenant(firm.id)
                .read()
                .await
                .map_err(|e| e.to_string())?;
            let report = portico_tenants::documents::sweep(&tx, &state.blobs, &policy)
                .await
                .map_err(|e| e.to_string())?;
            tx.commit().await.map_err(|e| e.to_string())?;
            Ok::<_, String>(report)
        }
        .await;
        if let Err(err) = swept {
            tracing::warn!(tenant = %firm.slug, error = %err, "blob sweep failed");
        }
    }
}

/// One pass of both jobs. Public so tests can drive it.
pub async fn run_once(state: &AppState) -> Result<(usize, usize), DbErr> {
    let gap = chrono::Duration::minutes(state.settings.notifications.client_batch_minutes);
    let mut notices = 0;
    for (tenant_id, contact) in notifications::due_notice_batches(&state.db, gap).await? {
        let Some(firm) = firm_for_job(state, tenant_id).await? else {
            continue;
        };
        let tx = state.db.tenant(tenant_id).write().await?;
        if notifications::send_notice_batch(&tx, contact, &firm).await? {
            notices += 1;
        }
        tx.commit().await?;
    }
    let mut digests = 0;
    let now = Utc::now();
    if now.hour() >= state.settings.notifications.digest_hour_utc {
        let today = now.date_naive();
        for (tenant_id, member) in notifications::digest_subscribers(&state.db).await? {
            let Some(firm) = firm_for_job(state, tenant_id).await? else {
                continue;
            };
            let tx = state.db.tenant(tenant_id).write().await?;
            if notifications::send_digest(&tx, member, today, &firm).await? {
                digests += 1;
            }
            tx.commit().await?;
        }
    }
    Ok((notices, digests))
}

async fn firm_for_job(
    state: &AppState,
    tenant_id: portico_platform::ids::TenantId,
) -> Result<Option<FirmForJob>, DbErr> {
    let record = portico_tenants::bootstrap::tenant_by_id(&state.db, tenant_id).await?;
    let Some(record) = record.filter(|t| t.status == portico_tenants::TenantStatus::Active) else {
        return Ok(None);
    };
    let options = crate::firm_options::options_or_defaults(state, &record).await;
    Ok(Some(FirmForJob {
        firm_name: options.portal_name(&record.name).to_owned(),
        portal_url: record.portal_url.clone(),
    }))
}
