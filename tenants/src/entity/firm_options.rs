//! `firm_options`: Options > Client Portal, one row per firm.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "firm_options")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: Uuid,
    pub portal_enabled: bool,
    pub invitation_valid_days: i32,
    pub invitation_template: String,
    pub terms_of_service: String,
    pub display_name: String,
    pub accent_color: String,
    pub welcome_message: String,
    /// Comma-separated item kinds (`documents,notes,…`).
    pub shareable_kinds: String,
    pub notify_client_on_share: bool,
    pub upload_limit_mb: i32,
    pub logo_content_type: Option<String>,
    pub logo: Option<Vec<u8>>,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
