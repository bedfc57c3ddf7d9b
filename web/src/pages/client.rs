//! The Client Portal pages on a firm's host: sign-in, Need Help, invitation acceptance,
//! password reset, login-email confirmation, the client's home and file pages.

use poem::http::StatusCode;
use poem::web::cookie::CookieJar;
use poem::web::{Data, Form, Path, Redirect};
use poem::{IntoResponse, Request, Response, handler};
use portico_platform::ids::FileId;
use portico_tenants::TenantRecord;
use portico_tenants::options::FirmOptions;
use portico_tenants::{items, portal_access};
use secrecy::SecretString;
use serde::Deserialize;

use super::firm::{forbidden_cross_site, not_found, portal_chrome_of};
use crate::auth::{
    LoginError, client_ip, firm_of, protect_token_page, session_cookie, session_cookie_name,
    sign_in,
};
use crate::client_auth::{ClientCtx, Clients, authenticate_client, check_client_csrf};
use crate::firm_accounts::PasswordLinkError;
use crate::middleware::is_same_origin_request;
use crate::portal_accounts;
use crate::state::AppState;

fn internal_error(state: &AppState, cause: impl std::fmt::Display) -> Response {
    state.templates.server_error("client page failed", cause)
}

/// Renders a Portal page with the layout's context merged in.
async fn render(
    state: &AppState,
    tenant: &TenantRecord,
    ctx: Option<&ClientCtx>,
    template: &str,
    status: StatusCode,
    extra: minijinja::Value,
) -> Response {
    let options = crate::firm_options::options_or_defaults(state, tenant).await;
    render_with(state, tenant, &options, ctx, template, status, extra)
}

/// [`render`] for a page that has the firm's options in hand already (the sign-in page and the
/// client's home read them for themselves): one cache lookup per request, not two.
fn render_with(
    state: &AppState,
    tenant: &TenantRecord,
    options: &FirmOptions,
    ctx: Option<&ClientCtx>,
    template: &str,
    status: StatusCode,
    extra: minijinja::Value,
) -> Response {
    PortalLayout {
        tenant,
        options,
        ctx,
        section: "home",
    }
    .render(state, template, status, extra)
}

/// What every Client Portal page's layout shows: the firm's display name and logo (Options >
/// Client Portal), the signed-in client and their form token, and which section is open. The
/// home and file pages here and the billing pages (`pages/billing.rs`) render through it.
pub(super) struct PortalLayout<'a> {
    pub tenant: &'a TenantRecord,
    pub options: &'a FirmOptions,
    pub ctx: Option<&'a ClientCtx>,
    /// The navigation entry shown as current: `home` or `billing`.
    pub section: &'static str,
}

impl PortalLayout<'_> {
    /// `template` rendered with `extra` and the layout's context merged in.
    pub fn render(
        self,
        state: &AppState,
        template: &str,
        status: StatusCode,
        extra: minijinja::Value,
    ) -> Response {
        let PortalLayout {
            tenant,
            options,
            ctx,
            section,
        } = self;
        let base = minijinja::context! {
            firm => portal_chrome_of(tenant, options),
            me => ctx.map(|c| c.client.clone()),
            csrf => ctx.map(|c| c.session.csrf_token.clone()),
            section => section,
            branded => true,
            portal_url => tenant.portal_url,
        };
        state
            .templates
            .page(template, status, minijinja::context! { ..extra, ..base })
    }
}

async fn login_page(
    state: &AppState,
    tenant: &TenantRecord,
    status: StatusCode,
    email: &str,
    notice: Option<&str>,
    error: Option<&str>,
) -> Response {
    let options = crate::firm_options::options_or_defaults(state, tenant).await;
    let closed = !options.portal_enabled;
    render_with(
        state,
        tenant,
        &options,
        None,
        "client_login.html",
        status,
        minijinja::context! { email, notice, error, closed },
    )
}

/// `/` on a firm's host: the client's home when signed in, else the sign-in page.
pub async fn home_or_login(req: &Request, state: &AppState, tenant: &TenantRecord) -> Response {
    let Ok(ctx) = authenticate_client(req, state).await else {
        let notice = req.uri().query().and_then(|q| match q {
            "done=reset" => Some("Your password has been changed. Sign in with the new one."),
            "signed_out=1" => Some("You have signed out."),
            _ => None,
        });
        return login_page(state, tenant, StatusCode::OK, "", notice, None).await;
    };
    let files = match crate::client_reads::shared_files(state, &ctx).await {
        Ok(files) => files.to_vec(),
        Err(err) => return internal_error(state, err),
    };
    let options = crate::firm_options::options_or_defaults(state, tenant).await;
    let billing = super::billing::home_tile(state, &ctx).await;
    render_with(
        state,
        tenant,
        &options,
        Some(&ctx),
        "client_home.html",
        StatusCode::OK,
        minijinja::context! {
            files => files,
            welcome => options.welcome_message,
            billing => billing,
        },
    )
}

#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
}

pub async fn login(
    req: &Request,
    state: &AppState,
    tenant: &TenantRecord,
    jar: &CookieJar,
    form: LoginForm,
) -> Response {
    if !is_same_origin_request(req, &tenant.portal_url) {
        return forbidden_cross_site(state);
    }
    let options = match crate::firm_options::options(state, tenant).await {
        Ok(options) => options,
        Err(err) => return internal_error(state, format!("loading firm options failed: {err}")),
    };
    if !options.portal_enabled {
        return login_page(
            state,
            tenant,
            StatusCode::FORBIDDEN,
            &form.email,
            None,
            None,
        )
        .await;
    }
    let password = SecretString::from(form.password);
    match sign_in::<Clients>(state, tenant, &form.email, &password, client_ip(req, state)).await {
        Ok((_, session)) => {
            jar.add(session_cookie(state, session.token.reveal()));
            Redirect::see_other("/").into_response()
        }
        Err(LoginError::Invalid) => {
            login_page(
                state,
                tenant,
                StatusCode::UNAUTHORIZED,
                &form.email,
                None,
                Some("The email or password is not correct."),
            )
            .await
        }
        Err(LoginError::Locked(wait)) => {
            let minutes = wait.as_secs().div_ceil(60).max(1);
            let message = format!(
                "Too many attempts. Try again in {minutes} minute{}, or use Need help to reset your password.",
                if minutes == 1 { "" } else { "s" }
            );
            let mut response = login_page(
                state,
                tenant,
                StatusCode::TOO_MANY_REQUESTS,
                &form.email,
                None,
                Some(&message),
            )
            .await;
            if let Ok(value) = wait.as_secs().max(1).to_string().parse() {
                response
                    .headers_mut()
                    .insert(poem::http::header::RETRY_AFTER, value);
            }
            response
        }
        Err(LoginError::Internal(cause)) => internal_error(state, cause),
    }
}

#[derive(Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

pub async fn logout(req: &Request, state: &AppState, jar: &CookieJar, form: CsrfForm) -> Response {
    let Ok(ctx) = authenticate_client(req, state).await else {
        jar.remove(session_cookie_name(state));
        return Redirect::see_other("/").into_response();
    };
    if check_client_csrf(req, &ctx, Some(&form.csrf)).is_err() {
        return forbidden_cross_site(state);
    }
    let ended = async {
        let tx = ctx.db.write().await?;
        portico_tenants::sessions::end(&tx, ctx.session.id).await?;
        tx.commit().await
    }
    .await;
    if let Err(err) = ended {
        return internal_error(state, err);
    }
    jar.remove(session_cookie_name(state));
    Redirect::see_other("/?signed_out=1").into_response()
}

#[handler]
pub async fn help_form(req: &Request, state: Data<&AppState>) -> Response {
    let Some(tenant) = firm_of(req) else {
        return not_found(&state);
    };
    render(
        &state,
        &tenant,
        None,
        "client_help.html",
        StatusCode::OK,
        minijinja::context! { sent => false },
    )
    .await
}

#[derive(Deserialize)]
pub struct HelpForm {
    #[serde(default)]
    email: String,
}

/// The same page whether or not the email is a login (the lookup happens in the background).
#[handler]
pub async fn help(req: &Request, state: Data<&AppState>, Form(form): Form<HelpForm>) -> Response {
    let Some(tenant) = firm_of(req) else {
        return not_found(&state);
    };
    if !is_same_origin_request(req, &tenant.portal_url) {
        return forbidden_cross_site(&state);
    }
    portal_accounts::request_reset_in_background(&state, &tenant, form.email.clone());
    render(
        &state,
        &tenant,
        None,
        "client_help.html",
        StatusCode::OK,
        minijinja::context! {
            sent => true,
            email => form.email.trim(),
            minutes => state.settings.auth.password_reset_valid_secs / 60,
        },
    )
    .await
}

#[derive(Deserialize)]
pub struct PasswordForm {
    #[serde(default)]
    password: String,
    #[serde(default)]
    password_confirm: String,
    #[serde(default)]
    accept_terms: Option<String>,
}

async fn invitation_page(
    req: &Request,
    state: &AppState,
    token: &str,
    error: Option<&str>,
    status: StatusCode,
) -> Response {
    let Some(tenant) = firm_of(req) else {
        return not_found(state);
    };
    let firm = match portal_accounts::firm_context(state, &tenant).await {
        Ok(firm) => firm,
        Err(err) => return internal_error(state, err),
    };
    let mut response = match portal_accounts::invitation(state, &tenant, token).await {
        Ok(holder) => {
            render(state, &tenant, None, "client_password.html", status, minijinja::context! {
                invitation => true,
                eyebrow => "Invitation",
                heading => format!("Welcome to the {} Client Portal", firm.firm_name),
                button => "Create account",
                holder => holder,
                terms => firm.options.terms_of_service,
                error => error,
            })
            .await
        }
        Err(PasswordLinkError::Unusable) => {
            render(state, &tenant, None, "client_password.html", StatusCode::GONE, minijinja::context! {
                invitation => true, unusable => true, eyebrow => "Invitation", heading => "This invitation cannot be used",
            })
            .await
        }
        Err(err) => internal_error(state, err),
    };
    protect_token_page(&mut response);
    response
}

#[handler]
pub async fn invitation_form(
    req: &Request,
    state: Data<&AppState>,
    Path(token): Path<String>,
) -> Response {
    invitation_page(req, &state, &token, None, StatusCode::OK).await
}

#[handler]
pub async fn accept_invitation(
    req: &Request,
    state: Data<&AppState>,
    Path(token): Path<String>,
    Form(form): Form<PasswordForm>,
) -> Response {
    let Some(tenant) = firm_of(req) else {
        return not_found(&state);
    };
    if !is_same_origin_request(req, &tenant.portal_url) {
        return forbidden_cross_site(&state);
    }
    if form.password != form.password_confirm {
        return invitation_page(
            req,
            &state,
            &token,
            Some("The two passwords do not match."),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    }
    let password = SecretString::from(form.password);
    match portal_accounts::accept_invitation(
        &state,
        &tenant,
        &token,
        form.accept_terms.is_some(),
        &password,
    )
    .await
    {
        Ok(client) => {
            let mut response = render(&state, &tenant, None, "client_password.html", StatusCode::OK, minijinja::context! {
                created => true, eyebrow => "Invitation", heading => "Account Created", login_email => client.login_email,
            })
            .await;
            protect_token_page(&mut response);
            response
        }
        Err(PasswordLinkError::Rejected(reason)) => {
            invitation_page(
                req,
                &state,
                &token,
                Some(&reason),
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
        Err(PasswordLinkError::Unusable) => {
            invitation_page(req, &state, &token, None, StatusCode::GONE).await
        }
        Err(PasswordLinkError::Internal(cause)) => internal_error(&state, cause),
    }
}

async fn reset_page(
    req: &Request,
    state: &AppState,
    token: &str,
    error: Option<&str>,
    status: StatusCode,
) -> Response {
    let Some(tenant) = firm_of(req) else {
        return not_found(state);
    };
    let mut response = match portal_accounts::reset_holder(state, &tenant, token).await {
        Ok(client) => {
            render(state, &tenant, None, "client_password.html", status, minijinja::context! {
                eyebrow => "Password reset", heading => "Choose a new password", button => "Change password",
                holder => minijinja::context! { name => client.name, login_email => client.login_email },
                error => error,
            })
            .await
        }
        Err(PasswordLinkError::Unusable) => {
            render(state, &tenant, None, "client_password.html", StatusCode::GONE, minijinja::context! {
                unusable => true, eyebrow => "Password reset", heading => "This link cannot be used",
            })
            .await
        }
        Err(err) => internal_error(state, err),
    };
    protect_token_page(&mut response);
    response
}

#[handler]
pub async fn reset_form(
    req: &Request,
    state: Data<&AppState>,
    Path(token): Path<String>,
) -> Response {
    reset_page(req, &state, &token, None, StatusCode::OK).await
}

#[handler]
pub async fn reset(
    req: &Request,
    state: Data<&AppState>,
    Path(token): Path<String>,
    Form(form): Form<PasswordForm>,
) -> Response {
    let Some(tenant) = firm_of(req) else {
        return not_found(&state);
    };
    if !is_same_origin_request(req, &tenant.portal_url) {
        return forbidden_cross_site(&state);
    }
    if form.password != form.password_confirm {
        return reset_page(
            req,
            &state,
            &token,
            Some("The two passwords do not match."),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    }
    let password = SecretString::from(form.password);
    match portal_accounts::complete_reset(&state, &tenant, &token, &password).await {
        Ok(_) => {
            let mut response = Redirect::see_other("/?done=reset").into_response();
            protect_token_page(&mut response);
            response
        }
        Err(PasswordLinkError::Rejected(reason)) => {
            reset_page(
                req,
                &state,
                &token,
                Some(&reason),
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
        Err(PasswordLinkError::Unusable) => {
            reset_page(req, &state, &token, None, StatusCode::GONE).await
        }
        Err(PasswordLinkError::Internal(cause)) => internal_error(&state, cause),
    }
}

/// The confirmation page; confirming is a POST so that mail scanners opening the link do not
/// change anything.
#[handler]
pub async fn verify_email_form(
    req: &Request,
    state: Data<&AppState>,
    Path(token): Path<String>,
) -> Response {
    let Some(tenant) = firm_of(req) else {
        return not_found(&state);
    };
    let mut response = render(
        &state,
        &tenant,
        None,
        "client_verify.html",
        StatusCode::OK,
        minijinja::context! {},
    )
    .await;
    let _ = token;
    protect_token_page(&mut response);
    response
}

#[handler]
pub async fn verify_email(
    req: &Request,
    state: Data<&AppState>,
    Path(token): Path<String>,
) -> Response {
    let Some(tenant) = firm_of(req) else {
        return not_found(&state);
    };
    if !is_same_origin_request(req, &tenant.portal_url) {
        return forbidden_cross_site(&state);
    }
    let mut response = match portal_accounts::verify_login_email(&state, &tenant, &token).await {
        Ok(client) => {
            render(
                &state,
                &tenant,
                None,
                "client_verify.html",
                StatusCode::OK,
                minijinja::context! { done => true, login_email => client.login_email },
            )
            .await
        }
        Err(PasswordLinkError::Unusable) => {
            render(
                &state,
                &tenant,
                None,
                "client_verify.html",
                StatusCode::GONE,
                minijinja::context! { unusable => true },
            )
            .await
        }
        Err(err) => internal_error(&state, err),
    };
    protect_token_page(&mut response);
    response
}

#[derive(Deserialize, Default)]
pub struct FileQuery {
    #[serde(default)]
    tab: String,
    #[serde(default)]
    done: String,
}

/// A file shared with the client, with its tabs (Documents, Notes, Appointments, Tasks, More);
/// anything else is the same 404 as a missing file.
#[handler]
pub async fn file(
    req: &Request,
    state: Data<&AppState>,
    Path(id): Path<String>,
    poem::web::Query(query): poem::web::Query<FileQuery>,
) -> Response {
    let Some(tenant) = firm_of(req) else {
        return not_found(&state);
    };
    let ctx = match authenticate_client(req, &state).await {
        Ok(ctx) => ctx,
        Err(_) => return Redirect::see_other("/").into_response(),
    };
    let Ok(id) = id.parse::<FileId>() else {
        return not_found(&state);
    };
    file_page(
        &state,
        &tenant,
        &ctx,
        id,
        &query.tab,
        notice_for(&query.done),
        None,
        StatusCode::OK,
    )
    .await
}

fn notice_for(done: &str) -> Option<&'static str> {
    match done {
        "note" => Some("Your note was added; the firm can see it now."),
        "document" => Some("Your document was uploaded; the firm can see it now."),
        "fields" => Some("Your changes were saved; the firm can see them now."),
        _ => None,
    }
}

#[allow(clippy::too_many_arguments)]
async fn file_page(
    state: &AppState,
    tenant: &TenantRecord,
    ctx: &ClientCtx,
    id: FileId,
    tab: &str,
    notice: Option<&str>,
    error: Option<&str>,
    status: StatusCode,
) -> Response {
    let rules = match crate::api::items::sharing_rules(state, tenant).await {
        Ok(rules) => rules,
        Err(err) => return internal_error(state, err),
    };
    let loaded = async {
        let tx = ctx.db.read().await?;
        let Some(shared_file) = portal_access::file_for_client(&tx, &ctx.client, id).await? else {
            tx.commit().await?;
            return Ok(None);
        };
        let notes = items::client_notes(&tx, &ctx.client, id, &rules)
            .await
            .map_err(item_db)?;
        let appointments = items::client_appointments(&tx, &ctx.client, id, &rules)
            .await
            .map_err(item_db)?;
        let tasks = items::client_tasks(&tx, &ctx.client, id, &rules)
            .await
            .map_err(item_db)?;
        tx.commit().await?;
        Ok::<_, sea_orm::DbErr>(Some((shared_file, notes, appointments, tasks)))
    }
    .await;
    let (shared_file, notes, appointments, tasks) = match loaded {
        Ok(Some(loaded)) => loaded,
        Ok(None) => return not_found(state),
        Err(err) => return internal_error(state, err),
    };
    let mut tabs = Vec::new();
    for (id, label, kind) in [
        ("documents", "Documents", "documents"),
        ("notes", "Notes", "notes"),
        ("appointments", "Appointments", "appointments"),
        ("tasks", "Tasks", "tasks"),
        ("more", "More", "custom_fields"),
    ] {
        if rules.shareable_kinds.iter().any(|k| k == kind) {
            tabs.push(minijinja::context! { id => id, label => label });
        }
    }
    tabs.push(minijinja::context! { id => "billing", label => "Billing" });
    let tab = if tabs.iter().any(|t| {
        t.get_attr("id")
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .as_deref()
            == Some(tab)
    }) {
        tab.to_owned()
    } else {
        tabs.first()
            .and_then(|t| t.get_attr("id").ok())
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default()
    };
    let documents = if tab == "documents" {
        super::firm::documents::client_file_section(state, ctx, id).await
    } else {
        minijinja::Value::UNDEFINED
    };
    let custom_fields = if tab == "more" {
        super::firm::custom_fields::client_file_section(state, ctx, id).await
    } else {
        minijinja::Value::UNDEFINED
    };
    let billing = if tab == "billing" {
        super::billing::client_file_section(state, ctx, id).await
    } else {
        minijinja::Value::UNDEFINED
    };
    render(
        state,
        tenant,
        Some(ctx),
        "client_file.html",
        status,
        minijinja::context! {
            file => shared_file,
            tab => tab,
            tabs => tabs,
            notes => notes,
            appointments => appointments,
            tasks => tasks,
            can_add_notes => rules.allows(items::ItemKind::Note),
            documents => documents,
            custom_fields => custom_fields,
            billing => billing,
            notice => notice,
            error => error,
        },
    )
    .await
}

fn item_db(err: items::ItemError) -> sea_orm::DbErr {
    match err {
        items::ItemError::Db(db) => db,
        other => sea_orm::DbErr::Custom(other.to_string()),
    }
}

#[derive(Deserialize)]
pub struct NoteForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    body: String,
}

/// A client adds a note from the file page.
#[handler]
pub async fn add_note(
    req: &Request,
    state: Data<&AppState>,
    Path(id): Path<String>,
    Form(form): Form<NoteForm>,
) -> Response {
    let Some(tenant) = firm_of(req) else {
        return not_found(&state);
    };
    let ctx = match authenticate_client(req, &state).await {
        Ok(ctx) => ctx,
        Err(_) => return Redirect::see_other("/").into_response(),
    };
    if check_client_csrf(req, &ctx, Some(&form.csrf)).is_err() {
        return forbidden_cross_site(&state);
    }
    let Ok(id) = id.parse::<FileId>() else {
        return not_found(&state);
    };
    let rules = match crate::api::items::sharing_rules(&state, &tenant).await {
        Ok(rules) => rules,
        Err(err) => return internal_error(&state, err),
    };
    let result = async {
        let tx = ctx.db.write().await.map_err(items::ItemError::Db)?;
        items::client_add_note(&tx, &ctx.client, id, &form.body, &rules).await?;
        crate::notify::client_added(&state, &tx, &tenant, id, &ctx.client, "a note").await?;
        tx.commit().await.map_err(items::ItemError::Db)
    }
    .await;
    match result {
        Ok(()) => Redirect::see_other(format!("/files/{id}?tab=notes&done=note")).into_response(),
        Err(items::ItemError::NotFound) => not_found(&state),
        Err(items::ItemError::Invalid(m) | items::ItemError::Forbidden(m)) => {
            let status = StatusCode::UNPROCESSABLE_ENTITY;
            file_page(&state, &tenant, &ctx, id, "notes", None, Some(&m), status).await
        }
        Err(items::ItemError::Db(err)) => internal_error(&state, err),
    }
}
