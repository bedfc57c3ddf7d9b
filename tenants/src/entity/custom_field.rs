//! `custom_field`: a firm's custom field definition (SPEC §7).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "custom_field")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// Unique per firm.
    pub name: String,
    /// `text`, `number`, `date`, `yes_no` or `choice`.
    pub kind: String,
    /// JSON array of the choices (empty unless `kind` is `choice`).
    pub choices: Json,
    /// When set, the field applies only to files of this type.
    pub file_type: Option<String>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
