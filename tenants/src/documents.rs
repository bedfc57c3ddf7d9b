//! Documents on files (SPEC §7, §8, §11): encrypted blobs in the blob store, their rows, who
//! may see, add, download and share them, and the sweeper that removes orphaned blobs.
//!
//! **Visibility.** A member sees the documents of the files they can access
//! ([`files::accessible`]). A client sees a document only if their Portal account is active
//! (the caller's session guarantees it) AND the file is shared with them AND the document is
//! shared AND the firm shares documents at all (`shareable_kinds` contains `documents`);
//! everything else is "not found", identical to a missing id.
//!
//! **Writing a blob** ([`BlobWriter`]): the upload streams into the blob store
//! ([`portico_platform::storage`]: a temp file in the firm's directory, or a PUT / multipart
//! upload under the firm's prefix in an S3 bucket), encrypted chunk by chunk as it arrives; its
//! size is counted against the firm's limit and its type is checked on the content as it
//! arrives; then the blob is committed under a generated name (never the client's filename) —
//! on disk fsynced, renamed and the directory fsynced, on S3 the object made visible at once —
//! and only then is the row inserted and committed. A crash leaves at most an orphan blob or
//! temp file, which the [`sweep`] removes; never a row without its blob. Any error removes the
//! partial blob (temp file or multipart upload).
//!
//! **Reading a blob** ([`BlobReader`]): every chunk's tag is checked before the first byte is
//! handed out; only then is the blob decrypted again, chunk by chunk, for sending. A tampered or
//! misplaced blob is an [`DocumentError::Integrity`] error and no content leaves. Both passes
//! stream, from the disk or from S3.
//!
//! Decisions:
//! - **Types** are recognised from the content and must agree with the file name's extension
//!   (when it has one): PDF (`%PDF-`), PNG, JPEG, GIF, WebP; Word/Excel/PowerPoint (OOXML: a ZIP
//!   whose first 64 KiB hold a `[Content_Types].xml` entry — a heuristic, not a full parse);
//!   legacy Office and Outlook files (OLE2 magic; `.doc`, `.xls`, `.ppt`, `.msg`); and plain text
//!   (valid UTF-8 without NUL, named `.txt`, `.text`, `.csv`, `.tsv`, `.md`, `.log`, `.rtf` or
//!   without extension). Text that starts like markup (`<html`, `<svg`, `<?xml`, `<!--`, …) is
//!   refused although it is UTF-8: browsers would sniff it as HTML. So an HTML or EXE body named
//!   `.pdf`, a PDF named `.exe` and a script named `.bat` are all refused (415).
//! - **Sizes**: `upload_limit_mb` counts MiB (2^20 bytes) of the file's content; an empty file
//!   is refused (422).
//! - **Names**: the display filename keeps only the last path segment, drops control and
//!   bidirectional-formatting characters, replaces characters Windows forbids, collapses `..`,
//!   trims dots and spaces at the ends and keeps at most 200 characters (extension kept). The
//!   title defaults to that filename.
//! - **Sharing**: members need access to the file and the Portal right to show or remove a
//!   document in the Portal (also when uploading it shared); showing needs the firm to share
//!   documents. Client uploads are shared automatically and refused (403) when the firm does not
//!   share documents; while the firm does not share documents clients see none (their flags are
//!   kept).
//! - **Keys**: the firm's key is created on first upload (see [`tenant_key`]);
//!   [`portico_platform::crypto`] describes the hierarchy and the blob format.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use chrono::{DateTime, Utc};
use portico_platform::crypto::{
    BlobOpener, BlobSealer, CryptoError, DocumentKey, HEADER_LEN, MasterKey, TenantKey,
};
use portico_platform::ids::{DocumentId, FileId, TenantId};
use portico_platform::storage::{BlobRead, BlobStore, BlobUpload, TEMP_PREFIX};
use portico_platform::{TenantActiveModel, TenantScoped, TenantTx};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use serde::Serialize;
use uuid::Uuid;

use crate::activity::{self, ActivityKind};
use crate::audit::{self, Actor, AuditEvent};
use crate::entity::{contact, document, matter, member, tenant_key};
use crate::files;
use crate::members::Member;
use crate::options::FirmOptions;
use crate::portal_access::{self, Client};

/// The `shareable_kinds` entry that governs documents.
pub const KIND: &str = "documents";
pub const TITLE_MAX: usize = 200;
pub const FILENAME_MAX: usize = 200;
/// How much of the content the type check looks at before deciding.
const SNIFF_LEN: usize = 64 * 1024;
/// Blob names end with this. The sweeper leaves other files in a firm's folder alone, except
/// the store's temp files ([`TEMP_PREFIX`]).
const BLOB_SUFFIX: &str = ".blob";

const NO_RIGHT: &str = "you are not permitted to share items and invite clients to the Portal";
const KIND_OFF: &str = "the firm does not share documents in the Portal (Options > Client Portal)";
const CLIENT_UPLOADS_OFF: &str =
    "the firm does not accept documents through the Portal (Options > Client Portal)";

#[derive(Debug, thiserror::Error)]
pub enum DocumentError {
    /// Missing, in another firm, or not visible to the caller: one answer for all.
    #[error("not found")]
    NotFound,
    #[error("{0}")]
    Forbidden(&'static str),
    #[error("{0}")]
    Invalid(String),
    #[error("the document is larger than the firm's upload limit of {limit_mb} MB")]
    TooLarge { limit_mb: i32 },
    #[error("{0}")]
    Unsupported(String),
    /// The stored blob or a wrapped key failed authentication (tampered, moved, wrong key).
    #[error("document integrity check failed: {0}")]
    Integrity(String),
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Db(#[from] DbErr),
}

impl From<CryptoError> for DocumentError {
    fn from(err: CryptoError) -> Self {
        DocumentError::Integrity(err.to_string())
    }
}

/// Who added a document.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Creator {
    /// `member` or `client`.
    pub kind: String,
    /// The member's id, or the client's contact id.
    pub id: Uuid,
    /// Their current name.
    pub name: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Document {
    pub id: DocumentId,
    pub file_id: FileId,
    pub title: String,
    pub filename: String,
    pub content_type: String,
    pub size_bytes: i64,
    pub shared: bool,
    pub created_by: Creator,
    pub created_at: DateTime<Utc>,
}

/// Who is uploading.
#[derive(Clone, Copy, Debug)]
pub enum Uploader<'a> {
    Member(&'a Member),
    Client(&'a Client),
}

impl Uploader<'_> {
    fn actor(&self) -> Actor {
        match self {
            Uploader::Member(m) => m.actor(),
            Uploader::Client(c) => c.actor(),
        }
    }
}

// ---- lists and lookups ------------------------------------------------------------------------

async fn creators(
    tx: &TenantTx,
    rows: &[document::Model],
) -> Result<HashMap<(bool, Uuid), String>, DbErr> {
    let member_ids: HashSet<Uuid> = rows
        .iter()
        .filter(|r| r.created_by_kind == "member")
        .map(|r| r.created_by_id)
        .collect();
    let contact_ids: HashSet<Uuid> = rows
        .iter()
        .filter(|r| r.created_by_kind == "client")
        .map(|r| r.created_by_id)
        .collect();
    let mut names = HashMap::new();
    if !member_ids.is_empty() {
        for m in member::Entity::scoped(tx)
            .filter(member::Column::Id.is_in(member_ids))
            .all(tx.conn())
            .await?
        {
            names.insert((true, m.id), m.name);
        }
    }
    if !contact_ids.is_empty() {
        for c in contact::Entity::scoped(tx)
            .filter(contact::Column::Id.is_in(contact_ids))
            .all(tx.conn())
            .await?
        {
            names.insert((false, c.id), c.name);
        }
    }
    Ok(names)
}

async fn views(tx: &TenantTx, rows: Vec<document::Model>) -> Result<Vec<Document>, DbErr> {
    let names = creators(tx, &rows).await?;
    Ok(rows
        .into_iter()
        .map(|row| {
            let is_member = row.created_by_kind == "member";
            let name = names
                .get(&(is_member, row.created_by_id))
                .cloned()
                .unwrap_or_else(|| "(removed)".to_owned());
            Document {
                id: DocumentId::from_uuid(row.id),
                file_id: FileId::from_uuid(row.matter_id),
                title: row.title,
                filename: row.filename,
                content_type: row.content_type,
                size_bytes: row.size_bytes,
                shared: row.shared,
                created_by: Creator {
                    kind: row.created_by_kind,
                    id: row.created_by_id,
                    name,
                },
                created_at: row.created_at,
            }
        })
        .collect())
}

async fn view(tx: &TenantTx, row: document::Model) -> Result<Document, DbErr> {
    views(tx, vec![row])
        .await?
        .pop()
        .ok_or(DbErr::RecordNotFound("document".into()))
}

async fn rows_of_file(
    tx: &TenantTx,
    file: FileId,
    only_shared: bool,
) -> Result<Vec<document::Model>, DbErr> {
    let mut query =
        document::Entity::scoped(tx).filter(document::Column::MatterId.eq(file.as_uuid()));
    if only_shared {
        query = query.filter(document::Column::Shared.eq(true));
    }
    query
        .order_by_desc(document::Column::CreatedAt)
        .order_by_desc(document::Column::Id)
        .all(tx.conn())
        .await
}

async fn accessible_file(
    tx: &TenantTx,
    viewer: &Member,
    file: FileId,
) -> Result<Option<matter::Model>, DbErr> {
    files::accessible(tx, viewer)
        .filter(matter::Column::Id.eq(file.as_uuid()))
        .one(tx.conn())
        .await
}

async fn row(tx: &TenantTx, id: DocumentId) -> Result<Option<document::Model>, DbErr> {
    document::Entity::scoped(tx)
        .filter(document::Column::Id.eq(id.as_uuid()))
        .one(tx.conn())
        .await
}

/// Every document of a file `viewer` can access, newest first (`None` when they cannot).
pub async fn list_for_member(
    tx: &TenantTx,
    viewer: &Member,
    file: FileId,
) -> Result<Option<Vec<Document>>, DbErr> {
    if accessible_file(tx, viewer, file).await?.is_none() {
        return Ok(None);
    }
    Ok(Some(views(tx, rows_of_file(tx, file, false).await?).await?))
}

/// The shared documents of a file shared with `client`, newest first (`None` when the file is
/// not shared with them).
pub async fn list_for_client(
    tx: &TenantTx,
    client: &Client,
    file: FileId,
    options: &FirmOptions,
) -> Result<Option<Vec<Document>>, DbErr> {
    if portal_access::file_for_client(tx, client, file)
        .await?
        .is_none()
    {
        return Ok(None);
    }
    if !options.allows(KIND) {
        return Ok(Some(Vec::new()));
    }
    Ok(Some(views(tx, rows_of_file(tx, file, true).await?).await?))
}

/// A document on a file `viewer` can access.
pub async fn get_for_member(
    tx: &TenantTx,
    viewer: &Member,
    id: DocumentId,
) -> Result<Option<Document>, DbErr> {
    match visible_row_for_member(tx, viewer, id).await? {
        Some(row) => Ok(Some(view(tx, row).await?)),
        None => Ok(None),
    }
}

/// A document the client may see (see the module comment).
pub async fn get_for_client(
    tx: &TenantTx,
    client: &Client,
    id: DocumentId,
    options: &FirmOptions,
) -> Result<Option<Document>, DbErr> {
    match visible_row_for_client(tx, client, id, options).await? {
        Some(row) => Ok(Some(view(tx, row).await?)),
        None => Ok(None),
    }
}

async fn visible_row_for_member(
    tx: &TenantTx,
    viewer: &Member,
    id: DocumentId,
) -> Result<Option<document::Model>, DbErr> {
    let Some(row) = row(tx, id).await? else {
        return Ok(None);
    };
    let file = FileId::from_uuid(row.matter_id);
    Ok(accessible_file(tx, viewer, file).await?.map(|_| row))
}

async fn visible_row_for_client(
    tx: &TenantTx,
    client: &Client,
    id: DocumentId,
    options: &FirmOptions,
) -> Result<Option<document::Model>, DbErr> {
    if !options.allows(KIND) {
        return Ok(None);
    }
    let Some(row) = row(tx, id).await?.filter(|r| r.shared) else {
        return Ok(None);
    };
    let file = FileId::from_uuid(row.matter_id);
    Ok(portal_access::file_for_client(tx, client, file)
        .await?
        .map(|_| row))
}

/// The documents of a file currently shown in the Portal, for the file's "Shared items list":
/// `(id, title, created_at, owner name)`, newest first. Empty when `viewer` cannot access the
/// file. Listed whether or not the file itself is shared.
pub async fn shared_documents(
    tx: &TenantTx,
    viewer: &Member,
    file: FileId,
) -> Result<Vec<(Uuid, String, DateTime<Utc>, String)>, DbErr> {
    if accessible_file(tx, viewer, file).await?.is_none() {
        return Ok(Vec::new());
    }
    Ok(views(tx, rows_of_file(tx, file, true).await?)
        .await?
        .into_iter()
        .map(|d| (d.id.as_uuid(), d.title, d.created_at, d.created_by.name))
        .collect())
}

// ---- Show in Portal / Remove from Portal -------------------------------------------------------

/// Shows (`true`) or removes (`false`) a document in the Portal. Needs access to its file and
/// the member's Portal right; showing also needs the firm to share documents. Setting the flag
/// it already has changes nothing and records nothing.
pub async fn set_shared(
    tx: &TenantTx,
    viewer: &Member,
    id: DocumentId,
    shared: bool,
    options: &FirmOptions,
    ip: Option<String>,
) -> Result<Document, DocumentError> {
    let Some(row) = row(tx, id).await? else {
        return Err(DocumentError::NotFound);
    };
    let file = FileId::from_uuid(row.matter_id);
    let found = accessible_file(tx, viewer, file)
        .await?
        .ok_or(DocumentError::NotFound)?;
    if !viewer.portal_rights {
        return Err(DocumentError::Forbidden(NO_RIGHT));
    }
    if shared && !options.allows(KIND) {
        return Err(DocumentError::Forbidden(KIND_OFF));
    }
    if row.shared == shared {
        return Ok(view(tx, row).await?);
    }
    document::Entity::scoped_update(tx)
        .col_expr(document::Column::Shared, Expr::value(shared))
        .filter(document::Column::Id.eq(id.as_uuid()))
        .exec(tx.conn())
        .await?;
    let action = if shared {
        "document.shared"
    } else {
        "document.unshared"
    };
    audit::record(
        tx,
        AuditEvent {
            actor: viewer.actor(),
            action,
            target_kind: "document",
            target_id: Some(id.to_string()),
            ip,
            detail: Some(serde_json::json!({"file": found.number, "title": row.title})),
        },
    )
    .await?;
    let summary = if shared {
        format!("shared the document \"{}\" on {}", row.title, found.number)
    } else {
        format!(
            "removed the document \"{}\" on {} from the Portal",
            row.title, found.number
        )
    };
    activity::record(
        tx,
        ActivityKind::MemberActivity,
        Some(file),
        &viewer.actor(),
        action,
        summary,
    )
    .await?;
    let mut updated = row;
    updated.shared = shared;
    Ok(view(tx, updated).await?)
}

// ---- uploads ----------------------------------------------------------------------------------

/// The firm's key, created (and stored wrapped by the master key) on first use. Two first
/// uploads at once both end up with the one that was stored.
pub async fn tenant_key(tx: &TenantTx, master: &MasterKey) -> Result<TenantKey, DocumentError> {
    let tenant = tx.tenant_id();
    if let Some(row) = tenant_key::Entity::scoped(tx).one(tx.conn()).await? {
        return master
            .unwrap_tenant_key(tenant, &row.wrapped_key)
            .map_err(wrong_master_key);
    }
    let key = TenantKey::generate();
    let mut row = tenant_key::ActiveModel::new_active(tx);
    row.wrapped_key = Set(master.wrap_tenant_key(tenant, &key)?);
    row.created_at = Set(Utc::now());
    tenant_key::Entity::insert(row)
        .on_conflict_do_nothing()
        .exec(tx.conn())
        .await?;
    let stored = tenant_key::Entity::scoped(tx)
        .one(tx.conn())
        .await?
        .ok_or_else(|| DocumentError::Integrity("the firm's key was not stored".into()))?;
    master
        .unwrap_tenant_key(tenant, &stored.wrapped_key)
        .map_err(wrong_master_key)
}

fn wrong_master_key(err: CryptoError) -> DocumentError {
    DocumentError::Integrity(format!(
        "the firm's key does not open with storage.master_key ({err})"
    ))
}

/// What an upload may do, checked before the body is read and again when the row is written.
/// `shared` is the member's request to show the document in the Portal (`None`: not known yet).
pub async fn check_upload(
    tx: &TenantTx,
    uploader: Uploader<'_>,
    file: FileId,
    shared: Option<bool>,
    options: &FirmOptions,
) -> Result<String, DocumentError> {
    let number = match uploader {
        Uploader::Member(viewer) => accessible_file(tx, viewer, file).await?.map(|f| f.number),
        Uploader::Client(client) => portal_access::file_for_client(tx, client, file)
            .await?
            .map(|f| f.number),
    };
    let number = number.ok_or(DocumentError::NotFound)?;
    check_share_request(uploader, shared.unwrap_or(false), options)?;
    Ok(number)
}

/// The sharing part of the upload rules, which needs no database: a member asking to show the
/// document in the Portal needs the Portal right and the firm to share documents; clients can
/// upload only when the firm shares documents (their uploads are always shared).
pub fn check_share_request(
    uploader: Uploader<'_>,
    shared: bool,
    options: &FirmOptions,
) -> Result<(), DocumentError> {
    match uploader {
        Uploader::Member(viewer) if shared && !viewer.portal_rights => {
            Err(DocumentError::Forbidden(NO_RIGHT))
        }
        Uploader::Member(_) if shared && !options.allows(KIND) => {
            Err(DocumentError::Forbidden(KIND_OFF))
        }
        Uploader::Client(_) if !options.allows(KIND) => {
            Err(DocumentError::Forbidden(CLIENT_UPLOADS_OFF))
        }
        _ => Ok(()),
    }
}

/// Before the body is read: checks the uploader may add to `file` and returns the firm's key
/// (creating it on first use). Commit the transaction before reading the body.
pub async fn begin_upload(
    tx: &TenantTx,
    uploader: Uploader<'_>,
    file: FileId,
    options: &FirmOptions,
    master: &MasterKey,
) -> Result<TenantKey, DocumentError> {
    check_upload(tx, uploader, file, None, options).await?;
    tenant_key(tx, master).await
}

/// A stored blob waiting for its row.
#[derive(Debug)]
pub struct NewDocument {
    pub id: DocumentId,
    pub file: FileId,
    /// As typed; empty means the filename.
    pub title: String,
    /// Already sanitized (see [`sanitize_filename`]).
    pub filename: String,
    /// Members only: show it in the Portal at once. Client uploads are always shared.
    pub shared: bool,
    pub blob: StoredBlob,
    pub wrapped_key: Vec<u8>,
}

/// Writes the row for a stored blob, with its audit (and activity) entries, after checking the
/// rules again. On an error the caller removes the blob ([`StoredBlob::discard`]).
pub async fn record_upload(
    tx: &TenantTx,
    uploader: Uploader<'_>,
    options: &FirmOptions,
    new: NewDocument,
    ip: Option<String>,
) -> Result<Document, DocumentError> {
    let (shared, kind, creator) = match uploader {
        Uploader::Member(m) => (new.shared, "member", m.id.as_uuid()),
        Uploader::Client(c) => (true, "client", c.contact_id.as_uuid()),
    };
    let number = check_upload(tx, uploader, new.file, Some(shared), options).await?;
    let title = clean_title(&new.title, &new.filename)?;
    let mut row = document::ActiveModel::new_active(tx);
    row.id = Set(new.id.as_uuid());
    row.matter_id = Set(new.file.as_uuid());
    row.title = Set(title.clone());
    row.filename = Set(new.filename.clone());
    row.content_type = Set(new.blob.content_type.to_owned());
    row.size_bytes = Set(i64::try_from(new.blob.size_bytes).unwrap_or(i64::MAX));
    row.blob_name = Set(new.blob.blob_name.clone());
    row.wrapped_key = Set(new.wrapped_key);
    row.shared = Set(shared);
    row.created_by_kind = Set(kind.to_owned());
    row.created_by_id = Set(creator);
    row.created_at = Set(Utc::now());
    let inserted = row.insert(tx.conn()).await?;
    let actor = uploader.actor();
    audit::record(
        tx,
        AuditEvent {
            actor: actor.clone(),
            action: "document.uploaded",
            target_kind: "document",
            target_id: Some(new.id.to_string()),
            ip,
            detail: Some(serde_json::json!({
                "file": number,
                "title": title,
                "filename": new.filename,
                "content_type": new.blob.content_type,
                "size_bytes": new.blob.size_bytes,
                "shared": shared,
            })),
        },
    )
    .await?;
    match uploader {
        Uploader::Client(_) => {
            let summary = format!("added the document \"{title}\" to {number}");
            activity::record(
                tx,
                ActivityKind::ClientActivity,
                Some(new.file),
                &actor,
                "document.added",
                summary,
            )
            .await?;
        }
        Uploader::Member(_) if shared => {
            let summary = format!("shared the document \"{title}\" on {number}");
            activity::record(
                tx,
                ActivityKind::MemberActivity,
                Some(new.file),
                &actor,
                "document.shared",
                summary,
            )
            .await?;
        }
        Uploader::Member(_) => {}
    }
    Ok(view(tx, inserted).await?)
}

fn clean_title(title: &str, filename: &str) -> Result<String, DocumentError> {
    let cleaned: String = title
        .chars()
        .filter(|c| !c.is_control() && !is_format_char(*c))
        .collect();
    let cleaned = cleaned.trim();
    if cleaned.is_empty() {
        return Ok(filename.to_owned());
    }
    if cleaned.chars().count() > TITLE_MAX {
        return Err(DocumentError::Invalid(format!(
            "the title must be at most {TITLE_MAX} characters"
        )));
    }
    Ok(cleaned.to_owned())
}

/// Invisible characters that can disguise a name (`invoice\u{202e}fdp.exe`).
fn is_format_char(c: char) -> bool {
    matches!(c, '\u{00ad}' | '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2060}'..='\u{2064}' | '\u{2066}'..='\u{2069}' | '\u{feff}')
}

/// The name a document is shown and downloaded under (see the module comment). Never used as
/// a path: blobs get generated names.
pub fn sanitize_filename(raw: &str) -> String {
    let last = raw.rsplit(['/', '\\']).next().unwrap_or_default();
    let mut out = String::with_capacity(last.len());
    for c in last.chars() {
        if c.is_control() || is_format_char(c) {
            continue;
        }
        if matches!(c, '<' | '>' | ':' | '"' | '|' | '?' | '*') {
            out.push('_');
        } else if c == '.' && out.ends_with('.') {
            continue;
        } else {
            out.push(c);
        }
    }
    let trimmed = out.trim_matches(|c: char| c == '.' || c.is_whitespace());
    if trimmed.is_empty() {
        return "document".to_owned();
    }
    if trimmed.chars().count() <= FILENAME_MAX {
        return trimmed.to_owned();
    }
    // Too long: shorten the stem, keep a short extension.
    let (stem, ext) = match trimmed.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() && ext.chars().count() <= 10 => (stem, Some(ext)),
        _ => (trimmed, None),
    };
    let room = FILENAME_MAX - ext.map(|e| e.chars().count() + 1).unwrap_or(0);
    let stem: String = stem.chars().take(room).collect();
    let stem = stem.trim_end_matches(|c: char| c == '.' || c.is_whitespace());
    match ext {
        Some(ext) => format!("{stem}.{ext}"),
        None => stem.to_owned(),
    }
}

fn extension(filename: &str) -> Option<String> {
    filename
        .rsplit_once('.')
        .filter(|(stem, _)| !stem.is_empty())
        .map(|(_, ext)| ext.to_ascii_lowercase())
}

// ---- content types ----------------------------------------------------------------------------

const DOCX: &str = "application/vnd.openxmlformats-officedocument.wordprocessingml.document";
const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";
const PPTX: &str = "application/vnd.openxmlformats-officedocument.presentationml.presentation";
const TEXT_EXTENSIONS: &[&str] = &["txt", "text", "csv", "tsv", "md", "log", "rtf"];
/// Every extension an accepted document may have (for the upload form's `accept`).
pub const ACCEPTED_EXTENSIONS: &[&str] = &[
    "pdf", "png", "jpg", "jpeg", "gif", "webp", "docx", "xlsx", "pptx", "doc", "xls", "ppt", "msg",
    "txt", "text", "csv", "tsv", "md", "log", "rtf",
];

/// The accepted formats, recognised from the first bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Family {
    Pdf,
    Png,
    Jpeg,
    Gif,
    Webp,
    Ooxml,
    Ole2,
    Text,
}

impl Family {
    fn describe(self) -> &'static str {
        match self {
            Family::Pdf => "a PDF document",
            Family::Png => "a PNG image",
            Family::Jpeg => "a JPEG image",
            Family::Gif => "a GIF image",
            Family::Webp => "a WebP image",
            Family::Ooxml => "a Word, Excel or PowerPoint document",
            Family::Ole2 => "a legacy Office or Outlook file",
            Family::Text => "plain text",
        }
    }

    fn extensions(self) -> &'static [&'static str] {
        match self {
            Family::Pdf => &["pdf"],
            Family::Png => &["png"],
            Family::Jpeg => &["jpg", "jpeg"],
            Family::Gif => &["gif"],
            Family::Webp => &["webp"],
            Family::Ooxml => &["docx", "xlsx", "pptx"],
            Family::Ole2 => &["doc", "xls", "ppt", "msg"],
            Family::Text => TEXT_EXTENSIONS,
        }
    }
}

const ACCEPTED: &str = "accepted are PDF, PNG, JPEG, GIF, WebP, Word, Excel, PowerPoint (also legacy \
                        .doc/.xls/.ppt), Outlook .msg and plain text files";

fn magic_family(head: &[u8]) -> Option<Family> {
    if head.starts_with(b"%PDF-") {
        Some(Family::Pdf)
    } else if head.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some(Family::Png)
    } else if head.starts_with(&[0xff, 0xd8, 0xff]) {
        Some(Family::Jpeg)
    } else if head.starts_with(b"GIF87a") || head.starts_with(b"GIF89a") {
        Some(Family::Gif)
    } else if head.len() >= 12 && head.starts_with(b"RIFF") && &head[8..12] == b"WEBP" {
        Some(Family::Webp)
    } else if head.starts_with(b"PK\x03\x04") {
        Some(Family::Ooxml)
    } else if head.starts_with(&[0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1]) {
        Some(Family::Ole2)
    } else {
        None
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Starts like HTML, XML or SVG (after a byte-order mark and white space).
fn looks_like_markup(head: &[u8]) -> bool {
    let text = head.strip_prefix(b"\xef\xbb\xbf").unwrap_or(head);
    let start = text
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(text.len());
    match &text[start..] {
        [b'<', next, ..] => next.is_ascii_alphabetic() || matches!(next, b'!' | b'?' | b'/'),
        _ => false,
    }
}

/// Decides the content type from the first bytes (`text_ok`: everything so far is UTF-8
/// without NUL) and the filename's extension.
fn classify(
    head: &[u8],
    text_ok: bool,
    ext: Option<&str>,
) -> Result<(Family, &'static str), String> {
    let family = match magic_family(head) {
        Some(family) => family,
        None if text_ok && looks_like_markup(head) => {
            return Err(format!(
                "the content is HTML or XML, which is not accepted; {ACCEPTED}"
            ));
        }
        None if text_ok => Family::Text,
        None => {
            return Err(format!(
                "the file's content is not of an accepted type; {ACCEPTED}"
            ));
        }
    };
    if let Some(ext) = ext
        && !family.extensions().contains(&ext)
    {
        return Err(format!(
            "the file is named .{ext} but its content is {}; {ACCEPTED}",
            family.describe()
        ));
    }
    let content_type = match family {
        Family::Pdf => "application/pdf",
        Family::Png => "image/png",
        Family::Jpeg => "image/jpeg",
        Family::Gif => "image/gif",
        Family::Webp => "image/webp",
        Family::Ooxml => {
            if !contains(head, b"[Content_Types].xml") {
                return Err(format!("ZIP archives are not accepted; {ACCEPTED}"));
            }
            match ext {
                Some("docx") => DOCX,
                Some("xlsx") => XLSX,
                Some("pptx") => PPTX,
                _ if contains(head, b"word/") => DOCX,
                _ if contains(head, b"xl/") => XLSX,
                _ if contains(head, b"ppt/") => PPTX,
                _ => return Err("name the file .docx, .xlsx or .pptx".to_owned()),
            }
        }
        Family::Ole2 => match ext {
            Some("doc") => "application/msword",
            Some("xls") => "application/vnd.ms-excel",
            Some("ppt") => "application/vnd.ms-powerpoint",
            Some("msg") => "application/vnd.ms-outlook",
            _ => "application/x-ole-storage",
        },
        Family::Text => match ext {
            Some("rtf") => "application/rtf",
            _ if head.starts_with(b"{\\rtf") => "application/rtf",
            Some("csv") => "text/csv; charset=utf-8",
            Some("tsv") => "text/tab-separated-values; charset=utf-8",
            _ => "text/plain; charset=utf-8",
        },
    };
    Ok((family, content_type))
}

/// Incremental "valid UTF-8 without NUL" check over a stream of pieces.
struct TextCheck {
    ok: bool,
    /// The start of a character split across pieces (at most 3 bytes).
    carry: Vec<u8>,
}

impl TextCheck {
    fn new() -> Self {
        Self {
            ok: true,
            carry: Vec::new(),
        }
    }

    fn feed(&mut self, mut data: &[u8]) {
        if !self.ok {
            return;
        }
        if data.contains(&0) {
            self.ok = false;
            return;
        }
        while !self.carry.is_empty() {
            let Some((&byte, rest)) = data.split_first() else {
                return;
            };
            self.carry.push(byte);
            data = rest;
            match std::str::from_utf8(&self.carry) {
                Ok(_) => self.carry.clear(),
                Err(err) if err.error_len().is_some() => {
                    self.ok = false;
                    return;
                }
                Err(_) => {}
            }
        }
        if let Err(err) = std::str::from_utf8(data) {
            match err.error_len() {
                Some(_) => self.ok = false,
                None => self.carry = data[err.valid_up_to()..].to_vec(),
            }
        }
    }

    fn is_ok(&self) -> bool {
        self.ok
    }

    fn finish(&self) -> bool {
        self.ok && self.carry.is_empty()
    }
}

/// The type check as the bytes arrive: decides on the first [`SNIFF_LEN`] bytes, and for text
/// keeps checking to the end.
struct ContentCheck {
    ext: Option<String>,
    head: Vec<u8>,
    decided: Option<(Family, &'static str)>,
    text: TextCheck,
    total: u64,
}

impl ContentCheck {
    fn new(filename: &str) -> Self {
        Self {
            ext: extension(filename),
            head: Vec::new(),
            decided: None,
            text: TextCheck::new(),
            total: 0,
        }
    }

    fn update(&mut self, data: &[u8]) -> Result<(), DocumentError> {
        self.total += data.len() as u64;
        self.text.feed(data);
        match self.decided {
            Some((Family::Text, _)) if !self.text.is_ok() => {
                Err(DocumentError::Unsupported(format!(
                    "the file starts as plain text but is not valid UTF-8 text throughout; {ACCEPTED}"
                )))
            }
            Some(_) => Ok(()),
            None => {
                let room = SNIFF_LEN - self.head.len();
                self.head.extend_from_slice(&data[..room.min(data.len())]);
                if self.head.len() >= SNIFF_LEN {
                    self.decide()?;
                }
                Ok(())
            }
        }
    }

    fn decide(&mut self) -> Result<(), DocumentError> {
        let decided = classify(&self.head, self.text.is_ok(), self.ext.as_deref())
            .map_err(DocumentError::Unsupported)?;
        self.decided = Some(decided);
        self.head = Vec::new();
        Ok(())
    }

    fn finish(mut self) -> Result<&'static str, DocumentError> {
        if self.total == 0 {
            return Err(DocumentError::Invalid("the file is empty".into()));
        }
        if self.decided.is_none() {
            self.decide()?;
        }
        match self.decided {
            Some((Family::Text, _)) if !self.text.finish() => Err(DocumentError::Unsupported(
                format!("the file is not valid UTF-8 text; {ACCEPTED}"),
            )),
            Some((_, content_type)) => Ok(content_type),
            None => Err(DocumentError::Unsupported(ACCEPTED.to_owned())),
        }
    }
}

// ---- writing blobs ----------------------------------------------------------------------------

/// A blob in place under its generated name, whose row is not written yet.
#[derive(Clone, Debug)]
pub struct StoredBlob {
    pub blob_name: String,
    pub tenant: TenantId,
    pub size_bytes: u64,
    pub content_type: &'static str,
    store: BlobStore,
}

impl StoredBlob {
    /// Removes the blob after its row could not be written (best effort: the sweeper removes
    /// what is left).
    pub async fn discard(self) {
        if let Err(err) = self.store.remove(self.tenant, &self.blob_name).await {
            tracing::warn!(blob = %self.blob_name, error = %err, "could not remove an unused blob");
        }
    }
}

/// Streams one upload into an encrypted blob (see the module comment). Holds at most
/// [`SNIFF_LEN`] bytes for the type check and one chunk for the encryption, plus what the
/// store buffers ([`portico_platform::storage`]: two 1 MiB buffers on disk, a few parts on
/// S3). Sealed chunks go straight into the store's buffer.
pub struct BlobWriter {
    upload: BlobUpload,
    store: BlobStore,
    tenant: TenantId,
    blob_name: String,
    sealer: BlobSealer,
    check: ContentCheck,
    limit_bytes: u64,
    limit_mb: i32,
    received: u64,
}

impl BlobWriter {
    /// Starts the blob in the firm's folder of the store (a temp file on disk). `filename` is
    /// the sanitized display name (its extension must agree with the content); `limit_mb` is
    /// the firm's upload limit.
    pub async fn create(
        store: &BlobStore,
        tenant: TenantId,
        document: DocumentId,
        key: &DocumentKey,
        filename: &str,
        limit_mb: i32,
    ) -> Result<Self, DocumentError> {
        let blob_name = format!("{}{BLOB_SUFFIX}", Uuid::new_v4().simple());
        let mut upload = store.begin_upload(tenant, &blob_name).await?;
        let sealer = key.sealer(tenant, document);
        upload.write(sealer.header()).await?;
        Ok(Self {
            upload,
            store: store.clone(),
            tenant,
            blob_name,
            sealer,
            check: ContentCheck::new(filename),
            limit_bytes: u64::try_from(limit_mb.max(0)).unwrap_or(0) * 1024 * 1024,
            limit_mb,
            received: 0,
        })
    }

    /// Takes the next piece of the upload. Fails as soon as the limit is passed or the content
    /// is known to be refused; the partial blob is removed when the writer is dropped.
    pub async fn write(&mut self, data: &[u8]) -> Result<(), DocumentError> {
        self.received += data.len() as u64;
        if self.received > self.limit_bytes {
            return Err(DocumentError::TooLarge {
                limit_mb: self.limit_mb,
            });
        }
        self.check.update(data)?;
        let sealer = &mut self.sealer;
        self.upload
            .write_with(|out| Ok::<_, DocumentError>(sealer.update(data, out)?))
            .await
    }

    /// Completes the type check, seals the last chunk and commits the blob under its generated
    /// name (on disk: fsync, rename, directory fsync).
    pub async fn finish(self) -> Result<StoredBlob, DocumentError> {
        let BlobWriter {
            mut upload,
            store,
            tenant,
            blob_name,
            sealer,
            check,
            received,
            ..
        } = self;
        let content_type = check.finish()?;
        upload
            .write_with(|out| Ok::<_, DocumentError>(sealer.finish(out).map(|_| ())?))
            .await?;
        // What this process sealed is whole: a download of this version skips verifying it.
        if let Some(version) = upload.commit().await? {
            store.remember_verified(tenant, &blob_name, version);
        }
        Ok(StoredBlob {
            blob_name,
            tenant,
            size_bytes: received,
            content_type,
            store,
        })
    }
}

// ---- reading blobs ----------------------------------------------------------------------------

/// The key that opens a document's blob: the firm's key (never created here) unwraps the
/// document's key.
async fn document_key(
    tx: &TenantTx,
    master: &MasterKey,
    row: &document::Model,
) -> Result<DocumentKey, DocumentError> {
    let tenant = tx.tenant_id();
    let stored = tenant_key::Entity::scoped(tx)
        .one(tx.conn())
        .await?
        .ok_or_else(|| DocumentError::Integrity("the firm has documents but no key".into()))?;
    let kek = master
        .unwrap_tenant_key(tenant, &stored.wrapped_key)
        .map_err(wrong_master_key)?;
    Ok(kek.unwrap_document_key(tenant, DocumentId::from_uuid(row.id), &row.wrapped_key)?)
}

/// A document ready to be read: what its answer says of it, and what opens its blob.
pub struct Download {
    pub document: DownloadedDocument,
    tenant: TenantId,
    blob_name: String,
    key: DocumentKey,
}

/// What a download's answer says of its document (its headers). Not the whole [`Document`]:
/// that view names the uploader, one more statement before the first byte that the answer
/// never shows (on PostgreSQL a round trip of a download's 3–5 ms wait for its first byte).
#[derive(Clone, Debug)]
pub struct DownloadedDocument {
    pub id: DocumentId,
    pub filename: String,
    pub content_type: String,
    pub size_bytes: i64,
}

/// A document `viewer` can download (`None` when it is not visible to them).
pub async fn download_for_member(
    tx: &TenantTx,
    viewer: &Member,
    master: &MasterKey,
    id: DocumentId,
) -> Result<Option<Download>, DocumentError> {
    let Some(row) = visible_row_for_member(tx, viewer, id).await? else {
        return Ok(None);
    };
    download(tx, master, row).await.map(Some)
}

/// A document the client can download (`None` when it is not visible to them).
pub async fn download_for_client(
    tx: &TenantTx,
    client: &Client,
    master: &MasterKey,
    id: DocumentId,
    options: &FirmOptions,
) -> Result<Option<Download>, DocumentError> {
    let Some(row) = visible_row_for_client(tx, client, id, options).await? else {
        return Ok(None);
    };
    download(tx, master, row).await.map(Some)
}

async fn download(
    tx: &TenantTx,
    master: &MasterKey,
    row: document::Model,
) -> Result<Download, DocumentError> {
    let key = document_key(tx, master, &row).await?;
    Ok(Download {
        tenant: tx.tenant_id(),
        key,
        document: DownloadedDocument {
            id: DocumentId::from_uuid(row.id),
            filename: row.filename,
            content_type: row.content_type,
            size_bytes: row.size_bytes,
        },
        blob_name: row.blob_name,
    })
}

impl Download {
    /// First pass: reads the whole blob and checks every chunk's tag and the total size,
    /// keeping nothing. Only a blob that passes is returned for reading (from the same open
    /// file, or the same object version on S3, so it cannot be swapped in between). Skipped for
    /// a version the store remembers as whole (see [`portico_platform::storage`]); the second
    /// pass authenticates every chunk either way. Returns whether the pass ran.
    pub async fn verify(
        self,
        store: &BlobStore,
    ) -> Result<(DownloadedDocument, BlobReader, Verification), DocumentError> {
        let Download {
            document,
            tenant,
            blob_name,
            key,
        } = self;
        let Some(mut blob) = store.open(tenant, &blob_name).await? else {
            return Err(DocumentError::Integrity("the blob is missing".into()));
        };
        let len = blob.size();
        if len < HEADER_LEN as u64 {
            return Err(DocumentError::Integrity("the blob is truncated".into()));
        }
        let mut header = [0u8; HEADER_LEN];
        blob.read_exact(&mut header).await?;
        let version = blob.version().cloned();
        if let Some(version) = &version
            && store.was_verified(tenant, &blob_name, version)
        {
            let opener = key.opener(tenant, document.id, &header, len)?;
            return Ok((document, BlobReader { blob, opener }, Verification::Known));
        }
        let mut opener = key.opener(tenant, document.id, &header, len)?;
        let mut total = 0u64;
        while !opener.is_done() {
            let mut chunk = blob.read_bytes(opener.next_chunk_len()).await?;
            opener.open_chunk(&mut chunk)?;
            total += chunk.len() as u64;
        }
        let expected = u64::try_from(document.size_bytes).unwrap_or(0);
        if total != expected {
            return Err(DocumentError::Integrity(format!(
                "the blob holds {total} bytes, the row says {expected}"
            )));
        }
        blob.restart_at(HEADER_LEN as u64).await?;
        if let Some(version) = version {
            store.remember_verified(tenant, &blob_name, version);
        }
        let opener = key.opener(tenant, document.id, &header, len)?;
        Ok((document, BlobReader { blob, opener }, Verification::Full))
    }
}

/// How a download's blob was found whole.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verification {
    /// Read through and authenticated before the first byte was sent.
    Full,
    /// This version was written by this process or already read through.
    Known,
}

impl Verification {
    pub fn as_str(self) -> &'static str {
        match self {
            Verification::Full => "full",
            Verification::Known => "known",
        }
    }
}

/// Second pass over a verified blob: decrypted chunks in order.
pub struct BlobReader {
    blob: BlobRead,
    opener: BlobOpener,
}

impl BlobReader {
    /// The next decrypted chunk, or `None` at the end. An error here means the blob changed in
    /// the store after it was verified. The chunk is decrypted where it was read, and handed
    /// on without a copy.
    pub async fn next_chunk(&mut self) -> Result<Option<Bytes>, DocumentError> {
        let len = self.opener.next_chunk_len();
        if len == 0 {
            return Ok(None);
        }
        let mut chunk = self.blob.read_bytes(len).await?;
        self.opener.open_chunk(&mut chunk)?;
        Ok(Some(chunk.freeze()))
    }
}

// ---- the sweeper ------------------------------------------------------------------------------

/// How old leftovers must be before the sweeper removes them.
#[derive(Clone, Debug)]
pub struct SweepPolicy {
    /// A blob without a row younger than this may belong to an upload about to commit its row.
    pub orphan_min_age: Duration,
    /// Temp files of uploads interrupted by a crash.
    pub temp_min_age: Duration,
}

impl Default for SweepPolicy {
    fn default() -> Self {
        Self {
            orphan_min_age: Duration::from_secs(15 * 60),
            temp_min_age: Duration::from_secs(60 * 60),
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct SweepReport {
    pub orphans_removed: usize,
    pub temps_removed: usize,
}

/// Removes the firm's blobs that no row refers to and stale temp files (callable from a job).
/// The same for both stores; S3 has no temp files (an unfinished upload is not an object).
pub async fn sweep(
    tx: &TenantTx,
    store: &BlobStore,
    policy: &SweepPolicy,
) -> Result<SweepReport, DocumentError> {
    let tenant = tx.tenant_id();
    let mut report = SweepReport::default();
    let known: HashSet<String> = document::Entity::scoped(tx)
        .select_only()
        .column(document::Column::BlobName)
        .into_tuple::<String>()
        .all(tx.conn())
        .await?
        .into_iter()
        .collect();
    let candidates = store
        .list_tenant(tenant, |name| {
            name.starts_with(TEMP_PREFIX) || (name.ends_with(BLOB_SUFFIX) && !known.contains(name))
        })
        .await?;
    let now = SystemTime::now();
    for entry in candidates {
        let age = entry
            .modified
            .and_then(|m| now.duration_since(m).ok())
            .unwrap_or_default();
        let min_age = if entry.is_temp() {
            policy.temp_min_age
        } else {
            policy.orphan_min_age
        };
        if age < min_age {
            continue;
        }
        match store.remove(tenant, &entry.name).await? {
            true if entry.is_temp() => report.temps_removed += 1,
            true => report.orphans_removed += 1,
            false => {}
        }
    }
    if report != SweepReport::default() {
        tracing::info!(tenant = %tenant, orphans = report.orphans_removed, temps = report.temps_removed, "swept document blobs");
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filenames_are_sanitized() {
        assert_eq!(sanitize_filename("../../etc/passwd"), "passwd");
        assert_eq!(sanitize_filename("C:\\Users\\x\\report.pdf"), "report.pdf");
        assert_eq!(sanitize_filename(".."), "document");
        assert_eq!(sanitize_filename(""), "document");
        assert_eq!(sanitize_filename("a..b...pdf"), "a.b.pdf");
        assert_eq!(sanitize_filename("in\u{202e}fdp.exe"), "infdp.exe");
        assert_eq!(sanitize_filename("line\r\nbreak\0.txt"), "linebreak.txt");
        assert_eq!(sanitize_filename("what?<>.txt"), "what___.txt");
        assert_eq!(sanitize_filename("  .hidden. "), "hidden");
        let long = format!("{}.pdf", "x".repeat(500));
        let short = sanitize_filename(&long);
        assert_eq!(short.chars().count(), FILENAME_MAX);
        assert!(short.ends_with(".pdf"));
        assert_eq!(
            sanitize_filename("Überweisung März.pdf"),
            "Überweisung März.pdf"
        );
    }

    fn check(name: &str, content: &[u8]) -> Result<&'static str, DocumentError> {
        let mut check = ContentCheck::new(name);
        for piece in content.chunks(1000) {
            check.update(piece)?;
        }
        check.finish()
    }

    #[test]
    fn types_come_from_the_content_and_must_match_the_name() {
        assert_eq!(
            check("a.pdf", b"%PDF-1.7\n...").ok(),
            Some("application/pdf")
        );
        assert_eq!(
            check("scan", b"%PDF-1.7\n...").ok(),
            Some("application/pdf")
        );
        assert_eq!(
            check("a.PNG", b"\x89PNG\r\n\x1a\n....").ok(),
            Some("image/png")
        );
        assert_eq!(
            check("a.jpg", &[0xff, 0xd8, 0xff, 0xe0, 1, 2]).ok(),
            Some("image/jpeg")
        );
        assert_eq!(
            check("a.webp", b"RIFF\x10\0\0\0WEBPVP8 ").ok(),
            Some("image/webp")
        );
        assert_eq!(
            check("notes.txt", "héllo wörld".as_bytes()).ok(),
            Some("text/plain; charset=utf-8")
        );
        assert_eq!(
            check("data.csv", b"a,b\n1,2\n").ok(),
            Some("text/csv; charset=utf-8")
        );
        let docx = b"PK\x03\x04\x14\0\0\0\x08\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\x13\0\0\0[Content_Types].xml....word/document.xml";
        assert_eq!(check("brief.docx", docx).ok(), Some(DOCX));
        assert_eq!(check("brief", docx).ok(), Some(DOCX));
        assert_eq!(
            check(
                "a.doc",
                &[0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1, 0]
            )
            .ok(),
            Some("application/msword")
        );

        for (name, content) in [
            ("evil.pdf", &b"<html><script>alert(1)</script></html>"[..]),
            ("evil.pdf", b"MZ\x90\0\x03\0\0\0"),
            ("page.txt", b"  <!DOCTYPE html><p>hi"),
            ("image.svg", b"<svg onload=alert(1)>"),
            ("run.bat", b"format c:"),
            ("scan.exe", b"%PDF-1.4"),
            (
                "archive.zip",
                b"PK\x03\x04\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0payload.exe",
            ),
            ("notes.txt", b"binary\0junk"),
            ("notes.txt", b"\xff\xfe not utf-8"),
        ] {
            assert!(
                matches!(check(name, content), Err(DocumentError::Unsupported(_))),
                "{name}: {content:?}"
            );
        }
        assert!(matches!(
            check("empty.txt", b""),
            Err(DocumentError::Invalid(_))
        ));
    }

    #[test]
    fn the_accept_list_is_every_family_extension() {
        let families = [
            Family::Pdf,
            Family::Png,
            Family::Jpeg,
            Family::Gif,
            Family::Webp,
            Family::Ooxml,
            Family::Ole2,
            Family::Text,
        ];
        let mut all: Vec<&str> = families
            .iter()
            .flat_map(|f| f.extensions().iter().copied())
            .collect();
        all.sort_unstable();
        let mut listed = ACCEPTED_EXTENSIONS.to_vec();
        listed.sort_unstable();
        assert_eq!(all, listed);
    }

    #[test]
    fn text_is_checked_to_the_end_across_pieces() {
        let mut text = "ä".repeat(SNIFF_LEN).into_bytes();
        // Split a two-byte character across every piece boundary.
        for step in [1, 3, 4095, SNIFF_LEN + 1] {
            let mut check = ContentCheck::new("long.txt");
            for piece in text.chunks(step) {
                check.update(piece).expect("valid so far");
            }
            assert!(check.finish().is_ok(), "step {step}");
        }
        text.extend_from_slice(b"tail\0");
        let mut refused = ContentCheck::new("long.txt");
        let result = text
            .chunks(4096)
            .try_for_each(|piece| refused.update(piece));
        assert!(matches!(result, Err(DocumentError::Unsupported(_))));
        let mut truncated = ContentCheck::new("cut.txt");
        truncated
            .update(&"ä".as_bytes()[..1])
            .expect("incomplete so far");
        assert!(truncated.finish().is_err());
    }
}
