//! The firm's Client Portal options as requests need them: cached per firm, invalidated when
//! the firm saves them.

use std::sync::Arc;

use portico_tenants::TenantRecord;
use portico_tenants::options::{self, FirmOptions};

use crate::state::AppState;

/// The firm's options (defaults if it never saved any, or if the database is unreachable —
/// a login page should still render).
pub async fn options(state: &AppState, tenant: &TenantRecord) -> Arc<FirmOptions> {
    if let Some(hit) = state.options_cache.get(tenant.id).await {
        return hit;
    }
    let loaded = async {
        let tx = state.db.tenant(tenant.id).read().await?;
        let options = options::get(&tx).await?;
        tx.commit().await?;
        Ok::<_, sea_orm::DbErr>(options)
    }
    .await;
    match loaded {
        Ok(options) => {
            let options = Arc::new(options);
            state.options_cache.insert(tenant.id, options.clone()).await;
            options
        }
        Err(err) => {
            tracing::error!(tenant = %tenant.slug, error = %err, "loading firm options failed");
            Arc::new(FirmOptions::default())
        }
    }
}

pub async fn invalidate(state: &AppState, tenant: &TenantRecord) {
    state.options_cache.invalidate(tenant.id).await;
}
