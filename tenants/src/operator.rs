//! Operator console sessions: the console trades the operator token for a server-side session
//! (random id in a host-only cookie, stored hashed) with its own CSRF token.

use chrono::{Duration, Utc};
use portico_platform::Database;
use portico_platform::ids::OperatorSessionId;
use portico_platform::token::{RawToken, TokenHash};
use sea_orm::{ActiveModelTrait, ActiveValue::Set, ColumnTrait, DbErr, EntityTrait, QueryFilter};

use crate::entity::operator_session;

pub const OPERATOR_SESSION_HOURS: i64 = 8;

pub struct OperatorSession {
    pub csrf_token: String,
}

/// Starts a session; returns the cookie value.
pub async fn start(db: &Database) -> Result<RawToken, DbErr> {
    let raw = RawToken::generate();
    let now = Utc::now();
    operator_session::ActiveModel {
        id: Set(OperatorSessionId::new().as_uuid()),
        token_hash: Set(raw.hash().as_str().to_owned()),
        csrf_token: Set(RawToken::generate().reveal().to_owned()),
        created_at: Set(now),
        expires_at: Set(now + Duration::hours(OPERATOR_SESSION_HOURS)),
    }
    .insert(db.unscoped_registry())
    .await?;
    Ok(raw)
}

/// The live session for a cookie value, if any.
pub async fn find(db: &Database, presented: &str) -> Result<Option<OperatorSession>, DbErr> {
    let hash = TokenHash::of(presented);
    let Some(row) = crate::bootstrap::operator_session_by_hash(db, &hash).await? else {
        return Ok(None);
    };
    if row.expires_at <= Utc::now() {
        return Ok(None);
    }
    Ok(Some(OperatorSession {
        csrf_token: row.csrf_token,
    }))
}

#[allow(clippy::disallowed_methods)] // operator sessions are platform-level
pub async fn end(db: &Database, presented: &str) -> Result<(), DbErr> {
    let hash = TokenHash::of(presented);
    operator_session::Entity::delete_many()
        .filter(operator_session::Column::TokenHash.eq(hash.as_str()))
        .exec(db.unscoped_registry())
        .await?;
    Ok(())
}
