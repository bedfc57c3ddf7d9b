//! The member's file page sections for notes, appointments and tasks, with their Show in
//! Portal / Remove from Portal buttons and the forms to add them.

use chrono::{DateTime, NaiveDateTime, Utc};
use poem::http::StatusCode;
use poem::web::{Data, Form, Path, Redirect};
use poem::{IntoResponse, Request, Response, Route, handler, post};
use portico_platform::ids::FileId;
use portico_tenants::items::{self, ItemError, ItemKind, NewAppointment, NewTask};
use serde::Deserialize;

use super::require_member_form;
use crate::auth::MemberCtx;
use crate::state::AppState;

pub fn routes(route: Route) -> Route {
    route
        .at("/firm/files/:id/notes", post(add_note))
        .at("/firm/files/:id/appointments", post(add_appointment))
        .at("/firm/files/:id/tasks", post(add_task))
        .at("/firm/items/:kind/:id/portal", post(toggle_portal))
        .at("/firm/tasks/:id/done", post(toggle_done))
}

/// What `firm_file_items.html` needs.
pub async fn firm_file_section(
    state: &AppState,
    ctx: &MemberCtx,
    file: FileId,
) -> minijinja::Value {
    let loaded = async {
        let rules = crate::api::items::sharing_rules(state, &ctx.tenant)
            .await
            .map_err(ItemError::Db)?;
        let tx = ctx.db.read().await.map_err(ItemError::Db)?;
        let notes = items::notes(&tx, &ctx.member, file).await?;
        let appointments = items::appointments(&tx, &ctx.member, file).await?;
        let tasks = items::tasks(&tx, &ctx.member, file).await?;
        let members = portico_tenants::members::list(&tx).await?;
        tx.commit().await.map_err(ItemError::Db)?;
        Ok::<_, ItemError>((rules, notes, appointments, tasks, members))
    }
    .await;
    match loaded {
        Ok((rules, notes, appointments, tasks, members)) => minijinja::context! {
            notes => notes,
            appointments => appointments,
            tasks => tasks,
            members => members.into_iter().filter(|m| m.active).collect::<Vec<_>>(),
            can_share => ctx.member.portal_rights,
            shares_notes => rules.allows(ItemKind::Note),
            shares_appointments => rules.allows(ItemKind::Appointment),
            shares_tasks => rules.allows(ItemKind::Task),
        },
        Err(err) => {
            tracing::error!(error = %err, "loading file items failed");
            minijinja::context! { error => "The items of this file could not be loaded." }
        }
    }
}

fn back(file: FileId, notice: &str) -> Response {
    Redirect::see_other(format!("/firm/files/{file}?items={notice}#items")).into_response()
}

fn refused(state: &AppState, err: ItemError) -> Response {
    match err {
        ItemError::NotFound => super::not_found(state),
        ItemError::Invalid(m) => state
            .templates
            .error_page(StatusCode::UNPROCESSABLE_ENTITY, &m),
        ItemError::Forbidden(m) => state.templates.error_page(StatusCode::FORBIDDEN, &m),
        ItemError::Db(err) => state.templates.server_error("file item change failed", err),
    }
}

fn parse_file(state: &AppState, raw: &str) -> Result<FileId, Response> {
    raw.parse().map_err(|_| super::not_found(state))
}

#[derive(Deserialize)]
pub struct NoteForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    body: String,
    #[serde(default)]
    shared: Option<String>,
}

#[handler]
async fn add_note(
    req: &Request,
    state: Data<&AppState>,
    Path(id): Path<String>,
    Form(form): Form<NoteForm>,
) -> Response {
    let ctx = match require_member_form(req, &state, &form.csrf).await {
        Ok(ctx) => ctx,
        Err(response) => return response,
    };
    let file = match parse_file(&state, &id) {
        Ok(file) => file,
        Err(response) => return response,
    };
    let rules = match crate::api::items::sharing_rules(&state, &ctx.tenant).await {
        Ok(rules) => rules,
        Err(err) => return refused(&state, ItemError::Db(err)),
    };
    let shared = form.shared.is_some();
    let result = async {
        let tx = ctx.db.write().await.map_err(ItemError::Db)?;
        items::add_note(
            &tx,
            &ctx.member,
            file,
            &form.body,
            shared,
            &rules,
            ctx.ip.clone(),
        )
        .await?;
        if shared {
            crate::notify::shared_with_clients(
                &state,
                &tx,
                &ctx.tenant,
                file,
                "a note was shared with you",
            )
            .await?;
        }
        tx.commit().await.map_err(ItemError::Db)
    }
    .await;
    match result {
        Ok(()) => back(file, "note"),
        Err(err) => refused(&state, err),
    }
}

#[derive(Deserialize)]
pub struct AppointmentForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    title: String,
    /// `datetime-local` value, read as UTC.
    #[serde(default)]
    starts_at: String,
    #[serde(default)]
    location: String,
    #[serde(default)]
    private: Option<String>,
    #[serde(default)]
    shared: Option<String>,
}

fn parse_local(value: &str) -> Option<DateTime<Utc>> {
    NaiveDateTime::parse_from_str(value.trim(), "%Y-%m-%dT%H:%M")
        .ok()
        .map(|t| t.and_utc())
}

#[handler]
async fn add_appointment(
    req: &Request,
    state: Data<&AppState>,
    Path(id): Path<String>,
    Form(form): Form<AppointmentForm>,
) -> Response {
    let ctx = match require_member_form(req, &state, &form.csrf).await {
        Ok(ctx) => ctx,
        Err(response) => return response,
    };
    let file = match parse_file(&state, &id) {
        Ok(file) => file,
        Err(response) => return response,
    };
    let Some(starts_at) = parse_local(&form.starts_at) else {
        return refused(
            &state,
            ItemError::Invalid("the start must be a date and time".into()),
        );
    };
    let rules = match crate::api::items::sharing_rules(&state, &ctx.tenant).await {
        Ok(rules) => rules,
        Err(err) => return refused(&state, ItemError::Db(err)),
    };
    let shared = form.shared.is_some();
    let new = NewAppointment {
        title: form.title,
        starts_at,
        ends_at: None,
        location: form.location,
        private: form.private.is_some(),
        attendee_ids: vec![ctx.member.id.as_uuid()],
        shared,
    };
    let result = async {
        let tx = ctx.db.write().await.map_err(ItemError::Db)?;
        items::add_appointment(&tx, &ctx.member, file, new, &rules, ctx.ip.clone()).await?;
        if shared {
            crate::notify::shared_with_clients(
                &state,
                &tx,
                &ctx.tenant,
                file,
                "an appointment was shared with you",
            )
            .await?;
        }
        tx.commit().await.map_err(ItemError::Db)
    }
    .await;
    match result {
        Ok(()) => back(file, "appointment"),
        Err(err) => refused(&state, err),
    }
}

#[derive(Deserialize)]
pub struct TaskForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    title: String,
    #[serde(default)]
    due_date: String,
    #[serde(default)]
    shared: Option<String>,
}

#[handler]
async fn add_task(
    req: &Request,
    state: Data<&AppState>,
    Path(id): Path<String>,
    Form(form): Form<TaskForm>,
) -> Response {
    let ctx = match require_member_form(req, &state, &form.csrf).await {
        Ok(ctx) => ctx,
        Err(response) => return response,
    };
    let file = match parse_file(&state, &id) {
        Ok(file) => file,
        Err(response) => return response,
    };
    let rules = match crate::api::items::sharing_rules(&state, &ctx.tenant).await {
        Ok(rules) => rules,
        Err(err) => return refused(&state, ItemError::Db(err)),
    };
    let shared = form.shared.is_some();
    let result = async {
        let tx = ctx.db.write().await.map_err(ItemError::Db)?;
        items::add_task(
            &tx,
            &ctx.member,
            file,
            NewTask {
                title: form.title.clone(),
                due_date: Some(form.due_date.clone()),
                shared,
            },
            &rules,
            ctx.ip.clone(),
        )
        .await?;
        if shared {
            crate::notify::shared_with_clients(
                &state,
                &tx,
                &ctx.tenant,
                file,
                "a task was shared with you",
            )
            .await?;
        }
        tx.commit().await.map_err(ItemError::Db)
    }
    .await;
    match result {
        Ok(()) => back(file, "task"),
        Err(err) => refused(&state, err),
    }
}

#[derive(Deserialize)]
pub struct ToggleForm {
    #[serde(default)]
    csrf: String,
    /// `1` shows the item in the Portal, anything else removes it.
    #[serde(default)]
    shared: String,
}

#[handler]
async fn toggle_portal(
    req: &Request,
    state: Data<&AppState>,
    Path((kind, id)): Path<(String, String)>,
    Form(form): Form<ToggleForm>,
) -> Response {
    let ctx = match require_member_form(req, &state, &form.csrf).await {
        Ok(ctx) => ctx,
        Err(response) => return response,
    };
    let kind = match kind.as_str() {
        "note" => ItemKind::Note,
        "appointment" => ItemKind::Appointment,
        "task" => ItemKind::Task,
        _ => return super::not_found(&state),
    };
    let Ok(id) = id.parse::<uuid::Uuid>() else {
        return super::not_found(&state);
    };
    let shared = form.shared == "1";
    let rules = match crate::api::items::sharing_rules(&state, &ctx.tenant).await {
        Ok(rules) => rules,
        Err(err) => return refused(&state, ItemError::Db(err)),
    };
    let result = async {
        let tx = ctx.db.write().await.map_err(ItemError::Db)?;
        let file =
            items::set_shared(&tx, &ctx.member, kind, id, shared, &rules, ctx.ip.clone()).await?;
        if shared {
            crate::notify::shared_with_clients(
                &state,
                &tx,
                &ctx.tenant,
                file,
                &format!("a {} was shared with you", kind.as_str()),
            )
            .await?;
        }
        tx.commit().await.map_err(ItemError::Db)?;
        Ok::<_, ItemError>(file)
    }
    .await;
    match result {
        Ok(file) => back(file, if shared { "shared" } else { "unshared" }),
        Err(err) => refused(&state, err),
    }
}

#[derive(Deserialize)]
pub struct DoneForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    done: String,
}

#[handler]
async fn toggle_done(
    req: &Request,
    state: Data<&AppState>,
    Path(id): Path<String>,
    Form(form): Form<DoneForm>,
) -> Response {
    let ctx = match require_member_form(req, &state, &form.csrf).await {
        Ok(ctx) => ctx,
        Err(response) => return response,
    };
    let Ok(id) = id.parse::<uuid::Uuid>() else {
        return super::not_found(&state);
    };
    let result = async {
        let tx = ctx.db.write().await.map_err(ItemError::Db)?;
        let task = items::set_task_done(&tx, &ctx.member, id, form.done == "1").await?;
        tx.commit().await.map_err(ItemError::Db)?;
        Ok::<_, ItemError>(FileId::from_uuid(task.file_id))
    }
    .await;
    match result {
        Ok(file) => back(file, "task"),
        Err(err) => refused(&state, err),
    }
}
