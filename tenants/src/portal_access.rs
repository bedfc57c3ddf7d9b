//! Client Portal access (SPEC §4–6): inviting a contact, the invitation and its acceptance,
//! status, resending, disabling, changing the login email, and sharing files with a client.
//!
//! Decisions:
//! - One Portal account per contact. Disabling keeps the row with status `disabled` (so the
//!   contact shows "Disabled"), clears the password, ends every session, revokes every link and
//!   drops the file shares; item-level sharing flags are untouched. Allowing access again sends
//!   a fresh invitation.
//! - A login email is unique among the firm's accounts that are not disabled; the same address
//!   at another firm is another, unrelated account.
//! - A member may share only files they can access and where the contact is a client; shares
//!   of files the member cannot access are left as they are when the member edits the list, and
//!   the member may disable access only if they can access every shared file.
//! - Invitations expire after the firm's `invitation_valid_days`; "Resend invitation" revokes the
//!   old link. The invitation text is the firm's template or the member's edited copy; either
//!   must keep the `{setup_link}` placeholder, which becomes the link.
//! - The contact's current name is shown everywhere (the reference product kept the old one).

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, Utc};
use portico_platform::ids::{ContactId, FileId, MemberId};
use portico_platform::mail::{self, EnqueueError, OutgoingEmail};
use portico_platform::{TenantActiveModel, TenantScoped, TenantTx};
use sea_orm::sea_query::Expr;
use sea_orm::sea_query::Query;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, DbErr, EntityTrait, JoinType, QueryFilter,
    QueryOrder, QuerySelect, RelationDef, SqlErr,
};
use serde::Serialize;
use uuid::Uuid;

use crate::activity::{self, ActivityKind};
use crate::audit::{self, Actor, AuditEvent};
use crate::contacts::{self, Contact};
use crate::entity::{contact, matter, matter_person, portal_account, portal_file_share};
use crate::files::{self, FileStatus};
use crate::members::{self, Member};
use crate::options::{FirmOptions, SETUP_LINK_PLACEHOLDER};
use crate::sessions::{self, PrincipalKind};
use crate::tokens::{self, LinkError, TokenPurpose};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PortalStatus {
    NotInvited,
    Invited,
    Active,
    Disabled,
}

impl PortalStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            PortalStatus::NotInvited => "not_invited",
            PortalStatus::Invited => "invited",
            PortalStatus::Active => "active",
            PortalStatus::Disabled => "disabled",
        }
    }

    fn of_row(row: Option<&portal_account::Model>) -> Self {
        match row.map(|r| r.status.as_str()) {
            None => PortalStatus::NotInvited,
            Some("active") => PortalStatus::Active,
            Some("invited") => PortalStatus::Invited,
            Some(_) => PortalStatus::Disabled,
        }
    }
}

/// A contact's Portal access as a member sees it.
#[derive(Clone, Debug, Serialize)]
pub struct PortalView {
    pub contact_id: ContactId,
    pub status: PortalStatus,
    pub login_email: Option<String>,
    pub pending_login_email: Option<String>,
    pub last_login_at: Option<DateTime<Utc>>,
    pub invitation_expires_at: Option<DateTime<Utc>>,
    /// Shared files the viewer can access.
    pub file_ids: Vec<FileId>,
    /// Shared files the viewer cannot access (counted, never named).
    pub other_shared_files: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum PortalError {
    /// A rule the member can see was broken; the message names it.
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Conflict(String),
    #[error("not found")]
    NotFound,
    #[error(transparent)]
    Db(#[from] DbErr),
}

impl From<EnqueueError> for PortalError {
    fn from(err: EnqueueError) -> Self {
        match err {
            EnqueueError::BadAddress(a) => {
                PortalError::Invalid(format!("`{a}` is not a valid email address"))
            }
            EnqueueError::Db(err) => PortalError::Db(err),
        }
    }
}

/// What invitations need to know about the firm.
#[derive(Clone, Debug)]
pub struct FirmContext {
    pub portal_url: String,
    /// The portal's display name.
    pub firm_name: String,
    pub options: FirmOptions,
}

async fn account_of(
    tx: &TenantTx,
    contact: ContactId,
) -> Result<Option<portal_account::Model>, DbErr> {
    portal_account::Entity::scoped(tx)
        .filter(portal_account::Column::ContactId.eq(contact.as_uuid()))
        .one(tx.conn())
        .await
}

async fn shared_file_ids(tx: &TenantTx, contact: ContactId) -> Result<BTreeSet<Uuid>, DbErr> {
    Ok(portal_file_share::Entity::scoped(tx)
        .filter(portal_file_share::Column::ContactId.eq(contact.as_uuid()))
        .all(tx.conn())
        .await?
        .into_iter()
        .map(|s| s.matter_id)
        .collect())
}

async fn accessible_ids(
    tx: &TenantTx,
    viewer: &Member,
    ids: &BTreeSet<Uuid>,
) -> Result<BTreeSet<Uuid>, DbErr> {
    if ids.is_empty() {
        return Ok(BTreeSet::new());
    }
    Ok(files::accessible(tx, viewer)
        .filter(matter::Column::Id.is_in(ids.iter().copied()))
        .all(tx.conn())
        .await?
        .into_iter()
        .map(|m| m.id)
        .collect())
}

async fn contact_or_404(tx: &TenantTx, contact: ContactId) -> Result<Contact, PortalError> {
    contacts::get(tx, contact)
        .await?
        .ok_or(PortalError::NotFound)
}

pub async fn status(
    tx: &TenantTx,
    viewer: &Member,
    contact: ContactId,
) -> Result<PortalView, PortalError> {
    contact_or_404(tx, contact).await?;
    let row = account_of(tx, contact).await?;
    let shared = shared_file_ids(tx, contact).await?;
    let visible = accessible_ids(tx, viewer, &shared).await?;
    Ok(view(
        contact,
        row.as_ref(),
        &visible,
        shared.len() - visible.len(),
    ))
}

fn view(
    contact: ContactId,
    row: Option<&portal_account::Model>,
    visible: &BTreeSet<Uuid>,
    hidden: usize,
) -> PortalView {
    let status = PortalStatus::of_row(row);
    PortalView {
        contact_id: contact,
        status,
        // For a disabled account this is the former login name (the default when re-enabling).
        login_email: row.map(|r| r.login_email.clone()),
        pending_login_email: row.and_then(|r| r.pending_login_email.clone()),
        last_login_at: row.and_then(|r| r.last_login_at),
        invitation_expires_at: row
            .filter(|_| status == PortalStatus::Invited)
            .and_then(|r| r.invitation_expires_at),
        file_ids: visible.iter().copied().map(FileId::from_uuid).collect(),
        other_shared_files: hidden,
    }
}

/// Statuses of many contacts at once (contact lists).
pub async fn statuses(
    tx: &TenantTx,
) -> Result<std::collections::HashMap<ContactId, PortalStatus>, DbErr> {
    Ok(portal_account::Entity::scoped(tx)
        .all(tx.conn())
        .await?
        .iter()
        .map(|r| {
            (
                ContactId::from_uuid(r.contact_id),
                PortalStatus::of_row(Some(r)),
            )
        })
        .collect())
}

/// Files shared with at least one client whose account is not disabled (file-list marker).
pub async fn shared_files(tx: &TenantTx) -> Result<BTreeSet<FileId>, DbErr> {
    Ok(portal_file_share::Entity::scoped(tx)
        .all(tx.conn())
        .await?
        .into_iter()
        .map(|s| FileId::from_uuid(s.matter_id))
        .collect())
}

fn require_rights(viewer: &Member) -> Result<(), PortalError> {
    if viewer.portal_rights {
        Ok(())
    } else {
        Err(PortalError::Forbidden(
            "you are not permitted to share items and invite clients to the Portal (ask an administrator)".into(),
        ))
    }
}

fn require_enabled(firm: &FirmContext) -> Result<(), PortalError> {
    if firm.options.portal_enabled {
        Ok(())
    } else {
        Err(PortalError::Forbidden(
            "the Client Portal is disabled for this firm; an administrator can enable it in Options > Client Portal".into(),
        ))
    }
}

/// Files (accessible to `viewer`, open) where `contact` is a client: the ones that may be shared.
pub async fn eligible_files(
    tx: &TenantTx,
    viewer: &Member,
    contact: ContactId,
) -> Result<Vec<files::ContactFile>, DbErr> {
    Ok(files::files_of_contact(tx, viewer, contact)
        .await?
        .into_iter()
        .filter(|f| f.role == files::PersonRole::Client)
        .collect())
}

/// What "Allow this contact to access the Portal" asks for.
#[derive(Clone, Debug)]
pub struct AllowRequest {
    pub login_email: String,
    pub file_ids: Vec<FileId>,
    /// The member's edited invitation text; `None` uses the firm's template.
    pub message: Option<String>,
}

#[derive(Debug)]
pub struct AllowOutcome {
    pub view: PortalView,
    /// True when an invitation was sent by this call.
    pub invited: bool,
}

/// Invites the contact (no account, or a disabled one) or updates the shared files of an
/// invited/active account.
pub async fn allow(
    tx: &TenantTx,
    viewer: &Member,
    contact_id: ContactId,
    request: AllowRequest,
    firm: &FirmContext,
    ip: Option<String>,
) -> Result<AllowOutcome, PortalError> {
    require_enabled(firm)?;
    require_rights(viewer)?;
    let contact = contact_or_404(tx, contact_id).await?;
    let eligible = eligible_files(tx, viewer, contact_id).await?;
    if eligible.is_empty() {
        return Err(PortalError::Forbidden(
            "the contact is not a client on any file you can access; add them as a client to a file first".into(),
        ));
    }
    let login_email = request.login_email.trim().to_owned();
    if !contact
        .emails
        .iter()
        .any(|e| e.eq_ignore_ascii_case(&login_email))
    {
        return Err(PortalError::Invalid(format!(
            "{login_email} is not one of {}'s email addresses; add it to the contact first",
            contact.name
        )));
    }
    let wanted: BTreeSet<Uuid> = request.file_ids.iter().map(|f| f.as_uuid()).collect();
    for id in &wanted {
        match eligible.iter().find(|f| f.id.as_uuid() == *id) {
            None => {
                return Err(PortalError::Invalid(format!(
                    "file {id} cannot be shared: {} is not a client on it, or you cannot access it",
                    contact.name
                )));
            }
            Some(f) if f.status != FileStatus::Open => {
                return Err(PortalError::Invalid(format!(
                    "file {} is closed; only open files can be shared",
                    f.number
                )));
            }
            Some(_) => {}
        }
    }
    let existing = account_of(tx, contact_id).await?;
    let status = PortalStatus::of_row(existing.as_ref());
    let invited = matches!(status, PortalStatus::NotInvited | PortalStatus::Disabled);
    let account_id = if invited {
        let message = request
            .message
            .unwrap_or_else(|| firm.options.invitation_template.clone());
        if !message.contains(SETUP_LINK_PLACEHOLDER) {
            return Err(PortalError::Invalid(format!(
                "the invitation text must keep the setup-link placeholder {SETUP_LINK_PLACEHOLDER}"
            )));
        }
        let id = upsert_invited(tx, existing.as_ref(), contact_id, &login_email).await?;
        send_invitation(tx, id, &contact, &login_email, &message, firm).await?;
        record(
            tx,
            viewer,
            "portal.invited",
            contact_id,
            &ip,
            // Filed under the first shared file so members of that file see it in their feed.
            serde_json::json!({"login_email": login_email, "file_id": wanted.iter().next().map(|f| f.to_string())}),
        )
        .await?;
        id
    } else {
        let row = existing.as_ref().ok_or(PortalError::NotFound)?;
        if !row.login_email.eq_ignore_ascii_case(&login_email) {
            return Err(PortalError::Conflict(format!(
                "{} already signs in as {}; use Change login email to switch to {login_email}",
                contact.name, row.login_email
            )));
        }
        row.id
    };
    set_shares(tx, viewer, contact_id, &wanted, &eligible, &ip).await?;
    let _ = account_id;
    let shared = shared_file_ids(tx, contact_id).await?;
    let visible = accessible_ids(tx, viewer, &shared).await?;
    let row = account_of(tx, contact_id).await?;
    Ok(AllowOutcome {
        view: view(
            contact_id,
            row.as_ref(),
            &visible,
            shared.len() - visible.len(),
        ),
        invited,
    })
}

async fn upsert_invited(
    tx: &TenantTx,
    existing: Option<&portal_account::Model>,
    contact: ContactId,
    login_email: &str,
) -> Result<Uuid, PortalError> {
    let now = Utc::now();
    let result = match existing {
        Some(row) => {
            let mut change: portal_account::ActiveModel = row.clone().into();
            change.login_email = Set(login_email.to_owned());
            change.login_email_normalized = Set(login_email.to_lowercase());
            change.pending_login_email = Set(None);
            change.status = Set("invited".to_owned());
            change.password_hash = Set(None);
            change.terms_accepted_at = Set(None);
            change.updated_at = Set(now);
            change.update(tx.conn()).await.map(|r| r.id)
        }
        None => {
            let mut row = portal_account::ActiveModel::new_active(tx);
            row.id = Set(Uuid::now_v7());
            row.contact_id = Set(contact.as_uuid());
            row.login_email = Set(login_email.to_owned());
            row.login_email_normalized = Set(login_email.to_lowercase());
            row.pending_login_email = Set(None);
            row.status = Set("invited".to_owned());
            row.password_hash = Set(None);
            row.terms_accepted_at = Set(None);
            row.invited_at = Set(None);
            row.invitation_expires_at = Set(None);
            row.last_login_at = Set(None);
            row.created_at = Set(now);
            row.updated_at = Set(now);
            row.insert(tx.conn()).await.map(|r| r.id)
        }
    };
    result.map_err(|err| {
        if matches!(err.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) {
            PortalError::Conflict(format!(
                "{login_email} is already the Portal login of another contact of this firm"
            ))
        } else {
            PortalError::Db(err)
        }
    })
}

async fn send_invitation(
    tx: &TenantTx,
    account: Uuid,
    contact: &Contact,
    login_email: &str,
    message: &str,
    firm: &FirmContext,
) -> Result<(), PortalError> {
    let days = i64::from(firm.options.invitation_valid_days);
    let valid_for = Duration::days(days);
    let token = tokens::issue(tx, TokenPurpose::ClientInvitation, account, valid_for).await?;
    let now = Utc::now();
    portal_account::Entity::scoped_update(tx)
        .col_expr(portal_account::Column::InvitedAt, Expr::value(Some(now)))
        .col_expr(
            portal_account::Column::InvitationExpiresAt,
            Expr::value(Some(now + valid_for)),
        )
        .filter(portal_account::Column::Id.eq(account))
        .exec(tx.conn())
        .await?;
    let link = format!("{}/invitations/{}", firm.portal_url, token.reveal());
    let body = format!(
        "Dear {},\n\n{}\n\nThis link expires in {days} day{}. Your login name will be {login_email}.\n\
         {} Client Portal: {}\n",
        contact.name,
        message.replace(SETUP_LINK_PLACEHOLDER, &link),
        if days == 1 { "" } else { "s" },
        firm.firm_name,
        firm.portal_url,
    );
    mail::enqueue(
        tx,
        OutgoingEmail {
            to: login_email.to_owned(),
            subject: format!("{} invites you to its Client Portal", firm.firm_name),
            body_text: body,
            kind: "client_invitation",
        },
    )
    .await?;
    Ok(())
}

/// Makes the shares of `contact` equal `wanted` among the files `viewer` may share; shares of
/// files the viewer cannot access stay as they are.
async fn set_shares(
    tx: &TenantTx,
    viewer: &Member,
    contact: ContactId,
    wanted: &BTreeSet<Uuid>,
    eligible: &[files::ContactFile],
    ip: &Option<String>,
) -> Result<(), PortalError> {
    let current = shared_file_ids(tx, contact).await?;
    let manageable: BTreeSet<Uuid> = eligible.iter().map(|f| f.id.as_uuid()).collect();
    for id in wanted.difference(&current) {
        share(tx, viewer, contact, *id).await?;
        record(
            tx,
            viewer,
            "portal.file_shared",
            contact,
            ip,
            serde_json::json!({"file_id": id}),
        )
        .await?;
    }
    for id in current
        .difference(wanted)
        .filter(|id| manageable.contains(id))
    {
        unshare(tx, contact, *id).await?;
        record(
            tx,
            viewer,
            "portal.file_unshared",
            contact,
            ip,
            serde_json::json!({"file_id": id}),
        )
        .await?;
    }
    Ok(())
}

async fn share(
    tx: &TenantTx,
    viewer: &Member,
    contact: ContactId,
    file: Uuid,
) -> Result<(), DbErr> {
    let mut row = portal_file_share::ActiveModel::new_active(tx);
    row.contact_id = Set(contact.as_uuid());
    row.matter_id = Set(file);
    row.shared_by = Set(Some(viewer.id.as_uuid()));
    row.shared_at = Set(Utc::now());
    portal_file_share::Entity::insert(row)
        .on_conflict_do_nothing()
        .exec(tx.conn())
        .await?;
    Ok(())
}

async fn unshare(tx: &TenantTx, contact: ContactId, file: Uuid) -> Result<(), DbErr> {
    portal_file_share::Entity::scoped_delete(tx)
        .filter(portal_file_share::Column::ContactId.eq(contact.as_uuid()))
        .filter(portal_file_share::Column::MatterId.eq(file))
        .exec(tx.conn())
        .await?;
    Ok(())
}

async fn record(
    tx: &TenantTx,
    viewer: &Member,
    action: &'static str,
    contact: ContactId,
    ip: &Option<String>,
    detail: serde_json::Value,
) -> Result<(), DbErr> {
    let file = detail
        .get("file_id")
        .and_then(|v| v.as_str())
        .and_then(|v| v.parse().ok())
        .map(FileId::from_uuid);
    let name = contacts::get(tx, contact)
        .await?
        .map(|c| c.name)
        .unwrap_or_default();
    let summary = match action {
        "portal.invited" => format!("invited {name} to the Portal"),
        "portal.invitation_resent" => format!("resent {name}'s Portal invitation"),
        "portal.disabled" => format!("disabled {name}'s Portal access"),
        "portal.file_shared" => format!("shared a file with {name}"),
        "portal.file_unshared" => format!("stopped sharing a file with {name}"),
        other => format!("{other} ({name})"),
    };
    activity::record(
        tx,
        ActivityKind::MemberActivity,
        file,
        &viewer.actor(),
        action,
        summary,
    )
    .await?;
    audit::record(
        tx,
        AuditEvent {
            actor: viewer.actor(),
            action,
            target_kind: "contact",
            target_id: Some(contact.to_string()),
            ip: ip.clone(),
            detail: Some(detail),
        },
    )
    .await
}

/// Shares or unshares one file from the file's side ("tick clients"). The contact must have an
/// invited or active account and be a client on the file.
pub async fn set_file_shared(
    tx: &TenantTx,
    viewer: &Member,
    contact: ContactId,
    file: FileId,
    shared: bool,
    firm: &FirmContext,
    ip: Option<String>,
) -> Result<(), PortalError> {
    require_enabled(firm)?;
    require_rights(viewer)?;
    let found = files::get(tx, viewer, file)
        .await?
        .ok_or(PortalError::NotFound)?;
    let contact_row = contact_or_404(tx, contact).await?;
    if !found
        .people
        .iter()
        .any(|p| p.contact_id == contact && p.role == files::PersonRole::Client)
    {
        return Err(PortalError::Invalid(format!(
            "{} is not a client on file {}",
            contact_row.name, found.number
        )));
    }
    let status = PortalStatus::of_row(account_of(tx, contact).await?.as_ref());
    if !matches!(status, PortalStatus::Invited | PortalStatus::Active) {
        return Err(PortalError::Conflict(format!(
            "{} has no Portal access; allow access from the contact first",
            contact_row.name
        )));
    }
    if shared {
        if found.status != FileStatus::Open {
            return Err(PortalError::Invalid(format!(
                "file {} is closed; only open files can be shared",
                found.number
            )));
        }
        share(tx, viewer, contact, file.as_uuid()).await?;
        record(
            tx,
            viewer,
            "portal.file_shared",
            contact,
            &ip,
            serde_json::json!({"file_id": file}),
        )
        .await?;
    } else {
        unshare(tx, contact, file.as_uuid()).await?;
        record(
            tx,
            viewer,
            "portal.file_unshared",
            contact,
            &ip,
            serde_json::json!({"file_id": file}),
        )
        .await?;
    }
    Ok(())
}

/// Clears "Allow…": refused unless the viewer can access every shared file.
pub async fn disable(
    tx: &TenantTx,
    viewer: &Member,
    contact: ContactId,
    ip: Option<String>,
) -> Result<PortalView, PortalError> {
    require_rights(viewer)?;
    contact_or_404(tx, contact).await?;
    let row = account_of(tx, contact).await?;
    let Some(row) = row.filter(|r| r.status != "disabled") else {
        return Err(PortalError::Conflict(
            "the contact has no Portal access to disable".into(),
        ));
    };
    let shared = shared_file_ids(tx, contact).await?;
    let visible = accessible_ids(tx, viewer, &shared).await?;
    if visible.len() != shared.len() {
        return Err(PortalError::Forbidden(format!(
            "you cannot disable this client's access: {} of the files shared with them {} not accessible to you",
            shared.len() - visible.len(),
            if shared.len() - visible.len() == 1 {
                "is"
            } else {
                "are"
            }
        )));
    }
    portal_file_share::Entity::scoped_delete(tx)
        .filter(portal_file_share::Column::ContactId.eq(contact.as_uuid()))
        .exec(tx.conn())
        .await?;
    sessions::end_all(tx, PrincipalKind::Client, row.id, None).await?;
    tokens::revoke(
        tx,
        row.id,
        &[
            TokenPurpose::ClientInvitation,
            TokenPurpose::ClientReset,
            TokenPurpose::ClientEmailChange,
        ],
    )
    .await?;
    let mut change: portal_account::ActiveModel = row.clone().into();
    change.status = Set("disabled".to_owned());
    change.password_hash = Set(None);
    change.pending_login_email = Set(None);
    change.invitation_expires_at = Set(None);
    change.updated_at = Set(Utc::now());
    change.update(tx.conn()).await?;
    record(
        tx,
        viewer,
        "portal.disabled",
        contact,
        &ip,
        serde_json::json!({"login_email": row.login_email}),
    )
    .await?;
    status(tx, viewer, contact).await
}

/// Sends a fresh invitation (the old link stops working). Only for invited accounts.
pub async fn resend(
    tx: &TenantTx,
    viewer: &Member,
    contact_id: ContactId,
    firm: &FirmContext,
    ip: Option<String>,
) -> Result<PortalView, PortalError> {
    require_enabled(firm)?;
    require_rights(viewer)?;
    let contact = contact_or_404(tx, contact_id).await?;
    let row = account_of(tx, contact_id).await?;
    match row {
        Some(row) if row.status == "invited" => {
            send_invitation(
                tx,
                row.id,
                &contact,
                &row.login_email,
                &firm.options.invitation_template,
                firm,
            )
            .await?;
            record(
                tx,
                viewer,
                "portal.invitation_resent",
                contact_id,
                &ip,
                serde_json::json!({"login_email": row.login_email}),
            )
            .await?;
            status(tx, viewer, contact_id).await
        }
        Some(row) if row.status == "active" => Err(PortalError::Conflict(format!(
            "{} has already accepted the invitation; use Need Help on the login page for a forgotten password",
            contact.name
        ))),
        _ => Err(PortalError::Conflict(format!(
            "{} has no pending invitation; allow Portal access first",
            contact.name
        ))),
    }
}

/// Starts a change of login email: a verification link goes to the new address; the old login
/// keeps working until it is used.
pub async fn change_login_email(
    tx: &TenantTx,
    viewer: &Member,
    contact_id: ContactId,
    new_email: &str,
    firm: &FirmContext,
    valid_for: Duration,
    ip: Option<String>,
) -> Result<PortalView, PortalError> {
    require_rights(viewer)?;
    let contact = contact_or_404(tx, contact_id).await?;
    let new_email = new_email.trim().to_owned();
    if !contact
        .emails
        .iter()
        .any(|e| e.eq_ignore_ascii_case(&new_email))
    {
        return Err(PortalError::Invalid(format!(
            "{new_email} is not one of {}'s email addresses; add it to the contact first",
            contact.name
        )));
    }
    let row = account_of(tx, contact_id)
        .await?
        .filter(|r| r.status == "active")
        .ok_or_else(|| {
            PortalError::Conflict(format!("{} has no active Portal account", contact.name))
        })?;
    if row.login_email.eq_ignore_ascii_case(&new_email) {
        return Err(PortalError::Invalid(format!(
            "{new_email} is already the login email"
        )));
    }
    let taken = portal_account::Entity::scoped(tx)
        .filter(portal_account::Column::LoginEmailNormalized.eq(new_email.to_lowercase()))
        .filter(portal_account::Column::Status.ne("disabled"))
        .one(tx.conn())
        .await?;
    if taken.is_some() {
        return Err(PortalError::Conflict(format!(
            "{new_email} is already the Portal login of another contact of this firm"
        )));
    }
    let token = tokens::issue(tx, TokenPurpose::ClientEmailChange, row.id, valid_for).await?;
    portal_account::Entity::scoped_update(tx)
        .col_expr(
            portal_account::Column::PendingLoginEmail,
            Expr::value(Some(new_email.clone())),
        )
        .filter(portal_account::Column::Id.eq(row.id))
        .exec(tx.conn())
        .await?;
    mail::enqueue(
        tx,
        OutgoingEmail {
            to: new_email.clone(),
            subject: format!("Confirm your new login email for {}", firm.firm_name),
            body_text: format!(
                "Dear {},\n\n{} asked to change your Client Portal login to this address.\n\
                 Confirm it here (the link works once):\n{}/verify-email/{}\n\n\
                 Until you confirm, keep signing in with {}.\n",
                contact.name,
                firm.firm_name,
                firm.portal_url,
                token.reveal(),
                row.login_email
            ),
            kind: "client_email_change",
        },
    )
    .await?;
    record(
        tx,
        viewer,
        "portal.login_email_change_requested",
        contact_id,
        &ip,
        serde_json::json!({"from": row.login_email, "to": new_email}),
    )
    .await?;
    status(tx, viewer, contact_id).await
}

/// The clients of a file and whether each has Portal access to it (the file's Portal view).
#[derive(Clone, Debug, Serialize)]
pub struct FileClient {
    pub contact_id: ContactId,
    pub name: String,
    pub status: PortalStatus,
    pub has_file_access: bool,
}

pub async fn file_clients(
    tx: &TenantTx,
    viewer: &Member,
    file: FileId,
) -> Result<Vec<FileClient>, PortalError> {
    let found = files::get(tx, viewer, file)
        .await?
        .ok_or(PortalError::NotFound)?;
    let shares: BTreeSet<Uuid> = portal_file_share::Entity::scoped(tx)
        .filter(portal_file_share::Column::MatterId.eq(file.as_uuid()))
        .all(tx.conn())
        .await?
        .into_iter()
        .map(|s| s.contact_id)
        .collect();
    let statuses = statuses(tx).await?;
    Ok(found
        .people
        .into_iter()
        .filter(|p| p.role == files::PersonRole::Client)
        .map(|p| {
            let status = statuses
                .get(&p.contact_id)
                .copied()
                .unwrap_or(PortalStatus::NotInvited);
            FileClient {
                has_file_access: shares.contains(&p.contact_id.as_uuid())
                    && matches!(status, PortalStatus::Invited | PortalStatus::Active),
                contact_id: p.contact_id,
                name: p.name,
                status,
            }
        })
        .collect())
}

// ---- The client's side -------------------------------------------------------------------

/// A signed-in (or signing-in) client.
#[derive(Clone, Debug, Serialize)]
pub struct Client {
    pub account_id: Uuid,
    pub contact_id: ContactId,
    /// The contact's current name.
    pub name: String,
    pub login_email: String,
    pub last_login_at: Option<DateTime<Utc>>,
    /// The sign-in before the current one: "since last login" for the client.
    pub previous_login_at: Option<DateTime<Utc>>,
}

impl Client {
    pub fn actor(&self) -> Actor {
        Actor::Client {
            contact_id: self.contact_id.as_uuid(),
            name: self.name.clone(),
        }
    }
}

async fn client_of(tx: &TenantTx, row: &portal_account::Model) -> Result<Client, DbErr> {
    let name = contacts::get(tx, ContactId::from_uuid(row.contact_id))
        .await?
        .map(|c| c.name)
        .unwrap_or_default();
    Ok(client_named(row, name))
}

fn client_named(row: &portal_account::Model, name: String) -> Client {
    Client {
        account_id: row.id,
        contact_id: ContactId::from_uuid(row.contact_id),
        name,
        login_email: row.login_email.clone(),
        last_login_at: row.last_login_at,
        previous_login_at: row.previous_login_at,
    }
}

/// The active account matching `filter` and the client it makes (with the contact's current
/// name), in one statement: this runs for every signed-in request that is not cached.
async fn active_account(
    tx: &TenantTx,
    filter: sea_orm::sea_query::SimpleExpr,
) -> Result<Option<(portal_account::Model, Client)>, DbErr> {
    let account_of_contact: RelationDef = portal_account::Entity::belongs_to(contact::Entity)
        .from((
            portal_account::Column::TenantId,
            portal_account::Column::ContactId,
        ))
        .to((contact::Column::TenantId, contact::Column::Id))
        .into();
    let found = portal_account::Entity::scoped(tx)
        .filter(filter)
        .filter(portal_account::Column::Status.eq("active"))
        .join(JoinType::LeftJoin, account_of_contact)
        .select_also(contact::Entity)
        .one(tx.conn())
        .await?;
    Ok(found.map(|(row, contact)| {
        let client = client_named(&row, contact.map(|c| c.name).unwrap_or_default());
        (row, client)
    }))
}

/// The active client behind a session.
pub async fn active_client(tx: &TenantTx, account_id: Uuid) -> Result<Option<Client>, DbErr> {
    let found = active_account(tx, portal_account::Column::Id.eq(account_id)).await?;
    Ok(found.map(|(_, client)| client))
}

/// The client and stored hash for sign-in; only active accounts.
pub async fn credentials_by_email(
    tx: &TenantTx,
    email: &str,
) -> Result<Option<(Client, Option<String>)>, DbErr> {
    let email = portal_account::Column::LoginEmailNormalized.eq(email.trim().to_lowercase());
    let found = active_account(tx, email).await?;
    Ok(found.map(|(row, client)| (client, row.password_hash)))
}

pub async fn record_login(tx: &TenantTx, client: &Client) -> Result<(), DbErr> {
    portal_account::Entity::scoped_update(tx)
        .col_expr(
            portal_account::Column::PreviousLoginAt,
            Expr::col(portal_account::Column::LastLoginAt),
        )
        .col_expr(
            portal_account::Column::LastLoginAt,
            Expr::value(Some(Utc::now())),
        )
        .filter(portal_account::Column::Id.eq(client.account_id))
        .exec(tx.conn())
        .await?;
    Ok(())
}

/// What the invitation page shows.
#[derive(Clone, Debug, Serialize)]
pub struct InvitationView {
    pub account_id: Uuid,
    pub name: String,
    pub login_email: String,
}

pub async fn invitation(tx: &TenantTx, presented: &str) -> Result<InvitationView, LinkError> {
    let token = tokens::peek(tx, TokenPurpose::ClientInvitation, presented).await?;
    let row = portal_account::Entity::scoped(tx)
        .filter(portal_account::Column::Id.eq(token.subject_id))
        .filter(portal_account::Column::Status.eq("invited"))
        .one(tx.conn())
        .await?
        .ok_or(LinkError::Unusable)?;
    let client = client_of(tx, &row).await?;
    Ok(InvitationView {
        account_id: row.id,
        name: client.name,
        login_email: row.login_email,
    })
}

/// Accepts an invitation: terms accepted, password set, account active. Queues the
/// confirmation to the client and a notice to the responsible lawyer of each shared file.
pub async fn accept_invitation(
    tx: &TenantTx,
    presented: &str,
    password_hash: String,
    firm: &FirmContext,
) -> Result<Client, LinkError> {
    let token = tokens::consume(tx, TokenPurpose::ClientInvitation, presented).await?;
    let now = Utc::now();
    let updated = portal_account::Entity::scoped_update(tx)
        .col_expr(portal_account::Column::Status, Expr::value("active"))
        .col_expr(
            portal_account::Column::PasswordHash,
            Expr::value(Some(password_hash)),
        )
        .col_expr(
            portal_account::Column::TermsAcceptedAt,
            Expr::value(Some(now)),
        )
        .col_expr(
            portal_account::Column::InvitationExpiresAt,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .col_expr(portal_account::Column::UpdatedAt, Expr::value(now))
        .filter(portal_account::Column::Id.eq(token.subject_id))
        .filter(portal_account::Column::Status.eq("invited"))
        .exec(tx.conn())
        .await?;
    if updated.rows_affected != 1 {
        return Err(LinkError::Unusable);
    }
    tokens::revoke(tx, token.subject_id, &[TokenPurpose::ClientInvitation]).await?;
    let client = active_client(tx, token.subject_id)
        .await?
        .ok_or(LinkError::Unusable)?;
    mail::enqueue(
        tx,
        OutgoingEmail {
            to: client.login_email.clone(),
            subject: format!("Your {} Client Portal account is ready", firm.firm_name),
            body_text: format!(
                "Dear {},\n\nYour Client Portal account has been created.\n\n\
                 Portal address: {}\nLogin name: {}\n\n\
                 Sign in with the password you chose. If you forget it, use Need Help on the sign-in page.\n",
                client.name, firm.portal_url, client.login_email
            ),
            kind: "client_account_created",
        },
    )
    .await
    .map_err(|e| match e {
        EnqueueError::Db(db) => LinkError::Db(db),
        EnqueueError::BadAddress(_) => LinkError::Unusable,
    })?;
    notify_lawyers(tx, &client, firm).await?;
    audit::record(
        tx,
        AuditEvent {
            actor: Actor::System("client portal"),
            action: "portal.invitation_accepted",
            target_kind: "contact",
            target_id: Some(client.contact_id.to_string()),
            ip: None,
            detail: Some(serde_json::json!({"login_email": client.login_email})),
        },
    )
    .await?;
    Ok(client)
}

async fn notify_lawyers(
    tx: &TenantTx,
    client: &Client,
    firm: &FirmContext,
) -> Result<(), LinkError> {
    let shares = shared_file_ids(tx, client.contact_id).await?;
    if shares.is_empty() {
        return Ok(());
    }
    let files = matter::Entity::scoped(tx)
        .filter(matter::Column::Id.is_in(shares.iter().copied()))
        .order_by_asc(matter::Column::Number)
        .all(tx.conn())
        .await?;
    let mut by_lawyer: std::collections::BTreeMap<Uuid, Vec<String>> = Default::default();
    for f in files {
        by_lawyer
            .entry(f.responsible_lawyer_id)
            .or_default()
            .push(format!("{} {}", f.number, f.name));
    }
    for (lawyer, file_names) in by_lawyer {
        let Some(member) = members::get(tx, MemberId::from_uuid(lawyer)).await? else {
            continue;
        };
        if !member.active {
            continue;
        }
        mail::enqueue(
            tx,
            OutgoingEmail {
                to: member.email.clone(),
                subject: format!("{} joined the Client Portal", client.name),
                body_text: format!(
                    "Hello {},\n\n{} ({}) has accepted the invitation to the {} Client Portal and can now see \
                     what is shared with them on:\n{}\n\nOpen the firm workspace: {}/firm\n",
                    member.name,
                    client.name,
                    client.login_email,
                    firm.firm_name,
                    file_names.iter().map(|f| format!("  - {f}")).collect::<Vec<_>>().join("\n"),
                    firm.portal_url
                ),
                kind: "lawyer_client_joined",
            },
        )
        .await
        .map_err(|e| match e {
            EnqueueError::Db(db) => LinkError::Db(db),
            EnqueueError::BadAddress(_) => LinkError::Unusable,
        })?;
    }
    Ok(())
}

/// Queues a reset link if `email` is an active client's login. Says nothing either way.
pub async fn request_reset(
    tx: &TenantTx,
    email: &str,
    firm: &FirmContext,
    valid_for: Duration,
) -> Result<bool, PortalError> {
    let Some((client, Some(_))) = credentials_by_email(tx, email).await? else {
        return Ok(false);
    };
    let token = tokens::issue(tx, TokenPurpose::ClientReset, client.account_id, valid_for).await?;
    mail::enqueue(
        tx,
        OutgoingEmail {
            to: client.login_email.clone(),
            subject: format!("Reset your {} Client Portal password", firm.firm_name),
            body_text: format!(
                "Dear {},\n\nSomeone (hopefully you) asked to reset your Client Portal password.\n\n\
                 Choose a new password here (the link works once and expires in {} minutes):\n{}/reset/{}\n\n\
                 If you did not ask for this, ignore this email: your password stays as it is.\n",
                client.name,
                valid_for.num_minutes(),
                firm.portal_url,
                token.reveal()
            ),
            kind: "client_reset",
        },
    )
    .await?;
    Ok(true)
}

/// The client a usable reset link belongs to.
pub async fn reset_holder(tx: &TenantTx, presented: &str) -> Result<Client, LinkError> {
    let token = tokens::peek(tx, TokenPurpose::ClientReset, presented).await?;
    active_client(tx, token.subject_id)
        .await?
        .ok_or(LinkError::Unusable)
}

/// Uses a reset link: new password, every session ended, other reset links revoked.
pub async fn reset_password(
    tx: &TenantTx,
    presented: &str,
    password_hash: String,
) -> Result<Client, LinkError> {
    let token = tokens::consume(tx, TokenPurpose::ClientReset, presented).await?;
    tokens::revoke(tx, token.subject_id, &[TokenPurpose::ClientReset]).await?;
    let updated = portal_account::Entity::scoped_update(tx)
        .col_expr(
            portal_account::Column::PasswordHash,
            Expr::value(Some(password_hash)),
        )
        .col_expr(portal_account::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(portal_account::Column::Id.eq(token.subject_id))
        .filter(portal_account::Column::Status.eq("active"))
        .exec(tx.conn())
        .await?;
    if updated.rows_affected != 1 {
        return Err(LinkError::Unusable);
    }
    sessions::end_all(tx, PrincipalKind::Client, token.subject_id, None).await?;
    active_client(tx, token.subject_id)
        .await?
        .ok_or(LinkError::Unusable)
}

/// Uses an email-change link: the pending address becomes the login.
pub async fn verify_login_email(tx: &TenantTx, presented: &str) -> Result<Client, LinkError> {
    let token = tokens::consume(tx, TokenPurpose::ClientEmailChange, presented).await?;
    let row = portal_account::Entity::scoped(tx)
        .filter(portal_account::Column::Id.eq(token.subject_id))
        .filter(portal_account::Column::Status.eq("active"))
        .one(tx.conn())
        .await?
        .ok_or(LinkError::Unusable)?;
    let Some(new_email) = row.pending_login_email.clone() else {
        return Err(LinkError::Unusable);
    };
    let mut change: portal_account::ActiveModel = row.into();
    change.login_email = Set(new_email.clone());
    change.login_email_normalized = Set(new_email.to_lowercase());
    change.pending_login_email = Set(None);
    change.updated_at = Set(Utc::now());
    change.update(tx.conn()).await.map_err(|err| {
        if matches!(err.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) {
            LinkError::Unusable
        } else {
            LinkError::Db(err)
        }
    })?;
    active_client(tx, token.subject_id)
        .await?
        .ok_or(LinkError::Unusable)
}

/// A file shared with the signed-in client.
#[derive(Clone, Debug, Serialize)]
pub struct SharedFile {
    pub id: FileId,
    pub number: String,
    pub name: String,
    pub file_type: String,
    pub status: FileStatus,
    pub shared_at: DateTime<Utc>,
}

/// Files shared with a client, newest share first.
pub async fn files_for_client(tx: &TenantTx, client: &Client) -> Result<Vec<SharedFile>, DbErr> {
    client_shared_files(tx, client, None).await
}

/// The client's shared files (or the one asked for) in one statement: share ⋈ file, kept only
/// while the contact is still a client on the file — removing a person from a file ends what
/// they can see of it.
async fn client_shared_files(
    tx: &TenantTx,
    client: &Client,
    only: Option<FileId>,
) -> Result<Vec<SharedFile>, DbErr> {
    let contact = client.contact_id.as_uuid();
    let share_of_file: RelationDef = portal_file_share::Entity::belongs_to(matter::Entity)
        .from((
            portal_file_share::Column::TenantId,
            portal_file_share::Column::MatterId,
        ))
        .to((matter::Column::TenantId, matter::Column::Id))
        .into();
    let still_client = Query::select()
        .column(matter_person::Column::MatterId)
        .from(matter_person::Entity)
        .and_where(matter_person::Column::TenantId.eq(tx.tenant_id().as_uuid()))
        .and_where(matter_person::Column::ContactId.eq(contact))
        .and_where(matter_person::Column::Role.eq("client"))
        .to_owned();
    let mut query = portal_file_share::Entity::scoped(tx)
        .filter(portal_file_share::Column::ContactId.eq(contact))
        .filter(portal_file_share::Column::MatterId.in_subquery(still_client));
    if let Some(file) = only {
        query = query.filter(portal_file_share::Column::MatterId.eq(file.as_uuid()));
    }
    let rows = query
        .join(JoinType::InnerJoin, share_of_file)
        .select_also(matter::Entity)
        .order_by_desc(portal_file_share::Column::SharedAt)
        .all(tx.conn())
        .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(share, file)| {
            let m = file?;
            Some(SharedFile {
                id: FileId::from_uuid(m.id),
                number: m.number,
                name: m.name,
                file_type: m.file_type,
                status: FileStatus::parse(&m.status).unwrap_or(FileStatus::Closed),
                shared_at: share.shared_at,
            })
        })
        .collect())
}

/// One shared file, or `None` — identical for "not shared", "not yours" and "missing".
pub async fn file_for_client(
    tx: &TenantTx,
    client: &Client,
    file: FileId,
) -> Result<Option<SharedFile>, DbErr> {
    Ok(client_shared_files(tx, client, Some(file)).await?.pop())
}

/// Creates an active account with a chosen password and shares `files` (used to seed the demo
/// firm; real clients accept an emailed invitation).
pub async fn seed_active_account(
    tx: &TenantTx,
    contact: ContactId,
    login_email: &str,
    password_hash: String,
    files: &[FileId],
    shared_by: &Member,
) -> Result<(), PortalError> {
    let id = upsert_invited(tx, None, contact, login_email).await?;
    let now = Utc::now();
    portal_account::Entity::scoped_update(tx)
        .col_expr(portal_account::Column::Status, Expr::value("active"))
        .col_expr(
            portal_account::Column::PasswordHash,
            Expr::value(Some(password_hash)),
        )
        .col_expr(
            portal_account::Column::TermsAcceptedAt,
            Expr::value(Some(now)),
        )
        .filter(portal_account::Column::Id.eq(id))
        .exec(tx.conn())
        .await?;
    for file in files {
        share(tx, shared_by, contact, file.as_uuid()).await?;
    }
    Ok(())
}
