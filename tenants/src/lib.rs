//! The tenant registry and everything a firm does with its clients.

pub mod audit;
pub mod bootstrap;
pub mod entity;
pub mod host;
pub mod members;
pub mod operator;
pub mod options;
pub mod passwords;
pub mod registry;
pub mod resolver;
pub mod sessions;
pub mod slug;
pub mod throttle;
pub mod tokens;

pub use registry::{NewTenant, OnboardedTenant, Registry, RegistryError, TenantRecord, TenantStatus};
pub use resolver::TenantResolver;
