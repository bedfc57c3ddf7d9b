//! Notes, appointments and tasks on a file, and their "Show in Portal / Remove from Portal"
//! flag. A client sees an item only if their account is active AND the file is shared with
//! them AND the item is shared; items clients add are shared automatically and attributed to
//! them. Private appointments stay out of the lists of members who are not attendees (and
//! cannot be shown in the Portal).

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use portico_platform::ids::FileId;
use portico_platform::{TenantActiveModel, TenantScoped, TenantTx};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ActiveValue::Set, ColumnTrait, DbErr, QueryFilter, QueryOrder};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::activity::{self, ActivityKind};
use crate::audit::{self, AuditEvent};
use crate::entity::{appointment, contact, member, note, task};
use crate::files;
use crate::members::{self, Member};
use crate::portal_access::{self, Client};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ItemKind {
    Note,
    Appointment,
    Task,
}

impl ItemKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ItemKind::Note => "note",
            ItemKind::Appointment => "appointment",
            ItemKind::Task => "task",
        }
    }

    /// "a note", "an appointment", "a task".
    pub fn with_article(self) -> &'static str {
        match self {
            ItemKind::Note => "a note",
            ItemKind::Appointment => "an appointment",
            ItemKind::Task => "a task",
        }
    }

    /// The firm option (`shareable_kinds`) that governs this kind.
    pub fn option_kind(self) -> &'static str {
        match self {
            ItemKind::Note => "notes",
            ItemKind::Appointment => "appointments",
            ItemKind::Task => "tasks",
        }
    }
}

/// Who created an item.
#[derive(Clone, Debug, Serialize)]
pub struct Author {
    /// `member` or `client`.
    pub kind: String,
    pub id: Uuid,
    /// Current name (a renamed contact shows the new name).
    pub name: String,
}

/// The names of the people who created a batch of items, loaded with one query per kind
/// (not one per item).
struct Authors {
    members: HashMap<Uuid, String>,
    contacts: HashMap<Uuid, String>,
}

impl Authors {
    async fn load(
        tx: &TenantTx,
        keys: impl IntoIterator<Item = (bool, Uuid)>,
    ) -> Result<Self, DbErr> {
        let (mut member_ids, mut contact_ids) = (Vec::new(), Vec::new());
        for (is_client, id) in keys {
            if is_client {
                contact_ids.push(id)
            } else {
                member_ids.push(id)
            }
        }
        let members = if member_ids.is_empty() {
            HashMap::new()
        } else {
            member::Entity::scoped(tx)
                .filter(member::Column::Id.is_in(member_ids))
                .all(tx.conn())
                .await?
                .into_iter()
                .map(|m| (m.id, m.name))
                .collect()
        };
        let contacts = if contact_ids.is_empty() {
            HashMap::new()
        } else {
            contact::Entity::scoped(tx)
                .filter(contact::Column::Id.is_in(contact_ids))
                .all(tx.conn())
                .await?
                .into_iter()
                .map(|c| (c.id, c.name))
                .collect()
        };
        Ok(Self { members, contacts })
    }

    fn author(&self, kind: &str, id: Uuid) -> Author {
        let names = if kind == "client" {
            &self.contacts
        } else {
            &self.members
        };
        Author {
            kind: kind.to_owned(),
            id,
            name: names
                .get(&id)
                .cloned()
                .unwrap_or_else(|| "(removed)".into()),
        }
    }
}

/// One item row with its author's current name.
async fn one_with_author<R, T>(
    tx: &TenantTx,
    kind: String,
    id: Uuid,
    row: R,
    build: impl Fn(&Authors, R) -> T,
) -> Result<T, DbErr> {
    let authors = Authors::load(tx, [(kind == "client", id)]).await?;
    Ok(build(&authors, row))
}

/// Converts item rows with their authors' current names.
async fn with_authors<R, T>(
    tx: &TenantTx,
    rows: Vec<R>,
    key: impl Fn(&R) -> (bool, Uuid),
    build: impl Fn(&Authors, R) -> T,
) -> Result<Vec<T>, DbErr> {
    let authors = Authors::load(tx, rows.iter().map(&key)).await?;
    Ok(rows.into_iter().map(|row| build(&authors, row)).collect())
}

#[derive(Clone, Debug, Serialize)]
pub struct Note {
    pub id: Uuid,
    pub file_id: Uuid,
    pub body: String,
    pub shared: bool,
    pub created_by: Author,
    pub created_at: DateTime<Utc>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Appointment {
    pub id: Uuid,
    pub file_id: Uuid,
    pub title: String,
    pub starts_at: DateTime<Utc>,
    pub ends_at: Option<DateTime<Utc>>,
    pub location: String,
    pub private: bool,
    pub attendee_ids: Vec<Uuid>,
    pub shared: bool,
    pub created_by: Author,
    pub created_at: DateTime<Utc>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Task {
    pub id: Uuid,
    pub file_id: Uuid,
    pub title: String,
    pub due_date: Option<String>,
    pub done: bool,
    pub shared: bool,
    pub created_by: Author,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, thiserror::Error)]
pub enum ItemError {
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("not found")]
    NotFound,
    #[error(transparent)]
    Db(#[from] DbErr),
}

/// The sharing rules the firm's options impose.
#[derive(Clone, Debug)]
pub struct SharingRules {
    pub shareable_kinds: Vec<String>,
}

impl SharingRules {
    fn check(&self, kind: ItemKind) -> Result<(), ItemError> {
        if self.shareable_kinds.iter().any(|k| k == kind.option_kind()) {
            Ok(())
        } else {
            Err(ItemError::Forbidden(format!(
                "the firm does not share {} in the Portal (Options > Client Portal)",
                kind.option_kind()
            )))
        }
    }

    pub fn allows(&self, kind: ItemKind) -> bool {
        self.check(kind).is_ok()
    }
}

async fn accessible_file(
    tx: &TenantTx,
    viewer: &Member,
    file: FileId,
) -> Result<files::File, ItemError> {
    files::get(tx, viewer, file)
        .await?
        .ok_or(ItemError::NotFound)
}

fn text(value: &str, field: &str, max: usize) -> Result<String, ItemError> {
    let value = value.trim();
    if value.is_empty() {
        return Err(ItemError::Invalid(format!("{field} is required")));
    }
    if value.chars().count() > max {
        return Err(ItemError::Invalid(format!(
            "{field} must be at most {max} characters"
        )));
    }
    Ok(value.to_owned())
}

fn require_share_right(viewer: &Member, shared: bool) -> Result<(), ItemError> {
    if shared && !viewer.portal_rights {
        return Err(ItemError::Forbidden(
            "you are not permitted to share items and invite clients to the Portal".into(),
        ));
    }
    Ok(())
}

/// The audit entry of a new item, and the member-activity entry when it is shared at once.
#[allow(clippy::too_many_arguments)]
async fn record_created(
    tx: &TenantTx,
    viewer: &Member,
    kind: ItemKind,
    id: Uuid,
    file: FileId,
    file_number: &str,
    shared: bool,
    ip: Option<String>,
    detail: serde_json::Value,
) -> Result<(), DbErr> {
    let action = match kind {
        ItemKind::Note => "note.created",
        ItemKind::Appointment => "appointment.created",
        ItemKind::Task => "task.created",
    };
    audit::record(
        tx,
        AuditEvent {
            actor: viewer.actor(),
            action,
            target_kind: kind.as_str(),
            target_id: Some(id.to_string()),
            ip,
            detail: Some(detail),
        },
    )
    .await?;
    if shared {
        activity::record(
            tx,
            ActivityKind::MemberActivity,
            Some(file),
            &viewer.actor(),
            "item.shared",
            format!("shared {} on {file_number}", kind.with_article()),
        )
        .await?;
    }
    Ok(())
}

// ---- notes --------------------------------------------------------------------------------

fn note_of(authors: &Authors, row: note::Model) -> Note {
    Note {
        created_by: authors.author(&row.created_by_kind, row.created_by_id),
        id: row.id,
        file_id: row.matter_id,
        body: row.body,
        shared: row.shared,
        created_at: row.created_at,
    }
}

pub async fn notes(tx: &TenantTx, viewer: &Member, file: FileId) -> Result<Vec<Note>, ItemError> {
    accessible_file(tx, viewer, file).await?;
    let rows = note::Entity::scoped(tx)
        .filter(note::Column::MatterId.eq(file.as_uuid()))
        .order_by_desc(note::Column::CreatedAt)
        .all(tx.conn())
        .await?;
    Ok(with_authors(
        tx,
        rows,
        |r| (r.created_by_kind == "client", r.created_by_id),
        note_of,
    )
    .await?)
}

pub async fn add_note(
    tx: &TenantTx,
    viewer: &Member,
    file: FileId,
    body: &str,
    shared: bool,
    rules: &SharingRules,
    ip: Option<String>,
) -> Result<Note, ItemError> {
    let found = accessible_file(tx, viewer, file).await?;
    let body = text(body, "body", 20_000)?;
    if shared {
        require_share_right(viewer, true)?;
        rules.check(ItemKind::Note)?;
    }
    let row = insert_note(tx, file, &body, shared, "member", viewer.id.as_uuid()).await?;
    record_created(
        tx,
        viewer,
        ItemKind::Note,
        row.id,
        file,
        &found.number,
        shared,
        ip,
        serde_json::json!({"file": found.number, "shared": shared}),
    )
    .await?;
    Ok(one_with_author(
        tx,
        row.created_by_kind.clone(),
        row.created_by_id,
        row,
        note_of,
    )
    .await?)
}

async fn insert_note(
    tx: &TenantTx,
    file: FileId,
    body: &str,
    shared: bool,
    by_kind: &str,
    by: Uuid,
) -> Result<note::Model, DbErr> {
    let now = Utc::now();
    let mut row = note::ActiveModel::new_active(tx);
    row.id = Set(Uuid::now_v7());
    row.matter_id = Set(file.as_uuid());
    row.body = Set(body.to_owned());
    row.shared = Set(shared);
    row.created_by_kind = Set(by_kind.to_owned());
    row.created_by_id = Set(by);
    row.created_at = Set(now);
    row.updated_at = Set(now);
    row.insert(tx.conn()).await
}

/// Shared notes of a file shared with the client.
pub async fn client_notes(
    tx: &TenantTx,
    client: &Client,
    file: FileId,
    rules: &SharingRules,
) -> Result<Vec<Note>, ItemError> {
    portal_access::file_for_client(tx, client, file)
        .await?
        .ok_or(ItemError::NotFound)?;
    if !rules.allows(ItemKind::Note) {
        return Ok(Vec::new());
    }
    let rows = note::Entity::scoped(tx)
        .filter(note::Column::MatterId.eq(file.as_uuid()))
        .filter(note::Column::Shared.eq(true))
        .order_by_desc(note::Column::CreatedAt)
        .all(tx.conn())
        .await?;
    Ok(with_authors(
        tx,
        rows,
        |r| (r.created_by_kind == "client", r.created_by_id),
        note_of,
    )
    .await?)
}

/// A client adds a note: shared at once, attributed to the client, in the firm's activity.
pub async fn client_add_note(
    tx: &TenantTx,
    client: &Client,
    file: FileId,
    body: &str,
    rules: &SharingRules,
) -> Result<Note, ItemError> {
    let shared_file = portal_access::file_for_client(tx, client, file)
        .await?
        .ok_or(ItemError::NotFound)?;
    rules.check(ItemKind::Note)?;
    let body = text(body, "body", 20_000)?;
    let row = insert_note(tx, file, &body, true, "client", client.contact_id.as_uuid()).await?;
    let excerpt: String = body.chars().take(80).collect();
    activity::record(
        tx,
        ActivityKind::ClientActivity,
        Some(file),
        &client.actor(),
        "note.added",
        format!("added a note on {}: {excerpt}", shared_file.number),
    )
    .await?;
    Ok(one_with_author(
        tx,
        row.created_by_kind.clone(),
        row.created_by_id,
        row,
        note_of,
    )
    .await?)
}

// ---- appointments -------------------------------------------------------------------------

fn attendees(value: &serde_json::Value) -> Vec<Uuid> {
    let items = match value {
        serde_json::Value::Array(items) => items.clone(),
        serde_json::Value::String(text) => serde_json::from_str(text).unwrap_or_default(),
        _ => Vec::new(),
    };
    items
        .iter()
        .filter_map(|v| v.as_str().and_then(|s| s.parse().ok()))
        .collect()
}

fn appointment_of(authors: &Authors, row: appointment::Model) -> Appointment {
    Appointment {
        created_by: authors.author(&row.created_by_kind, row.created_by_id),
        attendee_ids: attendees(&row.attendee_ids),
        id: row.id,
        file_id: row.matter_id,
        title: row.title,
        starts_at: row.starts_at,
        ends_at: row.ends_at,
        location: row.location,
        private: row.private,
        shared: row.shared,
        created_at: row.created_at,
    }
}

fn sees_private(viewer: &Member, row: &appointment::Model) -> bool {
    row.created_by_id == viewer.id.as_uuid()
        || attendees(&row.attendee_ids).contains(&viewer.id.as_uuid())
}

pub async fn appointments(
    tx: &TenantTx,
    viewer: &Member,
    file: FileId,
) -> Result<Vec<Appointment>, ItemError> {
    accessible_file(tx, viewer, file).await?;
    let rows = appointment::Entity::scoped(tx)
        .filter(appointment::Column::MatterId.eq(file.as_uuid()))
        .order_by_asc(appointment::Column::StartsAt)
        .all(tx.conn())
        .await?;
    let visible: Vec<_> = rows
        .into_iter()
        .filter(|r| !r.private || sees_private(viewer, r))
        .collect();
    Ok(with_authors(
        tx,
        visible,
        |r| (r.created_by_kind == "client", r.created_by_id),
        appointment_of,
    )
    .await?)
}

#[derive(Clone, Debug)]
pub struct NewAppointment {
    pub title: String,
    pub starts_at: DateTime<Utc>,
    pub ends_at: Option<DateTime<Utc>>,
    pub location: String,
    pub private: bool,
    pub attendee_ids: Vec<Uuid>,
    pub shared: bool,
}

pub async fn add_appointment(
    tx: &TenantTx,
    viewer: &Member,
    file: FileId,
    new: NewAppointment,
    rules: &SharingRules,
    ip: Option<String>,
) -> Result<Appointment, ItemError> {
    let found = accessible_file(tx, viewer, file).await?;
    let title = text(&new.title, "title", 200)?;
    if new.location.chars().count() > 200 {
        return Err(ItemError::Invalid(
            "location must be at most 200 characters".into(),
        ));
    }
    if let Some(ends) = new.ends_at
        && ends < new.starts_at
    {
        return Err(ItemError::Invalid(
            "ends_at must not be before starts_at".into(),
        ));
    }
    if new.private && new.shared {
        return Err(ItemError::Invalid(
            "a private appointment cannot be shown in the Portal".into(),
        ));
    }
    if new.shared {
        require_share_right(viewer, true)?;
        rules.check(ItemKind::Appointment)?;
    }
    let members = members::list(tx).await?;
    for id in &new.attendee_ids {
        if !members.iter().any(|m| m.id.as_uuid() == *id) {
            return Err(ItemError::Invalid(format!(
                "attendee {id} is not a member of the firm"
            )));
        }
    }
    let mut row = appointment::ActiveModel::new_active(tx);
    row.id = Set(Uuid::now_v7());
    row.matter_id = Set(file.as_uuid());
    row.title = Set(title);
    row.starts_at = Set(new.starts_at);
    row.ends_at = Set(new.ends_at);
    row.location = Set(new.location.trim().to_owned());
    row.private = Set(new.private);
    row.attendee_ids = Set(serde_json::json!(new.attendee_ids));
    row.shared = Set(new.shared);
    row.created_by_kind = Set("member".into());
    row.created_by_id = Set(viewer.id.as_uuid());
    row.created_at = Set(Utc::now());
    let row = row.insert(tx.conn()).await?;
    let detail =
        serde_json::json!({"file": found.number, "shared": new.shared, "private": new.private});
    record_created(
        tx,
        viewer,
        ItemKind::Appointment,
        row.id,
        file,
        &found.number,
        new.shared,
        ip,
        detail,
    )
    .await?;
    Ok(one_with_author(
        tx,
        row.created_by_kind.clone(),
        row.created_by_id,
        row,
        appointment_of,
    )
    .await?)
}

pub async fn client_appointments(
    tx: &TenantTx,
    client: &Client,
    file: FileId,
    rules: &SharingRules,
) -> Result<Vec<Appointment>, ItemError> {
    portal_access::file_for_client(tx, client, file)
        .await?
        .ok_or(ItemError::NotFound)?;
    if !rules.allows(ItemKind::Appointment) {
        return Ok(Vec::new());
    }
    let rows = appointment::Entity::scoped(tx)
        .filter(appointment::Column::MatterId.eq(file.as_uuid()))
        .filter(appointment::Column::Shared.eq(true))
        .filter(appointment::Column::Private.eq(false))
        .order_by_asc(appointment::Column::StartsAt)
        .all(tx.conn())
        .await?;
    Ok(with_authors(
        tx,
        rows,
        |r| (r.created_by_kind == "client", r.created_by_id),
        appointment_of,
    )
    .await?)
}

// ---- tasks --------------------------------------------------------------------------------

fn task_of(authors: &Authors, row: task::Model) -> Task {
    Task {
        created_by: authors.author(&row.created_by_kind, row.created_by_id),
        id: row.id,
        file_id: row.matter_id,
        title: row.title,
        due_date: row.due_date,
        done: row.done,
        shared: row.shared,
        created_at: row.created_at,
    }
}

pub async fn tasks(tx: &TenantTx, viewer: &Member, file: FileId) -> Result<Vec<Task>, ItemError> {
    accessible_file(tx, viewer, file).await?;
    let rows = task::Entity::scoped(tx)
        .filter(task::Column::MatterId.eq(file.as_uuid()))
        .order_by_asc(task::Column::Done)
        .order_by_asc(task::Column::DueDate)
        .order_by_desc(task::Column::CreatedAt)
        .all(tx.conn())
        .await?;
    Ok(with_authors(
        tx,
        rows,
        |r| (r.created_by_kind == "client", r.created_by_id),
        task_of,
    )
    .await?)
}

fn due_date(value: Option<&str>) -> Result<Option<String>, ItemError> {
    match value.map(str::trim).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) => NaiveDate::parse_from_str(v, "%Y-%m-%d")
            .map(|d| Some(d.format("%Y-%m-%d").to_string()))
            .map_err(|_| ItemError::Invalid("due_date must be a date like 2026-12-31".into())),
    }
}

/// A new task.
#[derive(Clone, Debug)]
pub struct NewTask {
    pub title: String,
    /// `YYYY-MM-DD`, or empty.
    pub due_date: Option<String>,
    pub shared: bool,
}

pub async fn add_task(
    tx: &TenantTx,
    viewer: &Member,
    file: FileId,
    new: NewTask,
    rules: &SharingRules,
    ip: Option<String>,
) -> Result<Task, ItemError> {
    let NewTask {
        title,
        due_date: due,
        shared,
    } = new;
    let found = accessible_file(tx, viewer, file).await?;
    let title = text(&title, "title", 200)?;
    let due = due_date(due.as_deref())?;
    if shared {
        require_share_right(viewer, true)?;
        rules.check(ItemKind::Task)?;
    }
    let now = Utc::now();
    let mut row = task::ActiveModel::new_active(tx);
    row.id = Set(Uuid::now_v7());
    row.matter_id = Set(file.as_uuid());
    row.title = Set(title);
    row.due_date = Set(due);
    row.done = Set(false);
    row.shared = Set(shared);
    row.created_by_kind = Set("member".into());
    row.created_by_id = Set(viewer.id.as_uuid());
    row.created_at = Set(now);
    row.updated_at = Set(now);
    let row = row.insert(tx.conn()).await?;
    record_created(
        tx,
        viewer,
        ItemKind::Task,
        row.id,
        file,
        &found.number,
        shared,
        ip,
        serde_json::json!({"file": found.number, "shared": shared}),
    )
    .await?;
    Ok(one_with_author(
        tx,
        row.created_by_kind.clone(),
        row.created_by_id,
        row,
        task_of,
    )
    .await?)
}

/// Marks a task done or not done.
pub async fn set_task_done(
    tx: &TenantTx,
    viewer: &Member,
    id: Uuid,
    done: bool,
) -> Result<Task, ItemError> {
    let row = task::Entity::scoped(tx)
        .filter(task::Column::Id.eq(id))
        .one(tx.conn())
        .await?
        .ok_or(ItemError::NotFound)?;
    accessible_file(tx, viewer, FileId::from_uuid(row.matter_id)).await?;
    let mut change: task::ActiveModel = row.into();
    change.done = Set(done);
    change.updated_at = Set(Utc::now());
    let row = change.update(tx.conn()).await?;
    Ok(one_with_author(
        tx,
        row.created_by_kind.clone(),
        row.created_by_id,
        row,
        task_of,
    )
    .await?)
}

pub async fn client_tasks(
    tx: &TenantTx,
    client: &Client,
    file: FileId,
    rules: &SharingRules,
) -> Result<Vec<Task>, ItemError> {
    portal_access::file_for_client(tx, client, file)
        .await?
        .ok_or(ItemError::NotFound)?;
    if !rules.allows(ItemKind::Task) {
        return Ok(Vec::new());
    }
    let rows = task::Entity::scoped(tx)
        .filter(task::Column::MatterId.eq(file.as_uuid()))
        .filter(task::Column::Shared.eq(true))
        .order_by_asc(task::Column::Done)
        .order_by_asc(task::Column::DueDate)
        .all(tx.conn())
        .await?;
    Ok(with_authors(
        tx,
        rows,
        |r| (r.created_by_kind == "client", r.created_by_id),
        task_of,
    )
    .await?)
}

// ---- Show in Portal / Remove from Portal -----------------------------------------------------

/// Changes an item's Portal flag. The member needs access to its file and the Portal right;
/// the firm must allow the kind to be shared; private appointments are never shared.
pub async fn set_shared(
    tx: &TenantTx,
    viewer: &Member,
    kind: ItemKind,
    id: Uuid,
    shared: bool,
    rules: &SharingRules,
    ip: Option<String>,
) -> Result<FileId, ItemError> {
    let file = match kind {
        ItemKind::Note => note::Entity::scoped(tx)
            .filter(note::Column::Id.eq(id))
            .one(tx.conn())
            .await?
            .map(|r| r.matter_id),
        ItemKind::Task => task::Entity::scoped(tx)
            .filter(task::Column::Id.eq(id))
            .one(tx.conn())
            .await?
            .map(|r| r.matter_id),
        ItemKind::Appointment => {
            let row = appointment::Entity::scoped(tx)
                .filter(appointment::Column::Id.eq(id))
                .one(tx.conn())
                .await?;
            if let Some(row) = &row {
                if row.private && !sees_private(viewer, row) {
                    return Err(ItemError::NotFound);
                }
                if row.private && shared {
                    return Err(ItemError::Invalid(
                        "a private appointment cannot be shown in the Portal".into(),
                    ));
                }
            }
            row.map(|r| r.matter_id)
        }
    };
    let file = FileId::from_uuid(file.ok_or(ItemError::NotFound)?);
    let found = accessible_file(tx, viewer, file).await?;
    require_share_right(viewer, true)?;
    if shared {
        rules.check(kind)?;
    }
    match kind {
        ItemKind::Note => {
            note::Entity::scoped_update(tx)
                .col_expr(note::Column::Shared, Expr::value(shared))
                .filter(note::Column::Id.eq(id))
                .exec(tx.conn())
                .await?;
        }
        ItemKind::Task => {
            task::Entity::scoped_update(tx)
                .col_expr(task::Column::Shared, Expr::value(shared))
                .filter(task::Column::Id.eq(id))
                .exec(tx.conn())
                .await?;
        }
        ItemKind::Appointment => {
            appointment::Entity::scoped_update(tx)
                .col_expr(appointment::Column::Shared, Expr::value(shared))
                .filter(appointment::Column::Id.eq(id))
                .exec(tx.conn())
                .await?;
        }
    }
    let action = if shared {
        "item.shared"
    } else {
        "item.unshared"
    };
    audit::record(
        tx,
        AuditEvent {
            actor: viewer.actor(),
            action,
            target_kind: kind.as_str(),
            target_id: Some(id.to_string()),
            ip,
            detail: Some(serde_json::json!({"file": found.number})),
        },
    )
    .await?;
    activity::record(
        tx,
        ActivityKind::MemberActivity,
        Some(file),
        &viewer.actor(),
        action,
        format!(
            "{} {} on {}",
            if shared {
                "shared"
            } else {
                "removed from the Portal"
            },
            kind.with_article(),
            found.number
        ),
    )
    .await?;
    Ok(file)
}

/// One row of a file's "Shared items list".
#[derive(Clone, Debug, Serialize)]
pub struct SharedItem {
    pub kind: String,
    pub id: Uuid,
    pub title: String,
    pub created_at: DateTime<Utc>,
    pub owner: String,
}

/// Notes, appointments and tasks of a file marked shared (documents and custom fields are
/// added by their own modules), whether or not the file itself is shared.
pub async fn shared_items(
    tx: &TenantTx,
    viewer: &Member,
    file: FileId,
) -> Result<Vec<SharedItem>, ItemError> {
    let mut out = Vec::new();
    for n in notes(tx, viewer, file)
        .await?
        .into_iter()
        .filter(|n| n.shared)
    {
        out.push(SharedItem {
            kind: "note".into(),
            id: n.id,
            title: n.body.chars().take(60).collect(),
            created_at: n.created_at,
            owner: n.created_by.name,
        });
    }
    for a in appointments(tx, viewer, file)
        .await?
        .into_iter()
        .filter(|a| a.shared)
    {
        out.push(SharedItem {
            kind: "appointment".into(),
            id: a.id,
            title: a.title,
            created_at: a.created_at,
            owner: a.created_by.name,
        });
    }
    for t in tasks(tx, viewer, file)
        .await?
        .into_iter()
        .filter(|t| t.shared)
    {
        out.push(SharedItem {
            kind: "task".into(),
            id: t.id,
            title: t.title,
            created_at: t.created_at,
            owner: t.created_by.name,
        });
    }
    Ok(out)
}
