//! The operator console on the base domain: sign in with the operator token (exchanged for a
//! server-side session in a host-only cookie; an address with too many wrong tokens is refused
//! for a while, see [`crate::operator_throttle`]), list firms, onboard, suspend, reactivate,
//! delete.
//! Every form is CSRF-protected: session-bound token plus a same-origin check.

use poem::http::header::RETRY_AFTER;
use poem::http::{HeaderValue, StatusCode};
use poem::web::cookie::{Cookie, CookieJar, SameSite};
use poem::web::{Data, Form, Path, Redirect};
use poem::{IntoResponse, Request, Response, handler};
use portico_platform::token::constant_time_eq;
use portico_tenants::audit::Actor;
use portico_tenants::operator::{self, OperatorSession};
use portico_tenants::{NewTenant, RegistryError};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};

use crate::auth::client_ip;
use crate::middleware::{RequestHost, is_same_origin_request};
use crate::operator_throttle::{self, Refused};
use crate::state::AppState;

fn cookie_name(state: &AppState) -> &'static str {
    if state.settings.is_https() {
        "__Host-portico_operator"
    } else {
        "portico_operator"
    }
}

async fn current_session(state: &AppState, jar: &CookieJar) -> Option<(String, OperatorSession)> {
    let value = jar.get(cookie_name(state))?.value_str().to_owned();
    match operator::find(&state.db, &value).await {
        Ok(Some(session)) => Some((value, session)),
        Ok(None) => None,
        Err(err) => {
            tracing::error!(error = %err, "operator session lookup failed");
            None
        }
    }
}

fn not_found(state: &AppState) -> Response {
    state
        .templates
        .error_page(StatusCode::NOT_FOUND, "There is nothing at this address.")
}

#[derive(Default, Serialize, Deserialize)]
pub struct CreateTenantForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    slug: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    admin_email: String,
    #[serde(default)]
    admin_name: String,
}

/// Renders the console, or the sign-in page without a session.
pub async fn console(req: &Request, state: &AppState, outcome: Option<ConsoleOutcome>) -> Response {
    let jar = req.cookie();
    let Some((_, session)) = current_session(state, jar).await else {
        return login_page(state, None, StatusCode::OK);
    };
    let tenants = match state.registry.list().await {
        Ok(tenants) => tenants,
        Err(err) => {
            return state.templates.server_error("listing firms failed", err);
        }
    };
    let created = req
        .uri()
        .query()
        .and_then(|q| q.strip_prefix("created="))
        .and_then(|slug| tenants.iter().find(|t| t.slug == slug))
        .map(|t| {
            format!(
                "{} is onboarded at {}; its administrator has been emailed a setup link.",
                t.name, t.portal_url
            )
        });
    let outcome = outcome.unwrap_or_default();
    state.templates.page(
        "operator_console.html",
        outcome.status,
        minijinja::context! {
            csrf => session.csrf_token,
            tenants => tenants,
            base_domain => state.settings.server.base_domain,
            message => outcome.message.or(created),
            error => outcome.error,
            form => outcome.form.unwrap_or_default(),
        },
    )
}

pub struct ConsoleOutcome {
    status: StatusCode,
    message: Option<String>,
    error: Option<String>,
    form: Option<CreateTenantForm>,
}

impl Default for ConsoleOutcome {
    fn default() -> Self {
        Self {
            status: StatusCode::OK,
            message: None,
            error: None,
            form: None,
        }
    }
}

fn login_page(state: &AppState, error: Option<&str>, status: StatusCode) -> Response {
    let disabled = state
        .settings
        .platform
        .operator_token
        .expose_secret()
        .is_empty();
    state.templates.page(
        "operator_login.html",
        status,
        minijinja::context! { disabled => disabled, error => error },
    )
}

#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    token: String,
}

/// `POST /login` on the base domain.
pub async fn login_with(
    req: &Request,
    state: &AppState,
    jar: &CookieJar,
    form: LoginForm,
) -> Response {
    if !is_same_origin_request(req, &state.settings.operator_url()) {
        return state
            .templates
            .error_page(StatusCode::FORBIDDEN, "Cross-site requests are refused.");
    }
    let verified = state.operator_throttle.verify(
        client_ip(req, state).as_deref(),
        &form.token,
        state.settings.platform.operator_token.expose_secret(),
    );
    match verified {
        Ok(()) => {}
        Err(Refused::Wrong) => {
            tracing::warn!("operator sign-in refused");
            return login_page(
                state,
                Some("That token is not valid."),
                StatusCode::UNAUTHORIZED,
            );
        }
        Err(Refused::LockedOut(wait)) => {
            tracing::warn!("operator sign-in refused: too many failures from this address");
            let message = format!(
                "Too many wrong tokens from your address. Try again in {} minutes.",
                operator_throttle::minutes(wait)
            );
            let mut page = login_page(state, Some(&message), StatusCode::TOO_MANY_REQUESTS);
            page.headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from(wait.as_secs().max(1)));
            return page;
        }
    }
    match operator::start(&state.db).await {
        Ok(raw) => {
            let mut cookie = Cookie::new_with_str(cookie_name(state), raw.reveal());
            cookie.set_http_only(true);
            cookie.set_same_site(SameSite::Strict);
            cookie.set_path("/");
            cookie.set_secure(state.settings.is_https());
            jar.add(cookie);
            Redirect::see_other("/").into_response()
        }
        Err(err) => state
            .templates
            .server_error("operator session could not start", err),
    }
}

/// Checks host, session and CSRF for a console form; returns the session or the refusal.
async fn authorize_form(
    req: &Request,
    state: &AppState,
    host: &RequestHost,
    csrf: &str,
) -> Result<(String, OperatorSession), Response> {
    if !matches!(host, RequestHost::Operator) {
        return Err(not_found(state));
    }
    let Some((cookie, session)) = current_session(state, req.cookie()).await else {
        return Err(login_page(
            state,
            Some("Please sign in again."),
            StatusCode::UNAUTHORIZED,
        ));
    };
    if !is_same_origin_request(req, &state.settings.operator_url())
        || !constant_time_eq(csrf, &session.csrf_token)
    {
        return Err(state.templates.error_page(
            StatusCode::FORBIDDEN,
            "This form has expired or came from another site. Reload the page and try again.",
        ));
    }
    Ok((cookie, session))
}

#[derive(Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

/// `POST /logout` on the base domain.
pub async fn logout_with(req: &Request, state: &AppState, form: CsrfForm) -> Response {
    match authorize_form(req, state, &RequestHost::Operator, &form.csrf).await {
        Ok((cookie, _)) => {
            if let Err(err) = operator::end(&state.db, &cookie).await {
                tracing::error!(error = %err, "operator sign-out failed");
            }
            req.cookie().remove(cookie_name(state));
            Redirect::see_other("/").into_response()
        }
        Err(response) => response,
    }
}

#[handler]
pub async fn create_tenant(
    req: &Request,
    state: Data<&AppState>,
    host: Data<&RequestHost>,
    Form(form): Form<CreateTenantForm>,
) -> Response {
    if let Err(response) = authorize_form(req, &state, &host, &form.csrf).await {
        return response;
    }
    let new = NewTenant {
        slug: form.slug.clone(),
        name: form.name.clone(),
        admin_email: form.admin_email.clone(),
        admin_name: form.admin_name.clone(),
    };
    match state.registry.create(new, Actor::Operator).await {
        Ok(onboarded) => {
            Redirect::see_other(format!("/?created={}", onboarded.tenant.slug)).into_response()
        }
        Err(err) => {
            let status = registry_error_status(&err);
            let error = registry_error_message(err);
            console(
                req,
                &state,
                Some(ConsoleOutcome {
                    status,
                    error: Some(error),
                    form: Some(form),
                    ..Default::default()
                }),
            )
            .await
        }
    }
}

#[derive(Deserialize)]
pub struct DeleteForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    confirm: String,
}

#[handler]
pub async fn suspend_tenant(
    req: &Request,
    state: Data<&AppState>,
    host: Data<&RequestHost>,
    Path(slug): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Response {
    if let Err(response) = authorize_form(req, &state, &host, &form.csrf).await {
        return response;
    }
    let result = state.registry.suspend(&slug, Actor::Operator).await;
    after_action(
        req,
        &state,
        result.map(|t| format!("{} is suspended.", t.name)),
    )
    .await
}

#[handler]
pub async fn reactivate_tenant(
    req: &Request,
    state: Data<&AppState>,
    host: Data<&RequestHost>,
    Path(slug): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Response {
    if let Err(response) = authorize_form(req, &state, &host, &form.csrf).await {
        return response;
    }
    let result = state.registry.reactivate(&slug, Actor::Operator).await;
    after_action(
        req,
        &state,
        result.map(|t| format!("{} is active again.", t.name)),
    )
    .await
}

#[handler]
pub async fn delete_tenant(
    req: &Request,
    state: Data<&AppState>,
    host: Data<&RequestHost>,
    Path(slug): Path<String>,
    Form(form): Form<DeleteForm>,
) -> Response {
    if let Err(response) = authorize_form(req, &state, &host, &form.csrf).await {
        return response;
    }
    let result = state
        .registry
        .delete(
            &slug,
            form.confirm.trim(),
            portico_migrations::TENANT_TABLES,
        )
        .await;
    after_action(
        req,
        &state,
        result.map(|()| format!("Firm {slug} and all its data were deleted.")),
    )
    .await
}

async fn after_action(
    req: &Request,
    state: &AppState,
    result: Result<String, RegistryError>,
) -> Response {
    let outcome = match result {
        Ok(message) => ConsoleOutcome {
            message: Some(message),
            ..Default::default()
        },
        Err(err) => ConsoleOutcome {
            status: registry_error_status(&err),
            error: Some(registry_error_message(err)),
            ..Default::default()
        },
    };
    console(req, state, Some(outcome)).await
}

fn registry_error_status(err: &RegistryError) -> StatusCode {
    match err {
        RegistryError::InvalidSlug(_)
        | RegistryError::Invalid(_)
        | RegistryError::ConfirmationMismatch(_) => StatusCode::UNPROCESSABLE_ENTITY,
        RegistryError::SlugTaken(_) => StatusCode::CONFLICT,
        RegistryError::NotFound(_) => StatusCode::NOT_FOUND,
        RegistryError::Db(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

fn registry_error_message(err: RegistryError) -> String {
    match err {
        RegistryError::Db(err) => {
            tracing::error!(error = %err, "registry operation failed");
            "Something went wrong on our side.".to_owned()
        }
        other => other.to_string(),
    }
}
