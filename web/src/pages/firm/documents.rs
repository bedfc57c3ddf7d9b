//! The documents sections of the file pages and their HTML routes: on a member's file page the
//! list with Download and Show in Portal / Remove from Portal, and an upload form; on a
//! client's file page the shared documents with Download, and an upload form.
//!
//! The file pages include `firm_file_documents.html` / `client_file_documents.html` with the
//! context from [`firm_file_section`] / [`client_file_section`] under the name `documents`.
//! Forms carry the session's CSRF token (multipart forms too: the `csrf` field comes before the
//! file) and must be same-origin.

use poem::http::StatusCode;
use poem::web::{Data, Form, Multipart, Path, Redirect};
use poem::{IntoResponse, Request, Response, Route, get, handler, post};
use portico_platform::TenantDb;
use portico_platform::ids::{DocumentId, FileId};
use portico_tenants::TenantRecord;
use portico_tenants::documents::{self, ACCEPTED_EXTENSIONS, Document, Uploader};
use portico_tenants::members::Member;
use portico_tenants::portal_access::Client;
use serde::{Deserialize, Serialize};

use super::{forbidden_cross_site, not_found, require_member, require_member_form};
use crate::api::documents::{
    UploadFailure, UploadTarget, content_response, master_key, receive_upload,
};
use crate::auth::{MemberCtx, check_csrf, firm_of};
use crate::client_auth::{ClientCtx, authenticate_client, check_client_csrf};
use crate::error::ApiError;
use crate::state::AppState;

/// Adds this module's pages to the routes.
pub fn routes(route: Route) -> Route {
    route
        .at("/firm/files/:id/documents", post(firm_upload))
        .at("/firm/documents/:id/download", get(firm_download))
        .at("/firm/documents/:id/portal", post(firm_set_portal))
        .at("/files/:id/documents", post(client_upload))
        .at("/documents/:id/download", get(client_download))
}

/// One row of a documents list.
#[derive(Serialize)]
struct DocumentItem {
    id: String,
    title: String,
    filename: String,
    size: String,
    /// `YYYY-MM-DD HH:MM` (UTC).
    created_at: String,
    created_by_name: String,
    created_by_kind: String,
    shared: bool,
}

impl From<Document> for DocumentItem {
    fn from(d: Document) -> Self {
        Self {
            id: d.id.to_string(),
            title: d.title,
            filename: d.filename,
            size: human_size(d.size_bytes),
            created_at: d.created_at.format("%Y-%m-%d %H:%M").to_string(),
            created_by_name: d.created_by.name,
            created_by_kind: d.created_by.kind,
            shared: d.shared,
        }
    }
}

fn human_size(bytes: i64) -> String {
    let bytes = bytes.max(0) as f64;
    if bytes < 1024.0 {
        format!("{bytes} B")
    } else if bytes < 1024.0 * 1024.0 {
        format!("{:.1} KB", bytes / 1024.0)
    } else {
        format!("{:.1} MB", bytes / (1024.0 * 1024.0))
    }
}

fn accept_attribute() -> String {
    ACCEPTED_EXTENSIONS
        .iter()
        .map(|ext| format!(".{ext}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// What `firm_file_documents.html` needs, for the member's file page.
pub async fn firm_file_section(
    state: &AppState,
    ctx: &MemberCtx,
    file: FileId,
) -> minijinja::Value {
    firm_section(
        state,
        &ctx.tenant,
        &ctx.db,
        &ctx.member,
        &ctx.session.csrf_token,
        file,
    )
    .await
}

/// [`firm_file_section`] from its parts.
pub async fn firm_section(
    state: &AppState,
    tenant: &TenantRecord,
    db: &TenantDb,
    member: &Member,
    csrf: &str,
    file: FileId,
) -> minijinja::Value {
    let options = crate::firm_options::options_or_defaults(state, tenant).await;
    let loaded = async {
        let tx = db.read().await?;
        let listed = documents::list_for_member(&tx, member, file).await?;
        tx.commit().await?;
        Ok::<_, sea_orm::DbErr>(listed)
    }
    .await;
    let items: Vec<DocumentItem> = match loaded {
        Ok(Some(listed)) => listed.into_iter().map(Into::into).collect(),
        Ok(None) => return minijinja::context! { found => false },
        Err(err) => {
            tracing::error!(error = %err, "loading a file's documents failed");
            return minijinja::context! { found => false, error => "The documents could not be loaded." };
        }
    };
    minijinja::context! {
        found => true,
        file_id => file.to_string(),
        csrf => csrf,
        items => items,
        // Remove from Portal needs the Portal right; Show in Portal also needs the firm to share documents.
        can_manage_portal => member.portal_rights,
        can_share => member.portal_rights && options.allows(documents::KIND),
        upload_limit_mb => options.upload_limit_mb,
        accept => accept_attribute(),
    }
}

/// What `client_file_documents.html` needs, for the client's file page.
pub async fn client_file_section(
    state: &AppState,
    ctx: &ClientCtx,
    file: FileId,
) -> minijinja::Value {
    client_section(
        state,
        &ctx.tenant,
        &ctx.db,
        &ctx.client,
        &ctx.session.csrf_token,
        file,
    )
    .await
}

/// [`client_file_section`] from its parts.
pub async fn client_section(
    state: &AppState,
    tenant: &TenantRecord,
    db: &TenantDb,
    client: &Client,
    csrf: &str,
    file: FileId,
) -> minijinja::Value {
    let loaded = async {
        let options = crate::firm_options::options(state, tenant).await?;
        let tx = db.read().await?;
        let listed = documents::list_for_client(&tx, client, file, &options).await?;
        tx.commit().await?;
        Ok::<_, sea_orm::DbErr>(listed.map(|listed| (listed, options)))
    }
    .await;
    let (items, options): (Vec<DocumentItem>, _) = match loaded {
        Ok(Some((listed, options))) => (listed.into_iter().map(Into::into).collect(), options),
        Ok(None) => return minijinja::context! { found => false },
        Err(err) => {
            tracing::error!(error = %err, "loading a client's documents failed");
            return minijinja::context! { found => false, error => "The documents could not be loaded." };
        }
    };
    minijinja::context! {
        found => true,
        file_id => file.to_string(),
        csrf => csrf,
        items => items,
        can_upload => options.allows(documents::KIND),
        upload_limit_mb => options.upload_limit_mb,
        accept => accept_attribute(),
    }
}

/// The HTML answer for an API-style refusal: the same 404 page as any missing page, else the
/// error page with the reason.
fn refusal_page(state: &AppState, err: &ApiError) -> Response {
    if err.status() == StatusCode::NOT_FOUND {
        return not_found(state);
    }
    let message = if err.status().is_server_error() {
        err.detail().to_owned()
    } else {
        format!(
            "{} Go back to the file and try again.",
            sentence(err.detail())
        )
    };
    state.templates.error_page(err.status(), &message)
}

/// `the file is empty` → `The file is empty.`
fn sentence(text: &str) -> String {
    let mut chars = text.chars();
    let mut out: String = match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    };
    if !out.ends_with('.') {
        out.push('.');
    }
    out
}

// ---- members ----------------------------------------------------------------------------------

#[handler]
async fn firm_upload(
    req: &Request,
    state: Data<&AppState>,
    Path(id): Path<String>,
    multipart: Multipart,
) -> Response {
    let ctx = match require_member(req, &state).await {
        Ok(ctx) => ctx,
        Err(response) => return response,
    };
    let Ok(file) = id.parse::<FileId>() else {
        return not_found(&state);
    };
    let csrf_ok = |token: Option<&str>| check_csrf(req, &ctx, token).is_ok();
    let target = UploadTarget {
        tenant: &ctx.tenant,
        db: &ctx.db,
        uploader: Uploader::Member(&ctx.member),
        file,
        ip: ctx.ip.clone(),
        form_csrf: Some(&csrf_ok),
    };
    match receive_upload(&state, req, target, multipart).await {
        Ok(_) => Redirect::see_other(format!("/firm/files/{file}#documents")).into_response(),
        Err(UploadFailure::Csrf) => forbidden_cross_site(&state),
        Err(UploadFailure::Refused(err)) => refusal_page(&state, &err),
    }
}

#[handler]
async fn firm_download(req: &Request, state: Data<&AppState>, Path(id): Path<String>) -> Response {
    let ctx = match require_member(req, &state).await {
        Ok(ctx) => ctx,
        Err(response) => return response,
    };
    let Ok(id) = id.parse::<DocumentId>() else {
        return not_found(&state);
    };
    let result = async {
        let master = master_key(&state)?;
        let tx = ctx.db.read().await?;
        let found = documents::download_for_member(&tx, &ctx.member, &master, id).await;
        tx.commit().await?;
        let download = found?.ok_or_else(ApiError::not_found)?;
        content_response(&state, download).await
    }
    .await;
    result.unwrap_or_else(|err| refusal_page(&state, &err))
}

#[derive(Deserialize)]
pub struct PortalForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    shared: String,
}

#[handler]
async fn firm_set_portal(
    req: &Request,
    state: Data<&AppState>,
    Path(id): Path<String>,
    Form(form): Form<PortalForm>,
) -> Response {
    let ctx = match require_member_form(req, &state, &form.csrf).await {
        Ok(ctx) => ctx,
        Err(response) => return response,
    };
    let Ok(id) = id.parse::<DocumentId>() else {
        return not_found(&state);
    };
    let shared = matches!(form.shared.as_str(), "true" | "on" | "1");
    let result = async {
        let options = crate::firm_options::options(&state, &ctx.tenant).await?;
        let tx = ctx.db.write().await?;
        let document =
            documents::set_shared(&tx, &ctx.member, id, shared, &options, ctx.ip.clone()).await?;
        tx.commit().await?;
        Ok::<_, ApiError>(document)
    }
    .await;
    match result {
        Ok(document) => Redirect::see_other(format!("/firm/files/{}#documents", document.file_id))
            .into_response(),
        Err(err) => refusal_page(&state, &err),
    }
}

// ---- clients ----------------------------------------------------------------------------------

async fn client(req: &Request, state: &AppState) -> Result<ClientCtx, Response> {
    if firm_of(req).is_none() {
        return Err(not_found(state));
    }
    authenticate_client(req, state)
        .await
        .map_err(|_| Redirect::see_other("/").into_response())
}

#[handler]
async fn client_upload(
    req: &Request,
    state: Data<&AppState>,
    Path(id): Path<String>,
    multipart: Multipart,
) -> Response {
    let ctx = match client(req, &state).await {
        Ok(ctx) => ctx,
        Err(response) => return response,
    };
    let Ok(file) = id.parse::<FileId>() else {
        return not_found(&state);
    };
    let csrf_ok = |token: Option<&str>| check_client_csrf(req, &ctx, token).is_ok();
    let target = UploadTarget {
        tenant: &ctx.tenant,
        db: &ctx.db,
        uploader: Uploader::Client(&ctx.client),
        file,
        ip: ctx.ip.clone(),
        form_csrf: Some(&csrf_ok),
    };
    match receive_upload(&state, req, target, multipart).await {
        Ok(_) => Redirect::see_other(format!("/files/{file}?tab=documents&done=document"))
            .into_response(),
        Err(UploadFailure::Csrf) => forbidden_cross_site(&state),
        Err(UploadFailure::Refused(err)) => refusal_page(&state, &err),
    }
}

#[handler]
async fn client_download(
    req: &Request,
    state: Data<&AppState>,
    Path(id): Path<String>,
) -> Response {
    let ctx = match client(req, &state).await {
        Ok(ctx) => ctx,
        Err(response) => return response,
    };
    let Ok(id) = id.parse::<DocumentId>() else {
        return not_found(&state);
    };
    let result = async {
        let options = crate::firm_options::options(&state, &ctx.tenant).await?;
        let master = master_key(&state)?;
        let tx = ctx.db.read().await?;
        let found = documents::download_for_client(&tx, &ctx.client, &master, id, &options).await;
        tx.commit().await?;
        let download = found?.ok_or_else(ApiError::not_found)?;
        content_response(&state, download).await
    }
    .await;
    result.unwrap_or_else(|err| refusal_page(&state, &err))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_like_people_write_them() {
        assert_eq!(human_size(512), "512 B");
        assert_eq!(human_size(1536), "1.5 KB");
        assert_eq!(human_size(5 * 1024 * 1024), "5.0 MB");
    }

    #[test]
    fn reasons_become_sentences() {
        assert_eq!(sentence("the file is empty"), "The file is empty.");
        assert_eq!(sentence("Done."), "Done.");
    }
}
