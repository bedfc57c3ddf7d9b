//! Host resolution with a cache: slug → registry record. Only found firms are cached (a firm
//! onboarded a moment ago must resolve at once); suspension and deletion invalidate the entry.

use std::time::Duration;

use moka::future::Cache;
use portico_platform::Database;
use sea_orm::DbErr;

use crate::registry::TenantRecord;

#[derive(Clone)]
pub struct TenantResolver {
    db: Database,
    cache: Cache<String, TenantRecord>,
}

impl TenantResolver {
    pub fn new(db: Database, ttl: Duration) -> Self {
        let cache = Cache::builder()
            .max_capacity(100_000)
            .time_to_live(ttl)
            .build();
        Self { db, cache }
    }

    pub async fn resolve(&self, slug: &str) -> Result<Option<TenantRecord>, DbErr> {
        if let Some(hit) = self.cache.get(slug).await {
            return Ok(Some(hit));
        }
        let found = crate::bootstrap::tenant_by_slug(&self.db, slug).await?;
        if let Some(record) = &found {
            self.cache.insert(slug.to_owned(), record.clone()).await;
        }
        Ok(found)
    }

    pub async fn invalidate(&self, slug: &str) {
        self.cache.invalidate(slug).await;
    }
}
