//! Members pages (`/firm/members`, `/firm/members/{id}`), administrators only: the list with
//! rights and status, inviting a member, and editing one (name, email, administrator, the
//! Portal right, active).

use chrono::{DateTime, Utc};
use poem::http::StatusCode;
use poem::web::{Data, Form, Path, Query, Redirect};
use poem::{IntoResponse, Request, Response, Route, get, handler};
use portico_platform::ids::MemberId;
use portico_tenants::members::{self, Member, MemberError, MemberPatch, NewMember};
use serde::{Deserialize, Serialize};

use super::{not_found, render, require_admin_page, require_member, require_member_form};
use crate::auth::MemberCtx;
use crate::firm_options;
use crate::state::AppState;

/// Adds this module's pages to the firm routes.
pub fn routes(route: Route) -> Route {
    route
        .at("/firm/members", get(list_members).post(invite_member))
        .at("/firm/members/:id", get(show_member).post(update_member))
        .at(
            "/firm/members/:id/setup-link",
            poem::post(resend_setup_link),
        )
}

/// A member as the pages show them.
#[derive(Serialize)]
struct MemberRow {
    id: String,
    name: String,
    email: String,
    is_admin: bool,
    portal_rights: bool,
    active: bool,
    /// `active`, `inactive` or `pending` (no password chosen yet).
    status: &'static str,
    status_label: &'static str,
    last_login: Option<String>,
    added: String,
    is_me: bool,
}

fn when(at: DateTime<Utc>) -> String {
    at.format("%-d %b %Y, %H:%M UTC").to_string()
}

fn row(member: &Member, me: &Member) -> MemberRow {
    let (status, status_label) = if !member.active {
        ("inactive", "Inactive")
    } else if !member.has_password {
        ("pending", "Setup pending")
    } else {
        ("active", "Active")
    };
    MemberRow {
        id: member.id.to_string(),
        name: member.name.clone(),
        email: member.email.clone(),
        is_admin: member.is_admin,
        portal_rights: member.portal_rights,
        active: member.active,
        status,
        status_label,
        last_login: member.last_login_at.map(when),
        added: when(member.created_at),
        is_me: member.id == me.id,
    }
}

fn status_of(err: &MemberError) -> StatusCode {
    match err {
        MemberError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
        MemberError::EmailTaken(_) | MemberError::LastAdministrator(_) => StatusCode::CONFLICT,
        MemberError::NotFound => StatusCode::NOT_FOUND,
        MemberError::Db(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// The message a page shows after "Not saved:" / "Not invited:".
fn sentence(err: &MemberError) -> String {
    format!("{}.", err.to_string().trim_end_matches('.'))
}

fn server_error(state: &AppState, err: impl std::fmt::Display) -> Response {
    state.templates.server_error("members page failed", err)
}

async fn admin(req: &Request, state: &AppState) -> Result<MemberCtx, Response> {
    let ctx = require_member(req, state).await?;
    require_admin_page(state, &ctx)?;
    Ok(ctx)
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct InviteForm {
    #[serde(default, skip_serializing)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    is_admin: Option<String>,
    #[serde(default)]
    portal_rights: Option<String>,
}

#[derive(Deserialize, Default)]
pub struct ListQuery {
    #[serde(default)]
    invited: String,
}

async fn list_page(
    state: &AppState,
    ctx: &MemberCtx,
    status: StatusCode,
    form: &InviteForm,
    notice: Option<String>,
    error: Option<String>,
) -> Response {
    let loaded = async {
        let tx = ctx.db.read().await?;
        let list = members::list(&tx).await?;
        tx.commit().await?;
        Ok::<_, sea_orm::DbErr>(list)
    }
    .await;
    let list = match loaded {
        Ok(list) => list,
        Err(err) => return server_error(state, err),
    };
    let rows: Vec<MemberRow> = list.iter().map(|m| row(m, &ctx.member)).collect();
    let counts = minijinja::context! {
        total => rows.len(),
        admins => rows.iter().filter(|r| r.is_admin && r.active).count(),
        portal => rows.iter().filter(|r| r.portal_rights && r.active).count(),
        pending => rows.iter().filter(|r| r.status == "pending").count(),
    };
    render(
        state,
        ctx,
        "firm_members.html",
        status,
        "members",
        minijinja::context! {
            members => rows,
            counts => counts,
            form => minijinja::context! {
                name => form.name,
                email => form.email,
                is_admin => form.is_admin.is_some(),
                portal_rights => form.portal_rights.is_some(),
            },
            notice => notice,
            error => error,
        },
    )
    .await
}

#[handler]
async fn list_members(
    req: &Request,
    state: Data<&AppState>,
    Query(query): Query<ListQuery>,
) -> Response {
    let ctx = match admin(req, &state).await {
        Ok(ctx) => ctx,
        Err(response) => return response,
    };
    let mut notice = None;
    if let Ok(id) = query.invited.parse::<MemberId>() {
        let invited = async {
            let tx = ctx.db.read().await?;
            let member = members::get(&tx, id).await?;
            tx.commit().await?;
            Ok::<_, sea_orm::DbErr>(member)
        }
        .await;
        if let Ok(Some(member)) = invited {
            notice = Some(format!(
                "{} has been added and emailed a link to choose a password ({}).",
                member.name, member.email
            ));
        }
    }
    list_page(
        &state,
        &ctx,
        StatusCode::OK,
        &InviteForm::default(),
        notice,
        None,
    )
    .await
}

#[handler]
async fn invite_member(
    req: &Request,
    state: Data<&AppState>,
    Form(form): Form<InviteForm>,
) -> Response {
    let ctx = match require_member_form(req, &state, &form.csrf).await {
        Ok(ctx) => ctx,
        Err(response) => return response,
    };
    if let Err(response) = require_admin_page(&state, &ctx) {
        return response;
    }
    let options = firm_options::options_or_defaults(&state, &ctx.tenant).await;
    let firm_name = options.portal_name(&ctx.tenant.name).to_owned();
    let valid_for =
        chrono::Duration::hours(i64::from(state.settings.tenants.setup_token_valid_hours));
    let invited = async {
        let tx = ctx.db.write().await?;
        let member = members::invite(
            &tx,
            &ctx.member,
            NewMember {
                name: form.name.clone(),
                email: form.email.clone(),
                is_admin: form.is_admin.is_some(),
                portal_rights: form.portal_rights.is_some(),
            },
            &ctx.tenant.portal_url,
            &firm_name,
            valid_for,
            ctx.ip.clone(),
        )
        .await?;
        tx.commit().await?;
        Ok::<_, MemberError>(member)
    }
    .await;
    match invited {
        Ok(member) => {
            Redirect::see_other(format!("/firm/members?invited={}", member.id)).into_response()
        }
        Err(MemberError::Db(err)) => server_error(&state, err),
        Err(err) => {
            let message = format!("Not invited: {}", sentence(&err));
            list_page(&state, &ctx, status_of(&err), &form, None, Some(message)).await
        }
    }
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct EditForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    is_admin: Option<String>,
    #[serde(default)]
    portal_rights: Option<String>,
    #[serde(default)]
    active: Option<String>,
}

#[derive(Deserialize, Default)]
pub struct EditQuery {
    #[serde(default)]
    saved: String,
}

async fn load(ctx: &MemberCtx, id: MemberId) -> Result<Option<Member>, sea_orm::DbErr> {
    let tx = ctx.db.read().await?;
    let member = members::get(&tx, id).await?;
    tx.commit().await?;
    Ok(member)
}

async fn edit_page(
    state: &AppState,
    ctx: &MemberCtx,
    status: StatusCode,
    stored: &Member,
    typed: Option<&EditForm>,
    notice: Option<&str>,
    error: Option<String>,
) -> Response {
    let shown = row(stored, &ctx.member);
    let values = match typed {
        Some(form) => minijinja::context! {
            name => form.name,
            email => form.email,
            is_admin => form.is_admin.is_some(),
            portal_rights => form.portal_rights.is_some(),
            active => form.active.is_some(),
        },
        None => minijinja::context! {
            name => stored.name,
            email => stored.email,
            is_admin => stored.is_admin,
            portal_rights => stored.portal_rights,
            active => stored.active,
        },
    };
    render(
        state,
        ctx,
        "firm_member.html",
        status,
        "members",
        minijinja::context! { member => shown, values => values, notice => notice, error => error },
    )
    .await
}

#[handler]
async fn show_member(
    req: &Request,
    state: Data<&AppState>,
    Path(id): Path<String>,
    Query(query): Query<EditQuery>,
) -> Response {
    let ctx = match admin(req, &state).await {
        Ok(ctx) => ctx,
        Err(response) => return response,
    };
    let Ok(id) = id.parse::<MemberId>() else {
        return not_found(&state);
    };
    let member = match load(&ctx, id).await {
        Ok(Some(member)) => member,
        Ok(None) => return not_found(&state),
        Err(err) => return server_error(&state, err),
    };
    let notice = match query.saved.as_str() {
        "1" => Some("Changes saved."),
        "link" => Some("A new setup link is on its way; earlier links no longer work."),
        _ => None,
    };
    edit_page(&state, &ctx, StatusCode::OK, &member, None, notice, None).await
}

#[handler]
async fn update_member(
    req: &Request,
    state: Data<&AppState>,
    Path(id): Path<String>,
    Form(form): Form<EditForm>,
) -> Response {
    let ctx = match require_member_form(req, &state, &form.csrf).await {
        Ok(ctx) => ctx,
        Err(response) => return response,
    };
    if let Err(response) = require_admin_page(&state, &ctx) {
        return response;
    }
    let Ok(id) = id.parse::<MemberId>() else {
        return not_found(&state);
    };
    let updated = async {
        let tx = ctx.db.write().await?;
        let member = members::update(
            &tx,
            &ctx.member,
            id,
            MemberPatch {
                name: Some(form.name.clone()),
                email: Some(form.email.clone()),
                is_admin: Some(form.is_admin.is_some()),
                portal_rights: Some(form.portal_rights.is_some()),
                active: Some(form.active.is_some()),
            },
            ctx.ip.clone(),
        )
        .await?;
        tx.commit().await?;
        Ok::<_, MemberError>(member)
    }
    .await;
    match updated {
        Ok(member) => {
            Redirect::see_other(format!("/firm/members/{}?saved=1", member.id)).into_response()
        }
        Err(MemberError::NotFound) => not_found(&state),
        Err(MemberError::Db(err)) => server_error(&state, err),
        Err(err) => {
            let stored = match load(&ctx, id).await {
                Ok(Some(member)) => member,
                Ok(None) => return not_found(&state),
                Err(err) => return server_error(&state, err),
            };
            let message = format!("Not saved: {}", sentence(&err));
            edit_page(
                &state,
                &ctx,
                status_of(&err),
                &stored,
                Some(&form),
                None,
                Some(message),
            )
            .await
        }
    }
}

#[derive(Deserialize)]
pub struct CsrfOnly {
    #[serde(default)]
    csrf: String,
}

/// Emails a fresh setup link to a member who has not chosen a password yet.
#[handler]
async fn resend_setup_link(
    req: &Request,
    state: Data<&AppState>,
    Path(id): Path<String>,
    poem::web::Form(form): poem::web::Form<CsrfOnly>,
) -> Response {
    let ctx = match super::require_member_form(req, &state, &form.csrf).await {
        Ok(ctx) => ctx,
        Err(response) => return response,
    };
    if let Err(response) = require_admin_page(&state, &ctx) {
        return response;
    }
    let Ok(id) = id.parse::<MemberId>() else {
        return not_found(&state);
    };
    let options = crate::firm_options::options_or_defaults(&state, &ctx.tenant).await;
    let firm_name = options.portal_name(&ctx.tenant.name).to_owned();
    let valid_for =
        chrono::Duration::hours(i64::from(state.settings.tenants.setup_token_valid_hours));
    let result = async {
        let tx = ctx.db.write().await?;
        let member = members::resend_setup(
            &tx,
            &ctx.member,
            id,
            &ctx.tenant.portal_url,
            &firm_name,
            valid_for,
            ctx.ip.clone(),
        )
        .await?;
        tx.commit().await?;
        Ok::<_, MemberError>(member)
    }
    .await;
    match result {
        Ok(_) => {
            poem::web::Redirect::see_other(format!("/firm/members/{id}?saved=link")).into_response()
        }
        Err(MemberError::NotFound) => not_found(&state),
        Err(err) => match load(&ctx, id).await {
            Ok(Some(member)) => {
                edit_page(
                    &state,
                    &ctx,
                    status_of(&err),
                    &member,
                    None,
                    None,
                    Some(sentence(&err)),
                )
                .await
            }
            Ok(None) => not_found(&state),
            Err(db) => server_error(&state, db),
        },
    }
}
