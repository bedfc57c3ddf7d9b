//! `/api/v1/firm/contacts` and `/api/v1/firm/files`: the firm's address book, its files
//! (matters) and the people on them. Every member sees every contact; files follow the
//! file-access rule (`portico_tenants::files`): a file the member cannot access answers 404
//! exactly like an id that never existed, and is left out of every list.

use chrono::{DateTime, Utc};
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};
use portico_platform::ids::{ContactId, FileId, MemberId};
use portico_tenants::contacts::{
    self, Contact, ContactError, ContactFilter, ContactPatch, NewContact,
};
use portico_tenants::files::{
    self, ContactFile, File, FileError, FileFilter, FilePatch, FileStatus, NewFile, NewPerson,
    Person, PersonAdded, PersonRole,
};
use portico_tenants::portal_access::{self, PortalStatus};

use super::{Answer, ApiTags, BadRequest, Conflict, JsonBody, Session, Unprocessable};
use crate::auth::FirmMember;
use crate::error::{ApiError, ApiResult};

#[derive(Debug, Object)]
pub struct ContactView {
    pub id: uuid::Uuid,
    pub name: String,
    /// In the order the firm entered them.
    pub emails: Vec<String>,
    /// Files on which the contact holds a role, limited to files the caller can access.
    pub files: Vec<ContactFileView>,
    /// Portal access: `not_invited`, `invited`, `active` or `disabled`.
    pub portal_status: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl ContactView {
    fn new(contact: Contact, files: Vec<ContactFile>, portal: Option<PortalStatus>) -> Self {
        Self {
            id: contact.id.as_uuid(),
            name: contact.name,
            emails: contact.emails,
            files: files.into_iter().map(ContactFileView::from).collect(),
            portal_status: portal
                .unwrap_or(PortalStatus::NotInvited)
                .as_str()
                .to_owned(),
            created_at: contact.created_at,
            updated_at: contact.updated_at,
        }
    }
}

#[derive(Debug, Object)]
pub struct ContactFileView {
    pub id: uuid::Uuid,
    pub number: String,
    pub name: String,
    /// `open` or `closed`.
    pub status: String,
    /// `client`.
    pub role: String,
    /// Whether the contact is the file's primary client.
    pub primary: bool,
}

impl From<ContactFile> for ContactFileView {
    fn from(f: ContactFile) -> Self {
        Self {
            id: f.id.as_uuid(),
            number: f.number,
            name: f.name,
            status: f.status.as_str().to_owned(),
            role: f.role.as_str().to_owned(),
            primary: f.primary,
        }
    }
}

#[derive(Debug, Object)]
pub struct FileView {
    pub id: uuid::Uuid,
    pub number: String,
    pub name: String,
    pub file_type: String,
    /// `open` or `closed`.
    pub status: String,
    pub responsible_lawyer_id: uuid::Uuid,
    /// Assigned members (the responsible lawyer has access whether or not listed here).
    pub member_ids: Vec<uuid::Uuid>,
    /// The primary client first.
    pub people: Vec<PersonView>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<File> for FileView {
    fn from(f: File) -> Self {
        Self {
            id: f.id.as_uuid(),
            number: f.number,
            name: f.name,
            file_type: f.file_type,
            status: f.status.as_str().to_owned(),
            responsible_lawyer_id: f.responsible_lawyer_id.as_uuid(),
            member_ids: f.member_ids.into_iter().map(|m| m.as_uuid()).collect(),
            people: f.people.into_iter().map(PersonView::from).collect(),
            created_at: f.created_at,
            updated_at: f.updated_at,
        }
    }
}

#[derive(Debug, Object)]
pub struct PersonView {
    pub contact_id: uuid::Uuid,
    /// The contact's current name.
    pub name: String,
    /// `client`.
    pub role: String,
    /// The file's primary client (at most one per file).
    pub primary: bool,
    pub added_at: DateTime<Utc>,
}

impl From<Person> for PersonView {
    fn from(p: Person) -> Self {
        Self {
            contact_id: p.contact_id.as_uuid(),
            name: p.name,
            role: p.role.as_str().to_owned(),
            primary: p.primary,
            added_at: p.added_at,
        }
    }
}

#[derive(Object)]
pub struct CreateContactBody {
    /// Required, at most 200 characters.
    pub name: String,
    /// Valid addresses; repeats differing only in letter case are dropped; at most 20.
    #[oai(default)]
    pub emails: Vec<String>,
}

#[derive(Object)]
pub struct UpdateContactBody {
    #[oai(nullable)]
    pub name: Option<String>,
    /// Replaces the whole list (`[]` removes every address).
    #[oai(nullable)]
    pub emails: Option<Vec<String>>,
}

#[derive(Object)]
pub struct CreateFileBody {
    /// Unique within the firm (409 otherwise); at most 50 characters.
    pub number: String,
    /// At most 200 characters.
    pub name: String,
    /// Free text, may be empty.
    #[oai(default)]
    pub file_type: String,
    /// `open` (default) or `closed`.
    #[oai(nullable)]
    pub status: Option<String>,
    /// An active member of the firm.
    pub responsible_lawyer_id: uuid::Uuid,
    /// Active members of the firm. A member who is not an administrator and opens a file for
    /// another responsible lawyer is assigned as well.
    #[oai(default)]
    pub member_ids: Vec<uuid::Uuid>,
}

#[derive(Object)]
pub struct UpdateFileBody {
    #[oai(nullable)]
    pub number: Option<String>,
    #[oai(nullable)]
    pub name: Option<String>,
    #[oai(nullable)]
    pub file_type: Option<String>,
    /// `open` or `closed`.
    #[oai(nullable)]
    pub status: Option<String>,
    /// Changing it is reserved to administrators and the current responsible lawyer.
    #[oai(nullable)]
    pub responsible_lawyer_id: Option<uuid::Uuid>,
    /// Replaces the set of assigned members. Changing it is reserved to administrators and the
    /// current responsible lawyer.
    #[oai(nullable)]
    pub member_ids: Option<Vec<uuid::Uuid>>,
}

#[derive(Object)]
pub struct AddPersonBody {
    pub contact_id: uuid::Uuid,
    /// `client` (the default and, for now, the only role).
    #[oai(nullable)]
    pub role: Option<String>,
    /// Make the contact the file's primary client; the previous primary client stops being
    /// primary. The first client of a file becomes primary in any case.
    #[oai(default)]
    pub primary: bool,
}

#[derive(ApiResponse)]
pub enum ContactCreated {
    #[oai(status = 201)]
    Created(Json<ContactView>),
}

#[derive(ApiResponse)]
pub enum FileCreated {
    #[oai(status = 201)]
    Created(Json<FileView>),
}

#[derive(ApiResponse)]
pub enum PersonPut {
    /// The contact is now on the file.
    #[oai(status = 201)]
    Added(Json<PersonView>),
    /// The contact was already on the file; with `primary: true` it is now the primary client.
    #[oai(status = 200)]
    AlreadyThere(Json<PersonView>),
}

#[derive(ApiResponse)]
pub enum PersonRemoved {
    #[oai(status = 204)]
    Removed,
}

impl From<ContactError> for ApiError {
    fn from(err: ContactError) -> Self {
        match err {
            ContactError::Invalid(msg) => ApiError::unprocessable(msg),
            ContactError::NotFound => ApiError::not_found(),
            ContactError::Db(err) => ApiError::internal(err),
        }
    }
}

impl From<FileError> for ApiError {
    fn from(err: FileError) -> Self {
        match err {
            FileError::Invalid(msg) => ApiError::unprocessable(msg),
            FileError::NumberTaken(_) => ApiError::conflict(err.to_string()),
            FileError::Forbidden(msg) => ApiError::forbidden(msg),
            FileError::Conflict(msg) => ApiError::conflict(msg),
            FileError::NotFound => ApiError::not_found(),
            FileError::Db(err) => ApiError::internal(err),
        }
    }
}

/// Ids in paths that are not UUIDs name nothing: 404, like a missing id.
fn path_id<T: std::str::FromStr>(raw: &str) -> ApiResult<T> {
    raw.parse().map_err(|_| ApiError::not_found())
}

pub fn parse_status(value: &str) -> Result<FileStatus, FileError> {
    FileStatus::parse(value.trim())
        .ok_or_else(|| FileError::Invalid("status must be `open` or `closed`".into()))
}

fn parse_role(value: Option<&str>) -> Result<PersonRole, FileError> {
    match value.map(str::trim) {
        None | Some("") => Ok(PersonRole::Client),
        Some(role) => PersonRole::parse(role)
            .ok_or_else(|| FileError::Invalid("role must be `client`".into())),
    }
}

fn member_ids(ids: Vec<uuid::Uuid>) -> Vec<MemberId> {
    ids.into_iter().map(MemberId::from_uuid).collect()
}

pub struct FirmDirectoryApi;

#[OpenApi(prefix_path = "/firm", tag = "ApiTags::FirmDirectory")]
impl FirmDirectoryApi {
    /// List contacts
    ///
    /// Every contact of the firm, by name; each with the files (that the caller can access) on
    /// which it holds a role.
    #[oai(path = "/contacts", method = "get")]
    async fn list_contacts(
        &self,
        auth: FirmMember,
        /// `users`: only contacts with Portal access, i.e. whose Portal account is invited or
        /// active (the Portal Users filter). Other values are ignored.
        portal: Query<Option<String>>,
        /// Part of the name, ignoring letter case.
        q: Query<Option<String>>,
    ) -> Answer<Json<Vec<ContactView>>, Session> {
        let ctx = auth.0;
        let portal_users = portal.0.as_deref() == Some("users");
        // Portal access lives in the Portal accounts; the filter is applied against them here.
        let filter = ContactFilter {
            q: q.0,
            portal_users: false,
        };
        let tx = ctx.db.read().await?;
        let list = contacts::list(&tx, &filter).await?;
        let mut files = files::files_of_contacts(&tx, &ctx.member, None).await?;
        let statuses = portal_access::statuses(&tx).await?;
        tx.commit().await?;
        Ok(Json(
            list.into_iter()
                .filter(|c| {
                    !portal_users
                        || matches!(
                            statuses.get(&c.id),
                            Some(PortalStatus::Invited | PortalStatus::Active)
                        )
                })
                .map(|c| {
                    let of = files.remove(&c.id).unwrap_or_default();
                    let status = statuses.get(&c.id).copied();
                    ContactView::new(c, of, status)
                })
                .collect(),
        ))
    }

    /// Add a contact
    #[oai(path = "/contacts", method = "post")]
    async fn create_contact(
        &self,
        auth: FirmMember,
        body: Json<CreateContactBody>,
    ) -> Answer<ContactCreated, (Session, JsonBody, Unprocessable)> {
        let ctx = auth.0;
        let body = body.0;
        let tx = ctx.db.write().await?;
        let contact = contacts::create(
            &tx,
            &ctx.member,
            NewContact {
                name: body.name,
                emails: body.emails,
            },
            ctx.ip.clone(),
        )
        .await?;
        tx.commit().await?;
        Ok(ContactCreated::Created(Json(ContactView::new(
            contact,
            Vec::new(),
            None,
        ))))
    }

    /// Show a contact
    #[oai(path = "/contacts/:id", method = "get")]
    async fn get_contact(
        &self,
        auth: FirmMember,
        id: Path<String>,
    ) -> Answer<Json<ContactView>, Session> {
        let ctx = auth.0;
        let id: ContactId = path_id(&id.0)?;
        let tx = ctx.db.read().await?;
        let contact = contacts::get(&tx, id)
            .await?
            .ok_or_else(ApiError::not_found)?;
        let files = files::files_of_contact(&tx, &ctx.member, id).await?;
        let status = Some(portal_access::status(&tx, &ctx.member, id).await?.status);
        tx.commit().await?;
        Ok(Json(ContactView::new(contact, files, status)))
    }

    /// Change a contact
    ///
    /// Changing the emails does not change a Portal login name.
    #[oai(path = "/contacts/:id", method = "patch")]
    async fn update_contact(
        &self,
        auth: FirmMember,
        id: Path<String>,
        body: Json<UpdateContactBody>,
    ) -> Answer<Json<ContactView>, (Session, JsonBody, Unprocessable)> {
        let ctx = auth.0;
        let id: ContactId = path_id(&id.0)?;
        let body = body.0;
        let tx = ctx.db.write().await?;
        let contact = contacts::update(
            &tx,
            &ctx.member,
            id,
            ContactPatch {
                name: body.name,
                emails: body.emails,
            },
            ctx.ip.clone(),
        )
        .await?;
        let files = files::files_of_contact(&tx, &ctx.member, id).await?;
        let status = Some(portal_access::status(&tx, &ctx.member, id).await?.status);
        tx.commit().await?;
        Ok(Json(ContactView::new(contact, files, status)))
    }

    /// List files
    ///
    /// The files the caller can access (assigned member or responsible lawyer; administrators:
    /// all), by number.
    #[oai(path = "/files", method = "get")]
    async fn list_files(
        &self,
        auth: FirmMember,
        /// `open` or `closed`.
        status: Query<Option<String>>,
        /// Part of the number or name, ignoring letter case.
        q: Query<Option<String>>,
        responsible_lawyer_id: Query<Option<uuid::Uuid>>,
        /// Only files the caller is assigned to.
        #[oai(default)]
        assigned_to_me: Query<bool>,
    ) -> Answer<Json<Vec<FileView>>, (Session, BadRequest, Unprocessable)> {
        let ctx = auth.0;
        let status = match status.0.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            Some(s) => Some(parse_status(s)?),
            None => None,
        };
        let filter = FileFilter {
            status,
            q: q.0,
            responsible_lawyer_id: responsible_lawyer_id.0.map(MemberId::from_uuid),
            assigned_to_me: assigned_to_me.0,
        };
        let tx = ctx.db.read().await?;
        let list = files::list(&tx, &ctx.member, &filter).await?;
        tx.commit().await?;
        Ok(Json(list.into_iter().map(FileView::from).collect()))
    }

    /// Open a file
    #[oai(path = "/files", method = "post")]
    async fn create_file(
        &self,
        auth: FirmMember,
        body: Json<CreateFileBody>,
    ) -> Answer<FileCreated, (Session, JsonBody, Conflict, Unprocessable)> {
        let ctx = auth.0;
        let body = body.0;
        let status = match body.status.as_deref() {
            Some(s) => parse_status(s)?,
            None => FileStatus::Open,
        };
        let new = NewFile {
            number: body.number,
            name: body.name,
            file_type: body.file_type,
            status,
            responsible_lawyer_id: MemberId::from_uuid(body.responsible_lawyer_id),
            member_ids: member_ids(body.member_ids),
        };
        let tx = ctx.db.write().await?;
        let file = files::create(&tx, &ctx.member, new, ctx.ip.clone()).await?;
        tx.commit().await?;
        Ok(FileCreated::Created(Json(file.into())))
    }

    /// Show a file
    #[oai(path = "/files/:id", method = "get")]
    async fn get_file(
        &self,
        auth: FirmMember,
        id: Path<String>,
    ) -> Answer<Json<FileView>, Session> {
        let ctx = auth.0;
        let id: FileId = path_id(&id.0)?;
        let tx = ctx.db.read().await?;
        let file = files::get(&tx, &ctx.member, id)
            .await?
            .ok_or_else(ApiError::not_found)?;
        tx.commit().await?;
        Ok(Json(file.into()))
    }

    /// Change a file
    ///
    /// Any member with access changes the number, name, type and status; only administrators
    /// and the responsible lawyer change the responsible lawyer and the assigned members (403).
    #[oai(path = "/files/:id", method = "patch")]
    async fn update_file(
        &self,
        auth: FirmMember,
        id: Path<String>,
        body: Json<UpdateFileBody>,
    ) -> Answer<Json<FileView>, (Session, JsonBody, Conflict, Unprocessable)> {
        let ctx = auth.0;
        let id: FileId = path_id(&id.0)?;
        let body = body.0;
        let patch = FilePatch {
            number: body.number,
            name: body.name,
            file_type: body.file_type,
            status: body.status.as_deref().map(parse_status).transpose()?,
            responsible_lawyer_id: body.responsible_lawyer_id.map(MemberId::from_uuid),
            member_ids: body.member_ids.map(member_ids),
        };
        let tx = ctx.db.write().await?;
        let file = files::update(&tx, &ctx.member, id, patch, ctx.ip.clone()).await?;
        tx.commit().await?;
        Ok(Json(file.into()))
    }

    /// List the people on a file
    #[oai(path = "/files/:id/people", method = "get")]
    async fn list_people(
        &self,
        auth: FirmMember,
        id: Path<String>,
    ) -> Answer<Json<Vec<PersonView>>, Session> {
        let ctx = auth.0;
        let id: FileId = path_id(&id.0)?;
        let tx = ctx.db.read().await?;
        let people = files::people(&tx, &ctx.member, id)
            .await?
            .ok_or_else(ApiError::not_found)?;
        tx.commit().await?;
        Ok(Json(people.into_iter().map(PersonView::from).collect()))
    }

    /// Add a client to a file
    ///
    /// The contact must be a contact of the firm (422). The file's first client becomes its
    /// primary client; `primary: true` moves the primary to this contact, also when it is
    /// already on the file.
    #[oai(path = "/files/:id/people", method = "post")]
    async fn add_person(
        &self,
        auth: FirmMember,
        id: Path<String>,
        body: Json<AddPersonBody>,
    ) -> Answer<PersonPut, (Session, JsonBody, Conflict, Unprocessable)> {
        let ctx = auth.0;
        let id: FileId = path_id(&id.0)?;
        let body = body.0;
        let new = NewPerson {
            contact_id: ContactId::from_uuid(body.contact_id),
            role: parse_role(body.role.as_deref())?,
            primary: body.primary,
        };
        let tx = ctx.db.write().await?;
        let added = files::add_person(&tx, &ctx.member, id, new, ctx.ip.clone()).await?;
        tx.commit().await?;
        Ok(match added {
            PersonAdded::Added(p) => PersonPut::Added(Json(p.into())),
            PersonAdded::AlreadyThere(p) => PersonPut::AlreadyThere(Json(p.into())),
        })
    }

    /// Remove a person from a file
    ///
    /// Removing the primary client leaves the file without one until another is named.
    #[oai(path = "/files/:id/people/:contact_id", method = "delete")]
    async fn remove_person(
        &self,
        auth: FirmMember,
        id: Path<String>,
        contact_id: Path<String>,
    ) -> Answer<PersonRemoved, Session> {
        let ctx = auth.0;
        let id: FileId = path_id(&id.0)?;
        let contact_id: ContactId = path_id(&contact_id.0)?;
        let tx = ctx.db.write().await?;
        files::remove_person(&tx, &ctx.member, id, contact_id, ctx.ip.clone()).await?;
        tx.commit().await?;
        Ok(PersonRemoved::Removed)
    }
}
