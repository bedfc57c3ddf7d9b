//! `payment_attempt`: one Pay Now attempt: the idempotency ledger between a client's key and the provider.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "payment_attempt")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub invoice_id: Uuid,
    pub contact_id: Uuid,
    pub idempotency_key: String,
    pub payment_method_id: Uuid,
    pub amount: i64,
    pub currency: String,
    pub provider: String,
    pub account: String,
    pub status: String,
    pub provider_payment_id: Option<String>,
    pub failure_code: Option<String>,
    pub failure_message: Option<String>,
    pub payment_id: Option<Uuid>,
    pub payer_name: String,
    pub receipt_email: String,
    pub lawyer_email: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
