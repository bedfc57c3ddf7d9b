//! Host resolution with a cache: slug → registry record. Only found firms are cached (a firm
//! onboarded a moment ago must resolve at once); suspension and deletion invalidate the entry
//! here and, through the invalidation bus, on every other node.

use std::time::Duration;

use portico_platform::Database;
use portico_platform::cache::KeyedCache;
use portico_platform::invalidation::{Invalidation, InvalidationBus};
use sea_orm::DbErr;

use crate::registry::TenantRecord;

#[derive(Clone)]
pub struct TenantResolver {
    db: Database,
    cache: KeyedCache<String, TenantRecord>,
    bus: InvalidationBus,
}

impl TenantResolver {
    pub fn new(db: Database, ttl: Duration, bus: InvalidationBus) -> Self {
        Self {
            db,
            cache: KeyedCache::new(ttl, 100_000),
            bus,
        }
    }

    pub async fn resolve(&self, slug: &str) -> Result<Option<TenantRecord>, DbErr> {
        if let Some(hit) = self.cache.get(slug).await {
            return Ok(Some(hit));
        }
        let seen = self.cache.generation();
        let found = crate::bootstrap::tenant_by_slug(&self.db, slug).await?;
        if let Some(record) = &found {
            self.cache
                .insert_loaded(slug.to_owned(), record.clone(), seen)
                .await;
        }
        Ok(found)
    }

    /// The firm's registry row changed: forget it here at once, and on every other node.
    pub async fn invalidate(&self, slug: &str) {
        self.forget(slug).await;
        self.bus
            .publish(Invalidation::Tenant {
                slug: slug.to_owned(),
            })
            .await;
    }

    /// Forgets one firm on this node only (an invalidation received from the bus).
    pub async fn forget(&self, slug: &str) {
        self.cache.invalidate(slug).await;
    }

    /// Forgets every firm on this node only.
    pub fn forget_all(&self) {
        self.cache.invalidate_all();
    }
}
