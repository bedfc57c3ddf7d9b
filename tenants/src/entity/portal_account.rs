//! `portal_account`: a contact's Client Portal account (one per contact).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "portal_account")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub contact_id: Uuid,
    pub login_email: String,
    pub login_email_normalized: String,
    /// A new login email awaiting verification; the old one works until then.
    pub pending_login_email: Option<String>,
    pub status: String,
    pub password_hash: Option<String>,
    pub terms_accepted_at: Option<DateTimeUtc>,
    pub invited_at: Option<DateTimeUtc>,
    pub invitation_expires_at: Option<DateTimeUtc>,
    pub last_login_at: Option<DateTimeUtc>,
    /// The sign-in before the last one (what "since last login" means to the client).
    pub previous_login_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
