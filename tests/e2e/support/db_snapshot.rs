//! A row-level picture of every table, taken with the owner's rights (which see every firm's
//! rows), so that a test can prove a phase of requests wrote nothing — or only what it names.
//!
//! Each row is rendered as text from every column (minus columns the caller says may move on
//! their own), so an update that leaves the row count alone still shows up as one row removed
//! and one added.

use std::collections::{BTreeMap, BTreeSet};

use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement};

use super::TestApp;

/// Row count and rendered rows of one table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableState {
    pub count: i64,
    pub rows: BTreeSet<String>,
}

#[derive(Clone, Debug)]
pub struct DbSnapshot {
    pub tables: BTreeMap<String, TableState>,
}

/// How one table changed between two snapshots.
#[derive(Clone, Debug)]
pub struct TableDiff {
    pub table: String,
    pub count_before: i64,
    pub count_after: i64,
    /// Rendered rows present only after.
    pub added: Vec<String>,
    /// Rendered rows present only before.
    pub removed: Vec<String>,
}

impl std::fmt::Display for TableDiff {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "{}: {} rows before, {} after",
            self.table, self.count_before, self.count_after
        )?;
        for row in &self.removed {
            writeln!(f, "  - {row}")?;
        }
        for row in &self.added {
            writeln!(f, "  + {row}")?;
        }
        Ok(())
    }
}

impl DbSnapshot {
    /// Every table in `tables`: the row count through `TestApp::count`, and every row rendered
    /// without the columns `ignored` lists for that table.
    pub async fn take(app: &TestApp, tables: &[&str], ignored: &[(&str, &[&str])]) -> Self {
        let db = app.owner_db().await;
        let mut out = BTreeMap::new();
        for table in tables {
            let count = app
                .count(&format!("SELECT COUNT(*) AS n FROM {table}"), vec![])
                .await;
            let skip: &[&str] = ignored
                .iter()
                .find(|(t, _)| t == table)
                .map(|(_, cols)| *cols)
                .unwrap_or(&[]);
            let rows = rendered_rows(&db, table, skip).await;
            assert_eq!(
                rows.len() as i64,
                count,
                "{table}: rows are distinct (every table has a primary key)"
            );
            out.insert((*table).to_owned(), TableState { count, rows });
        }
        db.close().await.ok();
        Self { tables: out }
    }

    /// The tables that differ from `before`, in table order.
    pub fn changes_since(&self, before: &DbSnapshot) -> Vec<TableDiff> {
        let mut diffs = Vec::new();
        for (table, after) in &self.tables {
            let Some(old) = before.tables.get(table) else {
                continue;
            };
            if old == after {
                continue;
            }
            diffs.push(TableDiff {
                table: table.clone(),
                count_before: old.count,
                count_after: after.count,
                added: after.rows.difference(&old.rows).cloned().collect(),
                removed: old.rows.difference(&after.rows).cloned().collect(),
            });
        }
        diffs
    }
}

async fn column_names(db: &DatabaseConnection, table: &str) -> Vec<String> {
    let backend = db.get_database_backend();
    let statement = match backend {
        DbBackend::Postgres => Statement::from_sql_and_values(
            backend,
            "SELECT column_name::text AS c FROM information_schema.columns
              WHERE table_schema = 'public' AND table_name = $1 ORDER BY ordinal_position",
            [table.into()],
        ),
        _ => Statement::from_sql_and_values(
            backend,
            "SELECT name AS c FROM pragma_table_info(?) ORDER BY cid",
            [table.into()],
        ),
    };
    db.query_all_raw(statement)
        .await
        .expect("table columns")
        .into_iter()
        .map(|row| row.try_get::<String>("", "c").expect("column name"))
        .collect()
}

async fn rendered_rows(db: &DatabaseConnection, table: &str, skip: &[&str]) -> BTreeSet<String> {
    let backend = db.get_database_backend();
    let columns: Vec<String> = column_names(db, table)
        .await
        .into_iter()
        .filter(|c| !skip.contains(&c.as_str()))
        .collect();
    assert!(!columns.is_empty(), "{table} has columns");
    // Quoted literals keep NULL apart from the text 'NULL' and blobs readable as hex.
    let parts: Vec<String> = columns
        .iter()
        .map(|c| match backend {
            DbBackend::Postgres => format!("'{c}=' || quote_nullable(\"{c}\")"),
            _ => format!("'{c}=' || quote(\"{c}\")"),
        })
        .collect();
    let sql = format!("SELECT {} AS r FROM {table}", parts.join(" || ' ' || "));
    db.query_all_raw(Statement::from_string(backend, sql))
        .await
        .unwrap_or_else(|e| panic!("rows of {table}: {e}"))
        .into_iter()
        .map(|row| row.try_get::<String>("", "r").expect("rendered row"))
        .collect()
}
