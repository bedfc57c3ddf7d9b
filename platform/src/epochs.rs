//! Write epochs: a counter per firm (striped over a fixed set of buckets) bumped after every
//! committed write transaction of this process. A value derived from a firm's rows and cached
//! together with the epoch seen *before* it was read is still current exactly while that epoch
//! is unchanged — no list of which write touches which cached value to keep up to date. Two
//! kinds of write leave the epoch alone because nothing kept with one reads what they write:
//! sign-in bookkeeping ([`crate::db::TenantDb::write_bookkeeping`]) and the cross-firm system
//! jobs (outbox, notices, digests).
//!
//! Only writes made by this process are seen, so a cache that relies on epochs alone is correct
//! only where one process writes the database: the embedded SQLite deployment. PostgreSQL
//! deployments may run several nodes and do not use such caches.

use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};

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

#[cfg(test)]
mod tests {
    use super::*;

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
