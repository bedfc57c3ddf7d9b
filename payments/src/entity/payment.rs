//! `payment`: a payment received on a file: recorded offline by a member or taken through the Portal.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "payment")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub matter_id: Uuid,
    pub invoice_id: Option<Uuid>,
    pub client_contact_id: Uuid,
    pub amount: i64,
    pub currency: String,
    pub method: String,
    pub source: String,
    pub reference: String,
    pub provider: Option<String>,
    pub provider_payment_id: Option<String>,
    pub confirmation_number: Option<String>,
    pub attempt_id: Option<Uuid>,
    pub shared: bool,
    pub shared_at: Option<DateTimeUtc>,
    pub recorded_by_kind: String,
    pub recorded_by_id: Option<Uuid>,
    pub received_at: DateTimeUtc,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
