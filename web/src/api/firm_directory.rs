//! `/api/v1/firm` — see the module's routes.

use poem_openapi::OpenApi;

use super::ApiTags;

pub struct FirmDirectoryApi;

#[OpenApi(prefix_path = "/firm", tag = "ApiTags::FirmDirectory")]
impl FirmDirectoryApi {}
