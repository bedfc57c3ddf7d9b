//! The blob store: where document blobs live, in one layout for both backends — a folder per
//! firm holding blobs under generated names. It moves opaque bytes only: [`crate::crypto`] seals
//! them before they arrive and opens them after they leave, the same way for both backends.
//!
//! **Local** (`storage.backend = "local"`, the default): `storage.dir/<firm id>/<name>`. An
//! upload is written to a temp file (`.upload-…`, mode 0600) in the firm's directory, fsynced,
//! renamed to its name, and the directory fsynced; a failed or dropped upload removes its temp
//! file. The upload is written behind: the caller fills one [`LOCAL_IO_BUFFER`] while the
//! previous one is written on a blocking thread, the buffers being handed over rather than
//! copied (a `BufWriter` over `tokio::fs::File` copied every byte twice more). Every
//! [`FLUSH_AFTER`] bytes, what has been written is flushed to disk (`fdatasync`) on a blocking
//! thread of its own while the upload goes on, as PostgreSQL's `backend_flush_after` does: the
//! disk writes alongside the upload instead of all at once at the end, and the fsync that
//! commits the upload waits only for the last few megabytes.
//!
//! **S3** (`storage.backend = "s3"`, through `object_store`): `<prefix>/<firm id>/<name>` in
//! `storage.s3.bucket`. An upload of at most [`PART_SIZE`] bytes is one PUT; a larger one becomes
//! a multipart upload of `PART_SIZE` parts with at most [`PARTS_IN_FLIGHT`] parts being sent
//! while the next one fills, so an upload holds at most `(PARTS_IN_FLIGHT + 1) × PART_SIZE`
//! bytes whatever the document's size. S3 shows an object only once its PUT or its multipart
//! completion succeeds, which plays the part of the atomic rename; a failed or dropped upload
//! aborts its multipart upload. Reads stream the object; reading it again (the second pass of a
//! verified download) asks for the same version by ETag, so a blob replaced in between fails
//! instead of mixing two blobs.
//!
//! **Verified versions.** The store remembers (in memory, per process, bounded) which *version*
//! of a blob has been written by an upload of this process or read through in full by a
//! verifying reader ([`BlobStore::remember_verified`]): on disk the file's device, inode, size,
//! modification and change times — any write through the file system moves the change time,
//! which user space cannot set back — and on S3 the ETag. A download of a version already known
//! whole skips its verification pass; its sending pass still authenticates every chunk, so a
//! blob damaged below the file system (a bad disk block) is still refused, only after its
//! authentic first chunks have been sent.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::BytesMut;
use futures::{StreamExt, TryStreamExt};
use object_store::aws::AmazonS3Builder;
use object_store::path::Path as ObjectPath;
use object_store::{
    GetOptions, GetRange, MultipartUpload, ObjectStore, ObjectStoreExt, PutPayload,
};
use secrecy::ExposeSecret;
use tokio::task::JoinSet;

use crate::config::{Settings, StorageBackend};
use crate::ids::TenantId;

/// S3 part size: the smallest S3 accepts for every part but the last, and the most an upload
/// buffers before sending.
pub const PART_SIZE: usize = 5 * 1024 * 1024;
/// Parts of one upload being sent at once (while the next one fills from the client).
pub const PARTS_IN_FLIGHT: usize = 2;
/// Local temp files of uploads in progress start with this; the sweeper removes stale ones.
pub const TEMP_PREFIX: &str = ".upload-";
/// A readiness probe that waits longer than this reports the bucket as not ready.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// The configured store; cheap to clone (clones share the S3 client).
#[derive(Clone)]
pub struct BlobStore {
    root: PathBuf,
    remote: Option<Arc<Remote>>,
    verified: Arc<moka::sync::Cache<(TenantId, String), BlobVersion>>,
}

/// One version of a stored blob's bytes (see the module comment).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlobVersion(String);

/// Blob versions remembered as whole; ~150 bytes each.
const VERIFIED_CAPACITY: u64 = 10_000;

fn verified_versions() -> Arc<moka::sync::Cache<(TenantId, String), BlobVersion>> {
    Arc::new(moka::sync::Cache::new(VERIFIED_CAPACITY))
}

/// The version of a local file from its metadata (`None` where there is no change time).
fn local_version(meta: &std::fs::Metadata) -> Option<BlobVersion> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        Some(BlobVersion(format!(
            "{} {} {} {}.{} {}.{}",
            meta.dev(),
            meta.ino(),
            meta.size(),
            meta.mtime(),
            meta.mtime_nsec(),
            meta.ctime(),
            meta.ctime_nsec()
        )))
    }
    #[cfg(not(unix))]
    {
        let _ = meta;
        None
    }
}

fn remote_version(e_tag: Option<&str>) -> Option<BlobVersion> {
    e_tag.map(|e_tag| BlobVersion(format!("etag {e_tag}")))
}

struct Remote {
    store: Arc<dyn ObjectStore>,
    /// Where the firm folders start (`storage.s3.prefix`); empty at the bucket root.
    prefix: ObjectPath,
    /// Bucket, endpoint and prefix, for logs and `Debug` (never the credentials).
    label: String,
}

impl fmt::Debug for BlobStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.remote {
            None => f
                .debug_struct("BlobStore")
                .field("dir", &self.root)
                .finish(),
            Some(remote) => f
                .debug_struct("BlobStore")
                .field("s3", &remote.label)
                .finish(),
        }
    }
}

/// The store could not be set up at start-up.
#[derive(Debug, thiserror::Error)]
pub enum StorageSetupError {
    #[error("cannot create storage directory {}: {source}", path.display())]
    Directory { path: PathBuf, source: io::Error },
    #[error("cannot set up the S3 client for bucket `{bucket}` (storage.s3): {source}")]
    S3 {
        bucket: String,
        source: object_store::Error,
    },
}

/// One entry of a firm's folder (see [`BlobStore::list_tenant`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredEntry {
    pub name: String,
    /// When it was last written, when the store says.
    pub modified: Option<SystemTime>,
}

impl StoredEntry {
    /// The temp file of a local upload in progress (or interrupted by a crash).
    pub fn is_temp(&self) -> bool {
        self.name.starts_with(TEMP_PREFIX)
    }
}

fn store_error(err: object_store::Error) -> io::Error {
    match err {
        object_store::Error::NotFound { .. } => io::Error::new(io::ErrorKind::NotFound, err),
        other => io::Error::other(other),
    }
}

/// `None` for a file or object that does not exist, the same on both backends.
fn unless_missing<T>(result: io::Result<T>) -> io::Result<Option<T>> {
    match result {
        Ok(value) => Ok(Some(value)),
        Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(err) => Err(err),
    }
}

/// Blob names are generated, but they come back from database rows: a name that is not one
/// plain path segment never reaches a path or a key.
fn check_name(name: &str) -> io::Result<()> {
    let plain = !name.is_empty()
        && name != "."
        && name != ".."
        && !name.contains(['/', '\\', '\0'])
        && name.len() <= 255;
    if plain {
        Ok(())
    } else {
        Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a blob name",
        ))
    }
}

impl BlobStore {
    /// A local store in `root` (created if missing).
    pub fn new(root: impl Into<PathBuf>) -> io::Result<Self> {
        let root = root.into();
        std::fs::create_dir_all(&root)?;
        Ok(Self {
            root,
            remote: None,
            verified: verified_versions(),
        })
    }

    /// The store `storage.backend` names. Building the S3 client does not contact the bucket;
    /// `/readyz` does ([`BlobStore::check_writable`]).
    pub fn from_settings(settings: &Settings) -> Result<Self, StorageSetupError> {
        let dir = &settings.storage.dir;
        match settings.storage_backend.kind {
            StorageBackend::Local => {
                Self::new(dir).map_err(|source| StorageSetupError::Directory {
                    path: dir.clone(),
                    source,
                })
            }
            StorageBackend::S3 => {
                let s3 = &settings.storage_backend.s3;
                let mut builder = AmazonS3Builder::new()
                    .with_bucket_name(&s3.bucket)
                    .with_region(&s3.region)
                    .with_access_key_id(&s3.access_key_id)
                    .with_secret_access_key(s3.secret_access_key.expose_secret())
                    .with_allow_http(s3.allow_http);
                let endpoint = s3.endpoint.trim();
                if !endpoint.is_empty() {
                    builder = builder.with_endpoint(endpoint);
                }
                let store = builder.build().map_err(|source| StorageSetupError::S3 {
                    bucket: s3.bucket.clone(),
                    source,
                })?;
                let prefix: ObjectPath = s3.prefix_segments().collect();
                let label = format!(
                    "bucket `{}` at {}, prefix `{}`",
                    s3.bucket,
                    if endpoint.is_empty() {
                        "AWS S3"
                    } else {
                        endpoint
                    },
                    prefix
                );
                tracing::info!(store = %label, "documents are stored in an S3-compatible bucket");
                Ok(Self::with_object_store(
                    dir.clone(),
                    Arc::new(store),
                    prefix,
                    label,
                ))
            }
        }
    }

    /// A store over any `object_store` backend (S3 in production, memory in unit tests).
    fn with_object_store(
        root: PathBuf,
        store: Arc<dyn ObjectStore>,
        prefix: ObjectPath,
        label: String,
    ) -> Self {
        Self {
            root,
            remote: Some(Arc::new(Remote {
                store,
                prefix,
                label,
            })),
            verified: verified_versions(),
        }
    }

    /// Records `version` of the blob `name` as whole: written by this process's upload, or read
    /// through in full by a verifying reader.
    pub fn remember_verified(&self, tenant: TenantId, name: &str, version: BlobVersion) {
        self.verified.insert((tenant, name.to_owned()), version);
    }

    /// Whether exactly `version` of the blob was remembered as whole.
    pub fn was_verified(&self, tenant: TenantId, name: &str, version: &BlobVersion) -> bool {
        self.verified
            .get(&(tenant, name.to_owned()))
            .is_some_and(|known| known == *version)
    }

    /// `storage.dir`. With the S3 backend nothing is stored there.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// A firm's directory in the local layout (with the S3 backend, where it would be).
    pub fn tenant_dir(&self, tenant: TenantId) -> PathBuf {
        self.root.join(tenant.to_string())
    }

    /// Removes every stored blob of a firm (part of deleting the firm). Incomplete S3
    /// multipart uploads cannot be listed through `object_store`; the bucket's lifecycle rule
    /// removes those.
    pub async fn delete_tenant(&self, tenant: TenantId) -> io::Result<()> {
        let Some(remote) = &self.remote else {
            return unless_missing(tokio::fs::remove_dir_all(self.tenant_dir(tenant)).await)
                .map(|_| ());
        };
        let locations = remote
            .store
            .list(Some(&remote.tenant_prefix(tenant)))
            .map_ok(|meta| meta.location)
            .boxed();
        let mut deleted = remote.store.delete_stream(locations);
        while let Some(result) = deleted.next().await {
            unless_missing(result.map_err(store_error))?;
        }
        Ok(())
    }

    /// Readiness: the store accepts a write (creates and removes a probe file or object).
    pub async fn check_writable(&self) -> io::Result<()> {
        let probe_name = format!(".ready-{}", uuid::Uuid::new_v4());
        let Some(remote) = &self.remote else {
            let probe = self.root.join(probe_name);
            tokio::fs::write(&probe, b"ok").await?;
            return tokio::fs::remove_file(&probe).await;
        };
        let probe = remote.prefix.clone().join(probe_name);
        let attempt = async {
            remote
                .store
                .put(&probe, PutPayload::from_static(b"ok"))
                .await?;
            remote.store.delete(&probe).await
        };
        match tokio::time::timeout(PROBE_TIMEOUT, attempt).await {
            Ok(result) => result.map_err(store_error),
            Err(_) => Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("no answer from {} within {PROBE_TIMEOUT:?}", remote.label),
            )),
        }
    }

    /// Starts storing the blob `name` of `tenant`. Nothing is visible under `name` until
    /// [`BlobUpload::commit`] succeeds; dropping the upload before that leaves nothing behind.
    pub async fn begin_upload(&self, tenant: TenantId, name: &str) -> io::Result<BlobUpload> {
        check_name(name)?;
        let Some(remote) = &self.remote else {
            let dir = self.tenant_dir(tenant);
            tokio::fs::create_dir_all(&dir).await?;
            let temp = dir.join(format!("{TEMP_PREFIX}{}", uuid::Uuid::new_v4().simple()));
            let mut options = tokio::fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            options.mode(0o600);
            let file = options.open(&temp).await?.into_std().await;
            return Ok(BlobUpload(Upload::Local(LocalUpload {
                file: WriteBehind::Idle(file, Vec::with_capacity(LOCAL_UPLOAD_CAPACITY)),
                buffer: Vec::with_capacity(LOCAL_UPLOAD_CAPACITY),
                unflushed: 0,
                flushing: None,
                temp: TempGuard(Some(temp)),
                path: dir.join(name),
                dir,
            })));
        };
        Ok(BlobUpload(Upload::Remote(RemoteUpload {
            store: Arc::clone(&remote.store),
            location: remote.location(tenant, name),
            buffer: Vec::new(),
            multipart: None,
        })))
    }

    /// Opens a stored blob for reading from its first byte; `None` when it does not exist.
    pub async fn open(&self, tenant: TenantId, name: &str) -> io::Result<Option<BlobRead>> {
        check_name(name)?;
        let Some(remote) = &self.remote else {
            let opened = tokio::fs::File::open(self.tenant_dir(tenant).join(name)).await;
            let Some(file) = unless_missing(opened)? else {
                return Ok(None);
            };
            let meta = file.metadata().await?;
            let size = meta.len();
            return Ok(Some(BlobRead {
                size,
                version: local_version(&meta),
                source: Source::Local(LocalRead::new(file.into_std().await, size)),
            }));
        };
        let location = remote.location(tenant, name);
        let opened = remote
            .store
            .get_opts(&location, GetOptions::default())
            .await
            .map_err(store_error);
        let Some(result) = unless_missing(opened)? else {
            return Ok(None);
        };
        let size = result.meta.size;
        let e_tag = result.meta.e_tag.clone();
        Ok(Some(BlobRead {
            size,
            version: remote_version(e_tag.as_deref()),
            source: Source::Remote {
                store: Arc::clone(&remote.store),
                location,
                e_tag,
                reader: object_reader(result),
            },
        }))
    }

    /// Removes one blob or temp file; `false` when it was already gone.
    pub async fn remove(&self, tenant: TenantId, name: &str) -> io::Result<bool> {
        check_name(name)?;
        let removed = match &self.remote {
            None => tokio::fs::remove_file(self.tenant_dir(tenant).join(name)).await,
            // S3 answers a delete of a missing key with success too.
            Some(remote) => remote
                .store
                .delete(&remote.location(tenant, name))
                .await
                .map_err(store_error),
        };
        Ok(unless_missing(removed)?.is_some())
    }

    /// The files (objects) directly in a firm's folder whose names `wanted` accepts, with their
    /// modification times (looked up only for those, on the local disk).
    pub async fn list_tenant(
        &self,
        tenant: TenantId,
        wanted: impl Fn(&str) -> bool,
    ) -> io::Result<Vec<StoredEntry>> {
        let mut found = Vec::new();
        let Some(remote) = &self.remote else {
            let Some(mut entries) =
                unless_missing(tokio::fs::read_dir(self.tenant_dir(tenant)).await)?
            else {
                return Ok(found);
            };
            while let Some(entry) = entries.next_entry().await? {
                let name = entry.file_name().to_string_lossy().into_owned();
                if !wanted(&name) {
                    continue;
                }
                let metadata = entry.metadata().await?;
                if metadata.is_file() {
                    found.push(StoredEntry {
                        name,
                        modified: metadata.modified().ok(),
                    });
                }
            }
            return Ok(found);
        };
        let listed = remote
            .store
            .list_with_delimiter(Some(&remote.tenant_prefix(tenant)))
            .await
            .map_err(store_error)?;
        for meta in listed.objects {
            let Some(name) = meta.location.filename() else {
                continue;
            };
            if wanted(name) {
                found.push(StoredEntry {
                    name: name.to_owned(),
                    modified: Some(SystemTime::from(meta.last_modified)),
                });
            }
        }
        Ok(found)
    }
}

impl Remote {
    fn tenant_prefix(&self, tenant: TenantId) -> ObjectPath {
        self.prefix.clone().join(tenant.to_string())
    }

    fn location(&self, tenant: TenantId, name: &str) -> ObjectPath {
        self.tenant_prefix(tenant).join(name)
    }
}

// ---- writing ----------------------------------------------------------------------------------

/// A blob being stored (see [`BlobStore::begin_upload`]).
pub struct BlobUpload(Upload);

enum Upload {
    Local(LocalUpload),
    Remote(RemoteUpload),
}

impl BlobUpload {
    /// Appends bytes. This may wait for earlier bytes to be written (on disk) or for a part to
    /// be sent (S3): back-pressure on the client.
    pub async fn write(&mut self, data: &[u8]) -> io::Result<()> {
        self.write_with(|buffer| {
            buffer.extend_from_slice(data);
            Ok::<_, io::Error>(())
        })
        .await
    }

    /// Appends what `fill` appends to the buffer it is given — on disk the upload's own buffer,
    /// so a producer (the sealer) writes its output straight into it without another copy.
    pub async fn write_with<E: From<io::Error>>(
        &mut self,
        fill: impl FnOnce(&mut Vec<u8>) -> Result<(), E>,
    ) -> Result<(), E> {
        match &mut self.0 {
            Upload::Local(local) => {
                fill(&mut local.buffer)?;
                if local.buffer.len() >= LOCAL_IO_BUFFER {
                    local.write_behind().await?;
                }
                Ok(())
            }
            Upload::Remote(remote) => {
                let mut data = Vec::new();
                fill(&mut data)?;
                Ok(remote.write(&data).await?)
            }
        }
    }

    /// Makes the blob visible under its name, durably: fsync, rename and directory fsync on
    /// disk; the PUT or the multipart completion on S3 (aborted if that fails). Returns the
    /// version now stored, when the store can tell.
    pub async fn commit(self) -> io::Result<Option<BlobVersion>> {
        match self.0 {
            Upload::Local(local) => local.commit().await,
            Upload::Remote(remote) => remote.commit().await,
        }
    }
}

struct LocalUpload {
    file: WriteBehind,
    /// Being filled by the caller; handed to the blocking writer once [`LOCAL_IO_BUFFER`] long.
    buffer: Vec<u8>,
    /// Bytes written since the last early flush started.
    unflushed: usize,
    /// The early flush under way, if any.
    flushing: Option<tokio::task::JoinHandle<io::Result<()>>>,
    temp: TempGuard,
    dir: PathBuf,
    path: PathBuf,
}

/// The temp file, with the buffer to fill next, or being written on a blocking thread (which
/// hands both back, the buffer emptied).
enum WriteBehind {
    Idle(std::fs::File, Vec<u8>),
    Writing(tokio::task::JoinHandle<io::Result<(std::fs::File, Vec<u8>)>>),
    /// Only after a failed write: the upload is abandoned (and its temp file removed).
    Failed,
}

impl WriteBehind {
    /// Waits for the write in flight, if any; the file and an empty buffer.
    async fn idle(&mut self) -> io::Result<(std::fs::File, Vec<u8>)> {
        match std::mem::replace(self, WriteBehind::Failed) {
            WriteBehind::Idle(file, spare) => Ok((file, spare)),
            WriteBehind::Writing(task) => blocking_io(task.await),
            WriteBehind::Failed => Err(io::Error::other("an earlier write of this blob failed")),
        }
    }
}

/// The outcome of a blocking read or write task, a panic in it being an I/O error too.
fn blocking_io<T>(joined: Result<io::Result<T>, tokio::task::JoinError>) -> io::Result<T> {
    joined.map_err(|err| io::Error::other(format!("blob I/O task failed: {err}")))?
}

impl LocalUpload {
    /// Starts writing the filled buffer and gives the caller the other one to fill.
    async fn write_behind(&mut self) -> io::Result<()> {
        let (mut file, spare) = self.file.idle().await?;
        // Everything counted so far is now written: flush it unless a flush is still busy.
        if self.unflushed >= FLUSH_AFTER
            && self
                .flushing
                .as_ref()
                .is_none_or(|flush| flush.is_finished())
        {
            if let Some(flushed) = self.flushing.take() {
                blocking_io(flushed.await)?;
            }
            // A handle of its own: the flush runs beside the next write.
            let for_flushing = file.try_clone()?;
            self.flushing = Some(tokio::task::spawn_blocking(move || {
                for_flushing.sync_data()
            }));
            self.unflushed = 0;
        }
        let mut full = std::mem::replace(&mut self.buffer, spare);
        self.unflushed += full.len();
        self.file = WriteBehind::Writing(tokio::task::spawn_blocking(move || {
            use std::io::Write as _;
            file.write_all(&full)?;
            full.clear();
            Ok((file, full))
        }));
        Ok(())
    }

    async fn commit(self) -> io::Result<Option<BlobVersion>> {
        let LocalUpload {
            file: mut writer,
            buffer,
            flushing,
            mut temp,
            dir,
            path,
            unflushed: _,
        } = self;
        let (file, _) = writer.idle().await?;
        if let Some(flushed) = flushing {
            blocking_io(flushed.await)?;
        }
        blocking_io(
            tokio::task::spawn_blocking(move || {
                use std::io::Write as _;
                let mut file = file;
                file.write_all(&buffer)?;
                file.sync_all()
            })
            .await,
        )?;
        let temp_path = temp
            .0
            .clone()
            .ok_or_else(|| io::Error::other("temp file already gone"))?;
        tokio::fs::rename(&temp_path, &path).await?;
        temp.0 = None;
        if let Err(err) = sync_dir(&dir).await {
            // Not durable, so not committed: the caller writes no row for it.
            if let Err(remove) = tokio::fs::remove_file(&path).await {
                tracing::warn!(path = %path.display(), error = %remove, "could not remove an unused blob");
            }
            return Err(err);
        }
        // After the rename, which itself moves the file's change time.
        Ok(tokio::fs::metadata(&path)
            .await
            .ok()
            .and_then(|meta| local_version(&meta)))
    }
}

/// Removes its file when dropped, unless disarmed: an upload that fails, or whose request is
/// dropped half-way, leaves no temp file behind.
struct TempGuard(Option<PathBuf>);

impl Drop for TempGuard {
    fn drop(&mut self) {
        if let Some(path) = self.0.take()
            && let Err(err) = std::fs::remove_file(&path)
            && err.kind() != io::ErrorKind::NotFound
        {
            tracing::warn!(path = %path.display(), error = %err, "could not remove an upload's temp file");
        }
    }
}

/// Makes a rename durable (the directory entry is what a crash would lose).
async fn sync_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        tokio::fs::File::open(dir).await?.sync_all().await
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(())
    }
}

struct RemoteUpload {
    store: Arc<dyn ObjectStore>,
    location: ObjectPath,
    /// The part being filled (at most [`PART_SIZE`] bytes).
    buffer: Vec<u8>,
    /// Started once the content is known to need more than one part.
    multipart: Option<Multipart>,
}

struct Multipart {
    upload: Box<dyn MultipartUpload>,
    /// Parts being sent, as tasks so they progress while the client is being read.
    parts: JoinSet<object_store::Result<()>>,
}

impl RemoteUpload {
    async fn write(&mut self, mut data: &[u8]) -> io::Result<()> {
        while !data.is_empty() {
            // A full buffer is sent only once more content shows it is not the whole blob, so
            // a blob of up to PART_SIZE bytes stays a single PUT.
            if self.buffer.len() == PART_SIZE {
                self.send_part().await?;
            }
            let take = (PART_SIZE - self.buffer.len()).min(data.len());
            let needed = self.buffer.len() + take;
            if needed > self.buffer.capacity() {
                // Grow by doubling, but never past one part.
                let target = (self.buffer.capacity() * 2).clamp(needed, PART_SIZE);
                self.buffer.reserve_exact(target - self.buffer.len());
            }
            self.buffer.extend_from_slice(&data[..take]);
            data = &data[take..];
        }
        Ok(())
    }

    async fn send_part(&mut self) -> io::Result<()> {
        if self.multipart.is_none() {
            let upload = self
                .store
                .put_multipart(&self.location)
                .await
                .map_err(store_error)?;
            self.multipart = Some(Multipart {
                upload,
                parts: JoinSet::new(),
            });
        }
        let Some(multipart) = self.multipart.as_mut() else {
            return Err(io::Error::other("multipart upload missing"));
        };
        while multipart.parts.len() >= PARTS_IN_FLIGHT {
            match multipart.parts.join_next().await {
                Some(joined) => part_result(joined)?,
                None => break,
            }
        }
        // The next part will be full too: allocate it once instead of growing it.
        let part = std::mem::replace(&mut self.buffer, Vec::with_capacity(PART_SIZE));
        multipart
            .parts
            .spawn(multipart.upload.put_part(PutPayload::from(part)));
        Ok(())
    }

    async fn commit(mut self) -> io::Result<Option<BlobVersion>> {
        let last = std::mem::take(&mut self.buffer);
        let Some(mut multipart) = self.multipart.take() else {
            return self
                .store
                .put(&self.location, PutPayload::from(last))
                .await
                .map(|put| remote_version(put.e_tag.as_deref()))
                .map_err(store_error);
        };
        let completed = async {
            if !last.is_empty() {
                multipart
                    .parts
                    .spawn(multipart.upload.put_part(PutPayload::from(last)));
            }
            while let Some(joined) = multipart.parts.join_next().await {
                part_result(joined)?;
            }
            multipart
                .upload
                .complete()
                .await
                .map(|put| remote_version(put.e_tag.as_deref()))
                .map_err(store_error)
        }
        .await;
        if completed.is_err() {
            multipart.abort().await;
        }
        completed
    }
}

impl Multipart {
    async fn abort(mut self) {
        self.parts.shutdown().await;
        if let Err(err) = self.upload.abort().await {
            tracing::warn!(error = %err, "could not abort a multipart upload (a bucket lifecycle rule removes it)");
        }
    }
}

impl Drop for RemoteUpload {
    fn drop(&mut self) {
        // Dropped before commit (refused, failed or disconnected upload): abort the multipart
        // upload so its parts do not stay stored. Drop cannot wait, so a task does it.
        if let Some(multipart) = self.multipart.take() {
            match tokio::runtime::Handle::try_current() {
                Ok(runtime) => {
                    runtime.spawn(multipart.abort());
                }
                Err(_) => tracing::warn!(
                    "multipart upload dropped outside the runtime; a bucket lifecycle rule removes it"
                ),
            }
        }
    }
}

fn part_result(joined: Result<object_store::Result<()>, tokio::task::JoinError>) -> io::Result<()> {
    match joined {
        Ok(result) => result.map_err(store_error),
        Err(err) => Err(io::Error::other(format!("part upload task failed: {err}"))),
    }
}

// ---- reading ----------------------------------------------------------------------------------

/// A stored blob opened for reading (see [`BlobStore::open`]).
pub struct BlobRead {
    size: u64,
    /// The version opened (`None`: unknown, never taken as verified).
    version: Option<BlobVersion>,
    source: Source,
}

type ObjectReader = Pin<Box<dyn futures::AsyncRead + Send>>;

/// Local files are read and written 1 MiB at a time on a blocking thread: a hop to a blocking
/// thread per 64 KiB chunk cost more than the disk (bench/, 50 MB).
const LOCAL_IO_BUFFER: usize = 1 << 20;
/// A write-behind buffer's allocation: one [`LOCAL_IO_BUFFER`] and the sealed chunk that may
/// take it past that length, so it never grows.
const LOCAL_UPLOAD_CAPACITY: usize = LOCAL_IO_BUFFER + 128 * 1024;
/// An upload flushes what it has written to disk every this many bytes (see the module comment).
const FLUSH_AFTER: usize = 8 << 20;

enum Source {
    Local(LocalRead),
    Remote {
        store: Arc<dyn ObjectStore>,
        location: ObjectPath,
        /// The version that was opened; reading again insists on it.
        e_tag: Option<String>,
        reader: ObjectReader,
    },
}

fn object_reader(result: object_store::GetResult) -> ObjectReader {
    Box::pin(result.into_stream().map_err(store_error).into_async_read())
}

impl BlobRead {
    /// The blob's length in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The version being read, when the store can tell.
    pub fn version(&self) -> Option<&BlobVersion> {
        self.version.as_ref()
    }

    /// Fills `buf` with the next bytes; an error if the blob ends first.
    pub async fn read_exact(&mut self, buf: &mut [u8]) -> io::Result<()> {
        let bytes = self.read_bytes(buf.len()).await?;
        buf.copy_from_slice(&bytes);
        Ok(())
    }

    /// The next `len` bytes in a buffer of their own; an error if the blob ends first. From a
    /// local file they are usually a slice of a larger read, cut without copying, and the next
    /// read is already under way on a blocking thread while the caller works on these.
    pub async fn read_bytes(&mut self, len: usize) -> io::Result<BytesMut> {
        match &mut self.source {
            Source::Local(file) => file.read_bytes(len).await,
            Source::Remote { reader, .. } => {
                let mut buf = BytesMut::zeroed(len);
                futures::AsyncReadExt::read_exact(reader, &mut buf).await?;
                Ok(buf)
            }
        }
    }

    /// Continues reading at `offset` of the same blob: the same open file, or the same object
    /// version (a replaced object fails here rather than mixing two blobs).
    pub async fn restart_at(&mut self, offset: u64) -> io::Result<()> {
        match &mut self.source {
            Source::Local(file) => file.restart_at(offset).await,
            Source::Remote {
                store,
                location,
                e_tag,
                reader,
            } => {
                if offset >= self.size {
                    *reader = Box::pin(futures::io::empty());
                    return Ok(());
                }
                let options = GetOptions::new()
                    .with_if_match(e_tag.clone())
                    .with_range(Some(GetRange::Offset(offset)));
                let result = store
                    .get_opts(location, options)
                    .await
                    .map_err(store_error)?;
                *reader = object_reader(result);
                Ok(())
            }
        }
    }
}

/// A local blob read [`LOCAL_IO_BUFFER`] bytes at a time on a blocking thread, one read ahead of
/// the caller. Each read lands in a buffer of its own (`std::fs::File` straight into it; a
/// `tokio::fs::File` copies through a buffer of its own first), and callers get slices of it
/// without a copy; only a request straddling two reads is copied together.
struct LocalRead {
    /// `None` while the read ahead has it.
    file: Option<std::fs::File>,
    /// Read from the file and not yet handed out.
    buffered: BytesMut,
    ahead: Option<tokio::task::JoinHandle<io::Result<(std::fs::File, BytesMut)>>>,
    /// File offset of the next byte to read from the file (after `buffered` and the read ahead).
    next_offset: u64,
    size: u64,
}

impl LocalRead {
    fn new(file: std::fs::File, size: u64) -> Self {
        Self {
            file: Some(file),
            buffered: BytesMut::new(),
            ahead: None,
            next_offset: 0,
            size,
        }
    }

    /// Starts reading the next buffer unless one is under way or the file is read to its end.
    fn read_ahead(&mut self) {
        if self.ahead.is_some() || self.next_offset >= self.size {
            return;
        }
        let Some(mut file) = self.file.take() else {
            return;
        };
        // At most LOCAL_IO_BUFFER, which fits in usize on every target.
        let len = (self.size - self.next_offset).min(LOCAL_IO_BUFFER as u64) as usize;
        self.next_offset += len as u64;
        self.ahead = Some(tokio::task::spawn_blocking(move || {
            use std::io::Read;
            let mut buf = Vec::with_capacity(len);
            // `take` + `read_to_end` fills the spare capacity without zeroing it first.
            (&mut file).take(len as u64).read_to_end(&mut buf)?;
            if buf.len() < len {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the blob ended early",
                ));
            }
            Ok((file, BytesMut::from(bytes::Bytes::from(buf))))
        }));
    }

    /// The next buffer from the file (the one read ahead, or one read now).
    async fn next_buffer(&mut self) -> io::Result<BytesMut> {
        self.read_ahead();
        let Some(ahead) = self.ahead.take() else {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "read past the end of the blob",
            ));
        };
        let (file, buf) = blocking_io(ahead.await)?;
        self.file = Some(file);
        self.read_ahead();
        Ok(buf)
    }

    async fn read_bytes(&mut self, len: usize) -> io::Result<BytesMut> {
        if self.buffered.is_empty() {
            self.buffered = self.next_buffer().await?;
        }
        if self.buffered.len() >= len {
            return Ok(self.buffered.split_to(len));
        }
        // The request straddles reads: copy its pieces together.
        let mut joined = BytesMut::with_capacity(len);
        while joined.len() < len {
            if self.buffered.is_empty() {
                self.buffered = self.next_buffer().await?;
            }
            let take = (len - joined.len()).min(self.buffered.len());
            joined.extend_from_slice(&self.buffered.split_to(take));
        }
        Ok(joined)
    }

    async fn restart_at(&mut self, offset: u64) -> io::Result<()> {
        if let Some(ahead) = self.ahead.take() {
            let (file, _) = blocking_io(ahead.await)?;
            self.file = Some(file);
        }
        let Some(file) = self.file.as_mut() else {
            return Err(io::Error::other(
                "the blob's file was lost by a failed read",
            ));
        };
        use std::io::Seek;
        // A seek only moves the file offset: no I/O, nothing to block on.
        file.seek(io::SeekFrom::Start(offset))?;
        self.buffered = BytesMut::new();
        self.next_offset = offset;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use object_store::memory::InMemory;

    use super::*;

    fn sample(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 31 % 253) as u8).collect()
    }

    fn memory_store(prefix: &str) -> (BlobStore, Arc<InMemory>) {
        let memory = Arc::new(InMemory::new());
        let store = BlobStore::with_object_store(
            PathBuf::from("unused"),
            memory.clone(),
            ObjectPath::from(prefix),
            "memory".to_owned(),
        );
        (store, memory)
    }

    async fn store_blob(store: &BlobStore, tenant: TenantId, name: &str, data: &[u8], step: usize) {
        let mut upload = store.begin_upload(tenant, name).await.expect("begin");
        for piece in data.chunks(step) {
            upload.write(piece).await.expect("write");
        }
        upload.commit().await.expect("commit");
    }

    async fn read_all(store: &BlobStore, tenant: TenantId, name: &str) -> Vec<u8> {
        let mut blob = store
            .open(tenant, name)
            .await
            .expect("open")
            .expect("exists");
        let mut out = vec![0u8; usize::try_from(blob.size()).expect("size")];
        blob.read_exact(&mut out).await.expect("read");
        let mut more = [0u8; 1];
        assert!(
            blob.read_exact(&mut more).await.is_err(),
            "nothing after the end"
        );
        out
    }

    async fn keys(memory: &InMemory) -> Vec<String> {
        let mut keys: Vec<String> = memory
            .list(None)
            .map_ok(|meta| meta.location.to_string())
            .try_collect()
            .await
            .expect("list");
        keys.sort();
        keys
    }

    /// Reads `len` bytes in pieces of `step` (the last one shorter).
    async fn read_in_pieces(blob: &mut BlobRead, len: usize, step: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(len);
        while out.len() < len {
            let piece = blob
                .read_bytes(step.min(len - out.len()))
                .await
                .expect("read");
            out.extend_from_slice(&piece);
        }
        out
    }

    #[tokio::test]
    async fn local_reads_cut_across_read_ahead_buffers_and_restart() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = BlobStore::new(dir.path().join("documents")).expect("store");
        let tenant = TenantId::new();
        // Three and a half read-ahead buffers, read in pieces that never line up with them.
        let data = sample(3 * LOCAL_IO_BUFFER + LOCAL_IO_BUFFER / 2 + 7);
        store_blob(&store, tenant, "big.blob", &data, 100_000).await;
        let mut blob = store
            .open(tenant, "big.blob")
            .await
            .expect("open")
            .expect("exists");
        let mut header = [0u8; 21];
        blob.read_exact(&mut header).await.expect("header");
        assert_eq!(&header[..], &data[..21]);
        let rest = read_in_pieces(&mut blob, data.len() - 21, 65_552).await;
        assert!(rest == data[21..], "every byte in order");
        assert!(blob.read_bytes(1).await.is_err(), "nothing after the end");

        // Back to the start of the body while a read ahead is under way: the same bytes again.
        blob.restart_at(21).await.expect("restart");
        let _ = blob.read_bytes(65_552).await.expect("read");
        blob.restart_at(21).await.expect("restart mid-way");
        let again = read_in_pieces(&mut blob, data.len() - 21, 65_552).await;
        assert!(again == data[21..], "the same bytes after a restart");

        // A file cut short under the reader is an error, not a short read.
        let path = store.tenant_dir(tenant).join("big.blob");
        let mut blob = store
            .open(tenant, "big.blob")
            .await
            .expect("open")
            .expect("exists");
        std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .expect("open for writing")
            .set_len(LOCAL_IO_BUFFER as u64 + 10)
            .expect("truncate");
        let err = read_in_pieces_checked(&mut blob, data.len(), 65_552).await;
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof, "{err}");
    }

    async fn read_in_pieces_checked(blob: &mut BlobRead, len: usize, step: usize) -> io::Error {
        let mut read = 0;
        while read < len {
            match blob.read_bytes(step.min(len - read)).await {
                Ok(piece) => read += piece.len(),
                Err(err) => return err,
            }
        }
        panic!("read {read} bytes of a file cut to less");
    }

    #[tokio::test]
    async fn large_local_uploads_flush_as_they_go_and_read_back_whole() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = BlobStore::new(dir.path().join("documents")).expect("store");
        let tenant = TenantId::new();
        let data = sample(2 * FLUSH_AFTER + 3 * LOCAL_IO_BUFFER + 11);

        // Past FLUSH_AFTER (and the buffer being written behind), a flush is under way or done.
        let mut upload = store.begin_upload(tenant, "big.blob").await.expect("begin");
        let flushed_at = FLUSH_AFTER + 2 * LOCAL_IO_BUFFER;
        for piece in data[..flushed_at].chunks(300 * 1024) {
            upload.write(piece).await.expect("write");
        }
        match &upload.0 {
            Upload::Local(local) => assert!(local.flushing.is_some(), "an early flush started"),
            Upload::Remote(_) => unreachable!("a local store"),
        }
        for piece in data[flushed_at..].chunks(300 * 1024) {
            upload.write(piece).await.expect("write");
        }
        upload.commit().await.expect("commit");
        assert!(
            read_all(&store, tenant, "big.blob").await == data,
            "read back whole"
        );

        // Dropped after its early flushes, an upload still leaves nothing behind.
        let mut dropped = store
            .begin_upload(tenant, "dropped.blob")
            .await
            .expect("begin");
        for piece in data.chunks(LOCAL_IO_BUFFER) {
            dropped.write(piece).await.expect("write");
        }
        drop(dropped);
        let listed = store.list_tenant(tenant, |_| true).await.expect("list");
        let names: Vec<_> = listed.iter().map(|blob| blob.name.as_str()).collect();
        assert_eq!(names, ["big.blob"]);
    }

    #[tokio::test]
    async fn local_blobs_appear_only_when_committed() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = BlobStore::new(dir.path().join("documents")).expect("store");
        let tenant = TenantId::new();
        let mut upload = store.begin_upload(tenant, "a.blob").await.expect("begin");
        upload.write(b"hello ").await.expect("write");
        let temps = store.list_tenant(tenant, |_| true).await.expect("list");
        assert_eq!(temps.len(), 1);
        assert!(temps[0].is_temp() && temps[0].modified.is_some());
        drop(upload);
        assert!(
            store
                .list_tenant(tenant, |_| true)
                .await
                .expect("list")
                .is_empty()
        );

        store_blob(&store, tenant, "a.blob", b"hello world", 4).await;
        assert_eq!(read_all(&store, tenant, "a.blob").await, b"hello world");
        let listed = store.list_tenant(tenant, |_| true).await.expect("list");
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].name, "a.blob");
        assert!(store.tenant_dir(tenant).join("a.blob").is_file());

        let mut blob = store
            .open(tenant, "a.blob")
            .await
            .expect("open")
            .expect("exists");
        let mut head = [0u8; 5];
        blob.read_exact(&mut head).await.expect("read");
        blob.restart_at(6).await.expect("restart");
        let mut tail = [0u8; 5];
        blob.read_exact(&mut tail).await.expect("read");
        assert_eq!(&tail, b"world");

        assert!(
            store
                .open(tenant, "missing.blob")
                .await
                .expect("open")
                .is_none()
        );
        assert!(store.remove(tenant, "a.blob").await.expect("remove"));
        assert!(!store.remove(tenant, "a.blob").await.expect("remove again"));
        store_blob(&store, tenant, "b.blob", b"x", 1).await;
        store.delete_tenant(tenant).await.expect("delete");
        assert!(!store.tenant_dir(tenant).exists());
        store
            .delete_tenant(tenant)
            .await
            .expect("deleting twice is fine");
        store.check_writable().await.expect("writable");
    }

    #[tokio::test]
    async fn names_that_are_not_one_segment_are_refused() {
        let dir = tempfile::tempdir().expect("temp dir");
        let local = BlobStore::new(dir.path()).expect("store");
        let (remote, _) = memory_store("p");
        let tenant = TenantId::new();
        for store in [&local, &remote] {
            for name in ["", ".", "..", "../x.blob", "a/b", "a\\b"] {
                assert!(store.begin_upload(tenant, name).await.is_err(), "{name:?}");
                assert!(store.open(tenant, name).await.is_err(), "{name:?}");
                assert!(store.remove(tenant, name).await.is_err(), "{name:?}");
            }
        }
    }

    #[tokio::test]
    async fn small_remote_blobs_are_one_put_under_the_firm_prefix() {
        let (store, memory) = memory_store("portico/test");
        let tenant = TenantId::new();
        let data = sample(PART_SIZE);
        let mut upload = store
            .begin_upload(tenant, "small.blob")
            .await
            .expect("begin");
        for piece in data.chunks(100_000) {
            upload.write(piece).await.expect("write");
        }
        let Upload::Remote(remote) = &upload.0 else {
            panic!("remote upload");
        };
        assert!(
            remote.multipart.is_none(),
            "exactly one part is a single PUT"
        );
        assert!(
            keys(&memory).await.is_empty(),
            "nothing visible before commit"
        );
        upload.commit().await.expect("commit");
        assert_eq!(
            keys(&memory).await,
            vec![format!("portico/test/{tenant}/small.blob")]
        );
        assert_eq!(read_all(&store, tenant, "small.blob").await, data);
        let listed = store.list_tenant(tenant, |_| true).await.expect("list");
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].name, "small.blob");
        assert!(!listed[0].is_temp() && listed[0].modified.is_some());
    }

    #[tokio::test]
    async fn large_remote_blobs_stream_as_bounded_parts() {
        let (store, memory) = memory_store("");
        let tenant = TenantId::new();
        let data = sample(2 * PART_SIZE + 12_345);
        let mut upload = store
            .begin_upload(tenant, "large.blob")
            .await
            .expect("begin");
        for piece in data.chunks(64 * 1024 + 28) {
            upload.write(piece).await.expect("write");
            let Upload::Remote(remote) = &upload.0 else {
                panic!("remote upload");
            };
            assert!(remote.buffer.len() <= PART_SIZE);
            assert!(remote.buffer.capacity() <= PART_SIZE);
            let in_flight = remote.multipart.as_ref().map_or(0, |m| m.parts.len());
            assert!(in_flight <= PARTS_IN_FLIGHT);
        }
        assert!(
            keys(&memory).await.is_empty(),
            "nothing visible before commit"
        );
        upload.commit().await.expect("commit");
        assert_eq!(keys(&memory).await, vec![format!("{tenant}/large.blob")]);
        assert_eq!(read_all(&store, tenant, "large.blob").await, data);
    }

    #[tokio::test]
    async fn dropped_remote_uploads_leave_no_object() {
        let (store, memory) = memory_store("p");
        let tenant = TenantId::new();
        let mut upload = store
            .begin_upload(tenant, "gone.blob")
            .await
            .expect("begin");
        upload.write(&sample(PART_SIZE + 10)).await.expect("write");
        drop(upload);
        tokio::task::yield_now().await;
        assert!(keys(&memory).await.is_empty());
        assert!(
            store
                .open(tenant, "gone.blob")
                .await
                .expect("open")
                .is_none()
        );
    }

    #[tokio::test]
    async fn a_replaced_object_is_not_read_again() {
        let (store, _) = memory_store("p");
        let tenant = TenantId::new();
        store_blob(&store, tenant, "x.blob", b"first version", 5).await;
        let mut blob = store
            .open(tenant, "x.blob")
            .await
            .expect("open")
            .expect("exists");
        let mut all = [0u8; 13];
        blob.read_exact(&mut all).await.expect("read");
        blob.restart_at(6).await.expect("same version");
        let mut tail = [0u8; 7];
        blob.read_exact(&mut tail).await.expect("read");
        assert_eq!(&tail, b"version");
        store_blob(&store, tenant, "x.blob", b"other version", 5).await;
        assert!(blob.restart_at(6).await.is_err(), "replaced in between");
    }

    #[tokio::test]
    async fn remote_listing_removal_and_firm_deletion() {
        let (store, memory) = memory_store("p");
        let (firm, other) = (TenantId::new(), TenantId::new());
        store_blob(&store, firm, "a.blob", b"a", 1).await;
        store_blob(&store, firm, "b.blob", b"b", 1).await;
        store_blob(&store, other, "c.blob", b"c", 1).await;
        memory
            .put(
                &ObjectPath::from(format!("p/{firm}/nested/d.blob")),
                PutPayload::from_static(b"d"),
            )
            .await
            .expect("put");
        let mut names: Vec<String> = store
            .list_tenant(firm, |name| name != "b.blob")
            .await
            .expect("list")
            .into_iter()
            .map(|e| e.name)
            .collect();
        names.sort();
        assert_eq!(names, vec!["a.blob"], "direct children that are wanted");
        assert!(store.remove(firm, "a.blob").await.expect("remove"));
        store.delete_tenant(firm).await.expect("delete");
        assert_eq!(keys(&memory).await, vec![format!("p/{other}/c.blob")]);
        store.check_writable().await.expect("writable");
        assert_eq!(keys(&memory).await.len(), 1, "the probe is removed");
    }

    #[test]
    fn debug_names_the_bucket_but_no_credentials() {
        use figment::providers::Format;
        let mut settings = crate::Settings::from_figment(figment::Figment::from(
            figment::providers::Toml::string(crate::config::DEFAULT_CONFIG),
        ))
        .expect("defaults");
        settings.storage_backend.kind = StorageBackend::S3;
        let s3 = &mut settings.storage_backend.s3;
        s3.bucket = "docs".to_owned();
        s3.endpoint = "http://127.0.0.1:9".to_owned();
        s3.allow_http = true;
        s3.access_key_id = "AKIDEXAMPLE".to_owned();
        s3.secret_access_key = secrecy::SecretString::from("wJalrXUtnFEMIsecretvalue".to_owned());
        s3.prefix = "portico/prod".to_owned();
        let store = BlobStore::from_settings(&settings).expect("builds without contacting S3");
        let shown = format!("{store:?}");
        assert!(
            shown.contains("docs") && shown.contains("portico/prod"),
            "{shown}"
        );
        assert!(!shown.contains("wJalrXUtnFEMIsecretvalue"), "{shown}");
    }
}
