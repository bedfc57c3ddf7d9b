//! The firm workspace (`/firm/…` on a firm's host): members sign in here and manage contacts,
//! files, members and the Client Portal options.

pub mod activity;
pub mod audit;
pub mod auth;
pub mod billing;
pub mod custom_fields;
pub mod directory;
pub mod documents;
pub mod items;
pub mod members;
pub mod options;
pub mod portal;

use poem::http::StatusCode;
use poem::web::Redirect;
use poem::{IntoResponse, Request, Response, handler};
use portico_tenants::TenantRecord;
use portico_tenants::options::FirmOptions;
use serde::Serialize;

use crate::auth::{AuthFailure, MemberCtx, authenticate_member, check_csrf, firm_of};
use crate::firm_options;
use crate::state::AppState;

/// What every firm page's layout needs to know.
#[derive(Serialize)]
pub struct FirmChrome {
    pub name: String,
    pub has_logo: bool,
}

/// The firm workspace's layout: the firm's registered name (the Portal display name is what
/// clients see).
pub async fn chrome(state: &AppState, tenant: &TenantRecord) -> FirmChrome {
    let options = firm_options::options_or_defaults(state, tenant).await;
    FirmChrome {
        name: tenant.name.clone(),
        has_logo: options.has_logo,
    }
}

/// The Client Portal's layout: the display name and logo from Options > Client Portal.
pub fn portal_chrome_of(tenant: &TenantRecord, options: &FirmOptions) -> FirmChrome {
    FirmChrome {
        name: options.portal_name(&tenant.name).to_owned(),
        has_logo: options.has_logo,
    }
}

/// The signed-in member, or the response to give instead: sign-in redirect, or 404 off a
/// firm host.
pub async fn require_member(req: &Request, state: &AppState) -> Result<MemberCtx, Response> {
    match authenticate_member(req, state).await {
        Ok(ctx) => Ok(ctx),
        Err(AuthFailure::NotFound) => Err(not_found(state)),
        Err(AuthFailure::Unauthenticated) => {
            let next = req
                .uri()
                .path_and_query()
                .map(|p| p.as_str())
                .unwrap_or("/firm");
            let target = format!("/firm/login?next={}", percent_encode_path(next));
            Err(Redirect::see_other(target).into_response())
        }
        Err(AuthFailure::Csrf) => Err(forbidden_cross_site(state)),
        Err(AuthFailure::Internal(cause)) => {
            tracing::error!(error = %cause, "authentication failed");
            Err(state.templates.error_page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong on our side.",
            ))
        }
    }
}

/// The member, additionally checking a form's CSRF field (for POST handlers).
pub async fn require_member_form(
    req: &Request,
    state: &AppState,
    csrf: &str,
) -> Result<MemberCtx, Response> {
    let ctx = require_member(req, state).await?;
    check_csrf(req, &ctx, Some(csrf)).map_err(|_| forbidden_cross_site(state))?;
    Ok(ctx)
}

/// The member if an administrator; others get a 403 page naming the rule.
pub fn require_admin_page(state: &AppState, ctx: &MemberCtx) -> Result<(), Response> {
    if ctx.member.is_admin {
        Ok(())
    } else {
        Err(state.templates.error_page(
            StatusCode::FORBIDDEN,
            "Only administrators can open this page.",
        ))
    }
}

pub fn not_found(state: &AppState) -> Response {
    state
        .templates
        .error_page(StatusCode::NOT_FOUND, "There is nothing at this address.")
}

pub fn forbidden_cross_site(state: &AppState) -> Response {
    state.templates.error_page(
        StatusCode::FORBIDDEN,
        "This form has expired or came from another site. Reload the page and try again.",
    )
}

/// Only local `/firm…` paths are followed after sign-in (no open redirects).
pub fn safe_next(next: &str) -> &str {
    if next.starts_with("/firm") && !next.starts_with("//") && !next.contains("\\") {
        next
    } else {
        "/firm"
    }
}

fn percent_encode_path(path: &str) -> String {
    path.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'/' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}

/// Renders a firm page with the layout's context (`firm`, `me`, `csrf`, `section`) merged in.
pub async fn render(
    state: &AppState,
    ctx: &MemberCtx,
    template: &str,
    status: StatusCode,
    section: &str,
    extra: minijinja::Value,
) -> Response {
    // The badge is decoration: a failure to count it shows none rather than failing the page.
    let unread = crate::activity_feed::unread(state, ctx)
        .await
        .map_or(0, |unread| unread.count);
    render_with_badge(state, ctx, template, status, section, extra, unread).await
}

/// [`render`] with the navigation's unread badge already known (the activity page has just
/// counted and cleared it), saving a query.
pub async fn render_with_badge(
    state: &AppState,
    ctx: &MemberCtx,
    template: &str,
    status: StatusCode,
    section: &str,
    extra: minijinja::Value,
    unread: u64,
) -> Response {
    let chrome = chrome(state, &ctx.tenant).await;
    let base = minijinja::context! {
        unread => unread,
        firm => chrome,
        me => ctx.member,
        csrf => ctx.session.csrf_token,
        section => section,
        branded => true,
        portal_url => ctx.tenant.portal_url,
    };
    state
        .templates
        .page(template, status, minijinja::context! { ..extra, ..base })
}

#[handler]
pub async fn dashboard(req: &Request, state: poem::web::Data<&AppState>) -> Response {
    if firm_of(req).is_none() {
        return not_found(&state);
    }
    match require_member(req, &state).await {
        Ok(ctx) => {
            render(
                &state,
                &ctx,
                "firm_dashboard.html",
                StatusCode::OK,
                "home",
                minijinja::context! {},
            )
            .await
        }
        Err(response) => response,
    }
}
