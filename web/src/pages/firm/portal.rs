//! Client Portal access from the firm workspace: the Manage Portal section of the contact page
//! (`/firm/contacts/{id}#portal`: invite, files shared, disable, resend, change login email)
//! and Portal Invite from a client on a file (`/firm/files/{id}`: share or unshare that file,
//! optionally telling the client by email). The rules are `portico_tenants::portal_access`'s;
//! these pages only collect the form and show its answer.
//!
//! Decisions:
//! - For a contact who already has an account (invited or active), "Save & Close" applies only
//!   the file boxes that changed, one `set_file_shared` each. Shares the form does not show
//!   (closed files, files the member cannot access) are never touched, and the login email is
//!   not re-checked against the contact's addresses (changing those leaves the login as it is).
//! - The file boxes list open files the member can access where the contact is a client; with
//!   exactly one such file and no account yet, it is preselected.
//! - "Notify the client by email" is offered only for clients whose account is active: an
//!   invited client learns about their files when they accept the invitation.

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, Utc};
use poem::http::StatusCode;
use poem::web::{Data, Form, Path, Redirect};
use poem::{IntoResponse, Request, Response, Route, handler, post};
use portico_platform::TenantTx;
use portico_platform::ids::{ContactId, FileId};
use portico_platform::mail::{self, OutgoingEmail};
use portico_tenants::contacts::Contact;
use portico_tenants::files::{self, ContactFile, FileStatus};
use portico_tenants::members::Member;
use portico_tenants::options::FirmOptions;
use portico_tenants::portal_access::{
    self, AllowRequest, FileClient, FirmContext, PortalError, PortalStatus, PortalView,
};
use serde::Serialize;

use super::directory::{ContactOutcome, FileOutcome, contact_view, file_view};
use super::{not_found, require_member_form};
use crate::auth::MemberCtx;
use crate::portal_accounts::firm_context;
use crate::state::AppState;

/// Adds this module's pages to the firm routes.
pub fn routes(route: Route) -> Route {
    route
        .at("/firm/contacts/:id/portal", post(save_access))
        .at("/firm/contacts/:id/portal/resend", post(resend))
        .at(
            "/firm/contacts/:id/portal/login-email",
            post(change_login_email),
        )
        .at(
            "/firm/files/:id/portal/clients/:contact_id",
            post(share_file),
        )
}

/// The `?done=` notices of this module (fixed texts; see `directory::notice`).
pub fn notice(done: &str) -> Option<&'static str> {
    Some(match done {
        "portal-invited" => {
            "Invitation sent. The link works once and expires as set in Options > Client Portal."
        }
        "portal-saved" => "Portal access saved.",
        "portal-unchanged" => "Nothing to change.",
        "portal-disabled" => {
            "Portal access disabled: the account is closed, its sessions ended and its files are no longer shared."
        }
        "portal-resent" => "A new invitation was sent. The previous link no longer works.",
        "portal-email" => {
            "A confirmation link was sent to the new address. The client keeps signing in with the current login until they confirm."
        }
        "file-shared" => "The client can now see this file in the Portal.",
        "file-shared-notified" => {
            "The client can now see this file in the Portal and was told by email."
        }
        "file-unshared" => "The client no longer sees this file in the Portal.",
        "file-unchanged" => "Nothing to change.",
        _ => return None,
    })
}

fn when(at: DateTime<Utc>) -> String {
    at.format("%-d %b %Y, %H:%M UTC").to_string()
}

/// "Not invited", "Invited (expires …)", "Active (last login …)" or "Disabled"; and whether a
/// pending invitation has expired.
pub fn status_label(view: &PortalView, now: DateTime<Utc>) -> (String, bool) {
    match view.status {
        PortalStatus::NotInvited => ("Not invited".to_owned(), false),
        PortalStatus::Invited => match view.invitation_expires_at {
            Some(at) if at <= now => (format!("Invited (expired {})", when(at)), true),
            Some(at) => (format!("Invited (expires {})", when(at)), false),
            None => ("Invited".to_owned(), false),
        },
        PortalStatus::Active => match view.last_login_at {
            Some(at) => (format!("Active (last login {})", when(at)), false),
            None => ("Active (no login yet)".to_owned(), false),
        },
        PortalStatus::Disabled => ("Disabled".to_owned(), false),
    }
}

/// The short name of a status, for badges.
pub fn status_name(status: PortalStatus) -> &'static str {
    match status {
        PortalStatus::NotInvited => "Not invited",
        PortalStatus::Invited => "Invited",
        PortalStatus::Active => "Active",
        PortalStatus::Disabled => "Disabled",
    }
}

fn has_account(status: PortalStatus) -> bool {
    matches!(status, PortalStatus::Invited | PortalStatus::Active)
}

/// The Manage Portal form as typed.
#[derive(Serialize, Default, Clone)]
pub struct PortalForm {
    allow: bool,
    login_email: String,
    file_ids: BTreeSet<String>,
    /// `None` when the form carried no invitation text.
    message: Option<String>,
}

impl PortalForm {
    fn from_form(form: &HashMap<String, String>) -> Self {
        Self {
            allow: form.get("allow").is_some_and(|v| !v.is_empty()),
            login_email: form
                .get("login_email")
                .map(|v| v.trim().to_owned())
                .unwrap_or_default(),
            file_ids: form
                .iter()
                .filter(|(_, v)| !v.is_empty())
                .filter_map(|(k, _)| k.strip_prefix("file_"))
                .map(str::to_owned)
                .collect(),
            // Browsers send textarea lines as CRLF.
            message: form.get("message").map(|m| m.replace("\r\n", "\n")),
        }
    }

    fn files(&self) -> Result<BTreeSet<FileId>, PortalError> {
        self.file_ids
            .iter()
            .map(|id| id.parse().map_err(|_| PortalError::NotFound))
            .collect()
    }
}

/// What a refused Portal form leaves for the re-rendered contact page.
#[derive(Default)]
pub struct PortalOutcome {
    pub error: Option<String>,
    pub form: Option<PortalForm>,
    pub email_error: Option<String>,
    pub email_choice: Option<String>,
}

#[derive(Serialize)]
struct FileLink {
    id: String,
    number: String,
    name: String,
    status: &'static str,
    primary: bool,
}

impl From<&ContactFile> for FileLink {
    fn from(f: &ContactFile) -> Self {
        Self {
            id: f.id.to_string(),
            number: f.number.clone(),
            name: f.name.clone(),
            status: f.status.as_str(),
            primary: f.primary,
        }
    }
}

/// What the Manage Portal section of the contact page shows.
#[derive(Serialize)]
pub struct ContactPortal {
    status: &'static str,
    status_name: &'static str,
    label: String,
    expired: bool,
    has_account: bool,
    login_email: Option<String>,
    pending_login_email: Option<String>,
    shared: Vec<FileLink>,
    other_shared_files: usize,
    /// Open files the member can access where the contact is a client.
    eligible: Vec<FileLink>,
    /// The member holds the Portal right.
    can_manage: bool,
    portal_enabled: bool,
    valid_days: i32,
    /// The contact's addresses other than the login (Change login email).
    other_emails: Vec<String>,
    form: PortalForm,
    error: Option<String>,
    email_error: Option<String>,
    email_choice: String,
}

/// Loads the Manage Portal section for `contact`.
pub async fn contact_portal(
    tx: &TenantTx,
    viewer: &Member,
    contact: &Contact,
    linked: &[ContactFile],
    options: &FirmOptions,
    outcome: PortalOutcome,
) -> Result<ContactPortal, PortalError> {
    let view = portal_access::status(tx, viewer, contact.id).await?;
    let mut shared = Vec::new();
    for id in &view.file_ids {
        match linked.iter().find(|f| f.id == *id) {
            Some(f) => shared.push(FileLink::from(f)),
            // Shared, but the contact is no longer a client on it.
            None => {
                if let Some(f) = files::get(tx, viewer, *id).await? {
                    shared.push(FileLink {
                        id: f.id.to_string(),
                        number: f.number,
                        name: f.name,
                        status: f.status.as_str(),
                        primary: false,
                    });
                }
            }
        }
    }
    let eligible: Vec<FileLink> = portal_access::eligible_files(tx, viewer, contact.id)
        .await?
        .iter()
        .filter(|f| f.status == FileStatus::Open)
        .map(FileLink::from)
        .collect();
    let account = has_account(view.status);
    let form = outcome.form.unwrap_or_else(|| PortalForm {
        allow: account,
        login_email: view
            .login_email
            .clone()
            .or_else(|| contact.emails.first().cloned())
            .unwrap_or_default(),
        file_ids: if account {
            view.file_ids.iter().map(ToString::to_string).collect()
        } else if eligible.len() == 1 {
            eligible.iter().map(|f| f.id.clone()).collect()
        } else {
            BTreeSet::new()
        },
        message: Some(options.invitation_template.clone()),
    });
    let login = view.login_email.clone().unwrap_or_default();
    let other_emails: Vec<String> = contact
        .emails
        .iter()
        .filter(|e| !e.eq_ignore_ascii_case(&login))
        .cloned()
        .collect();
    let (label, expired) = status_label(&view, Utc::now());
    Ok(ContactPortal {
        status: view.status.as_str(),
        status_name: status_name(view.status),
        label,
        expired,
        has_account: account,
        login_email: view.login_email,
        pending_login_email: view.pending_login_email,
        shared,
        other_shared_files: view.other_shared_files,
        eligible,
        can_manage: viewer.portal_rights,
        portal_enabled: options.portal_enabled,
        valid_days: options.invitation_valid_days,
        email_choice: outcome
            .email_choice
            .unwrap_or_else(|| other_emails.first().cloned().unwrap_or_default()),
        other_emails,
        form,
        error: outcome.error,
        email_error: outcome.email_error,
    })
}

/// One client of a file as the file page shows it.
#[derive(Serialize)]
pub struct FilePortalClient {
    contact_id: String,
    name: String,
    status: &'static str,
    status_name: &'static str,
    has_account: bool,
    has_file_access: bool,
    /// "Notify the client by email" is offered (active account, file not shared yet).
    can_notify: bool,
}

/// The Portal part of the file page.
#[derive(Serialize)]
pub struct FilePortal {
    /// Keyed by contact id, for the Portal column of the people list.
    by_contact: HashMap<String, FilePortalClient>,
    with_access: Vec<String>,
    without_file: Vec<String>,
    without_portal: Vec<(String, String)>,
    can_manage: bool,
    portal_enabled: bool,
    notify_default: bool,
}

pub async fn file_portal(
    tx: &TenantTx,
    viewer: &Member,
    file: FileId,
    options: &FirmOptions,
) -> Result<FilePortal, PortalError> {
    let clients: Vec<FileClient> = portal_access::file_clients(tx, viewer, file).await?;
    let mut out = FilePortal {
        by_contact: HashMap::new(),
        with_access: Vec::new(),
        without_file: Vec::new(),
        without_portal: Vec::new(),
        can_manage: viewer.portal_rights,
        portal_enabled: options.portal_enabled,
        notify_default: options.notify_client_on_share,
    };
    for c in clients {
        let account = has_account(c.status);
        if c.has_file_access {
            out.with_access.push(c.name.clone());
        } else if account {
            out.without_file.push(c.name.clone());
        } else {
            out.without_portal
                .push((c.contact_id.to_string(), c.name.clone()));
        }
        out.by_contact.insert(
            c.contact_id.to_string(),
            FilePortalClient {
                contact_id: c.contact_id.to_string(),
                status: c.status.as_str(),
                status_name: status_name(c.status),
                has_account: account,
                can_notify: c.status == PortalStatus::Active && !c.has_file_access,
                has_file_access: c.has_file_access,
                name: c.name,
            },
        );
    }
    Ok(out)
}

fn error_status(err: &PortalError) -> StatusCode {
    match err {
        PortalError::Forbidden(_) => StatusCode::FORBIDDEN,
        PortalError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
        PortalError::Conflict(_) => StatusCode::CONFLICT,
        PortalError::NotFound => StatusCode::NOT_FOUND,
        PortalError::Db(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

fn internal(state: &AppState, err: impl std::fmt::Display) -> Response {
    state.templates.server_error("portal page failed", err)
}

fn csrf_of(form: &HashMap<String, String>) -> &str {
    form.get("csrf").map(String::as_str).unwrap_or_default()
}

fn back_to_contact(contact: ContactId, done: &str) -> Response {
    Redirect::see_other(format!("/firm/contacts/{contact}?done={done}#portal")).into_response()
}

/// Re-renders the contact page for a refused Portal form (or answers 404/500).
async fn refused(
    state: &AppState,
    ctx: &MemberCtx,
    id: &str,
    err: PortalError,
    outcome: impl FnOnce(String) -> PortalOutcome,
) -> Response {
    match err {
        PortalError::NotFound => not_found(state),
        PortalError::Db(err) => internal(state, err),
        err => {
            let status = Some(error_status(&err));
            let outcome = ContactOutcome {
                status,
                portal: outcome(err.to_string()),
                ..Default::default()
            };
            contact_view(state, ctx, id, outcome).await
        }
    }
}

/// Applies the file boxes that changed for a contact who has an account; true if any did.
async fn update_shares(
    tx: &TenantTx,
    ctx: &MemberCtx,
    contact: ContactId,
    current: &PortalView,
    wanted: &BTreeSet<FileId>,
    firm: &FirmContext,
) -> Result<bool, PortalError> {
    let shown: Vec<FileId> = portal_access::eligible_files(tx, &ctx.member, contact)
        .await?
        .into_iter()
        .filter(|f| f.status == FileStatus::Open)
        .map(|f| f.id)
        .collect();
    let mut changed = false;
    // Boxes ticked for files not on the form: the domain says why they cannot be shared.
    for id in wanted.iter().filter(|id| !current.file_ids.contains(id)) {
        portal_access::set_file_shared(tx, &ctx.member, contact, *id, true, firm, ctx.ip.clone())
            .await?;
        changed = true;
    }
    for id in shown
        .iter()
        .filter(|id| current.file_ids.contains(id) && !wanted.contains(id))
    {
        portal_access::set_file_shared(tx, &ctx.member, contact, *id, false, firm, ctx.ip.clone())
            .await?;
        changed = true;
    }
    Ok(changed)
}

/// `POST /firm/contacts/{id}/portal`: the Manage Portal form ("Send Invitation" / "Save &
/// Close"). Ticked Allow invites (no account, or a disabled one) or saves the shared files;
/// cleared Allow disables access.
#[handler]
async fn save_access(
    req: &Request,
    state: Data<&AppState>,
    Path(id): Path<String>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let ctx = match require_member_form(req, &state, csrf_of(&form)).await {
        Ok(ctx) => ctx,
        Err(response) => return response,
    };
    let Ok(contact) = id.parse::<ContactId>() else {
        return not_found(&state);
    };
    let typed = PortalForm::from_form(&form);
    let firm = match firm_context(&state, &ctx.tenant).await {
        Ok(firm) => firm,
        Err(err) => return internal(&state, err),
    };
    let saved = async {
        let wanted = typed.files()?;
        let tx = ctx.db.write().await?;
        let current = portal_access::status(&tx, &ctx.member, contact).await?;
        let done = match (typed.allow, has_account(current.status)) {
            (true, false) => {
                let request = AllowRequest {
                    login_email: typed.login_email.clone(),
                    file_ids: wanted.into_iter().collect(),
                    message: typed.message.clone(),
                };
                portal_access::allow(&tx, &ctx.member, contact, request, &firm, ctx.ip.clone())
                    .await?;
                "portal-invited"
            }
            (true, true) => {
                if update_shares(&tx, &ctx, contact, &current, &wanted, &firm).await? {
                    "portal-saved"
                } else {
                    "portal-unchanged"
                }
            }
            (false, true) => {
                portal_access::disable(&tx, &ctx.member, contact, ctx.ip.clone()).await?;
                "portal-disabled"
            }
            (false, false) => {
                return Err(PortalError::Invalid(
                    "tick “Allow this contact to access the Portal” to send an invitation".into(),
                ));
            }
        };
        tx.commit().await?;
        Ok::<_, PortalError>(done)
    }
    .await;
    match saved {
        Ok(done) => back_to_contact(contact, done),
        Err(err) => {
            refused(&state, &ctx, &id, err, |message| PortalOutcome {
                error: Some(message),
                form: Some(typed),
                ..Default::default()
            })
            .await
        }
    }
}

/// `POST /firm/contacts/{id}/portal/resend`: a fresh invitation; the old link stops working.
#[handler]
async fn resend(
    req: &Request,
    state: Data<&AppState>,
    Path(id): Path<String>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let ctx = match require_member_form(req, &state, csrf_of(&form)).await {
        Ok(ctx) => ctx,
        Err(response) => return response,
    };
    let Ok(contact) = id.parse::<ContactId>() else {
        return not_found(&state);
    };
    let firm = match firm_context(&state, &ctx.tenant).await {
        Ok(firm) => firm,
        Err(err) => return internal(&state, err),
    };
    let sent = async {
        let tx = ctx.db.write().await?;
        portal_access::resend(&tx, &ctx.member, contact, &firm, ctx.ip.clone()).await?;
        tx.commit().await?;
        Ok::<_, PortalError>(())
    }
    .await;
    match sent {
        Ok(()) => back_to_contact(contact, "portal-resent"),
        Err(err) => {
            refused(&state, &ctx, &id, err, |message| PortalOutcome {
                error: Some(message),
                ..Default::default()
            })
            .await
        }
    }
}

/// `POST /firm/contacts/{id}/portal/login-email`: sends a confirmation to another of the
/// contact's addresses; the login changes once the client confirms.
#[handler]
async fn change_login_email(
    req: &Request,
    state: Data<&AppState>,
    Path(id): Path<String>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let ctx = match require_member_form(req, &state, csrf_of(&form)).await {
        Ok(ctx) => ctx,
        Err(response) => return response,
    };
    let Ok(contact) = id.parse::<ContactId>() else {
        return not_found(&state);
    };
    let new_email = form
        .get("login_email")
        .map(|e| e.trim().to_owned())
        .unwrap_or_default();
    let firm = match firm_context(&state, &ctx.tenant).await {
        Ok(firm) => firm,
        Err(err) => return internal(&state, err),
    };
    let valid_for = chrono::Duration::days(i64::from(firm.options.invitation_valid_days));
    let changed = async {
        let tx = ctx.db.write().await?;
        portal_access::change_login_email(
            &tx,
            &ctx.member,
            contact,
            &new_email,
            &firm,
            valid_for,
            ctx.ip.clone(),
        )
        .await?;
        tx.commit().await?;
        Ok::<_, PortalError>(())
    }
    .await;
    match changed {
        Ok(()) => back_to_contact(contact, "portal-email"),
        Err(err) => {
            refused(&state, &ctx, &id, err, |message| PortalOutcome {
                email_error: Some(message),
                email_choice: Some(new_email),
                ..Default::default()
            })
            .await
        }
    }
}

/// Queues "<firm> shared a file with you" to an active client (same transaction as the share).
async fn notify_shared(
    tx: &TenantTx,
    viewer: &Member,
    contact: ContactId,
    file: FileId,
    firm: &FirmContext,
) -> Result<(), PortalError> {
    let view = portal_access::status(tx, viewer, contact).await?;
    let (Some(login), PortalStatus::Active) = (view.login_email, view.status) else {
        return Ok(());
    };
    let found = files::get(tx, viewer, file)
        .await?
        .ok_or(PortalError::NotFound)?;
    let name = portico_tenants::contacts::get(tx, contact)
        .await?
        .map(|c| c.name)
        .unwrap_or_default();
    mail::enqueue(
        tx,
        OutgoingEmail {
            to: login.clone(),
            subject: format!("{} shared a file with you", firm.firm_name),
            body_text: format!(
                "Dear {name},\n\n{} has shared a file with you in its Client Portal:\n\n  {} {}\n\n\
                 Sign in to see it: {}\nYour login name is {login}.\n",
                firm.firm_name, found.number, found.name, firm.portal_url,
            ),
            kind: "client_file_shared",
        },
    )
    .await?;
    Ok(())
}

/// `POST /firm/files/{id}/portal/clients/{contact_id}`: "Portal access to this file" for one
/// client of the file (`shared` ticked or not), optionally notifying the client.
#[handler]
async fn share_file(
    req: &Request,
    state: Data<&AppState>,
    Path((id, contact_id)): Path<(String, String)>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let ctx = match require_member_form(req, &state, csrf_of(&form)).await {
        Ok(ctx) => ctx,
        Err(response) => return response,
    };
    let (Ok(file), Ok(contact)) = (id.parse::<FileId>(), contact_id.parse::<ContactId>()) else {
        return not_found(&state);
    };
    let shared = form.get("shared").is_some_and(|v| !v.is_empty());
    let notify = form.get("notify").is_some_and(|v| !v.is_empty());
    let firm = match firm_context(&state, &ctx.tenant).await {
        Ok(firm) => firm,
        Err(err) => return internal(&state, err),
    };
    let saved = async {
        let tx = ctx.db.write().await?;
        let clients = portal_access::file_clients(&tx, &ctx.member, file).await?;
        let unchanged = clients
            .iter()
            .any(|c| c.contact_id == contact && c.has_file_access == shared);
        if unchanged {
            return Ok("file-unchanged");
        }
        portal_access::set_file_shared(
            &tx,
            &ctx.member,
            contact,
            file,
            shared,
            &firm,
            ctx.ip.clone(),
        )
        .await?;
        let done = if !shared {
            "file-unshared"
        } else if notify {
            notify_shared(&tx, &ctx.member, contact, file, &firm).await?;
            "file-shared-notified"
        } else {
            "file-shared"
        };
        tx.commit().await?;
        Ok::<_, PortalError>(done)
    }
    .await;
    match saved {
        Ok(done) => {
            Redirect::see_other(format!("/firm/files/{file}?done={done}#people")).into_response()
        }
        Err(PortalError::NotFound) => not_found(&state),
        Err(PortalError::Db(err)) => internal(&state, err),
        Err(err) => {
            let outcome = FileOutcome::portal_refused(error_status(&err), err.to_string());
            file_view(&state, &ctx, &id, outcome).await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(status: PortalStatus) -> PortalView {
        PortalView {
            contact_id: ContactId::new(),
            status,
            login_email: None,
            pending_login_email: None,
            last_login_at: None,
            invitation_expires_at: None,
            file_ids: Vec::new(),
            other_shared_files: 0,
        }
    }

    #[test]
    fn labels_say_when_an_invitation_expires_and_when_the_client_last_signed_in() {
        let now = Utc::now();
        let mut invited = view(PortalStatus::Invited);
        invited.invitation_expires_at = Some(now + chrono::Duration::days(7));
        assert!(
            status_label(&invited, now)
                .0
                .starts_with("Invited (expires ")
        );
        invited.invitation_expires_at = Some(now - chrono::Duration::minutes(1));
        let (label, expired) = status_label(&invited, now);
        assert!(label.starts_with("Invited (expired ") && expired);
        let mut active = view(PortalStatus::Active);
        assert_eq!(status_label(&active, now).0, "Active (no login yet)");
        active.last_login_at = "2026-03-02T09:05:00Z".parse().ok();
        assert_eq!(
            status_label(&active, now).0,
            "Active (last login 2 Mar 2026, 09:05 UTC)"
        );
        assert_eq!(
            status_label(&view(PortalStatus::NotInvited), now).0,
            "Not invited"
        );
        assert_eq!(
            status_label(&view(PortalStatus::Disabled), now).0,
            "Disabled"
        );
    }

    #[test]
    fn file_boxes_are_read_from_their_names() {
        let form: HashMap<String, String> = [
            ("allow", "on"),
            ("login_email", " a@x.example "),
            ("file_0190a0a0-0000-7000-8000-000000000001", "on"),
            ("file_0190a0a0-0000-7000-8000-000000000002", ""),
            ("message", "Hello\r\n{setup_link}"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let typed = PortalForm::from_form(&form);
        assert!(typed.allow);
        assert_eq!(typed.login_email, "a@x.example");
        assert_eq!(typed.files().unwrap().len(), 1);
        assert_eq!(typed.message.as_deref(), Some("Hello\n{setup_link}"));
        let mut bad = form.clone();
        bad.insert("file_nope".into(), "on".into());
        assert!(matches!(
            PortalForm::from_form(&bad).files(),
            Err(PortalError::NotFound)
        ));
    }
}
