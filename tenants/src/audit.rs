//! The audit trail: who did what to which record, per firm.

use chrono::Utc;
use portico_platform::ids::{AuditId, MemberId};
use portico_platform::{TenantActiveModel, TenantTx};
use sea_orm::{ActiveModelTrait, ActiveValue::Set, DbErr};

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
    /// Something Portico did by itself (onboarding steps, jobs).
    System(&'static str),
}

impl Actor {
    fn kind(&self) -> &'static str {
        match self {
            Actor::Operator => "operator",
            Actor::Member { .. } => "member",
            Actor::System(_) => "system",
        }
    }

    fn id(&self) -> Option<uuid::Uuid> {
        match self {
            Actor::Member { id, .. } => Some(id.as_uuid()),
            _ => None,
        }
    }

    fn label(&self) -> String {
        match self {
            Actor::Operator => "Platform operator".to_owned(),
            Actor::Member { name, .. } => name.clone(),
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
