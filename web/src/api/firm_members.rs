//! `/api/v1/firm/members`: administrators invite members and edit their name, email,
//! administrator flag, Portal right and active state.

use poem::web::Data;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};
use portico_platform::ids::MemberId;
use portico_tenants::members::{self, MemberError, MemberPatch, NewMember};

use super::views::MemberView;
use super::{Answer, ApiTags, Conflict, JsonBody, Session, Unprocessable};
use crate::auth::FirmMember;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

#[derive(Object)]
pub struct InviteMemberBody {
    pub name: String,
    pub email: String,
    #[oai(default)]
    pub is_admin: bool,
    /// "Permitted to share items and invite clients to the Portal".
    #[oai(default)]
    pub portal_rights: bool,
}

#[derive(Object)]
pub struct UpdateMemberBody {
    #[oai(nullable)]
    pub name: Option<String>,
    #[oai(nullable)]
    pub email: Option<String>,
    #[oai(nullable)]
    pub is_admin: Option<bool>,
    #[oai(nullable)]
    pub portal_rights: Option<bool>,
    /// Deactivating ends the member's sessions at once.
    #[oai(nullable)]
    pub active: Option<bool>,
}

#[derive(ApiResponse)]
pub enum Invited {
    /// The member exists and has been emailed a setup link.
    #[oai(status = 201)]
    Created(Json<MemberView>),
}

impl From<MemberError> for ApiError {
    fn from(err: MemberError) -> Self {
        match err {
            MemberError::Invalid(msg) => ApiError::unprocessable(msg),
            MemberError::EmailTaken(_) => ApiError::conflict(err.to_string()),
            MemberError::LastAdministrator(msg) => ApiError::conflict(msg),
            MemberError::NotFound => ApiError::not_found(),
            MemberError::Db(err) => ApiError::internal(err),
        }
    }
}

fn member_id(raw: &str) -> ApiResult<MemberId> {
    raw.parse().map_err(|_| ApiError::not_found())
}

pub struct FirmMembersApi;

#[OpenApi(prefix_path = "/firm", tag = "ApiTags::FirmMembers")]
impl FirmMembersApi {
    /// List members (administrators only)
    #[oai(path = "/members", method = "get")]
    async fn list(&self, auth: FirmMember) -> Answer<Json<Vec<MemberView>>, Session> {
        let ctx = auth.0;
        ctx.require_admin()?;
        let tx = ctx.db.read().await?;
        let list = members::list(&tx).await?;
        tx.commit().await?;
        Ok(Json(list.into_iter().map(MemberView::from).collect()))
    }

    /// Invite a member (administrators only)
    ///
    /// Creates the account and emails a setup link.
    #[oai(path = "/members", method = "post")]
    async fn invite(
        &self,
        state: Data<&AppState>,
        auth: FirmMember,
        body: Json<InviteMemberBody>,
    ) -> Answer<Invited, (Session, JsonBody, Conflict, Unprocessable)> {
        let ctx = auth.0;
        ctx.require_admin()?;
        let body = body.0;
        let options = crate::firm_options::options_or_defaults(&state, &ctx.tenant).await;
        let firm_name = options.portal_name(&ctx.tenant.name).to_owned();
        let valid_for =
            chrono::Duration::hours(i64::from(state.settings.tenants.setup_token_valid_hours));
        let tx = ctx.db.write().await?;
        let member = members::invite(
            &tx,
            &ctx.member,
            NewMember {
                name: body.name,
                email: body.email,
                is_admin: body.is_admin,
                portal_rights: body.portal_rights,
            },
            &ctx.tenant.portal_url,
            &firm_name,
            valid_for,
            ctx.ip.clone(),
        )
        .await?;
        tx.commit().await?;
        Ok(Invited::Created(Json(member.into())))
    }

    /// Show a member (administrators only)
    #[oai(path = "/members/:id", method = "get")]
    async fn get(&self, auth: FirmMember, id: Path<String>) -> Answer<Json<MemberView>, Session> {
        let ctx = auth.0;
        ctx.require_admin()?;
        let id = member_id(&id.0)?;
        let tx = ctx.db.read().await?;
        let member = members::get(&tx, id)
            .await?
            .ok_or_else(ApiError::not_found)?;
        tx.commit().await?;
        Ok(Json(member.into()))
    }

    /// Change a member (administrators only)
    ///
    /// The firm always keeps one active administrator (409 otherwise). Deactivating a member
    /// ends their sessions at once.
    #[oai(path = "/members/:id", method = "patch")]
    async fn update(
        &self,
        auth: FirmMember,
        id: Path<String>,
        body: Json<UpdateMemberBody>,
    ) -> Answer<Json<MemberView>, (Session, JsonBody, Conflict, Unprocessable)> {
        let ctx = auth.0;
        ctx.require_admin()?;
        let id = member_id(&id.0)?;
        let body = body.0;
        let tx = ctx.db.write().await?;
        let member = members::update(
            &tx,
            &ctx.member,
            id,
            MemberPatch {
                name: body.name,
                email: body.email,
                is_admin: body.is_admin,
                portal_rights: body.portal_rights,
                active: body.active,
            },
            ctx.ip.clone(),
        )
        .await?;
        tx.commit().await?;
        Ok(Json(member.into()))
    }

    /// Resend the setup link (administrators only)
    ///
    /// For a member who has not chosen a password yet; the previous link stops working.
    #[oai(path = "/members/:id/setup-link", method = "post")]
    async fn resend_setup(
        &self,
        state: Data<&AppState>,
        auth: FirmMember,
        id: Path<String>,
    ) -> Answer<Json<MemberView>, (Session, Unprocessable)> {
        let ctx = auth.0;
        ctx.require_admin()?;
        let id = member_id(&id.0)?;
        let options = crate::firm_options::options_or_defaults(&state, &ctx.tenant).await;
        let firm_name = options.portal_name(&ctx.tenant.name).to_owned();
        let valid_for =
            chrono::Duration::hours(i64::from(state.settings.tenants.setup_token_valid_hours));
        let tx = ctx.db.write().await?;
        let member = members::resend_setup(
            &tx,
            &ctx.member,
            id,
            &ctx.tenant.portal_url,
            &firm_name,
            valid_for,
            ctx.ip.clone(),
        )
        .await?;
        tx.commit().await?;
        Ok(Json(member.into()))
    }
}
