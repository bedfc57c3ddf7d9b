//! Client sessions: the same session, cookie, CSRF and throttling rules as members, for
//! Portal accounts. A client session exists only in its firm's tables, so it is refused on any
//! other firm's host.

use poem::{FromRequest, Request, RequestBody};
use portico_platform::{TenantDb, TenantTx};
use portico_tenants::TenantRecord;
use portico_tenants::activity::{self, ActivityKind};
use portico_tenants::audit::{self, AuditEvent};
use portico_tenants::portal_access::{self, Client};
use portico_tenants::sessions::{ActiveSession, PrincipalKind};
use sea_orm::DbErr;

use crate::auth::{
    AccountKind, AuthFailure, Presented, SessionCache, authenticate, check_session_csrf,
};
use crate::error::ApiError;
use crate::state::AppState;

/// Portal clients.
pub struct Clients;

impl AccountKind for Clients {
    type Account = Client;
    const SCOPE: &'static str = "client";
    const PRINCIPAL: PrincipalKind = PrincipalKind::Client;

    fn session_cache(state: &AppState) -> &SessionCache<Client> {
        &state.client_sessions
    }

    async fn credentials(
        tx: &TenantTx,
        email: &str,
    ) -> Result<Option<(Client, Option<String>)>, DbErr> {
        portal_access::credentials_by_email(tx, email).await
    }

    fn may_sign_in(_client: &Client) -> bool {
        // Only active accounts are returned by `credentials`.
        true
    }

    async fn session_account(tx: &TenantTx, id: uuid::Uuid) -> Result<Option<Client>, DbErr> {
        // A disabled account's sessions are deleted with it; asking for an active account also
        // covers one disabled while its session was being looked up.
        portal_access::active_client(tx, id).await
    }

    fn principal_id(client: &Client) -> uuid::Uuid {
        client.account_id
    }

    async fn signed_in(tx: &TenantTx, client: &Client, ip: Option<String>) -> Result<(), DbErr> {
        portal_access::record_login(tx, client).await?;
        activity::record(
            tx,
            ActivityKind::ClientLogin,
            None,
            &client.actor(),
            "client.signed_in",
            "signed in to the Client Portal",
        )
        .await?;
        audit::record(
            tx,
            AuditEvent {
                actor: client.actor(),
                action: "client.signed_in",
                target_kind: "contact",
                target_id: Some(client.contact_id.to_string()),
                ip,
                detail: None,
            },
        )
        .await
    }
}

/// A signed-in client on their firm's host.
#[derive(Clone)]
pub struct ClientCtx {
    pub tenant: TenantRecord,
    pub db: TenantDb,
    pub client: Client,
    pub session: ActiveSession,
    pub presented: Presented,
    pub ip: Option<String>,
}

/// Resolves the client behind the request's session (CSRF is checked separately).
pub async fn authenticate_client(
    req: &Request,
    state: &AppState,
) -> Result<ClientCtx, AuthFailure> {
    let found = authenticate::<Clients>(req, state).await?;
    // The firm switching the portal off stops clients at once; nothing is deleted. Options
    // that cannot be read let nobody in (the defaults would open a closed portal).
    let options = crate::firm_options::options(state, &found.tenant)
        .await
        .map_err(|err| AuthFailure::Internal(format!("loading firm options failed: {err}")))?;
    if !options.portal_enabled {
        return Err(AuthFailure::Unauthenticated);
    }
    Ok(ClientCtx {
        tenant: found.tenant,
        db: found.db,
        client: found.account,
        session: found.session,
        presented: found.presented,
        ip: found.ip,
    })
}

pub fn check_client_csrf(
    req: &Request,
    ctx: &ClientCtx,
    presented_csrf: Option<&str>,
) -> Result<(), AuthFailure> {
    check_session_csrf(
        req,
        ctx.presented,
        &ctx.session,
        &ctx.tenant,
        presented_csrf,
    )
}

/// The API extractor: a client session, CSRF checked from `X-CSRF-Token`.
pub struct PortalClient(pub ClientCtx);

impl<'a> FromRequest<'a> for PortalClient {
    async fn from_request(req: &'a Request, _body: &mut RequestBody) -> poem::Result<Self> {
        let Some(state) = req.data::<AppState>() else {
            return Err(ApiError::internal("application state missing").into());
        };
        let ctx = authenticate_client(req, state)
            .await
            .map_err(ApiError::from)?;
        let header = req
            .headers()
            .get("x-csrf-token")
            .and_then(|v| v.to_str().ok());
        check_client_csrf(req, &ctx, header).map_err(ApiError::from)?;
        Ok(PortalClient(ctx))
    }
}
