//! Documents on files: `/api/v1/firm/…` (members) and `/api/v1/portal/…` (clients) — streamed,
//! encrypted uploads, verified downloads, lists, and Show in Portal / Remove from Portal. The
//! upload and download machinery here is shared with the HTML pages.
//!
//! Uploads are `multipart/form-data` and read as they arrive: the file's bytes are counted
//! against the firm's `upload_limit_mb` (the declared `Content-Length` is checked first but
//! never trusted; a chunked body is counted the same way), encrypted and written to a temp file
//! chunk by chunk, so memory stays at a few hundred KiB per upload whatever the size. A refused
//! upload stops being stored at once; up to [`DRAIN_BYTES`] of the rest of the body is then read
//! and thrown away so the client, usually still sending, receives the answer rather than a reset
//! connection.

use std::pin::Pin;
use std::time::Duration;

use poem::http::{HeaderValue, StatusCode, header};
use poem::web::{Data, Multipart};
use poem::{Body, FromRequest, IntoResponse, Request, RequestBody, Response};
use poem_openapi::param::Path;
use poem_openapi::payload::{Json, ParsePayload, Payload};
use poem_openapi::registry::{
    MetaMediaType, MetaRequest, MetaResponse, MetaResponses, MetaSchema, MetaSchemaRef, Registry,
};
use poem_openapi::{
    ApiExtractor, ApiExtractorType, ApiResponse, ExtractParamOptions, Object, OpenApi,
};
use portico_platform::TenantDb;
use portico_platform::crypto::{DocumentKey, MasterKey};
use portico_platform::ids::{DocumentId, FileId};
use portico_tenants::TenantRecord;
use portico_tenants::documents::{
    self, BlobWriter, Document, DocumentError, Download, NewDocument, StoredBlob, Uploader,
};
use tokio::io::{AsyncRead, AsyncReadExt};

use super::{Answer, ApiTags, JsonBody, Session, Upload};
use crate::auth::FirmMember;
use crate::client_auth::PortalClient;
use crate::error::ApiError;
use crate::state::AppState;

/// Room for the multipart framing and the small fields around the file.
const FORM_OVERHEAD: u64 = 64 * 1024;
/// At most this much of a refused upload is read and thrown away (see the module comment).
const DRAIN_BYTES: u64 = 8 * 1024 * 1024;
const DRAIN_TIME: Duration = Duration::from_secs(10);
/// Form fields other than the file (title, shared, csrf) are small, and few.
const MAX_TEXT_FIELD: u64 = 4 * 1024;
const MAX_FIELDS: usize = 16;
const READ_BUFFER: usize = 64 * 1024;

type BoxedReader = Pin<Box<dyn AsyncRead + Send>>;

impl From<DocumentError> for ApiError {
    fn from(err: DocumentError) -> Self {
        match err {
            DocumentError::NotFound => ApiError::not_found(),
            DocumentError::Forbidden(reason) => ApiError::forbidden(reason),
            DocumentError::Invalid(message) => ApiError::unprocessable(message),
            err @ DocumentError::TooLarge { .. } => {
                ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, err.to_string())
            }
            DocumentError::Unsupported(message) => {
                ApiError::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, message)
            }
            DocumentError::Integrity(cause) => {
                tracing::error!(error = %cause, "document integrity check failed");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Something went wrong on our side.",
                )
            }
            DocumentError::Io(err) => ApiError::internal(err),
            DocumentError::Db(err) => ApiError::internal(err),
        }
    }
}

/// The master key from configuration; a server without one refuses document work (and `serve`
/// refuses to start).
pub(crate) fn master_key(state: &AppState) -> Result<MasterKey, ApiError> {
    MasterKey::from_settings(&state.settings.storage).map_err(ApiError::internal)
}

fn parse_file_id(id: &str) -> Result<FileId, ApiError> {
    id.parse().map_err(|_| ApiError::not_found())
}

fn parse_document_id(id: &str) -> Result<DocumentId, ApiError> {
    id.parse().map_err(|_| ApiError::not_found())
}

// ---- views ------------------------------------------------------------------------------------

/// Who added a document.
#[derive(Debug, Object)]
pub struct DocumentCreatorView {
    /// `member` or `client`.
    pub kind: String,
    /// The member's id, or the client's contact id.
    pub id: uuid::Uuid,
    /// Their current name.
    pub name: String,
}

/// A document on a file, as members see it.
#[derive(Debug, Object)]
pub struct DocumentView {
    pub id: uuid::Uuid,
    pub file_id: uuid::Uuid,
    pub title: String,
    /// The sanitized name it downloads under.
    pub filename: String,
    /// Recognised from the content at upload.
    pub content_type: String,
    pub size_bytes: i64,
    /// Shown in the Portal (to the file's clients, once the file is shared with them).
    pub shared: bool,
    pub created_by: DocumentCreatorView,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

impl From<Document> for DocumentView {
    fn from(d: Document) -> Self {
        Self {
            id: d.id.as_uuid(),
            file_id: d.file_id.as_uuid(),
            title: d.title,
            filename: d.filename,
            content_type: d.content_type,
            size_bytes: d.size_bytes,
            shared: d.shared,
            created_by: DocumentCreatorView {
                kind: d.created_by.kind,
                id: d.created_by.id,
                name: d.created_by.name,
            },
            created_at: d.created_at,
        }
    }
}

/// A document shared with the signed-in client.
#[derive(Debug, Object)]
pub struct PortalDocumentView {
    pub id: uuid::Uuid,
    pub file_id: uuid::Uuid,
    pub title: String,
    pub filename: String,
    pub content_type: String,
    pub size_bytes: i64,
    /// Who added it (a name only).
    pub added_by: String,
    /// True for the client's own uploads.
    pub added_by_me: bool,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

impl PortalDocumentView {
    fn new(d: Document, me: uuid::Uuid) -> Self {
        Self {
            id: d.id.as_uuid(),
            file_id: d.file_id.as_uuid(),
            title: d.title,
            filename: d.filename,
            content_type: d.content_type,
            size_bytes: d.size_bytes,
            added_by_me: d.created_by.kind == "client" && d.created_by.id == me,
            added_by: d.created_by.name,
            created_at: d.created_at,
        }
    }
}

/// Show in Portal (`true`) or Remove from Portal (`false`).
#[derive(Debug, Object)]
pub struct DocumentPortalBody {
    pub shared: bool,
}

#[derive(ApiResponse)]
pub enum DocumentCreated {
    /// Stored (encrypted) and listed on the file.
    #[oai(status = 201)]
    Created(Json<DocumentView>),
}

#[derive(ApiResponse)]
pub enum PortalDocumentCreated {
    /// Stored (encrypted), shared with the firm at once.
    #[oai(status = 201)]
    Created(Json<PortalDocumentView>),
}

// ---- the upload body --------------------------------------------------------------------------

/// A `multipart/form-data` upload: the document in the field `file` (its part's filename is
/// the display name), optionally `title` and (members) `shared`. The handler reads it as it
/// arrives, after the caller is known to be allowed; this type documents it and checks the
/// content type.
pub struct DocumentUploadBody(Multipart);

impl Payload for DocumentUploadBody {
    const CONTENT_TYPE: &'static str = "multipart/form-data";

    fn check_content_type(content_type: &str) -> bool {
        let essence = content_type.split(';').next().unwrap_or_default().trim();
        essence.eq_ignore_ascii_case(Self::CONTENT_TYPE)
    }

    fn schema_ref() -> MetaSchemaRef {
        let field = |format: Option<&'static str>, kind: &'static str, description| {
            MetaSchemaRef::Inline(Box::new(MetaSchema {
                description: Some(description),
                ..match format {
                    Some(format) => MetaSchema::new_with_format(kind, format),
                    None => MetaSchema::new(kind),
                }
            }))
        };
        MetaSchemaRef::Inline(Box::new(MetaSchema {
            required: vec!["file"],
            properties: vec![
                (
                    "file",
                    field(
                        Some("binary"),
                        "string",
                        "PDF, PNG, JPEG, GIF, WebP, Word/Excel/PowerPoint (also legacy), Outlook \
                         .msg or UTF-8 text, recognised from the content; at most the firm's \
                         upload limit",
                    ),
                ),
                (
                    "title",
                    field(
                        None,
                        "string",
                        "Defaults to the file's name (at most 200 characters)",
                    ),
                ),
                (
                    "shared",
                    field(
                        None,
                        "boolean",
                        "Members: show it in the Portal at once (needs the Portal right). \
                         Client uploads are always shared.",
                    ),
                ),
            ],
            ..MetaSchema::new("object")
        }))
    }
}

impl ParsePayload for DocumentUploadBody {
    const IS_REQUIRED: bool = true;

    async fn from_request(request: &Request, body: &mut RequestBody) -> poem::Result<Self> {
        Ok(Self(
            <Multipart as FromRequest>::from_request(request, body).await?,
        ))
    }
}

impl<'a> ApiExtractor<'a> for DocumentUploadBody {
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::RequestObject];

    type ParamType = ();
    type ParamRawType = ();

    fn register(registry: &mut Registry) {
        <Self as Payload>::register(registry);
    }

    fn request_meta() -> Option<MetaRequest> {
        Some(MetaRequest {
            description: None,
            content: vec![MetaMediaType {
                content_type: <Self as Payload>::CONTENT_TYPE,
                schema: <Self as Payload>::schema_ref(),
            }],
            required: true,
        })
    }

    async fn from_request(
        request: &'a Request,
        body: &mut RequestBody,
        _param_opts: ExtractParamOptions<Self::ParamType>,
    ) -> poem::Result<Self> {
        match request.content_type() {
            Some(content_type) if Self::check_content_type(content_type) => {
                <Self as ParsePayload>::from_request(request, body).await
            }
            _ => Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "send the document as multipart/form-data with the file in the field `file`",
            )
            .into()),
        }
    }
}

// ---- receiving an upload ----------------------------------------------------------------------

/// Why an upload produced no document.
pub(crate) enum UploadFailure {
    /// The HTML form's CSRF field was missing or wrong (or it came from another site).
    Csrf,
    Refused(ApiError),
}

impl From<ApiError> for UploadFailure {
    fn from(err: ApiError) -> Self {
        UploadFailure::Refused(err)
    }
}

impl From<DocumentError> for UploadFailure {
    fn from(err: DocumentError) -> Self {
        UploadFailure::Refused(err.into())
    }
}

/// Checks an HTML form's `csrf` field (absent: `None`).
pub(crate) type FormCsrfCheck<'a> = dyn Fn(Option<&str>) -> bool + Sync + 'a;

/// Where an upload goes and who sends it.
pub(crate) struct UploadTarget<'a> {
    pub tenant: &'a TenantRecord,
    pub db: &'a TenantDb,
    pub uploader: Uploader<'a>,
    pub file: FileId,
    pub ip: Option<String>,
    /// HTML forms: checks the form's `csrf` field, which must come before `file`.
    pub form_csrf: Option<&'a FormCsrfCheck<'a>>,
}

/// Reads a multipart upload into an encrypted blob and writes its row (see the module comment).
pub(crate) async fn receive_upload(
    state: &AppState,
    req: &Request,
    target: UploadTarget<'_>,
    mut multipart: Multipart,
) -> Result<Document, UploadFailure> {
    let mut pending: Option<NewDocument> = None;
    let result = receive(state, req, &target, &mut multipart, &mut pending).await;
    if result.is_err()
        && let Some(new) = pending.take()
    {
        new.blob.discard().await;
    }
    result
}

async fn receive(
    state: &AppState,
    req: &Request,
    target: &UploadTarget<'_>,
    multipart: &mut Multipart,
    pending: &mut Option<NewDocument>,
) -> Result<Document, UploadFailure> {
    // The firm's upload limit decides what is accepted: never the default in its place.
    let options = match crate::firm_options::options(state, target.tenant).await {
        Ok(options) => options,
        Err(err) => return refuse(multipart, None, ApiError::internal(err).into()).await,
    };
    let master = match master_key(state) {
        Ok(master) => master,
        Err(err) => return refuse(multipart, None, err.into()).await,
    };
    let limit = u64::try_from(options.upload_limit_mb.max(0)).unwrap_or(0) * 1024 * 1024;
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit + FORM_OVERHEAD) {
        let err = DocumentError::TooLarge {
            limit_mb: options.upload_limit_mb,
        };
        return refuse(multipart, None, err.into()).await;
    }
    let kek = async {
        let tx = target.db.write().await?;
        let kek =
            documents::begin_upload(&tx, target.uploader, target.file, &options, &master).await?;
        tx.commit().await?;
        Ok::<_, DocumentError>(kek)
    }
    .await;
    let kek = match kek {
        Ok(kek) => kek,
        Err(err) => return refuse(multipart, None, err.into()).await,
    };

    let mut title = String::new();
    let mut shared = false;
    let mut csrf: Option<String> = None;
    let mut fields = 0;
    loop {
        let field = match multipart.next_field().await {
            Ok(Some(field)) => field,
            Ok(None) => break,
            Err(err) => return Err(unreadable(err).into()),
        };
        fields += 1;
        if fields > MAX_FIELDS {
            let err = ApiError::unprocessable("the form has too many fields");
            return refuse(multipart, None, err.into()).await;
        }
        let name = field.name().unwrap_or_default().to_owned();
        if name != "file" {
            let value = read_text(field, &name).await?;
            match name.as_str() {
                "title" => title = value,
                "shared" => shared = parse_bool(&value)?,
                "csrf" => csrf = Some(value),
                _ => {}
            }
            continue;
        }
        let filename = documents::sanitize_filename(field.file_name().unwrap_or_default());
        let reader: BoxedReader = Box::pin(field.into_async_read());
        if pending.is_some() {
            let err = ApiError::unprocessable("send one document per upload");
            return refuse(multipart, Some(reader), err.into()).await;
        }
        if let Some(check) = target.form_csrf
            && !check(csrf.as_deref())
        {
            return refuse(multipart, Some(reader), UploadFailure::Csrf).await;
        }
        if let Err(err) = documents::check_share_request(target.uploader, shared, &options) {
            return refuse(multipart, Some(reader), err.into()).await;
        }
        let id = DocumentId::new();
        let key = DocumentKey::generate();
        let wrapped_key = kek
            .wrap_document_key(target.tenant.id, id, &key)
            .map_err(|err| DocumentError::Integrity(err.to_string()))?;
        let writer = BlobWriter::create(
            &state.blobs,
            target.tenant.id,
            id,
            &key,
            &filename,
            options.upload_limit_mb,
        )
        .await?;
        let blob = match stream_into(writer, reader).await {
            Ok(blob) => blob,
            Err((err, Some(rest))) => return refuse(multipart, Some(rest), err.into()).await,
            Err((err, None)) => return Err(err.into()),
        };
        *pending = Some(NewDocument {
            id,
            file: target.file,
            title: String::new(),
            filename,
            shared: false,
            blob,
            wrapped_key,
        });
    }
    if let Some(check) = target.form_csrf
        && !check(csrf.as_deref())
    {
        return Err(UploadFailure::Csrf);
    }
    let Some(mut new) = pending.take() else {
        return Err(ApiError::unprocessable("choose a file to upload (form field `file`)").into());
    };
    new.title = title;
    new.shared = shared;
    let blob = new.blob.clone();
    let recorded = async {
        let tx = target.db.write().await?;
        let document =
            documents::record_upload(&tx, target.uploader, &options, new, target.ip.clone())
                .await?;
        tx.commit().await?;
        Ok::<_, DocumentError>(document)
    }
    .await;
    if recorded.is_err() {
        // No row refers to the blob, so it goes (the sweeper would find it otherwise).
        blob.discard().await;
    }
    Ok(recorded?)
}

/// Copies the file field into the writer. On a refusal the reader is handed back so the rest
/// of the body can be drained; on a read error (the client went away) there is nothing to drain.
async fn stream_into(
    mut writer: BlobWriter,
    mut reader: BoxedReader,
) -> Result<StoredBlob, (DocumentError, Option<BoxedReader>)> {
    let mut buffer = vec![0u8; READ_BUFFER];
    loop {
        let n = match reader.read(&mut buffer).await {
            Ok(0) => break,
            Ok(n) => n,
            Err(err) => {
                tracing::info!(error = %err, "upload interrupted");
                return Err((
                    DocumentError::Invalid("the upload was interrupted; try again".into()),
                    None,
                ));
            }
        };
        if let Err(err) = writer.write(&buffer[..n]).await {
            return Err((err, Some(reader)));
        }
    }
    writer.finish().await.map_err(|err| (err, Some(reader)))
}

/// Answers with `failure` after draining (a bounded part of) the rest of the body.
async fn refuse<T>(
    multipart: &mut Multipart,
    current: Option<BoxedReader>,
    failure: UploadFailure,
) -> Result<T, UploadFailure> {
    drain(multipart, current).await;
    Err(failure)
}

async fn drain(multipart: &mut Multipart, current: Option<BoxedReader>) {
    let work = async {
        let mut budget = DRAIN_BYTES;
        if let Some(mut reader) = current {
            match tokio::io::copy(&mut (&mut reader).take(budget), &mut tokio::io::sink()).await {
                Ok(n) => budget = budget.saturating_sub(n),
                Err(_) => return,
            }
        }
        while budget > 0 {
            let Ok(Some(field)) = multipart.next_field().await else {
                return;
            };
            let mut reader: BoxedReader = Box::pin(field.into_async_read());
            match tokio::io::copy(&mut (&mut reader).take(budget), &mut tokio::io::sink()).await {
                Ok(n) => budget = budget.saturating_sub(n),
                Err(_) => return,
            }
        }
    };
    let _ = tokio::time::timeout(DRAIN_TIME, work).await;
}

fn unreadable(err: impl std::fmt::Display) -> ApiError {
    tracing::info!(error = %err, "unreadable upload");
    ApiError::bad_request("the upload could not be read as multipart/form-data")
}

async fn read_text(field: poem::web::Field, name: &str) -> Result<String, ApiError> {
    let mut reader: BoxedReader = Box::pin(field.into_async_read());
    let mut bytes = Vec::new();
    (&mut reader)
        .take(MAX_TEXT_FIELD + 1)
        .read_to_end(&mut bytes)
        .await
        .map_err(unreadable)?;
    if bytes.len() as u64 > MAX_TEXT_FIELD {
        return Err(ApiError::unprocessable(format!(
            "the form field `{name}` is too long"
        )));
    }
    String::from_utf8(bytes)
        .map_err(|_| ApiError::unprocessable(format!("the form field `{name}` is not UTF-8")))
}

fn parse_bool(value: &str) -> Result<bool, ApiError> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "on" | "1" | "yes" => Ok(true),
        "false" | "off" | "0" | "no" | "" => Ok(false),
        _ => Err(ApiError::unprocessable("`shared` must be true or false")),
    }
}

// ---- downloads --------------------------------------------------------------------------------

/// `attachment; filename="<ASCII fallback>"; filename*=UTF-8''<percent-encoded name>`.
pub(crate) fn content_disposition(filename: &str) -> String {
    let fallback: String = filename
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && !matches!(c, '"' | '\\' | '%' | ';') || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut encoded = String::with_capacity(filename.len() * 3);
    for byte in filename.bytes() {
        if byte.is_ascii_alphanumeric()
            || matches!(
                byte,
                b'!' | b'#' | b'$' | b'&' | b'+' | b'-' | b'.' | b'^' | b'_' | b'`' | b'|' | b'~'
            )
        {
            encoded.push(byte as char);
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    format!("attachment; filename=\"{fallback}\"; filename*=UTF-8''{encoded}")
}

/// Verifies the whole blob first, unless this version is known whole (nothing is sent from a
/// blob that fails), then streams it decrypted, chunk by chunk.
pub(crate) async fn content_response(
    state: &AppState,
    download: Download,
) -> Result<Response, ApiError> {
    let (document, reader, verification) = download.verify(&state.blobs).await?;
    state.metrics.document_download(verification.as_str());
    let id = document.id;
    let stream = futures::stream::try_unfold(reader, move |mut reader| async move {
        match reader.next_chunk().await {
            Ok(Some(chunk)) => Ok(Some((chunk, reader))),
            Ok(None) => Ok(None),
            Err(err) => {
                tracing::error!(document = %id, error = %err, "document changed while it was being sent");
                Err(std::io::Error::other("document read failed"))
            }
        }
    });
    let disposition = HeaderValue::from_str(&content_disposition(&document.filename))
        .map_err(ApiError::internal)?;
    let content_type = HeaderValue::from_str(&document.content_type).map_err(ApiError::internal)?;
    let mut response = Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, content_type)
        .header(header::CONTENT_DISPOSITION, disposition)
        .header(header::X_CONTENT_TYPE_OPTIONS, "nosniff")
        .header(header::CACHE_CONTROL, "no-store")
        .body(Body::from_bytes_stream(stream));
    if let Ok(length) = HeaderValue::from_str(&document.size_bytes.to_string()) {
        response
            .headers_mut()
            .insert(header::CONTENT_LENGTH, length);
    }
    Ok(response)
}

/// A document's content (see [`content_response`]).
pub struct DocumentContent(Response);

impl IntoResponse for DocumentContent {
    fn into_response(self) -> Response {
        self.0
    }
}

impl ApiResponse for DocumentContent {
    fn meta() -> MetaResponses {
        MetaResponses {
            responses: vec![MetaResponse {
                description: "The document as an attachment (`Content-Disposition: attachment; \
                              filename*=…`), with the type recognised at upload, \
                              `X-Content-Type-Options: nosniff` and `Cache-Control: no-store`. \
                              A blob that fails its integrity check answers 500 and sends \
                              nothing.",
                status: Some(200),
                status_range: None,
                // The stored type varies per document (PDF, images, Office files, text...),
                // so the answer's media type is documented as a range.
                content: vec![MetaMediaType {
                    content_type: "*/*",
                    schema: MetaSchemaRef::Inline(Box::new(MetaSchema::new_with_format(
                        "string", "binary",
                    ))),
                }],
                headers: vec![],
            }],
        }
    }

    fn register(_registry: &mut Registry) {}
}

// ---- firm members -----------------------------------------------------------------------------

pub struct FirmDocumentsApi;

#[OpenApi(prefix_path = "/firm", tag = "ApiTags::Documents")]
impl FirmDocumentsApi {
    /// Documents of a file
    ///
    /// Every document of a file the member can access (newest first), with its Portal flag and
    /// who added it (members or the file's clients).
    #[oai(path = "/files/:id/documents", method = "get")]
    async fn list(
        &self,
        auth: FirmMember,
        id: Path<String>,
    ) -> Answer<Json<Vec<DocumentView>>, Session> {
        let ctx = auth.0;
        let file = parse_file_id(&id.0)?;
        let tx = ctx.db.read().await?;
        let listed = documents::list_for_member(&tx, &ctx.member, file).await?;
        tx.commit().await?;
        let listed = listed.ok_or_else(ApiError::not_found)?;
        Ok(Json(listed.into_iter().map(Into::into).collect()))
    }

    /// Upload a document to a file
    ///
    /// `multipart/form-data` with the file in `file`; optional `title` and `shared` (show it in
    /// the Portal at once: needs the Portal right, and the firm must share documents). The type
    /// is recognised from the content and must match the name's extension (415 otherwise);
    /// larger than the firm's upload limit: 413, also for chunked bodies.
    #[oai(path = "/files/:id/documents", method = "post")]
    async fn upload(
        &self,
        state: Data<&AppState>,
        req: &Request,
        auth: FirmMember,
        id: Path<String>,
        body: DocumentUploadBody,
    ) -> Answer<DocumentCreated, (Session, Upload)> {
        let ctx = auth.0;
        let multipart = body.0;
        let file = match parse_file_id(&id.0) {
            Ok(file) => file,
            Err(err) => {
                let mut multipart = multipart;
                drain(&mut multipart, None).await;
                return Err(err.into());
            }
        };
        let target = UploadTarget {
            tenant: &ctx.tenant,
            db: &ctx.db,
            uploader: Uploader::Member(&ctx.member),
            file,
            ip: ctx.ip.clone(),
            form_csrf: None,
        };
        match receive_upload(&state, req, target, multipart).await {
            Ok(document) => Ok(DocumentCreated::Created(Json(document.into()))),
            Err(UploadFailure::Refused(err)) => Err(err.into()),
            Err(UploadFailure::Csrf) => {
                Err(ApiError::forbidden("cross-site request refused").into())
            }
        }
    }

    /// One document
    #[oai(path = "/documents/:id", method = "get")]
    async fn get(&self, auth: FirmMember, id: Path<String>) -> Answer<Json<DocumentView>, Session> {
        let ctx = auth.0;
        let id = parse_document_id(&id.0)?;
        let tx = ctx.db.read().await?;
        let found = documents::get_for_member(&tx, &ctx.member, id).await?;
        tx.commit().await?;
        Ok(Json(found.ok_or_else(ApiError::not_found)?.into()))
    }

    /// Download a document
    #[oai(path = "/documents/:id/content", method = "get")]
    async fn content(
        &self,
        state: Data<&AppState>,
        auth: FirmMember,
        id: Path<String>,
    ) -> Answer<DocumentContent, Session> {
        let ctx = auth.0;
        let id = parse_document_id(&id.0)?;
        let master = master_key(&state)?;
        let tx = ctx.db.read().await?;
        let found = documents::download_for_member(&tx, &ctx.member, &master, id).await;
        tx.commit().await?;
        let download = found?.ok_or_else(ApiError::not_found)?;
        Ok(DocumentContent(content_response(&state, download).await?))
    }

    /// Show in Portal / Remove from Portal
    ///
    /// Needs access to the file and the Portal right ("Permitted to share items and invite
    /// clients to the Portal"); showing also needs the firm to share documents. The file's
    /// clients see a shared document once the file is shared with them.
    #[oai(path = "/documents/:id/portal", method = "put")]
    async fn set_portal(
        &self,
        state: Data<&AppState>,
        auth: FirmMember,
        id: Path<String>,
        body: Json<DocumentPortalBody>,
    ) -> Answer<Json<DocumentView>, (Session, JsonBody)> {
        let ctx = auth.0;
        let id = parse_document_id(&id.0)?;
        let options = crate::firm_options::options(&state, &ctx.tenant).await?;
        let tx = ctx.db.write().await?;
        let document = documents::set_shared(
            &tx,
            &ctx.member,
            id,
            body.0.shared,
            &options,
            ctx.ip.clone(),
        )
        .await?;
        tx.commit().await?;
        Ok(Json(document.into()))
    }
}

// ---- clients ----------------------------------------------------------------------------------

pub struct PortalDocumentsApi;

#[OpenApi(prefix_path = "/portal", tag = "ApiTags::Documents")]
impl PortalDocumentsApi {
    /// Documents shared with me on a file
    #[oai(path = "/files/:id/documents", method = "get")]
    async fn list(
        &self,
        state: Data<&AppState>,
        auth: PortalClient,
        id: Path<String>,
    ) -> Answer<Json<Vec<PortalDocumentView>>, Session> {
        let ctx = auth.0;
        let file = parse_file_id(&id.0)?;
        let options = crate::firm_options::options(&state, &ctx.tenant).await?;
        let tx = ctx.db.read().await?;
        let listed = documents::list_for_client(&tx, &ctx.client, file, &options).await?;
        tx.commit().await?;
        let me = ctx.client.contact_id.as_uuid();
        let listed = listed.ok_or_else(ApiError::not_found)?;
        Ok(Json(
            listed
                .into_iter()
                .map(|d| PortalDocumentView::new(d, me))
                .collect(),
        ))
    }

    /// Upload a document to a file shared with me
    ///
    /// `multipart/form-data` with the file in `file` and an optional `title`. The document is
    /// shared with the firm at once and attributed to me. Refused (403) when the firm does not
    /// accept documents through the Portal; 413 over the firm's upload limit; 415 for a type
    /// that is not accepted.
    #[oai(path = "/files/:id/documents", method = "post")]
    async fn upload(
        &self,
        state: Data<&AppState>,
        req: &Request,
        auth: PortalClient,
        id: Path<String>,
        body: DocumentUploadBody,
    ) -> Answer<PortalDocumentCreated, (Session, Upload)> {
        let ctx = auth.0;
        let multipart = body.0;
        let file = match parse_file_id(&id.0) {
            Ok(file) => file,
            Err(err) => {
                let mut multipart = multipart;
                drain(&mut multipart, None).await;
                return Err(err.into());
            }
        };
        let target = UploadTarget {
            tenant: &ctx.tenant,
            db: &ctx.db,
            uploader: Uploader::Client(&ctx.client),
            file,
            ip: ctx.ip.clone(),
            form_csrf: None,
        };
        let me = ctx.client.contact_id.as_uuid();
        match receive_upload(&state, req, target, multipart).await {
            Ok(document) => Ok(PortalDocumentCreated::Created(Json(
                PortalDocumentView::new(document, me),
            ))),
            Err(UploadFailure::Refused(err)) => Err(err.into()),
            Err(UploadFailure::Csrf) => {
                Err(ApiError::forbidden("cross-site request refused").into())
            }
        }
    }

    /// Download a document shared with me
    #[oai(path = "/documents/:id/content", method = "get")]
    async fn content(
        &self,
        state: Data<&AppState>,
        auth: PortalClient,
        id: Path<String>,
    ) -> Answer<DocumentContent, Session> {
        let ctx = auth.0;
        let id = parse_document_id(&id.0)?;
        let master = master_key(&state)?;
        let options = crate::firm_options::options(&state, &ctx.tenant).await?;
        let tx = ctx.db.read().await?;
        let found = documents::download_for_client(&tx, &ctx.client, &master, id, &options).await;
        tx.commit().await?;
        let download = found?.ok_or_else(ApiError::not_found)?;
        Ok(DocumentContent(content_response(&state, download).await?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_disposition_is_an_attachment_with_an_encoded_name() {
        assert_eq!(
            content_disposition("Brief März.pdf"),
            "attachment; filename=\"Brief M_rz.pdf\"; filename*=UTF-8''Brief%20M%C3%A4rz.pdf"
        );
        assert_eq!(
            content_disposition("a\"b;c%.txt"),
            "attachment; filename=\"a_b_c_.txt\"; filename*=UTF-8''a%22b%3Bc%25.txt"
        );
    }
}
