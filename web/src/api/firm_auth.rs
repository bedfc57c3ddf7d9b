//! `/api/v1/firm` authentication: account setup from the emailed link, sign-in and sign-out,
//! password reset. Firm hosts only.

use chrono::{DateTime, Utc};
use poem::Request;
use poem::web::Data;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};
use portico_tenants::sessions;
use secrecy::SecretString;

use super::views::MemberView;
use super::{
    Answer, ApiTags, FirmHost, Gone, JsonBody, Session, TooManyRequests, Unauthorized,
    Unprocessable,
};
use crate::auth::{FirmMember, client_ip, firm_of, session_cookie, sign_in_member};
use crate::error::{ApiError, ApiResult};
use crate::firm_accounts::{self, PasswordLinkError};
use crate::state::AppState;

#[derive(Object)]
pub struct PasswordBody {
    pub password: String,
}

#[derive(Object)]
pub struct SignInBody {
    pub email: String,
    pub password: String,
}

#[derive(Object)]
pub struct EmailBody {
    pub email: String,
}

#[derive(Object)]
pub struct SessionView {
    /// Bearer token for `Authorization: Bearer …` (the same value as the session cookie).
    pub token: String,
    /// Send as `X-CSRF-Token` on unsafe requests authenticated by the cookie.
    pub csrf_token: String,
    pub expires_at: DateTime<Utc>,
    pub member: MemberView,
}

#[derive(Object)]
pub struct MeView {
    pub member: MemberView,
    pub csrf_token: String,
}

#[derive(ApiResponse)]
pub enum SignedIn {
    /// Signed in; the session cookie is set too.
    #[oai(status = 200)]
    Ok(Json<SessionView>, #[oai(header = "Set-Cookie")] String),
}

#[derive(ApiResponse)]
pub enum SignedOut {
    /// The session has ended and its cookie is cleared.
    #[oai(status = 204)]
    Done(#[oai(header = "Set-Cookie")] String),
}

#[derive(ApiResponse)]
pub enum Accepted {
    /// Accepted. If the email belongs to an account, a reset link is on its way.
    #[oai(status = 202)]
    Accepted,
}

impl From<PasswordLinkError> for ApiError {
    fn from(err: PasswordLinkError) -> Self {
        match err {
            PasswordLinkError::Unusable => {
                ApiError::new(poem::http::StatusCode::GONE, err.to_string())
            }
            PasswordLinkError::Rejected(reason) => ApiError::unprocessable(reason),
            PasswordLinkError::Internal(cause) => ApiError::internal(cause),
        }
    }
}

/// Ends a session (member or client) and answers with the cookie cleared.
pub async fn end_session(
    state: &AppState,
    db: &portico_platform::TenantDb,
    session: uuid::Uuid,
) -> ApiResult<SignedOut> {
    let tx = db.write().await?;
    sessions::end(&tx, session).await?;
    tx.commit().await?;
    let mut cookie = session_cookie(state, "");
    cookie.make_removal();
    Ok(SignedOut::Done(cookie.to_string()))
}

pub struct FirmAuthApi;

#[OpenApi(prefix_path = "/firm", tag = "ApiTags::FirmAuth")]
impl FirmAuthApi {
    /// Complete account setup
    ///
    /// Sets the password of the member whose setup link this is. The link works once.
    #[oai(path = "/setup/:token", method = "post")]
    async fn setup(
        &self,
        req: &Request,
        state: Data<&AppState>,
        token: Path<String>,
        body: Json<PasswordBody>,
    ) -> Answer<Json<MemberView>, (FirmHost, JsonBody, Gone, Unprocessable)> {
        let tenant = firm_of(req).ok_or_else(ApiError::not_found)?;
        let password = SecretString::from(body.0.password);
        let member = firm_accounts::complete_setup(
            &state,
            &tenant,
            &token.0,
            &password,
            client_ip(req, &state),
        )
        .await?;
        Ok(Json(member.into()))
    }

    /// Sign in
    #[oai(path = "/session", method = "post")]
    async fn sign_in(
        &self,
        req: &Request,
        state: Data<&AppState>,
        body: Json<SignInBody>,
    ) -> Answer<SignedIn, (FirmHost, JsonBody, Unauthorized, TooManyRequests)> {
        let tenant = firm_of(req).ok_or_else(ApiError::not_found)?;
        if !crate::middleware::is_same_origin_request(req, &tenant.portal_url) {
            return Err(ApiError::forbidden("cross-site sign-in refused").into());
        }
        let password = SecretString::from(body.0.password);
        let (member, session) = sign_in_member(
            &state,
            &tenant,
            &body.0.email,
            &password,
            client_ip(req, &state),
        )
        .await?;
        let cookie = session_cookie(&state, session.token.reveal()).to_string();
        Ok(SignedIn::Ok(
            Json(SessionView {
                token: session.token.reveal().to_owned(),
                csrf_token: session.csrf_token,
                expires_at: session.expires_at,
                member: member.into(),
            }),
            cookie,
        ))
    }

    /// Sign out
    #[oai(path = "/session", method = "delete")]
    async fn sign_out(
        &self,
        state: Data<&AppState>,
        member: FirmMember,
    ) -> Answer<SignedOut, Session> {
        let ctx = member.0;
        Ok(end_session(&state, &ctx.db, ctx.session.id).await?)
    }

    /// The signed-in member
    #[oai(path = "/me", method = "get")]
    async fn me(&self, member: FirmMember) -> Answer<Json<MeView>, Session> {
        Ok(Json(MeView {
            csrf_token: member.0.session.csrf_token.clone(),
            member: member.0.member.into(),
        }))
    }

    /// Ask for a password-reset link
    ///
    /// Always 202, whether or not the email belongs to an account; the email (if any) is sent
    /// in the background so the answer takes the same time either way.
    #[oai(path = "/password-reset", method = "post")]
    async fn request_reset(
        &self,
        req: &Request,
        state: Data<&AppState>,
        body: Json<EmailBody>,
    ) -> Answer<Accepted, (FirmHost, JsonBody)> {
        let tenant = firm_of(req).ok_or_else(ApiError::not_found)?;
        firm_accounts::request_reset_in_background(&state, &tenant, body.0.email);
        Ok(Accepted::Accepted)
    }

    /// Set a new password from a reset link
    ///
    /// The link works once; every session of the member ends.
    #[oai(path = "/password-reset/:token", method = "post")]
    async fn complete_reset(
        &self,
        req: &Request,
        state: Data<&AppState>,
        token: Path<String>,
        body: Json<PasswordBody>,
    ) -> Answer<Json<MemberView>, (FirmHost, JsonBody, Gone, Unprocessable)> {
        let tenant = firm_of(req).ok_or_else(ApiError::not_found)?;
        let password = SecretString::from(body.0.password);
        let member = firm_accounts::complete_reset(
            &state,
            &tenant,
            &token.0,
            &password,
            client_ip(req, &state),
        )
        .await?;
        Ok(Json(member.into()))
    }
}
