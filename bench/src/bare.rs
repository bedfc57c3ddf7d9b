//! The baselines: a bare poem server with nothing but
//!
//! - `GET /text`: a fixed string — what poem and hyper can do on this machine (the framework's
//!   ceiling);
//! - `GET /query?slug=…`: one indexed single-row query (`tenant` by its unique slug — the very
//!   query of host resolution), returned as a small JSON object — what the database and driver
//!   can do (the database's ceiling).
//!
//! It connects the way Portico does (sea-orm over sqlx, the same pool size; on SQLite WAL,
//! `synchronous=FULL`, foreign keys and the busy timeout), to the same SQLite file or PostgreSQL
//! database, as the same role, and is served the way Portico is (`portico_web::http_server`), so
//! that the ratios compare Portico's work, not two ways of serving connections.

use std::time::Duration;

use poem::http::StatusCode;
use poem::web::{Data, Json, Query};
use poem::{EndpointExt, IntoResponse, Response, Route, get, handler};
use sea_orm::sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sea_orm::{ConnectOptions, ConnectionTrait, DatabaseConnection, DbBackend, Statement};
use serde::Deserialize;

#[handler]
fn text() -> &'static str {
    "Hello, world!"
}

#[derive(Deserialize)]
struct SlugQuery {
    slug: String,
}

#[handler]
async fn query(db: Data<&DatabaseConnection>, Query(q): Query<SlugQuery>) -> Response {
    let backend = db.get_database_backend();
    let sql = match backend {
        DbBackend::Postgres => "SELECT slug, name, status, portal_url FROM tenant WHERE slug = $1",
        _ => "SELECT slug, name, status, portal_url FROM tenant WHERE slug = ?",
    };
    let row = db
        .query_one_raw(Statement::from_sql_and_values(
            backend,
            sql,
            [q.slug.into()],
        ))
        .await;
    match row {
        Ok(Some(row)) => {
            let field = |name: &str| row.try_get::<String>("", name).unwrap_or_default();
            Json(serde_json::json!({
                "slug": field("slug"),
                "name": field("name"),
                "status": field("status"),
                "portal_url": field("portal_url"),
            }))
            .into_response()
        }
        Ok(None) => StatusCode::NOT_FOUND.into_response(),
        Err(err) => (StatusCode::INTERNAL_SERVER_ERROR, err.to_string()).into_response(),
    }
}

pub async fn connect(url: &str, pool: u32) -> anyhow::Result<DatabaseConnection> {
    let mut options = ConnectOptions::new(url.to_owned());
    options
        .max_connections(pool)
        .min_connections(0)
        .connect_timeout(Duration::from_secs(5))
        .acquire_timeout(Duration::from_secs(10))
        // As Portico: a pooled connection is pinged only after 30 s idle.
        .test_before_acquire_if_idle_for(Duration::from_secs(30))
        .sqlx_logging(false);
    options.map_sqlx_sqlite_opts(|opts: SqliteConnectOptions| {
        opts.journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10))
    });
    Ok(sea_orm::Database::connect(options).await?)
}

pub async fn serve(url: String, pool: u32, bind: String) -> anyhow::Result<()> {
    let db = connect(&url, pool).await?;
    let app = Route::new()
        .at("/text", get(text))
        .at("/query", get(query))
        .data(db);
    let listener = tokio::net::TcpListener::bind(bind).await?;
    println!("listening on {}", listener.local_addr()?);
    portico_web::http_server::serve(listener, app, std::future::pending(), None).await?;
    Ok(())
}
