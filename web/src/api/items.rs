//! Notes, appointments and tasks on files (firm and client sides), their Portal flags, the
//! activity feed and member preferences.

use chrono::{DateTime, Utc};
use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};
use portico_platform::ids::FileId;
use portico_tenants::activity::{self, ActivityKind, Alerts};
use portico_tenants::items::{
    self, Appointment, Author, ItemError, ItemKind, NewAppointment, NewTask, Note, SharingRules,
    Task,
};

use super::kept_json::KeptJson;
use super::{Answer, ApiTags, BadRequest, JsonBody, Session, Unprocessable};
use crate::activity_feed;
use crate::auth::FirmMember;
use crate::client_auth::PortalClient;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

impl From<ItemError> for ApiError {
    fn from(err: ItemError) -> Self {
        match err {
            ItemError::Invalid(m) => ApiError::unprocessable(m),
            ItemError::Forbidden(m) => ApiError::forbidden(m),
            ItemError::NotFound => ApiError::not_found(),
            ItemError::Db(e) => ApiError::internal(e),
        }
    }
}

#[derive(Object, Clone)]
pub struct AuthorView {
    /// `member` or `client`.
    pub kind: String,
    pub id: uuid::Uuid,
    pub name: String,
}

impl From<Author> for AuthorView {
    fn from(a: Author) -> Self {
        Self {
            kind: a.kind,
            id: a.id,
            name: a.name,
        }
    }
}

#[derive(Object, Clone)]
pub struct NoteView {
    pub id: uuid::Uuid,
    pub file_id: uuid::Uuid,
    pub body: String,
    pub shared: bool,
    pub created_by: AuthorView,
    pub created_at: DateTime<Utc>,
}

impl From<Note> for NoteView {
    fn from(n: Note) -> Self {
        Self {
            id: n.id,
            file_id: n.file_id,
            body: n.body,
            shared: n.shared,
            created_by: n.created_by.into(),
            created_at: n.created_at,
        }
    }
}

#[derive(Object)]
pub struct AppointmentView {
    pub id: uuid::Uuid,
    pub file_id: uuid::Uuid,
    pub title: String,
    pub starts_at: DateTime<Utc>,
    #[oai(nullable)]
    pub ends_at: Option<DateTime<Utc>>,
    pub location: String,
    pub private: bool,
    pub attendee_ids: Vec<uuid::Uuid>,
    pub shared: bool,
    pub created_by: AuthorView,
    pub created_at: DateTime<Utc>,
}

impl From<Appointment> for AppointmentView {
    fn from(a: Appointment) -> Self {
        Self {
            id: a.id,
            file_id: a.file_id,
            title: a.title,
            starts_at: a.starts_at,
            ends_at: a.ends_at,
            location: a.location,
            private: a.private,
            attendee_ids: a.attendee_ids,
            shared: a.shared,
            created_by: a.created_by.into(),
            created_at: a.created_at,
        }
    }
}

#[derive(Object)]
pub struct TaskView {
    pub id: uuid::Uuid,
    pub file_id: uuid::Uuid,
    pub title: String,
    /// `YYYY-MM-DD`.
    #[oai(nullable)]
    pub due_date: Option<String>,
    pub done: bool,
    pub shared: bool,
    pub created_by: AuthorView,
    pub created_at: DateTime<Utc>,
}

impl From<Task> for TaskView {
    fn from(t: Task) -> Self {
        Self {
            id: t.id,
            file_id: t.file_id,
            title: t.title,
            due_date: t.due_date,
            done: t.done,
            shared: t.shared,
            created_by: t.created_by.into(),
            created_at: t.created_at,
        }
    }
}

#[derive(Object)]
pub struct NewNoteBody {
    pub body: String,
    /// Show in Portal at once (items created from the file's Portal view are).
    #[oai(default)]
    pub shared: bool,
}

#[derive(Object)]
pub struct NewAppointmentBody {
    pub title: String,
    pub starts_at: DateTime<Utc>,
    #[oai(nullable)]
    pub ends_at: Option<DateTime<Utc>>,
    #[oai(default)]
    pub location: String,
    /// Private appointments are seen only by their creator and attendees, never in the Portal.
    #[oai(default)]
    pub private: bool,
    #[oai(default)]
    pub attendee_ids: Vec<uuid::Uuid>,
    #[oai(default)]
    pub shared: bool,
}

#[derive(Object)]
pub struct NewTaskBody {
    pub title: String,
    /// `YYYY-MM-DD`.
    #[oai(nullable)]
    pub due_date: Option<String>,
    #[oai(default)]
    pub shared: bool,
}

#[derive(Object)]
pub struct TaskPatch {
    pub done: bool,
}

#[derive(Object)]
pub struct SharedBody {
    pub shared: bool,
}

#[derive(Object)]
pub struct SharedView {
    pub shared: bool,
}

#[derive(ApiResponse)]
pub enum CreatedNote {
    #[oai(status = 201)]
    Created(Json<NoteView>),
}

#[derive(ApiResponse)]
pub enum CreatedAppointment {
    #[oai(status = 201)]
    Created(Json<AppointmentView>),
}

#[derive(ApiResponse)]
pub enum CreatedTask {
    #[oai(status = 201)]
    Created(Json<TaskView>),
}

#[derive(Object)]
pub struct ActivityView {
    pub id: uuid::Uuid,
    pub occurred_at: DateTime<Utc>,
    /// `client_activity`, `client_login` or `member_activity`.
    pub kind: String,
    #[oai(nullable)]
    pub file_id: Option<uuid::Uuid>,
    #[oai(nullable)]
    pub file_number: Option<String>,
    pub actor_kind: String,
    pub actor: String,
    pub action: String,
    pub summary: String,
}

impl From<activity::Entry> for ActivityView {
    fn from(e: activity::Entry) -> Self {
        Self {
            id: e.id,
            occurred_at: e.occurred_at,
            kind: e.kind,
            file_id: e.file_id,
            file_number: e.file_number,
            actor_kind: e.actor_kind,
            actor: e.actor,
            action: e.action,
            summary: e.summary,
        }
    }
}

#[derive(Object)]
pub struct UnreadView {
    /// Client additions on your files since you last opened the activity view.
    pub unread: u64,
}

#[derive(Object)]
pub struct PreferencesView {
    /// `responsible` (files where you are the responsible lawyer), `assigned` (all your files)
    /// or `none`.
    pub alerts: String,
    pub nightly_digest: bool,
}

pub fn file_id(raw: &str) -> ApiResult<FileId> {
    raw.parse().map_err(|_| ApiError::not_found())
}

fn item_id(raw: &str) -> ApiResult<uuid::Uuid> {
    raw.parse().map_err(|_| ApiError::not_found())
}

/// The firm's sharing rules; an error rather than the defaults when its options cannot be read
/// (the defaults could share a kind the firm keeps out of the Portal).
pub async fn sharing_rules(
    state: &AppState,
    tenant: &portico_tenants::TenantRecord,
) -> Result<SharingRules, sea_orm::DbErr> {
    Ok(SharingRules {
        shareable_kinds: crate::firm_options::options(state, tenant)
            .await?
            .shareable_kinds
            .clone(),
    })
}

pub struct FirmItemsApi;

#[OpenApi(prefix_path = "/firm", tag = "ApiTags::Items")]
impl FirmItemsApi {
    /// Notes of a file
    #[oai(path = "/files/:id/notes", method = "get")]
    async fn notes(
        &self,
        auth: FirmMember,
        id: Path<String>,
    ) -> Answer<Json<Vec<NoteView>>, Session> {
        let ctx = auth.0;
        let tx = ctx.db.read().await?;
        let list = items::notes(&tx, &ctx.member, file_id(&id.0)?).await?;
        tx.commit().await?;
        Ok(Json(list.into_iter().map(NoteView::from).collect()))
    }

    /// Add a note
    #[oai(path = "/files/:id/notes", method = "post")]
    async fn add_note(
        &self,
        state: Data<&AppState>,
        auth: FirmMember,
        id: Path<String>,
        body: Json<NewNoteBody>,
    ) -> Answer<CreatedNote, (Session, JsonBody, Unprocessable)> {
        let ctx = auth.0;
        let rules = sharing_rules(&state, &ctx.tenant).await?;
        let tx = ctx.db.write().await?;
        let file = file_id(&id.0)?;
        let note = items::add_note(
            &tx,
            &ctx.member,
            file,
            &body.0.body,
            body.0.shared,
            &rules,
            ctx.ip.clone(),
        )
        .await?;
        if note.shared {
            crate::notify::shared_with_clients(
                &state,
                &tx,
                &ctx.tenant,
                file,
                "a note was shared with you",
            )
            .await?;
        }
        tx.commit().await?;
        Ok(CreatedNote::Created(Json(note.into())))
    }

    /// Appointments of a file
    ///
    /// Private appointments appear only to their creator and attendees.
    #[oai(path = "/files/:id/appointments", method = "get")]
    async fn appointments(
        &self,
        auth: FirmMember,
        id: Path<String>,
    ) -> Answer<Json<Vec<AppointmentView>>, Session> {
        let ctx = auth.0;
        let tx = ctx.db.read().await?;
        let list = items::appointments(&tx, &ctx.member, file_id(&id.0)?).await?;
        tx.commit().await?;
        Ok(Json(list.into_iter().map(AppointmentView::from).collect()))
    }

    /// Add an appointment
    #[oai(path = "/files/:id/appointments", method = "post")]
    async fn add_appointment(
        &self,
        state: Data<&AppState>,
        auth: FirmMember,
        id: Path<String>,
        body: Json<NewAppointmentBody>,
    ) -> Answer<CreatedAppointment, (Session, JsonBody, Unprocessable)> {
        let ctx = auth.0;
        let rules = sharing_rules(&state, &ctx.tenant).await?;
        let b = body.0;
        let new = NewAppointment {
            title: b.title,
            starts_at: b.starts_at,
            ends_at: b.ends_at,
            location: b.location,
            private: b.private,
            attendee_ids: b.attendee_ids,
            shared: b.shared,
        };
        let tx = ctx.db.write().await?;
        let file = file_id(&id.0)?;
        let appointment =
            items::add_appointment(&tx, &ctx.member, file, new, &rules, ctx.ip.clone()).await?;
        if appointment.shared {
            crate::notify::shared_with_clients(
                &state,
                &tx,
                &ctx.tenant,
                file,
                "an appointment was shared with you",
            )
            .await?;
        }
        tx.commit().await?;
        Ok(CreatedAppointment::Created(Json(appointment.into())))
    }

    /// Tasks of a file
    #[oai(path = "/files/:id/tasks", method = "get")]
    async fn tasks(
        &self,
        auth: FirmMember,
        id: Path<String>,
    ) -> Answer<Json<Vec<TaskView>>, Session> {
        let ctx = auth.0;
        let tx = ctx.db.read().await?;
        let list = items::tasks(&tx, &ctx.member, file_id(&id.0)?).await?;
        tx.commit().await?;
        Ok(Json(list.into_iter().map(TaskView::from).collect()))
    }

    /// Add a task
    #[oai(path = "/files/:id/tasks", method = "post")]
    async fn add_task(
        &self,
        state: Data<&AppState>,
        auth: FirmMember,
        id: Path<String>,
        body: Json<NewTaskBody>,
    ) -> Answer<CreatedTask, (Session, JsonBody, Unprocessable)> {
        let ctx = auth.0;
        let rules = sharing_rules(&state, &ctx.tenant).await?;
        let tx = ctx.db.write().await?;
        let file = file_id(&id.0)?;
        let task = items::add_task(
            &tx,
            &ctx.member,
            file,
            NewTask {
                title: body.0.title,
                due_date: body.0.due_date,
                shared: body.0.shared,
            },
            &rules,
            ctx.ip.clone(),
        )
        .await?;
        if task.shared {
            crate::notify::shared_with_clients(
                &state,
                &tx,
                &ctx.tenant,
                file,
                "a task was shared with you",
            )
            .await?;
        }
        tx.commit().await?;
        Ok(CreatedTask::Created(Json(task.into())))
    }

    /// Mark a task done (or not)
    #[oai(path = "/tasks/:id", method = "patch")]
    async fn patch_task(
        &self,
        auth: FirmMember,
        id: Path<String>,
        body: Json<TaskPatch>,
    ) -> Answer<Json<TaskView>, (Session, JsonBody)> {
        let ctx = auth.0;
        let tx = ctx.db.write().await?;
        let task = items::set_task_done(&tx, &ctx.member, item_id(&id.0)?, body.0.done).await?;
        tx.commit().await?;
        Ok(Json(task.into()))
    }

    /// Show a note in the Portal, or remove it
    #[oai(path = "/notes/:id/portal", method = "put")]
    async fn share_note(
        &self,
        state: Data<&AppState>,
        auth: FirmMember,
        id: Path<String>,
        body: Json<SharedBody>,
    ) -> Answer<Json<SharedView>, (Session, JsonBody)> {
        Ok(share(&state, auth, ItemKind::Note, &id.0, body.0.shared).await?)
    }

    /// Show an appointment in the Portal, or remove it
    #[oai(path = "/appointments/:id/portal", method = "put")]
    async fn share_appointment(
        &self,
        state: Data<&AppState>,
        auth: FirmMember,
        id: Path<String>,
        body: Json<SharedBody>,
    ) -> Answer<Json<SharedView>, (Session, JsonBody, Unprocessable)> {
        Ok(share(&state, auth, ItemKind::Appointment, &id.0, body.0.shared).await?)
    }

    /// Show a task in the Portal, or remove it
    #[oai(path = "/tasks/:id/portal", method = "put")]
    async fn share_task(
        &self,
        state: Data<&AppState>,
        auth: FirmMember,
        id: Path<String>,
        body: Json<SharedBody>,
    ) -> Answer<Json<SharedView>, (Session, JsonBody)> {
        Ok(share(&state, auth, ItemKind::Task, &id.0, body.0.shared).await?)
    }

    /// The activity feed of your files
    #[oai(path = "/activity", method = "get")]
    async fn activity(
        &self,
        state: Data<&AppState>,
        auth: FirmMember,
        /// `client_activity`, `client_logins` or `member_activity`.
        kind: Query<Option<String>>,
        /// Only the last N days.
        days: Query<Option<i64>>,
    ) -> Answer<Json<Vec<ActivityView>>, (Session, BadRequest, Unprocessable)> {
        let ctx = auth.0;
        let kind = match kind.0.as_deref().filter(|k| !k.is_empty()) {
            None => None,
            Some(k) => Some(ActivityKind::parse(k).ok_or_else(|| {
                ApiError::unprocessable(
                    "kind must be client_activity, client_logins or member_activity",
                )
            })?),
        };
        if let Some(d) = days.0
            && !(1..=365).contains(&d)
        {
            return Err(ApiError::unprocessable("days must be between 1 and 365").into());
        }
        let feed = activity_feed::feed(&state, &ctx, kind, days.0).await?;
        Ok(Json(
            feed.entries()
                .iter()
                .cloned()
                .map(ActivityView::from)
                .collect(),
        ))
    }

    /// The unread badge
    #[oai(path = "/activity/unread", method = "get")]
    async fn unread(
        &self,
        state: Data<&AppState>,
        auth: FirmMember,
    ) -> Answer<Json<UnreadView>, Session> {
        let ctx = auth.0;
        let unread = activity_feed::unread(&state, &ctx).await?.count;
        Ok(Json(UnreadView { unread }))
    }

    /// Mark the activity as seen (resets the badge)
    #[oai(path = "/activity/seen", method = "post")]
    async fn seen(&self, auth: FirmMember) -> Answer<Json<UnreadView>, Session> {
        let ctx = auth.0;
        let tx = ctx.db.write().await?;
        activity::mark_seen(&tx, ctx.member.id).await?;
        tx.commit().await?;
        Ok(Json(UnreadView { unread: 0 }))
    }

    /// Your notification preferences
    #[oai(path = "/me/preferences", method = "get")]
    async fn preferences(&self, auth: FirmMember) -> Answer<Json<PreferencesView>, Session> {
        let ctx = auth.0;
        let tx = ctx.db.read().await?;
        let prefs = activity::preferences(&tx, ctx.member.id).await?;
        tx.commit().await?;
        Ok(Json(PreferencesView {
            alerts: prefs.alerts.as_str().to_owned(),
            nightly_digest: prefs.nightly_digest,
        }))
    }

    /// Change your notification preferences
    #[oai(path = "/me/preferences", method = "put")]
    async fn set_preferences(
        &self,
        auth: FirmMember,
        body: Json<PreferencesView>,
    ) -> Answer<Json<PreferencesView>, (Session, JsonBody, Unprocessable)> {
        let ctx = auth.0;
        let alerts = Alerts::parse(&body.0.alerts).ok_or_else(|| {
            ApiError::unprocessable("alerts must be responsible, assigned or none")
        })?;
        let tx = ctx.db.write().await?;
        let prefs =
            activity::set_preferences(&tx, ctx.member.id, alerts, body.0.nightly_digest).await?;
        tx.commit().await?;
        Ok(Json(PreferencesView {
            alerts: prefs.alerts.as_str().to_owned(),
            nightly_digest: prefs.nightly_digest,
        }))
    }
}

async fn share(
    state: &AppState,
    auth: FirmMember,
    kind: ItemKind,
    id: &str,
    shared: bool,
) -> ApiResult<Json<SharedView>> {
    let ctx = auth.0;
    let rules = sharing_rules(state, &ctx.tenant).await?;
    let tx = ctx.db.write().await?;
    let file = items::set_shared(
        &tx,
        &ctx.member,
        kind,
        item_id(id)?,
        shared,
        &rules,
        ctx.ip.clone(),
    )
    .await?;
    if shared {
        crate::notify::shared_with_clients(
            state,
            &tx,
            &ctx.tenant,
            file,
            &format!("a {} was shared with you", kind.as_str()),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(Json(SharedView { shared }))
}

pub struct PortalItemsApi;

#[OpenApi(prefix_path = "/portal", tag = "ApiTags::Items")]
impl PortalItemsApi {
    /// Shared notes of one of my files
    #[oai(path = "/files/:id/notes", method = "get")]
    async fn notes(
        &self,
        state: Data<&AppState>,
        client: PortalClient,
        id: Path<String>,
    ) -> Answer<KeptJson<Vec<NoteView>>, Session> {
        let ctx = client.0;
        let file = file_id(&id.0)?;
        let rules = sharing_rules(&state, &ctx.tenant).await?;
        let load = async {
            let tx = ctx.db.read().await?;
            let list = items::client_notes(&tx, &ctx.client, file, &rules).await?;
            tx.commit().await?;
            Ok::<_, ApiError>(list.into_iter().map(NoteView::from).collect::<Vec<_>>())
        };
        Ok(KeptJson::remembered(
            &state.client_reads,
            &ctx,
            "file notes",
            file.to_string(),
            load,
        )
        .await?)
    }

    /// Add a note to one of my files
    ///
    /// Shared with the firm at once and attributed to me.
    #[oai(path = "/files/:id/notes", method = "post")]
    async fn add_note(
        &self,
        state: Data<&AppState>,
        client: PortalClient,
        id: Path<String>,
        body: Json<NewNoteBody>,
    ) -> Answer<CreatedNote, (Session, JsonBody, Unprocessable)> {
        let ctx = client.0;
        let rules = sharing_rules(&state, &ctx.tenant).await?;
        let file = file_id(&id.0)?;
        let tx = ctx.db.write().await?;
        let note = items::client_add_note(&tx, &ctx.client, file, &body.0.body, &rules).await?;
        crate::notify::client_added(&state, &tx, &ctx.tenant, file, &ctx.client, "a note").await?;
        tx.commit().await?;
        Ok(CreatedNote::Created(Json(note.into())))
    }

    /// Shared appointments of one of my files
    #[oai(path = "/files/:id/appointments", method = "get")]
    async fn appointments(
        &self,
        state: Data<&AppState>,
        client: PortalClient,
        id: Path<String>,
    ) -> Answer<Json<Vec<AppointmentView>>, Session> {
        let ctx = client.0;
        let rules = sharing_rules(&state, &ctx.tenant).await?;
        let tx = ctx.db.read().await?;
        let list = items::client_appointments(&tx, &ctx.client, file_id(&id.0)?, &rules).await?;
        tx.commit().await?;
        Ok(Json(list.into_iter().map(AppointmentView::from).collect()))
    }

    /// Shared tasks of one of my files
    #[oai(path = "/files/:id/tasks", method = "get")]
    async fn tasks(
        &self,
        state: Data<&AppState>,
        client: PortalClient,
        id: Path<String>,
    ) -> Answer<Json<Vec<TaskView>>, Session> {
        let ctx = client.0;
        let rules = sharing_rules(&state, &ctx.tenant).await?;
        let tx = ctx.db.read().await?;
        let list = items::client_tasks(&tx, &ctx.client, file_id(&id.0)?, &rules).await?;
        tx.commit().await?;
        Ok(Json(list.into_iter().map(TaskView::from).collect()))
    }
}
