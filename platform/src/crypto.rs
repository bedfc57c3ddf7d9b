//! Encryption at rest (SPEC §11): AES-256-GCM from `ring` driven by RustCrypto's `aead` traits
//! and STREAM construction ([`aes_gcm_ring`] says why), never hand-rolled.
//!
//! **Key hierarchy.** The platform *master key* (configuration `storage.master_key`) wraps one
//! random *tenant key* per firm (stored in `tenant_key.wrapped_key`, associated data: the firm's
//! id). The tenant key wraps one random *document key* per document (stored in
//! `document.wrapped_key`, associated data: firm id + document id). A wrapped key is
//! `version (1) ‖ nonce (12) ‖ AES-GCM(key) (32 + 16 tag)`.
//!
//! **Blob format.** `b"PDOC" ‖ version (1) ‖ nonce prefix (7)`, then the content in chunks of
//! [`CHUNK_LEN`] bytes sealed with the STREAM construction (`aead::stream`, big-endian 32-bit
//! counter and last-chunk flag in the nonce) under the document key, every chunk with firm id +
//! document id as associated data. Reordering, dropping, truncating or appending chunks, or
//! moving a blob (with its wrapped key) under another firm's or another document's row, makes
//! decryption fail. Each document key seals exactly one blob, so the nonce prefix never repeats
//! under a key.

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};

mod aes_gcm_ring;

use aead::generic_array::GenericArray;
use aead::rand_core::RngCore;
use aead::stream::{DecryptorBE32, EncryptorBE32};
use aead::{Aead, AeadCore, Key, KeyInit, Nonce, OsRng, Payload};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use secrecy::{ExposeSecret, SecretString};
use zeroize::Zeroizing;

use crate::config::{ConfigError, StorageSettings};
use crate::ids::{DocumentId, TenantId};
use aes_gcm_ring::Aes256GcmRing;

/// Every key in the hierarchy is an AES-256 key.
pub const KEY_LEN: usize = 32;
/// Plaintext bytes per sealed chunk (the last chunk may be shorter, or empty for an empty file).
pub const CHUNK_LEN: usize = 64 * 1024;
/// The GCM tag that follows every sealed chunk.
pub const TAG_LEN: usize = 16;
/// A full chunk as stored.
pub const SEALED_CHUNK_LEN: usize = CHUNK_LEN + TAG_LEN;
/// `b"PDOC"`, the format version and the 7-byte STREAM nonce prefix.
pub const HEADER_LEN: usize = 4 + 1 + NONCE_PREFIX_LEN;

const BLOB_MAGIC: &[u8; 4] = b"PDOC";
const BLOB_VERSION: u8 = 1;
/// AES-GCM's 12-byte nonce minus STREAM's 4-byte counter and 1-byte last-chunk flag.
const NONCE_PREFIX_LEN: usize = 7;
const WRAP_VERSION: u8 = 1;
const WRAP_NONCE_LEN: usize = 12;
/// The length of a wrapped key.
pub const WRAPPED_KEY_LEN: usize = 1 + WRAP_NONCE_LEN + KEY_LEN + TAG_LEN;

const MASTER_KEY_SETTING: &str = "storage.master_key";
/// The file `portico demo` keeps its generated master key in (inside the data directory).
pub const DEMO_KEY_FILE: &str = "master.key";

/// Decryption or encryption failed. Deliberately vague: the cause is a wrong key, a wrong row
/// (associated data) or tampered bytes, and the caller treats all of them as an integrity error.
#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    #[error("integrity check failed: {0}")]
    Integrity(&'static str),
    #[error("encryption failed")]
    Seal,
}

/// 32 secret bytes, wiped from memory when dropped.
struct RawKey(Zeroizing<[u8; KEY_LEN]>);

impl RawKey {
    fn generate() -> Self {
        let mut bytes = Zeroizing::new([0u8; KEY_LEN]);
        OsRng.fill_bytes(bytes.as_mut());
        Self(bytes)
    }

    fn from_slice(bytes: &[u8]) -> Option<Self> {
        let array: [u8; KEY_LEN] = bytes.try_into().ok()?;
        Some(Self(Zeroizing::new(array)))
    }

    fn cipher(&self) -> Aes256GcmRing {
        Aes256GcmRing::new(Key::<Aes256GcmRing>::from_slice(self.0.as_ref()))
    }

    /// `version ‖ nonce ‖ AES-GCM(inner)` under this key, bound to `aad`.
    fn wrap(&self, inner: &RawKey, aad: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let nonce = Aes256GcmRing::generate_nonce(&mut OsRng);
        let sealed = self
            .cipher()
            .encrypt(
                &nonce,
                Payload {
                    msg: inner.0.as_ref(),
                    aad,
                },
            )
            .map_err(|_| CryptoError::Seal)?;
        let mut out = Vec::with_capacity(WRAPPED_KEY_LEN);
        out.push(WRAP_VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    fn unwrap(&self, wrapped: &[u8], aad: &[u8]) -> Result<RawKey, CryptoError> {
        if wrapped.len() != WRAPPED_KEY_LEN || wrapped[0] != WRAP_VERSION {
            return Err(CryptoError::Integrity("malformed wrapped key"));
        }
        let (nonce, sealed) = wrapped[1..].split_at(WRAP_NONCE_LEN);
        let opened = Zeroizing::new(
            self.cipher()
                .decrypt(
                    Nonce::<Aes256GcmRing>::from_slice(nonce),
                    Payload { msg: sealed, aad },
                )
                .map_err(|_| CryptoError::Integrity("wrapped key does not open"))?,
        );
        RawKey::from_slice(&opened).ok_or(CryptoError::Integrity("wrapped key has a wrong length"))
    }
}

fn associated_data(purpose: &[u8], tenant: TenantId, document: Option<DocumentId>) -> Vec<u8> {
    let mut aad = Vec::with_capacity(purpose.len() + 32);
    aad.extend_from_slice(purpose);
    aad.extend_from_slice(tenant.as_uuid().as_bytes());
    if let Some(document) = document {
        aad.extend_from_slice(document.as_uuid().as_bytes());
    }
    aad
}

fn tenant_key_aad(tenant: TenantId) -> Vec<u8> {
    associated_data(b"portico/tenant-key/v1\0", tenant, None)
}

fn document_key_aad(tenant: TenantId, document: DocumentId) -> Vec<u8> {
    associated_data(b"portico/document-key/v1\0", tenant, Some(document))
}

fn blob_aad(tenant: TenantId, document: DocumentId) -> Vec<u8> {
    associated_data(b"portico/document-blob/v1\0", tenant, Some(document))
}

/// The platform master key (`storage.master_key`).
pub struct MasterKey(RawKey);

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey(…)")
    }
}

/// Why a configured master key is unusable (never echoes the value).
#[derive(Debug, thiserror::Error)]
pub enum MasterKeyError {
    #[error("is not valid base64 (expected 32 random bytes, e.g. `openssl rand -base64 32`)")]
    NotBase64,
    #[error("must decode to exactly 32 bytes (it decodes to {0}); use `openssl rand -base64 32`")]
    WrongLength(usize),
}

impl MasterKey {
    pub fn generate() -> Self {
        Self(RawKey::generate())
    }

    pub fn from_base64(text: &str) -> Result<Self, MasterKeyError> {
        let bytes = Zeroizing::new(
            BASE64
                .decode(text.trim())
                .map_err(|_| MasterKeyError::NotBase64)?,
        );
        RawKey::from_slice(&bytes)
            .map(Self)
            .ok_or(MasterKeyError::WrongLength(bytes.len()))
    }

    pub fn to_base64(&self) -> SecretString {
        SecretString::from(BASE64.encode(self.0.0.as_ref()))
    }

    /// The configured key. `serve` calls this at start-up and stops on the error, which is one
    /// line naming `storage.master_key` (also when it is empty).
    pub fn from_settings(storage: &StorageSettings) -> Result<Self, ConfigError> {
        let text = storage.master_key.expose_secret();
        if text.trim().is_empty() {
            return Err(ConfigError::new(
                MASTER_KEY_SETTING,
                "required: base64 of 32 random bytes (e.g. `openssl rand -base64 32`); \
                 it encrypts the stored documents",
            ));
        }
        Self::from_base64(text).map_err(|err| ConfigError::new(MASTER_KEY_SETTING, err.to_string()))
    }

    pub fn wrap_tenant_key(
        &self,
        tenant: TenantId,
        key: &TenantKey,
    ) -> Result<Vec<u8>, CryptoError> {
        self.0.wrap(&key.0, &tenant_key_aad(tenant))
    }

    pub fn unwrap_tenant_key(
        &self,
        tenant: TenantId,
        wrapped: &[u8],
    ) -> Result<TenantKey, CryptoError> {
        self.0
            .unwrap(wrapped, &tenant_key_aad(tenant))
            .map(TenantKey)
    }
}

/// Start-up validation: an empty key is allowed here (`migrate`, `tenant …` and `demo` do not
/// need one configured), a malformed one is not.
pub(crate) fn validate_master_key_setting(storage: &StorageSettings) -> Result<(), ConfigError> {
    let text = storage.master_key.expose_secret();
    if text.trim().is_empty() {
        return Ok(());
    }
    MasterKey::from_base64(text)
        .map(|_| ())
        .map_err(|err| ConfigError::new(MASTER_KEY_SETTING, err.to_string()))
}

/// Where `portico demo` got its master key from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MasterKeySource {
    /// `storage.master_key` was configured; nothing was read or written.
    Configured,
    /// Read from the key file a previous run created.
    KeyFile(PathBuf),
    /// Generated now and saved to the key file (mode 0600).
    Generated(PathBuf),
}

#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    #[error("cannot read or create {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} does not hold a valid master key: {problem}")]
    Invalid {
        path: PathBuf,
        problem: MasterKeyError,
    },
}

/// For `portico demo`: when `storage.master_key` is empty, uses the key kept in
/// `<data_dir>/master.key`, generating and saving one (mode 0600, synced) on the first run, and
/// puts it into `storage.master_key`. Restarts therefore read the documents of earlier runs.
pub fn ensure_demo_master_key(
    storage: &mut StorageSettings,
    data_dir: &Path,
) -> Result<MasterKeySource, KeyFileError> {
    if !storage.master_key.expose_secret().trim().is_empty() {
        return Ok(MasterKeySource::Configured);
    }
    let path = data_dir.join(DEMO_KEY_FILE);
    let io = |source| KeyFileError::Io {
        path: path.clone(),
        source,
    };
    std::fs::create_dir_all(data_dir).map_err(io)?;
    let generated = MasterKey::generate();
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let source = match options.open(&path) {
        Ok(mut file) => {
            let text = generated.to_base64();
            file.write_all(text.expose_secret().as_bytes())
                .map_err(io)?;
            file.write_all(b"\n").map_err(io)?;
            file.sync_all().map_err(io)?;
            storage.master_key = text;
            MasterKeySource::Generated(path)
        }
        Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {
            let text = Zeroizing::new(std::fs::read_to_string(&path).map_err(io)?);
            let key = MasterKey::from_base64(&text).map_err(|problem| KeyFileError::Invalid {
                path: path.clone(),
                problem,
            })?;
            storage.master_key = key.to_base64();
            MasterKeySource::KeyFile(path)
        }
        Err(err) => return Err(io(err)),
    };
    Ok(source)
}

/// A firm's key (KEK): wraps the firm's document keys.
pub struct TenantKey(RawKey);

impl fmt::Debug for TenantKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TenantKey(…)")
    }
}

impl TenantKey {
    pub fn generate() -> Self {
        Self(RawKey::generate())
    }

    pub fn wrap_document_key(
        &self,
        tenant: TenantId,
        document: DocumentId,
        key: &DocumentKey,
    ) -> Result<Vec<u8>, CryptoError> {
        self.0.wrap(&key.0, &document_key_aad(tenant, document))
    }

    pub fn unwrap_document_key(
        &self,
        tenant: TenantId,
        document: DocumentId,
        wrapped: &[u8],
    ) -> Result<DocumentKey, CryptoError> {
        self.0
            .unwrap(wrapped, &document_key_aad(tenant, document))
            .map(DocumentKey)
    }
}

/// One document's key (DEK): seals exactly one blob.
pub struct DocumentKey(RawKey);

impl fmt::Debug for DocumentKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DocumentKey(…)")
    }
}

impl DocumentKey {
    pub fn generate() -> Self {
        Self(RawKey::generate())
    }

    /// Starts sealing a blob; write [`BlobSealer::header`] first, then what it produces.
    pub fn sealer(&self, tenant: TenantId, document: DocumentId) -> BlobSealer {
        let mut prefix = [0u8; NONCE_PREFIX_LEN];
        OsRng.fill_bytes(&mut prefix);
        let mut header = [0u8; HEADER_LEN];
        header[..4].copy_from_slice(BLOB_MAGIC);
        header[4] = BLOB_VERSION;
        header[5..].copy_from_slice(&prefix);
        BlobSealer {
            encryptor: EncryptorBE32::from_aead(self.0.cipher(), GenericArray::from_slice(&prefix)),
            aad: blob_aad(tenant, document),
            pending: Vec::with_capacity(SEALED_CHUNK_LEN),
            header,
            plaintext_len: 0,
        }
    }

    /// Starts opening a blob of `blob_len` bytes (header included) whose first
    /// [`HEADER_LEN`] bytes are `header`.
    pub fn opener(
        &self,
        tenant: TenantId,
        document: DocumentId,
        header: &[u8],
        blob_len: u64,
    ) -> Result<BlobOpener, CryptoError> {
        if header.len() != HEADER_LEN || &header[..4] != BLOB_MAGIC {
            return Err(CryptoError::Integrity("not a document blob"));
        }
        if header[4] != BLOB_VERSION {
            return Err(CryptoError::Integrity("unknown blob format version"));
        }
        let body = blob_len
            .checked_sub(HEADER_LEN as u64)
            .filter(|body| *body >= TAG_LEN as u64)
            .ok_or(CryptoError::Integrity("blob is truncated"))?;
        Ok(BlobOpener {
            decryptor: Some(DecryptorBE32::from_aead(
                self.0.cipher(),
                GenericArray::from_slice(&header[5..]),
            )),
            aad: blob_aad(tenant, document),
            remaining: body,
        })
    }
}

/// Seals plaintext as it arrives. Holds at most one chunk; a full chunk is sealed only once
/// more data shows it is not the last one.
pub struct BlobSealer {
    encryptor: EncryptorBE32<Aes256GcmRing>,
    aad: Vec<u8>,
    pending: Vec<u8>,
    header: [u8; HEADER_LEN],
    plaintext_len: u64,
}

impl BlobSealer {
    pub fn header(&self) -> &[u8] {
        &self.header
    }

    /// Takes more plaintext and appends every chunk it completes, sealed, to `out`.
    pub fn update(&mut self, mut data: &[u8], out: &mut Vec<u8>) -> Result<(), CryptoError> {
        self.plaintext_len += data.len() as u64;
        loop {
            if self.pending.len() == CHUNK_LEN && !data.is_empty() {
                self.encryptor
                    .encrypt_next_in_place(&self.aad, &mut self.pending)
                    .map_err(|_| CryptoError::Seal)?;
                out.extend_from_slice(&self.pending);
                self.pending.clear();
            }
            if data.is_empty() {
                return Ok(());
            }
            let take = (CHUNK_LEN - self.pending.len()).min(data.len());
            self.pending.extend_from_slice(&data[..take]);
            data = &data[take..];
        }
    }

    /// Seals the last chunk into `out`; returns the plaintext length.
    pub fn finish(mut self, out: &mut Vec<u8>) -> Result<u64, CryptoError> {
        self.encryptor
            .encrypt_last_in_place(&self.aad, &mut self.pending)
            .map_err(|_| CryptoError::Seal)?;
        out.extend_from_slice(&self.pending);
        Ok(self.plaintext_len)
    }
}

/// Opens a blob chunk by chunk, in order. The caller reads [`BlobOpener::next_chunk_len`]
/// bytes at a time (after the header) and hands them to [`BlobOpener::open_chunk`].
pub struct BlobOpener {
    decryptor: Option<DecryptorBE32<Aes256GcmRing>>,
    aad: Vec<u8>,
    remaining: u64,
}

impl BlobOpener {
    /// Length of the next sealed chunk; 0 once the last chunk has been opened.
    pub fn next_chunk_len(&self) -> usize {
        if self.decryptor.is_none() {
            return 0;
        }
        self.remaining.min(SEALED_CHUNK_LEN as u64) as usize
    }

    pub fn is_done(&self) -> bool {
        self.decryptor.is_none()
    }

    /// Authenticates and decrypts one chunk in place, leaving its plaintext in `chunk` (a
    /// `Vec<u8>`, or a `BytesMut` cut from a larger read so the plaintext is sent without a copy).
    pub fn open_chunk(&mut self, chunk: &mut impl aead::Buffer) -> Result<(), CryptoError> {
        let expected = self.next_chunk_len();
        if expected == 0 || chunk.len() != expected {
            return Err(CryptoError::Integrity("chunk boundary mismatch"));
        }
        self.remaining -= expected as u64;
        let last = self.remaining == 0;
        let tampered = |_| CryptoError::Integrity("a chunk failed authentication");
        if last {
            let decryptor = self
                .decryptor
                .take()
                .ok_or(CryptoError::Integrity("read past the last chunk"))?;
            decryptor
                .decrypt_last_in_place(&self.aad, chunk)
                .map_err(tampered)
        } else {
            let decryptor = self
                .decryptor
                .as_mut()
                .ok_or(CryptoError::Integrity("read past the last chunk"))?;
            decryptor
                .decrypt_next_in_place(&self.aad, chunk)
                .map_err(tampered)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seal(
        key: &DocumentKey,
        tenant: TenantId,
        doc: DocumentId,
        data: &[u8],
        step: usize,
    ) -> Vec<u8> {
        let mut sealer = key.sealer(tenant, doc);
        let mut blob = sealer.header().to_vec();
        for piece in data.chunks(step.max(1)) {
            sealer.update(piece, &mut blob).expect("seal");
        }
        assert_eq!(sealer.finish(&mut blob).expect("finish"), data.len() as u64);
        blob
    }

    fn open(
        key: &DocumentKey,
        tenant: TenantId,
        doc: DocumentId,
        blob: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        let mut opener = key.opener(
            tenant,
            doc,
            &blob[..HEADER_LEN.min(blob.len())],
            blob.len() as u64,
        )?;
        let mut at = HEADER_LEN;
        let mut plain = Vec::new();
        while !opener.is_done() {
            let len = opener.next_chunk_len();
            let mut chunk = blob[at..at + len].to_vec();
            at += len;
            opener.open_chunk(&mut chunk)?;
            plain.extend_from_slice(&chunk);
        }
        Ok(plain)
    }

    fn sample(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 7 % 251) as u8).collect()
    }

    #[test]
    fn blobs_round_trip_at_every_boundary() {
        let (tenant, doc, key) = (TenantId::new(), DocumentId::new(), DocumentKey::generate());
        for len in [
            0,
            1,
            CHUNK_LEN - 1,
            CHUNK_LEN,
            CHUNK_LEN + 1,
            3 * CHUNK_LEN,
            3 * CHUNK_LEN + 5,
        ] {
            for step in [1000, 4096, CHUNK_LEN, 3 * CHUNK_LEN + 7] {
                let data = sample(len);
                let blob = seal(&key, tenant, doc, &data, step);
                let chunks = len.div_ceil(CHUNK_LEN).max(1);
                assert_eq!(blob.len(), HEADER_LEN + len + chunks * TAG_LEN, "len {len}");
                assert_eq!(
                    open(&key, tenant, doc, &blob).expect("opens"),
                    data,
                    "len {len} step {step}"
                );
            }
        }
    }

    /// The same document key as RustCrypto's AES-256-GCM, the implementation blobs were
    /// first written with.
    fn rustcrypto_cipher(key: &RawKey) -> aes_gcm::Aes256Gcm {
        use aes_gcm::KeyInit;
        aes_gcm::Aes256Gcm::new(aes_gcm::Key::<aes_gcm::Aes256Gcm>::from_slice(
            key.0.as_ref(),
        ))
    }

    #[test]
    fn blobs_are_compatible_with_rustcrypto_aes_gcm_both_ways() {
        use aes_gcm::aead::stream::{DecryptorBE32, EncryptorBE32};
        let (tenant, doc, key) = (TenantId::new(), DocumentId::new(), DocumentKey::generate());
        let data = sample(2 * CHUNK_LEN + 999);
        let aad = blob_aad(tenant, doc);
        let with_aad = |msg| aes_gcm::aead::Payload { msg, aad: &aad };

        // Sealed here, opened by RustCrypto.
        let blob = seal(&key, tenant, doc, &data, 5000);
        let prefix = GenericArray::from_slice(&blob[5..HEADER_LEN]);
        let mut decryptor = DecryptorBE32::from_aead(rustcrypto_cipher(&key.0), prefix);
        let sealed: Vec<&[u8]> = blob[HEADER_LEN..].chunks(SEALED_CHUNK_LEN).collect();
        let mut opened = Vec::new();
        for chunk in &sealed[..sealed.len() - 1] {
            opened.extend(
                decryptor
                    .decrypt_next(with_aad(*chunk))
                    .expect("RustCrypto opens it"),
            );
        }
        opened.extend(
            decryptor
                .decrypt_last(with_aad(sealed[sealed.len() - 1]))
                .expect("RustCrypto opens the last chunk"),
        );
        assert_eq!(opened, data);

        // Sealed by RustCrypto (as blobs written before were), opened here.
        let mut old = blob[..HEADER_LEN].to_vec();
        let prefix = GenericArray::from_slice(&blob[5..HEADER_LEN]);
        let mut encryptor = EncryptorBE32::from_aead(rustcrypto_cipher(&key.0), prefix);
        let pieces: Vec<&[u8]> = data.chunks(CHUNK_LEN).collect();
        for piece in &pieces[..pieces.len() - 1] {
            old.extend(encryptor.encrypt_next(with_aad(*piece)).expect("seal"));
        }
        old.extend(
            encryptor
                .encrypt_last(with_aad(pieces[pieces.len() - 1]))
                .expect("seal last"),
        );
        assert_eq!(
            old, blob,
            "the same key and nonce prefix give the same bytes"
        );
        let mut tampered = old.clone();
        tampered[HEADER_LEN + 10] ^= 1;
        assert!(open(&key, tenant, doc, &tampered).is_err());
        assert_eq!(open(&key, tenant, doc, &old).expect("opens"), data);
    }

    #[test]
    fn wrapped_keys_are_compatible_with_rustcrypto_aes_gcm_both_ways() {
        use aes_gcm::aead::Aead as _;
        let (master, tenant) = (MasterKey::generate(), TenantId::new());
        let kek = TenantKey::generate();
        let aad = tenant_key_aad(tenant);

        let wrapped = master.wrap_tenant_key(tenant, &kek).expect("wrap");
        let (nonce, sealed) = wrapped[1..].split_at(WRAP_NONCE_LEN);
        let opened = rustcrypto_cipher(&master.0)
            .decrypt(
                aes_gcm::Nonce::from_slice(nonce),
                aes_gcm::aead::Payload {
                    msg: sealed,
                    aad: &aad,
                },
            )
            .expect("RustCrypto unwraps it");
        assert_eq!(opened.as_slice(), kek.0.0.as_ref());

        let nonce = [9u8; WRAP_NONCE_LEN];
        let sealed = rustcrypto_cipher(&master.0)
            .encrypt(
                aes_gcm::Nonce::from_slice(&nonce),
                aes_gcm::aead::Payload {
                    msg: kek.0.0.as_ref(),
                    aad: &aad,
                },
            )
            .expect("RustCrypto wraps");
        let old: Vec<u8> = [&[WRAP_VERSION][..], &nonce, &sealed].concat();
        let unwrapped = master.unwrap_tenant_key(tenant, &old).expect("unwraps");
        assert_eq!(unwrapped.0.0.as_ref(), kek.0.0.as_ref());
    }

    #[test]
    fn plaintext_does_not_appear_in_the_blob() {
        let (tenant, doc, key) = (TenantId::new(), DocumentId::new(), DocumentKey::generate());
        let marker = b"PLAINTEXT-MARKER-0123456789";
        let blob = seal(&key, tenant, doc, &marker.repeat(5000), 4096);
        assert!(!blob.windows(marker.len()).any(|w| w == marker));
    }

    #[test]
    fn any_flipped_byte_fails() {
        let (tenant, doc, key) = (TenantId::new(), DocumentId::new(), DocumentKey::generate());
        let blob = seal(&key, tenant, doc, &sample(2 * CHUNK_LEN + 100), 5000);
        for at in [
            0,
            4,
            5,
            HEADER_LEN,
            HEADER_LEN + CHUNK_LEN + 3,
            blob.len() - 1,
        ] {
            let mut bad = blob.clone();
            bad[at] ^= 0x01;
            assert!(open(&key, tenant, doc, &bad).is_err(), "flip at {at}");
        }
    }

    #[test]
    fn truncated_extended_or_moved_blobs_fail() {
        let (tenant, doc, key) = (TenantId::new(), DocumentId::new(), DocumentKey::generate());
        let blob = seal(&key, tenant, doc, &sample(2 * CHUNK_LEN), 5000);
        // Cut at a chunk boundary: the new last chunk was not sealed as the last one.
        assert!(open(&key, tenant, doc, &blob[..HEADER_LEN + SEALED_CHUNK_LEN]).is_err());
        assert!(open(&key, tenant, doc, &blob[..blob.len() - 1]).is_err());
        let mut longer = blob.clone();
        longer.extend_from_slice(&blob[HEADER_LEN..HEADER_LEN + SEALED_CHUNK_LEN]);
        assert!(open(&key, tenant, doc, &longer).is_err());
        assert!(
            open(&key, TenantId::new(), doc, &blob).is_err(),
            "another firm's row"
        );
        assert!(
            open(&key, tenant, DocumentId::new(), &blob).is_err(),
            "another document's row"
        );
        assert!(
            open(&DocumentKey::generate(), tenant, doc, &blob).is_err(),
            "another key"
        );
        assert!(
            open(&key, tenant, doc, &blob[..HEADER_LEN]).is_err(),
            "header only"
        );
    }

    #[test]
    fn keys_are_bound_to_their_firm_and_document() {
        let master = MasterKey::generate();
        let (tenant, doc) = (TenantId::new(), DocumentId::new());
        let kek = TenantKey::generate();
        let wrapped = master.wrap_tenant_key(tenant, &kek).expect("wrap");
        assert_eq!(wrapped.len(), WRAPPED_KEY_LEN);
        let kek = master.unwrap_tenant_key(tenant, &wrapped).expect("unwraps");
        assert!(master.unwrap_tenant_key(TenantId::new(), &wrapped).is_err());
        assert!(
            MasterKey::generate()
                .unwrap_tenant_key(tenant, &wrapped)
                .is_err()
        );

        let dek = DocumentKey::generate();
        let blob = seal(&dek, tenant, doc, b"hello", 3);
        let wrapped_dek = kek.wrap_document_key(tenant, doc, &dek).expect("wrap");
        let dek = kek
            .unwrap_document_key(tenant, doc, &wrapped_dek)
            .expect("unwraps");
        assert_eq!(open(&dek, tenant, doc, &blob).expect("opens"), b"hello");
        assert!(
            kek.unwrap_document_key(tenant, DocumentId::new(), &wrapped_dek)
                .is_err()
        );
        assert!(
            kek.unwrap_document_key(TenantId::new(), doc, &wrapped_dek)
                .is_err()
        );
        let mut flipped = wrapped_dek.clone();
        flipped[20] ^= 0x80;
        assert!(kek.unwrap_document_key(tenant, doc, &flipped).is_err());
    }

    #[test]
    fn master_key_parsing_names_the_setting_and_hides_the_value() {
        let good = MasterKey::generate().to_base64();
        assert!(MasterKey::from_base64(good.expose_secret()).is_ok());
        let storage = |key: &str| StorageSettings {
            dir: PathBuf::from("unused"),
            master_key: SecretString::from(key.to_owned()),
        };
        let empty = MasterKey::from_settings(&storage(""))
            .expect_err("empty")
            .to_string();
        assert!(
            empty.starts_with("configuration: storage.master_key: required"),
            "{empty}"
        );
        assert!(validate_master_key_setting(&storage("")).is_ok());
        for bad in ["not*base64*secretvalue", "c2hvcnQ="] {
            let msg = validate_master_key_setting(&storage(bad))
                .expect_err(bad)
                .to_string();
            assert!(
                msg.starts_with("configuration: storage.master_key:"),
                "{msg}"
            );
            assert!(!msg.contains(bad), "{msg}");
            assert_eq!(msg.lines().count(), 1);
        }
    }

    #[test]
    fn settings_reject_a_malformed_master_key() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("PORTICO_STORAGE__MASTER_KEY", "dG9vIHNob3J0");
            let err = crate::Settings::load(None)
                .expect_err("rejected")
                .to_string();
            assert!(
                err.starts_with("configuration: storage.master_key:"),
                "{err}"
            );
            Ok(())
        });
    }

    #[test]
    fn demo_key_file_is_created_once_and_reused() {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut storage = StorageSettings {
            dir: dir.path().join("documents"),
            master_key: SecretString::from(String::new()),
        };
        let first = ensure_demo_master_key(&mut storage, dir.path()).expect("generated");
        let path = dir.path().join(DEMO_KEY_FILE);
        assert_eq!(first, MasterKeySource::Generated(path.clone()));
        let key = storage.master_key.expose_secret().to_owned();
        assert!(MasterKey::from_base64(&key).is_ok());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let mut again = StorageSettings {
            dir: storage.dir.clone(),
            master_key: SecretString::from(String::new()),
        };
        assert_eq!(
            ensure_demo_master_key(&mut again, dir.path()).expect("read"),
            MasterKeySource::KeyFile(path.clone())
        );
        assert_eq!(again.master_key.expose_secret(), key);
        assert_eq!(
            ensure_demo_master_key(&mut again, dir.path()).expect("configured"),
            MasterKeySource::Configured
        );
        std::fs::write(&path, "garbage").expect("write");
        let mut broken = StorageSettings {
            dir: storage.dir,
            master_key: SecretString::from(String::new()),
        };
        let err = ensure_demo_master_key(&mut broken, dir.path()).expect_err("invalid");
        assert!(err.to_string().contains("master.key"), "{err}");
    }
}
