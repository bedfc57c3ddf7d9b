//! `/api/v1/firm` and `/api/v1/portal` routes of this area.

use poem_openapi::OpenApi;

#[allow(unused_imports)]
use super::ApiTags;

pub struct FirmDocumentsApi;

#[OpenApi(prefix_path = "/firm", tag = "ApiTags::Documents")]
impl FirmDocumentsApi {}

pub struct PortalDocumentsApi;

#[OpenApi(prefix_path = "/portal", tag = "ApiTags::Documents")]
impl PortalDocumentsApi {}
