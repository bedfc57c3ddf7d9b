//! `/api/v1/firm` and `/api/v1/portal` routes of this area.

use poem_openapi::OpenApi;

#[allow(unused_imports)]
use super::ApiTags;

pub struct FirmCustomFieldsApi;

#[OpenApi(prefix_path = "/firm", tag = "ApiTags::CustomFields")]
impl FirmCustomFieldsApi {}

pub struct PortalCustomFieldsApi;

#[OpenApi(prefix_path = "/portal", tag = "ApiTags::CustomFields")]
impl PortalCustomFieldsApi {}
