//! The tenant registry and everything a firm does with its clients.

pub mod activity;
pub mod audit;
pub mod bootstrap;
pub mod contacts;
pub mod custom_fields;
pub mod documents;
pub mod entity;
pub mod files;
pub mod host;
pub mod items;
pub mod members;
pub mod notifications;
pub mod operator;
pub mod options;
pub mod passwords;
pub mod portal_access;
pub mod registry;
pub mod resolver;
pub mod sessions;
pub mod slug;
pub mod throttle;
pub mod tokens;

pub use registry::{
    NewTenant, OnboardedTenant, Registry, RegistryError, TenantRecord, TenantStatus,
};
pub use resolver::TenantResolver;
