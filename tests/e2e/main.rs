//! End-to-end tests: the real application on a random port, on SQLite and PostgreSQL.
// Test code: a failed unwrap is a failed test, with the location in the message.
#![allow(clippy::unwrap_used)]

mod support;

mod access_log;
mod audit;
mod billing;
mod billing_stripe;
mod citus_ready;
mod cli;
mod crash;
mod custom_fields;
mod directory;
mod documents;
mod firm_auth;
mod headers;
mod hosts;
mod isolation_matrix;
mod items;
mod lifecycle;
mod members;
mod object_storage;
mod onboarding;
mod one_connection;
mod operator_console;
mod options;
mod outbox;
mod portal_access;
mod portal_pages;
mod portal_ui;
mod postgres_isolation;
mod provider_contract;
mod secrets;
mod sessions;
mod two_nodes;
