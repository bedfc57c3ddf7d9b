//! The shared kernel: mechanisms every other crate builds on, and no business rules.

pub mod cache;
pub mod config;
pub mod crypto;
pub mod db;
mod epoch_reads;
pub mod epochs;
pub mod ids;
pub mod invalidation;
pub mod mail;
pub mod money;
pub mod password;
pub mod scoped;
pub mod storage;
pub mod telemetry;
pub mod token;

pub use config::Settings;
pub use db::{Backend, Database, RegistryTx, SystemJob, SystemJobTx, TenantDb, TenantTx};
pub use scoped::{TenantActiveModel, TenantScoped};
