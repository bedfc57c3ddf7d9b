//! `payment_method_setup`: step one of adding a payment method, awaiting the browser's token.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "payment_method_setup")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub contact_id: Uuid,
    pub provider: String,
    pub account: String,
    pub provider_setup_id: String,
    pub created_at: DateTimeUtc,
    pub completed_at: Option<DateTimeUtc>,
    pub payment_method_id: Option<Uuid>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
