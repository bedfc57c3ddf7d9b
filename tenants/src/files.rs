//! Files (legal matters, stored in `matter`), the members assigned to them and the people on
//! them, under the file-access rule.
//!
//! **Access.** A member can access a file when they are its responsible lawyer or one of its
//! assigned members; administrators can access every file of the firm. Every query here about
//! files starts from [`accessible`], so a file the member cannot access is indistinguishable
//! from one that does not exist ([`FileError::NotFound`], `None`, or simply absent from a list).
//!
//! Decisions:
//! - **Who opens files.** Any member. A member who is not an administrator and opens a file
//!   naming someone else as responsible lawyer is assigned to it as well, so nobody creates a
//!   file they cannot see afterwards.
//! - **Who changes access.** The responsible lawyer and the assigned members decide who can see
//!   a file, so only administrators and the file's current responsible lawyer may change them;
//!   any member with access may change the number, name, type and status. Sending the current
//!   values again is not a change (forms submit every field).
//! - **Who is valid.** The responsible lawyer must be an active member of the firm. Newly
//!   assigned members must be active members; a member assigned earlier and deactivated since
//!   may stay assigned (the assignment is history, not a sign-in).
//! - **People.** Any member with access to a file adds and removes its clients. The first
//!   client of a file becomes its primary client automatically. Naming another client primary
//!   (`primary: true`, also for a contact already on the file) clears the previous primary in the
//!   same transaction, so a file never has two. Removing the primary client leaves the file
//!   without one until a member names another: bills and saved payment methods belong to the
//!   primary client, so Portico never picks the payer by itself.
//! - **Numbers** are unique per firm exactly as typed (after trimming).

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, Utc};
use portico_platform::ids::{ContactId, FileId, MemberId};
use portico_platform::{TenantActiveModel, TenantScoped, TenantTx};
use sea_orm::sea_query::{Expr, ExprTrait, Func};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, Condition, DbErr, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, QueryTrait, Select, SqlErr,
};
use serde::Serialize;
use uuid::Uuid;

use crate::audit::{self, AuditEvent};
use crate::contacts::contains_pattern;
use crate::entity::{contact, matter, matter_member, matter_person, member};
use crate::members::{self, Member};

pub const NUMBER_MAX: usize = 50;
pub const NAME_MAX: usize = 200;
pub const FILE_TYPE_MAX: usize = 100;

/// Large `IN (…)` lists are split so no backend's bind-parameter limit is reached.
const IN_CHUNK: usize = 500;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FileStatus {
    Open,
    Closed,
}

impl FileStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            FileStatus::Open => "open",
            FileStatus::Closed => "closed",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "open" => Some(FileStatus::Open),
            "closed" => Some(FileStatus::Closed),
            _ => None,
        }
    }
}

/// The role a contact holds on a file. Only Client exists today.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PersonRole {
    Client,
}

impl PersonRole {
    pub fn as_str(self) -> &'static str {
        match self {
            PersonRole::Client => "client",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        (value == "client").then_some(PersonRole::Client)
    }
}

/// A contact on a file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Person {
    pub contact_id: ContactId,
    /// The contact's current name.
    pub name: String,
    pub role: PersonRole,
    pub primary: bool,
    pub added_at: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct File {
    pub id: FileId,
    pub number: String,
    pub name: String,
    pub file_type: String,
    pub status: FileStatus,
    pub responsible_lawyer_id: MemberId,
    /// Assigned members (the responsible lawyer is listed only if also assigned).
    pub member_ids: Vec<MemberId>,
    /// The primary client first, then in the order they were added.
    pub people: Vec<Person>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl File {
    pub fn primary_client(&self) -> Option<&Person> {
        self.people.iter().find(|p| p.primary)
    }
}

/// A file as seen from one of its people (the contact's list of files).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ContactFile {
    pub id: FileId,
    pub number: String,
    pub name: String,
    pub status: FileStatus,
    pub role: PersonRole,
    pub primary: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("{0}")]
    Invalid(String),
    #[error("file number {0} is already used")]
    NumberTaken(String),
    #[error("{0}")]
    Forbidden(&'static str),
    #[error("{0}")]
    Conflict(&'static str),
    /// Missing, in another firm, or not accessible to the member: one answer for all.
    #[error("not found")]
    NotFound,
    #[error(transparent)]
    Db(#[from] DbErr),
}

const ACCESS_CHANGE_REFUSED: &str = "only administrators and the file's responsible lawyer can change its responsible lawyer or assigned members";
const PEOPLE_RACE: &str = "the people on this file changed at the same time; reload and try again";

/// The firm's files that `viewer` can access (see the module comment).
pub fn accessible(tx: &TenantTx, viewer: &Member) -> Select<matter::Entity> {
    let files = matter::Entity::scoped(tx);
    if viewer.is_admin {
        return files;
    }
    let assigned = matter_member::Entity::scoped(tx)
        .select_only()
        .column(matter_member::Column::MatterId)
        .filter(matter_member::Column::MemberId.eq(viewer.id.as_uuid()))
        .into_query();
    files.filter(
        Condition::any()
            .add(matter::Column::ResponsibleLawyerId.eq(viewer.id.as_uuid()))
            .add(matter::Column::Id.in_subquery(assigned)),
    )
}

async fn accessible_row(
    tx: &TenantTx,
    viewer: &Member,
    id: FileId,
) -> Result<Option<matter::Model>, DbErr> {
    accessible(tx, viewer)
        .filter(matter::Column::Id.eq(id.as_uuid()))
        .one(tx.conn())
        .await
}

/// Narrows the list of files.
#[derive(Clone, Debug, Default)]
pub struct FileFilter {
    pub status: Option<FileStatus>,
    /// Case-insensitive part of the number or the name.
    pub q: Option<String>,
    pub responsible_lawyer_id: Option<MemberId>,
    /// Only files where `viewer` is an assigned member.
    pub assigned_to_me: bool,
}

/// Files `viewer` can access, by number.
pub async fn list(tx: &TenantTx, viewer: &Member, filter: &FileFilter) -> Result<Vec<File>, DbErr> {
    let mut query = accessible(tx, viewer);
    if let Some(status) = filter.status {
        query = query.filter(matter::Column::Status.eq(status.as_str()));
    }
    if let Some(q) = filter.q.as_deref().map(str::trim).filter(|q| !q.is_empty()) {
        query = query.filter(
            Condition::any()
                .add(
                    Expr::expr(Func::lower(Expr::col(matter::Column::Number)))
                        .like(contains_pattern(q)),
                )
                .add(
                    Expr::expr(Func::lower(Expr::col(matter::Column::Name)))
                        .like(contains_pattern(q)),
                ),
        );
    }
    if let Some(lawyer) = filter.responsible_lawyer_id {
        query = query.filter(matter::Column::ResponsibleLawyerId.eq(lawyer.as_uuid()));
    }
    if filter.assigned_to_me {
        let mine = matter_member::Entity::scoped(tx)
            .select_only()
            .column(matter_member::Column::MatterId)
            .filter(matter_member::Column::MemberId.eq(viewer.id.as_uuid()))
            .into_query();
        query = query.filter(matter::Column::Id.in_subquery(mine));
    }
    let rows = query
        .order_by_asc(matter::Column::Number)
        .all(tx.conn())
        .await?;
    with_details(tx, rows).await
}

/// One file, if `viewer` can access it.
pub async fn get(tx: &TenantTx, viewer: &Member, id: FileId) -> Result<Option<File>, DbErr> {
    let Some(row) = accessible_row(tx, viewer, id).await? else {
        return Ok(None);
    };
    Ok(with_details(tx, vec![row]).await?.pop())
}

/// The responsible lawyer of a file, whoever asks (for notifying the lawyer about something a
/// client did, e.g. a failed Portal payment). Not an access check.
pub async fn responsible_lawyer(tx: &TenantTx, id: FileId) -> Result<Option<Member>, DbErr> {
    let row = matter::Entity::scoped(tx)
        .filter(matter::Column::Id.eq(id.as_uuid()))
        .one(tx.conn())
        .await?;
    match row {
        Some(row) => members::get(tx, MemberId::from_uuid(row.responsible_lawyer_id)).await,
        None => Ok(None),
    }
}

/// The people on a file `viewer` can access (`None` otherwise).
pub async fn people(
    tx: &TenantTx,
    viewer: &Member,
    id: FileId,
) -> Result<Option<Vec<Person>>, DbErr> {
    let Some(row) = accessible_row(tx, viewer, id).await? else {
        return Ok(None);
    };
    Ok(people_of(tx, &[row.id])
        .await?
        .remove(&row.id)
        .or_else(|| Some(Vec::new())))
}

/// The files `viewer` can access on which `contact` holds a role, by number.
pub async fn files_of_contact(
    tx: &TenantTx,
    viewer: &Member,
    contact: ContactId,
) -> Result<Vec<ContactFile>, DbErr> {
    Ok(files_of_contacts(tx, viewer, Some(contact))
        .await?
        .remove(&contact)
        .unwrap_or_default())
}

/// For every contact (or only `only`), the files `viewer` can access on which they hold a role.
pub async fn files_of_contacts(
    tx: &TenantTx,
    viewer: &Member,
    only: Option<ContactId>,
) -> Result<HashMap<ContactId, Vec<ContactFile>>, DbErr> {
    let visible = accessible(tx, viewer)
        .select_only()
        .column(matter::Column::Id)
        .into_query();
    let mut links = matter_person::Entity::scoped(tx)
        .filter(matter_person::Column::MatterId.in_subquery(visible));
    if let Some(contact) = only {
        links = links.filter(matter_person::Column::ContactId.eq(contact.as_uuid()));
    }
    let links = links.all(tx.conn()).await?;
    let matter_ids: Vec<Uuid> = links
        .iter()
        .map(|l| l.matter_id)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut files: HashMap<Uuid, matter::Model> = HashMap::new();
    for chunk in matter_ids.chunks(IN_CHUNK) {
        let rows = matter::Entity::scoped(tx)
            .filter(matter::Column::Id.is_in(chunk.to_vec()))
            .all(tx.conn())
            .await?;
        files.extend(rows.into_iter().map(|r| (r.id, r)));
    }
    let mut out: HashMap<ContactId, Vec<ContactFile>> = HashMap::new();
    for link in links {
        let Some(file) = files.get(&link.matter_id) else {
            continue;
        };
        out.entry(ContactId::from_uuid(link.contact_id))
            .or_default()
            .push(ContactFile {
                id: FileId::from_uuid(file.id),
                number: file.number.clone(),
                name: file.name.clone(),
                status: FileStatus::parse(&file.status).unwrap_or(FileStatus::Open),
                role: PersonRole::parse(&link.role).unwrap_or(PersonRole::Client),
                primary: link.is_primary,
            });
    }
    for list in out.values_mut() {
        list.sort_by(|a, b| a.number.cmp(&b.number));
    }
    Ok(out)
}

#[derive(Clone, Debug)]
pub struct NewFile {
    pub number: String,
    pub name: String,
    pub file_type: String,
    pub status: FileStatus,
    pub responsible_lawyer_id: MemberId,
    pub member_ids: Vec<MemberId>,
}

pub async fn create(
    tx: &TenantTx,
    actor: &Member,
    new: NewFile,
    ip: Option<String>,
) -> Result<File, FileError> {
    let number = required_text(&new.number, "number", NUMBER_MAX)?;
    let name = required_text(&new.name, "name", NAME_MAX)?;
    let file_type = optional_text(&new.file_type, "file type", FILE_TYPE_MAX)?;
    check_responsible_lawyer(tx, new.responsible_lawyer_id).await?;
    let mut member_ids: BTreeSet<MemberId> = new.member_ids.iter().copied().collect();
    if !actor.is_admin && actor.id != new.responsible_lawyer_id {
        member_ids.insert(actor.id);
    }
    check_new_assignments(tx, &member_ids).await?;

    let now = Utc::now();
    let id = FileId::new();
    let mut row = matter::ActiveModel::new_active(tx);
    row.id = Set(id.as_uuid());
    row.number = Set(number.clone());
    row.name = Set(name.clone());
    row.file_type = Set(file_type.clone());
    row.status = Set(new.status.as_str().to_owned());
    row.responsible_lawyer_id = Set(new.responsible_lawyer_id.as_uuid());
    row.created_at = Set(now);
    row.updated_at = Set(now);
    let inserted = row
        .insert(tx.conn())
        .await
        .map_err(|e| number_taken(e, &number))?;
    assign(tx, id, &member_ids).await?;
    audit::record(
        tx,
        AuditEvent {
            actor: actor.actor(),
            action: "file.created",
            target_kind: "file",
            target_id: Some(id.to_string()),
            ip,
            detail: Some(serde_json::json!({
                "number": number,
                "name": name,
                "file_type": file_type,
                "status": new.status.as_str(),
                "responsible_lawyer_id": new.responsible_lawyer_id,
                "member_ids": member_ids,
            })),
        },
    )
    .await?;
    with_details(tx, vec![inserted])
        .await?
        .pop()
        .ok_or(FileError::NotFound)
}

/// A change to a file; `None` leaves the field as it is. `member_ids` replaces the whole set.
#[derive(Clone, Debug, Default)]
pub struct FilePatch {
    pub number: Option<String>,
    pub name: Option<String>,
    pub file_type: Option<String>,
    pub status: Option<FileStatus>,
    pub responsible_lawyer_id: Option<MemberId>,
    pub member_ids: Option<Vec<MemberId>>,
}

/// Changes a file `actor` can access. The answer is the file as it now is, even when the
/// change took away `actor`'s own access (they may no longer open it afterwards).
pub async fn update(
    tx: &TenantTx,
    actor: &Member,
    id: FileId,
    patch: FilePatch,
    ip: Option<String>,
) -> Result<File, FileError> {
    let row = accessible_row(tx, actor, id)
        .await?
        .ok_or(FileError::NotFound)?;
    let current_members: BTreeSet<MemberId> = assigned_members(tx, &[row.id])
        .await?
        .remove(&row.id)
        .unwrap_or_default()
        .into_iter()
        .collect();
    let current_lawyer = MemberId::from_uuid(row.responsible_lawyer_id);
    let lawyer = patch.responsible_lawyer_id.filter(|l| *l != current_lawyer);
    let members = patch
        .member_ids
        .map(|ids| ids.into_iter().collect::<BTreeSet<_>>())
        .filter(|ids| *ids != current_members);
    if (lawyer.is_some() || members.is_some()) && !actor.is_admin && actor.id != current_lawyer {
        return Err(FileError::Forbidden(ACCESS_CHANGE_REFUSED));
    }

    let mut changed = serde_json::Map::new();
    let mut change: matter::ActiveModel = row.clone().into();
    let mut new_number = row.number.clone();
    if let Some(number) = patch.number {
        let number = required_text(&number, "number", NUMBER_MAX)?;
        if number != row.number {
            changed.insert(
                "number".into(),
                serde_json::json!({"from": row.number, "to": number}),
            );
            change.number = Set(number.clone());
            new_number = number;
        }
    }
    if let Some(name) = patch.name {
        let name = required_text(&name, "name", NAME_MAX)?;
        if name != row.name {
            changed.insert(
                "name".into(),
                serde_json::json!({"from": row.name, "to": name}),
            );
            change.name = Set(name);
        }
    }
    if let Some(file_type) = patch.file_type {
        let file_type = optional_text(&file_type, "file type", FILE_TYPE_MAX)?;
        if file_type != row.file_type {
            changed.insert(
                "file_type".into(),
                serde_json::json!({"from": row.file_type, "to": file_type}),
            );
            change.file_type = Set(file_type);
        }
    }
    if let Some(status) = patch
        .status
        .map(FileStatus::as_str)
        .filter(|s| *s != row.status)
    {
        changed.insert(
            "status".into(),
            serde_json::json!({"from": row.status, "to": status}),
        );
        change.status = Set(status.to_owned());
    }
    if let Some(lawyer) = lawyer {
        check_responsible_lawyer(tx, lawyer).await?;
        changed.insert(
            "responsible_lawyer_id".into(),
            serde_json::json!({"from": current_lawyer, "to": lawyer}),
        );
        change.responsible_lawyer_id = Set(lawyer.as_uuid());
    }
    if let Some(members) = &members {
        let added: BTreeSet<MemberId> = members.difference(&current_members).copied().collect();
        let removed: Vec<MemberId> = current_members.difference(members).copied().collect();
        check_new_assignments(tx, &added).await?;
        if !removed.is_empty() {
            matter_member::Entity::scoped_delete(tx)
                .filter(matter_member::Column::MatterId.eq(row.id))
                .filter(
                    matter_member::Column::MemberId.is_in(removed.iter().map(MemberId::as_uuid)),
                )
                .exec(tx.conn())
                .await?;
        }
        assign(tx, id, &added).await?;
        changed.insert(
            "member_ids".into(),
            serde_json::json!({"added": added, "removed": removed}),
        );
    }
    if changed.is_empty() {
        return with_details(tx, vec![row])
            .await?
            .pop()
            .ok_or(FileError::NotFound);
    }
    change.updated_at = Set(Utc::now());
    let updated = change
        .update(tx.conn())
        .await
        .map_err(|e| number_taken(e, &new_number))?;
    audit::record(
        tx,
        AuditEvent {
            actor: actor.actor(),
            action: "file.updated",
            target_kind: "file",
            target_id: Some(id.to_string()),
            ip,
            detail: Some(serde_json::Value::Object(changed)),
        },
    )
    .await?;
    with_details(tx, vec![updated])
        .await?
        .pop()
        .ok_or(FileError::NotFound)
}

#[derive(Clone, Copy, Debug)]
pub struct NewPerson {
    pub contact_id: ContactId,
    pub role: PersonRole,
    /// Make this contact the file's primary client (the previous one stops being primary).
    pub primary: bool,
}

/// What [`add_person`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PersonAdded {
    /// The contact is now on the file.
    Added(Person),
    /// The contact was already on the file; it is returned as it now is (primary if asked).
    AlreadyThere(Person),
}

impl PersonAdded {
    pub fn person(&self) -> &Person {
        match self {
            PersonAdded::Added(p) | PersonAdded::AlreadyThere(p) => p,
        }
    }
}

/// Puts a contact on a file `actor` can access. See the module comment for the primary rules.
pub async fn add_person(
    tx: &TenantTx,
    actor: &Member,
    file_id: FileId,
    new: NewPerson,
    ip: Option<String>,
) -> Result<PersonAdded, FileError> {
    let file = accessible_row(tx, actor, file_id)
        .await?
        .ok_or(FileError::NotFound)?;
    let contact = contact::Entity::scoped(tx)
        .filter(contact::Column::Id.eq(new.contact_id.as_uuid()))
        .one(tx.conn())
        .await?
        .ok_or_else(|| {
            FileError::Invalid("contact_id does not name a contact of this firm".into())
        })?;
    let people = matter_person::Entity::scoped(tx)
        .filter(matter_person::Column::MatterId.eq(file.id))
        .all(tx.conn())
        .await?;
    let previous_primary = people
        .iter()
        .find(|p| p.is_primary)
        .map(|p| ContactId::from_uuid(p.contact_id));
    let existing = people.iter().find(|p| p.contact_id == contact.id);
    let now = Utc::now();

    if let Some(existing) = existing {
        if !new.primary || existing.is_primary {
            return Ok(PersonAdded::AlreadyThere(person(existing, &contact.name)));
        }
        clear_primary(tx, file.id).await?;
        matter_person::Entity::scoped_update(tx)
            .col_expr(matter_person::Column::IsPrimary, Expr::value(true))
            .filter(matter_person::Column::MatterId.eq(file.id))
            .filter(matter_person::Column::ContactId.eq(contact.id))
            .exec(tx.conn())
            .await
            .map_err(people_race)?;
        touch(tx, file.id, now).await?;
        audit::record(
            tx,
            AuditEvent {
                actor: actor.actor(),
                action: "file.updated",
                target_kind: "file",
                target_id: Some(file_id.to_string()),
                ip,
                detail: Some(serde_json::json!({
                    "primary_client": {"from": previous_primary, "to": new.contact_id, "name": contact.name},
                })),
            },
        )
        .await?;
        let mut now_primary = existing.clone();
        now_primary.is_primary = true;
        return Ok(PersonAdded::AlreadyThere(person(
            &now_primary,
            &contact.name,
        )));
    }

    let primary = new.primary || people.is_empty();
    if primary {
        clear_primary(tx, file.id).await?;
    }
    let mut row = matter_person::ActiveModel::new_active(tx);
    row.matter_id = Set(file.id);
    row.contact_id = Set(contact.id);
    row.role = Set(new.role.as_str().to_owned());
    row.is_primary = Set(primary);
    row.created_at = Set(now);
    let inserted = row.insert(tx.conn()).await.map_err(people_race)?;
    touch(tx, file.id, now).await?;
    audit::record(
        tx,
        AuditEvent {
            actor: actor.actor(),
            action: "file.person_added",
            target_kind: "file",
            target_id: Some(file_id.to_string()),
            ip,
            detail: Some(serde_json::json!({
                "contact_id": new.contact_id,
                "name": contact.name,
                "role": new.role.as_str(),
                "primary": primary,
                "previous_primary": if primary { previous_primary } else { None },
            })),
        },
    )
    .await?;
    Ok(PersonAdded::Added(person(&inserted, &contact.name)))
}

/// Takes a contact off a file `actor` can access. Removing the primary client leaves the file
/// without one.
pub async fn remove_person(
    tx: &TenantTx,
    actor: &Member,
    file_id: FileId,
    contact_id: ContactId,
    ip: Option<String>,
) -> Result<(), FileError> {
    let file = accessible_row(tx, actor, file_id)
        .await?
        .ok_or(FileError::NotFound)?;
    let existing = matter_person::Entity::scoped(tx)
        .filter(matter_person::Column::MatterId.eq(file.id))
        .filter(matter_person::Column::ContactId.eq(contact_id.as_uuid()))
        .one(tx.conn())
        .await?
        .ok_or(FileError::NotFound)?;
    let name = contact::Entity::scoped(tx)
        .filter(contact::Column::Id.eq(existing.contact_id))
        .one(tx.conn())
        .await?
        .map(|c| c.name)
        .unwrap_or_default();
    matter_person::Entity::scoped_delete(tx)
        .filter(matter_person::Column::MatterId.eq(file.id))
        .filter(matter_person::Column::ContactId.eq(existing.contact_id))
        .exec(tx.conn())
        .await?;
    touch(tx, file.id, Utc::now()).await?;
    audit::record(
        tx,
        AuditEvent {
            actor: actor.actor(),
            action: "file.person_removed",
            target_kind: "file",
            target_id: Some(file_id.to_string()),
            ip,
            detail: Some(serde_json::json!({
                "contact_id": contact_id,
                "name": name,
                "role": existing.role,
                "was_primary": existing.is_primary,
            })),
        },
    )
    .await?;
    Ok(())
}

async fn clear_primary(tx: &TenantTx, matter_id: Uuid) -> Result<(), DbErr> {
    matter_person::Entity::scoped_update(tx)
        .col_expr(matter_person::Column::IsPrimary, Expr::value(false))
        .filter(matter_person::Column::MatterId.eq(matter_id))
        .filter(matter_person::Column::IsPrimary.eq(true))
        .exec(tx.conn())
        .await?;
    Ok(())
}

async fn touch(tx: &TenantTx, matter_id: Uuid, now: DateTime<Utc>) -> Result<(), DbErr> {
    matter::Entity::scoped_update(tx)
        .col_expr(matter::Column::UpdatedAt, Expr::value(now))
        .filter(matter::Column::Id.eq(matter_id))
        .exec(tx.conn())
        .await?;
    Ok(())
}

fn person(row: &matter_person::Model, name: &str) -> Person {
    Person {
        contact_id: ContactId::from_uuid(row.contact_id),
        name: name.to_owned(),
        role: PersonRole::parse(&row.role).unwrap_or(PersonRole::Client),
        primary: row.is_primary,
        added_at: row.created_at,
    }
}

fn people_race(err: DbErr) -> FileError {
    if matches!(err.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) {
        FileError::Conflict(PEOPLE_RACE)
    } else {
        FileError::Db(err)
    }
}

fn number_taken(err: DbErr, number: &str) -> FileError {
    if matches!(err.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) {
        FileError::NumberTaken(number.to_owned())
    } else {
        FileError::Db(err)
    }
}

async fn check_responsible_lawyer(tx: &TenantTx, id: MemberId) -> Result<(), FileError> {
    let active = member::Entity::scoped(tx)
        .filter(member::Column::Id.eq(id.as_uuid()))
        .filter(member::Column::Active.eq(true))
        .count(tx.conn())
        .await?;
    if active == 1 {
        Ok(())
    } else {
        Err(FileError::Invalid(
            "the responsible lawyer must be an active member of the firm".into(),
        ))
    }
}

async fn check_new_assignments(tx: &TenantTx, ids: &BTreeSet<MemberId>) -> Result<(), FileError> {
    let ids: Vec<Uuid> = ids.iter().map(MemberId::as_uuid).collect();
    let mut found: BTreeSet<Uuid> = BTreeSet::new();
    for chunk in ids.chunks(IN_CHUNK) {
        let rows = member::Entity::scoped(tx)
            .filter(member::Column::Id.is_in(chunk.to_vec()))
            .filter(member::Column::Active.eq(true))
            .all(tx.conn())
            .await?;
        found.extend(rows.into_iter().map(|r| r.id));
    }
    match ids.iter().find(|id| !found.contains(id)) {
        None => Ok(()),
        Some(missing) => Err(FileError::Invalid(format!(
            "member_ids: {missing} is not an active member of the firm"
        ))),
    }
}

async fn assign(tx: &TenantTx, file: FileId, members: &BTreeSet<MemberId>) -> Result<(), DbErr> {
    for member_id in members {
        let mut row = matter_member::ActiveModel::new_active(tx);
        row.matter_id = Set(file.as_uuid());
        row.member_id = Set(member_id.as_uuid());
        row.insert(tx.conn()).await?;
    }
    Ok(())
}

async fn assigned_members(
    tx: &TenantTx,
    matter_ids: &[Uuid],
) -> Result<HashMap<Uuid, Vec<MemberId>>, DbErr> {
    let mut out: HashMap<Uuid, Vec<MemberId>> = HashMap::new();
    for chunk in matter_ids.chunks(IN_CHUNK) {
        let rows = matter_member::Entity::scoped(tx)
            .filter(matter_member::Column::MatterId.is_in(chunk.to_vec()))
            .order_by_asc(matter_member::Column::MemberId)
            .all(tx.conn())
            .await?;
        for row in rows {
            out.entry(row.matter_id)
                .or_default()
                .push(MemberId::from_uuid(row.member_id));
        }
    }
    Ok(out)
}

async fn people_of(
    tx: &TenantTx,
    matter_ids: &[Uuid],
) -> Result<HashMap<Uuid, Vec<Person>>, DbErr> {
    let mut links = Vec::new();
    for chunk in matter_ids.chunks(IN_CHUNK) {
        links.extend(
            matter_person::Entity::scoped(tx)
                .filter(matter_person::Column::MatterId.is_in(chunk.to_vec()))
                .order_by_asc(matter_person::Column::CreatedAt)
                .all(tx.conn())
                .await?,
        );
    }
    let contact_ids: Vec<Uuid> = links
        .iter()
        .map(|l| l.contact_id)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut names: HashMap<Uuid, String> = HashMap::new();
    for chunk in contact_ids.chunks(IN_CHUNK) {
        let rows = contact::Entity::scoped(tx)
            .filter(contact::Column::Id.is_in(chunk.to_vec()))
            .all(tx.conn())
            .await?;
        names.extend(rows.into_iter().map(|c| (c.id, c.name)));
    }
    let mut out: HashMap<Uuid, Vec<Person>> = HashMap::new();
    for link in &links {
        let name = names
            .get(&link.contact_id)
            .map(String::as_str)
            .unwrap_or_default();
        out.entry(link.matter_id)
            .or_default()
            .push(person(link, name));
    }
    for people in out.values_mut() {
        // Stable: the primary first, the others in the order they were added.
        people.sort_by_key(|p| !p.primary);
    }
    Ok(out)
}

async fn with_details(tx: &TenantTx, rows: Vec<matter::Model>) -> Result<Vec<File>, DbErr> {
    let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
    let mut members = assigned_members(tx, &ids).await?;
    let mut people = people_of(tx, &ids).await?;
    Ok(rows
        .into_iter()
        .map(|row| File {
            id: FileId::from_uuid(row.id),
            member_ids: members.remove(&row.id).unwrap_or_default(),
            people: people.remove(&row.id).unwrap_or_default(),
            number: row.number,
            name: row.name,
            file_type: row.file_type,
            status: FileStatus::parse(&row.status).unwrap_or(FileStatus::Open),
            responsible_lawyer_id: MemberId::from_uuid(row.responsible_lawyer_id),
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
        .collect())
}

fn required_text(value: &str, field: &str, max: usize) -> Result<String, FileError> {
    let value = optional_text(value, field, max)?;
    if value.is_empty() {
        return Err(FileError::Invalid(format!("{field} is required")));
    }
    Ok(value)
}

fn optional_text(value: &str, field: &str, max: usize) -> Result<String, FileError> {
    let value = value.trim();
    if value.chars().count() > max {
        return Err(FileError::Invalid(format!(
            "{field} must be at most {max} characters"
        )));
    }
    Ok(value.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_and_roles_round_trip() {
        for status in [FileStatus::Open, FileStatus::Closed] {
            assert_eq!(FileStatus::parse(status.as_str()), Some(status));
        }
        assert_eq!(FileStatus::parse("archived"), None);
        assert_eq!(PersonRole::parse("client"), Some(PersonRole::Client));
        assert_eq!(PersonRole::parse("opposing"), None);
    }

    #[test]
    fn text_fields_are_trimmed_and_bounded() {
        assert_eq!(
            required_text("  2024-001 ", "number", NUMBER_MAX).expect("valid"),
            "2024-001"
        );
        assert!(required_text("   ", "number", NUMBER_MAX).is_err());
        assert!(required_text(&"9".repeat(NUMBER_MAX + 1), "number", NUMBER_MAX).is_err());
        assert_eq!(
            optional_text("  ", "file type", FILE_TYPE_MAX).expect("empty is fine"),
            ""
        );
    }
}
