//! Member sign-in, sign-out, "Need help" password reset and account setup pages.

use poem::http::StatusCode;
use poem::web::cookie::CookieJar;
use poem::web::{Data, Form, Path, Query, Redirect};
use poem::{IntoResponse, Request, Response, handler};
use portico_tenants::TenantRecord;
use portico_tenants::tokens::TokenPurpose;
use secrecy::SecretString;
use serde::Deserialize;

use super::{chrome, forbidden_cross_site, not_found, require_member_form, safe_next};
use crate::auth::{
    LoginError, authenticate_member, client_ip, firm_of, protect_token_page, session_cookie,
    session_cookie_name, sign_in_member,
};
use crate::firm_accounts::{self, PasswordLinkError};
use crate::middleware::is_same_origin_request;
use crate::state::AppState;

#[derive(Deserialize, Default)]
pub struct LoginQuery {
    #[serde(default)]
    next: String,
    #[serde(default)]
    done: String,
}

#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    next: String,
}

async fn login_page(
    state: &AppState,
    tenant: &TenantRecord,
    status: StatusCode,
    email: &str,
    next: &str,
    notice: Option<&str>,
    error: Option<&str>,
) -> Response {
    state.templates.page(
        "firm_login.html",
        status,
        minijinja::context! {
            firm => chrome(state, tenant).await,
            branded => true,
            email => email,
            next => safe_next(next),
            notice => notice,
            error => error,
        },
    )
}

#[handler]
pub async fn login_form(
    req: &Request,
    state: Data<&AppState>,
    Query(query): Query<LoginQuery>,
) -> Response {
    let Some(tenant) = firm_of(req) else {
        return not_found(&state);
    };
    if authenticate_member(req, &state).await.is_ok() {
        return Redirect::see_other(safe_next(&query.next)).into_response();
    }
    let notice = match query.done.as_str() {
        "setup" => Some("Your password is set. Sign in to continue."),
        "reset" => Some("Your password has been changed. Sign in with the new one."),
        _ => None,
    };
    login_page(
        &state,
        &tenant,
        StatusCode::OK,
        "",
        &query.next,
        notice,
        None,
    )
    .await
}

#[handler]
pub async fn login(
    req: &Request,
    state: Data<&AppState>,
    jar: &CookieJar,
    Form(form): Form<LoginForm>,
) -> Response {
    let Some(tenant) = firm_of(req) else {
        return not_found(&state);
    };
    if !is_same_origin_request(req, &tenant.portal_url) {
        return forbidden_cross_site(&state);
    }
    let password = SecretString::from(form.password);
    match sign_in_member(
        &state,
        &tenant,
        &form.email,
        &password,
        client_ip(req, &state),
    )
    .await
    {
        Ok((_, session)) => {
            jar.add(session_cookie(&state, session.token.reveal()));
            Redirect::see_other(safe_next(&form.next)).into_response()
        }
        Err(LoginError::Invalid) => {
            login_page(
                &state,
                &tenant,
                StatusCode::UNAUTHORIZED,
                &form.email,
                &form.next,
                None,
                Some("The email or password is not correct."),
            )
            .await
        }
        Err(LoginError::Locked(wait)) => {
            let minutes = wait.as_secs().div_ceil(60).max(1);
            let message = format!(
                "Too many attempts. Try again in {minutes} minute{}, or reset your password with Need help.",
                if minutes == 1 { "" } else { "s" }
            );
            let mut response = login_page(
                &state,
                &tenant,
                StatusCode::TOO_MANY_REQUESTS,
                &form.email,
                &form.next,
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
        Err(LoginError::Internal(cause)) => state.templates.server_error("sign-in failed", cause),
    }
}

#[derive(Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

#[handler]
pub async fn logout(
    req: &Request,
    state: Data<&AppState>,
    jar: &CookieJar,
    Form(form): Form<CsrfForm>,
) -> Response {
    let ctx = match require_member_form(req, &state, &form.csrf).await {
        Ok(ctx) => ctx,
        Err(response) => return response,
    };
    let ended = async {
        let tx = ctx.db.write().await?;
        portico_tenants::sessions::end(&tx, ctx.session.id).await?;
        tx.commit().await
    }
    .await;
    if let Err(err) = ended {
        tracing::error!(error = %err, "sign-out failed");
    }
    jar.remove(session_cookie_name(&state));
    Redirect::see_other("/firm/login").into_response()
}

#[handler]
pub async fn help_form(req: &Request, state: Data<&AppState>) -> Response {
    let Some(tenant) = firm_of(req) else {
        return not_found(&state);
    };
    state.templates.page(
        "firm_help.html",
        StatusCode::OK,
        minijinja::context! { firm => chrome(&state, &tenant).await, branded => true, sent => false },
    )
}

#[derive(Deserialize)]
pub struct HelpForm {
    #[serde(default)]
    email: String,
}

/// Always the same page, whether or not the email belongs to an account.
#[handler]
pub async fn help(req: &Request, state: Data<&AppState>, Form(form): Form<HelpForm>) -> Response {
    let Some(tenant) = firm_of(req) else {
        return not_found(&state);
    };
    if !is_same_origin_request(req, &tenant.portal_url) {
        return forbidden_cross_site(&state);
    }
    firm_accounts::request_reset_in_background(&state, &tenant, form.email.clone());
    state.templates.page(
        "firm_help.html",
        StatusCode::OK,
        minijinja::context! {
            firm => chrome(&state, &tenant).await,
            branded => true,
            sent => true,
            email => form.email.trim(),
            minutes => state.settings.auth.password_reset_valid_secs / 60,
        },
    )
}

#[derive(Deserialize)]
pub struct PasswordForm {
    #[serde(default)]
    password: String,
    #[serde(default)]
    password_confirm: String,
}

struct LinkPage {
    purpose: TokenPurpose,
    eyebrow: &'static str,
    heading: &'static str,
    button: &'static str,
    done: &'static str,
}

const SETUP: LinkPage = LinkPage {
    purpose: TokenPurpose::MemberSetup,
    eyebrow: "Welcome",
    heading: "Choose your password",
    button: "Set password",
    done: "setup",
};

const RESET: LinkPage = LinkPage {
    purpose: TokenPurpose::MemberReset,
    eyebrow: "Password reset",
    heading: "Choose a new password",
    button: "Change password",
    done: "reset",
};

async fn link_form(
    req: &Request,
    state: &AppState,
    page: &LinkPage,
    token: &str,
    error: Option<&str>,
    status: StatusCode,
) -> Response {
    let Some(tenant) = firm_of(req) else {
        return not_found(state);
    };
    let holder = firm_accounts::link_holder(state, &tenant, page.purpose, token).await;
    let (status, unusable, holder) = match holder {
        Ok(member) => (status, false, Some(member)),
        Err(PasswordLinkError::Unusable) => (StatusCode::GONE, true, None),
        Err(err) => {
            return state.templates.server_error("link lookup failed", err);
        }
    };
    let mut response = state.templates.page(
        "firm_password.html",
        status,
        minijinja::context! {
            firm => chrome(state, &tenant).await,
            branded => true,
            eyebrow => page.eyebrow,
            heading => page.heading,
            button => page.button,
            unusable => unusable,
            holder => holder,
            error => error,
        },
    );
    protect_token_page(&mut response);
    response
}

async fn link_submit(
    req: &Request,
    state: &AppState,
    page: &LinkPage,
    token: &str,
    form: PasswordForm,
) -> Response {
    let Some(tenant) = firm_of(req) else {
        return not_found(state);
    };
    if !is_same_origin_request(req, &tenant.portal_url) {
        return forbidden_cross_site(state);
    }
    if form.password != form.password_confirm {
        return link_form(
            req,
            state,
            page,
            token,
            Some("The two passwords do not match."),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    }
    let password = SecretString::from(form.password);
    let ip = client_ip(req, state);
    let result = if page.purpose == TokenPurpose::MemberSetup {
        firm_accounts::complete_setup(state, &tenant, token, &password, ip).await
    } else {
        firm_accounts::complete_reset(state, &tenant, token, &password, ip).await
    };
    match result {
        Ok(_) => {
            let mut response =
                Redirect::see_other(format!("/firm/login?done={}", page.done)).into_response();
            protect_token_page(&mut response);
            response
        }
        Err(PasswordLinkError::Rejected(reason)) => {
            link_form(
                req,
                state,
                page,
                token,
                Some(&reason),
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
        Err(PasswordLinkError::Unusable) => {
            link_form(req, state, page, token, None, StatusCode::GONE).await
        }
        Err(PasswordLinkError::Internal(cause)) => state
            .templates
            .server_error("setting a password failed", cause),
    }
}

#[handler]
pub async fn setup_form(
    req: &Request,
    state: Data<&AppState>,
    Path(token): Path<String>,
) -> Response {
    link_form(req, &state, &SETUP, &token, None, StatusCode::OK).await
}

#[handler]
pub async fn setup(
    req: &Request,
    state: Data<&AppState>,
    Path(token): Path<String>,
    Form(form): Form<PasswordForm>,
) -> Response {
    link_submit(req, &state, &SETUP, &token, form).await
}

#[handler]
pub async fn reset_form(
    req: &Request,
    state: Data<&AppState>,
    Path(token): Path<String>,
) -> Response {
    link_form(req, &state, &RESET, &token, None, StatusCode::OK).await
}

#[handler]
pub async fn reset(
    req: &Request,
    state: Data<&AppState>,
    Path(token): Path<String>,
    Form(form): Form<PasswordForm>,
) -> Response {
    link_submit(req, &state, &RESET, &token, form).await
}
