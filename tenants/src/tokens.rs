//! Single-use link tokens: issued with a purpose, subject and expiry; stored as a hash.

use chrono::{Duration, Utc};
use portico_platform::ids::TokenId;
use portico_platform::token::{RawToken, TokenHash, looks_like_token};
use portico_platform::{Backend, TenantActiveModel, TenantScoped, TenantTx};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DbBackend, DbErr,
    QueryFilter, Statement,
};
use uuid::Uuid;

use crate::entity::auth_token::{self, Column};

/// What a token lets its holder do. Stored as text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenPurpose {
    MemberSetup,
    MemberReset,
    /// A client's invitation to the Portal.
    ClientInvitation,
    ClientReset,
    /// Confirms a new login email of a client.
    ClientEmailChange,
}

impl TokenPurpose {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenPurpose::MemberSetup => "member_setup",
            TokenPurpose::MemberReset => "member_reset",
            TokenPurpose::ClientInvitation => "client_invitation",
            TokenPurpose::ClientReset => "client_reset",
            TokenPurpose::ClientEmailChange => "client_email_change",
        }
    }
}

/// Why a link cannot be used. Deliberately one answer for expired, used, revoked and forged
/// links: an attacker learns nothing from it.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error("this link has expired or has already been used")]
    Unusable,
    #[error(transparent)]
    Db(#[from] DbErr),
}

/// The still-usable token row for a presented link (not consumed).
pub async fn peek(
    tx: &TenantTx,
    purpose: TokenPurpose,
    presented: &str,
) -> Result<auth_token::Model, LinkError> {
    if !looks_like_token(presented) {
        return Err(LinkError::Unusable);
    }
    auth_token::Entity::scoped(tx)
        .filter(Column::TokenHash.eq(TokenHash::of(presented).as_str()))
        .filter(Column::Purpose.eq(purpose.as_str()))
        .filter(Column::UsedAt.is_null())
        .filter(Column::ExpiresAt.gt(Utc::now()))
        .one(tx.conn())
        .await?
        .ok_or(LinkError::Unusable)
}

/// Uses a link: marks it used only if it still is unused, so two concurrent uses cannot both
/// succeed. Returns the row (its `subject_id` says whose link it was).
pub async fn consume(
    tx: &TenantTx,
    purpose: TokenPurpose,
    presented: &str,
) -> Result<auth_token::Model, LinkError> {
    let token = peek(tx, purpose, presented).await?;
    let claimed = auth_token::Entity::scoped_update(tx)
        .col_expr(Column::UsedAt, Expr::value(Some(Utc::now())))
        .filter(Column::Id.eq(token.id))
        .filter(Column::UsedAt.is_null())
        .exec(tx.conn())
        .await?;
    if claimed.rows_affected != 1 {
        return Err(LinkError::Unusable);
    }
    Ok(token)
}

/// Every unused link of `subject` with one of `purposes` stops working.
pub async fn revoke(tx: &TenantTx, subject: Uuid, purposes: &[TokenPurpose]) -> Result<(), DbErr> {
    auth_token::Entity::scoped_update(tx)
        .col_expr(Column::UsedAt, Expr::value(Some(Utc::now())))
        .filter(Column::SubjectId.eq(subject))
        .filter(Column::UsedAt.is_null())
        .filter(Column::Purpose.is_in(purposes.iter().map(|p| p.as_str())))
        .exec(tx.conn())
        .await?;
    Ok(())
}

/// Issues a token for `subject`, revoking any earlier unused one of the same purpose (a new
/// link always replaces the old one).
pub async fn issue(
    tx: &TenantTx,
    purpose: TokenPurpose,
    subject: Uuid,
    valid_for: Duration,
) -> Result<RawToken, DbErr> {
    let now = Utc::now();
    if tx.backend() == Backend::Postgres {
        // Two links issued at once for the same subject must not both stay valid: serialise
        // issuing per subject for the rest of this transaction. (SQLite write transactions
        // are already serialised.)
        tx.conn()
            .execute_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
                [format!("auth_token:{subject}").into()],
            ))
            .await?;
    }
    auth_token::Entity::scoped_update(tx)
        .col_expr(Column::UsedAt, Expr::value(Some(now)))
        .filter(Column::SubjectId.eq(subject))
        .filter(Column::Purpose.eq(purpose.as_str()))
        .filter(Column::UsedAt.is_null())
        .exec(tx.conn())
        .await?;
    let raw = RawToken::generate();
    let mut row = auth_token::ActiveModel::new_active(tx);
    row.id = Set(TokenId::new().as_uuid());
    row.purpose = Set(purpose.as_str().to_owned());
    row.subject_id = Set(subject);
    row.token_hash = Set(raw.hash().as_str().to_owned());
    row.expires_at = Set(now + valid_for);
    row.used_at = Set(None);
    row.created_at = Set(now);
    row.insert(tx.conn()).await?;
    Ok(raw)
}
