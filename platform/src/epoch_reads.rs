//! Reads of a firm's shared write epoch (PostgreSQL, see [`crate::epochs`]), joined: requests of
//! one firm that arrive while a read of its epoch is under way wait for the *next* read and all
//! take its answer, so a busy firm costs one round trip per round-trip time instead of one per
//! request.
//!
//! Why only the next one: a read already under way may have taken its snapshot before a write
//! that the arriving request's client has seen committed (its answer came back from another
//! node a moment ago). A read that *starts* after the request arrived sees every commit that
//! came before the arrival, so answering the request with it keeps the promise of
//! [`crate::epochs`] — a write through any node is seen by every node's very next request —
//! while one read serves every request that queued behind the one before.
//!
//! Each firm being read has a slot (a counter of reads started and the last answer, behind a
//! FIFO lock); a slot lives only while a request of the firm is inside, so idle firms cost no
//! memory. A request that holds a transaction does not come here
//! ([`crate::db::TenantDb::epoch_in`]): it reads in its own transaction, and never waits on a
//! read that needs a second pooled connection.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use sea_orm::DbErr;

use crate::ids::TenantId;

#[derive(Debug, Default)]
pub(crate) struct SharedEpochReads {
    slots: Mutex<HashMap<TenantId, Arc<Slot>>>,
    counts: EpochReadCounts,
}

/// How many requests read the shared epoch themselves and how many took a read started after
/// they arrived.
#[derive(Debug, Default)]
pub(crate) struct EpochReadCounts {
    read: AtomicU64,
    joined: AtomicU64,
}

impl EpochReadCounts {
    /// `(read, joined)` since the process started.
    pub(crate) fn get(&self) -> (u64, u64) {
        (
            self.read.load(Ordering::Relaxed),
            self.joined.load(Ordering::Relaxed),
        )
    }
}

#[derive(Debug, Default)]
struct Slot {
    /// Reads of this firm's epoch started through this slot (numbered from 1).
    started: AtomicU64,
    /// The last read that finished: its number and its answer. A tokio lock, because it is held
    /// across the read, and fair, so waiters are served in the order they came.
    last: tokio::sync::Mutex<Option<(u64, u64)>>,
}

impl SharedEpochReads {
    pub(crate) fn counts(&self) -> &EpochReadCounts {
        &self.counts
    }

    /// The firm's shared epoch from `load` (one read of the database), or from a read by
    /// another request that started after this call began.
    pub(crate) async fn read<F, Fut>(&self, tenant: TenantId, load: F) -> Result<u64, DbErr>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<u64, DbErr>>,
    {
        let slot = SlotHold::take(self, tenant);
        // Every read numbered above `arrived` started after this point.
        let arrived = slot.started.load(Ordering::SeqCst);
        let mut last = slot.last.lock().await;
        if let Some((number, epoch)) = *last
            && number > arrived
        {
            self.counts.joined.fetch_add(1, Ordering::Relaxed);
            return Ok(epoch);
        }
        let number = slot.started.fetch_add(1, Ordering::SeqCst) + 1;
        // A failed read leaves `last` as it was: the waiters behind it read for themselves.
        let epoch = load().await?;
        *last = Some((number, epoch));
        self.counts.read.fetch_add(1, Ordering::Relaxed);
        Ok(epoch)
    }

    #[cfg(test)]
    fn slots_held(&self) -> usize {
        self.slots
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

/// A request's hold on its firm's slot; the last one out removes the slot.
struct SlotHold<'a> {
    reads: &'a SharedEpochReads,
    tenant: TenantId,
    slot: Arc<Slot>,
}

impl<'a> SlotHold<'a> {
    fn take(reads: &'a SharedEpochReads, tenant: TenantId) -> Self {
        let slot = reads
            .slots
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(tenant)
            .or_default()
            .clone();
        Self {
            reads,
            tenant,
            slot,
        }
    }
}

impl std::ops::Deref for SlotHold<'_> {
    type Target = Slot;
    fn deref(&self) -> &Slot {
        &self.slot
    }
}

impl Drop for SlotHold<'_> {
    fn drop(&mut self) {
        let mut slots = self
            .reads
            .slots
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        // Holds are only taken under this lock, so two references (the map's and this one)
        // mean nobody else is inside.
        if Arc::strong_count(&self.slot) == 2 {
            slots.remove(&self.tenant);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::sync::oneshot;
    use tokio::task::JoinHandle;

    use super::*;

    /// Lets every spawned task run until it waits on something.
    async fn settle() {
        for _ in 0..20 {
            tokio::task::yield_now().await;
        }
    }

    /// A request of `firm` whose own read of the database, if it makes one, answers `answer`
    /// once the returned sender fires (or is dropped); the request runs until it has its epoch.
    fn request(
        reads: &Arc<SharedEpochReads>,
        firm: TenantId,
        answer: Result<u64, DbErr>,
    ) -> (oneshot::Sender<()>, JoinHandle<Result<u64, DbErr>>) {
        let (finish, finished) = oneshot::channel::<()>();
        let reads = reads.clone();
        let task = tokio::spawn(async move {
            reads
                .read(firm, || async move {
                    finished.await.ok();
                    answer
                })
                .await
        });
        (finish, task)
    }

    async fn epoch_of(task: JoinHandle<Result<u64, DbErr>>) -> Option<u64> {
        tokio::time::timeout(Duration::from_secs(5), task)
            .await
            .ok()
            .and_then(Result::ok)
            .and_then(Result::ok)
    }

    #[tokio::test]
    async fn a_request_takes_only_a_read_that_started_after_it_arrived() {
        let reads = Arc::new(SharedEpochReads::default());
        let firm = TenantId::new();

        // A read of epoch 1 is under way…
        let (finish_first, first) = request(&reads, firm, Ok(1));
        settle().await;
        // …when two more requests arrive (a write moved the epoch to 2 meanwhile). The first
        // of them must read again; the second takes that read, which started after it arrived.
        let (finish_second, second) = request(&reads, firm, Ok(2));
        settle().await;
        let (_, third) = request(&reads, firm, Ok(3));
        settle().await;

        finish_first.send(()).ok();
        assert_eq!(epoch_of(first).await, Some(1));
        settle().await;
        assert!(
            !third.is_finished(),
            "the read it arrived during is too old"
        );
        finish_second.send(()).ok();
        assert_eq!(epoch_of(second).await, Some(2));
        assert_eq!(epoch_of(third).await, Some(2), "it took the second read");
        assert_eq!(reads.counts().get(), (2, 1));
        assert_eq!(reads.slots_held(), 0, "an idle firm keeps no slot");
    }

    #[tokio::test]
    async fn a_failed_read_leaves_the_waiters_to_read_for_themselves() {
        let reads = Arc::new(SharedEpochReads::default());
        let firm = TenantId::new();
        let (fail, failed) = request(&reads, firm, Err(DbErr::Custom("connection lost".into())));
        settle().await;
        let (finish_waiter, waiter) = request(&reads, firm, Ok(7));
        settle().await;
        fail.send(()).ok();
        assert!(matches!(failed.await, Ok(Err(_))));
        finish_waiter.send(()).ok();
        assert_eq!(epoch_of(waiter).await, Some(7));
    }

    #[tokio::test]
    async fn firms_do_not_wait_for_each_other() {
        let reads = Arc::new(SharedEpochReads::default());
        let (a, b) = (TenantId::new(), TenantId::new());
        let (_keep_a_reading, _stuck) = request(&reads, a, Ok(1));
        settle().await;
        let (finish_b, other) = request(&reads, b, Ok(9));
        finish_b.send(()).ok();
        assert_eq!(epoch_of(other).await, Some(9));
    }
}
