//! PostgreSQL for the tests: the run migrates one template database once; every test app gets
//! its own copy of it (`CREATE DATABASE … TEMPLATE`, a file copy, so cheap), because each app
//! runs its own outbox worker and workers legitimately send every firm's mail. The server
//! connects as `portico_app` (not owner, not superuser, no BYPASSRLS). Databases left by
//! earlier runs are dropped.

use sea_orm::{ConnectionTrait, Database, DbBackend, Statement};
use tokio::sync::OnceCell;

pub const APP_ROLE: &str = "portico_app";

/// Administrative URL (trust auth on the test machine). `PORTICO_TEST_PG` overrides the server.
pub fn server() -> String {
    std::env::var("PORTICO_TEST_PG").unwrap_or_else(|_| "127.0.0.1:5432".to_owned())
}

pub fn owner_url(db: &str) -> String {
    format!("postgres://postgres@{}/{db}", server())
}

pub fn app_url(db: &str) -> String {
    format!("postgres://{APP_ROLE}@{}/{db}", server())
}

static TEMPLATE: OnceCell<String> = OnceCell::const_new();

/// The run's migrated template database, created on first use.
pub async fn template_database() -> String {
    TEMPLATE.get_or_init(create_run_database).await.clone()
}

/// A new database for one test, copied from the migrated template.
pub async fn fresh_database() -> String {
    let template = template_database().await;
    let name = format!("{template}_{}", super::random_suffix(6));
    let admin = Database::connect(owner_url("test"))
        .await
        .expect("PostgreSQL is running");
    admin
        .execute_unprepared(&format!("CREATE DATABASE {name} TEMPLATE {template}"))
        .await
        .expect("copy the template database");
    admin.close().await.ok();
    name
}

async fn create_run_database() -> String {
    let admin = Database::connect(owner_url("test"))
        .await
        .expect("PostgreSQL must be running at 127.0.0.1:5432 (see README: tests need it)");
    let now = chrono::Utc::now().timestamp();
    // Drop databases of earlier runs (older than an hour, so a concurrent run is left alone).
    let stale = admin
        .query_all_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT datname FROM pg_database WHERE datname LIKE 'portico_e2e_%'",
        ))
        .await
        .expect("list databases");
    for row in stale {
        let name: String = row.try_get("", "datname").expect("datname");
        let created = name
            .split('_')
            .nth(2)
            .and_then(|ts| ts.parse::<i64>().ok())
            .unwrap_or(0);
        if now - created > 3600 {
            let _ = admin
                .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .await;
        }
    }
    // The role is cluster-wide; a concurrent run may create it first.
    let _ = admin
        .execute_unprepared(&format!(
            "DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{APP_ROLE}') THEN \
             CREATE ROLE {APP_ROLE} LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE; END IF; END $$"
        ))
        .await;
    let name = format!("portico_e2e_{now}_{}", super::random_suffix(6));
    admin
        .execute_unprepared(&format!("CREATE DATABASE {name}"))
        .await
        .expect("create database");
    admin.close().await.ok();

    let settings = super::test_settings(serde_json::json!({
        "database": { "url": app_url(&name), "migration_url": owner_url(&name) },
    }));
    portico_web::cli::migrate(&settings)
        .await
        .expect("migrations apply on PostgreSQL");
    name
}
