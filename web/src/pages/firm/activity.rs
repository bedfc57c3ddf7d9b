//! `/firm/activity`: the activity feed of the member's files, filtered by kind and period,
//! with the notification preferences. Opening it resets the unread badge.

use poem::http::StatusCode;
use poem::web::{Data, Form, Query, Redirect};
use poem::{IntoResponse, Request, Response, Route, get, handler};
use portico_tenants::activity::{self, ActivityKind, Alerts};
use serde::Deserialize;

use super::{render_with_badge, require_member, require_member_form};
use crate::activity_feed;
use crate::state::AppState;

pub fn routes(route: Route) -> Route {
    route
        .at("/firm/activity", get(page))
        .at("/firm/activity/preferences", poem::post(save_preferences))
}

#[derive(Deserialize, Default)]
pub struct ActivityQuery {
    #[serde(default)]
    kind: String,
    #[serde(default)]
    days: String,
    #[serde(default)]
    saved: String,
}

#[handler]
async fn page(
    req: &Request,
    state: Data<&AppState>,
    Query(query): Query<ActivityQuery>,
) -> Response {
    let ctx = match require_member(req, &state).await {
        Ok(ctx) => ctx,
        Err(response) => return response,
    };
    let kind = ActivityKind::parse(&query.kind);
    let days = query
        .days
        .parse::<i64>()
        .ok()
        .filter(|d| (1..=365).contains(d))
        .unwrap_or(7);
    let loaded = async {
        // Reading the feed is a read: the "seen" mark is written only when there is something
        // to mark (a first visit, or client activity since the last one), and up to the moment
        // before the feed was looked up, so activity arriving meanwhile stays unread.
        let opened = chrono::Utc::now();
        let unread = activity_feed::unread(&state, &ctx).await?;
        let feed = activity_feed::feed(&state, &ctx, kind, Some(days)).await?;
        if unread.count > 0 || unread.preferences.activity_seen_at.is_none() {
            let tx = ctx.db.write().await?;
            activity::mark_seen_at(&tx, ctx.member.id, opened).await?;
            tx.commit().await?;
        }
        Ok::<_, sea_orm::DbErr>((unread, feed))
    }
    .await;
    let (unread, feed) = match loaded {
        Ok(loaded) => loaded,
        Err(err) => {
            return state.templates.server_error("loading activity failed", err);
        }
    };
    let rows = match feed.page_rows(&state.templates) {
        Ok(rows) => rows,
        Err(err) => {
            return state
                .templates
                .server_error("rendering activity rows failed", err);
        }
    };
    let prefs = &unread.preferences;
    // Everything shown is now seen: the badge is 0 without asking the database again.
    render_with_badge(&state, &ctx, "firm_activity.html", StatusCode::OK, "activity", minijinja::context! {
        rows => rows,
        new_since_last_visit => unread.count,
        kind => kind.map(|k| k.as_str()).unwrap_or(""),
        days => days,
        prefs => minijinja::context! { alerts => prefs.alerts.as_str(), nightly_digest => prefs.nightly_digest },
        saved => query.saved == "1",
    }, 0)
    .await
}

#[derive(Deserialize)]
pub struct PreferencesForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    alerts: String,
    #[serde(default)]
    nightly_digest: Option<String>,
}

#[handler]
async fn save_preferences(
    req: &Request,
    state: Data<&AppState>,
    Form(form): Form<PreferencesForm>,
) -> Response {
    let ctx = match require_member_form(req, &state, &form.csrf).await {
        Ok(ctx) => ctx,
        Err(response) => return response,
    };
    let Some(alerts) = Alerts::parse(&form.alerts) else {
        return state.templates.error_page(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Choose which alerts you want.",
        );
    };
    let saved = async {
        let tx = ctx.db.write().await?;
        activity::set_preferences(&tx, ctx.member.id, alerts, form.nightly_digest.is_some())
            .await?;
        tx.commit().await
    }
    .await;
    match saved {
        Ok(()) => Redirect::see_other("/firm/activity?saved=1").into_response(),
        Err(err) => state
            .templates
            .server_error("saving preferences failed", err),
    }
}
