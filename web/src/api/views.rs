//! JSON shapes shared by several API areas.

use chrono::{DateTime, Utc};
use poem_openapi::Object;
use portico_tenants::members::Member;

#[derive(Debug, Object)]
pub struct MemberView {
    pub id: uuid::Uuid,
    pub name: String,
    pub email: String,
    pub is_admin: bool,
    /// "Permitted to share items and invite clients to the Portal".
    pub portal_rights: bool,
    pub active: bool,
    /// False until the member has chosen a password from the setup link.
    pub has_password: bool,
    #[oai(nullable)]
    pub last_login_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

impl From<Member> for MemberView {
    fn from(m: Member) -> Self {
        Self {
            id: m.id.as_uuid(),
            name: m.name,
            email: m.email,
            is_admin: m.is_admin,
            portal_rights: m.portal_rights,
            active: m.active,
            has_password: m.has_password,
            last_login_at: m.last_login_at,
            created_at: m.created_at,
        }
    }
}
