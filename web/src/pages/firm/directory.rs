//! Contacts and files pages: `/firm/contacts`, `/firm/contacts/{id}`, `/firm/files`,
//! `/firm/files/{id}` and the people on a file. Files follow the file-access rule
//! (`portico_tenants::files`): a file the member cannot access is a 404 page, exactly like a
//! missing one. Forms post back with the session's CSRF field; a refused change re-renders the
//! form with the message and what was typed, a successful one redirects with a notice.

use std::collections::{BTreeSet, HashMap};

use poem::http::StatusCode;
use poem::web::{Data, Form, Path, Query, Redirect};
use poem::{IntoResponse, Request, Response, Route, get, handler, post};
use portico_platform::ids::{ContactId, FileId, MemberId};
use portico_tenants::contacts::{
    self, Contact, ContactError, ContactFilter, ContactPatch, NewContact,
};
use portico_tenants::files::{
    self, File, FileError, FileFilter, FilePatch, FileStatus, NewFile, NewPerson, PersonAdded,
    PersonRole,
};
use portico_tenants::members::{self, Member};
use sea_orm::DbErr;
use serde::{Deserialize, Serialize};

use portico_tenants::portal_access::{self, PortalError, PortalStatus};

use super::portal::{PortalOutcome, contact_portal, file_portal};
use super::{not_found, render, require_member, require_member_form};
use crate::auth::MemberCtx;
use crate::state::AppState;

/// Adds this module's pages to the firm routes.
pub fn routes(route: Route) -> Route {
    route
        .at("/firm/contacts", get(contacts_page).post(create_contact))
        .at("/firm/contacts/:id", get(contact_page).post(update_contact))
        .at("/firm/files", get(files_page).post(create_file))
        .at("/firm/files/:id", get(file_page).post(update_file))
        .at("/firm/files/:id/people", post(add_person))
        .at(
            "/firm/files/:id/people/:contact_id/remove",
            post(remove_person),
        )
}

fn internal(state: &AppState, err: impl std::fmt::Display) -> Response {
    state.templates.server_error("directory page failed", err)
}

/// The `?done=` notices: fixed texts, so nothing from the address is echoed into the page.
fn notice(done: &str) -> Option<&'static str> {
    Some(match done {
        "contact-created" => "Contact added.",
        "file-created" => "File opened.",
        "saved" => "Changes saved.",
        "person-added" => "Client added to the file.",
        "primary" => "Primary client changed.",
        "already" => "That contact is already a client on this file.",
        "person-removed" => "Removed from the file.",
        "left" => "Changes saved. You no longer have access to that file.",
        other => return super::portal::notice(other),
    })
}

#[derive(Deserialize, Default)]
pub struct ListQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    status: String,
    /// `users`: only contacts with Portal access (invited or active).
    #[serde(default)]
    portal: String,
    #[serde(default)]
    done: String,
}

#[derive(Deserialize, Default)]
pub struct DoneQuery {
    #[serde(default)]
    done: String,
}

/// Addresses typed one per line, or separated by commas or semicolons.
fn split_emails(text: &str) -> Vec<String> {
    text.split(['\n', '\r', ',', ';'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Contacts

#[derive(Deserialize, Serialize, Default, Clone)]
pub struct ContactForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    emails: String,
}

#[derive(Serialize)]
struct ContactRow {
    id: String,
    name: String,
    emails: Vec<String>,
    files: Vec<files::ContactFile>,
    /// `not_invited`, `invited`, `active` or `disabled`.
    portal: &'static str,
}

/// The contact list's "Portal Users": contacts whose account is invited or active.
pub fn is_portal_user(status: Option<&PortalStatus>) -> bool {
    matches!(status, Some(PortalStatus::Invited | PortalStatus::Active))
}

async fn contacts_view(
    state: &AppState,
    ctx: &MemberCtx,
    query: &ListQuery,
    status: StatusCode,
    form: Option<ContactForm>,
    error: Option<String>,
) -> Response {
    let q = query.q.trim();
    let portal_users = query.portal == "users";
    let loaded = async {
        let tx = ctx.db.read().await?;
        let list = contacts::list(
            &tx,
            &ContactFilter {
                q: Some(q.to_owned()),
                portal_users: false,
            },
        )
        .await?;
        let linked = files::files_of_contacts(&tx, &ctx.member, None).await?;
        let statuses = portal_access::statuses(&tx).await?;
        tx.commit().await?;
        Ok::<_, DbErr>((list, linked, statuses))
    }
    .await;
    let (list, mut linked, statuses) = match loaded {
        Ok(loaded) => loaded,
        Err(err) => return internal(state, err),
    };
    let rows: Vec<ContactRow> = list
        .into_iter()
        .filter(|c| !portal_users || is_portal_user(statuses.get(&c.id)))
        .map(|c| ContactRow {
            id: c.id.to_string(),
            files: linked.remove(&c.id).unwrap_or_default(),
            portal: statuses
                .get(&c.id)
                .copied()
                .unwrap_or(PortalStatus::NotInvited)
                .as_str(),
            name: c.name,
            emails: c.emails,
        })
        .collect();
    render(
        state,
        ctx,
        "firm_contacts.html",
        status,
        "contacts",
        minijinja::context! {
            contacts => rows,
            q => q,
            portal_users => portal_users,
            form => form.unwrap_or_default(),
            error => error,
            notice => notice(&query.done),
        },
    )
    .await
}

#[handler]
async fn contacts_page(
    req: &Request,
    state: Data<&AppState>,
    Query(query): Query<ListQuery>,
) -> Response {
    let ctx = match require_member(req, &state).await {
        Ok(ctx) => ctx,
        Err(response) => return response,
    };
    contacts_view(&state, &ctx, &query, StatusCode::OK, None, None).await
}

#[handler]
async fn create_contact(
    req: &Request,
    state: Data<&AppState>,
    Form(form): Form<ContactForm>,
) -> Response {
    let ctx = match require_member_form(req, &state, &form.csrf).await {
        Ok(ctx) => ctx,
        Err(response) => return response,
    };
    let new = NewContact {
        name: form.name.clone(),
        emails: split_emails(&form.emails),
    };
    let created = async {
        let tx = ctx.db.write().await?;
        let contact = contacts::create(&tx, &ctx.member, new, ctx.ip.clone()).await?;
        tx.commit().await?;
        Ok::<_, ContactError>(contact)
    }
    .await;
    match created {
        Ok(contact) => Redirect::see_other(format!(
            "/firm/contacts/{}?done=contact-created",
            contact.id
        ))
        .into_response(),
        Err(ContactError::Invalid(message)) => {
            contacts_view(
                &state,
                &ctx,
                &ListQuery::default(),
                StatusCode::UNPROCESSABLE_ENTITY,
                Some(form),
                Some(message),
            )
            .await
        }
        Err(ContactError::NotFound) => not_found(&state),
        Err(ContactError::Db(err)) => internal(&state, err),
    }
}

/// How the contact page is rendered: after a redirect (`done`) or for a refused form.
#[derive(Default)]
pub(super) struct ContactOutcome {
    pub status: Option<StatusCode>,
    pub done: String,
    pub form: Option<ContactForm>,
    pub error: Option<String>,
    /// A refused Manage Portal form.
    pub portal: PortalOutcome,
}

pub(super) async fn contact_view(
    state: &AppState,
    ctx: &MemberCtx,
    id: &str,
    outcome: ContactOutcome,
) -> Response {
    let Ok(id) = id.parse::<ContactId>() else {
        return not_found(state);
    };
    let options = crate::firm_options::options_or_defaults(state, &ctx.tenant).await;
    let ContactOutcome {
        status,
        done,
        form,
        error,
        portal,
    } = outcome;
    let loaded = async {
        let tx = ctx.db.read().await?;
        let Some(contact) = contacts::get(&tx, id).await? else {
            return Ok(None);
        };
        let linked = files::files_of_contact(&tx, &ctx.member, id).await?;
        let portal = contact_portal(&tx, &ctx.member, &contact, &linked, &options, portal).await?;
        tx.commit().await?;
        Ok::<_, PortalError>(Some((contact, linked, portal)))
    }
    .await;
    let (contact, linked, portal): (Contact, _, _) = match loaded {
        Ok(Some(loaded)) => loaded,
        Ok(None) | Err(PortalError::NotFound) => return not_found(state),
        Err(err) => return internal(state, err),
    };
    let form = form.unwrap_or_else(|| ContactForm {
        csrf: String::new(),
        name: contact.name.clone(),
        emails: contact.emails.join("\n"),
    });
    render(
        state,
        ctx,
        "firm_contact.html",
        status.unwrap_or(StatusCode::OK),
        "contacts",
        minijinja::context! {
            contact => contact,
            files => linked,
            portal => portal,
            form => form,
            error => error,
            notice => notice(&done),
        },
    )
    .await
}

#[handler]
async fn contact_page(
    req: &Request,
    state: Data<&AppState>,
    Path(id): Path<String>,
    Query(query): Query<DoneQuery>,
) -> Response {
    let ctx = match require_member(req, &state).await {
        Ok(ctx) => ctx,
        Err(response) => return response,
    };
    contact_view(
        &state,
        &ctx,
        &id,
        ContactOutcome {
            done: query.done,
            ..Default::default()
        },
    )
    .await
}

#[handler]
async fn update_contact(
    req: &Request,
    state: Data<&AppState>,
    Path(id): Path<String>,
    Form(form): Form<ContactForm>,
) -> Response {
    let ctx = match require_member_form(req, &state, &form.csrf).await {
        Ok(ctx) => ctx,
        Err(response) => return response,
    };
    let Ok(contact_id) = id.parse::<ContactId>() else {
        return not_found(&state);
    };
    let patch = ContactPatch {
        name: Some(form.name.clone()),
        emails: Some(split_emails(&form.emails)),
    };
    let updated = async {
        let tx = ctx.db.write().await?;
        contacts::update(&tx, &ctx.member, contact_id, patch, ctx.ip.clone()).await?;
        tx.commit().await?;
        Ok::<_, ContactError>(())
    }
    .await;
    match updated {
        Ok(()) => {
            Redirect::see_other(format!("/firm/contacts/{contact_id}?done=saved")).into_response()
        }
        Err(ContactError::Invalid(message)) => {
            contact_view(
                &state,
                &ctx,
                &id,
                ContactOutcome {
                    status: Some(StatusCode::UNPROCESSABLE_ENTITY),
                    form: Some(form),
                    error: Some(message),
                    ..Default::default()
                },
            )
            .await
        }
        Err(ContactError::NotFound) => not_found(&state),
        Err(ContactError::Db(err)) => internal(&state, err),
    }
}

// ---------------------------------------------------------------------------------------------
// Files

/// What the file form holds, as typed.
#[derive(Serialize, Default, Clone)]
struct FileFormValues {
    number: String,
    name: String,
    file_type: String,
    status: String,
    responsible_lawyer_id: String,
    member_ids: BTreeSet<String>,
}

impl FileFormValues {
    fn from_file(file: &File) -> Self {
        Self {
            number: file.number.clone(),
            name: file.name.clone(),
            file_type: file.file_type.clone(),
            status: file.status.as_str().to_owned(),
            responsible_lawyer_id: file.responsible_lawyer_id.to_string(),
            member_ids: file.member_ids.iter().map(MemberId::to_string).collect(),
        }
    }

    /// Reads the posted fields; assigned members come as one checkbox each, `member_<id>=on`
    /// (URL-encoded forms cannot carry a repeated key into a list here).
    fn from_form(form: &HashMap<String, String>) -> Self {
        let field = |name: &str| {
            form.get(name)
                .map(|v| v.trim().to_owned())
                .unwrap_or_default()
        };
        Self {
            number: field("number"),
            name: field("name"),
            file_type: field("file_type"),
            status: field("status"),
            responsible_lawyer_id: field("responsible_lawyer_id"),
            member_ids: form
                .iter()
                .filter(|(_, value)| !value.is_empty())
                .filter_map(|(key, _)| key.strip_prefix("member_"))
                .map(str::to_owned)
                .collect(),
        }
    }

    fn status(&self) -> Result<FileStatus, FileError> {
        FileStatus::parse(&self.status)
            .ok_or_else(|| FileError::Invalid("choose whether the file is open or closed".into()))
    }

    fn lawyer(&self) -> Result<MemberId, FileError> {
        self.responsible_lawyer_id
            .parse()
            .map_err(|_| FileError::Invalid("choose the responsible lawyer".into()))
    }

    fn members(&self) -> Result<Vec<MemberId>, FileError> {
        self.member_ids
            .iter()
            .map(|id| {
                id.parse().map_err(|_| {
                    FileError::Invalid("an assigned member is not a member of the firm".into())
                })
            })
            .collect()
    }
}

fn file_error_status(err: &FileError) -> StatusCode {
    match err {
        FileError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
        FileError::NumberTaken(_) | FileError::Conflict(_) => StatusCode::CONFLICT,
        FileError::Forbidden(_) => StatusCode::FORBIDDEN,
        FileError::NotFound => StatusCode::NOT_FOUND,
        FileError::Db(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

#[derive(Serialize)]
struct MemberOption {
    id: String,
    name: String,
    active: bool,
}

fn member_options(list: &[Member]) -> Vec<MemberOption> {
    list.iter()
        .map(|m| MemberOption {
            id: m.id.to_string(),
            name: m.name.clone(),
            active: m.active,
        })
        .collect()
}

fn member_name(list: &[Member], id: MemberId) -> String {
    list.iter()
        .find(|m| m.id == id)
        .map(|m| m.name.clone())
        .unwrap_or_else(|| "—".to_owned())
}

#[derive(Serialize)]
struct FileRow {
    id: String,
    number: String,
    name: String,
    file_type: String,
    status: &'static str,
    lawyer: String,
    primary_client: Option<files::Person>,
    clients: usize,
    /// Shared with at least one client in the Portal.
    shared: bool,
}

struct FilesOutcome {
    status: StatusCode,
    form: Option<FileFormValues>,
    error: Option<String>,
}

async fn files_view(
    state: &AppState,
    ctx: &MemberCtx,
    query: &ListQuery,
    outcome: FilesOutcome,
) -> Response {
    let status_filter = FileStatus::parse(query.status.trim());
    let filter = FileFilter {
        status: status_filter,
        q: Some(query.q.trim().to_owned()),
        ..Default::default()
    };
    let loaded = async {
        let tx = ctx.db.read().await?;
        let list = files::list(&tx, &ctx.member, &filter).await?;
        let people = members::list(&tx).await?;
        let shared = portal_access::shared_files(&tx).await?;
        tx.commit().await?;
        Ok::<_, DbErr>((list, people, shared))
    }
    .await;
    let (list, firm_members, shared) = match loaded {
        Ok(loaded) => loaded,
        Err(err) => return internal(state, err),
    };
    let rows: Vec<FileRow> = list
        .into_iter()
        .map(|f| FileRow {
            id: f.id.to_string(),
            lawyer: member_name(&firm_members, f.responsible_lawyer_id),
            primary_client: f.primary_client().cloned(),
            clients: f.people.len(),
            shared: shared.contains(&f.id),
            number: f.number,
            name: f.name,
            file_type: f.file_type,
            status: f.status.as_str(),
        })
        .collect();
    let form = outcome.form.unwrap_or_else(|| FileFormValues {
        status: "open".to_owned(),
        responsible_lawyer_id: ctx.member.id.to_string(),
        ..Default::default()
    });
    let active: Vec<Member> = firm_members.into_iter().filter(|m| m.active).collect();
    render(
        state,
        ctx,
        "firm_files.html",
        outcome.status,
        "files",
        minijinja::context! {
            files => rows,
            members => member_options(&active),
            q => query.q.trim(),
            status_filter => status_filter.map(FileStatus::as_str).unwrap_or(""),
            form => form,
            error => outcome.error,
            notice => notice(&query.done),
        },
    )
    .await
}

#[handler]
async fn files_page(
    req: &Request,
    state: Data<&AppState>,
    Query(query): Query<ListQuery>,
) -> Response {
    let ctx = match require_member(req, &state).await {
        Ok(ctx) => ctx,
        Err(response) => return response,
    };
    files_view(
        &state,
        &ctx,
        &query,
        FilesOutcome {
            status: StatusCode::OK,
            form: None,
            error: None,
        },
    )
    .await
}

fn csrf_of(form: &HashMap<String, String>) -> &str {
    form.get("csrf").map(String::as_str).unwrap_or_default()
}

#[handler]
async fn create_file(
    req: &Request,
    state: Data<&AppState>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let ctx = match require_member_form(req, &state, csrf_of(&form)).await {
        Ok(ctx) => ctx,
        Err(response) => return response,
    };
    let values = FileFormValues::from_form(&form);
    let created = async {
        let new = NewFile {
            number: values.number.clone(),
            name: values.name.clone(),
            file_type: values.file_type.clone(),
            status: values.status()?,
            responsible_lawyer_id: values.lawyer()?,
            member_ids: values.members()?,
        };
        let tx = ctx.db.write().await?;
        let file = files::create(&tx, &ctx.member, new, ctx.ip.clone()).await?;
        tx.commit().await?;
        Ok::<_, FileError>(file)
    }
    .await;
    match created {
        Ok(file) => Redirect::see_other(format!("/firm/files/{}?done=file-created", file.id))
            .into_response(),
        Err(FileError::Db(err)) => internal(&state, err),
        Err(err) => {
            let outcome = FilesOutcome {
                status: file_error_status(&err),
                form: Some(values),
                error: Some(err.to_string()),
            };
            files_view(&state, &ctx, &ListQuery::default(), outcome).await
        }
    }
}

#[derive(Default)]
pub(super) struct FileOutcome {
    status: Option<StatusCode>,
    done: String,
    form: Option<FileFormValues>,
    error: Option<String>,
    /// A refused "Add a client", shown next to that form.
    person_error: Option<String>,
    person_form: Option<PersonForm>,
    /// A refused "Portal access to this file", shown in the Portal card.
    portal_error: Option<String>,
    /// A refused billing change, shown in the Billing section.
    billing: super::billing::SectionOutcome,
}

impl FileOutcome {
    /// The file page after a refused Portal change.
    pub(super) fn portal_refused(status: StatusCode, message: String) -> Self {
        Self {
            status: Some(status),
            portal_error: Some(message),
            ..Default::default()
        }
    }

    /// The file page after a refused billing change.
    pub(super) fn billing_refused(
        status: StatusCode,
        billing: super::billing::SectionOutcome,
    ) -> Self {
        Self {
            status: Some(status),
            billing,
            ..Default::default()
        }
    }
}

#[derive(Deserialize, Serialize, Default, Clone)]
pub struct PersonForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    contact_id: String,
    #[serde(default)]
    primary: String,
}

pub(super) async fn file_view(
    state: &AppState,
    ctx: &MemberCtx,
    id: &str,
    outcome: FileOutcome,
) -> Response {
    let Ok(id) = id.parse::<FileId>() else {
        return not_found(state);
    };
    let options = crate::firm_options::options_or_defaults(state, &ctx.tenant).await;
    let loaded = async {
        let tx = ctx.db.read().await?;
        let Some(file) = files::get(&tx, &ctx.member, id).await? else {
            return Ok(None);
        };
        let firm_members = members::list(&tx).await?;
        let address_book = contacts::list(&tx, &ContactFilter::default()).await?;
        let portal = file_portal(&tx, &ctx.member, id, &options).await?;
        tx.commit().await?;
        Ok::<_, PortalError>(Some((file, firm_members, address_book, portal)))
    }
    .await;
    let (file, firm_members, address_book, portal) = match loaded {
        Ok(Some(loaded)) => loaded,
        Ok(None) | Err(PortalError::NotFound) => return not_found(state),
        Err(err) => return internal(state, err),
    };
    let can_change_access = ctx.member.is_admin || ctx.member.id == file.responsible_lawyer_id;
    let form = outcome
        .form
        .unwrap_or_else(|| FileFormValues::from_file(&file));
    // Active members can be chosen; inactive ones are listed only while they hold the role.
    let lawyers: Vec<Member> = firm_members
        .iter()
        .filter(|m| m.active || m.id == file.responsible_lawyer_id)
        .cloned()
        .collect();
    let assignable: Vec<Member> = firm_members
        .iter()
        .filter(|m| m.active || file.member_ids.contains(&m.id))
        .cloned()
        .collect();
    let assigned: Vec<String> = file
        .member_ids
        .iter()
        .map(|id| member_name(&firm_members, *id))
        .collect();
    let on_file: BTreeSet<ContactId> = file.people.iter().map(|p| p.contact_id).collect();
    let candidates: Vec<Contact> = address_book
        .into_iter()
        .filter(|c| !on_file.contains(&c.id))
        .collect();
    let missing_primary = !file.people.is_empty() && file.primary_client().is_none();
    let items = super::items::firm_file_section(state, ctx, file.id).await;
    let documents = super::documents::firm_file_section(state, ctx, file.id).await;
    let custom_fields = super::custom_fields::firm_file_section(state, ctx, file.id).await;
    let billing =
        super::billing::firm_file_section(ctx, &file, &outcome.done, outcome.billing).await;
    render(
        state,
        ctx,
        "firm_file.html",
        outcome.status.unwrap_or(StatusCode::OK),
        "files",
        minijinja::context! {
            file => file,
            lawyer => member_name(&firm_members, file.responsible_lawyer_id),
            assigned => assigned,
            lawyers => member_options(&lawyers),
            assignable => member_options(&assignable),
            can_change_access => can_change_access,
            candidates => candidates,
            missing_primary => missing_primary,
            form => form,
            error => outcome.error,
            person_error => outcome.person_error,
            person_form => outcome.person_form.unwrap_or_default(),
            portal => portal,
            portal_error => outcome.portal_error,
            notice => notice(&outcome.done),
            items => items,
            documents => documents,
            custom_fields => custom_fields,
            billing => billing,
        },
    )
    .await
}

#[handler]
async fn file_page(
    req: &Request,
    state: Data<&AppState>,
    Path(id): Path<String>,
    Query(query): Query<DoneQuery>,
) -> Response {
    let ctx = match require_member(req, &state).await {
        Ok(ctx) => ctx,
        Err(response) => return response,
    };
    file_view(
        &state,
        &ctx,
        &id,
        FileOutcome {
            done: query.done,
            ..Default::default()
        },
    )
    .await
}

#[handler]
async fn update_file(
    req: &Request,
    state: Data<&AppState>,
    Path(id): Path<String>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let ctx = match require_member_form(req, &state, csrf_of(&form)).await {
        Ok(ctx) => ctx,
        Err(response) => return response,
    };
    let Ok(file_id) = id.parse::<FileId>() else {
        return not_found(&state);
    };
    let values = FileFormValues::from_form(&form);
    // The access fields are on the form only for those who may change them; `access_fields`
    // tells "every box unticked" apart from "not on the form".
    let with_access = form.contains_key("access_fields");
    let updated = async {
        let patch = FilePatch {
            number: Some(values.number.clone()),
            name: Some(values.name.clone()),
            file_type: Some(values.file_type.clone()),
            status: Some(values.status()?),
            responsible_lawyer_id: if with_access {
                Some(values.lawyer()?)
            } else {
                None
            },
            member_ids: if with_access {
                Some(values.members()?)
            } else {
                None
            },
        };
        let tx = ctx.db.write().await?;
        files::update(&tx, &ctx.member, file_id, patch, ctx.ip.clone()).await?;
        let still_visible = files::get(&tx, &ctx.member, file_id).await?.is_some();
        tx.commit().await?;
        Ok::<_, FileError>(still_visible)
    }
    .await;
    match updated {
        Ok(true) => {
            Redirect::see_other(format!("/firm/files/{file_id}?done=saved")).into_response()
        }
        Ok(false) => Redirect::see_other("/firm/files?done=left").into_response(),
        Err(FileError::NotFound) => not_found(&state),
        Err(FileError::Db(err)) => internal(&state, err),
        Err(err) => {
            let outcome = FileOutcome {
                status: Some(file_error_status(&err)),
                form: Some(values),
                error: Some(err.to_string()),
                ..Default::default()
            };
            file_view(&state, &ctx, &id, outcome).await
        }
    }
}

#[handler]
async fn add_person(
    req: &Request,
    state: Data<&AppState>,
    Path(id): Path<String>,
    Form(form): Form<PersonForm>,
) -> Response {
    let ctx = match require_member_form(req, &state, &form.csrf).await {
        Ok(ctx) => ctx,
        Err(response) => return response,
    };
    let Ok(file_id) = id.parse::<FileId>() else {
        return not_found(&state);
    };
    let added = async {
        let contact_id: ContactId = form
            .contact_id
            .trim()
            .parse()
            .map_err(|_| FileError::Invalid("choose a contact to add".into()))?;
        let new = NewPerson {
            contact_id,
            role: PersonRole::Client,
            primary: !form.primary.is_empty(),
        };
        let tx = ctx.db.write().await?;
        let added = files::add_person(&tx, &ctx.member, file_id, new, ctx.ip.clone()).await?;
        tx.commit().await?;
        Ok::<_, FileError>(added)
    }
    .await;
    let done = match &added {
        Ok(PersonAdded::Added(_)) => "person-added",
        Ok(PersonAdded::AlreadyThere(_)) if !form.primary.is_empty() => "primary",
        Ok(PersonAdded::AlreadyThere(_)) => "already",
        Err(FileError::NotFound) => return not_found(&state),
        Err(FileError::Db(err)) => return internal(&state, err),
        Err(err) => {
            let outcome = FileOutcome {
                status: Some(file_error_status(err)),
                person_error: Some(err.to_string()),
                person_form: Some(form.clone()),
                ..Default::default()
            };
            return file_view(&state, &ctx, &id, outcome).await;
        }
    };
    Redirect::see_other(format!("/firm/files/{file_id}?done={done}#people")).into_response()
}

#[derive(Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

#[handler]
async fn remove_person(
    req: &Request,
    state: Data<&AppState>,
    Path((id, contact_id)): Path<(String, String)>,
    Form(form): Form<CsrfForm>,
) -> Response {
    let ctx = match require_member_form(req, &state, &form.csrf).await {
        Ok(ctx) => ctx,
        Err(response) => return response,
    };
    let (Ok(file_id), Ok(contact_id)) = (id.parse::<FileId>(), contact_id.parse::<ContactId>())
    else {
        return not_found(&state);
    };
    let removed = async {
        let tx = ctx.db.write().await?;
        files::remove_person(&tx, &ctx.member, file_id, contact_id, ctx.ip.clone()).await?;
        tx.commit().await?;
        Ok::<_, FileError>(())
    }
    .await;
    match removed {
        Ok(()) => Redirect::see_other(format!("/firm/files/{file_id}?done=person-removed#people"))
            .into_response(),
        Err(FileError::NotFound) => not_found(&state),
        Err(FileError::Db(err)) => internal(&state, err),
        Err(err) => {
            let outcome = FileOutcome {
                status: Some(file_error_status(&err)),
                error: Some(err.to_string()),
                ..Default::default()
            };
            file_view(&state, &ctx, &id, outcome).await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_split_on_lines_commas_and_semicolons() {
        assert_eq!(
            split_emails("a@x.example\r\nb@x.example, c@x.example;d@x.example\n\n"),
            vec!["a@x.example", "b@x.example", "c@x.example", "d@x.example"]
        );
    }

    #[test]
    fn assigned_members_come_from_individual_checkboxes() {
        let form: HashMap<String, String> = [
            ("number".to_owned(), " 7 ".to_owned()),
            ("member_a".to_owned(), "on".to_owned()),
            ("member_b".to_owned(), String::new()),
            ("memberc".to_owned(), "on".to_owned()),
        ]
        .into_iter()
        .collect();
        let values = FileFormValues::from_form(&form);
        assert_eq!(values.number, "7");
        assert_eq!(
            values.member_ids.into_iter().collect::<Vec<_>>(),
            vec!["a".to_owned()]
        );
    }
}
