//! Bootstrap lookups: the only queries that run before a tenant is known. They read the tenant
//! registry and platform-level sessions only, never a tenant-owned table.

use portico_platform::Database;
use portico_platform::token::TokenHash;
use sea_orm::{ColumnTrait, DbErr, EntityTrait, QueryFilter};

use crate::entity::{operator_session, tenant};
use crate::registry::TenantRecord;

/// Host → firm: the registry row for a slug.
#[allow(clippy::disallowed_methods)] // the registry is not tenant-owned
pub async fn tenant_by_slug(db: &Database, slug: &str) -> Result<Option<TenantRecord>, DbErr> {
    let row = tenant::Entity::find()
        .filter(tenant::Column::Slug.eq(slug))
        .one(db.unscoped_registry())
        .await?;
    Ok(row.map(TenantRecord::from))
}

/// Job → firm: the registry row for an id.
#[allow(clippy::disallowed_methods)] // the registry is not tenant-owned
pub async fn tenant_by_id(
    db: &Database,
    id: portico_platform::ids::TenantId,
) -> Result<Option<TenantRecord>, DbErr> {
    let row = tenant::Entity::find()
        .filter(tenant::Column::Id.eq(id.as_uuid()))
        .one(db.unscoped_registry())
        .await?;
    Ok(row.map(TenantRecord::from))
}

/// Operator console cookie → session.
#[allow(clippy::disallowed_methods)] // operator sessions are platform-level
pub async fn operator_session_by_hash(
    db: &Database,
    hash: &TokenHash,
) -> Result<Option<operator_session::Model>, DbErr> {
    operator_session::Entity::find()
        .filter(operator_session::Column::TokenHash.eq(hash.as_str()))
        .one(db.unscoped_registry())
        .await
}
