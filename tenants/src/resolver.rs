//! Host resolution with a cache: slug → registry record. Only found firms are cached (a firm
//! onboarded a moment ago must resolve at once); suspension and deletion invalidate the entry
//! here and, through the invalidation bus, on every other node.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use moka::future::Cache;
use portico_platform::Database;
use portico_platform::invalidation::{Invalidation, InvalidationBus};
use sea_orm::DbErr;

use crate::registry::TenantRecord;

#[derive(Clone)]
pub struct TenantResolver {
    db: Database,
    cache: Cache<String, TenantRecord>,
    bus: InvalidationBus,
    /// Bumped by every invalidation, so a record read before one is not cached after it.
    generation: Arc<AtomicU64>,
}

impl TenantResolver {
    pub fn new(db: Database, ttl: Duration, bus: InvalidationBus) -> Self {
        let cache = Cache::builder()
            .max_capacity(100_000)
            .time_to_live(ttl)
            .build();
        Self {
            db,
            cache,
            bus,
            generation: Arc::new(AtomicU64::new(0)),
        }
    }

    pub async fn resolve(&self, slug: &str) -> Result<Option<TenantRecord>, DbErr> {
        if let Some(hit) = self.cache.get(slug).await {
            return Ok(Some(hit));
        }
        let seen = self.generation.load(Ordering::SeqCst);
        let found = crate::bootstrap::tenant_by_slug(&self.db, slug).await?;
        if let Some(record) = &found
            && self.generation.load(Ordering::SeqCst) == seen
        {
            self.cache.insert(slug.to_owned(), record.clone()).await;
        }
        Ok(found)
    }

    /// The firm's registry row changed: forget it here at once, and on every other node.
    pub async fn invalidate(&self, slug: &str) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.cache.invalidate(slug).await;
        self.bus
            .publish(Invalidation::Tenant {
                slug: slug.to_owned(),
            })
            .await;
    }

    /// Forgets one firm on this node only (an invalidation received from the bus).
    pub async fn forget(&self, slug: &str) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.cache.invalidate(slug).await;
    }

    /// Forgets every firm on this node only.
    pub fn forget_all(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.cache.invalidate_all();
    }
}
