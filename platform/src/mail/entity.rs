//! `mail_outbox`: one row per email, tenant-owned.

use sea_orm::entity::prelude::*;

pub const STATUS_PENDING: &str = "pending";
pub const STATUS_SENT: &str = "sent";
pub const STATUS_FAILED: &str = "failed";

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "mail_outbox")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub kind: String,
    pub to_address: String,
    pub subject: String,
    /// Cleared once sent: bodies can carry single-use links, which should not outlive delivery.
    pub body_text: Option<String>,
    pub status: String,
    pub attempts: i32,
    pub next_attempt_at: DateTimeUtc,
    /// Set while a worker holds the email; another worker may take it once this has passed.
    pub claimed_until: Option<DateTimeUtc>,
    /// The claim (one per claimed batch) that holds the email while `claimed_until` lasts.
    pub claimed_by: Option<Uuid>,
    pub last_error: Option<String>,
    pub created_at: DateTimeUtc,
    pub sent_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

crate::tenant_scoped!(crate::mail::entity);
