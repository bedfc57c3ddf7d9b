//! Helpers that render one SQL text for both backends.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

/// Replaces the type placeholders `{uuid}`, `{ts}`, `{bool}`, `{json}`, `{blob}` for the backend.
pub fn render(backend: DbBackend, sql: &str) -> String {
    let (uuid, ts, boolean, json, blob) = match backend {
        DbBackend::Postgres => ("uuid", "timestamptz", "boolean", "jsonb", "bytea"),
        _ => ("blob", "text", "boolean", "text", "blob"),
    };
    sql.replace("{uuid}", uuid)
        .replace("{ts}", ts)
        .replace("{bool}", boolean)
        .replace("{json}", json)
        .replace("{blob}", blob)
}

/// Runs each `;`-separated statement (statements here never contain a literal `;`).
pub async fn run(manager: &SchemaManager<'_>, sql: &str) -> Result<(), DbErr> {
    let conn = manager.get_connection();
    let rendered = render(conn.get_database_backend(), sql);
    for statement in rendered.split(';').map(str::trim).filter(|s| !s.is_empty()) {
        conn.execute_unprepared(statement).await?;
    }
    Ok(())
}

/// The one tenant-isolation predicate. `NULLIF(…, '')` because a pooled connection reports ''
/// after a transaction-local setting ends; a missing setting then means "no rows", not an error.
pub fn tenant_isolation_policy_sql(table: &str) -> String {
    let predicate = "tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid";
    format!(
        "ALTER TABLE {table} ENABLE ROW LEVEL SECURITY;\n\
         ALTER TABLE {table} FORCE ROW LEVEL SECURITY;\n\
         CREATE POLICY tenant_isolation ON {table} USING ({predicate}) WITH CHECK ({predicate})"
    )
}

/// Applies the tenant-isolation policy (PostgreSQL only).
pub async fn enable_rls(manager: &SchemaManager<'_>, tables: &[&str]) -> Result<(), DbErr> {
    if manager.get_database_backend() != DbBackend::Postgres {
        return Ok(());
    }
    for table in tables {
        run(manager, &tenant_isolation_policy_sql(table)).await?;
    }
    Ok(())
}
