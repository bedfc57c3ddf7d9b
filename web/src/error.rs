//! One HTTP error type. It logs the cause and answers with an `application/problem+json` body
//! (`{type, title, status, detail}`) that never carries internals: no SQL, no stack trace.

use std::marker::PhantomData;

use poem::http::StatusCode;
use poem::{IntoResponse, Response};
use poem_openapi::registry::{MetaMediaType, MetaResponse, MetaResponses, Registry};
use poem_openapi::types::Type;
use poem_openapi::{ApiResponse, Object};
use serde::Serialize;

pub const PROBLEM_CONTENT_TYPE: &str = "application/problem+json";

/// RFC 9457 problem details, as every error body is shaped.
#[derive(Debug, Clone, Serialize, Object)]
pub struct Problem {
    /// A URI naming the kind of problem (`about:blank` when the status says it all).
    #[oai(rename = "type")]
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
}

#[derive(Debug, Clone)]
pub struct ApiError {
    status: StatusCode,
    detail: String,
    retry_after_secs: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, detail: impl Into<String>) -> Self {
        Self {
            status,
            detail: detail.into(),
            retry_after_secs: None,
        }
    }

    /// 404 with one fixed body, so "exists but not yours" and "never existed" are identical.
    pub fn not_found() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "The requested resource was not found.",
        )
    }

    pub fn unauthorized() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "Authentication is required.")
    }

    pub fn forbidden(reason: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, reason)
    }

    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, detail)
    }

    pub fn conflict(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, detail)
    }

    pub fn unprocessable(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, detail)
    }

    pub fn too_many_requests(retry_after_secs: u64) -> Self {
        Self {
            retry_after_secs: Some(retry_after_secs.max(1)),
            ..Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                "Too many attempts; try again later.",
            )
        }
    }

    /// Logs `cause` with the request's span and answers with an opaque 500.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Something went wrong on our side.",
        )
    }

    pub fn status(&self) -> StatusCode {
        self.status
    }

    pub fn detail(&self) -> &str {
        &self.detail
    }

    pub fn problem(&self) -> Problem {
        problem(self.status, &self.detail)
    }
}

pub fn problem(status: StatusCode, detail: &str) -> Problem {
    Problem {
        kind: "about:blank".to_owned(),
        title: status.canonical_reason().unwrap_or("Error").to_owned(),
        status: status.as_u16(),
        detail: detail.to_owned(),
    }
}

/// Renders a problem body with the right content type.
pub fn problem_response(status: StatusCode, detail: &str) -> Response {
    let body = serde_json::to_vec(&problem(status, detail)).unwrap_or_default();
    Response::builder()
        .status(status)
        .content_type(PROBLEM_CONTENT_TYPE)
        .body(body)
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.status, self.detail)
    }
}

impl std::error::Error for ApiError {}

impl poem::error::ResponseError for ApiError {
    fn status(&self) -> StatusCode {
        self.status
    }

    fn as_response(&self) -> Response {
        let mut response = problem_response(self.status, &self.detail);
        if let Some(secs) = self.retry_after_secs
            && let Ok(value) = secs.to_string().parse()
        {
            response
                .headers_mut()
                .insert(poem::http::header::RETRY_AFTER, value);
        }
        response
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        poem::error::ResponseError::as_response(&self)
    }
}

/// One error status an operation can answer, with what it means in the OpenAPI document.
pub trait ErrorStatus {
    const STATUS: u16;
    const DESCRIPTION: &'static str;
}

/// The error statuses an operation documents: one [`ErrorStatus`], or a tuple of statuses and
/// tuples (so common sets compose), e.g. `(Session, JsonBody, Conflict)`.
pub trait ErrorStatuses {
    fn collect(into: &mut Vec<(u16, &'static str)>);
}

impl<S: ErrorStatus> ErrorStatuses for S {
    fn collect(into: &mut Vec<(u16, &'static str)>) {
        into.push((S::STATUS, S::DESCRIPTION));
    }
}

macro_rules! error_statuses_for_tuples {
    ($($name:ident)+) => {
        impl<$($name: ErrorStatuses),+> ErrorStatuses for ($($name,)+) {
            fn collect(into: &mut Vec<(u16, &'static str)>) {
                $($name::collect(into);)+
            }
        }
    };
}

error_statuses_for_tuples!(A);
error_statuses_for_tuples!(A B);
error_statuses_for_tuples!(A B C);
error_statuses_for_tuples!(A B C D);
error_statuses_for_tuples!(A B C D E);
error_statuses_for_tuples!(A B C D E F);
error_statuses_for_tuples!(A B C D E F G);
error_statuses_for_tuples!(A B C D E F G H);

macro_rules! error_status {
    ($($(#[$meta:meta])* $name:ident = $status:literal: $description:literal;)+) => {$(
        $(#[$meta])*
        pub struct $name;

        impl ErrorStatus for $name {
            const STATUS: u16 = $status;
            const DESCRIPTION: &'static str = $description;
        }
    )+};
}

error_status! {
    /// A body or parameter that does not parse (JSON syntax, a missing field, a wrong type).
    BadRequest = 400: "The request is malformed: the body or a parameter does not parse.";
    Unauthorized = 401: "Authentication is missing or invalid.";
    PaymentRequired = 402: "The payment provider declined the card; the detail says why.";
    /// Also every route of a suspended firm, and cookie sessions without the CSRF header.
    Forbidden = 403: "Forbidden by a rule the caller can see; the detail names it.";
    /// Also every route on a host that is not the right kind (firm or operator).
    NotFound = 404: "Not found, or not visible to the caller.";
    Conflict = 409: "Conflicts with the current state.";
    /// A link token that has expired or has been used.
    Gone = 410: "The link has expired or has already been used.";
    PayloadTooLarge = 413: "The upload is larger than allowed.";
    UnsupportedMediaType = 415: "The body or the uploaded file is not of an accepted type.";
    Unprocessable = 422: "Validation failed; the detail says what is wrong.";
    TooManyRequests = 429: "Rate limited; see Retry-After.";
    /// The payment provider could not be reached; a retry with the same key is safe.
    BadGateway = 502: "The payment provider could not be reached; nothing was charged twice.";
    /// Online payments are not configured for the firm's payment provider.
    ServiceUnavailable = 503: "Online payments are unavailable.";
}

/// An [`ApiError`] that the OpenAPI document lists as one of the statuses `S`. Operations
/// return `Result<T, Failure<S>>` (see `crate::api::Answer`), so each documents exactly the
/// errors it can answer; the error itself is unchanged, and `?` converts into it from anything
/// that converts into an [`ApiError`].
pub struct Failure<S> {
    error: ApiError,
    statuses: PhantomData<fn() -> S>,
}

impl<S, E: Into<ApiError>> From<E> for Failure<S> {
    fn from(error: E) -> Self {
        Self {
            error: error.into(),
            statuses: PhantomData,
        }
    }
}

impl<S> From<Failure<S>> for poem::Error {
    fn from(failure: Failure<S>) -> Self {
        failure.error.into()
    }
}

impl<S: ErrorStatuses> ApiResponse for Failure<S> {
    fn meta() -> MetaResponses {
        let mut statuses = Vec::new();
        S::collect(&mut statuses);
        statuses.sort_unstable_by_key(|(status, _)| *status);
        statuses.dedup_by_key(|(status, _)| *status);
        MetaResponses {
            responses: statuses
                .into_iter()
                .map(|(status, description)| MetaResponse {
                    description,
                    status: Some(status),
                    status_range: None,
                    content: vec![MetaMediaType {
                        content_type: PROBLEM_CONTENT_TYPE,
                        schema: Problem::schema_ref(),
                    }],
                    headers: vec![],
                })
                .collect(),
        }
    }

    fn register(registry: &mut Registry) {
        Problem::register(registry);
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

impl From<sea_orm::DbErr> for ApiError {
    fn from(err: sea_orm::DbErr) -> Self {
        ApiError::internal(err)
    }
}
