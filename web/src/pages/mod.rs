//! Server-rendered HTML pages and infrastructure routes.

pub mod billing;
pub mod client;
pub mod firm;
pub mod infra;
pub mod operator;
pub mod portal;

use poem::http::StatusCode;
use poem::web::Data;
use poem::web::cookie::CookieJar;
use poem::{Request, Response, handler};

use crate::middleware::RequestHost;
use crate::state::AppState;

/// `/` is the operator console on the base domain, and the Client Portal (home, or sign-in)
/// on a firm's host.
#[handler]
pub async fn home(req: &Request, state: Data<&AppState>, host: Data<&RequestHost>) -> Response {
    match host.0 {
        RequestHost::Operator => operator::console(req, &state, None).await,
        RequestHost::Firm(tenant) => client::home_or_login(req, &state, tenant).await,
    }
}

/// `POST /login`: the operator's sign-in on the base domain, a client's on a firm's host.
#[handler]
pub async fn login(
    req: &Request,
    state: Data<&AppState>,
    host: Data<&RequestHost>,
    jar: &CookieJar,
    body: poem::Body,
) -> Response {
    let Ok(bytes) = body.into_bytes().await else {
        return state
            .templates
            .error_page(StatusCode::BAD_REQUEST, "The form could not be read.");
    };
    match host.0 {
        RequestHost::Operator => match serde_urlencoded::from_bytes(&bytes) {
            Ok(form) => operator::login_with(req, &state, jar, form).await,
            Err(_) => state
                .templates
                .error_page(StatusCode::BAD_REQUEST, "The form could not be read."),
        },
        RequestHost::Firm(tenant) => match serde_urlencoded::from_bytes(&bytes) {
            Ok(form) => client::login(req, &state, tenant, jar, form).await,
            Err(_) => state
                .templates
                .error_page(StatusCode::BAD_REQUEST, "The form could not be read."),
        },
    }
}

/// `POST /logout`: the operator's or a client's, by host.
#[handler]
pub async fn logout(
    req: &Request,
    state: Data<&AppState>,
    host: Data<&RequestHost>,
    jar: &CookieJar,
    body: poem::Body,
) -> Response {
    let Ok(bytes) = body.into_bytes().await else {
        return state
            .templates
            .error_page(StatusCode::BAD_REQUEST, "The form could not be read.");
    };
    match host.0 {
        RequestHost::Operator => match serde_urlencoded::from_bytes(&bytes) {
            Ok(form) => operator::logout_with(req, &state, form).await,
            Err(_) => state
                .templates
                .error_page(StatusCode::BAD_REQUEST, "The form could not be read."),
        },
        RequestHost::Firm(_) => match serde_urlencoded::from_bytes(&bytes) {
            Ok(form) => client::logout(req, &state, jar, form).await,
            Err(_) => state
                .templates
                .error_page(StatusCode::BAD_REQUEST, "The form could not be read."),
        },
    }
}
