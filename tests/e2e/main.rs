//! End-to-end tests: the real application on a random port, on SQLite and PostgreSQL.

mod support;

mod cli;
mod hosts;
mod lifecycle;
mod onboarding;
mod operator_console;
mod outbox;
mod postgres_isolation;
