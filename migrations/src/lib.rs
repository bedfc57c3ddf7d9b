//! Every table, index, role grant and row-level-security policy, for SQLite and PostgreSQL.
//!
//! Tables are written as SQL rather than with the schema builder because the tenancy rules are
//! SQL-shaped: `tenant_id` leads every primary key, unique key, index and foreign key (so a row
//! can never point into another firm, and every table can later be distributed by `tenant_id`),
//! and PostgreSQL gets row-level security enabled *and forced* on every tenant-owned table.

mod m0001_foundation;
mod m0002_firm_workspace;
mod m0003_portal_access;
mod m0004_sharing;
mod m0005_billing;
mod m0006_write_epochs;
mod sql;

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend, Statement};

pub use sea_orm_migration::MigratorTrait;
pub use sql::tenant_isolation_policy_sql;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m0001_foundation::Migration),
            Box::new(m0002_firm_workspace::Migration),
            Box::new(m0003_portal_access::Migration),
            Box::new(m0004_sharing::Migration),
            Box::new(m0005_billing::Migration),
            Box::new(m0006_write_epochs::Migration),
        ]
    }
}

/// Every tenant-owned table, children before parents: the order in which deleting a firm
/// removes its rows. A test checks this list against the database catalogue, so a new table
/// cannot be forgotten by firm deletion or by row-level security.
pub const TENANT_TABLES: &[&str] = &[
    "webhook_event",
    "payment_method_setup",
    "billing_customer",
    "payment",
    "payment_attempt",
    "payment_method",
    "invoice_line",
    "invoice",
    "billing_settings",
    "client_notice",
    "digest_run",
    "member_preferences",
    "activity",
    "custom_field_value",
    "custom_field",
    "task",
    "appointment",
    "note",
    "document",
    "tenant_key",
    "portal_file_share",
    "portal_account",
    "matter_person",
    "matter_member",
    "matter",
    "contact",
    "auth_throttle",
    "session",
    "firm_options",
    "audit_log",
    "mail_outbox",
    "auth_token",
    "member",
];

/// Tables that are not owned by one firm: the registry itself, operator sessions, the map from
/// payment-provider accounts to firms (webhooks arrive without a host), the firms' shared write
/// epochs (read before a request's tenant is bound) and the mock payment provider's own store.
pub const PLATFORM_TABLES: &[&str] = &[
    "tenant",
    "operator_session",
    "payment_account",
    "tenant_write_epoch",
    "mock_psp_object",
    "mock_psp_idempotency",
];

#[derive(Debug, thiserror::Error)]
pub enum GrantError {
    #[error(
        "role `{0}` does not exist; create it first, e.g. \
         CREATE ROLE {0} LOGIN PASSWORD '…' NOSUPERUSER NOBYPASSRLS"
    )]
    MissingRole(String),
    #[error("role `{0}` is a superuser or has BYPASSRLS; row-level security would not apply to it")]
    PrivilegedRole(String),
    #[error(transparent)]
    Db(#[from] DbErr),
}

/// PostgreSQL: grants the application role DML on every table (and future ones), and checks that
/// the role cannot bypass row-level security. `role` must be a plain identifier (checked by
/// the configuration loader). No-op on SQLite.
pub async fn grant_app_role<C: ConnectionTrait>(conn: &C, role: &str) -> Result<(), GrantError> {
    if conn.get_database_backend() != DbBackend::Postgres {
        return Ok(());
    }
    let row = conn
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = $1",
            [role.into()],
        ))
        .await?;
    let Some(row) = row else {
        return Err(GrantError::MissingRole(role.to_owned()));
    };
    let superuser: bool = row.try_get("", "rolsuper")?;
    let bypass: bool = row.try_get("", "rolbypassrls")?;
    if superuser || bypass {
        return Err(GrantError::PrivilegedRole(role.to_owned()));
    }
    for sql in [
        format!("GRANT USAGE ON SCHEMA public TO {role}"),
        format!("GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}"),
        format!("GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {role}"),
        format!(
            "ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {role}"
        ),
        // The migration history is read for readiness but never written by the server.
        format!("REVOKE INSERT, UPDATE, DELETE ON seaql_migrations FROM {role}"),
    ] {
        conn.execute_unprepared(&sql).await?;
    }
    Ok(())
}
