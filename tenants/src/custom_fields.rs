//! Custom fields (SPEC §7): the firm's field definitions, each file's values, and the per-file
//! Portal sharing of every field (Hide / Share read-only / Share editable) with its bulk actions,
//! for members and for clients.
//!
//! Decisions:
//! - **Definitions** are made, changed and deleted by administrators; every member can list
//!   them. Names are trimmed, at most [`NAME_MAX`] characters and unique per firm ignoring case
//!   ("Court" and "court" would confuse everyone). The kind of a field never changes once it
//!   exists (stored values would stop making sense): create another field instead. A choice
//!   still held by a file cannot be removed from the list. Deleting a field deletes its values.
//! - **File types.** A field with a `file_type` applies only to files of that type; one without
//!   applies to every file. File types are free text, so types compare trimmed and ignoring case.
//!   Changing a field's type keeps the values stored on other files, but they are not listed,
//!   editable or shown to clients while the field does not apply.
//! - **Values** are stored as text, normalized by kind: text (trimmed, at most [`TEXT_MAX`]
//!   characters); number — an exact decimal such as `12.50` (optional minus sign, at most
//!   [`NUMBER_MAX_INTEGER_DIGITS`] digits before the point and [`NUMBER_MAX_FRACTION_DIGITS`]
//!   after, no thousands separators), stored as its canonical text (leading zeros and `+`
//!   dropped, the decimals kept as typed so `12.50` stays `12.50`) and never converted to a
//!   floating-point number, because such values are often money; date — `YYYY-MM-DD`; yes/no —
//!   `true` or `false`; choice — exactly one of the field's choices. An empty value, like
//!   `null`, clears the field.
//! - **Who.** Any member who can access a file sets its values. Changing the Portal sharing —
//!   hiding included — needs the Portal right ("Permitted to share items and invite clients to
//!   the Portal"). Sharing (read-only or editable) also needs the firm to allow custom fields in
//!   `shareable_kinds`; hiding is always allowed, so a firm that stops sharing custom fields can
//!   still tidy up. Without that option clients see no custom field at all.
//! - **Bulk.** "Make all fields editable" shares every field that applies to the file;
//!   "Hide all fields" hides every field of the file. "Apply the same settings to all files of
//!   this type" does the same on every file of the same type that the member can access — and
//!   no other: files the member cannot access are left exactly as they are. A file without a
//!   type has no "files of this type", so the option is refused there.
//! - **Clients** see a field only when their Portal account is active, the file is shared with
//!   them, the firm allows custom fields, the field applies to the file and it is shared
//!   (read-only or editable); anything else is the same "not found" as a missing id. A client
//!   edits only editable fields; the value is attributed to them and members see it at once.
//! - **Audit.** `custom_field.created|updated|deleted` (target: the field) and
//!   `custom_field.value_changed|sharing_changed` (target: the file; detail names the field and
//!   gives `from` → `to`), one entry per changed field and file, bulk actions included.
//! - **Activity feed.** A client's edit is client activity on the file; a member sharing or
//!   hiding fields is member activity (one entry per file for a bulk action).
//! - **Shared items list.** The "owner" of a shared field is whoever last set its value (member
//!   or client), or the file's responsible lawyer while it has none.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, NaiveDate, Utc};
use portico_platform::ids::{CustomFieldId, FileId};
use portico_platform::{TenantActiveModel, TenantScoped, TenantTx};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, DbErr, PaginatorTrait, QueryFilter,
    QuerySelect, SqlErr,
};
use serde::Serialize;
use uuid::Uuid;

use crate::activity::{self, ActivityKind};
use crate::audit::{self, Actor, AuditEvent};
use crate::entity::{contact, custom_field, custom_field_value, matter, member};
use crate::files;
use crate::members::Member;
use crate::portal_access::{self, Client};

pub const NAME_MAX: usize = 100;
pub const TEXT_MAX: usize = 2000;
pub const CHOICE_MAX: usize = 100;
pub const CHOICES_MAX: usize = 100;
pub const NUMBER_MAX_INTEGER_DIGITS: usize = 15;
pub const NUMBER_MAX_FRACTION_DIGITS: usize = 6;

/// The item kind in the firm's `shareable_kinds` that lets custom fields be shared.
pub const SHAREABLE_KIND: &str = "custom_fields";

/// Large `IN (…)` lists are split so no backend's bind-parameter limit is reached.
const IN_CHUNK: usize = 500;

const NO_PORTAL_RIGHT: &str =
    "you are not permitted to share items and invite clients to the Portal (ask an administrator)";
const KIND_NOT_SHAREABLE: &str = "this firm does not share custom fields in the Portal; an administrator can allow them in Options > Client Portal";
const READ_ONLY_IN_PORTAL: &str = "this field is read-only in the Portal";
const ADMINS_ONLY: &str = "only administrators can define custom fields";
const RACE: &str = "this field was changed at the same time; reload and try again";

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldKind {
    Text,
    Number,
    Date,
    YesNo,
    Choice,
}

impl FieldKind {
    pub const ALL: [FieldKind; 5] = [
        FieldKind::Text,
        FieldKind::Number,
        FieldKind::Date,
        FieldKind::YesNo,
        FieldKind::Choice,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            FieldKind::Text => "text",
            FieldKind::Number => "number",
            FieldKind::Date => "date",
            FieldKind::YesNo => "yes_no",
            FieldKind::Choice => "choice",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            FieldKind::Text => "Text",
            FieldKind::Number => "Number",
            FieldKind::Date => "Date",
            FieldKind::YesNo => "Yes/no",
            FieldKind::Choice => "Choice list",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == value)
    }

    /// What a valid value looks like, for error messages and hints.
    pub fn expected(self) -> &'static str {
        match self {
            FieldKind::Text => "text of at most 2000 characters",
            FieldKind::Number => {
                "a decimal number such as 12.50 (digits, an optional minus sign and decimal point, no thousands separators; at most 15 digits before the point and 6 after)"
            }
            FieldKind::Date => "a date as YYYY-MM-DD, such as 2026-03-31",
            FieldKind::YesNo => "true or false",
            FieldKind::Choice => "one of the field's choices",
        }
    }
}

/// A field's Portal sharing on one file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ShareState {
    Hidden,
    ReadOnly,
    Editable,
}

impl ShareState {
    pub const ALL: [ShareState; 3] = [
        ShareState::Hidden,
        ShareState::ReadOnly,
        ShareState::Editable,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ShareState::Hidden => "hidden",
            ShareState::ReadOnly => "read_only",
            ShareState::Editable => "editable",
        }
    }

    /// The words of the sharing menu.
    pub fn label(self) -> &'static str {
        match self {
            ShareState::Hidden => "Hide",
            ShareState::ReadOnly => "Share read-only",
            ShareState::Editable => "Share editable",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == value)
    }

    fn of_row(row: Option<&custom_field_value::Model>) -> Self {
        row.and_then(|r| Self::parse(&r.sharing))
            .unwrap_or(ShareState::Hidden)
    }
}

/// The bulk sharing actions of a file's custom fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BulkAction {
    MakeAllEditable,
    HideAll,
}

impl BulkAction {
    pub fn as_str(self) -> &'static str {
        match self {
            BulkAction::MakeAllEditable => "make_all_editable",
            BulkAction::HideAll => "hide_all",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "make_all_editable" => Some(BulkAction::MakeAllEditable),
            "hide_all" => Some(BulkAction::HideAll),
            _ => None,
        }
    }

    fn target(self) -> ShareState {
        match self {
            BulkAction::MakeAllEditable => ShareState::Editable,
            BulkAction::HideAll => ShareState::Hidden,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FieldDefinition {
    pub id: CustomFieldId,
    pub name: String,
    pub kind: FieldKind,
    /// Empty unless `kind` is `choice`.
    pub choices: Vec<String>,
    /// The file type the field is limited to; `None` applies it to every file.
    pub file_type: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl FieldDefinition {
    /// Whether the field applies to a file of `file_type`.
    pub fn applies_to(&self, file_type: &str) -> bool {
        self.file_type
            .as_deref()
            .is_none_or(|t| same_type(t, file_type))
    }

    /// The stored form of a value for this field, or a message naming the field and what it
    /// expects. `None` and blank values clear the field.
    pub fn normalize(&self, raw: Option<&str>) -> std::result::Result<Option<String>, String> {
        let Some(raw) = raw.map(str::trim).filter(|r| !r.is_empty()) else {
            return Ok(None);
        };
        let normalized = match self.kind {
            FieldKind::Text => (raw.chars().count() <= TEXT_MAX).then(|| raw.to_owned()),
            FieldKind::Number => normalize_number(raw),
            FieldKind::Date => normalize_date(raw),
            FieldKind::YesNo => match raw.to_ascii_lowercase().as_str() {
                "true" => Some("true".to_owned()),
                "false" => Some("false".to_owned()),
                _ => None,
            },
            FieldKind::Choice => self.choices.iter().find(|c| c.as_str() == raw).cloned(),
        };
        normalized
            .map(Some)
            .ok_or_else(|| self.invalid_value_message())
    }

    pub fn invalid_value_message(&self) -> String {
        match self.kind {
            FieldKind::Choice => format!(
                "{}: expected one of {}",
                self.name,
                self.choices
                    .iter()
                    .map(|c| format!("“{c}”"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            kind => format!("{}: expected {}", self.name, kind.expected()),
        }
    }

    fn from_row(row: custom_field::Model) -> Self {
        let choices = row
            .choices
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|c| c.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        Self {
            id: CustomFieldId::from_uuid(row.id),
            name: row.name,
            kind: FieldKind::parse(&row.kind).unwrap_or(FieldKind::Text),
            choices,
            file_type: row.file_type,
            created_at: row.created_at,
        }
    }
}

/// A definition with how many files hold a value for it (the administrators' list).
#[derive(Clone, Debug, Serialize)]
pub struct DefinitionUsage {
    #[serde(flatten)]
    pub field: FieldDefinition,
    pub files_with_value: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum UpdatedByKind {
    Member,
    Client,
}

impl UpdatedByKind {
    fn as_str(self) -> &'static str {
        match self {
            UpdatedByKind::Member => "member",
            UpdatedByKind::Client => "client",
        }
    }
}

/// Who last set a value: a member, or a client through the Portal (by contact id).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct UpdatedBy {
    pub kind: UpdatedByKind,
    pub id: Uuid,
    /// The member's or the contact's current name.
    pub name: String,
}

/// A field as it is on one file, for members.
#[derive(Clone, Debug, Serialize)]
pub struct FileField {
    pub field: FieldDefinition,
    pub value: Option<String>,
    pub sharing: ShareState,
    pub sharing_changed_at: Option<DateTime<Utc>>,
    /// When the value was last set (`None` if it never was).
    pub updated_at: Option<DateTime<Utc>>,
    pub updated_by: Option<UpdatedBy>,
}

/// A shared field as its client sees it.
#[derive(Clone, Debug, Serialize)]
pub struct ClientField {
    pub field_id: CustomFieldId,
    pub name: String,
    pub kind: FieldKind,
    pub choices: Vec<String>,
    pub value: Option<String>,
    pub editable: bool,
}

/// One entry of a file's "Shared items list".
#[derive(Clone, Debug, Serialize)]
pub struct SharedField {
    pub field_id: CustomFieldId,
    pub name: String,
    pub sharing: ShareState,
    /// When it was last shared (or its sharing last changed).
    pub shared_at: DateTime<Utc>,
    pub owner: String,
}

/// What a bulk sharing action did.
#[derive(Clone, Debug, Serialize)]
pub struct BulkOutcome {
    /// Every file the action was applied to (all accessible files of the type, or the one file).
    pub file_ids: Vec<FileId>,
    /// Files where at least one field changed.
    pub changed_file_ids: Vec<FileId>,
    /// Changed (file, field) pairs.
    pub changed: u64,
    /// Files where a field hidden until now became visible to clients.
    pub newly_shared_file_ids: Vec<FileId>,
}

/// One field's sharing after a change, and what it was before.
#[derive(Clone, Debug, Serialize)]
pub struct SharingChange {
    pub field: FileField,
    pub previous: ShareState,
}

impl SharingChange {
    /// The field was hidden and clients can now see it.
    pub fn newly_shared(&self) -> bool {
        self.previous == ShareState::Hidden && self.field.sharing != ShareState::Hidden
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CustomFieldError {
    /// A validation rule; the message names the field and what it expects.
    #[error("{0}")]
    Invalid(String),
    #[error("a custom field named “{0}” already exists")]
    NameTaken(String),
    #[error("{0}")]
    Conflict(String),
    /// A rule the caller can see; the message names it.
    #[error("{0}")]
    Forbidden(String),
    /// Missing, in another firm, or not visible to the caller: one answer for all.
    #[error("not found")]
    NotFound,
    #[error(transparent)]
    Db(#[from] DbErr),
}

type Result<T> = std::result::Result<T, CustomFieldError>;

// ---- Definitions --------------------------------------------------------------------------

/// A new definition as typed. `kind` is the wire name (`text`, `number`, `date`, `yes_no`,
/// `choice`).
#[derive(Clone, Debug, Default)]
pub struct NewField {
    pub name: String,
    pub kind: String,
    pub choices: Option<Vec<String>>,
    pub file_type: Option<String>,
}

/// A change to a definition; `None` leaves the part as it is. `file_type: Some(None)` (or an
/// empty type) makes the field apply to every file.
#[derive(Clone, Debug, Default)]
pub struct FieldPatch {
    pub name: Option<String>,
    /// Accepted only when it is the field's current kind.
    pub kind: Option<String>,
    pub choices: Option<Vec<String>>,
    pub file_type: Option<Option<String>>,
}

/// Every definition of the firm, by name.
pub async fn list_definitions(tx: &TenantTx) -> std::result::Result<Vec<FieldDefinition>, DbErr> {
    let mut fields: Vec<FieldDefinition> = custom_field::Entity::scoped(tx)
        .all(tx.conn())
        .await?
        .into_iter()
        .map(FieldDefinition::from_row)
        .collect();
    sort_by_name(&mut fields);
    Ok(fields)
}

/// Every definition with the number of files holding a value for it.
pub async fn list_definitions_with_usage(
    tx: &TenantTx,
) -> std::result::Result<Vec<DefinitionUsage>, DbErr> {
    let counts: HashMap<Uuid, i64> = custom_field_value::Entity::scoped(tx)
        .select_only()
        .column(custom_field_value::Column::FieldId)
        .column_as(Expr::col(custom_field_value::Column::MatterId).count(), "n")
        .filter(custom_field_value::Column::Value.is_not_null())
        .group_by(custom_field_value::Column::FieldId)
        .into_tuple::<(Uuid, i64)>()
        .all(tx.conn())
        .await?
        .into_iter()
        .collect();
    Ok(list_definitions(tx)
        .await?
        .into_iter()
        .map(|field| DefinitionUsage {
            files_with_value: counts
                .get(&field.id.as_uuid())
                .map_or(0, |n| u64::try_from(*n).unwrap_or(0)),
            field,
        })
        .collect())
}

pub async fn get_definition(
    tx: &TenantTx,
    id: CustomFieldId,
) -> std::result::Result<Option<FieldDefinition>, DbErr> {
    Ok(custom_field::Entity::scoped(tx)
        .filter(custom_field::Column::Id.eq(id.as_uuid()))
        .one(tx.conn())
        .await?
        .map(FieldDefinition::from_row))
}

pub async fn create_definition(
    tx: &TenantTx,
    actor: &Member,
    new: NewField,
    ip: Option<String>,
) -> Result<FieldDefinition> {
    require_admin(actor)?;
    let name = field_name(&new.name)?;
    let kind = FieldKind::parse(new.kind.trim()).ok_or_else(|| {
        CustomFieldError::Invalid(format!(
            "kind must be one of {}",
            FieldKind::ALL.map(FieldKind::as_str).join(", ")
        ))
    })?;
    let choices = field_choices(kind, new.choices)?;
    let file_type = field_file_type(new.file_type.as_deref())?;
    check_name_free(tx, &name, None).await?;

    let id = CustomFieldId::new();
    let mut row = custom_field::ActiveModel::new_active(tx);
    row.id = Set(id.as_uuid());
    row.name = Set(name.clone());
    row.kind = Set(kind.as_str().to_owned());
    row.choices = Set(serde_json::json!(choices));
    row.file_type = Set(file_type.clone());
    row.created_at = Set(Utc::now());
    let inserted = row
        .insert(tx.conn())
        .await
        .map_err(|e| name_taken(e, &name))?;
    audit::record(
        tx,
        AuditEvent {
            actor: actor.actor(),
            action: "custom_field.created",
            target_kind: "custom_field",
            target_id: Some(id.to_string()),
            ip,
            detail: Some(serde_json::json!({
                "name": name,
                "kind": kind.as_str(),
                "choices": choices,
                "file_type": file_type,
            })),
        },
    )
    .await?;
    Ok(FieldDefinition::from_row(inserted))
}

pub async fn update_definition(
    tx: &TenantTx,
    actor: &Member,
    id: CustomFieldId,
    patch: FieldPatch,
    ip: Option<String>,
) -> Result<FieldDefinition> {
    require_admin(actor)?;
    let current = get_definition(tx, id)
        .await?
        .ok_or(CustomFieldError::NotFound)?;
    if let Some(kind) = patch.kind.as_deref()
        && kind.trim() != current.kind.as_str()
    {
        return Err(CustomFieldError::Invalid(
            "kind cannot be changed once a field exists; create a new field instead".into(),
        ));
    }
    let name = match &patch.name {
        Some(name) => field_name(name)?,
        None => current.name.clone(),
    };
    let choices = match patch.choices {
        Some(choices) => field_choices(current.kind, Some(choices))?,
        None => current.choices.clone(),
    };
    let file_type = match &patch.file_type {
        Some(file_type) => field_file_type(file_type.as_deref())?,
        None => current.file_type.clone(),
    };
    if name != current.name {
        check_name_free(tx, &name, Some(id)).await?;
    }
    let removed: Vec<&String> = current
        .choices
        .iter()
        .filter(|c| !choices.contains(c))
        .collect();
    for choice in &removed {
        let held = custom_field_value::Entity::scoped(tx)
            .filter(custom_field_value::Column::FieldId.eq(id.as_uuid()))
            .filter(custom_field_value::Column::Value.eq(choice.as_str()))
            .count(tx.conn())
            .await?;
        if held > 0 {
            return Err(CustomFieldError::Conflict(format!(
                "the choice “{choice}” is held by {held} file{}; change those values first",
                if held == 1 { "" } else { "s" }
            )));
        }
    }

    let mut changes = serde_json::Map::new();
    if name != current.name {
        changes.insert(
            "name".into(),
            serde_json::json!({"from": current.name, "to": name}),
        );
    }
    if choices != current.choices {
        changes.insert(
            "choices".into(),
            serde_json::json!({"from": current.choices, "to": choices}),
        );
    }
    if file_type != current.file_type {
        changes.insert(
            "file_type".into(),
            serde_json::json!({"from": current.file_type, "to": file_type}),
        );
    }
    if changes.is_empty() {
        return Ok(current);
    }
    custom_field::Entity::scoped_update(tx)
        .col_expr(custom_field::Column::Name, Expr::value(name.clone()))
        .col_expr(
            custom_field::Column::Choices,
            Expr::value(serde_json::json!(choices)),
        )
        .col_expr(
            custom_field::Column::FileType,
            Expr::value(file_type.clone()),
        )
        .filter(custom_field::Column::Id.eq(id.as_uuid()))
        .exec(tx.conn())
        .await
        .map_err(|e| name_taken(e, &name))?;
    audit::record(
        tx,
        AuditEvent {
            actor: actor.actor(),
            action: "custom_field.updated",
            target_kind: "custom_field",
            target_id: Some(id.to_string()),
            ip,
            detail: Some(serde_json::Value::Object(changes)),
        },
    )
    .await?;
    get_definition(tx, id)
        .await?
        .ok_or(CustomFieldError::NotFound)
}

/// Deletes a definition and every file's value and sharing of it.
pub async fn delete_definition(
    tx: &TenantTx,
    actor: &Member,
    id: CustomFieldId,
    ip: Option<String>,
) -> Result<()> {
    require_admin(actor)?;
    let current = get_definition(tx, id)
        .await?
        .ok_or(CustomFieldError::NotFound)?;
    let values = custom_field_value::Entity::scoped_delete(tx)
        .filter(custom_field_value::Column::FieldId.eq(id.as_uuid()))
        .exec(tx.conn())
        .await?
        .rows_affected;
    custom_field::Entity::scoped_delete(tx)
        .filter(custom_field::Column::Id.eq(id.as_uuid()))
        .exec(tx.conn())
        .await?;
    audit::record(
        tx,
        AuditEvent {
            actor: actor.actor(),
            action: "custom_field.deleted",
            target_kind: "custom_field",
            target_id: Some(id.to_string()),
            ip,
            detail: Some(serde_json::json!({
                "name": current.name,
                "kind": current.kind.as_str(),
                "file_rows_removed": values,
            })),
        },
    )
    .await?;
    Ok(())
}

// ---- Values and sharing, members ----------------------------------------------------------

/// Every field that applies to a file `viewer` can access, with its value and sharing, by
/// name. `NotFound` for a file the member cannot access.
pub async fn file_fields(tx: &TenantTx, viewer: &Member, file: FileId) -> Result<Vec<FileField>> {
    let file = accessible_file(tx, viewer, file).await?;
    Ok(fields_of(tx, &file).await?)
}

/// One field of a file `viewer` can access.
pub async fn file_field(
    tx: &TenantTx,
    viewer: &Member,
    file: FileId,
    field: CustomFieldId,
) -> Result<FileField> {
    let file = accessible_file(tx, viewer, file).await?;
    let field = applicable_field(tx, &file, field).await?;
    let row = value_row(tx, file.id, field.id.as_uuid()).await?;
    let mut out = with_names(tx, vec![(field, row)]).await?;
    out.pop().ok_or(CustomFieldError::NotFound)
}

/// Sets (or, with `None`/blank, clears) a field's value on a file `actor` can access.
pub async fn set_value(
    tx: &TenantTx,
    actor: &Member,
    file: FileId,
    field: CustomFieldId,
    raw: Option<&str>,
    ip: Option<String>,
) -> Result<FileField> {
    let file_row = accessible_file(tx, actor, file).await?;
    let definition = applicable_field(tx, &file_row, field).await?;
    let value = definition
        .normalize(raw)
        .map_err(CustomFieldError::Invalid)?;
    let existing = value_row(tx, file_row.id, definition.id.as_uuid()).await?;
    write_value(
        tx,
        file_row.id,
        &definition,
        existing,
        value,
        (UpdatedByKind::Member, actor.id.as_uuid()),
        actor.actor(),
        ip,
    )
    .await?;
    file_field(tx, actor, file, field).await
}

/// Several values of one file at once (the file page's form): every value is checked first,
/// and nothing is saved unless all are valid. Returns the messages by field otherwise.
pub async fn set_values(
    tx: &TenantTx,
    actor: &Member,
    file: FileId,
    values: &BTreeMap<CustomFieldId, Option<String>>,
    ip: Option<String>,
) -> Result<std::result::Result<u64, BTreeMap<CustomFieldId, String>>> {
    let file_row = accessible_file(tx, actor, file).await?;
    let mut checked = Vec::new();
    let mut errors = BTreeMap::new();
    for (id, raw) in values {
        let definition = applicable_field(tx, &file_row, *id).await?;
        match definition.normalize(raw.as_deref()) {
            Ok(value) => checked.push((definition, value)),
            Err(message) => {
                errors.insert(*id, message);
            }
        }
    }
    if !errors.is_empty() {
        return Ok(Err(errors));
    }
    let mut changed = 0;
    for (definition, value) in checked {
        let existing = value_row(tx, file_row.id, definition.id.as_uuid()).await?;
        if write_value(
            tx,
            file_row.id,
            &definition,
            existing,
            value,
            (UpdatedByKind::Member, actor.id.as_uuid()),
            actor.actor(),
            ip.clone(),
        )
        .await?
        {
            changed += 1;
        }
    }
    Ok(Ok(changed))
}

/// Why a member may not change the Portal sharing of custom fields, if they may not.
pub fn sharing_refusal(actor: &Member) -> Option<&'static str> {
    (!actor.portal_rights).then_some(NO_PORTAL_RIGHT)
}

/// Changes one field's Portal sharing on a file `actor` can access. `kind_shareable` is
/// whether the firm allows custom fields in `shareable_kinds`.
pub async fn set_sharing(
    tx: &TenantTx,
    actor: &Member,
    file: FileId,
    field: CustomFieldId,
    sharing: ShareState,
    kind_shareable: bool,
    ip: Option<String>,
) -> Result<SharingChange> {
    let file_row = accessible_file(tx, actor, file).await?;
    let definition = applicable_field(tx, &file_row, field).await?;
    check_may_share(actor, sharing, kind_shareable)?;
    let existing = value_row(tx, file_row.id, definition.id.as_uuid()).await?;
    let previous = ShareState::of_row(existing.as_ref());
    let changed = write_sharing(
        tx,
        file_row.id,
        &definition,
        existing,
        sharing,
        actor,
        None,
        ip,
    )
    .await?;
    if changed {
        let (action, summary) = match sharing {
            ShareState::Hidden => (
                "custom_field.unshared",
                format!(
                    "hid the custom field {} on {}",
                    definition.name, file_row.number
                ),
            ),
            shared => (
                "custom_field.shared",
                format!(
                    "shared the custom field {} ({}) on {}",
                    definition.name,
                    shared.label().trim_start_matches("Share ").to_lowercase(),
                    file_row.number
                ),
            ),
        };
        activity::record(
            tx,
            ActivityKind::MemberActivity,
            Some(file),
            &actor.actor(),
            action,
            summary,
        )
        .await?;
    }
    Ok(SharingChange {
        field: file_field(tx, actor, file, field).await?,
        previous,
    })
}

/// "Make all fields editable" / "Hide all fields" on a file `actor` can access, and with
/// `apply_to_file_type` on every file of the same type the member can access.
pub async fn bulk_sharing(
    tx: &TenantTx,
    actor: &Member,
    file: FileId,
    action: BulkAction,
    apply_to_file_type: bool,
    kind_shareable: bool,
    ip: Option<String>,
) -> Result<BulkOutcome> {
    let file_row = accessible_file(tx, actor, file).await?;
    let target = action.target();
    check_may_share(actor, target, kind_shareable)?;
    let targets: Vec<(Uuid, String, String)> = if apply_to_file_type {
        if file_row.file_type.trim().is_empty() {
            return Err(CustomFieldError::Invalid(
                "this file has no type, so there are no files of the same type; give it a type first or apply the action to this file only".into(),
            ));
        }
        files::accessible(tx, actor)
            .select_only()
            .column(matter::Column::Id)
            .column(matter::Column::FileType)
            .column(matter::Column::Number)
            .into_tuple::<(Uuid, String, String)>()
            .all(tx.conn())
            .await?
            .into_iter()
            .filter(|(_, t, _)| same_type(t, &file_row.file_type))
            .collect()
    } else {
        vec![(
            file_row.id,
            file_row.file_type.clone(),
            file_row.number.clone(),
        )]
    };
    let definitions = list_definitions(tx).await?;
    let by_id: HashMap<Uuid, &FieldDefinition> =
        definitions.iter().map(|d| (d.id.as_uuid(), d)).collect();
    let target_ids: Vec<Uuid> = targets.iter().map(|(id, _, _)| *id).collect();
    let mut rows: HashMap<(Uuid, Uuid), custom_field_value::Model> = HashMap::new();
    for chunk in target_ids.chunks(IN_CHUNK) {
        for row in custom_field_value::Entity::scoped(tx)
            .filter(custom_field_value::Column::MatterId.is_in(chunk.to_vec()))
            .all(tx.conn())
            .await?
        {
            rows.insert((row.matter_id, row.field_id), row);
        }
    }

    let mut changed = 0;
    let mut changed_files = BTreeSet::new();
    let mut newly_shared = BTreeSet::new();
    for (matter_id, file_type, number) in &targets {
        let fields: Vec<&FieldDefinition> = match action {
            BulkAction::MakeAllEditable => definitions
                .iter()
                .filter(|d| d.applies_to(file_type))
                .collect(),
            // Hiding covers every row of the file, also of fields that no longer apply.
            BulkAction::HideAll => rows
                .values()
                .filter(|r| r.matter_id == *matter_id)
                .filter_map(|r| by_id.get(&r.field_id).copied())
                .collect(),
        };
        let mut changed_here = 0;
        for definition in fields {
            let existing = rows.remove(&(*matter_id, definition.id.as_uuid()));
            let was_hidden = ShareState::of_row(existing.as_ref()) == ShareState::Hidden;
            if write_sharing(
                tx,
                *matter_id,
                definition,
                existing,
                target,
                actor,
                Some((action, apply_to_file_type)),
                ip.clone(),
            )
            .await?
            {
                changed += 1;
                changed_here += 1;
                changed_files.insert(*matter_id);
                if was_hidden && target != ShareState::Hidden {
                    newly_shared.insert(*matter_id);
                }
            }
        }
        if changed_here > 0 {
            let plural = if changed_here == 1 { "" } else { "s" };
            let (name, summary) = match action {
                BulkAction::MakeAllEditable => (
                    "custom_field.shared",
                    format!("shared {changed_here} custom field{plural} editable on {number}"),
                ),
                BulkAction::HideAll => (
                    "custom_field.unshared",
                    format!("hid {changed_here} custom field{plural} on {number}"),
                ),
            };
            activity::record(
                tx,
                ActivityKind::MemberActivity,
                Some(FileId::from_uuid(*matter_id)),
                &actor.actor(),
                name,
                summary,
            )
            .await?;
        }
    }
    Ok(BulkOutcome {
        file_ids: target_ids.into_iter().map(FileId::from_uuid).collect(),
        changed_file_ids: changed_files.into_iter().map(FileId::from_uuid).collect(),
        changed,
        newly_shared_file_ids: newly_shared.into_iter().map(FileId::from_uuid).collect(),
    })
}

/// The fields of a file `viewer` can access whose sharing is not hidden, for the file's
/// "Shared items list" (listed whether or not the file itself is shared). `None` when the
/// member cannot access the file.
pub async fn shared_items(
    tx: &TenantTx,
    viewer: &Member,
    file: FileId,
) -> std::result::Result<Option<Vec<SharedField>>, DbErr> {
    let file = match accessible_file(tx, viewer, file).await {
        Ok(file) => file,
        Err(CustomFieldError::Db(err)) => return Err(err),
        Err(_) => return Ok(None),
    };
    let lawyer = member::Entity::scoped(tx)
        .filter(member::Column::Id.eq(file.responsible_lawyer_id))
        .one(tx.conn())
        .await?
        .map(|m| m.name)
        .unwrap_or_default();
    Ok(Some(
        fields_of(tx, &file)
            .await?
            .into_iter()
            .filter(|f| f.sharing != ShareState::Hidden)
            .map(|f| SharedField {
                field_id: f.field.id,
                name: f.field.name,
                sharing: f.sharing,
                shared_at: f
                    .sharing_changed_at
                    .or(f.updated_at)
                    .unwrap_or(f.field.created_at),
                owner: f
                    .updated_by
                    .map(|u| u.name)
                    .unwrap_or_else(|| lawyer.clone()),
            })
            .collect(),
    ))
}

// ---- The client's side --------------------------------------------------------------------

/// The shared fields of a file shared with `client`, by name; `None` when the file is not
/// visible to the client (identical to a missing file). `kind_shareable`: the firm allows
/// custom fields in `shareable_kinds` (otherwise the list is empty).
pub async fn client_fields(
    tx: &TenantTx,
    client: &Client,
    file: FileId,
    kind_shareable: bool,
) -> std::result::Result<Option<Vec<ClientField>>, DbErr> {
    let Some(shared) = portal_access::file_for_client(tx, client, file).await? else {
        return Ok(None);
    };
    if !kind_shareable {
        return Ok(Some(Vec::new()));
    }
    let definitions = list_definitions(tx).await?;
    let rows = rows_of_file(tx, file.as_uuid()).await?;
    Ok(Some(
        definitions
            .into_iter()
            .filter(|d| d.applies_to(&shared.file_type))
            .filter_map(|d| {
                let row = rows.get(&d.id.as_uuid())?;
                client_view(d, row)
            })
            .collect(),
    ))
}

/// A client sets an editable field of a file shared with them. Not visible → `NotFound`;
/// read-only → `Forbidden` with the reason. Also answers whether the value changed (a change
/// is client activity on the file).
pub async fn client_set_value(
    tx: &TenantTx,
    client: &Client,
    file: FileId,
    field: CustomFieldId,
    raw: Option<&str>,
    kind_shareable: bool,
    ip: Option<String>,
) -> Result<(ClientField, bool)> {
    let shared = portal_access::file_for_client(tx, client, file)
        .await?
        .ok_or(CustomFieldError::NotFound)?;
    if !kind_shareable {
        return Err(CustomFieldError::NotFound);
    }
    let definition = get_definition(tx, field)
        .await?
        .filter(|d| d.applies_to(&shared.file_type))
        .ok_or(CustomFieldError::NotFound)?;
    let existing = value_row(tx, file.as_uuid(), field.as_uuid())
        .await?
        .ok_or(CustomFieldError::NotFound)?;
    match ShareState::of_row(Some(&existing)) {
        ShareState::Hidden => return Err(CustomFieldError::NotFound),
        ShareState::ReadOnly => {
            return Err(CustomFieldError::Forbidden(READ_ONLY_IN_PORTAL.into()));
        }
        ShareState::Editable => {}
    }
    let value = definition
        .normalize(raw)
        .map_err(CustomFieldError::Invalid)?;
    let changed = write_value(
        tx,
        file.as_uuid(),
        &definition,
        Some(existing),
        value,
        (UpdatedByKind::Client, client.contact_id.as_uuid()),
        client.actor(),
        ip,
    )
    .await?;
    if changed {
        activity::record(
            tx,
            ActivityKind::ClientActivity,
            Some(file),
            &client.actor(),
            "custom_field.edited",
            format!("changed {} on {}", definition.name, shared.number),
        )
        .await?;
    }
    let row = value_row(tx, file.as_uuid(), field.as_uuid())
        .await?
        .ok_or(CustomFieldError::NotFound)?;
    let view = client_view(definition, &row).ok_or(CustomFieldError::NotFound)?;
    Ok((view, changed))
}

fn client_view(d: FieldDefinition, row: &custom_field_value::Model) -> Option<ClientField> {
    let sharing = ShareState::of_row(Some(row));
    (sharing != ShareState::Hidden).then(|| ClientField {
        field_id: d.id,
        name: d.name,
        kind: d.kind,
        choices: d.choices,
        value: row.value.clone(),
        editable: sharing == ShareState::Editable,
    })
}

// ---- Helpers ------------------------------------------------------------------------------

fn require_admin(actor: &Member) -> Result<()> {
    if actor.is_admin {
        Ok(())
    } else {
        Err(CustomFieldError::Forbidden(ADMINS_ONLY.into()))
    }
}

fn check_may_share(actor: &Member, target: ShareState, kind_shareable: bool) -> Result<()> {
    if let Some(reason) = sharing_refusal(actor) {
        return Err(CustomFieldError::Forbidden(reason.into()));
    }
    if target != ShareState::Hidden && !kind_shareable {
        return Err(CustomFieldError::Forbidden(KIND_NOT_SHAREABLE.into()));
    }
    Ok(())
}

/// Trimmed, case-insensitive: file types are typed by people.
fn same_type(a: &str, b: &str) -> bool {
    a.trim().to_lowercase() == b.trim().to_lowercase()
}

fn sort_by_name(fields: &mut [FieldDefinition]) {
    fields.sort_by(|a, b| {
        a.name
            .to_lowercase()
            .cmp(&b.name.to_lowercase())
            .then(a.id.cmp(&b.id))
    });
}

fn field_name(raw: &str) -> Result<String> {
    let name = raw.trim();
    if name.is_empty() {
        return Err(CustomFieldError::Invalid("name is required".into()));
    }
    if name.chars().count() > NAME_MAX {
        return Err(CustomFieldError::Invalid(format!(
            "name must be at most {NAME_MAX} characters"
        )));
    }
    Ok(name.to_owned())
}

fn field_choices(kind: FieldKind, choices: Option<Vec<String>>) -> Result<Vec<String>> {
    if kind != FieldKind::Choice {
        return match choices {
            Some(c) if !c.is_empty() => Err(CustomFieldError::Invalid(format!(
                "choices are only for choice-list fields, not for {} fields",
                kind.as_str()
            ))),
            _ => Ok(Vec::new()),
        };
    }
    let choices: Vec<String> = choices
        .unwrap_or_default()
        .iter()
        .map(|c| c.trim().to_owned())
        .collect();
    if choices.is_empty() {
        return Err(CustomFieldError::Invalid(
            "choices are required for a choice-list field: give at least one".into(),
        ));
    }
    if choices.len() > CHOICES_MAX {
        return Err(CustomFieldError::Invalid(format!(
            "choices: at most {CHOICES_MAX} choices"
        )));
    }
    let mut seen = BTreeSet::new();
    for choice in &choices {
        if choice.is_empty() {
            return Err(CustomFieldError::Invalid(
                "choices must not be empty".into(),
            ));
        }
        if choice.chars().count() > CHOICE_MAX {
            return Err(CustomFieldError::Invalid(format!(
                "choices must be at most {CHOICE_MAX} characters each"
            )));
        }
        if !seen.insert(choice.to_lowercase()) {
            return Err(CustomFieldError::Invalid(format!(
                "choices must be unique: “{choice}” is listed twice"
            )));
        }
    }
    Ok(choices)
}

fn field_file_type(raw: Option<&str>) -> Result<Option<String>> {
    let Some(file_type) = raw.map(str::trim).filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    if file_type.chars().count() > files::FILE_TYPE_MAX {
        return Err(CustomFieldError::Invalid(format!(
            "file_type must be at most {} characters",
            files::FILE_TYPE_MAX
        )));
    }
    Ok(Some(file_type.to_owned()))
}

async fn check_name_free(tx: &TenantTx, name: &str, except: Option<CustomFieldId>) -> Result<()> {
    let wanted = name.to_lowercase();
    let taken = custom_field::Entity::scoped(tx)
        .all(tx.conn())
        .await?
        .into_iter()
        .any(|f| f.name.to_lowercase() == wanted && Some(f.id) != except.map(|e| e.as_uuid()));
    if taken {
        Err(CustomFieldError::NameTaken(name.to_owned()))
    } else {
        Ok(())
    }
}

fn name_taken(err: DbErr, name: &str) -> CustomFieldError {
    if matches!(err.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) {
        CustomFieldError::NameTaken(name.to_owned())
    } else {
        CustomFieldError::Db(err)
    }
}

fn race(err: DbErr) -> CustomFieldError {
    if matches!(err.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) {
        CustomFieldError::Conflict(RACE.into())
    } else {
        CustomFieldError::Db(err)
    }
}

async fn accessible_file(tx: &TenantTx, viewer: &Member, id: FileId) -> Result<matter::Model> {
    files::accessible(tx, viewer)
        .filter(matter::Column::Id.eq(id.as_uuid()))
        .one(tx.conn())
        .await?
        .ok_or(CustomFieldError::NotFound)
}

/// The definition, if it exists (`NotFound`) and applies to the file (`Invalid`, naming the
/// type it is limited to).
async fn applicable_field(
    tx: &TenantTx,
    file: &matter::Model,
    field: CustomFieldId,
) -> Result<FieldDefinition> {
    let definition = get_definition(tx, field)
        .await?
        .ok_or(CustomFieldError::NotFound)?;
    if !definition.applies_to(&file.file_type) {
        return Err(CustomFieldError::Invalid(format!(
            "{} applies only to files of type “{}”",
            definition.name,
            definition.file_type.as_deref().unwrap_or_default()
        )));
    }
    Ok(definition)
}

async fn value_row(
    tx: &TenantTx,
    matter_id: Uuid,
    field_id: Uuid,
) -> std::result::Result<Option<custom_field_value::Model>, DbErr> {
    custom_field_value::Entity::scoped(tx)
        .filter(custom_field_value::Column::MatterId.eq(matter_id))
        .filter(custom_field_value::Column::FieldId.eq(field_id))
        .one(tx.conn())
        .await
}

async fn rows_of_file(
    tx: &TenantTx,
    matter_id: Uuid,
) -> std::result::Result<HashMap<Uuid, custom_field_value::Model>, DbErr> {
    Ok(custom_field_value::Entity::scoped(tx)
        .filter(custom_field_value::Column::MatterId.eq(matter_id))
        .all(tx.conn())
        .await?
        .into_iter()
        .map(|r| (r.field_id, r))
        .collect())
}

async fn fields_of(
    tx: &TenantTx,
    file: &matter::Model,
) -> std::result::Result<Vec<FileField>, DbErr> {
    let mut rows = rows_of_file(tx, file.id).await?;
    let pairs = list_definitions(tx)
        .await?
        .into_iter()
        .filter(|d| d.applies_to(&file.file_type))
        .map(|d| {
            let row = rows.remove(&d.id.as_uuid());
            (d, row)
        })
        .collect();
    with_names(tx, pairs).await
}

/// Resolves who last set each value to their current name.
async fn with_names(
    tx: &TenantTx,
    pairs: Vec<(FieldDefinition, Option<custom_field_value::Model>)>,
) -> std::result::Result<Vec<FileField>, DbErr> {
    let ids_of = |kind: &str| -> Vec<Uuid> {
        pairs
            .iter()
            .filter_map(|(_, r)| r.as_ref())
            .filter(|r| r.updated_by_kind.as_deref() == Some(kind))
            .filter_map(|r| r.updated_by_id)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect()
    };
    let member_ids = ids_of(UpdatedByKind::Member.as_str());
    let contact_ids = ids_of(UpdatedByKind::Client.as_str());
    let mut member_names: HashMap<Uuid, String> = HashMap::new();
    for chunk in member_ids.chunks(IN_CHUNK) {
        let rows = member::Entity::scoped(tx)
            .filter(member::Column::Id.is_in(chunk.to_vec()))
            .all(tx.conn())
            .await?;
        member_names.extend(rows.into_iter().map(|m| (m.id, m.name)));
    }
    let mut contact_names: HashMap<Uuid, String> = HashMap::new();
    for chunk in contact_ids.chunks(IN_CHUNK) {
        let rows = contact::Entity::scoped(tx)
            .filter(contact::Column::Id.is_in(chunk.to_vec()))
            .all(tx.conn())
            .await?;
        contact_names.extend(rows.into_iter().map(|c| (c.id, c.name)));
    }
    Ok(pairs
        .into_iter()
        .map(|(field, row)| {
            let updated_by = row.as_ref().and_then(|r| {
                let id = r.updated_by_id?;
                let (kind, names) = match r.updated_by_kind.as_deref()? {
                    "member" => (UpdatedByKind::Member, &member_names),
                    "client" => (UpdatedByKind::Client, &contact_names),
                    _ => return None,
                };
                Some(UpdatedBy {
                    kind,
                    id,
                    name: names.get(&id).cloned().unwrap_or_default(),
                })
            });
            FileField {
                sharing: ShareState::of_row(row.as_ref()),
                sharing_changed_at: row.as_ref().and_then(|r| r.sharing_changed_at),
                updated_at: row
                    .as_ref()
                    .filter(|r| r.updated_by_id.is_some())
                    .map(|r| r.updated_at),
                value: row.and_then(|r| r.value),
                updated_by,
                field,
            }
        })
        .collect())
}

/// Stores a value (the row is created, hidden, on first use) and records the change. Returns
/// whether anything changed.
#[allow(clippy::too_many_arguments)]
async fn write_value(
    tx: &TenantTx,
    matter_id: Uuid,
    definition: &FieldDefinition,
    existing: Option<custom_field_value::Model>,
    value: Option<String>,
    by: (UpdatedByKind, Uuid),
    actor: Actor,
    ip: Option<String>,
) -> Result<bool> {
    let before = existing.as_ref().and_then(|r| r.value.clone());
    if before == value {
        return Ok(false);
    }
    let now = Utc::now();
    match existing {
        Some(_) => {
            custom_field_value::Entity::scoped_update(tx)
                .col_expr(
                    custom_field_value::Column::Value,
                    Expr::value(value.clone()),
                )
                .col_expr(
                    custom_field_value::Column::UpdatedByKind,
                    Expr::value(Some(by.0.as_str().to_owned())),
                )
                .col_expr(
                    custom_field_value::Column::UpdatedById,
                    Expr::value(Some(by.1)),
                )
                .col_expr(custom_field_value::Column::UpdatedAt, Expr::value(now))
                .filter(custom_field_value::Column::MatterId.eq(matter_id))
                .filter(custom_field_value::Column::FieldId.eq(definition.id.as_uuid()))
                .exec(tx.conn())
                .await?;
        }
        None => {
            let mut row = custom_field_value::ActiveModel::new_active(tx);
            row.matter_id = Set(matter_id);
            row.field_id = Set(definition.id.as_uuid());
            row.value = Set(value.clone());
            row.sharing = Set(ShareState::Hidden.as_str().to_owned());
            row.sharing_changed_at = Set(None);
            row.updated_by_kind = Set(Some(by.0.as_str().to_owned()));
            row.updated_by_id = Set(Some(by.1));
            row.updated_at = Set(now);
            row.insert(tx.conn()).await.map_err(race)?;
        }
    }
    audit::record(
        tx,
        AuditEvent {
            actor,
            action: "custom_field.value_changed",
            target_kind: "file",
            target_id: Some(matter_id.to_string()),
            ip,
            detail: Some(serde_json::json!({
                "field_id": definition.id,
                "field": definition.name,
                "from": before,
                "to": value,
            })),
        },
    )
    .await?;
    Ok(true)
}

/// Stores a field's sharing on a file and records the change. Returns whether anything
/// changed. `bulk` names the bulk action this is part of.
#[allow(clippy::too_many_arguments)]
async fn write_sharing(
    tx: &TenantTx,
    matter_id: Uuid,
    definition: &FieldDefinition,
    existing: Option<custom_field_value::Model>,
    sharing: ShareState,
    actor: &Member,
    bulk: Option<(BulkAction, bool)>,
    ip: Option<String>,
) -> Result<bool> {
    let before = ShareState::of_row(existing.as_ref());
    if before == sharing {
        return Ok(false);
    }
    let now = Utc::now();
    match existing {
        Some(_) => {
            custom_field_value::Entity::scoped_update(tx)
                .col_expr(
                    custom_field_value::Column::Sharing,
                    Expr::value(sharing.as_str()),
                )
                .col_expr(
                    custom_field_value::Column::SharingChangedAt,
                    Expr::value(Some(now)),
                )
                .filter(custom_field_value::Column::MatterId.eq(matter_id))
                .filter(custom_field_value::Column::FieldId.eq(definition.id.as_uuid()))
                .exec(tx.conn())
                .await?;
        }
        None => {
            let mut row = custom_field_value::ActiveModel::new_active(tx);
            row.matter_id = Set(matter_id);
            row.field_id = Set(definition.id.as_uuid());
            row.value = Set(None);
            row.sharing = Set(sharing.as_str().to_owned());
            row.sharing_changed_at = Set(Some(now));
            row.updated_by_kind = Set(None);
            row.updated_by_id = Set(None);
            row.updated_at = Set(now);
            row.insert(tx.conn()).await.map_err(race)?;
        }
    }
    let mut detail = serde_json::json!({
        "field_id": definition.id,
        "field": definition.name,
        "from": before.as_str(),
        "to": sharing.as_str(),
    });
    if let Some((action, apply_to_file_type)) = bulk {
        detail["bulk"] = serde_json::json!(action.as_str());
        detail["apply_to_file_type"] = serde_json::json!(apply_to_file_type);
    }
    audit::record(
        tx,
        AuditEvent {
            actor: actor.actor(),
            action: "custom_field.sharing_changed",
            target_kind: "file",
            target_id: Some(matter_id.to_string()),
            ip,
            detail: Some(detail),
        },
    )
    .await?;
    Ok(true)
}

/// The canonical text of an exact decimal (see the module comment), or `None`.
fn normalize_number(raw: &str) -> Option<String> {
    let (negative, digits) = match raw.as_bytes().first()? {
        b'-' => (true, &raw[1..]),
        b'+' => (false, &raw[1..]),
        _ => (false, raw),
    };
    let (integer, fraction) = match digits.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (digits, None),
    };
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if !all_digits(integer) || fraction.is_some_and(|f| f.is_empty() || !all_digits(f)) {
        return None;
    }
    if integer.is_empty() && fraction.is_none() {
        return None;
    }
    let integer = match integer.trim_start_matches('0') {
        "" => "0",
        trimmed => trimmed,
    };
    if integer.len() > NUMBER_MAX_INTEGER_DIGITS
        || fraction.is_some_and(|f| f.len() > NUMBER_MAX_FRACTION_DIGITS)
    {
        return None;
    }
    let zero = integer == "0" && fraction.is_none_or(|f| f.bytes().all(|b| b == b'0'));
    let mut out = String::with_capacity(raw.len() + 1);
    if negative && !zero {
        out.push('-');
    }
    out.push_str(integer);
    if let Some(fraction) = fraction {
        out.push('.');
        out.push_str(fraction);
    }
    Some(out)
}

/// `YYYY-MM-DD`, an existing day.
fn normalize_date(raw: &str) -> Option<String> {
    let bytes = raw.as_bytes();
    let shaped = bytes.len() == 10
        && bytes.iter().enumerate().all(|(i, b)| match i {
            4 | 7 => *b == b'-',
            _ => b.is_ascii_digit(),
        });
    if !shaped {
        return None;
    }
    NaiveDate::parse_from_str(raw, "%Y-%m-%d")
        .ok()
        .map(|d| d.format("%Y-%m-%d").to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(kind: FieldKind, choices: &[&str]) -> FieldDefinition {
        FieldDefinition {
            id: CustomFieldId::new(),
            name: "Estimate".into(),
            kind,
            choices: choices.iter().map(|c| (*c).to_owned()).collect(),
            file_type: None,
            created_at: Utc::now(),
        }
    }

    #[test]
    fn numbers_are_exact_decimals_in_canonical_text() {
        for (raw, stored) in [
            ("12.50", "12.50"),
            ("0012.5", "12.5"),
            ("+7", "7"),
            ("-0.00", "0.00"),
            ("-3.25", "-3.25"),
            (".5", "0.5"),
            ("999999999999999.999999", "999999999999999.999999"),
        ] {
            assert_eq!(normalize_number(raw).as_deref(), Some(stored), "{raw}");
        }
        for raw in [
            "",
            "-",
            ".",
            "5.",
            "1,000",
            "1e3",
            "12.5.1",
            "abc",
            "1 000",
            "1234567890123456",
            "1.1234567",
            "--1",
            "NaN",
        ] {
            assert_eq!(normalize_number(raw), None, "{raw}");
        }
    }

    #[test]
    fn dates_are_strict_and_real() {
        assert_eq!(normalize_date("2026-03-31").as_deref(), Some("2026-03-31"));
        for raw in [
            "2026-02-30",
            "2026-3-31",
            "31/03/2026",
            "2026-03-31T00:00",
            "20260331",
        ] {
            assert_eq!(normalize_date(raw), None, "{raw}");
        }
    }

    #[test]
    fn values_are_checked_by_kind() {
        let text = field(FieldKind::Text, &[]);
        assert_eq!(
            text.normalize(Some("  hi ")).unwrap().as_deref(),
            Some("hi")
        );
        assert!(text.normalize(Some(&"x".repeat(TEXT_MAX + 1))).is_err());
        assert_eq!(text.normalize(Some("   ")).unwrap(), None);
        assert_eq!(text.normalize(None).unwrap(), None);
        let yes_no = field(FieldKind::YesNo, &[]);
        assert_eq!(
            yes_no.normalize(Some("TRUE")).unwrap().as_deref(),
            Some("true")
        );
        assert!(
            yes_no
                .normalize(Some("yes"))
                .unwrap_err()
                .contains("true or false")
        );
        let choice = field(FieldKind::Choice, &["Open", "Settled"]);
        assert_eq!(
            choice.normalize(Some("Settled")).unwrap().as_deref(),
            Some("Settled")
        );
        let message = choice.normalize(Some("settled")).unwrap_err();
        assert!(
            message.starts_with("Estimate:") && message.contains("“Open”, “Settled”"),
            "{message}"
        );
        let number = field(FieldKind::Number, &[]);
        assert!(
            number
                .normalize(Some("12,50"))
                .unwrap_err()
                .contains("12.50")
        );
    }

    #[test]
    fn choices_are_required_unique_and_only_for_choice_lists() {
        assert!(field_choices(FieldKind::Choice, None).is_err());
        assert!(field_choices(FieldKind::Choice, Some(vec![])).is_err());
        assert!(field_choices(FieldKind::Choice, Some(vec!["A".into(), "a".into()])).is_err());
        assert!(field_choices(FieldKind::Choice, Some(vec![" ".into()])).is_err());
        assert_eq!(
            field_choices(FieldKind::Choice, Some(vec![" A ".into(), "B".into()])).unwrap(),
            vec!["A".to_owned(), "B".to_owned()]
        );
        assert!(field_choices(FieldKind::Text, Some(vec!["A".into()])).is_err());
        assert!(
            field_choices(FieldKind::Text, Some(vec![]))
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn file_types_compare_trimmed_and_ignoring_case() {
        let mut f = field(FieldKind::Text, &[]);
        assert!(f.applies_to("anything"));
        f.file_type = Some("Litigation".into());
        assert!(f.applies_to(" litigation "));
        assert!(!f.applies_to("Conveyancing"));
        assert!(!f.applies_to(""));
    }
}
