//! `/firm/audit`: the audit trail for administrators, filtered by actor and dates.

use poem::http::StatusCode;
use poem::web::{Data, Query};
use poem::{Request, Response, Route, get, handler};
use portico_tenants::{audit, members};
use serde::Deserialize;

use super::{render, require_admin_page, require_member};
use crate::state::AppState;

pub fn routes(route: Route) -> Route {
    route.at("/firm/audit", get(page))
}

#[derive(Deserialize, Default)]
pub struct AuditQuery {
    #[serde(default)]
    actor: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
}

#[handler]
async fn page(req: &Request, state: Data<&AppState>, Query(query): Query<AuditQuery>) -> Response {
    let ctx = match require_member(req, &state).await {
        Ok(ctx) => ctx,
        Err(response) => return response,
    };
    if let Err(response) = require_admin_page(&state, &ctx) {
        return response;
    }
    let filter =
        crate::audit_query::parse(Some(&query.actor), Some(&query.from), Some(&query.to), None);
    let loaded = async {
        let tx = ctx.db.read().await?;
        let members = members::list(&tx).await?;
        let entries = match &filter {
            Ok(filter) => audit::list(&tx, filter).await?,
            Err(_) => Vec::new(),
        };
        tx.commit().await?;
        Ok::<_, sea_orm::DbErr>((members, entries))
    }
    .await;
    let (members, entries) = match loaded {
        Ok(loaded) => loaded,
        Err(err) => {
            return state
                .templates
                .server_error("loading the audit trail failed", err);
        }
    };
    let status = if filter.is_ok() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    let rows: Vec<_> = entries
        .into_iter()
        .map(|e| {
            minijinja::context! {
                when => e.occurred_at.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
                actor => e.actor_label,
                actor_kind => e.actor_kind,
                action => e.action,
                target => match e.target_id { Some(id) => format!("{} {id}", e.target_kind), None => e.target_kind },
                ip => e.ip,
                detail => e.detail.map(|d| d.to_string()),
            }
        })
        .collect();
    render(
        &state,
        &ctx,
        "firm_audit.html",
        status,
        "audit",
        minijinja::context! {
            entries => rows,
            members => members,
            query => minijinja::context! { actor => query.actor, from => query.from, to => query.to },
            error => filter.err(),
        },
    )
    .await
}
