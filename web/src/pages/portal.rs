//! Client-facing pages on a firm's host: the Portal login page and the firm's branding
//! (stylesheet with its accent colour, logo), plus the demo-only mail viewer.

use poem::http::StatusCode;
use poem::web::Data;
use poem::{Response, handler};
use portico_platform::config::MailTransportKind;
use portico_tenants::TenantRecord;

use crate::firm_options;
use crate::middleware::RequestHost;
use crate::state::AppState;

/// `/branding.css`: the firm's accent colour as a CSS variable. A stylesheet rather than an
/// inline style keeps the Content-Security-Policy strict (`style-src 'self'`).
#[handler]
pub async fn branding_css(state: Data<&AppState>, host: Data<&RequestHost>) -> Response {
    let tenant = match firm_only(&state, &host) {
        Ok(tenant) => tenant,
        Err(response) => return response,
    };
    let options = firm_options::options_or_defaults(&state, &tenant).await;
    // Validated as `#rrggbb` when saved, so it cannot break out of the declaration.
    let css = format!(":root {{ --accent: {}; }}\n", options.accent_color);
    Response::builder()
        .content_type("text/css; charset=utf-8")
        .header("cache-control", "no-cache")
        .body(css)
}

/// `/branding/logo`: the firm's logo, as uploaded (type recognised from its content).
#[handler]
pub async fn logo(state: Data<&AppState>, host: Data<&RequestHost>) -> Response {
    let tenant = match firm_only(&state, &host) {
        Ok(tenant) => tenant,
        Err(response) => return response,
    };
    let logo = async {
        let tx = state.db.tenant(tenant.id).read().await?;
        let logo = portico_tenants::options::logo(&tx).await?;
        tx.commit().await?;
        Ok::<_, sea_orm::DbErr>(logo)
    }
    .await;
    match logo {
        Ok(Some((content_type, bytes))) => Response::builder()
            .content_type(content_type)
            .header("cache-control", "no-cache")
            .body(bytes),
        Ok(None) => state
            .templates
            .error_page(StatusCode::NOT_FOUND, "This firm has no logo."),
        Err(err) => state.templates.server_error("loading logo failed", err),
    }
}

fn firm_only(state: &AppState, host: &RequestHost) -> Result<TenantRecord, Response> {
    match host {
        RequestHost::Firm(tenant) => Ok(tenant.clone()),
        RequestHost::Operator => Err(state
            .templates
            .error_page(StatusCode::NOT_FOUND, "There is nothing at this address.")),
    }
}

/// `portico demo` only: the emails the file transport wrote, newest first, so the demo can be
/// followed without a mail server. Every firm's mail lands in one directory, so the page shows
/// only messages addressed with this firm's Portal URL in them.
#[handler]
pub async fn dev_mail(state: Data<&AppState>, host: Data<&RequestHost>) -> Response {
    let tenant = match firm_only(&state, &host) {
        Ok(tenant) => tenant,
        Err(response) => return response,
    };
    if !state.demo || state.settings.mail.transport != MailTransportKind::File {
        return state
            .templates
            .error_page(StatusCode::NOT_FOUND, "There is nothing at this address.");
    }
    let dir = state.settings.mail.file_dir.clone();
    let portal_url = tenant.portal_url.clone();
    let messages = tokio::task::spawn_blocking(move || read_mail_dir(&dir, &portal_url))
        .await
        .unwrap_or_default();
    state.templates.page(
        "dev_mail.html",
        StatusCode::OK,
        minijinja::context! {
            firm_name => tenant.name,
            dir => state.settings.mail.file_dir.display().to_string(),
            messages => messages,
        },
    )
}

fn read_mail_dir(dir: &std::path::Path, portal_url: &str) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<_> = entries
        .filter_map(Result::ok)
        .filter(|e| e.path().extension().is_some_and(|ext| ext == "eml"))
        .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
        .collect();
    files.sort_by_key(|(modified, _)| std::cmp::Reverse(*modified));
    files
        .into_iter()
        .filter_map(|(_, path)| std::fs::read(path).ok())
        // Bodies are quoted-printable (long link lines); decoded, the links can be clicked.
        .filter_map(|raw| {
            let decoded =
                quoted_printable::decode(&raw, quoted_printable::ParseMode::Robust).ok()?;
            String::from_utf8(decoded).ok()
        })
        .filter(|text| text.contains(portal_url))
        .take(50)
        .collect()
}
