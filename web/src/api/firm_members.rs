//! `/api/v1/firm` — see the module's routes.

use poem_openapi::OpenApi;

use super::ApiTags;

pub struct FirmMembersApi;

#[OpenApi(prefix_path = "/firm", tag = "ApiTags::FirmMembers")]
impl FirmMembersApi {}
