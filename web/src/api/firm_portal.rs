//! `/api/v1/firm`: managing clients' Portal access — the Manage Portal dialog (invite, files,
//! disable, resend, change login email) and the file's Portal view.

use chrono::{DateTime, Utc};
use poem::web::Data;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};
use portico_platform::ids::{ContactId, FileId};
use portico_tenants::portal_access::{self, AllowRequest, FileClient, PortalError, PortalView};

use super::{Answer, ApiTags, Conflict, JsonBody, Session, Unprocessable};
use crate::auth::FirmMember;
use crate::error::{ApiError, ApiResult};
use crate::portal_accounts::firm_context;
use crate::state::AppState;

#[derive(Object)]
pub struct PortalAccessView {
    /// `not_invited`, `invited`, `active` or `disabled`.
    pub status: String,
    #[oai(nullable)]
    pub login_email: Option<String>,
    /// A new login email waiting for the client's confirmation.
    #[oai(nullable)]
    pub pending_login_email: Option<String>,
    #[oai(nullable)]
    pub last_login_at: Option<DateTime<Utc>>,
    #[oai(nullable)]
    pub invitation_expires_at: Option<DateTime<Utc>>,
    /// Files shared with the client that you can access.
    pub file_ids: Vec<uuid::Uuid>,
    /// How many shared files you cannot access.
    pub other_shared_files: u32,
}

impl From<PortalView> for PortalAccessView {
    fn from(v: PortalView) -> Self {
        Self {
            status: v.status.as_str().to_owned(),
            login_email: v.login_email,
            pending_login_email: v.pending_login_email,
            last_login_at: v.last_login_at,
            invitation_expires_at: v.invitation_expires_at,
            file_ids: v.file_ids.into_iter().map(|f| f.as_uuid()).collect(),
            other_shared_files: u32::try_from(v.other_shared_files).unwrap_or(u32::MAX),
        }
    }
}

#[derive(Object)]
pub struct SetPortalAccessBody {
    /// Allow this contact to access the Portal. `false` disables access.
    pub allow: bool,
    /// One of the contact's email addresses; required with `allow: true`.
    #[oai(nullable)]
    pub login_email: Option<String>,
    /// Files to share (where the contact is a client, open, and you can access them).
    #[oai(default)]
    pub file_ids: Vec<uuid::Uuid>,
    /// The invitation text; must keep the `{setup_link}` placeholder. Default: the firm's template.
    #[oai(nullable)]
    pub message: Option<String>,
}

#[derive(Object)]
pub struct LoginEmailBody {
    pub login_email: String,
}

#[derive(Object)]
pub struct FileShareBody {
    pub shared: bool,
}

#[derive(Object)]
pub struct FileClientView {
    pub contact_id: uuid::Uuid,
    pub name: String,
    pub status: String,
    /// Whether this client can see this file in the Portal.
    pub has_file_access: bool,
}

impl From<FileClient> for FileClientView {
    fn from(c: FileClient) -> Self {
        Self {
            contact_id: c.contact_id.as_uuid(),
            name: c.name,
            status: c.status.as_str().to_owned(),
            has_file_access: c.has_file_access,
        }
    }
}

#[derive(Object)]
pub struct SharedItemView {
    /// `document`, `note`, `appointment`, `task` or `custom_field`.
    pub kind: String,
    pub id: uuid::Uuid,
    pub title: String,
    pub created_at: DateTime<Utc>,
    pub owner: String,
}

#[derive(Object)]
pub struct FilePortalView {
    pub clients: Vec<FileClientView>,
    pub shared_items: Vec<SharedItemView>,
}

impl From<PortalError> for ApiError {
    fn from(err: PortalError) -> Self {
        match err {
            PortalError::Forbidden(reason) => ApiError::forbidden(reason),
            PortalError::Invalid(reason) => ApiError::unprocessable(reason),
            PortalError::Conflict(reason) => ApiError::conflict(reason),
            PortalError::NotFound => ApiError::not_found(),
            PortalError::Db(err) => ApiError::internal(err),
        }
    }
}

fn parse_id<T: std::str::FromStr>(raw: &str) -> ApiResult<T> {
    raw.parse().map_err(|_| ApiError::not_found())
}

pub struct FirmPortalApi;

#[OpenApi(prefix_path = "/firm", tag = "ApiTags::FirmPortal")]
impl FirmPortalApi {
    /// A contact's Portal status
    #[oai(path = "/contacts/:id/portal", method = "get")]
    async fn status(
        &self,
        auth: FirmMember,
        id: Path<String>,
    ) -> Answer<Json<PortalAccessView>, Session> {
        let ctx = auth.0;
        let contact: ContactId = parse_id(&id.0)?;
        let tx = ctx.db.read().await?;
        let view = portal_access::status(&tx, &ctx.member, contact).await?;
        tx.commit().await?;
        Ok(Json(view.into()))
    }

    /// Allow, update or disable a contact's Portal access
    ///
    /// `{allow: true, login_email, file_ids, message?}` invites the contact (or updates the
    /// shared files of an invited or active client); `{allow: false}` disables access: the
    /// account is closed, sessions end at once and file shares are dropped.
    #[oai(path = "/contacts/:id/portal", method = "put")]
    async fn set(
        &self,
        state: Data<&AppState>,
        auth: FirmMember,
        id: Path<String>,
        body: Json<SetPortalAccessBody>,
    ) -> Answer<Json<PortalAccessView>, (Session, JsonBody, Conflict, Unprocessable)> {
        let ctx = auth.0;
        let contact: ContactId = parse_id(&id.0)?;
        let body = body.0;
        // Before the transaction: the firm's options may need a connection of their own.
        let firm = firm_context(&state, &ctx.tenant).await?;
        let tx = ctx.db.write().await?;
        let view = if body.allow {
            let login_email = body
                .login_email
                .filter(|e| !e.trim().is_empty())
                .ok_or_else(|| {
                    ApiError::unprocessable("login_email is required to allow Portal access")
                })?;
            let request = AllowRequest {
                login_email,
                file_ids: body.file_ids.into_iter().map(FileId::from_uuid).collect(),
                message: body.message,
            };
            portal_access::allow(&tx, &ctx.member, contact, request, &firm, ctx.ip.clone())
                .await?
                .view
        } else {
            portal_access::disable(&tx, &ctx.member, contact, ctx.ip.clone()).await?
        };
        tx.commit().await?;
        Ok(Json(view.into()))
    }

    /// Resend the invitation
    ///
    /// A fresh link is emailed; the previous one stops working.
    #[oai(path = "/contacts/:id/portal/resend", method = "post")]
    async fn resend(
        &self,
        state: Data<&AppState>,
        auth: FirmMember,
        id: Path<String>,
    ) -> Answer<Json<PortalAccessView>, (Session, Conflict)> {
        let ctx = auth.0;
        let contact: ContactId = parse_id(&id.0)?;
        let firm = firm_context(&state, &ctx.tenant).await?;
        let tx = ctx.db.write().await?;
        let view = portal_access::resend(&tx, &ctx.member, contact, &firm, ctx.ip.clone()).await?;
        tx.commit().await?;
        Ok(Json(view.into()))
    }

    /// Change the login email
    ///
    /// A confirmation link goes to the new address; the old login keeps working until the
    /// client confirms.
    #[oai(path = "/contacts/:id/portal/login-email", method = "post")]
    async fn change_login_email(
        &self,
        state: Data<&AppState>,
        auth: FirmMember,
        id: Path<String>,
        body: Json<LoginEmailBody>,
    ) -> Answer<Json<PortalAccessView>, (Session, JsonBody, Conflict, Unprocessable)> {
        let ctx = auth.0;
        let contact: ContactId = parse_id(&id.0)?;
        let firm = firm_context(&state, &ctx.tenant).await?;
        let valid_for = chrono::Duration::days(i64::from(firm.options.invitation_valid_days));
        let tx = ctx.db.write().await?;
        let view = portal_access::change_login_email(
            &tx,
            &ctx.member,
            contact,
            &body.0.login_email,
            &firm,
            valid_for,
            ctx.ip.clone(),
        )
        .await?;
        tx.commit().await?;
        Ok(Json(view.into()))
    }

    /// A file's Portal view
    ///
    /// The file's clients with their Portal status and whether they can see this file, and
    /// the items of the file marked shared.
    #[oai(path = "/files/:id/portal", method = "get")]
    async fn file_portal(
        &self,
        auth: FirmMember,
        id: Path<String>,
    ) -> Answer<Json<FilePortalView>, Session> {
        let ctx = auth.0;
        let file: FileId = parse_id(&id.0)?;
        let tx = ctx.db.read().await?;
        let clients = portal_access::file_clients(&tx, &ctx.member, file).await?;
        let shared_items = shared_items(&tx, &ctx.member, file).await?;
        tx.commit().await?;
        Ok(Json(FilePortalView {
            clients: clients.into_iter().map(FileClientView::from).collect(),
            shared_items,
        }))
    }

    /// Share or unshare a file with one of its clients
    #[oai(path = "/files/:id/portal/clients/:contact_id", method = "put")]
    async fn share_file(
        &self,
        state: Data<&AppState>,
        auth: FirmMember,
        id: Path<String>,
        contact_id: Path<String>,
        body: Json<FileShareBody>,
    ) -> Answer<Json<FilePortalView>, (Session, JsonBody, Conflict, Unprocessable)> {
        let ctx = auth.0;
        let file: FileId = parse_id(&id.0)?;
        let contact: ContactId = parse_id(&contact_id.0)?;
        let firm = firm_context(&state, &ctx.tenant).await?;
        let tx = ctx.db.write().await?;
        portal_access::set_file_shared(
            &tx,
            &ctx.member,
            contact,
            file,
            body.0.shared,
            &firm,
            ctx.ip.clone(),
        )
        .await?;
        if body.0.shared {
            let summary = format!("a file was shared with you ({})", firm.firm_name);
            portico_tenants::notifications::queue_client_notices_if(
                &tx,
                firm.options.notify_client_on_share,
                file,
                &summary,
            )
            .await?;
        }
        let clients = portal_access::file_clients(&tx, &ctx.member, file).await?;
        let shared_items = shared_items(&tx, &ctx.member, file).await?;
        tx.commit().await?;
        Ok(Json(FilePortalView {
            clients: clients.into_iter().map(FileClientView::from).collect(),
            shared_items,
        }))
    }
}

/// The file's "Shared items list": every item marked shared, whether or not the file itself
/// is shared (clients see them only once it is).
async fn shared_items(
    tx: &portico_platform::TenantTx,
    member: &portico_tenants::members::Member,
    file: FileId,
) -> ApiResult<Vec<SharedItemView>> {
    let mut items: Vec<SharedItemView> = portico_tenants::items::shared_items(tx, member, file)
        .await?
        .into_iter()
        .map(|i| SharedItemView {
            kind: i.kind,
            id: i.id,
            title: i.title,
            created_at: i.created_at,
            owner: i.owner,
        })
        .collect();
    for (id, title, created_at, owner) in
        portico_tenants::documents::shared_documents(tx, member, file).await?
    {
        items.push(SharedItemView {
            kind: "document".into(),
            id,
            title,
            created_at,
            owner,
        });
    }
    for field in portico_tenants::custom_fields::shared_items(tx, member, file)
        .await?
        .unwrap_or_default()
    {
        items.push(SharedItemView {
            kind: "custom_field".into(),
            id: field.field_id.as_uuid(),
            title: field.name,
            created_at: field.shared_at,
            owner: field.owner,
        });
    }
    items.sort_by_key(|i| std::cmp::Reverse(i.created_at));
    Ok(items)
}
