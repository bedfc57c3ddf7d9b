//! The firm's activity feed (SPEC §10): what clients added or edited, client sign-ins, and what
//! members did with the Portal (invitations, sharing). Entries are written in the same
//! transaction as the change they describe.
//!
//! Who sees what: a member's feed is limited to the files they are assigned to or responsible
//! for (administrators too — the feed is about *your* files; the audit trail covers the firm);
//! client sign-ins are shown to members with a file shared with that client. The unread badge
//! counts client activity on those files since the member last opened the feed.

use chrono::{DateTime, Duration, Utc};
use portico_platform::ids::{FileId, MemberId};
use portico_platform::{TenantActiveModel, TenantScoped, TenantTx};
use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, Condition, DbErr, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect,
};
use serde::Serialize;
use uuid::Uuid;

use crate::audit::Actor;
use crate::entity::{activity, matter, matter_member, member_preferences, portal_file_share};
use crate::members::Member;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ActivityKind {
    /// Documents and notes added, custom fields edited by clients.
    ClientActivity,
    ClientLogin,
    /// Invitations sent or rescinded, files and items shared or unshared.
    MemberActivity,
}

impl ActivityKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ActivityKind::ClientActivity => "client_activity",
            ActivityKind::ClientLogin => "client_login",
            ActivityKind::MemberActivity => "member_activity",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "client_activity" => Some(ActivityKind::ClientActivity),
            "client_login" | "client_logins" => Some(ActivityKind::ClientLogin),
            "member_activity" => Some(ActivityKind::MemberActivity),
            _ => None,
        }
    }
}

/// Records one entry. `file` is the file it happened on (none for sign-ins).
pub async fn record(
    tx: &TenantTx,
    kind: ActivityKind,
    file: Option<FileId>,
    actor: &Actor,
    action: &str,
    summary: impl Into<String>,
) -> Result<(), DbErr> {
    let (actor_kind, actor_id, actor_label) = actor_parts(actor);
    let mut row = activity::ActiveModel::new_active(tx);
    row.id = Set(Uuid::now_v7());
    row.occurred_at = Set(Utc::now());
    row.kind = Set(kind.as_str().to_owned());
    row.matter_id = Set(file.map(|f| f.as_uuid()));
    row.actor_kind = Set(actor_kind.to_owned());
    row.actor_id = Set(actor_id);
    row.actor_label = Set(actor_label);
    row.action = Set(action.to_owned());
    row.summary = Set(summary.into().chars().take(500).collect());
    row.insert(tx.conn()).await?;
    Ok(())
}

fn actor_parts(actor: &Actor) -> (&'static str, Option<Uuid>, String) {
    match actor {
        Actor::Operator => ("operator", None, "Platform operator".into()),
        Actor::Member { id, name } => ("member", Some(id.as_uuid()), name.clone()),
        Actor::Client { contact_id, name } => ("client", Some(*contact_id), name.clone()),
        Actor::System(what) => ("system", None, format!("Portico ({what})")),
    }
}

/// A feed entry as members see it.
#[derive(Clone, Debug, Serialize)]
pub struct Entry {
    pub id: Uuid,
    pub occurred_at: DateTime<Utc>,
    pub kind: String,
    pub file_id: Option<Uuid>,
    pub file_number: Option<String>,
    pub actor_kind: String,
    pub actor: String,
    pub action: String,
    pub summary: String,
}

#[derive(Clone, Debug, Default)]
pub struct Filter {
    pub kind: Option<ActivityKind>,
    /// Only the last N days (1–365).
    pub days: Option<i64>,
    pub limit: u64,
}

/// Files the member is assigned to or responsible for.
pub fn my_file_ids(tx: &TenantTx, member: &Member) -> sea_orm::sea_query::SelectStatement {
    let assigned = Query::select()
        .column(matter_member::Column::MatterId)
        .from(matter_member::Entity)
        .and_where(Expr::col(matter_member::Column::TenantId).eq(tx.tenant_id().as_uuid()))
        .and_where(Expr::col(matter_member::Column::MemberId).eq(member.id.as_uuid()))
        .to_owned();
    Query::select()
        .column(matter::Column::Id)
        .from(matter::Entity)
        .and_where(Expr::col(matter::Column::TenantId).eq(tx.tenant_id().as_uuid()))
        .cond_where(
            Condition::any()
                .add(Expr::col(matter::Column::ResponsibleLawyerId).eq(member.id.as_uuid()))
                .add(Expr::col(matter::Column::Id).in_subquery(assigned)),
        )
        .to_owned()
}

fn in_scope(tx: &TenantTx, member: &Member) -> Condition {
    // Client sign-ins carry no file: they belong to members with a file shared with that client.
    let clients_on_my_files = Query::select()
        .column(portal_file_share::Column::ContactId)
        .from(portal_file_share::Entity)
        .and_where(Expr::col(portal_file_share::Column::TenantId).eq(tx.tenant_id().as_uuid()))
        .and_where(
            Expr::col(portal_file_share::Column::MatterId).in_subquery(my_file_ids(tx, member)),
        )
        .to_owned();
    Condition::any()
        .add(activity::Column::MatterId.in_subquery(my_file_ids(tx, member)))
        // Your own actions that concern no file (e.g. an invitation sharing no file yet).
        .add(
            Condition::all()
                .add(activity::Column::MatterId.is_null())
                .add(activity::Column::ActorId.eq(member.id.as_uuid())),
        )
        .add(
            Condition::all()
                .add(activity::Column::Kind.eq(ActivityKind::ClientLogin.as_str()))
                .add(activity::Column::ActorId.in_subquery(clients_on_my_files)),
        )
}

/// The member's feed, newest first.
pub async fn list(tx: &TenantTx, member: &Member, filter: &Filter) -> Result<Vec<Entry>, DbErr> {
    let mut query = activity::Entity::scoped(tx).filter(in_scope(tx, member));
    if let Some(kind) = filter.kind {
        query = query.filter(activity::Column::Kind.eq(kind.as_str()));
    }
    if let Some(days) = filter.days {
        query = query.filter(
            activity::Column::OccurredAt.gte(Utc::now() - Duration::days(days.clamp(1, 365))),
        );
    }
    let rows = query
        .order_by_desc(activity::Column::OccurredAt)
        .order_by_desc(activity::Column::Id)
        .limit(filter.limit.clamp(1, 500))
        .all(tx.conn())
        .await?;
    let file_ids: Vec<Uuid> = rows.iter().filter_map(|r| r.matter_id).collect();
    let numbers: std::collections::HashMap<Uuid, String> = if file_ids.is_empty() {
        Default::default()
    } else {
        matter::Entity::scoped(tx)
            .filter(matter::Column::Id.is_in(file_ids))
            .all(tx.conn())
            .await?
            .into_iter()
            .map(|m| (m.id, m.number))
            .collect()
    };
    Ok(rows
        .into_iter()
        .map(|r| Entry {
            id: r.id,
            occurred_at: r.occurred_at,
            kind: r.kind,
            file_number: r.matter_id.and_then(|m| numbers.get(&m).cloned()),
            file_id: r.matter_id,
            actor_kind: r.actor_kind,
            actor: r.actor_label,
            action: r.action,
            summary: r.summary,
        })
        .collect())
}

/// Alert preference: which files' client activity is emailed to the member.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Alerts {
    Responsible,
    Assigned,
    None,
}

impl Alerts {
    pub fn as_str(self) -> &'static str {
        match self {
            Alerts::Responsible => "responsible",
            Alerts::Assigned => "assigned",
            Alerts::None => "none",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "responsible" => Some(Alerts::Responsible),
            "assigned" => Some(Alerts::Assigned),
            "none" => Some(Alerts::None),
            _ => None,
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct Preferences {
    pub alerts: Alerts,
    pub nightly_digest: bool,
    pub activity_seen_at: Option<DateTime<Utc>>,
}

impl Default for Preferences {
    fn default() -> Self {
        Self {
            alerts: Alerts::Responsible,
            nightly_digest: false,
            activity_seen_at: None,
        }
    }
}

pub async fn preferences(tx: &TenantTx, member: MemberId) -> Result<Preferences, DbErr> {
    let row = member_preferences::Entity::scoped(tx)
        .filter(member_preferences::Column::MemberId.eq(member.as_uuid()))
        .one(tx.conn())
        .await?;
    Ok(row
        .map(|r| Preferences {
            alerts: Alerts::parse(&r.alerts).unwrap_or(Alerts::Responsible),
            nightly_digest: r.nightly_digest,
            activity_seen_at: r.activity_seen_at,
        })
        .unwrap_or_default())
}

async fn upsert_preferences(
    tx: &TenantTx,
    member: MemberId,
    prefs: &Preferences,
) -> Result<(), DbErr> {
    let existing = member_preferences::Entity::scoped(tx)
        .filter(member_preferences::Column::MemberId.eq(member.as_uuid()))
        .one(tx.conn())
        .await?;
    match existing {
        Some(row) => {
            let mut row: member_preferences::ActiveModel = row.into();
            row.alerts = Set(prefs.alerts.as_str().to_owned());
            row.nightly_digest = Set(prefs.nightly_digest);
            row.activity_seen_at = Set(prefs.activity_seen_at);
            row.update(tx.conn()).await?;
        }
        None => {
            let mut row = member_preferences::ActiveModel::new_active(tx);
            row.member_id = Set(member.as_uuid());
            row.alerts = Set(prefs.alerts.as_str().to_owned());
            row.nightly_digest = Set(prefs.nightly_digest);
            row.activity_seen_at = Set(prefs.activity_seen_at);
            member_preferences::Entity::insert(row)
                .on_conflict_do_nothing()
                .exec(tx.conn())
                .await?;
        }
    }
    Ok(())
}

pub async fn set_preferences(
    tx: &TenantTx,
    member: MemberId,
    alerts: Alerts,
    nightly_digest: bool,
) -> Result<Preferences, DbErr> {
    let mut prefs = preferences(tx, member).await?;
    prefs.alerts = alerts;
    prefs.nightly_digest = nightly_digest;
    upsert_preferences(tx, member, &prefs).await?;
    Ok(prefs)
}

/// The unread badge: client activity on the member's files since `seen`, their preferences'
/// `activity_seen_at` (the caller reads the preferences in the same transaction).
pub async fn unread_since(
    tx: &TenantTx,
    member: &Member,
    seen: Option<DateTime<Utc>>,
) -> Result<u64, DbErr> {
    let mut query = activity::Entity::scoped(tx)
        .filter(in_scope(tx, member))
        .filter(activity::Column::Kind.eq(ActivityKind::ClientActivity.as_str()));
    if let Some(seen) = seen {
        query = query.filter(activity::Column::OccurredAt.gt(seen));
    }
    query.count(tx.conn()).await
}

pub async fn mark_seen(tx: &TenantTx, member: MemberId) -> Result<(), DbErr> {
    mark_seen_at(tx, member, Utc::now()).await
}

/// Marks the activity up to `at` as seen (never moving the mark back).
pub async fn mark_seen_at(
    tx: &TenantTx,
    member: MemberId,
    at: chrono::DateTime<Utc>,
) -> Result<(), DbErr> {
    let mut prefs = preferences(tx, member).await?;
    if prefs.activity_seen_at.is_some_and(|seen| seen >= at) {
        return Ok(());
    }
    prefs.activity_seen_at = Some(at);
    upsert_preferences(tx, member, &prefs).await
}

/// Members who want an alert about client activity on `file`, by their preference.
pub async fn alert_recipients(tx: &TenantTx, file: FileId) -> Result<Vec<Member>, DbErr> {
    let Some(row) = matter::Entity::scoped(tx)
        .filter(matter::Column::Id.eq(file.as_uuid()))
        .one(tx.conn())
        .await?
    else {
        return Ok(Vec::new());
    };
    let assigned: Vec<Uuid> = matter_member::Entity::scoped(tx)
        .filter(matter_member::Column::MatterId.eq(file.as_uuid()))
        .all(tx.conn())
        .await?
        .into_iter()
        .map(|m| m.member_id)
        .collect();
    let mut out = Vec::new();
    // Only the people on the file can want an alert; their preferences in one query.
    let alerts: std::collections::HashMap<Uuid, Alerts> = member_preferences::Entity::scoped(tx)
        .all(tx.conn())
        .await?
        .into_iter()
        .map(|p| {
            (
                p.member_id,
                Alerts::parse(&p.alerts).unwrap_or(Alerts::Responsible),
            )
        })
        .collect();
    for member in crate::members::list(tx).await? {
        let responsible = member.id.as_uuid() == row.responsible_lawyer_id;
        let on_file = responsible || assigned.contains(&member.id.as_uuid());
        if !member.active || !on_file {
            continue;
        }
        let wants = match alerts
            .get(&member.id.as_uuid())
            .copied()
            .unwrap_or(Alerts::Responsible)
        {
            Alerts::Responsible => responsible,
            Alerts::Assigned => on_file,
            Alerts::None => false,
        };
        if wants {
            out.push(member);
        }
    }
    Ok(out)
}
