//! The JSON API (poem-openapi), served under `/api/v1`, documented at `/api/openapi.json`.

pub mod platform;

use poem::{Endpoint, EndpointExt, IntoEndpoint, IntoResponse, Response};
use poem_openapi::{OpenApiService, Tags};

use crate::error::{ApiError, problem_response};

#[derive(Tags)]
pub enum ApiTags {
    /// Platform operators: onboarding and operating firms (base domain only).
    Platform,
}

pub fn service(version: &str) -> OpenApiService<platform::PlatformApi, ()> {
    OpenApiService::new(platform::PlatformApi, "Portico", version)
        .description(
            "Multi-tenant client portal for law firms. Errors are application/problem+json; \
             ids are UUIDs; times are RFC 3339 UTC; money is integer minor units.",
        )
        .server("/api/v1")
}

/// Every error leaving the API — ours, or poem's own (bad JSON, missing auth, unknown route) —
/// becomes a problem document.
pub fn endpoint(version: &str) -> impl Endpoint<Output = Response> {
    service(version)
        .into_endpoint()
        .catch_all_error(|err: poem::Error| async move {
            if err.is::<ApiError>() {
                return err.into_response();
            }
            let status = err.status();
            if status == poem::http::StatusCode::NOT_FOUND {
                // Unknown routes answer exactly like unknown or invisible ids.
                return ApiError::not_found().into_response();
            }
            let detail = if status.is_server_error() {
                tracing::error!(error = %err, "unhandled API error");
                "Something went wrong on our side.".to_owned()
            } else {
                err.to_string()
            };
            problem_response(status, &detail)
        })
}
