//! Firm members: invitation (setup link by email), account setup, sign-in lookups, password
//! reset, and administration (name, email, administrator flag, Portal right, active). A firm
//! always keeps one active administrator with a password or a pending setup.

use chrono::{DateTime, Duration, Utc};
use portico_platform::ids::MemberId;
use portico_platform::mail::{self, EnqueueError, OutgoingEmail};
use portico_platform::{TenantActiveModel, TenantScoped, TenantTx};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, DbErr, PaginatorTrait, QueryFilter,
    QueryOrder, SqlErr,
};
use serde::Serialize;

use crate::audit::{self, Actor, AuditEvent};
use crate::entity::member;
use crate::registry::normalize_email;
use crate::sessions::{self, PrincipalKind};
pub use crate::tokens::LinkError;
use crate::tokens::{self, TokenPurpose};

/// A member as the rest of the product sees it (never the password hash).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Member {
    pub id: MemberId,
    pub name: String,
    pub email: String,
    pub is_admin: bool,
    /// "Permitted to share items and invite clients to the Portal".
    pub portal_rights: bool,
    pub active: bool,
    /// False until the member has chosen a password from the setup link.
    pub has_password: bool,
    pub last_login_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

impl From<member::Model> for Member {
    fn from(row: member::Model) -> Self {
        Self {
            id: MemberId::from_uuid(row.id),
            name: row.name,
            email: row.email,
            is_admin: row.is_admin,
            portal_rights: row.portal_rights,
            active: row.active,
            has_password: row.password_hash.is_some(),
            last_login_at: row.last_login_at,
            created_at: row.created_at,
        }
    }
}

impl Member {
    pub fn actor(&self) -> Actor {
        Actor::Member {
            id: self.id,
            name: self.name.clone(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MemberError {
    #[error("{0}")]
    Invalid(String),
    #[error("another member already uses {0}")]
    EmailTaken(String),
    #[error("{0}")]
    LastAdministrator(&'static str),
    #[error("not found")]
    NotFound,
    #[error(transparent)]
    Db(#[from] DbErr),
}

impl From<EnqueueError> for MemberError {
    fn from(err: EnqueueError) -> Self {
        match err {
            EnqueueError::BadAddress(a) => {
                MemberError::Invalid(format!("`{a}` is not a valid email address"))
            }
            EnqueueError::Db(err) => MemberError::Db(err),
        }
    }
}

fn map_unique(err: DbErr, email: &str) -> MemberError {
    if matches!(err.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) {
        MemberError::EmailTaken(email.to_owned())
    } else {
        MemberError::Db(err)
    }
}

pub async fn list(tx: &TenantTx) -> Result<Vec<Member>, DbErr> {
    let rows = member::Entity::scoped(tx)
        .order_by_asc(member::Column::Name)
        .all(tx.conn())
        .await?;
    Ok(rows.into_iter().map(Member::from).collect())
}

pub async fn get(tx: &TenantTx, id: MemberId) -> Result<Option<Member>, DbErr> {
    Ok(member::Entity::scoped(tx)
        .filter(member::Column::Id.eq(id.as_uuid()))
        .one(tx.conn())
        .await?
        .map(Member::from))
}

/// The stored hash and the member, for sign-in. Inactive members are returned too (the caller
/// refuses them after verifying, so timing does not tell them apart).
pub async fn credentials_by_email(
    tx: &TenantTx,
    email: &str,
) -> Result<Option<(Member, Option<String>)>, DbErr> {
    let row = member::Entity::scoped(tx)
        .filter(member::Column::EmailNormalized.eq(email.trim().to_lowercase()))
        .one(tx.conn())
        .await?;
    Ok(row.map(|row| {
        let hash = row.password_hash.clone();
        (Member::from(row), hash)
    }))
}

pub async fn record_login(tx: &TenantTx, id: MemberId) -> Result<(), DbErr> {
    member::Entity::scoped_update(tx)
        .col_expr(member::Column::LastLoginAt, Expr::value(Some(Utc::now())))
        .filter(member::Column::Id.eq(id.as_uuid()))
        .exec(tx.conn())
        .await?;
    Ok(())
}

#[derive(Clone, Debug)]
pub struct NewMember {
    pub name: String,
    pub email: String,
    pub is_admin: bool,
    pub portal_rights: bool,
}

/// Adds a member and emails them a setup link (valid `setup_valid_for`).
pub async fn invite(
    tx: &TenantTx,
    actor: &Member,
    new: NewMember,
    portal_url: &str,
    firm_name: &str,
    setup_valid_for: Duration,
    ip: Option<String>,
) -> Result<Member, MemberError> {
    let name = required_text(&new.name, "name", 200)?;
    let email = normalize_email(&new.email).ok_or_else(|| {
        MemberError::Invalid(format!(
            "email `{}` is not a valid email address",
            new.email.trim()
        ))
    })?;
    let now = Utc::now();
    let id = MemberId::new();
    let mut row = member::ActiveModel::new_active(tx);
    row.id = Set(id.as_uuid());
    row.name = Set(name.clone());
    row.email = Set(email.clone());
    row.email_normalized = Set(email.to_lowercase());
    row.is_admin = Set(new.is_admin);
    row.portal_rights = Set(new.portal_rights);
    row.active = Set(true);
    row.password_hash = Set(None);
    row.last_login_at = Set(None);
    row.created_at = Set(now);
    row.updated_at = Set(now);
    let inserted = row
        .insert(tx.conn())
        .await
        .map_err(|e| map_unique(e, &email))?;
    let token = tokens::issue(tx, TokenPurpose::MemberSetup, id.as_uuid(), setup_valid_for).await?;
    let link = format!("{portal_url}/firm/setup/{}", token.reveal());
    mail::enqueue(
        tx,
        OutgoingEmail {
            to: email.clone(),
            subject: format!("{} invited you to {firm_name} on Portico", actor.name),
            body_text: format!(
                "Hello {name},\n\n{} added you to {firm_name}'s workspace on Portico.\n\n\
                 Choose your password here (the link works once and expires in {} hours):\n{link}\n\n\
                 Afterwards, sign in at {portal_url}/firm\n",
                actor.name,
                setup_valid_for.num_hours(),
            ),
            kind: "member_setup",
        },
    )
    .await?;
    audit::record(
        tx,
        AuditEvent {
            actor: actor.actor(),
            action: "member.invited",
            target_kind: "member",
            target_id: Some(id.to_string()),
            ip,
            detail: Some(serde_json::json!({"name": name, "email": email, "is_admin": new.is_admin, "portal_rights": new.portal_rights})),
        },
    )
    .await?;
    Ok(inserted.into())
}

/// A change to a member; `None` leaves the field as it is.
#[derive(Clone, Debug, Default)]
pub struct MemberPatch {
    pub name: Option<String>,
    pub email: Option<String>,
    pub is_admin: Option<bool>,
    pub portal_rights: Option<bool>,
    pub active: Option<bool>,
}

pub async fn update(
    tx: &TenantTx,
    actor: &Member,
    id: MemberId,
    patch: MemberPatch,
    ip: Option<String>,
) -> Result<Member, MemberError> {
    let row = member::Entity::scoped(tx)
        .filter(member::Column::Id.eq(id.as_uuid()))
        .one(tx.conn())
        .await?
        .ok_or(MemberError::NotFound)?;
    let before = Member::from(row.clone());
    let mut change: member::ActiveModel = row.clone().into();
    let mut changed = serde_json::Map::new();
    if let Some(name) = patch.name {
        let name = required_text(&name, "name", 200)?;
        if name != row.name {
            changed.insert(
                "name".into(),
                serde_json::json!({"from": row.name, "to": name}),
            );
            change.name = Set(name);
        }
    }
    if let Some(email) = patch.email {
        let email = normalize_email(&email).ok_or_else(|| {
            MemberError::Invalid(format!(
                "email `{}` is not a valid email address",
                email.trim()
            ))
        })?;
        if email != row.email {
            changed.insert(
                "email".into(),
                serde_json::json!({"from": row.email, "to": email}),
            );
            change.email_normalized = Set(email.to_lowercase());
            change.email = Set(email);
        }
    }
    let is_admin = patch.is_admin.unwrap_or(row.is_admin);
    let active = patch.active.unwrap_or(row.active);
    if row.is_admin && row.active && !(is_admin && active) {
        let other_admins = member::Entity::scoped(tx)
            .filter(member::Column::IsAdmin.eq(true))
            .filter(member::Column::Active.eq(true))
            .filter(member::Column::Id.ne(row.id))
            .count(tx.conn())
            .await?;
        if other_admins == 0 {
            return Err(MemberError::LastAdministrator(
                "the firm must keep at least one active administrator; make another member an administrator first",
            ));
        }
    }
    for (field, old, new) in [
        ("is_admin", row.is_admin, is_admin),
        (
            "portal_rights",
            row.portal_rights,
            patch.portal_rights.unwrap_or(row.portal_rights),
        ),
        ("active", row.active, active),
    ] {
        if old != new {
            changed.insert(field.into(), serde_json::json!({"from": old, "to": new}));
        }
    }
    change.is_admin = Set(is_admin);
    change.portal_rights = Set(patch.portal_rights.unwrap_or(row.portal_rights));
    change.active = Set(active);
    change.updated_at = Set(Utc::now());
    let email_for_error = row.email.clone();
    let updated = change
        .update(tx.conn())
        .await
        .map_err(|e| map_unique(e, &email_for_error))?;
    if before.active && !active {
        // Deactivation takes effect at once: every open session of the member ends.
        sessions::end_all(tx, PrincipalKind::Member, row.id, None).await?;
    }
    if !changed.is_empty() {
        audit::record(
            tx,
            AuditEvent {
                actor: actor.actor(),
                action: "member.updated",
                target_kind: "member",
                target_id: Some(id.to_string()),
                ip,
                detail: Some(serde_json::Value::Object(changed)),
            },
        )
        .await?;
    }
    Ok(updated.into())
}

/// The member a still-usable link of `purpose` belongs to.
pub async fn member_for_link(
    tx: &TenantTx,
    purpose: TokenPurpose,
    presented: &str,
) -> Result<Member, LinkError> {
    let token = tokens::peek(tx, purpose, presented).await?;
    let row = member::Entity::scoped(tx)
        .filter(member::Column::Id.eq(token.subject_id))
        .filter(member::Column::Active.eq(true))
        .one(tx.conn())
        .await?
        .ok_or(LinkError::Unusable)?;
    Ok(row.into())
}

/// Uses a setup or reset link: marks it used (only if still unused, so two concurrent uses
/// cannot both succeed), stores the new password hash, ends every session of the member and
/// revokes their other unused links.
pub async fn set_password_with_link(
    tx: &TenantTx,
    purpose: TokenPurpose,
    presented: &str,
    password_hash: String,
    ip: Option<String>,
) -> Result<Member, LinkError> {
    let token = tokens::consume(tx, purpose, presented).await?;
    let now = Utc::now();
    tokens::revoke(
        tx,
        token.subject_id,
        &[TokenPurpose::MemberSetup, TokenPurpose::MemberReset],
    )
    .await?;
    let updated = member::Entity::scoped_update(tx)
        .col_expr(
            member::Column::PasswordHash,
            Expr::value(Some(password_hash)),
        )
        .col_expr(member::Column::UpdatedAt, Expr::value(now))
        .filter(member::Column::Id.eq(token.subject_id))
        .filter(member::Column::Active.eq(true))
        .exec(tx.conn())
        .await?;
    if updated.rows_affected != 1 {
        return Err(LinkError::Unusable);
    }
    sessions::end_all(tx, PrincipalKind::Member, token.subject_id, None).await?;
    let member = get(tx, MemberId::from_uuid(token.subject_id))
        .await?
        .ok_or(LinkError::Unusable)?;
    audit::record(
        tx,
        AuditEvent {
            actor: member.actor(),
            action: if purpose == TokenPurpose::MemberSetup {
                "member.setup_completed"
            } else {
                "member.password_reset"
            },
            target_kind: "member",
            target_id: Some(member.id.to_string()),
            ip,
            detail: None,
        },
    )
    .await?;
    Ok(member)
}

/// Queues a reset email if `email` belongs to an active member with a password. Says nothing
/// about whether it did: the caller answers the same either way.
pub async fn request_reset(
    tx: &TenantTx,
    email: &str,
    portal_url: &str,
    firm_name: &str,
    valid_for: Duration,
) -> Result<bool, MemberError> {
    let Some((member, Some(_))) = credentials_by_email(tx, email).await? else {
        return Ok(false);
    };
    if !member.active {
        return Ok(false);
    }
    let token = tokens::issue(
        tx,
        TokenPurpose::MemberReset,
        member.id.as_uuid(),
        valid_for,
    )
    .await?;
    let minutes = valid_for.num_minutes();
    mail::enqueue(
        tx,
        OutgoingEmail {
            to: member.email.clone(),
            subject: format!("Reset your {firm_name} password"),
            body_text: format!(
                "Hello {},\n\nSomeone (hopefully you) asked to reset your password for {firm_name} on Portico.\n\n\
                 Choose a new password here (the link works once and expires in {minutes} minutes):\n\
                 {portal_url}/firm/reset/{}\n\n\
                 If you did not ask for this, ignore this email: your password stays as it is.\n",
                member.name,
                token.reveal()
            ),
            kind: "member_reset",
        },
    )
    .await?;
    Ok(true)
}

fn required_text(value: &str, field: &str, max: usize) -> Result<String, MemberError> {
    let value = value.trim();
    if value.is_empty() {
        return Err(MemberError::Invalid(format!("{field} is required")));
    }
    if value.chars().count() > max {
        return Err(MemberError::Invalid(format!(
            "{field} must be at most {max} characters"
        )));
    }
    Ok(value.to_owned())
}

/// Sets a member's password directly (used to seed the demo firm; people use the setup link).
pub async fn set_password_hash(
    tx: &TenantTx,
    id: MemberId,
    password_hash: String,
) -> Result<(), DbErr> {
    member::Entity::scoped_update(tx)
        .col_expr(
            member::Column::PasswordHash,
            Expr::value(Some(password_hash)),
        )
        .col_expr(member::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(member::Column::Id.eq(id.as_uuid()))
        .exec(tx.conn())
        .await?;
    Ok(())
}

/// Emails a fresh setup link to a member who has not chosen a password yet (the previous link
/// stops working). Members who already have a password use Need Help instead.
pub async fn resend_setup(
    tx: &TenantTx,
    actor: &Member,
    id: MemberId,
    portal_url: &str,
    firm_name: &str,
    setup_valid_for: Duration,
    ip: Option<String>,
) -> Result<Member, MemberError> {
    let member = get(tx, id).await?.ok_or(MemberError::NotFound)?;
    if member.has_password {
        return Err(MemberError::Invalid(format!(
            "{} has already set a password; they can use Need help on the sign-in page",
            member.name
        )));
    }
    if !member.active {
        return Err(MemberError::Invalid(format!(
            "{} is deactivated; activate them first",
            member.name
        )));
    }
    let token = tokens::issue(tx, TokenPurpose::MemberSetup, id.as_uuid(), setup_valid_for).await?;
    mail::enqueue(
        tx,
        OutgoingEmail {
            to: member.email.clone(),
            subject: format!("Your new link to set up your {firm_name} account"),
            body_text: format!(
                "Hello {},\n\n{} sent you a new link to choose your password for {firm_name} on Portico \
                 (it works once and expires in {} hours; earlier links no longer work):\n\
                 {portal_url}/firm/setup/{}\n",
                member.name,
                actor.name,
                setup_valid_for.num_hours(),
                token.reveal()
            ),
            kind: "member_setup",
        },
    )
    .await?;
    audit::record(
        tx,
        AuditEvent {
            actor: actor.actor(),
            action: "member.setup_link_resent",
            target_kind: "member",
            target_id: Some(id.to_string()),
            ip,
            detail: None,
        },
    )
    .await?;
    Ok(member)
}
