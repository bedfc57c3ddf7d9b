//! `/api/v1/firm/options/client-portal`: Options > Client Portal for administrators — the
//! portal switch and its web address, invitations, branding (with the logo), which item kinds
//! may be shared, and the upload limit.

use poem::http::StatusCode;
use poem::web::{Data, Multipart};
use poem::{FromRequest, Request, RequestBody};
use poem_openapi::payload::{Json, ParsePayload, Payload};
use poem_openapi::registry::{MetaMediaType, MetaRequest, MetaSchema, MetaSchemaRef, Registry};
use poem_openapi::{
    ApiExtractor, ApiExtractorType, ApiResponse, ExtractParamOptions, Object, OpenApi,
};
use portico_tenants::options::FirmOptions;

use super::{Answer, ApiTags, JsonBody, Session, Unprocessable, Upload};
use crate::auth::FirmMember;
use crate::error::ApiError;
use crate::firm_options::{self, LogoError, SaveError};
use crate::state::AppState;

/// The firm's Client Portal options.
#[derive(Debug, Object)]
pub struct ClientPortalOptionsView {
    /// Clients can sign in. Disabling deletes nothing.
    pub enabled: bool,
    /// The firm's Portal web address (read-only): the answer when a client forgets it.
    pub portal_url: String,
    /// How long a client invitation link works (1–90 days).
    pub invitation_valid_days: i32,
    /// Default invitation email text; it must contain the placeholder `{setup_link}`.
    pub invitation_template: String,
    /// Terms of Service a client accepts when setting up their account.
    pub terms_of_service: String,
    /// Name shown to clients; empty means the firm's registered name.
    pub display_name: String,
    /// `#rrggbb`.
    pub accent_color: String,
    /// Shown on the client home page.
    pub welcome_message: String,
    /// Which item kinds may be shared: documents, notes, appointments, tasks, custom_fields, bills.
    pub shareable_kinds: Vec<String>,
    /// Whether "notify the client by email" is ticked by default when sharing.
    pub notify_client_on_share: bool,
    /// Largest document a client may upload, in MB (1–500).
    pub upload_limit_mb: i32,
    /// Whether a logo is stored (served at `/branding/logo`).
    pub has_logo: bool,
}

impl ClientPortalOptionsView {
    fn new(options: &FirmOptions, portal_url: &str) -> Self {
        Self {
            enabled: options.portal_enabled,
            portal_url: portal_url.to_owned(),
            invitation_valid_days: options.invitation_valid_days,
            invitation_template: options.invitation_template.clone(),
            terms_of_service: options.terms_of_service.clone(),
            display_name: options.display_name.clone(),
            accent_color: options.accent_color.clone(),
            welcome_message: options.welcome_message.clone(),
            shareable_kinds: options.shareable_kinds.clone(),
            notify_client_on_share: options.notify_client_on_share,
            upload_limit_mb: options.upload_limit_mb,
            has_logo: options.has_logo,
        }
    }
}

/// Every option at once (what `GET` answers may be sent back as is: `portal_url` and
/// `has_logo` are ignored).
#[derive(Debug, Object)]
pub struct ClientPortalOptionsBody {
    pub enabled: bool,
    pub invitation_valid_days: i32,
    pub invitation_template: String,
    pub terms_of_service: String,
    pub display_name: String,
    pub accent_color: String,
    pub welcome_message: String,
    pub shareable_kinds: Vec<String>,
    pub notify_client_on_share: bool,
    pub upload_limit_mb: i32,
}

impl From<ClientPortalOptionsBody> for FirmOptions {
    fn from(body: ClientPortalOptionsBody) -> Self {
        FirmOptions {
            portal_enabled: body.enabled,
            invitation_valid_days: body.invitation_valid_days,
            invitation_template: body.invitation_template,
            terms_of_service: body.terms_of_service,
            display_name: body.display_name,
            accent_color: body.accent_color,
            welcome_message: body.welcome_message,
            shareable_kinds: body.shareable_kinds,
            notify_client_on_share: body.notify_client_on_share,
            upload_limit_mb: body.upload_limit_mb,
            has_logo: false,
        }
    }
}

impl From<SaveError> for ApiError {
    fn from(err: SaveError) -> Self {
        match err {
            SaveError::Invalid(message) => ApiError::unprocessable(message),
            SaveError::Db(err) => ApiError::internal(err),
        }
    }
}

impl From<LogoError> for ApiError {
    fn from(err: LogoError) -> Self {
        let status = match err {
            LogoError::Missing => StatusCode::UNPROCESSABLE_ENTITY,
            LogoError::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            LogoError::Unsupported => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            LogoError::Unreadable(_) => StatusCode::BAD_REQUEST,
        };
        ApiError::new(status, err.to_string())
    }
}

/// A `multipart/form-data` body with the image in the field `file`. The handler reads it (so
/// the size limit is counted while the bytes arrive, after the caller is known to be allowed);
/// this type only documents it and checks the content type.
pub struct LogoUploadBody(Multipart);

impl Payload for LogoUploadBody {
    const CONTENT_TYPE: &'static str = "multipart/form-data";

    fn check_content_type(content_type: &str) -> bool {
        let essence = content_type.split(';').next().unwrap_or_default().trim();
        essence.eq_ignore_ascii_case(Self::CONTENT_TYPE)
    }

    fn schema_ref() -> MetaSchemaRef {
        MetaSchemaRef::Inline(Box::new(MetaSchema {
            required: vec!["file"],
            properties: vec![(
                "file",
                MetaSchemaRef::Inline(Box::new(MetaSchema {
                    description: Some("PNG, JPEG, GIF or WebP, at most 512 KB"),
                    ..MetaSchema::new_with_format("string", "binary")
                })),
            )],
            ..MetaSchema::new("object")
        }))
    }
}

impl ParsePayload for LogoUploadBody {
    const IS_REQUIRED: bool = true;

    async fn from_request(request: &Request, body: &mut RequestBody) -> poem::Result<Self> {
        Ok(Self(
            <Multipart as FromRequest>::from_request(request, body).await?,
        ))
    }
}

impl<'a> ApiExtractor<'a> for LogoUploadBody {
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::RequestObject];

    type ParamType = ();
    type ParamRawType = ();

    fn register(registry: &mut Registry) {
        <Self as Payload>::register(registry);
    }

    fn request_meta() -> Option<MetaRequest> {
        Some(MetaRequest {
            description: None,
            content: vec![MetaMediaType {
                content_type: <Self as Payload>::CONTENT_TYPE,
                schema: <Self as Payload>::schema_ref(),
            }],
            required: true,
        })
    }

    async fn from_request(
        request: &'a Request,
        body: &mut RequestBody,
        _param_opts: ExtractParamOptions<Self::ParamType>,
    ) -> poem::Result<Self> {
        match request.content_type() {
            Some(content_type) if Self::check_content_type(content_type) => {
                <Self as ParsePayload>::from_request(request, body).await
            }
            _ => Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "send the logo as multipart/form-data with the image in the field `file`",
            )
            .into()),
        }
    }
}

#[derive(ApiResponse)]
pub enum LogoChanged {
    /// Done; clients see the change at once.
    #[oai(status = 204)]
    NoContent,
}

pub struct FirmOptionsApi;

#[OpenApi(prefix_path = "/firm", tag = "ApiTags::FirmOptions")]
impl FirmOptionsApi {
    /// Client Portal options (administrators only)
    #[oai(path = "/options/client-portal", method = "get")]
    async fn get(
        &self,
        state: Data<&AppState>,
        auth: FirmMember,
    ) -> Answer<Json<ClientPortalOptionsView>, Session> {
        let ctx = auth.0;
        ctx.require_admin()?;
        // Never the defaults in place of the firm's: a client would save them back.
        let options = firm_options::options(&state, &ctx.tenant).await?;
        Ok(Json(ClientPortalOptionsView::new(
            &options,
            &ctx.tenant.portal_url,
        )))
    }

    /// Change the Client Portal options (administrators only)
    ///
    /// Every field is required (send back what `GET` answered, changed). 422 names the field
    /// that breaks a rule, e.g. an invitation text without `{setup_link}`; nothing is saved
    /// then. Changes apply to the client pages at once.
    #[oai(path = "/options/client-portal", method = "put")]
    async fn put(
        &self,
        state: Data<&AppState>,
        auth: FirmMember,
        body: Json<ClientPortalOptionsBody>,
    ) -> Answer<Json<ClientPortalOptionsView>, (Session, JsonBody, Unprocessable)> {
        let ctx = auth.0;
        ctx.require_admin()?;
        let saved = firm_options::save(&state, &ctx, body.0.into()).await?;
        Ok(Json(ClientPortalOptionsView::new(
            &saved,
            &ctx.tenant.portal_url,
        )))
    }

    /// Upload the firm's logo (administrators only)
    ///
    /// PNG, JPEG, GIF or WebP (recognised from the content, not the name), at most 512 KB:
    /// 413 when larger, 415 for anything else.
    #[oai(path = "/options/client-portal/logo", method = "put")]
    async fn put_logo(
        &self,
        state: Data<&AppState>,
        auth: FirmMember,
        body: LogoUploadBody,
    ) -> Answer<LogoChanged, (Session, Upload)> {
        let ctx = auth.0;
        ctx.require_admin()?;
        let mut multipart = body.0;
        let logo = firm_options::read_logo_upload(&mut multipart).await.logo?;
        firm_options::set_logo(&state, &ctx, Some(logo)).await?;
        Ok(LogoChanged::NoContent)
    }

    /// Remove the firm's logo (administrators only)
    #[oai(path = "/options/client-portal/logo", method = "delete")]
    async fn delete_logo(
        &self,
        state: Data<&AppState>,
        auth: FirmMember,
    ) -> Answer<LogoChanged, Session> {
        let ctx = auth.0;
        ctx.require_admin()?;
        firm_options::set_logo(&state, &ctx, None).await?;
        Ok(LogoChanged::NoContent)
    }
}
