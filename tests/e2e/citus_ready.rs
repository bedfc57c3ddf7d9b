//! Ready for Citus: every tenant table can be distributed by `tenant_id` and co-located with
//! the others. Citus requires the distribution column in every primary key and unique
//! constraint, and foreign keys between distributed tables must include it on both sides
//! (references to the platform's `tenant` table are fine: it becomes a reference table).
//! Checked from PostgreSQL's catalogue, so a new table or index that breaks the rule fails here.

use sea_orm::{ConnectionTrait, DbBackend, Statement};

use crate::support::{Backend, TestApp};

async fn column_lists(
    db: &sea_orm::DatabaseConnection,
    sql: &str,
    table: &str,
) -> Vec<(String, Vec<String>, String)> {
    db.query_all_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        sql,
        [table.into()],
    ))
    .await
    .unwrap()
    .into_iter()
    .map(|row| {
        let name: String = row.try_get("", "name").unwrap();
        let columns: Vec<String> = row.try_get("", "columns").unwrap();
        let extra: String = row.try_get("", "extra").unwrap_or_default();
        (name, columns, extra)
    })
    .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_tenant_table_can_be_distributed_by_tenant_id() {
    let app = TestApp::spawn(Backend::Postgres).await;
    let db = app.owner_db().await;
    let mut problems = Vec::new();
    for table in portico_migrations::TENANT_TABLES {
        // Primary key and every unique index (partial ones included).
        let keys = column_lists(
            &db,
            "SELECT ic.relname AS name,
                    ARRAY(SELECT a.attname::text FROM unnest(i.indkey) k
                          JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k) AS columns,
                    CASE WHEN i.indisprimary THEN 'primary key' ELSE 'unique index' END AS extra
               FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
              WHERE i.indrelid = $1::regclass AND (i.indisunique OR i.indisprimary)",
            table,
        )
        .await;
        assert!(
            keys.iter().any(|(_, _, kind)| kind == "primary key"),
            "{table} has a primary key"
        );
        for (name, columns, kind) in keys {
            if columns.first().map(String::as_str) != Some("tenant_id") {
                problems.push(format!(
                    "{table}: {kind} {name} ({}) does not lead with tenant_id",
                    columns.join(", ")
                ));
            }
        }
        // Foreign keys: tenant_id maps to tenant_id of the referenced tenant table, or the
        // reference is to the platform's tenant registry itself.
        let foreign = column_lists(
            &db,
            "SELECT c.conname AS name,
                    ARRAY(SELECT a.attname::text || '->' || fa.attname::text
                            FROM unnest(c.conkey, c.confkey) AS k(col, fcol)
                            JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.col
                            JOIN pg_attribute fa ON fa.attrelid = c.confrelid AND fa.attnum = k.fcol) AS columns,
                    c.confrelid::regclass::text AS extra
               FROM pg_constraint c
              WHERE c.contype = 'f' AND c.conrelid = $1::regclass",
            table,
        )
        .await;
        for (name, pairs, target) in foreign {
            let ok = if target == "tenant" {
                pairs == ["tenant_id->id"]
            } else {
                portico_migrations::TENANT_TABLES.contains(&target.as_str())
                    && pairs.iter().any(|p| p == "tenant_id->tenant_id")
            };
            if !ok {
                problems.push(format!(
                    "{table}: foreign key {name} to {target} ({}) is not co-located by tenant_id",
                    pairs.join(", ")
                ));
            }
        }
    }
    db.close().await.ok();
    assert!(
        problems.is_empty(),
        "not distributable by tenant_id:\n{}",
        problems.join("\n")
    );
}
