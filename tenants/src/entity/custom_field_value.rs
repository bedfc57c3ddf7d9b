//! `custom_field_value`: one row per (file, field) holding the value and its Portal sharing.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "custom_field_value")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub matter_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub field_id: Uuid,
    /// The normalized value; `None` when cleared (or never set).
    pub value: Option<String>,
    /// `hidden`, `read_only` or `editable`.
    pub sharing: String,
    pub sharing_changed_at: Option<DateTimeUtc>,
    /// `member` or `client`: who last set the value.
    pub updated_by_kind: Option<String>,
    pub updated_by_id: Option<Uuid>,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
