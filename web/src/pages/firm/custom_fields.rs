//! Custom fields pages: the administrators' definitions page (`/firm/custom-fields`), the custom
//! fields section of a member's file page and of a client's file page ("More"), each also
//! served on its own (`/firm/files/{id}/custom-fields`, `/files/{id}/custom-fields`), and the
//! forms they post. The rules live in `portico_tenants::custom_fields`.
//!
//! The file pages include `firm_file_custom_fields.html` / `client_file_custom_fields.html`
//! with the context of [`firm_file_section`] / [`client_file_section`] under the name
//! `custom_fields`. Forms carry the session's CSRF field and must come from the firm's own
//! origin. After a successful post the browser returns to the file page (`return=file`, which
//! the include sets) or to the stand-alone section page, which also shows refused changes with
//! their reason and what was typed.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use poem::http::StatusCode;
use poem::web::{Data, Form, Path, Query, Redirect};
use poem::{IntoResponse, Request, Response, Route, get, handler, post};
use portico_platform::ids::{CustomFieldId, FileId};
use portico_tenants::custom_fields::{
    self, BulkAction, ClientField, CustomFieldError, FieldKind, FileField, NewField,
    SHAREABLE_KIND, ShareState,
};
use serde::{Deserialize, Serialize};

use super::{
    chrome, forbidden_cross_site, not_found, render, require_admin_page, require_member,
    require_member_form,
};
use crate::api::custom_fields::{SHARED_SUMMARY, client_added_what, kind_shareable};
use crate::auth::MemberCtx;
use crate::client_auth::{ClientCtx, authenticate_client, check_client_csrf};
use crate::state::AppState;

/// Adds this module's pages (firm and client side) to the routes.
pub fn routes(route: Route) -> Route {
    route
        .at(
            "/firm/custom-fields",
            get(definitions_page).post(create_definition),
        )
        .at("/firm/custom-fields/:id/delete", post(delete_definition))
        .at(
            "/firm/files/:id/custom-fields",
            get(firm_section_page).post(save_file_fields),
        )
        .at("/firm/files/:id/custom-fields/portal", post(bulk_sharing))
        .at("/files/:id/custom-fields", get(client_section_page))
        .at(
            "/files/:id/custom-fields/:field_id",
            post(client_save_field),
        )
}

fn server_error(state: &AppState, err: impl std::fmt::Display) -> Response {
    state
        .templates
        .server_error("custom fields page failed", err)
}

fn status_of(err: &CustomFieldError) -> StatusCode {
    match err {
        CustomFieldError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
        CustomFieldError::NameTaken(_) | CustomFieldError::Conflict(_) => StatusCode::CONFLICT,
        CustomFieldError::Forbidden(_) => StatusCode::FORBIDDEN,
        CustomFieldError::NotFound => StatusCode::NOT_FOUND,
        CustomFieldError::Db(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// A message ending with one full stop.
fn sentence(text: &str) -> String {
    format!("{}.", text.trim().trim_end_matches('.'))
}

/// A message of ours standing on its own: capital first letter, full stop.
fn standalone_sentence(text: &str) -> String {
    let text = sentence(text);
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => format!("{}{}", first.to_uppercase(), chars.as_str()),
        None => String::new(),
    }
}

fn when(at: DateTime<Utc>) -> String {
    at.format("%-d %b %Y, %H:%M UTC").to_string()
}

/// The `?done=` notices: fixed texts, so nothing from the address is echoed into the page.
fn notice(done: &str) -> Option<&'static str> {
    Some(match done {
        "created" => "Custom field created.",
        "deleted" => "Custom field deleted.",
        "saved" => "Custom fields saved.",
        "editable" => "All fields of this file are now shared editable.",
        "editable-type" => {
            "All fields are now shared editable on every file of this type that you can access."
        }
        "hidden" => "All fields of this file are now hidden from the Portal.",
        "hidden-type" => {
            "All fields are now hidden on every file of this type that you can access."
        }
        _ => return None,
    })
}

#[derive(Deserialize, Default)]
pub struct DoneQuery {
    #[serde(default)]
    done: String,
}

/// The HTML input a kind is edited with.
fn input_of(kind: FieldKind) -> &'static str {
    match kind {
        FieldKind::Text => "text",
        FieldKind::Number => "number",
        FieldKind::Date => "date",
        FieldKind::YesNo => "yes_no",
        FieldKind::Choice => "choice",
    }
}

#[derive(Serialize)]
struct Choice {
    value: &'static str,
    label: &'static str,
}

fn kinds() -> Vec<Choice> {
    FieldKind::ALL
        .iter()
        .map(|k| Choice {
            value: k.as_str(),
            label: k.label(),
        })
        .collect()
}

fn sharing_options() -> Vec<Choice> {
    ShareState::ALL
        .iter()
        .map(|s| Choice {
            value: s.as_str(),
            label: s.label(),
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Definitions (administrators)

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct DefinitionForm {
    #[serde(default, skip_serializing)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    kind: String,
    /// One choice per line.
    #[serde(default)]
    choices: String,
    #[serde(default)]
    file_type: String,
}

#[derive(Serialize)]
struct DefinitionRow {
    id: String,
    name: String,
    kind: &'static str,
    kind_label: &'static str,
    choices: Vec<String>,
    file_type: Option<String>,
    files_with_value: u64,
    created: String,
}

async fn admin(req: &Request, state: &AppState) -> Result<MemberCtx, Response> {
    let ctx = require_member(req, state).await?;
    require_admin_page(state, &ctx)?;
    Ok(ctx)
}

async fn definitions_view(
    state: &AppState,
    ctx: &MemberCtx,
    status: StatusCode,
    form: &DefinitionForm,
    notice: Option<&str>,
    error: Option<String>,
) -> Response {
    let loaded = async {
        let tx = ctx.db.read().await?;
        let list = custom_fields::list_definitions_with_usage(&tx).await?;
        tx.commit().await?;
        Ok::<_, sea_orm::DbErr>(list)
    }
    .await;
    let list = match loaded {
        Ok(list) => list,
        Err(err) => return server_error(state, err),
    };
    let rows: Vec<DefinitionRow> = list
        .into_iter()
        .map(|d| DefinitionRow {
            id: d.field.id.to_string(),
            kind: d.field.kind.as_str(),
            kind_label: d.field.kind.label(),
            name: d.field.name,
            choices: d.field.choices,
            file_type: d.field.file_type,
            files_with_value: d.files_with_value,
            created: when(d.field.created_at),
        })
        .collect();
    let options = crate::firm_options::options_or_defaults(state, &ctx.tenant).await;
    render(
        state,
        ctx,
        "firm_custom_fields.html",
        status,
        "custom_fields",
        minijinja::context! {
            fields => rows,
            kinds => kinds(),
            form => form,
            notice => notice,
            error => error,
            kind_shareable => options.allows(SHAREABLE_KIND),
        },
    )
    .await
}

#[handler]
async fn definitions_page(
    req: &Request,
    state: Data<&AppState>,
    Query(query): Query<DoneQuery>,
) -> Response {
    let ctx = match admin(req, &state).await {
        Ok(ctx) => ctx,
        Err(response) => return response,
    };
    let form = DefinitionForm {
        kind: "text".into(),
        ..DefinitionForm::default()
    };
    definitions_view(
        &state,
        &ctx,
        StatusCode::OK,
        &form,
        notice(&query.done),
        None,
    )
    .await
}

#[handler]
async fn create_definition(
    req: &Request,
    state: Data<&AppState>,
    Form(form): Form<DefinitionForm>,
) -> Response {
    let ctx = match require_member_form(req, &state, &form.csrf).await {
        Ok(ctx) => ctx,
        Err(response) => return response,
    };
    if let Err(response) = require_admin_page(&state, &ctx) {
        return response;
    }
    let choices: Vec<String> = form
        .choices
        .lines()
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(str::to_owned)
        .collect();
    let created = async {
        let tx = ctx.db.write().await?;
        let field = custom_fields::create_definition(
            &tx,
            &ctx.member,
            NewField {
                name: form.name.clone(),
                kind: form.kind.clone(),
                // The textarea is there for every kind; it counts only for choice lists.
                choices: (form.kind == FieldKind::Choice.as_str()).then_some(choices),
                file_type: Some(form.file_type.clone()),
            },
            ctx.ip.clone(),
        )
        .await?;
        tx.commit().await?;
        Ok::<_, CustomFieldError>(field)
    }
    .await;
    match created {
        Ok(_) => Redirect::see_other("/firm/custom-fields?done=created").into_response(),
        Err(CustomFieldError::Db(err)) => server_error(&state, err),
        Err(err) => {
            let message = format!("Not created: {}", sentence(&err.to_string()));
            definitions_view(&state, &ctx, status_of(&err), &form, None, Some(message)).await
        }
    }
}

#[derive(Deserialize, Default)]
pub struct DeleteForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    confirm: Option<String>,
}

#[handler]
async fn delete_definition(
    req: &Request,
    state: Data<&AppState>,
    Path(id): Path<String>,
    Form(form): Form<DeleteForm>,
) -> Response {
    let ctx = match require_member_form(req, &state, &form.csrf).await {
        Ok(ctx) => ctx,
        Err(response) => return response,
    };
    if let Err(response) = require_admin_page(&state, &ctx) {
        return response;
    }
    let Ok(id) = id.parse::<CustomFieldId>() else {
        return not_found(&state);
    };
    if form.confirm.is_none() {
        let message = "Not deleted: tick the box to confirm that the values on every file go too.";
        return definitions_view(
            &state,
            &ctx,
            StatusCode::UNPROCESSABLE_ENTITY,
            &DefinitionForm::default(),
            None,
            Some(message.into()),
        )
        .await;
    }
    let deleted = async {
        let tx = ctx.db.write().await?;
        custom_fields::delete_definition(&tx, &ctx.member, id, ctx.ip.clone()).await?;
        tx.commit().await?;
        Ok::<_, CustomFieldError>(())
    }
    .await;
    match deleted {
        Ok(()) => Redirect::see_other("/firm/custom-fields?done=deleted").into_response(),
        Err(CustomFieldError::NotFound) => not_found(&state),
        Err(CustomFieldError::Db(err)) => server_error(&state, err),
        Err(err) => {
            let message = format!("Not deleted: {}", sentence(&err.to_string()));
            definitions_view(
                &state,
                &ctx,
                status_of(&err),
                &DefinitionForm::default(),
                None,
                Some(message),
            )
            .await
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The member's file section

/// What a refused post puts back into the section: the message, per-field messages and what
/// was typed.
#[derive(Default)]
struct Overlay {
    standalone: bool,
    notice: Option<&'static str>,
    error: Option<String>,
    field_errors: BTreeMap<CustomFieldId, String>,
    typed_values: HashMap<CustomFieldId, String>,
    typed_sharing: HashMap<CustomFieldId, String>,
}

#[derive(Serialize)]
struct FirmFieldRow {
    id: String,
    name: String,
    kind: &'static str,
    kind_label: &'static str,
    input: &'static str,
    choices: Vec<String>,
    /// The value in the input (what was typed, after a refused post).
    value: String,
    sharing: String,
    sharing_label: &'static str,
    expected: &'static str,
    error: Option<String>,
    updated_by: Option<String>,
    updated_by_client: bool,
    updated_at: Option<String>,
}

/// The context of `firm_file_custom_fields.html` for a file the member can access (the include
/// renders nothing when `found` is false).
pub async fn firm_file_section(
    state: &AppState,
    ctx: &MemberCtx,
    file: FileId,
) -> minijinja::Value {
    firm_section(state, ctx, file, Overlay::default())
        .await
        .unwrap_or_else(|err| {
            tracing::error!(error = %err, "custom fields section failed");
            minijinja::context! {
                found => true,
                file_id => file.to_string(),
                fields => Vec::<FirmFieldRow>::new(),
                error => "The custom fields could not be loaded. Reload the page to try again.",
            }
        })
}

async fn firm_section(
    state: &AppState,
    ctx: &MemberCtx,
    file: FileId,
    overlay: Overlay,
) -> Result<minijinja::Value, sea_orm::DbErr> {
    let tx = ctx.db.read().await?;
    let loaded = portico_tenants::files::get(&tx, &ctx.member, file).await?;
    let fields = match custom_fields::file_fields(&tx, &ctx.member, file).await {
        Ok(fields) => fields,
        Err(CustomFieldError::Db(err)) => return Err(err),
        Err(_) => Vec::new(),
    };
    tx.commit().await?;
    let Some(found) = loaded else {
        return Ok(minijinja::context! { found => false });
    };
    let kind_shareable = kind_shareable(state, &ctx.tenant).await?;
    let share_refusal = custom_fields::sharing_refusal(&ctx.member);
    let rows: Vec<FirmFieldRow> = fields
        .into_iter()
        .map(|f: FileField| {
            let id = f.field.id;
            let sharing = overlay
                .typed_sharing
                .get(&id)
                .and_then(|s| ShareState::parse(s))
                .unwrap_or(f.sharing);
            FirmFieldRow {
                id: id.to_string(),
                kind: f.field.kind.as_str(),
                kind_label: f.field.kind.label(),
                input: input_of(f.field.kind),
                expected: f.field.kind.expected(),
                value: overlay
                    .typed_values
                    .get(&id)
                    .cloned()
                    .or(f.value)
                    .unwrap_or_default(),
                sharing: sharing.as_str().to_owned(),
                sharing_label: sharing.label(),
                error: overlay.field_errors.get(&id).cloned(),
                updated_by_client: f
                    .updated_by
                    .as_ref()
                    .is_some_and(|u| u.kind == custom_fields::UpdatedByKind::Client),
                updated_by: f.updated_by.map(|u| u.name),
                updated_at: f.updated_at.map(when),
                name: f.field.name,
                choices: f.field.choices,
            }
        })
        .collect();
    Ok(minijinja::context! {
        found => true,
        file_id => found.id.to_string(),
        file_number => found.number,
        file_type => found.file_type.trim(),
        has_file_type => !found.file_type.trim().is_empty(),
        csrf => ctx.session.csrf_token.clone(),
        standalone => overlay.standalone,
        fields => rows,
        sharing_options => sharing_options(),
        can_share => share_refusal.is_none(),
        share_refusal => share_refusal.map(standalone_sentence),
        kind_shareable => kind_shareable,
        is_admin => ctx.member.is_admin,
        notice => overlay.notice,
        error => overlay.error,
    })
}

async fn firm_section_view(
    state: &AppState,
    ctx: &MemberCtx,
    file: FileId,
    status: StatusCode,
    overlay: Overlay,
) -> Response {
    let section = match firm_section(state, ctx, file, overlay).await {
        Ok(section) => section,
        Err(err) => return server_error(state, err),
    };
    if !section
        .get_attr("found")
        .map(|f| f.is_true())
        .unwrap_or(false)
    {
        return not_found(state);
    }
    render(
        state,
        ctx,
        "firm_file_custom_fields_page.html",
        status,
        "files",
        minijinja::context! { custom_fields => section },
    )
    .await
}

#[handler]
async fn firm_section_page(
    req: &Request,
    state: Data<&AppState>,
    Path(id): Path<String>,
    Query(query): Query<DoneQuery>,
) -> Response {
    let ctx = match require_member(req, &state).await {
        Ok(ctx) => ctx,
        Err(response) => return response,
    };
    let Ok(file) = id.parse::<FileId>() else {
        return not_found(&state);
    };
    let overlay = Overlay {
        standalone: true,
        notice: notice(&query.done),
        ..Overlay::default()
    };
    firm_section_view(&state, &ctx, file, StatusCode::OK, overlay).await
}

/// Where to go after a successful post: back to the file page when the form was on it.
fn after_post(fields: &[(String, String)], file: FileId, done: &str) -> Response {
    let from_file_page = fields.iter().any(|(k, v)| k == "return" && v == "file");
    let target = if from_file_page {
        format!("/firm/files/{file}?done=saved#custom-fields")
    } else {
        format!("/firm/files/{file}/custom-fields?done={done}")
    };
    Redirect::see_other(target).into_response()
}

fn form_value<'a>(fields: &'a [(String, String)], name: &str) -> Option<&'a str> {
    fields
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// The section's main form: `value_<field id>` and `sharing_<field id>` for each field shown.
/// Values are all checked before anything is saved; sharing changes need the Portal right.
#[handler]
async fn save_file_fields(
    req: &Request,
    state: Data<&AppState>,
    Path(id): Path<String>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Response {
    let csrf = form_value(&fields, "csrf").unwrap_or_default();
    let ctx = match require_member_form(req, &state, csrf).await {
        Ok(ctx) => ctx,
        Err(response) => return response,
    };
    let Ok(file) = id.parse::<FileId>() else {
        return not_found(&state);
    };
    let mut values: BTreeMap<CustomFieldId, Option<String>> = BTreeMap::new();
    let mut sharing: BTreeMap<CustomFieldId, String> = BTreeMap::new();
    for (key, value) in &fields {
        if let Some(field) = key.strip_prefix("value_") {
            let Ok(field) = field.parse::<CustomFieldId>() else {
                return not_found(&state);
            };
            values.insert(field, Some(value.clone()));
        } else if let Some(field) = key.strip_prefix("sharing_") {
            let Ok(field) = field.parse::<CustomFieldId>() else {
                return not_found(&state);
            };
            sharing.insert(field, value.clone());
        }
    }
    let typed = |values: &BTreeMap<CustomFieldId, Option<String>>,
                 sharing: &BTreeMap<CustomFieldId, String>| Overlay {
        standalone: true,
        typed_values: values
            .iter()
            .map(|(k, v)| (*k, v.clone().unwrap_or_default()))
            .collect(),
        typed_sharing: sharing.iter().map(|(k, v)| (*k, v.clone())).collect(),
        ..Overlay::default()
    };
    enum Refused {
        Fields(BTreeMap<CustomFieldId, String>),
        Rule(CustomFieldError),
    }
    let saved = async {
        let kind_shareable = kind_shareable(&state, &ctx.tenant)
            .await
            .map_err(|e| Refused::Rule(e.into()))?;
        let tx = ctx.db.write().await.map_err(|e| Refused::Rule(e.into()))?;
        let result = custom_fields::set_values(&tx, &ctx.member, file, &values, ctx.ip.clone())
            .await
            .map_err(Refused::Rule)?;
        if let Err(errors) = result {
            tx.rollback().await.map_err(|e| Refused::Rule(e.into()))?;
            return Err(Refused::Fields(errors));
        }
        let current: HashMap<CustomFieldId, ShareState> =
            custom_fields::file_fields(&tx, &ctx.member, file)
                .await
                .map_err(Refused::Rule)?
                .into_iter()
                .map(|f| (f.field.id, f.sharing))
                .collect();
        let mut newly_shared = false;
        for (field, wanted) in &sharing {
            let Some(wanted) = ShareState::parse(wanted) else {
                return Err(Refused::Rule(CustomFieldError::Invalid(
                    "choose Hide, Share read-only or Share editable".into(),
                )));
            };
            // Forms send every menu; only real changes are changes (and need the right).
            if current.get(field) == Some(&wanted) {
                continue;
            }
            let change = custom_fields::set_sharing(
                &tx,
                &ctx.member,
                file,
                *field,
                wanted,
                kind_shareable,
                ctx.ip.clone(),
            )
            .await
            .map_err(Refused::Rule)?;
            newly_shared |= change.newly_shared();
        }
        if newly_shared {
            crate::notify::shared_with_clients(&state, &tx, &ctx.tenant, file, SHARED_SUMMARY)
                .await
                .map_err(|e| Refused::Rule(e.into()))?;
        }
        tx.commit().await.map_err(|e| Refused::Rule(e.into()))?;
        Ok(())
    }
    .await;
    match saved {
        Ok(()) => after_post(&fields, file, "saved"),
        Err(Refused::Rule(CustomFieldError::NotFound)) => not_found(&state),
        Err(Refused::Rule(CustomFieldError::Db(err))) => server_error(&state, err),
        Err(Refused::Fields(errors)) => {
            let mut overlay = typed(&values, &sharing);
            overlay.error = Some(format!(
                "Not saved: {} value{} must be corrected.",
                errors.len(),
                if errors.len() == 1 { "" } else { "s" }
            ));
            overlay.field_errors = errors;
            firm_section_view(
                &state,
                &ctx,
                file,
                StatusCode::UNPROCESSABLE_ENTITY,
                overlay,
            )
            .await
        }
        Err(Refused::Rule(err)) => {
            let mut overlay = typed(&values, &sharing);
            overlay.error = Some(format!("Not saved: {}", sentence(&err.to_string())));
            firm_section_view(&state, &ctx, file, status_of(&err), overlay).await
        }
    }
}

#[handler]
async fn bulk_sharing(
    req: &Request,
    state: Data<&AppState>,
    Path(id): Path<String>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Response {
    let csrf = form_value(&fields, "csrf").unwrap_or_default();
    let ctx = match require_member_form(req, &state, csrf).await {
        Ok(ctx) => ctx,
        Err(response) => return response,
    };
    let Ok(file) = id.parse::<FileId>() else {
        return not_found(&state);
    };
    let apply_to_file_type = form_value(&fields, "apply_to_file_type").is_some();
    let Some(action) = form_value(&fields, "action").and_then(BulkAction::parse) else {
        let overlay = Overlay {
            standalone: true,
            error: Some("Choose Make all fields editable or Hide all fields.".into()),
            ..Overlay::default()
        };
        return firm_section_view(
            &state,
            &ctx,
            file,
            StatusCode::UNPROCESSABLE_ENTITY,
            overlay,
        )
        .await;
    };
    let done = async {
        let kind_shareable = kind_shareable(&state, &ctx.tenant).await?;
        let tx = ctx.db.write().await?;
        let outcome = custom_fields::bulk_sharing(
            &tx,
            &ctx.member,
            file,
            action,
            apply_to_file_type,
            kind_shareable,
            ctx.ip.clone(),
        )
        .await?;
        for shared in outcome.newly_shared_file_ids {
            crate::notify::shared_with_clients(&state, &tx, &ctx.tenant, shared, SHARED_SUMMARY)
                .await?;
        }
        tx.commit().await?;
        Ok::<_, CustomFieldError>(())
    }
    .await;
    match done {
        Ok(()) => {
            let done = match (action, apply_to_file_type) {
                (BulkAction::MakeAllEditable, false) => "editable",
                (BulkAction::MakeAllEditable, true) => "editable-type",
                (BulkAction::HideAll, false) => "hidden",
                (BulkAction::HideAll, true) => "hidden-type",
            };
            after_post(&fields, file, done)
        }
        Err(CustomFieldError::NotFound) => not_found(&state),
        Err(CustomFieldError::Db(err)) => server_error(&state, err),
        Err(err) => {
            let overlay = Overlay {
                standalone: true,
                error: Some(format!("Not changed: {}", sentence(&err.to_string()))),
                ..Overlay::default()
            };
            firm_section_view(&state, &ctx, file, status_of(&err), overlay).await
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The client's file section ("More")

#[derive(Serialize)]
struct ClientFieldRow {
    id: String,
    name: String,
    kind: &'static str,
    input: &'static str,
    choices: Vec<String>,
    value: String,
    /// The stored value, for read-only display (yes/no in words).
    shown: String,
    editable: bool,
    expected: &'static str,
    error: Option<String>,
}

#[derive(Default)]
struct ClientOverlay {
    standalone: bool,
    notice: Option<&'static str>,
    error: Option<String>,
    field: Option<(CustomFieldId, String, String)>,
}

/// The context of `client_file_custom_fields.html` for a file shared with the client (the
/// include renders nothing when `found` is false).
pub async fn client_file_section(
    state: &AppState,
    ctx: &ClientCtx,
    file: FileId,
) -> minijinja::Value {
    client_section(state, ctx, file, ClientOverlay::default())
        .await
        .unwrap_or_else(|err| {
            tracing::error!(error = %err, "client custom fields section failed");
            minijinja::context! {
                found => true,
                file_id => file.to_string(),
                fields => Vec::<ClientFieldRow>::new(),
                error => "This information could not be loaded. Reload the page to try again.",
            }
        })
}

fn shown(field: &ClientField) -> String {
    match (field.kind, field.value.as_deref()) {
        (_, None) => String::new(),
        (FieldKind::YesNo, Some("true")) => "Yes".into(),
        (FieldKind::YesNo, Some("false")) => "No".into(),
        (_, Some(value)) => value.to_owned(),
    }
}

async fn client_section(
    state: &AppState,
    ctx: &ClientCtx,
    file: FileId,
    overlay: ClientOverlay,
) -> Result<minijinja::Value, sea_orm::DbErr> {
    let kind_shareable = kind_shareable(state, &ctx.tenant).await?;
    let tx = ctx.db.read().await?;
    let fields = custom_fields::client_fields(&tx, &ctx.client, file, kind_shareable).await?;
    tx.commit().await?;
    let Some(fields) = fields else {
        return Ok(minijinja::context! { found => false });
    };
    let rows: Vec<ClientFieldRow> = fields
        .into_iter()
        .map(|f| {
            let typed = overlay
                .field
                .as_ref()
                .filter(|(id, _, _)| *id == f.field_id);
            ClientFieldRow {
                id: f.field_id.to_string(),
                kind: f.kind.as_str(),
                input: input_of(f.kind),
                expected: f.kind.expected(),
                shown: shown(&f),
                value: typed
                    .map(|(_, v, _)| v.clone())
                    .or_else(|| f.value.clone())
                    .unwrap_or_default(),
                error: typed.map(|(_, _, e)| e.clone()),
                editable: f.editable,
                name: f.name,
                choices: f.choices,
            }
        })
        .collect();
    Ok(minijinja::context! {
        found => true,
        file_id => file.to_string(),
        csrf => ctx.session.csrf_token.clone(),
        standalone => overlay.standalone,
        fields => rows,
        notice => overlay.notice,
        error => overlay.error,
    })
}

async fn client_section_view(
    state: &AppState,
    ctx: &ClientCtx,
    file: FileId,
    status: StatusCode,
    overlay: ClientOverlay,
) -> Response {
    let section = match client_section(state, ctx, file, overlay).await {
        Ok(section) => section,
        Err(err) => return server_error(state, err),
    };
    if !section
        .get_attr("found")
        .map(|f| f.is_true())
        .unwrap_or(false)
    {
        return not_found(state);
    }
    let shared = async {
        let tx = ctx.db.read().await?;
        let file = portico_tenants::portal_access::file_for_client(&tx, &ctx.client, file).await?;
        tx.commit().await?;
        Ok::<_, sea_orm::DbErr>(file)
    }
    .await;
    let shared = match shared {
        Ok(Some(file)) => file,
        Ok(None) => return not_found(state),
        Err(err) => return server_error(state, err),
    };
    let context = minijinja::context! {
        file => shared,
        custom_fields => section,
        firm => chrome(state, &ctx.tenant).await,
        me => ctx.client.clone(),
        csrf => ctx.session.csrf_token.clone(),
        section => "home",
        branded => true,
        portal_url => ctx.tenant.portal_url.clone(),
    };
    state
        .templates
        .page("client_file_custom_fields_page.html", status, context)
}

#[handler]
async fn client_section_page(
    req: &Request,
    state: Data<&AppState>,
    Path(id): Path<String>,
    Query(query): Query<DoneQuery>,
) -> Response {
    let Ok(ctx) = authenticate_client(req, &state).await else {
        return Redirect::see_other("/").into_response();
    };
    let Ok(file) = id.parse::<FileId>() else {
        return not_found(&state);
    };
    let overlay = ClientOverlay {
        standalone: true,
        notice: notice(&query.done),
        ..ClientOverlay::default()
    };
    client_section_view(&state, &ctx, file, StatusCode::OK, overlay).await
}

#[derive(Deserialize, Default)]
pub struct ClientValueForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    value: String,
    #[serde(default, rename = "return")]
    return_to: String,
}

/// A client saves one editable field.
#[handler]
async fn client_save_field(
    req: &Request,
    state: Data<&AppState>,
    Path((id, field_id)): Path<(String, String)>,
    Form(form): Form<ClientValueForm>,
) -> Response {
    let Ok(ctx) = authenticate_client(req, &state).await else {
        return Redirect::see_other("/").into_response();
    };
    if check_client_csrf(req, &ctx, Some(&form.csrf)).is_err() {
        return forbidden_cross_site(&state);
    }
    let (Ok(file), Ok(field)) = (id.parse::<FileId>(), field_id.parse::<CustomFieldId>()) else {
        return not_found(&state);
    };
    let saved = async {
        let kind_shareable = kind_shareable(&state, &ctx.tenant).await?;
        let tx = ctx.db.write().await?;
        let (updated, changed) = custom_fields::client_set_value(
            &tx,
            &ctx.client,
            file,
            field,
            Some(&form.value),
            kind_shareable,
            ctx.ip.clone(),
        )
        .await?;
        if changed {
            crate::notify::client_added(
                &state,
                &tx,
                &ctx.tenant,
                file,
                &ctx.client,
                &client_added_what(&updated.name),
            )
            .await?;
        }
        tx.commit().await?;
        Ok::<_, CustomFieldError>(())
    }
    .await;
    match saved {
        Ok(()) if form.return_to == "file" => {
            Redirect::see_other(format!("/files/{file}?tab=more&done=fields#custom-fields"))
                .into_response()
        }
        Ok(()) => {
            Redirect::see_other(format!("/files/{file}/custom-fields?done=saved")).into_response()
        }
        Err(CustomFieldError::NotFound) => not_found(&state),
        Err(CustomFieldError::Db(err)) => server_error(&state, err),
        Err(CustomFieldError::Invalid(message)) => {
            let overlay = ClientOverlay {
                standalone: true,
                error: Some("Not saved: please correct the value below.".into()),
                field: Some((field, form.value.clone(), sentence(&message))),
                ..ClientOverlay::default()
            };
            client_section_view(
                &state,
                &ctx,
                file,
                StatusCode::UNPROCESSABLE_ENTITY,
                overlay,
            )
            .await
        }
        Err(err) => {
            let overlay = ClientOverlay {
                standalone: true,
                error: Some(format!("Not saved: {}", sentence(&err.to_string()))),
                ..ClientOverlay::default()
            };
            client_section_view(&state, &ctx, file, status_of(&err), overlay).await
        }
    }
}
