//! `/api/v1/firm/audit`: the firm's audit trail, for administrators.

use chrono::{DateTime, Utc};
use poem_openapi::param::Query;
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};
use portico_tenants::audit::{self, AuditEntry};

use super::{Answer, ApiTags, BadRequest, Session, Unprocessable};
use crate::auth::FirmMember;
use crate::error::ApiError;

#[derive(Object)]
pub struct AuditEntryView {
    pub id: uuid::Uuid,
    pub occurred_at: DateTime<Utc>,
    /// `operator`, `system`, `member` or `client`.
    pub actor_kind: String,
    #[oai(nullable)]
    pub actor_id: Option<uuid::Uuid>,
    pub actor: String,
    pub action: String,
    pub target_kind: String,
    #[oai(nullable)]
    pub target_id: Option<String>,
    #[oai(nullable)]
    pub ip: Option<String>,
    #[oai(nullable)]
    pub detail: Option<serde_json::Value>,
}

impl From<AuditEntry> for AuditEntryView {
    fn from(e: AuditEntry) -> Self {
        Self {
            id: e.id,
            occurred_at: e.occurred_at,
            actor_kind: e.actor_kind,
            actor_id: e.actor_id,
            actor: e.actor_label,
            action: e.action,
            target_kind: e.target_kind,
            target_id: e.target_id,
            ip: e.ip,
            detail: e.detail,
        }
    }
}

pub struct FirmAuditApi;

#[OpenApi(prefix_path = "/firm", tag = "ApiTags::FirmAudit")]
impl FirmAuditApi {
    /// The audit trail (administrators only), newest first
    #[oai(path = "/audit", method = "get")]
    async fn list(
        &self,
        auth: FirmMember,
        /// A member id, or `operator`, `system`, `member`, `client`.
        actor: Query<Option<String>>,
        /// First day, `YYYY-MM-DD` (UTC).
        from: Query<Option<String>>,
        /// Last day, inclusive.
        to: Query<Option<String>>,
        /// At most this many entries (1–1000, default 200).
        limit: Query<Option<u64>>,
    ) -> Answer<Json<Vec<AuditEntryView>>, (Session, BadRequest, Unprocessable)> {
        let ctx = auth.0;
        ctx.require_admin()?;
        let filter = crate::audit_query::parse(
            actor.0.as_deref(),
            from.0.as_deref(),
            to.0.as_deref(),
            limit.0,
        )
        .map_err(ApiError::unprocessable)?;
        let tx = ctx.db.read().await?;
        let entries = audit::list(&tx, &filter).await?;
        tx.commit().await?;
        Ok(Json(
            entries.into_iter().map(AuditEntryView::from).collect(),
        ))
    }
}
