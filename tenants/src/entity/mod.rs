//! sea-orm entities of the tenants crate. Tenant-owned ones get the scoped finders.

pub mod audit_log;
pub mod auth_token;
pub mod member;
pub mod operator_session;
pub mod tenant;

portico_platform::tenant_scoped!(
    crate::entity::audit_log,
    crate::entity::auth_token,
    crate::entity::member,
);
