//! Tenant-keyed caches: one value per firm, with a TTL as a safety net and explicit
//! invalidation when the firm changes it. Keys are always the firm's id, so one firm's cached
//! value can never be served to another.

use std::time::Duration;

use moka::future::Cache;

use crate::ids::TenantId;

#[derive(Clone)]
pub struct TenantCache<V: Clone + Send + Sync + 'static> {
    inner: Cache<TenantId, V>,
}

impl<V: Clone + Send + Sync + 'static> TenantCache<V> {
    pub fn new(ttl: Duration, capacity: u64) -> Self {
        Self {
            inner: Cache::builder()
                .time_to_live(ttl)
                .max_capacity(capacity)
                .build(),
        }
    }

    pub async fn get(&self, tenant: TenantId) -> Option<V> {
        self.inner.get(&tenant).await
    }

    pub async fn insert(&self, tenant: TenantId, value: V) {
        self.inner.insert(tenant, value).await;
    }

    pub async fn invalidate(&self, tenant: TenantId) {
        self.inner.invalidate(&tenant).await;
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
}
