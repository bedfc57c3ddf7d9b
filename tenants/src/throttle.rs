//! Login throttling: failure counters per account and per client address, kept in the firm's
//! database so every node sees the same counts. A locked account answers 429 even for the
//! right password; password reset is never throttled by these counters (a reset clears the
//! account's counter), so nobody can lock a person out of their account for good.

use std::time::Duration;

use chrono::{DateTime, Utc};
use portico_platform::{Backend, TenantActiveModel, TenantDb, TenantScoped};
use sea_orm::sea_query::LockType;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, DbErr, EntityTrait, QueryFilter, QuerySelect,
};

use crate::entity::auth_throttle::{self, Column};

#[derive(Clone, Copy, Debug)]
pub struct ThrottlePolicy {
    pub account_max_failures: u32,
    pub account_window: Duration,
    pub lockout_base: Duration,
    pub lockout_max: Duration,
    pub ip_max_failures: u32,
    pub ip_window: Duration,
}

/// The counters one sign-in attempt touches.
#[derive(Clone, Debug)]
pub struct ThrottleKeys {
    pub account: String,
    pub ip: Option<String>,
}

impl ThrottleKeys {
    /// `scope` separates members from clients (`member`, `client`).
    pub fn new(scope: &str, email_normalized: &str, ip: Option<&str>) -> Self {
        Self {
            account: format!("{scope}:{email_normalized}"),
            ip: ip.map(|ip| format!("ip:{ip}")),
        }
    }
}

/// `Some(wait)` while any of the keys is locked.
pub async fn locked_for(db: &TenantDb, keys: &ThrottleKeys) -> Result<Option<Duration>, DbErr> {
    let mut wanted = vec![keys.account.clone()];
    wanted.extend(keys.ip.clone());
    let tx = db.read().await?;
    let rows = auth_throttle::Entity::scoped(&tx)
        .filter(Column::Key.is_in(wanted))
        .all(tx.conn())
        .await?;
    tx.commit().await?;
    let now = Utc::now();
    Ok(rows
        .iter()
        .filter_map(|r| r.locked_until)
        .filter(|until| *until > now)
        .max()
        .map(|until| (until - now).to_std().unwrap_or(Duration::from_secs(1))))
}

/// Counts a failed attempt against the account and the address, locking them when they reach
/// their limits.
pub async fn record_failure(
    db: &TenantDb,
    keys: &ThrottleKeys,
    policy: &ThrottlePolicy,
) -> Result<(), DbErr> {
    bump(db, &keys.account, policy.account_window, |failures| {
        (failures >= policy.account_max_failures).then(|| {
            let doublings = (failures - policy.account_max_failures).min(16);
            policy
                .lockout_base
                .saturating_mul(1 << doublings)
                .min(policy.lockout_max)
        })
    })
    .await?;
    if let Some(ip) = &keys.ip {
        bump(db, ip, policy.ip_window, |failures| {
            (failures >= policy.ip_max_failures).then_some(policy.ip_window)
        })
        .await?;
    }
    Ok(())
}

/// Forgets an account's failures (successful sign-in or password reset).
pub async fn clear_account(db: &TenantDb, keys: &ThrottleKeys) -> Result<(), DbErr> {
    // Nothing shown to a signed-in request reads these counters.
    let tx = db.write_bookkeeping().await?;
    auth_throttle::Entity::scoped_delete(&tx)
        .filter(Column::Key.eq(keys.account.as_str()))
        .exec(tx.conn())
        .await?;
    tx.commit().await
}

async fn bump(
    db: &TenantDb,
    key: &str,
    window: Duration,
    lock_for: impl Fn(u32) -> Option<Duration>,
) -> Result<(), DbErr> {
    let now = Utc::now();
    // Nothing shown to a signed-in request reads these counters.
    let tx = db.write_bookkeeping().await?;
    // Make sure the row exists, then take it under a row lock so concurrent failures add up.
    let mut seed = auth_throttle::ActiveModel::new_active(&tx);
    seed.key = Set(key.to_owned());
    seed.window_started_at = Set(now);
    seed.failures = Set(0);
    seed.locked_until = Set(None);
    auth_throttle::Entity::insert(seed)
        .on_conflict_do_nothing()
        .exec(tx.conn())
        .await?;
    let mut query = auth_throttle::Entity::scoped(&tx).filter(Column::Key.eq(key));
    if tx.backend() == Backend::Postgres {
        query = query.lock(LockType::Update);
    }
    let Some(row) = query.one(tx.conn()).await? else {
        tx.rollback().await?;
        return Ok(());
    };
    let window = chrono::Duration::from_std(window).unwrap_or_default();
    let (window_started_at, failures) = if now - row.window_started_at > window {
        (now, 1)
    } else {
        (row.window_started_at, row.failures.saturating_add(1))
    };
    let locked_until: Option<DateTime<Utc>> = lock_for(u32::try_from(failures).unwrap_or(u32::MAX))
        .map(|d| now + chrono::Duration::from_std(d).unwrap_or_default())
        .or(row.locked_until.filter(|until| *until > now));
    let mut update: auth_throttle::ActiveModel = row.into();
    update.window_started_at = Set(window_started_at);
    update.failures = Set(failures);
    update.locked_until = Set(locked_until);
    update.update(tx.conn()).await?;
    tx.commit().await
}
