//! `/api/v1/portal`: the client's side — invitations, sign-in, password reset, shared files.

use chrono::{DateTime, Utc};
use poem::Request;
use poem::web::Data;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};
use portico_platform::ids::FileId;
use portico_tenants::portal_access::{Client, SharedFile};
use secrecy::SecretString;

use super::firm_auth::{Accepted, EmailBody, PasswordBody, SignInBody, SignedOut, end_session};
use super::kept_json::KeptJson;
use super::{
    Answer, ApiTags, FirmHost, Gone, JsonBody, Session, TooManyRequests, Unauthorized,
    Unprocessable,
};
use crate::auth::{client_ip, firm_of, session_cookie, sign_in};
use crate::client_auth::{Clients, PortalClient};
use crate::client_reads;
use crate::error::ApiError;
use crate::portal_accounts;
use crate::state::AppState;

#[derive(Object)]
pub struct InvitationInfo {
    pub firm_name: String,
    /// The login name the client will use.
    pub login_email: String,
    pub terms_of_service: String,
}

#[derive(Object)]
pub struct AcceptInvitationBody {
    /// Must be true: the client accepts the firm's terms of service.
    pub accept_terms: bool,
    pub password: String,
}

#[derive(Object)]
pub struct ClientView {
    pub contact_id: uuid::Uuid,
    pub name: String,
    pub login_email: String,
    #[oai(nullable)]
    pub last_login_at: Option<DateTime<Utc>>,
}

impl From<Client> for ClientView {
    fn from(c: Client) -> Self {
        Self {
            contact_id: c.contact_id.as_uuid(),
            name: c.name,
            login_email: c.login_email,
            last_login_at: c.last_login_at,
        }
    }
}

#[derive(Object)]
pub struct ClientSessionView {
    pub token: String,
    pub csrf_token: String,
    pub expires_at: DateTime<Utc>,
    pub client: ClientView,
}

#[derive(Object)]
pub struct ClientMeView {
    pub client: ClientView,
    pub csrf_token: String,
}

#[derive(ApiResponse)]
pub enum ClientSignedIn {
    /// Signed in; the session cookie is set too.
    #[oai(status = 200)]
    Ok(
        Json<ClientSessionView>,
        #[oai(header = "Set-Cookie")] String,
    ),
}

#[derive(Object)]
pub struct PortalFileView {
    pub id: uuid::Uuid,
    pub number: String,
    pub name: String,
    pub file_type: String,
    /// `open` or `closed`.
    pub status: String,
    pub shared_at: DateTime<Utc>,
}

impl From<SharedFile> for PortalFileView {
    fn from(f: SharedFile) -> Self {
        Self {
            id: f.id.as_uuid(),
            number: f.number,
            name: f.name,
            file_type: f.file_type,
            status: f.status.as_str().to_owned(),
            shared_at: f.shared_at,
        }
    }
}

pub struct PortalApi;

#[OpenApi(prefix_path = "/portal", tag = "ApiTags::Portal")]
impl PortalApi {
    /// Look at an invitation
    #[oai(path = "/invitations/:token", method = "get")]
    async fn invitation(
        &self,
        req: &Request,
        state: Data<&AppState>,
        token: Path<String>,
    ) -> Answer<Json<InvitationInfo>, (FirmHost, Gone)> {
        let tenant = firm_of(req).ok_or_else(ApiError::not_found)?;
        let view = portal_accounts::invitation(&state, &tenant, &token.0).await?;
        let firm = portal_accounts::firm_context(&state, &tenant).await?;
        Ok(Json(InvitationInfo {
            firm_name: firm.firm_name,
            login_email: view.login_email,
            terms_of_service: firm.options.terms_of_service,
        }))
    }

    /// Accept an invitation
    ///
    /// Accepts the terms of service and sets the password; the account becomes active. The
    /// client is emailed their login name, and the responsible lawyer of each shared file is
    /// told.
    #[oai(path = "/invitations/:token/accept", method = "post")]
    async fn accept(
        &self,
        req: &Request,
        state: Data<&AppState>,
        token: Path<String>,
        body: Json<AcceptInvitationBody>,
    ) -> Answer<Json<ClientView>, (FirmHost, JsonBody, Gone, Unprocessable)> {
        let tenant = firm_of(req).ok_or_else(ApiError::not_found)?;
        let password = SecretString::from(body.0.password);
        let client = portal_accounts::accept_invitation(
            &state,
            &tenant,
            &token.0,
            body.0.accept_terms,
            &password,
        )
        .await?;
        Ok(Json(client.into()))
    }

    /// Sign in
    #[oai(path = "/session", method = "post")]
    async fn sign_in(
        &self,
        req: &Request,
        state: Data<&AppState>,
        body: Json<SignInBody>,
    ) -> Answer<ClientSignedIn, (FirmHost, JsonBody, Unauthorized, TooManyRequests)> {
        let tenant = firm_of(req).ok_or_else(ApiError::not_found)?;
        if !crate::middleware::is_same_origin_request(req, &tenant.portal_url) {
            return Err(ApiError::forbidden("cross-site sign-in refused").into());
        }
        let options = crate::firm_options::options(&state, &tenant).await?;
        if !options.portal_enabled {
            return Err(
                ApiError::forbidden("the Client Portal of this firm is currently closed").into(),
            );
        }
        let password = SecretString::from(body.0.password);
        let (client, session) = sign_in::<Clients>(
            &state,
            &tenant,
            &body.0.email,
            &password,
            client_ip(req, &state),
        )
        .await?;
        let cookie = session_cookie(&state, session.token.reveal()).to_string();
        Ok(ClientSignedIn::Ok(
            Json(ClientSessionView {
                token: session.token.reveal().to_owned(),
                csrf_token: session.csrf_token,
                expires_at: session.expires_at,
                client: client.into(),
            }),
            cookie,
        ))
    }

    /// Sign out
    #[oai(path = "/session", method = "delete")]
    async fn sign_out(
        &self,
        state: Data<&AppState>,
        client: PortalClient,
    ) -> Answer<SignedOut, Session> {
        let ctx = client.0;
        Ok(end_session(&state, &ctx.db, ctx.session.id).await?)
    }

    /// The signed-in client
    #[oai(path = "/me", method = "get")]
    async fn me(&self, client: PortalClient) -> Answer<Json<ClientMeView>, Session> {
        Ok(Json(ClientMeView {
            csrf_token: client.0.session.csrf_token.clone(),
            client: client.0.client.into(),
        }))
    }

    /// Ask for a password-reset link
    ///
    /// Always 202; the email (if the address is a login) is sent in the background, so the
    /// answer never tells whether the address exists.
    #[oai(path = "/password-reset", method = "post")]
    async fn request_reset(
        &self,
        req: &Request,
        state: Data<&AppState>,
        body: Json<EmailBody>,
    ) -> Answer<Accepted, (FirmHost, JsonBody)> {
        let tenant = firm_of(req).ok_or_else(ApiError::not_found)?;
        portal_accounts::request_reset_in_background(&state, &tenant, body.0.email);
        Ok(Accepted::Accepted)
    }

    /// Set a new password from a reset link
    #[oai(path = "/password-reset/:token", method = "post")]
    async fn complete_reset(
        &self,
        req: &Request,
        state: Data<&AppState>,
        token: Path<String>,
        body: Json<PasswordBody>,
    ) -> Answer<Json<ClientView>, (FirmHost, JsonBody, Gone, Unprocessable)> {
        let tenant = firm_of(req).ok_or_else(ApiError::not_found)?;
        let password = SecretString::from(body.0.password);
        let client = portal_accounts::complete_reset(&state, &tenant, &token.0, &password).await?;
        Ok(Json(client.into()))
    }

    /// Confirm a new login email
    #[oai(path = "/verify-email/:token", method = "post")]
    async fn verify_email(
        &self,
        req: &Request,
        state: Data<&AppState>,
        token: Path<String>,
    ) -> Answer<Json<ClientView>, (FirmHost, Gone)> {
        let tenant = firm_of(req).ok_or_else(ApiError::not_found)?;
        let client = portal_accounts::verify_login_email(&state, &tenant, &token.0).await?;
        Ok(Json(client.into()))
    }

    /// Files shared with me
    #[oai(path = "/files", method = "get")]
    async fn files(
        &self,
        state: Data<&AppState>,
        client: PortalClient,
    ) -> Answer<KeptJson<Vec<PortalFileView>>, Session> {
        let ctx = &client.0;
        let load = async {
            let files = client_reads::shared_files(&state, ctx).await?;
            Ok::<_, ApiError>(files.iter().cloned().map(PortalFileView::from).collect())
        };
        Ok(KeptJson::remembered(
            &state.client_reads,
            ctx,
            "shared files (JSON)",
            String::new(),
            load,
        )
        .await?)
    }

    /// One file shared with me
    #[oai(path = "/files/:id", method = "get")]
    async fn file(
        &self,
        state: Data<&AppState>,
        client: PortalClient,
        id: Path<String>,
    ) -> Answer<Json<PortalFileView>, Session> {
        let id: FileId = id.0.parse().map_err(|_| ApiError::not_found())?;
        let file = client_reads::shared_file(&state, &client.0, id).await?;
        Ok(Json(file.ok_or_else(ApiError::not_found)?.into()))
    }
}
