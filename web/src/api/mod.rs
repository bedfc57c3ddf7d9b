//! The JSON API (poem-openapi), served under `/api/v1`, documented at `/api/openapi.json`.

pub mod custom_fields;
pub mod documents;
pub mod firm_audit;
pub mod firm_auth;
pub mod firm_directory;
pub mod firm_members;
pub mod firm_options;
pub mod firm_portal;
pub mod items;
pub mod platform;
pub mod portal;
pub mod views;

use poem::{Endpoint, EndpointExt, IntoEndpoint, IntoResponse, Response};
use poem_openapi::{OpenApiService, Tags};

use crate::error::{ApiError, problem_response};

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
