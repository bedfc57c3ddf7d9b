//! The JSON API (poem-openapi), served under `/api/v1`, documented at `/api/openapi.json`.
//!
//! The document is held to what the server does (`tests/fuzz` checks it with schemathesis):
//! each operation lists exactly the error statuses it can answer (see [`Answer`]), and every
//! `Option` field of a body is `#[oai(nullable)]`, since an absent value travels as `null`.

pub mod billing;
pub mod custom_fields;
pub mod documents;
pub mod firm_audit;
pub mod firm_auth;
pub mod firm_directory;
pub mod firm_members;
pub mod firm_options;
pub mod firm_portal;
pub mod items;
pub mod kept_json;
pub mod platform;
pub mod portal;
pub mod views;

use poem::{Endpoint, EndpointExt, IntoEndpoint, IntoResponse, Response};
use poem_openapi::{OpenApiService, Tags};

use crate::error::{ApiError, Failure, problem_response};
pub use crate::error::{
    BadGateway, BadRequest, Conflict, Forbidden, Gone, NotFound, PayloadTooLarge, PaymentRequired,
    ServiceUnavailable, TooManyRequests, Unauthorized, Unprocessable, UnsupportedMediaType,
};

/// What an operation answers: `T`, or a problem document with one of the error statuses `S`,
/// which is what the OpenAPI document lists for it (and `tests/fuzz` checks both ways).
pub type Answer<T, S> = Result<T, Failure<S>>;

/// Every operation on a firm's host: 403 while the firm is suspended, 404 on a host that is
/// not a firm's.
pub type FirmHost = (Forbidden, NotFound);

/// A member's or client's session on the firm's host: also 401 without a live session (and 403
/// for a cookie session whose unsafe request lacks the CSRF header).
pub type Session = (Unauthorized, FirmHost);

/// The operator token, on the base domain only (404 elsewhere); 429 for an address that sent
/// too many wrong tokens ([`crate::operator_throttle`]).
pub type Operator = (Unauthorized, TooManyRequests, NotFound);

/// A JSON body: 400 when it does not parse or lacks a field, 415 when it is not JSON.
pub type JsonBody = (BadRequest, UnsupportedMediaType);

/// An upload (`multipart/form-data`): 400 when the form does not parse, 413 over the size
/// limit, 415 when it is not a form or the file's type is not accepted, 422 without a file.
pub type Upload = (
    BadRequest,
    PayloadTooLarge,
    UnsupportedMediaType,
    Unprocessable,
);

/// Operations that reach the payment provider: 502 when it cannot be reached, 503 when online
/// payments are not configured for the firm's provider. (Declined charges are an outcome of
/// Pay Now, not an error; a card refused while it is saved or edited answers 402.)
pub type Provider = (BadGateway, ServiceUnavailable);

#[derive(Tags)]
pub enum ApiTags {
    /// Platform operators: onboarding and operating firms (base domain only).
    Platform,
    /// Firm members: account setup, sign-in, password reset (firm hosts).
    FirmAuth,
    /// Firm administrators: members and their rights.
    FirmMembers,
    /// Firm administrators: Options > Client Portal.
    FirmOptions,
    /// Contacts, files (matters) and the people on them.
    FirmDirectory,
    /// Firm administrators: the audit trail.
    FirmAudit,
    /// Firm members: clients' Portal access (Manage Portal) and files' Portal view.
    FirmPortal,
    /// Clients: invitations, sign-in, password reset, shared files (firm hosts).
    Portal,
    /// Documents on files: upload, download, Portal sharing (firm and client sides).
    Documents,
    /// Custom fields: definitions, values per file, Portal sharing (firm and client sides).
    CustomFields,
    /// Notes, appointments, tasks, the activity feed and preferences.
    Items,
    /// Invoices, payments, Options > Billing (firm side); bills, payment methods and Pay Now
    /// (client side).
    Billing,
}

pub type Apis = (
    platform::PlatformApi,
    firm_auth::FirmAuthApi,
    firm_members::FirmMembersApi,
    firm_options::FirmOptionsApi,
    firm_directory::FirmDirectoryApi,
    firm_audit::FirmAuditApi,
    firm_portal::FirmPortalApi,
    portal::PortalApi,
    documents::FirmDocumentsApi,
    documents::PortalDocumentsApi,
    custom_fields::FirmCustomFieldsApi,
    custom_fields::PortalCustomFieldsApi,
    items::FirmItemsApi,
    items::PortalItemsApi,
    billing::FirmBillingApi,
    billing::PortalBillingApi,
);

pub fn service(version: &str) -> OpenApiService<Apis, ()> {
    OpenApiService::new(
        (
            platform::PlatformApi,
            firm_auth::FirmAuthApi,
            firm_members::FirmMembersApi,
            firm_options::FirmOptionsApi,
            firm_directory::FirmDirectoryApi,
            firm_audit::FirmAuditApi,
            firm_portal::FirmPortalApi,
            portal::PortalApi,
            documents::FirmDocumentsApi,
            documents::PortalDocumentsApi,
            custom_fields::FirmCustomFieldsApi,
            custom_fields::PortalCustomFieldsApi,
            items::FirmItemsApi,
            items::PortalItemsApi,
            billing::FirmBillingApi,
            billing::PortalBillingApi,
        ),
        "Portico",
        version,
    )
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
