//! Request middleware, outermost first: telemetry (request id, span, log line, metrics),
//! security headers, then the host gate that resolves the firm or answers 404 before any handler.

use std::borrow::Cow;
use std::time::Instant;

use poem::http::{HeaderValue, StatusCode, header};
use poem::{Endpoint, IntoResponse, Request, Response};
use portico_tenants::host::{HostTarget, classify_host};
use portico_tenants::{TenantRecord, TenantStatus};
use tracing::Instrument;

use crate::error::problem_response;
use crate::state::AppState;

/// Which site a request is for, decided from the `Host` header alone (never
/// `X-Forwarded-Host`, which a client controls).
#[derive(Clone, Debug)]
pub enum RequestHost {
    /// The bare base domain: operator console and API.
    Operator,
    /// A firm's Portal address.
    Firm(TenantRecord),
}

/// The request id, also returned as `x-request-id`.
#[derive(Clone, Debug)]
pub struct RequestId(pub String);

/// Paths that answer on any host: load balancers probe nodes by IP, and the stylesheet must
/// load on the error pages of unknown or suspended hosts too. None of them carries firm data.
fn is_host_independent(path: &str) -> bool {
    // Providers call webhooks on whatever host they were given, and the mock's tokenisation
    // endpoint stands in for an external service.
    matches!(path, "/healthz" | "/readyz" | "/mock-psp/tokens")
        || path.starts_with("/static/")
        || path.starts_with("/webhooks/")
}

/// The request path as it is logged: a token carried in a link (the segment after
/// `invitations`, `reset`, `setup`, `verify-email` or `password-reset`) grants access, so it is
/// replaced; ids stay, they are what an operator debugs with.
pub fn loggable_path(path: &str) -> Cow<'_, str> {
    const TOKEN_BEFORE: &[&str] = &[
        "invitations",
        "reset",
        "setup",
        "verify-email",
        "password-reset",
    ];
    // Each segment with the one before it.
    let pairs = || {
        std::iter::once("")
            .chain(path.split('/'))
            .zip(path.split('/'))
    };
    let is_token =
        |(previous, segment): &(&str, &str)| TOKEN_BEFORE.contains(previous) && !segment.is_empty();
    // Most paths carry no token: log them as they are, without building a copy.
    if !pairs().any(|pair| is_token(&pair)) {
        return Cow::Borrowed(path);
    }
    let shown: Vec<&str> = pairs()
        .map(|pair| if is_token(&pair) { "{token}" } else { pair.1 })
        .collect();
    Cow::Owned(shown.join("/"))
}

fn is_api_path(path: &str) -> bool {
    path.starts_with("/api/") || path.starts_with("/webhooks/")
}

/// An error in the caller's language: problem JSON on API paths, a page elsewhere.
pub fn error_response(state: &AppState, path: &str, status: StatusCode, message: &str) -> Response {
    if is_api_path(path) {
        problem_response(status, message)
    } else {
        state.templates.error_page(status, message)
    }
}

pub async fn telemetry<E: Endpoint>(next: E, mut req: Request) -> poem::Result<Response> {
    let started = Instant::now();
    let request_id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 64 && v.bytes().all(|b| b.is_ascii_graphic()))
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let method = req.method().to_string();
    let path = req.uri().path().to_owned();
    let span = tracing::info_span!(
        "request",
        request_id = %request_id,
        method = %method,
        path = %loggable_path(&path),
        tenant = tracing::field::Empty,
    );
    req.extensions_mut().insert(RequestId(request_id.clone()));
    let metrics = req.data::<AppState>().map(|state| state.metrics.clone());
    let mut response = next
        .call(req)
        .instrument(span.clone())
        .await
        .map(IntoResponse::into_response)
        .unwrap_or_else(|err| err.into_response());
    let status = response.status().as_u16();
    let elapsed = started.elapsed();
    span.in_scope(|| {
        tracing::info!(
            status,
            latency_ms = elapsed.as_secs_f64() * 1000.0,
            "request finished"
        );
    });
    if let Some(metrics) = metrics {
        metrics.observe(&method, &path, status, elapsed.as_secs_f64());
    }
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert("x-request-id", value);
    }
    Ok(response)
}

const CSP: &str = "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; \
     connect-src 'self'; form-action 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'";
/// Swagger UI ships inline script and style; the docs page gets that and nothing else.
const CSP_API_DOCS: &str = "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; \
     script-src 'self' 'unsafe-inline'; connect-src 'self'; object-src 'none'; base-uri 'none'; \
     frame-ancestors 'none'";

pub async fn security_headers<E: Endpoint>(next: E, req: Request) -> poem::Result<Response> {
    let https = req
        .data::<AppState>()
        .map(|s| s.settings.is_https())
        .unwrap_or(false);
    let docs = req.uri().path().starts_with("/api/docs");
    let mut response = next
        .call(req)
        .await
        .map(IntoResponse::into_response)
        .unwrap_or_else(|err| err.into_response());
    let headers = response.headers_mut();
    let csp = if docs { CSP_API_DOCS } else { CSP };
    // A page that needs more (the payment-method page loads Stripe.js in Stripe mode) sets its
    // own policy; every other response gets the strict one.
    headers
        .entry(header::CONTENT_SECURITY_POLICY)
        .or_insert(HeaderValue::from_static(csp));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        "cross-origin-opener-policy",
        HeaderValue::from_static("same-origin"),
    );
    headers.insert(
        "permissions-policy",
        HeaderValue::from_static("camera=(), microphone=(), geolocation=()"),
    );
    headers
        .entry(header::REFERRER_POLICY)
        .or_insert(HeaderValue::from_static("strict-origin-when-cross-origin"));
    // Everything dynamic may be personal; only static assets opt in to caching.
    headers
        .entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    if https {
        headers.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=63072000; includeSubDomains"),
        );
    }
    Ok(response)
}

pub async fn host_gate<E: Endpoint>(next: E, mut req: Request) -> poem::Result<Response> {
    let path = req.uri().path().to_owned();
    if is_host_independent(&path) {
        return next.call(req).await.map(IntoResponse::into_response);
    }
    let Some(state) = req.data::<AppState>().cloned() else {
        return Ok(StatusCode::INTERNAL_SERVER_ERROR.into_response());
    };
    let raw_host = req
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .or_else(|| req.uri().authority().map(|a| a.as_str().to_owned()))
        .unwrap_or_default();
    let not_found = || {
        error_response(
            &state,
            &path,
            StatusCode::NOT_FOUND,
            "There is nothing at this address.",
        )
    };
    let host = match classify_host(&raw_host, &state.settings.server.base_domain) {
        HostTarget::Operator => RequestHost::Operator,
        HostTarget::Unknown => return Ok(not_found()),
        HostTarget::Firm(slug) => match state.registry.resolver().resolve(&slug).await {
            Ok(Some(tenant)) => {
                tracing::Span::current().record("tenant", tenant.slug.as_str());
                if tenant.status == TenantStatus::Suspended {
                    let message = format!(
                        "{}'s portal is suspended. Please contact the firm directly.",
                        tenant.name
                    );
                    return Ok(error_response(
                        &state,
                        &path,
                        StatusCode::FORBIDDEN,
                        &message,
                    ));
                }
                RequestHost::Firm(tenant)
            }
            Ok(None) => return Ok(not_found()),
            Err(err) => {
                tracing::error!(error = %err, "host resolution failed");
                return Ok(error_response(
                    &state,
                    &path,
                    StatusCode::SERVICE_UNAVAILABLE,
                    "The service is temporarily unavailable.",
                ));
            }
        },
    };
    req.extensions_mut().insert(host);
    next.call(req).await.map(IntoResponse::into_response)
}

/// Cross-site request check for cookie-authenticated unsafe requests. Browsers send
/// `Sec-Fetch-Site`; older ones at least send `Origin` on POST. A sibling firm's subdomain is
/// *same-site* but not *same-origin*, so only `same-origin` passes.
pub fn is_same_origin_request(req: &Request, own_origin: &str) -> bool {
    let site = req
        .headers()
        .get("sec-fetch-site")
        .and_then(|v| v.to_str().ok());
    if site.is_some_and(|site| site != "same-origin" && site != "none") {
        return false;
    }
    let origin = req
        .headers()
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok());
    match origin {
        None => true,
        Some(origin) if origin == own_origin => true,
        // Pages served with `Referrer-Policy: no-referrer` (the token pages) make browsers
        // send `Origin: null` on their own forms; the fetch metadata still proves same-origin.
        Some("null") => site == Some("same-origin"),
        Some(_) => false,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn tokens_in_links_are_not_logged() {
        assert_eq!(
            super::loggable_path("/api/v1/portal/invitations/abcDEF123/accept"),
            "/api/v1/portal/invitations/{token}/accept"
        );
        assert_eq!(
            super::loggable_path("/firm/setup/tok"),
            "/firm/setup/{token}"
        );
        assert_eq!(super::loggable_path("/reset/tok"), "/reset/{token}");
        assert_eq!(
            super::loggable_path("/api/v1/firm/files/0190/notes"),
            "/api/v1/firm/files/0190/notes"
        );
        assert_eq!(
            super::loggable_path("/api/v1/firm/password-reset"),
            "/api/v1/firm/password-reset"
        );
    }
}
