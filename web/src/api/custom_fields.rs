//! `/api/v1/firm` and `/api/v1/portal` routes of custom fields: definitions, values per file,
//! per-file Portal sharing with its bulk actions, and the client's view and edits. The rules
//! live in `portico_tenants::custom_fields`.

use chrono::{DateTime, Utc};
use poem::web::Data;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::types::MaybeUndefined;
use poem_openapi::{ApiResponse, Object, OpenApi};
use portico_platform::ids::{CustomFieldId, FileId};
use portico_tenants::custom_fields::{
    self, BulkAction, BulkOutcome, ClientField, CustomFieldError, FieldDefinition, FieldPatch,
    FileField, NewField, SHAREABLE_KIND, ShareState,
};

use super::{Answer, ApiTags, Conflict, JsonBody, Session, Unprocessable};
use crate::auth::FirmMember;
use crate::client_auth::PortalClient;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

impl From<CustomFieldError> for ApiError {
    fn from(err: CustomFieldError) -> Self {
        match err {
            CustomFieldError::Invalid(msg) => ApiError::unprocessable(msg),
            CustomFieldError::NameTaken(_) => ApiError::conflict(err.to_string()),
            CustomFieldError::Conflict(msg) => ApiError::conflict(msg),
            CustomFieldError::Forbidden(msg) => ApiError::forbidden(msg),
            CustomFieldError::NotFound => ApiError::not_found(),
            CustomFieldError::Db(err) => ApiError::internal(err),
        }
    }
}

/// Ids in paths that are not UUIDs name nothing: 404, like a missing id.
fn path_id<T: std::str::FromStr>(raw: &str) -> ApiResult<T> {
    raw.parse().map_err(|_| ApiError::not_found())
}

/// What clients are told (in the firm's batched notices) when fields become visible to them.
pub const SHARED_SUMMARY: &str = "information on your file was shared with you";

/// How member alerts name a client's edit: "<client> added a new value for “Court” on …".
pub fn client_added_what(field_name: &str) -> String {
    format!("a new value for “{field_name}”")
}

/// Whether the firm lets custom fields be shared (`shareable_kinds`); an error rather than the
/// defaults when the options cannot be read.
pub(crate) async fn kind_shareable(
    state: &AppState,
    tenant: &portico_tenants::TenantRecord,
) -> Result<bool, sea_orm::DbErr> {
    Ok(crate::firm_options::options(state, tenant)
        .await?
        .allows(SHAREABLE_KIND))
}

#[derive(Object)]
pub struct CustomFieldView {
    pub id: uuid::Uuid,
    pub name: String,
    /// `text`, `number`, `date`, `yes_no` or `choice`.
    pub kind: String,
    /// The choices of a `choice` field (empty otherwise).
    pub choices: Vec<String>,
    /// The file type the field is limited to; `null` applies it to every file.
    #[oai(nullable)]
    pub file_type: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl From<FieldDefinition> for CustomFieldView {
    fn from(f: FieldDefinition) -> Self {
        Self {
            id: f.id.as_uuid(),
            name: f.name,
            kind: f.kind.as_str().to_owned(),
            choices: f.choices,
            file_type: f.file_type,
            created_at: f.created_at,
        }
    }
}

#[derive(Object)]
pub struct NewCustomFieldBody {
    /// Required, at most 100 characters, unique in the firm (ignoring case).
    #[oai(default)]
    pub name: String,
    /// `text`, `number`, `date`, `yes_no` or `choice`.
    #[oai(default)]
    pub kind: String,
    /// Required (non-empty, unique) for `choice`; not allowed for other kinds.
    #[oai(nullable)]
    pub choices: Option<Vec<String>>,
    /// Limits the field to files of this type (compared ignoring case).
    #[oai(nullable)]
    pub file_type: Option<String>,
}

#[derive(Object)]
pub struct CustomFieldPatchBody {
    #[oai(nullable)]
    pub name: Option<String>,
    /// Only the field's current kind is accepted: a kind never changes.
    #[oai(nullable)]
    pub kind: Option<String>,
    /// The new list of choices; a choice still held by a file cannot be removed.
    #[oai(nullable)]
    pub choices: Option<Vec<String>>,
    /// `null` or `""` makes the field apply to every file.
    pub file_type: MaybeUndefined<String>,
}

#[derive(ApiResponse)]
pub enum CustomFieldCreated {
    #[oai(status = 201)]
    Created(Json<CustomFieldView>),
}

#[derive(ApiResponse)]
pub enum CustomFieldDeleted {
    /// The field and every file's value of it are gone.
    #[oai(status = 204)]
    Deleted,
}

#[derive(Object)]
pub struct UpdatedByView {
    /// `member` or `client`.
    pub kind: String,
    /// The member's id, or the client's contact id.
    pub id: uuid::Uuid,
    pub name: String,
}

#[derive(Object)]
pub struct FileCustomFieldView {
    pub field_id: uuid::Uuid,
    pub name: String,
    pub kind: String,
    pub choices: Vec<String>,
    #[oai(nullable)]
    pub file_type: Option<String>,
    /// The stored value as text (`null` when empty): numbers as exact decimals (`"12.50"`),
    /// dates as `YYYY-MM-DD`, yes/no as `"true"`/`"false"`.
    #[oai(nullable)]
    pub value: Option<String>,
    /// `hidden`, `read_only` or `editable`.
    pub sharing: String,
    #[oai(nullable)]
    pub sharing_changed_at: Option<DateTime<Utc>>,
    /// When the value was last set.
    #[oai(nullable)]
    pub updated_at: Option<DateTime<Utc>>,
    /// Who last set the value (a member, or the client through the Portal).
    #[oai(nullable)]
    pub updated_by: Option<UpdatedByView>,
}

impl From<FileField> for FileCustomFieldView {
    fn from(f: FileField) -> Self {
        Self {
            field_id: f.field.id.as_uuid(),
            name: f.field.name,
            kind: f.field.kind.as_str().to_owned(),
            choices: f.field.choices,
            file_type: f.field.file_type,
            value: f.value,
            sharing: f.sharing.as_str().to_owned(),
            sharing_changed_at: f.sharing_changed_at,
            updated_at: f.updated_at,
            updated_by: f.updated_by.map(|u| UpdatedByView {
                kind: match u.kind {
                    custom_fields::UpdatedByKind::Member => "member",
                    custom_fields::UpdatedByKind::Client => "client",
                }
                .to_owned(),
                id: u.id,
                name: u.name,
            }),
        }
    }
}

#[derive(Object)]
pub struct ValueBody {
    /// The new value: a string (numbers as exact decimals such as `"12.50"`, dates as
    /// `YYYY-MM-DD`), `true`/`false` for yes/no, or `null` (or `""`) to clear the field.
    pub value: MaybeUndefined<serde_json::Value>,
}

#[derive(Object)]
pub struct SharingBody {
    /// `hidden`, `read_only` or `editable`.
    #[oai(default)]
    pub sharing: String,
}

#[derive(Object)]
pub struct BulkSharingBody {
    /// `make_all_editable` or `hide_all`.
    #[oai(default)]
    pub action: String,
    /// Apply to every file of the same type that you can access (not only this file).
    #[oai(default)]
    pub apply_to_file_type: bool,
}

#[derive(Object)]
pub struct BulkSharingView {
    /// Every file the action was applied to.
    pub file_ids: Vec<uuid::Uuid>,
    /// The files where at least one field changed.
    pub changed_file_ids: Vec<uuid::Uuid>,
    /// How many (file, field) sharings changed.
    pub changed: u64,
    /// This file's fields after the action.
    pub fields: Vec<FileCustomFieldView>,
}

#[derive(Object)]
pub struct PortalCustomFieldView {
    pub field_id: uuid::Uuid,
    pub name: String,
    /// `text`, `number`, `date`, `yes_no` or `choice`.
    pub kind: String,
    pub choices: Vec<String>,
    #[oai(nullable)]
    pub value: Option<String>,
    /// Whether you may change the value.
    pub editable: bool,
}

impl From<ClientField> for PortalCustomFieldView {
    fn from(f: ClientField) -> Self {
        Self {
            field_id: f.field_id.as_uuid(),
            name: f.name,
            kind: f.kind.as_str().to_owned(),
            choices: f.choices,
            value: f.value,
            editable: f.editable,
        }
    }
}

/// The body's `value` as the text the domain validates. Non-integral JSON numbers are refused:
/// they may already have lost precision on the way, which is why decimals travel as strings.
fn value_text(value: MaybeUndefined<serde_json::Value>) -> ApiResult<Option<String>> {
    use serde_json::Value;
    match value {
        MaybeUndefined::Undefined => Err(ApiError::unprocessable(
            "value is required (null clears the field)",
        )),
        MaybeUndefined::Null | MaybeUndefined::Value(Value::Null) => Ok(None),
        MaybeUndefined::Value(Value::String(s)) => Ok(Some(s)),
        MaybeUndefined::Value(Value::Bool(b)) => Ok(Some(b.to_string())),
        MaybeUndefined::Value(Value::Number(n)) if n.is_i64() || n.is_u64() => {
            Ok(Some(n.to_string()))
        }
        MaybeUndefined::Value(Value::Number(_)) => Err(ApiError::unprocessable(
            "value: send decimal numbers as a string, such as \"12.50\", so that no digit is lost",
        )),
        MaybeUndefined::Value(_) => Err(ApiError::unprocessable(
            "value must be a string, true/false or null",
        )),
    }
}

pub struct FirmCustomFieldsApi;

#[OpenApi(prefix_path = "/firm", tag = "ApiTags::CustomFields")]
impl FirmCustomFieldsApi {
    /// The firm's custom fields
    #[oai(path = "/custom-fields", method = "get")]
    async fn list(&self, auth: FirmMember) -> Answer<Json<Vec<CustomFieldView>>, Session> {
        let ctx = auth.0;
        let tx = ctx.db.read().await?;
        let fields = custom_fields::list_definitions(&tx).await?;
        tx.commit().await?;
        Ok(Json(
            fields.into_iter().map(CustomFieldView::from).collect(),
        ))
    }

    /// Define a custom field (administrators)
    #[oai(path = "/custom-fields", method = "post")]
    async fn create(
        &self,
        auth: FirmMember,
        body: Json<NewCustomFieldBody>,
    ) -> Answer<CustomFieldCreated, (Session, JsonBody, Conflict, Unprocessable)> {
        let ctx = auth.0;
        let body = body.0;
        let tx = ctx.db.write().await?;
        let field = custom_fields::create_definition(
            &tx,
            &ctx.member,
            NewField {
                name: body.name,
                kind: body.kind,
                choices: body.choices,
                file_type: body.file_type,
            },
            ctx.ip.clone(),
        )
        .await?;
        tx.commit().await?;
        Ok(CustomFieldCreated::Created(Json(field.into())))
    }

    /// One custom field
    #[oai(path = "/custom-fields/:id", method = "get")]
    async fn get(
        &self,
        auth: FirmMember,
        id: Path<String>,
    ) -> Answer<Json<CustomFieldView>, Session> {
        let ctx = auth.0;
        let id: CustomFieldId = path_id(&id.0)?;
        let tx = ctx.db.read().await?;
        let field = custom_fields::get_definition(&tx, id).await?;
        tx.commit().await?;
        Ok(Json(field.ok_or_else(ApiError::not_found)?.into()))
    }

    /// Change a custom field (administrators)
    ///
    /// Name, choices and file type can change; the kind cannot.
    #[oai(path = "/custom-fields/:id", method = "patch")]
    async fn update(
        &self,
        auth: FirmMember,
        id: Path<String>,
        body: Json<CustomFieldPatchBody>,
    ) -> Answer<Json<CustomFieldView>, (Session, JsonBody, Conflict, Unprocessable)> {
        let ctx = auth.0;
        let id: CustomFieldId = path_id(&id.0)?;
        let body = body.0;
        let patch = FieldPatch {
            name: body.name,
            kind: body.kind,
            choices: body.choices,
            file_type: match body.file_type {
                MaybeUndefined::Undefined => None,
                MaybeUndefined::Null => Some(None),
                MaybeUndefined::Value(t) => Some(Some(t)),
            },
        };
        let tx = ctx.db.write().await?;
        let field =
            custom_fields::update_definition(&tx, &ctx.member, id, patch, ctx.ip.clone()).await?;
        tx.commit().await?;
        Ok(Json(field.into()))
    }

    /// Delete a custom field (administrators)
    ///
    /// Every file's value and Portal sharing of the field are deleted with it.
    #[oai(path = "/custom-fields/:id", method = "delete")]
    async fn delete(
        &self,
        auth: FirmMember,
        id: Path<String>,
    ) -> Answer<CustomFieldDeleted, Session> {
        let ctx = auth.0;
        let id: CustomFieldId = path_id(&id.0)?;
        let tx = ctx.db.write().await?;
        custom_fields::delete_definition(&tx, &ctx.member, id, ctx.ip.clone()).await?;
        tx.commit().await?;
        Ok(CustomFieldDeleted::Deleted)
    }

    /// The custom fields of a file
    ///
    /// Every field that applies to the file (no file type, or the file's type), with its value,
    /// its Portal sharing and who last set it.
    #[oai(path = "/files/:id/custom-fields", method = "get")]
    async fn file_fields(
        &self,
        auth: FirmMember,
        id: Path<String>,
    ) -> Answer<Json<Vec<FileCustomFieldView>>, Session> {
        let ctx = auth.0;
        let file: FileId = path_id(&id.0)?;
        let tx = ctx.db.read().await?;
        let fields = custom_fields::file_fields(&tx, &ctx.member, file).await?;
        tx.commit().await?;
        Ok(Json(
            fields.into_iter().map(FileCustomFieldView::from).collect(),
        ))
    }

    /// Set a custom field's value on a file
    #[oai(path = "/files/:id/custom-fields/:field_id", method = "put")]
    async fn set_value(
        &self,
        auth: FirmMember,
        id: Path<String>,
        field_id: Path<String>,
        body: Json<ValueBody>,
    ) -> Answer<Json<FileCustomFieldView>, (Session, JsonBody, Conflict, Unprocessable)> {
        let ctx = auth.0;
        let file: FileId = path_id(&id.0)?;
        let field: CustomFieldId = path_id(&field_id.0)?;
        let value = value_text(body.0.value)?;
        let tx = ctx.db.write().await?;
        let updated = custom_fields::set_value(
            &tx,
            &ctx.member,
            file,
            field,
            value.as_deref(),
            ctx.ip.clone(),
        )
        .await?;
        tx.commit().await?;
        Ok(Json(updated.into()))
    }

    /// Hide or share a custom field of a file in the Portal
    ///
    /// Needs the Portal right; sharing (not hiding) also needs the firm to allow custom fields
    /// in `shareable_kinds`.
    #[oai(path = "/files/:id/custom-fields/:field_id/portal", method = "put")]
    async fn set_sharing(
        &self,
        state: Data<&AppState>,
        auth: FirmMember,
        id: Path<String>,
        field_id: Path<String>,
        body: Json<SharingBody>,
    ) -> Answer<Json<FileCustomFieldView>, (Session, JsonBody, Conflict, Unprocessable)> {
        let ctx = auth.0;
        let file: FileId = path_id(&id.0)?;
        let field: CustomFieldId = path_id(&field_id.0)?;
        let sharing = ShareState::parse(body.0.sharing.trim()).ok_or_else(|| {
            ApiError::unprocessable("sharing must be one of hidden, read_only, editable")
        })?;
        let shareable = kind_shareable(&state, &ctx.tenant).await?;
        let tx = ctx.db.write().await?;
        let change = custom_fields::set_sharing(
            &tx,
            &ctx.member,
            file,
            field,
            sharing,
            shareable,
            ctx.ip.clone(),
        )
        .await?;
        if change.newly_shared() {
            crate::notify::shared_with_clients(&state, &tx, &ctx.tenant, file, SHARED_SUMMARY)
                .await?;
        }
        tx.commit().await?;
        Ok(Json(change.field.into()))
    }

    /// Make all fields editable, or hide all fields, of a file
    ///
    /// With `apply_to_file_type: true` the same is done on every file of the same type that you
    /// can access; other files are not touched.
    #[oai(path = "/files/:id/custom-fields/portal", method = "post")]
    async fn bulk_sharing(
        &self,
        state: Data<&AppState>,
        auth: FirmMember,
        id: Path<String>,
        body: Json<BulkSharingBody>,
    ) -> Answer<Json<BulkSharingView>, (Session, JsonBody, Conflict, Unprocessable)> {
        let ctx = auth.0;
        let file: FileId = path_id(&id.0)?;
        let body = body.0;
        let action = BulkAction::parse(body.action.trim()).ok_or_else(|| {
            ApiError::unprocessable("action must be make_all_editable or hide_all")
        })?;
        let shareable = kind_shareable(&state, &ctx.tenant).await?;
        let tx = ctx.db.write().await?;
        let BulkOutcome {
            file_ids,
            changed_file_ids,
            changed,
            newly_shared_file_ids,
        } = custom_fields::bulk_sharing(
            &tx,
            &ctx.member,
            file,
            action,
            body.apply_to_file_type,
            shareable,
            ctx.ip.clone(),
        )
        .await?;
        for shared in newly_shared_file_ids {
            crate::notify::shared_with_clients(&state, &tx, &ctx.tenant, shared, SHARED_SUMMARY)
                .await?;
        }
        let fields = custom_fields::file_fields(&tx, &ctx.member, file).await?;
        tx.commit().await?;
        Ok(Json(BulkSharingView {
            file_ids: file_ids.into_iter().map(|f| f.as_uuid()).collect(),
            changed_file_ids: changed_file_ids.into_iter().map(|f| f.as_uuid()).collect(),
            changed,
            fields: fields.into_iter().map(FileCustomFieldView::from).collect(),
        }))
    }
}

pub struct PortalCustomFieldsApi;

#[OpenApi(prefix_path = "/portal", tag = "ApiTags::CustomFields")]
impl PortalCustomFieldsApi {
    /// The custom fields shared with you on a file
    #[oai(path = "/files/:id/custom-fields", method = "get")]
    async fn fields(
        &self,
        state: Data<&AppState>,
        auth: PortalClient,
        id: Path<String>,
    ) -> Answer<Json<Vec<PortalCustomFieldView>>, Session> {
        let ctx = auth.0;
        let file: FileId = path_id(&id.0)?;
        let shareable = kind_shareable(&state, &ctx.tenant).await?;
        let tx = ctx.db.read().await?;
        let fields = custom_fields::client_fields(&tx, &ctx.client, file, shareable).await?;
        tx.commit().await?;
        let fields = fields.ok_or_else(ApiError::not_found)?;
        Ok(Json(
            fields
                .into_iter()
                .map(PortalCustomFieldView::from)
                .collect(),
        ))
    }

    /// Change an editable custom field of your file
    ///
    /// Read-only fields answer 403; the firm sees the new value at once, attributed to you.
    #[oai(path = "/files/:id/custom-fields/:field_id", method = "put")]
    async fn set_value(
        &self,
        state: Data<&AppState>,
        auth: PortalClient,
        id: Path<String>,
        field_id: Path<String>,
        body: Json<ValueBody>,
    ) -> Answer<Json<PortalCustomFieldView>, (Session, JsonBody, Conflict, Unprocessable)> {
        let ctx = auth.0;
        let file: FileId = path_id(&id.0)?;
        let field: CustomFieldId = path_id(&field_id.0)?;
        let shareable = kind_shareable(&state, &ctx.tenant).await?;
        let value = value_text(body.0.value)?;
        let tx = ctx.db.write().await?;
        let (updated, changed) = custom_fields::client_set_value(
            &tx,
            &ctx.client,
            file,
            field,
            value.as_deref(),
            shareable,
            ctx.ip.clone(),
        )
        .await?;
        if changed {
            crate::notify::client_added(
                &state,
                &tx,
                &ctx.tenant,
                file,
                &ctx.client,
                &client_added_what(&updated.name),
            )
            .await?;
        }
        tx.commit().await?;
        Ok(Json(updated.into()))
    }
}
