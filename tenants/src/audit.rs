//! The audit trail: who did what to which record, per firm.

use chrono::{DateTime, Utc};
use portico_platform::TenantScoped;
use portico_platform::ids::{AuditId, MemberId};
use portico_platform::{TenantActiveModel, TenantTx};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, DbErr, QueryFilter, QueryOrder, QuerySelect,
};
use serde::Serialize;

use crate::entity::audit_log;

/// Who acted.
#[derive(Clone, Debug)]
pub enum Actor {
    /// A platform operator (console or API).
    Operator,
    Member {
        id: MemberId,
        name: String,
    },
    /// A client signed in to the Portal (identified by their contact).
    Client {
        contact_id: uuid::Uuid,
        name: String,
    },
    /// Something Portico did by itself (onboarding steps, jobs).
    System(&'static str),
}

impl Actor {
    fn kind(&self) -> &'static str {
        match self {
            Actor::Operator => "operator",
            Actor::Member { .. } => "member",
            Actor::Client { .. } => "client",
            Actor::System(_) => "system",
        }
    }

    fn id(&self) -> Option<uuid::Uuid> {
        match self {
            Actor::Member { id, .. } => Some(id.as_uuid()),
            Actor::Client { contact_id, .. } => Some(*contact_id),
            _ => None,
        }
    }

    fn label(&self) -> String {
        match self {
            Actor::Operator => "Platform operator".to_owned(),
            Actor::Member { name, .. } | Actor::Client { name, .. } => name.clone(),
            Actor::System(what) => format!("Portico ({what})"),
        }
    }
}

/// One entry. `detail` must never carry secrets (passwords, tokens, card data).
#[derive(Clone, Debug)]
pub struct AuditEvent {
    pub actor: Actor,
    pub action: &'static str,
    pub target_kind: &'static str,
    pub target_id: Option<String>,
    pub ip: Option<String>,
    pub detail: Option<serde_json::Value>,
}

pub async fn record(tx: &TenantTx, event: AuditEvent) -> Result<(), DbErr> {
    let mut row = audit_log::ActiveModel::new_active(tx);
    row.id = Set(AuditId::new().as_uuid());
    row.occurred_at = Set(Utc::now());
    row.actor_kind = Set(event.actor.kind().to_owned());
    row.actor_id = Set(event.actor.id());
    row.actor_label = Set(event.actor.label());
    row.action = Set(event.action.to_owned());
    row.target_kind = Set(event.target_kind.to_owned());
    row.target_id = Set(event.target_id);
    row.ip = Set(event.ip);
    row.detail = Set(event.detail);
    row.insert(tx.conn()).await?;
    Ok(())
}

/// Which entries to read back.
#[derive(Clone, Debug, Default)]
pub struct AuditFilter {
    /// `operator`, `system`, `member` or `client`.
    pub actor_kind: Option<String>,
    pub actor_id: Option<uuid::Uuid>,
    pub from: Option<DateTime<Utc>>,
    /// Exclusive upper bound.
    pub until: Option<DateTime<Utc>>,
    pub limit: u64,
}

#[derive(Clone, Debug, Serialize)]
pub struct AuditEntry {
    pub id: uuid::Uuid,
    pub occurred_at: DateTime<Utc>,
    pub actor_kind: String,
    pub actor_id: Option<uuid::Uuid>,
    pub actor_label: String,
    pub action: String,
    pub target_kind: String,
    pub target_id: Option<String>,
    pub ip: Option<String>,
    pub detail: Option<serde_json::Value>,
}

/// Newest first.
pub async fn list(tx: &TenantTx, filter: &AuditFilter) -> Result<Vec<AuditEntry>, DbErr> {
    use audit_log::Column;
    let mut query = audit_log::Entity::scoped(tx);
    if let Some(kind) = &filter.actor_kind {
        query = query.filter(Column::ActorKind.eq(kind.as_str()));
    }
    if let Some(id) = filter.actor_id {
        query = query.filter(Column::ActorId.eq(id));
    }
    if let Some(from) = filter.from {
        query = query.filter(Column::OccurredAt.gte(from));
    }
    if let Some(until) = filter.until {
        query = query.filter(Column::OccurredAt.lt(until));
    }
    let rows = query
        .order_by_desc(Column::OccurredAt)
        .order_by_desc(Column::Id)
        .limit(filter.limit.clamp(1, 1000))
        .all(tx.conn())
        .await?;
    Ok(rows
        .into_iter()
        .map(|r| AuditEntry {
            id: r.id,
            occurred_at: r.occurred_at,
            actor_kind: r.actor_kind,
            actor_id: r.actor_id,
            actor_label: r.actor_label,
            action: r.action,
            target_kind: r.target_kind,
            target_id: r.target_id,
            ip: r.ip,
            detail: r.detail,
        })
        .collect())
}
