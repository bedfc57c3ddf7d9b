//! HTTP for Portico: routes, the JSON API, HTML pages, middleware, and the `portico` CLI.

pub mod activity_feed;
pub mod api;
pub mod app;
pub mod audit_query;
pub mod auth;
pub mod billing;
pub mod cli;
pub mod client_auth;
pub mod client_reads;
pub mod demo;
pub mod error;
pub mod firm_accounts;
pub mod firm_options;
pub mod http_server;
pub mod metrics;
pub mod middleware;
pub mod notify;
pub mod operator_throttle;
pub mod pages;
pub mod portal_accounts;
pub mod state;
pub mod templates;
pub mod webhooks;

pub use app::{Application, BuildOptions};
