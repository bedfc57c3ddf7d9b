//! `/api/v1/platform`: operators onboard and operate firms. Base domain only; bearer operator
//! token compared in constant time; an address with too many wrong tokens is refused for a
//! while ([`crate::operator_throttle`]).

use chrono::{DateTime, Utc};
use poem::Request;
use poem::web::Data;
use poem_openapi::auth::Bearer;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi, SecurityScheme};
use portico_tenants::audit::Actor;
use portico_tenants::{NewTenant, RegistryError, TenantRecord};
use secrecy::ExposeSecret;

use super::{Answer, ApiTags, Conflict, JsonBody, Operator, Unprocessable};
use crate::auth::client_ip;
use crate::error::ApiError;
use crate::middleware::RequestHost;
use crate::operator_throttle::Refused;
use crate::state::AppState;

/// The operator token from `platform.operator_token`.
#[derive(SecurityScheme)]
#[oai(ty = "bearer", checker = "check_operator")]
pub struct OperatorAuth(());

async fn check_operator(req: &Request, bearer: Bearer) -> Result<(), poem::Error> {
    // Operator routes exist only on the base domain; elsewhere they are simply not there.
    if !matches!(req.data::<RequestHost>(), Some(RequestHost::Operator)) {
        return Err(ApiError::not_found().into());
    }
    let Some(state) = req.data::<AppState>() else {
        return Err(ApiError::unauthorized().into());
    };
    let verified = state.operator_throttle.verify(
        client_ip(req, state).as_deref(),
        &bearer.token,
        state.settings.platform.operator_token.expose_secret(),
    );
    match verified {
        Ok(()) => Ok(()),
        Err(Refused::Wrong) => Err(ApiError::unauthorized().into()),
        Err(Refused::LockedOut(wait)) => Err(ApiError::too_many_requests(wait.as_secs()).into()),
    }
}

#[derive(Debug, Object)]
pub struct CreateTenantRequest {
    /// Lower-case DNS label, 3–40 characters; becomes `<slug>.<base_domain>`.
    pub slug: String,
    /// The firm's display name.
    pub name: String,
    /// The first administrator, who is emailed a link to set a password.
    pub admin_email: String,
    pub admin_name: String,
}

#[derive(Debug, Object)]
pub struct DeleteTenantRequest {
    /// Must repeat the slug.
    pub confirm: String,
}

#[derive(Debug, Object)]
pub struct TenantView {
    pub id: uuid::Uuid,
    pub slug: String,
    pub name: String,
    /// `active` or `suspended`.
    pub status: String,
    pub portal_url: String,
    pub created_at: DateTime<Utc>,
}

impl From<TenantRecord> for TenantView {
    fn from(t: TenantRecord) -> Self {
        Self {
            id: t.id.as_uuid(),
            slug: t.slug,
            name: t.name,
            status: t.status.as_str().to_owned(),
            portal_url: t.portal_url,
            created_at: t.created_at,
        }
    }
}

#[derive(ApiResponse)]
pub enum CreatedTenant {
    /// The firm exists; its administrator has been emailed.
    #[oai(status = 201)]
    Created(Json<TenantView>),
}

#[derive(ApiResponse)]
pub enum Deleted {
    /// Every row and document of the firm is gone.
    #[oai(status = 204)]
    Deleted,
}

impl From<RegistryError> for ApiError {
    fn from(err: RegistryError) -> Self {
        match err {
            RegistryError::InvalidSlug(_) | RegistryError::Invalid(_) => {
                ApiError::unprocessable(err.to_string())
            }
            RegistryError::ConfirmationMismatch(_) => ApiError::unprocessable(err.to_string()),
            RegistryError::SlugTaken(_) => ApiError::conflict(err.to_string()),
            RegistryError::NotFound(_) => ApiError::not_found(),
            RegistryError::Db(err) => ApiError::internal(err),
        }
    }
}

pub struct PlatformApi;

#[OpenApi(prefix_path = "/platform", tag = "ApiTags::Platform")]
impl PlatformApi {
    /// Onboard a firm
    ///
    /// Creates the firm, its first administrator and the setup email in one step. The same slug
    /// again answers 409 and changes nothing.
    #[oai(path = "/tenants", method = "post")]
    async fn create_tenant(
        &self,
        _auth: OperatorAuth,
        state: Data<&AppState>,
        body: Json<CreateTenantRequest>,
    ) -> Answer<CreatedTenant, (Operator, JsonBody, Conflict, Unprocessable)> {
        let body = body.0;
        let onboarded = state
            .registry
            .create(
                NewTenant {
                    slug: body.slug,
                    name: body.name,
                    admin_email: body.admin_email,
                    admin_name: body.admin_name,
                },
                Actor::Operator,
            )
            .await?;
        Ok(CreatedTenant::Created(Json(onboarded.tenant.into())))
    }

    /// List firms
    #[oai(path = "/tenants", method = "get")]
    async fn list_tenants(
        &self,
        _auth: OperatorAuth,
        state: Data<&AppState>,
    ) -> Answer<Json<Vec<TenantView>>, Operator> {
        let tenants = state.registry.list().await?;
        Ok(Json(tenants.into_iter().map(TenantView::from).collect()))
    }

    /// Show a firm
    #[oai(path = "/tenants/:slug", method = "get")]
    async fn get_tenant(
        &self,
        _auth: OperatorAuth,
        state: Data<&AppState>,
        slug: Path<String>,
    ) -> Answer<Json<TenantView>, Operator> {
        Ok(Json(state.registry.get(&slug.0).await?.into()))
    }

    /// Suspend a firm
    ///
    /// Its portal and firm pages answer "suspended"; no data is touched.
    #[oai(path = "/tenants/:slug/suspend", method = "post")]
    async fn suspend_tenant(
        &self,
        _auth: OperatorAuth,
        state: Data<&AppState>,
        slug: Path<String>,
    ) -> Answer<Json<TenantView>, Operator> {
        Ok(Json(
            state
                .registry
                .suspend(&slug.0, Actor::Operator)
                .await?
                .into(),
        ))
    }

    /// Reactivate a suspended firm
    #[oai(path = "/tenants/:slug/reactivate", method = "post")]
    async fn reactivate_tenant(
        &self,
        _auth: OperatorAuth,
        state: Data<&AppState>,
        slug: Path<String>,
    ) -> Answer<Json<TenantView>, Operator> {
        Ok(Json(
            state
                .registry
                .reactivate(&slug.0, Actor::Operator)
                .await?
                .into(),
        ))
    }

    /// Delete a firm and everything it stored
    ///
    /// Removes every row and stored document of the firm. The body must repeat the slug.
    #[oai(path = "/tenants/:slug", method = "delete")]
    async fn delete_tenant(
        &self,
        _auth: OperatorAuth,
        state: Data<&AppState>,
        slug: Path<String>,
        body: Json<DeleteTenantRequest>,
    ) -> Answer<Deleted, (Operator, JsonBody, Unprocessable)> {
        state
            .registry
            .delete(&slug.0, &body.0.confirm, portico_migrations::TENANT_TABLES)
            .await?;
        Ok(Deleted::Deleted)
    }
}
