//! Server-side sessions for members and clients. The cookie holds a random 256-bit id; the
//! database holds its hash, the principal, a CSRF token and two deadlines (idle and absolute).
//! Sessions live in a firm's tables, so a session is only ever found on its own firm's host.

use std::time::Duration;

use chrono::{DateTime, Utc};
use portico_platform::token::{RawToken, TokenHash};
use portico_platform::{TenantActiveModel, TenantDb, TenantScoped, TenantTx};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ActiveValue::Set, ColumnTrait, DbErr, QueryFilter};
use uuid::Uuid;

use crate::entity::session::{self, Column};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PrincipalKind {
    Member,
    Client,
}

impl PrincipalKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PrincipalKind::Member => "member",
            PrincipalKind::Client => "client",
        }
    }
}

#[derive(Clone, Copy, Debug)]
pub struct SessionPolicy {
    pub idle: Duration,
    pub absolute: Duration,
}

/// Touching `last_seen_at` on every request would turn every read into a write; once a minute
/// is precise enough for a 30-minute idle timeout.
const TOUCH_EVERY: chrono::Duration = chrono::Duration::seconds(60);

/// A session just created: the cookie value is shown once.
pub struct NewSession {
    pub token: RawToken,
    pub csrf_token: String,
    pub expires_at: DateTime<Utc>,
}

/// A live session found from a presented cookie or bearer token.
#[derive(Clone, Debug)]
pub struct ActiveSession {
    pub id: Uuid,
    pub principal_kind: PrincipalKind,
    pub principal_id: Uuid,
    pub csrf_token: String,
}

pub async fn create(
    tx: &TenantTx,
    kind: PrincipalKind,
    principal_id: Uuid,
    ip: Option<String>,
    policy: SessionPolicy,
) -> Result<NewSession, DbErr> {
    let token = RawToken::generate();
    let csrf_token = RawToken::generate().reveal().to_owned();
    let now = Utc::now();
    let expires_at = now + chrono::Duration::from_std(policy.absolute).unwrap_or_default();
    let mut row = session::ActiveModel::new_active(tx);
    row.id = Set(Uuid::now_v7());
    row.token_hash = Set(token.hash().as_str().to_owned());
    row.principal_kind = Set(kind.as_str().to_owned());
    row.principal_id = Set(principal_id);
    row.csrf_token = Set(csrf_token.clone());
    row.created_at = Set(now);
    row.last_seen_at = Set(now);
    row.expires_at = Set(expires_at);
    row.ip = Set(ip);
    row.insert(tx.conn()).await?;
    Ok(NewSession {
        token,
        csrf_token,
        expires_at,
    })
}

/// A session's two deadlines, as stored: idle (`last_seen_at` + the idle timeout) and absolute.
#[derive(Clone, Copy, Debug)]
pub struct SessionTimes {
    pub last_seen_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// Whether a session is still usable now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Freshness {
    Expired,
    /// Live; `touch` when `last_seen_at` is older than [`TOUCH_EVERY`].
    Live {
        touch: bool,
    },
}

impl SessionTimes {
    pub fn judge(&self, now: DateTime<Utc>, policy: SessionPolicy) -> Freshness {
        let idle = chrono::Duration::from_std(policy.idle).unwrap_or_default();
        if self.expires_at <= now || self.last_seen_at + idle <= now {
            Freshness::Expired
        } else {
            Freshness::Live {
                touch: now - self.last_seen_at >= TOUCH_EVERY,
            }
        }
    }
}

/// What a presented token amounts to, read inside the caller's transaction so that a session
/// and its principal are read together (one transaction per request instead of two). The rare
/// writes it calls for are done by [`settle`] once that transaction has ended.
#[derive(Clone, Debug)]
pub enum Found {
    /// Not a token, or no such session.
    Nothing,
    /// Expired (idle or absolute): to be deleted.
    Expired(Uuid),
    /// Live; `touch` when `last_seen_at` is older than [`TOUCH_EVERY`].
    Live {
        session: ActiveSession,
        times: SessionTimes,
        touch: bool,
    },
}

impl Found {
    /// The live session, if it is one of `kind`.
    pub fn live(&self, kind: PrincipalKind) -> Option<&ActiveSession> {
        match self {
            Found::Live { session, .. } if session.principal_kind == kind => Some(session),
            _ => None,
        }
    }
}

/// Reads the session whose token hashes to `hash` in `tx` (no writes; see [`settle`]).
pub async fn find(tx: &TenantTx, hash: &TokenHash, policy: SessionPolicy) -> Result<Found, DbErr> {
    let row = session::Entity::scoped(tx)
        .filter(Column::TokenHash.eq(hash.as_str()))
        .one(tx.conn())
        .await?;
    let Some(row) = row else {
        return Ok(Found::Nothing);
    };
    let times = SessionTimes {
        last_seen_at: row.last_seen_at,
        expires_at: row.expires_at,
    };
    let Freshness::Live { touch } = times.judge(Utc::now(), policy) else {
        return Ok(Found::Expired(row.id));
    };
    let principal_kind = if row.principal_kind == "client" {
        PrincipalKind::Client
    } else {
        PrincipalKind::Member
    };
    Ok(Found::Live {
        touch,
        times,
        session: ActiveSession {
            id: row.id,
            principal_kind,
            principal_id: row.principal_id,
            csrf_token: row.csrf_token,
        },
    })
}

/// Does what [`find`] called for — deletes an expired session, records activity on a live one
/// at most once a minute — and returns the live session, if any. Bookkeeping writes: a cached
/// session checks its own deadlines on every use, so neither needs to retire other answers.
pub async fn settle(db: &TenantDb, found: Found) -> Result<Option<ActiveSession>, DbErr> {
    match found {
        Found::Nothing => Ok(None),
        Found::Expired(id) => {
            let tx = db.write_bookkeeping().await?;
            session::Entity::scoped_delete(&tx)
                .filter(Column::Id.eq(id))
                .exec(tx.conn())
                .await?;
            tx.commit().await?;
            Ok(None)
        }
        Found::Live { session, touch, .. } => {
            if touch {
                let tx = db.write_bookkeeping().await?;
                session::Entity::scoped_update(&tx)
                    .col_expr(Column::LastSeenAt, Expr::value(Utc::now()))
                    .filter(Column::Id.eq(session.id))
                    .exec(tx.conn())
                    .await?;
                tx.commit().await?;
            }
            Ok(Some(session))
        }
    }
}

pub async fn end(tx: &TenantTx, session_id: Uuid) -> Result<(), DbErr> {
    session::Entity::scoped_delete(tx)
        .filter(Column::Id.eq(session_id))
        .exec(tx.conn())
        .await?;
    Ok(())
}

/// Ends every session of a principal, except `keep` (the one making the change, if any).
pub async fn end_all(
    tx: &TenantTx,
    kind: PrincipalKind,
    principal_id: Uuid,
    keep: Option<Uuid>,
) -> Result<u64, DbErr> {
    let mut delete = session::Entity::scoped_delete(tx)
        .filter(Column::PrincipalKind.eq(kind.as_str()))
        .filter(Column::PrincipalId.eq(principal_id));
    if let Some(keep) = keep {
        delete = delete.filter(Column::Id.ne(keep));
    }
    Ok(delete.exec(tx.conn()).await?.rows_affected)
}
