//! sea-orm entities of the tenants crate. Tenant-owned ones get the scoped finders.

pub mod audit_log;
pub mod auth_throttle;
pub mod auth_token;
pub mod contact;
pub mod firm_options;
pub mod matter;
pub mod matter_member;
pub mod matter_person;
pub mod member;
pub mod operator_session;
pub mod portal_account;
pub mod portal_file_share;
pub mod session;
pub mod tenant;

portico_platform::tenant_scoped!(
    crate::entity::audit_log,
    crate::entity::auth_throttle,
    crate::entity::auth_token,
    crate::entity::contact,
    crate::entity::firm_options,
    crate::entity::matter,
    crate::entity::matter_member,
    crate::entity::matter_person,
    crate::entity::member,
    crate::entity::portal_account,
    crate::entity::portal_file_share,
    crate::entity::session,
);
