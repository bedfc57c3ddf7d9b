//! Small in-memory caches with a TTL as a safety net and explicit invalidation when their
//! source changes. [`TenantCache`] holds one value per firm, keyed by the firm's id, so one
//! firm's cached value can never be served to another; [`KeyedCache`] is the same mechanism
//! for the bootstrap lookups that are keyed by something else (a host's slug).

use std::borrow::Borrow;
use std::hash::Hash;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use moka::future::Cache;

use crate::ids::TenantId;

/// A cache in which a value loaded before an invalidation is never stored after it.
#[derive(Clone)]
pub struct KeyedCache<K, V> {
    inner: Cache<K, V>,
    /// Bumped by every invalidation: a value loaded before an invalidation that arrived while
    /// it was being loaded must not be cached (it may be the stale one).
    generation: Arc<AtomicU64>,
}

impl<K, V> KeyedCache<K, V>
where
    K: Hash + Eq + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    pub fn new(ttl: Duration, capacity: u64) -> Self {
        Self {
            inner: Cache::builder()
                .time_to_live(ttl)
                .max_capacity(capacity)
                .build(),
            generation: Arc::new(AtomicU64::new(0)),
        }
    }

    pub async fn get<Q>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.inner.get(key).await
    }

    pub async fn insert(&self, key: K, value: V) {
        self.inner.insert(key, value).await;
    }

    /// Read this before loading a value from its source, and pass it to
    /// [`insert_loaded`](Self::insert_loaded).
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    /// Caches a value loaded when the generation was `seen`, unless an invalidation came in
    /// meanwhile.
    pub async fn insert_loaded(&self, key: K, value: V, seen: u64) {
        if self.generation() == seen {
            self.inner.insert(key, value).await;
        }
    }

    pub async fn invalidate<Q>(&self, key: &Q)
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.inner.invalidate(key).await;
    }

    /// Drops every entry (after a missed cross-node invalidation).
    pub fn invalidate_all(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.inner.invalidate_all();
    }
}

/// One value per firm (see [`KeyedCache`] for the rules).
#[derive(Clone)]
pub struct TenantCache<V>(KeyedCache<TenantId, V>);

impl<V: Clone + Send + Sync + 'static> TenantCache<V> {
    pub fn new(ttl: Duration, capacity: u64) -> Self {
        Self(KeyedCache::new(ttl, capacity))
    }

    pub async fn get(&self, tenant: TenantId) -> Option<V> {
        self.0.get(&tenant).await
    }

    pub async fn insert(&self, tenant: TenantId, value: V) {
        self.0.insert(tenant, value).await;
    }

    /// See [`KeyedCache::generation`].
    pub fn generation(&self) -> u64 {
        self.0.generation()
    }

    /// See [`KeyedCache::insert_loaded`].
    pub async fn insert_loaded(&self, tenant: TenantId, value: V, seen: u64) {
        self.0.insert_loaded(tenant, value, seen).await;
    }

    pub async fn invalidate(&self, tenant: TenantId) {
        self.0.invalidate(&tenant).await;
    }

    pub fn invalidate_all(&self) {
        self.0.invalidate_all();
    }
}

/// Values derived from a firm's rows, each kept with the firm's write epoch seen before it was
/// read and served only while that epoch is unchanged (see [`crate::epochs`]): any write of
/// the firm retires them, with no per-write invalidation to forget. On PostgreSQL the epoch is
/// the database's, so a write through any node retires every node's values.
pub struct EpochCache<K, V> {
    inner: moka::sync::Cache<(TenantId, K), (u64, V)>,
}

impl<K, V> EpochCache<K, V>
where
    K: Hash + Eq + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    /// `ttl` bounds how long a value may be served at all: the safety net for writes that do
    /// not move the epoch (on SQLite, those of a command run beside the server).
    pub fn new(ttl: Duration, capacity: u64) -> Self {
        Self {
            inner: moka::sync::Cache::builder()
                .time_to_live(ttl)
                .max_capacity(capacity)
                .build(),
        }
    }

    /// [`new`](Self::new) for values of very different sizes: the cache holds at most
    /// `max_weight` in all, each value weighing what `weigh` says (e.g. its bytes).
    pub fn weighed(ttl: Duration, max_weight: u64, weigh: fn(&V) -> u32) -> Self {
        Self {
            inner: moka::sync::Cache::builder()
                .time_to_live(ttl)
                .max_capacity(max_weight)
                .weigher(move |_key, (_epoch, value): &(u64, V)| weigh(value))
                .build(),
        }
    }

    pub fn get(&self, tenant: TenantId, key: K, epoch_now: u64) -> Option<V> {
        let key = (tenant, key);
        match self.inner.get(&key) {
            Some((epoch, value)) if epoch == epoch_now => Some(value),
            Some(_) => {
                self.inner.invalidate(&key);
                None
            }
            None => None,
        }
    }

    /// Caches `value`, read after the firm's epoch was `epoch_seen`.
    pub fn insert(&self, tenant: TenantId, key: K, epoch_seen: u64, value: V) {
        self.inner.insert((tenant, key), (epoch_seen, value));
    }

    /// The value kept for `key` while the firm's epoch is still `epoch_now`, else `load`'s
    /// answer, kept with `epoch_now` — which must have been read before `load` reads anything.
    /// Failures are not kept. The flag says whether the value came from memory.
    pub async fn get_or_load<E>(
        &self,
        tenant: TenantId,
        key: K,
        epoch_now: u64,
        load: impl std::future::Future<Output = Result<V, E>>,
    ) -> Result<(V, bool), E>
    where
        K: Clone,
    {
        if let Some(kept) = self.get(tenant, key.clone(), epoch_now) {
            return Ok((kept, true));
        }
        let value = load.await?;
        self.insert(tenant, key, epoch_now, value.clone());
        Ok((value, false))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn values_are_per_tenant_and_invalidate() {
        let cache = TenantCache::new(Duration::from_secs(60), 100);
        let (a, b) = (TenantId::new(), TenantId::new());
        cache.insert(a, "a's options").await;
        assert_eq!(cache.get(a).await, Some("a's options"));
        assert_eq!(cache.get(b).await, None);
        cache.invalidate(a).await;
        assert_eq!(cache.get(a).await, None);
    }

    #[tokio::test]
    async fn a_value_loaded_across_an_invalidation_is_not_cached() {
        let cache = TenantCache::new(Duration::from_secs(60), 100);
        let a = TenantId::new();
        let seen = cache.generation();
        // The source changed while the old value was being loaded.
        cache.invalidate(a).await;
        cache.insert_loaded(a, "stale", seen).await;
        assert_eq!(cache.get(a).await, None);
        let seen = cache.generation();
        cache.insert_loaded(a, "fresh", seen).await;
        assert_eq!(cache.get(a).await, Some("fresh"));
    }

    #[tokio::test]
    async fn get_or_load_loads_once_per_epoch_and_keeps_no_failure() {
        let epochs = crate::epochs::WriteEpochs::default();
        let cache = EpochCache::new(Duration::from_secs(60), 100);
        let a = TenantId::new();
        let load = |value: &'static str| async move { Ok::<_, ()>(value) };
        let first = cache.get_or_load(a, "feed", epochs.current(a), load("read 1"));
        assert_eq!(first.await, Ok(("read 1", false)));
        let again = cache.get_or_load(a, "feed", epochs.current(a), load("read 2"));
        assert_eq!(again.await, Ok(("read 1", true)));
        epochs.bump(a);
        let failed = cache.get_or_load(a, "feed", epochs.current(a), async { Err(()) });
        assert_eq!(failed.await, Err(()));
        let after = cache.get_or_load(a, "feed", epochs.current(a), load("read 3"));
        assert_eq!(after.await, Ok(("read 3", false)));
    }

    #[test]
    fn an_epoch_cache_serves_a_value_only_while_its_firms_epoch_holds() {
        let epochs = crate::epochs::WriteEpochs::default();
        let cache = EpochCache::new(Duration::from_secs(60), 100);
        let (a, b) = (TenantId::new(), TenantId::new());
        let seen = epochs.current(a);
        cache.insert(a, "session", seen, "alice");
        assert_eq!(cache.get(a, "session", epochs.current(a)), Some("alice"));
        assert_eq!(cache.get(b, "session", epochs.current(b)), None);
        epochs.bump(a);
        assert_eq!(cache.get(a, "session", epochs.current(a)), None);
        // A value read before a write that ended meanwhile is never served.
        let seen = epochs.current(a);
        epochs.bump(a);
        cache.insert(a, "session", seen, "stale");
        assert_eq!(cache.get(a, "session", epochs.current(a)), None);
    }
}
