//! PostgreSQL row-level security, checked from the catalogue and as the application role.

use std::collections::BTreeSet;

use sea_orm::{ConnectionTrait, DbBackend, Statement, TransactionTrait};

use crate::support::postgres::{APP_ROLE, app_url, fresh_database};
use crate::support::{Backend, TestApp};

async fn owner(app: &TestApp) -> sea_orm::DatabaseConnection {
    app.owner_db().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_tenant_table_has_forced_rls_and_a_policy() {
    let app = TestApp::spawn(Backend::Postgres).await;
    let db = owner(&app).await;
    let rows = db
        .query_all_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT c.relname AS name, c.relrowsecurity AS rls, c.relforcerowsecurity AS forced,
                    (SELECT COUNT(*) FROM pg_policies p WHERE p.tablename = c.relname
                        AND p.qual LIKE '%app.tenant_id%' AND p.with_check LIKE '%app.tenant_id%') AS policies
               FROM pg_class c
               JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'public'
              WHERE c.relkind = 'r'
                AND EXISTS (SELECT 1 FROM information_schema.columns col
                             WHERE col.table_schema = 'public' AND col.table_name = c.relname
                               AND col.column_name = 'tenant_id')",
        ))
        .await
        .unwrap();
    let mut tables = BTreeSet::new();
    for row in rows {
        let name: String = row.try_get("", "name").unwrap();
        // The provider-account map names a firm but belongs to the platform: webhooks look it
        // up before any firm is known.
        if portico_migrations::PLATFORM_TABLES.contains(&name.as_str()) {
            continue;
        }
        let rls: bool = row.try_get("", "rls").unwrap();
        let forced: bool = row.try_get("", "forced").unwrap();
        let policies: i64 = row.try_get("", "policies").unwrap();
        assert!(
            rls && forced,
            "{name}: row-level security enabled and forced"
        );
        assert!(policies >= 1, "{name}: a tenant_id policy");
        tables.insert(name);
    }
    let declared: BTreeSet<String> = portico_migrations::TENANT_TABLES
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(
        tables, declared,
        "TENANT_TABLES lists exactly the tables with tenant_id"
    );
    // And every table is either tenant-owned or declared platform-level.
    let all = db
        .query_all_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'seaql_migrations'",
        ))
        .await
        .unwrap();
    for row in all {
        let name: String = row.try_get("", "tablename").unwrap();
        assert!(
            declared.contains(&name)
                || portico_migrations::PLATFORM_TABLES.contains(&name.as_str()),
            "{name} is neither tenant-owned nor a declared platform table"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn app_role_sees_nothing_without_a_tenant_and_cannot_write_across() {
    let app = TestApp::spawn(Backend::Postgres).await;
    let a = app.create_tenant().await;
    let b = app.create_tenant().await;
    let a_id = uuid::Uuid::parse_str(a["id"].as_str().unwrap()).unwrap();
    let b_id = uuid::Uuid::parse_str(b["id"].as_str().unwrap()).unwrap();
    assert!(
        app.count("SELECT COUNT(*) AS n FROM member", vec![]).await >= 2,
        "rows exist"
    );

    let db_name = app.pg_database().expect("postgres");
    let role = sea_orm::Database::connect(app_url(&db_name)).await.unwrap();
    let attrs = role
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            format!("SELECT rolsuper, rolbypassrls, current_user AS me FROM pg_roles WHERE rolname = '{APP_ROLE}'"),
        ))
        .await
        .unwrap()
        .unwrap();
    assert!(
        !attrs.try_get::<bool>("", "rolsuper").unwrap(),
        "not a superuser"
    );
    assert!(
        !attrs.try_get::<bool>("", "rolbypassrls").unwrap(),
        "no BYPASSRLS"
    );
    assert_eq!(attrs.try_get::<String>("", "me").unwrap(), APP_ROLE);

    for table in portico_migrations::TENANT_TABLES {
        let row = role
            .query_one_raw(Statement::from_string(
                DbBackend::Postgres,
                format!("SELECT COUNT(*) AS n FROM {table}"),
            ))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            row.try_get::<i64>("", "n").unwrap(),
            0,
            "{table}: no rows without app.tenant_id"
        );
    }

    // With tenant A set: only A's rows, and writing a row for B is refused.
    let tx = role.begin().await.unwrap();
    tx.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "SELECT set_config('app.tenant_id', $1, true)",
        [a_id.to_string().into()],
    ))
    .await
    .unwrap();
    let row = tx
        .query_one_raw(Statement::from_string(DbBackend::Postgres, "SELECT COUNT(*) AS n, COUNT(*) FILTER (WHERE tenant_id <> current_setting('app.tenant_id')::uuid) AS foreign_rows FROM member"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.try_get::<i64>("", "n").unwrap(), 1);
    assert_eq!(row.try_get::<i64>("", "foreign_rows").unwrap(), 0);
    let insert = tx
        .execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "INSERT INTO audit_log (tenant_id, id, occurred_at, actor_kind, actor_label, action, target_kind)
             VALUES ($1, $2, now(), 'system', 'test', 'forged', 'tenant')",
            [b_id.into(), uuid::Uuid::now_v7().into()],
        ))
        .await;
    let err = insert
        .expect_err("inserting another firm's row must fail")
        .to_string();
    assert!(err.contains("row-level security"), "{err}");
    tx.rollback().await.unwrap();

    // The mail job's policy admits only a transaction that declared itself that job.
    let row = role
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT COUNT(*) AS n FROM mail_outbox",
        ))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.try_get::<i64>("", "n").unwrap(), 0);
    role.close().await.ok();

    // Through the application's own handle the same holds: A's transaction sees only A.
    let tx = app
        .state
        .db
        .tenant(portico_platform::ids::TenantId::from_uuid(a_id))
        .read()
        .await
        .unwrap();
    let row = tx
        .conn()
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT COUNT(DISTINCT tenant_id) AS n FROM member",
        ))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.try_get::<i64>("", "n").unwrap(), 1);
    tx.rollback().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_refuses_a_privileged_or_missing_app_role() {
    let db_name = fresh_database().await;
    let settings = crate::support::test_settings(serde_json::json!({
        "database": { "url": app_url(&db_name), "migration_url": crate::support::postgres::owner_url(&db_name),
                      "app_role": "postgres" },
    }));
    let err = portico_web::cli::migrate(&settings)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("superuser or has BYPASSRLS"), "{err}");
    let settings = crate::support::test_settings(serde_json::json!({
        "database": { "url": app_url(&db_name), "migration_url": crate::support::postgres::owner_url(&db_name),
                      "app_role": "no_such_role_here" },
    }));
    let err = portico_web::cli::migrate(&settings)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("does not exist"), "{err}");
}
