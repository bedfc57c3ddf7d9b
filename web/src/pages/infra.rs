//! Health, readiness, metrics and static assets.

use poem::http::StatusCode;
use poem::web::Data;
use poem::{IntoResponse, Response, handler};
use portico_migrations::MigratorTrait;
use sea_orm::{ConnectionTrait, Statement};

use crate::state::AppState;

/// Liveness: answers as long as the process serves HTTP; touches no dependency.
#[handler]
pub fn healthz() -> &'static str {
    "ok"
}

/// Readiness: not shutting down, database reachable with every migration applied, storage
/// writable. Each failure names the part that is not ready.
#[handler]
pub async fn readyz(state: Data<&AppState>) -> Response {
    if !state.is_accepting() {
        return (StatusCode::SERVICE_UNAVAILABLE, "not ready: shutting down").into_response();
    }
    if let Err(err) = state.db.ping().await {
        tracing::warn!(error = %err, "readiness: database unreachable");
        return (StatusCode::SERVICE_UNAVAILABLE, "not ready: database").into_response();
    }
    match applied_migrations(&state).await {
        Ok(applied) if applied >= portico_migrations::Migrator::migrations().len() => {}
        Ok(_) => {
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                "not ready: migrations pending",
            )
                .into_response();
        }
        Err(err) => {
            tracing::warn!(error = %err, "readiness: migrations unknown");
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                "not ready: migrations pending",
            )
                .into_response();
        }
    }
    // Local directory or S3 bucket: a probe is written and removed (bounded in time on S3).
    if let Err(err) = state.blobs.check_writable().await {
        tracing::warn!(store = ?state.blobs, error = %err, "readiness: storage not writable");
        return (StatusCode::SERVICE_UNAVAILABLE, "not ready: storage").into_response();
    }
    "ready".into_response()
}

async fn applied_migrations(state: &AppState) -> Result<usize, sea_orm::DbErr> {
    let conn = state.db.unscoped_registry();
    let row = conn
        .query_one_raw(Statement::from_string(
            conn.get_database_backend(),
            "SELECT COUNT(*) AS n FROM seaql_migrations",
        ))
        .await?;
    let n: i64 = row.map(|r| r.try_get("", "n")).transpose()?.unwrap_or(0);
    Ok(usize::try_from(n).unwrap_or(0))
}

#[handler]
pub fn metrics(state: Data<&AppState>) -> Response {
    state
        .metrics
        .render(state.db.shared_epoch_reads())
        .with_content_type("text/plain; version=0.0.4")
        .into_response()
}

#[handler]
pub fn stylesheet() -> Response {
    static_asset(include_str!("../static/app.css"), "text/css; charset=utf-8")
}

#[handler]
pub fn script() -> Response {
    static_asset(
        include_str!("../static/app.js"),
        "text/javascript; charset=utf-8",
    )
}

#[handler]
pub fn favicon() -> Response {
    static_asset(include_str!("../static/favicon.svg"), "image/svg+xml")
}

fn static_asset(body: &'static str, content_type: &'static str) -> Response {
    Response::builder()
        .content_type(content_type)
        .header("cache-control", "public, max-age=3600")
        .body(body)
}
