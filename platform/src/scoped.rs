//! Tenant-scoped finders. `Entity::find*`, `update_many` and `delete_many` are banned by clippy
//! (`clippy.toml`, `disallowed-methods`); these helpers are the sanctioned way in, and they add
//! `tenant_id = <the transaction's firm>` to every statement and every new row.

use sea_orm::{
    ActiveModelTrait, ColumnTrait, DeleteMany, EntityTrait, QueryFilter, Select, UpdateMany,
};

use crate::db::TenantTx;

/// Implemented (through [`tenant_scoped!`](crate::tenant_scoped)) by every tenant-owned entity.
pub trait TenantScoped: EntityTrait {
    fn tenant_column() -> Self::Column;

    /// `SELECT … WHERE tenant_id = <tx's firm>`.
    #[allow(clippy::disallowed_methods)] // the one sanctioned use
    fn scoped(tx: &TenantTx) -> Select<Self> {
        Self::find().filter(Self::tenant_column().eq(tx.tenant_id().as_uuid()))
    }

    /// `UPDATE … WHERE tenant_id = <tx's firm>`.
    #[allow(clippy::disallowed_methods)] // the one sanctioned use
    fn scoped_update(tx: &TenantTx) -> UpdateMany<Self> {
        Self::update_many().filter(Self::tenant_column().eq(tx.tenant_id().as_uuid()))
    }

    /// `DELETE … WHERE tenant_id = <tx's firm>`.
    #[allow(clippy::disallowed_methods)] // the one sanctioned use
    fn scoped_delete(tx: &TenantTx) -> DeleteMany<Self> {
        Self::delete_many().filter(Self::tenant_column().eq(tx.tenant_id().as_uuid()))
    }
}

/// New rows of a tenant-owned entity start from this, with `tenant_id` already set.
pub trait TenantActiveModel: ActiveModelTrait {
    fn new_active(tx: &TenantTx) -> Self;
}

/// `tenant_scoped!(path::to::entity_module)` implements [`TenantScoped`] and
/// [`TenantActiveModel`] for an entity module whose table has a `tenant_id` column.
#[macro_export]
macro_rules! tenant_scoped {
    ($($module:path),* $(,)?) => {$(
        const _: () = {
            use $module as m;
            impl $crate::scoped::TenantScoped for m::Entity {
                fn tenant_column() -> m::Column {
                    m::Column::TenantId
                }
            }
            impl $crate::scoped::TenantActiveModel for m::ActiveModel {
                fn new_active(tx: &$crate::db::TenantTx) -> Self {
                    m::ActiveModel {
                        tenant_id: ::sea_orm::ActiveValue::Set(tx.tenant_id().as_uuid()),
                        ..::core::default::Default::default()
                    }
                }
            }
        };
    )*};
}
