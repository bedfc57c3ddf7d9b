//! Firm-host pages: the client login page, the firm workspace entry, the demo mail viewer.

use poem::http::StatusCode;
use poem::web::Data;
use poem::{Response, handler};
use portico_platform::config::MailTransportKind;
use portico_tenants::TenantRecord;

use crate::middleware::RequestHost;
use crate::state::AppState;

pub fn client_login_page(state: &AppState, tenant: &TenantRecord) -> Response {
    state.templates.page(
        "client_login.html",
        StatusCode::OK,
        minijinja::context! { firm_name => tenant.name },
    )
}

fn firm_only(state: &AppState, host: &RequestHost) -> Result<TenantRecord, Response> {
    match host {
        RequestHost::Firm(tenant) => Ok(tenant.clone()),
        RequestHost::Operator => Err(state
            .templates
            .error_page(StatusCode::NOT_FOUND, "There is nothing at this address.")),
    }
}

#[handler]
pub fn firm_home(state: Data<&AppState>, host: Data<&RequestHost>) -> Response {
    let tenant = match firm_only(&state, &host) {
        Ok(tenant) => tenant,
        Err(response) => return response,
    };
    state.templates.page(
        "firm_home.html",
        StatusCode::OK,
        minijinja::context! { firm_name => tenant.name, portal_url => tenant.portal_url },
    )
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
