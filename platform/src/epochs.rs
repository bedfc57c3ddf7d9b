//! Write epochs: a counter per firm that moves with every committed write transaction of the
//! firm. A value derived from a firm's rows and cached together with the epoch seen *before* it
//! was read is still current exactly while that epoch is unchanged — no list of which write
//! touches which cached value to keep up to date. Two kinds of write leave the epoch alone
//! because nothing kept with one reads what they write: sign-in bookkeeping
//! ([`crate::db::TenantDb::write_bookkeeping`]) and the cross-firm system jobs (outbox, notices,
//! digests).
//!
//! Where the counter lives depends on who writes the database:
//! - **SQLite** (one server process): in this process's memory ([`WriteEpochs`], striped over a
//!   fixed set of buckets), bumped after the write ends. Reading it costs nothing. A command run
//!   beside the server (`portico tenant …`) does not move it; the caches' TTL bounds that.
//! - **PostgreSQL** (any number of nodes): in the database (`tenant_write_epoch`, one row per
//!   firm; a declared platform table without row-level security, because it is read before the
//!   request's tenant transaction, and it holds nothing but the counter),
//!   bumped by the write transaction itself just before it commits, so the new rows and the new
//!   epoch become visible together, to every node at once. A request reads it once (one indexed
//!   row, outside any transaction) before it looks at anything kept: a sign-out, an unshared
//!   file, a new note committed through any node is seen by the very next request on every
//!   other node. A firm without a row has never been written since the table was added: epoch
//!   0, and its first write creates the row.

use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

use sea_orm::{ConnectionTrait, DbBackend, DbErr, Statement};

use crate::ids::TenantId;

/// Firms share buckets (a write to one firm also retires the cached values of the others in
/// its bucket); memory stays the same however many firms there are.
const BUCKETS: usize = 1024;

pub struct WriteEpochs {
    buckets: Box<[AtomicU64]>,
    hasher: std::collections::hash_map::RandomState,
}

impl Default for WriteEpochs {
    fn default() -> Self {
        Self {
            buckets: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
            hasher: std::collections::hash_map::RandomState::new(),
        }
    }
}

impl std::fmt::Debug for WriteEpochs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WriteEpochs").finish_non_exhaustive()
    }
}

impl WriteEpochs {
    fn bucket(&self, tenant: TenantId) -> &AtomicU64 {
        &self.buckets[(self.hasher.hash_one(tenant) as usize) % BUCKETS]
    }

    /// The firm's epoch now. Read it *before* reading what will be cached.
    pub fn current(&self, tenant: TenantId) -> u64 {
        self.bucket(tenant).load(Ordering::SeqCst)
    }

    /// Called after a write transaction of the firm has ended (committed or not).
    pub fn bump(&self, tenant: TenantId) {
        self.bucket(tenant).fetch_add(1, Ordering::SeqCst);
    }
}

/// A PostgreSQL statement on `tenant`'s row of the shared epochs (`$1` is the firm's id).
fn on_firms_row(sql: &str, tenant: TenantId) -> Statement {
    Statement::from_sql_and_values(DbBackend::Postgres, sql, [tenant.as_uuid().into()])
}

/// The firm's shared epoch (PostgreSQL).
pub(crate) async fn read_shared<C: ConnectionTrait>(
    conn: &C,
    tenant: TenantId,
) -> Result<u64, DbErr> {
    let row = conn
        .query_one_raw(on_firms_row(
            "SELECT epoch FROM tenant_write_epoch WHERE tenant_id = $1",
            tenant,
        ))
        .await?;
    let epoch: i64 = match row {
        Some(row) => row.try_get("", "epoch")?,
        None => 0,
    };
    Ok(epoch as u64)
}

/// Moves the firm's shared epoch inside the write transaction `tx`, just before its commit
/// (PostgreSQL). The row lock is held only from here to the commit, so concurrent writers of
/// one firm queue for one round trip at most.
pub(crate) async fn bump_shared<C: ConnectionTrait>(tx: &C, tenant: TenantId) -> Result<(), DbErr> {
    tx.execute_raw(on_firms_row(
        "INSERT INTO tenant_write_epoch (tenant_id, epoch) VALUES ($1, 1) \
         ON CONFLICT (tenant_id) DO UPDATE SET epoch = tenant_write_epoch.epoch + 1",
        tenant,
    ))
    .await?;
    Ok(())
}

/// Removes a deleted firm's row (PostgreSQL).
pub(crate) async fn delete_shared<C: ConnectionTrait>(
    conn: &C,
    tenant: TenantId,
) -> Result<(), DbErr> {
    conn.execute_raw(on_firms_row(
        "DELETE FROM tenant_write_epoch WHERE tenant_id = $1",
        tenant,
    ))
    .await?;
    Ok(())
}

/// A request's memory of its firm's shared epoch: read once per request (see
/// [`crate::db::TenantDb::epoch`]) and kept only while this process's own epoch of the firm
/// has not moved — so once a write of the firm by this process ends (the request's own write,
/// through any handle), the next call reads the database again and the request never answers
/// from memory kept before its own write.
#[derive(Debug, Default)]
pub(crate) struct SeenEpoch(Mutex<Option<Seen>>);

#[derive(Clone, Copy, Debug)]
struct Seen {
    /// This process's epoch of the firm, read before `shared`.
    local: u64,
    shared: u64,
}

impl SeenEpoch {
    /// The shared epoch remembered, if this process's epoch is still `local_now`.
    pub(crate) fn get(&self, local_now: u64) -> Option<u64> {
        let seen = (*self.0.lock().unwrap_or_else(PoisonError::into_inner))?;
        (seen.local == local_now).then_some(seen.shared)
    }

    /// Remembers `shared`, read after this process's epoch was `local`.
    pub(crate) fn remember(&self, local: u64, shared: u64) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = Some(Seen { local, shared });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_remembered_shared_epoch_lasts_until_this_process_writes_the_firm() {
        let epochs = WriteEpochs::default();
        let a = TenantId::new();
        let seen = SeenEpoch::default();
        assert_eq!(seen.get(epochs.current(a)), None, "nothing read yet");
        let local = epochs.current(a);
        seen.remember(local, 41);
        assert_eq!(seen.get(epochs.current(a)), Some(41));
        epochs.bump(a);
        assert_eq!(
            seen.get(epochs.current(a)),
            None,
            "a write of the firm by this process retires it"
        );
    }

    #[test]
    fn a_write_moves_its_firms_epoch() {
        let epochs = WriteEpochs::default();
        let (a, b) = (TenantId::new(), TenantId::new());
        let (a0, b0) = (epochs.current(a), epochs.current(b));
        epochs.bump(a);
        assert_ne!(epochs.current(a), a0);
        let b1 = epochs.current(b);
        assert!(
            b1 == b0 || b1 == b0 + 1,
            "b moves only if it shares a's bucket"
        );
    }
}
