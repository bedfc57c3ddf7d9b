//! sea-orm entities of the tenants crate. Tenant-owned ones get the scoped finders.

pub mod activity;
pub mod appointment;
pub mod audit_log;
pub mod auth_throttle;
pub mod auth_token;
pub mod client_notice;
pub mod contact;
pub mod custom_field;
pub mod custom_field_value;
pub mod digest_run;
pub mod document;
pub mod firm_options;
pub mod matter;
pub mod matter_member;
pub mod matter_person;
pub mod member;
pub mod member_preferences;
pub mod note;
pub mod operator_session;
pub mod portal_account;
pub mod portal_file_share;
pub mod session;
pub mod task;
pub mod tenant;
pub mod tenant_key;

portico_platform::tenant_scoped!(
    crate::entity::activity,
    crate::entity::appointment,
    crate::entity::client_notice,
    crate::entity::digest_run,
    crate::entity::document,
    crate::entity::member_preferences,
    crate::entity::note,
    crate::entity::task,
    crate::entity::audit_log,
    crate::entity::auth_throttle,
    crate::entity::auth_token,
    crate::entity::contact,
    crate::entity::custom_field,
    crate::entity::custom_field_value,
    crate::entity::firm_options,
    crate::entity::matter,
    crate::entity::matter_member,
    crate::entity::matter_person,
    crate::entity::member,
    crate::entity::portal_account,
    crate::entity::portal_file_share,
    crate::entity::session,
    crate::entity::tenant_key,
);
