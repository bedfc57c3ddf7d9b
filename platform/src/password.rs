//! Password hashing with Argon2id (OWASP: m=19 MiB, t=2, p=1) on dedicated threads that use
//! only CPU nothing else wants, one less than the cores, with a lane at lower priority that
//! steps in when they stall (`hashing_threads`): a login storm can neither take every core nor,
//! on the core it has, delay other requests (bench/, login storm).
//!
//! Each hashing thread keeps the 19 MiB Argon2 works in from one hash to the next, and lets it
//! go after 30 s without a hash. `Argon2::verify_password` would allocate and zero
//! 19 MiB for every sign-in — memory traffic of a fifth of the hash's own, taken from the
//! requests running on the other cores — and hand it back to the allocator, which returns it to
//! the kernel later from whichever thread frees next. The most held is one 19 MiB per hashing
//! thread. Hashing and verifying go
//! through the same `argon2` and `password-hash` types (`hash_password_into_with_memory`, the
//! PHC string, the constant-time `Output` comparison); only where the memory comes from
//! differs.

mod hashing_threads;

use std::sync::Arc;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{Output, ParamsString, PasswordHash, Salt, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use hashing_threads::{HashingThreads, RESCUE_AFTER};
use secrecy::{ExposeSecret, SecretString};

#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("password hashing failed")]
    Hashing,
}

/// The memory a hashing thread hashes in, kept between hashes (see the module comment).
#[derive(Default)]
struct Workspace {
    blocks: Vec<Block>,
}

impl Workspace {
    /// `count` blocks to hash in. Argon2 writes every block before it reads it, so what a
    /// previous hash left there needs no clearing.
    fn blocks(&mut self, count: usize) -> &mut [Block] {
        if self.blocks.len() < count {
            self.blocks = vec![Block::default(); count];
        }
        &mut self.blocks[..count]
    }

    fn release(&mut self) {
        self.blocks = Vec::new();
    }
}

#[derive(Clone)]
pub struct PasswordHasher {
    threads: Arc<HashingThreads>,
    /// Verified against for unknown accounts so that "no such user" costs the same time.
    dummy_hash: Arc<str>,
}

/// OWASP Password Storage Cheat Sheet, first Argon2id option.
fn params() -> Params {
    // The values are constants that `Params::new` accepts, so the fallback is never taken; it
    // keeps the function infallible.
    Params::new(19_456, 2, 1, Some(HASH_LEN)).unwrap_or_default()
}

/// Bytes of hash output stored (the `argon2` crate's default).
const HASH_LEN: usize = Params::DEFAULT_OUTPUT_LEN;

impl PasswordHasher {
    pub fn new() -> Self {
        // One core is always left to everything else: with a hash per core, a login storm
        // took every core and doubled other requests' p99 (bench/, login storm).
        let cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2);
        let dummy = hash_in(
            &mut Workspace::default(),
            "portico-dummy-password-for-timing",
        )
        .unwrap_or_else(|_| String::from("$argon2id$v=19$m=19456,t=2,p=1$invalid"));
        Self {
            threads: Arc::new(HashingThreads::start(
                cores.saturating_sub(1).max(1),
                RESCUE_AFTER,
            )),
            dummy_hash: dummy.into(),
        }
    }

    /// Runs `work` on a hashing thread and waits for its answer without blocking the runtime.
    async fn on_hashing_thread<T: Send + 'static>(
        &self,
        work: impl Fn(&mut Workspace) -> T + Send + Sync + 'static,
    ) -> Option<T> {
        self.threads.run(work).await
    }

    pub async fn hash(&self, password: &SecretString) -> Result<String, PasswordError> {
        let password = password.expose_secret().to_owned();
        self.on_hashing_thread(move |workspace| hash_in(workspace, &password))
            .await
            .ok_or(PasswordError::Hashing)?
    }

    /// Verifies `password` against `stored`, or against a dummy hash when there is no account,
    /// so both paths take the same time. Returns false for no account.
    pub async fn verify(&self, stored: Option<&str>, password: &SecretString) -> bool {
        let exists = stored.is_some();
        let hash = stored
            .map(str::to_owned)
            .unwrap_or_else(|| self.dummy_hash.to_string());
        let password = password.expose_secret().to_owned();
        let ok = self
            .on_hashing_thread(move |workspace| verify_in(workspace, &hash, &password))
            .await
            .unwrap_or(false);
        exists && ok
    }
}

impl Default for PasswordHasher {
    fn default() -> Self {
        Self::new()
    }
}

/// A new PHC string (`$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>`) for `password`, with a
/// fresh salt, hashed in `workspace`.
fn hash_in(workspace: &mut Workspace, password: &str) -> Result<String, PasswordError> {
    let params = params();
    let salt = SaltString::generate(&mut OsRng);
    let mut output = [0u8; HASH_LEN];
    let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    hash_into(workspace, &argon2, password, salt.as_salt(), &mut output)
        .ok_or(PasswordError::Hashing)?;
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&params).map_err(|_| PasswordError::Hashing)?,
        salt: Some(salt.as_salt()),
        hash: Some(Output::new(&output).map_err(|_| PasswordError::Hashing)?),
    };
    Ok(phc.to_string())
}

/// Whether `password` hashes to `stored` (a PHC string) with `stored`'s own algorithm, version,
/// parameters and salt, hashed in `workspace`; false for anything unparsable. What
/// `PasswordVerifier::verify_password` does, memory aside.
fn verify_in(workspace: &mut Workspace, stored: &str, password: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(stored) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
        return false;
    };
    let Ok(algorithm) = Algorithm::try_from(parsed.algorithm) else {
        return false;
    };
    let version = match parsed.version.map(Version::try_from).transpose() {
        Ok(version) => version.unwrap_or_default(),
        Err(_) => return false,
    };
    let Ok(params) = Params::try_from(&parsed) else {
        return false;
    };
    let mut computed = vec![0u8; expected.len()];
    let argon2 = Argon2::new(algorithm, version, params);
    // `Output`'s equality is constant-time.
    hash_into(workspace, &argon2, password, salt, &mut computed).is_some()
        && Output::new(&computed).is_ok_and(|computed| computed == expected)
}

/// Hashes `password` with `salt` into `output` (as long as the hash is to be) in `workspace`;
/// `None` where `argon2` refuses the inputs.
fn hash_into(
    workspace: &mut Workspace,
    argon2: &Argon2<'_>,
    password: &str,
    salt: Salt<'_>,
    output: &mut [u8],
) -> Option<()> {
    let mut salt_bytes = [0u8; Salt::MAX_LENGTH];
    let salt_bytes = salt.decode_b64(&mut salt_bytes).ok()?;
    let blocks = workspace.blocks(argon2.params().block_count());
    argon2
        .hash_password_into_with_memory(password.as_bytes(), salt_bytes, output, blocks)
        .ok()
}

#[cfg(test)]
mod tests {
    use super::hashing_threads::unpoisoned;
    use super::*;
    use std::sync::Mutex;

    #[tokio::test]
    async fn hashes_are_owasp_argon2id_salted_and_verify() {
        let hasher = PasswordHasher::new();
        let pw = SecretString::from("correct horse battery staple 🐴".repeat(4));
        let a = hasher.hash(&pw).await.expect("hash");
        let b = hasher.hash(&pw).await.expect("hash");
        assert!(a.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{a}");
        assert_ne!(a, b, "salted");
        assert!(hasher.verify(Some(&a), &pw).await);
        assert!(!hasher.verify(Some(&a), &SecretString::from("wrong")).await);
        assert!(!hasher.verify(None, &pw).await);
        assert!(!hasher.verify(Some("garbage"), &pw).await);
    }

    /// The rescue lane hashes and verifies as the idle lanes do, and each answer is given once.
    #[tokio::test]
    async fn the_rescue_lane_alone_hashes_and_verifies() {
        let hasher = PasswordHasher {
            threads: Arc::new(HashingThreads::start(0, std::time::Duration::ZERO)),
            dummy_hash: PasswordHasher::new().dummy_hash,
        };
        let pw = SecretString::from("rescued but not weakened");
        let hash = hasher.hash(&pw).await.expect("hash");
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hash}"
        );
        assert!(hasher.verify(Some(&hash), &pw).await);
        assert!(
            !hasher
                .verify(Some(&hash), &SecretString::from("wrong"))
                .await
        );
        assert!(!hasher.verify(None, &pw).await);
    }

    /// A job whose caller has gone away is skipped, not hashed.
    #[tokio::test]
    async fn a_job_no_one_waits_for_any_more_is_not_run() {
        let hasher = PasswordHasher {
            threads: Arc::new(HashingThreads::start(1, std::time::Duration::from_secs(60))),
            dummy_hash: Arc::from("unused"),
        };
        let (release, released) = std::sync::mpsc::channel::<()>();
        let released = Mutex::new(released);
        let mut blocker = Box::pin(hasher.on_hashing_thread(move |_| {
            let _ = unpoisoned(&released).recv();
        }));
        let runs = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counted = Arc::clone(&runs);
        let mut abandoned = Box::pin(hasher.on_hashing_thread(move |_| {
            counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }));
        // Both are queued behind the blocked idle lane (the first poll submits), then the
        // second caller gives up.
        assert!(futures::poll!(blocker.as_mut()).is_pending());
        assert!(futures::poll!(abandoned.as_mut()).is_pending());
        drop(abandoned);
        release.send(()).expect("the idle lane waits");
        assert_eq!(blocker.await, Some(()));
        assert_eq!(hasher.on_hashing_thread(|_| 7).await, Some(7));
        assert_eq!(runs.load(std::sync::atomic::Ordering::SeqCst), 0);
    }

    /// Hashes stored before the workspace was kept came from the `argon2` crate's own
    /// `hash_password`; they must still verify, and ours must verify through its verifier.
    #[test]
    fn hashes_match_the_crates_own_hasher_and_verifier_in_both_directions() {
        use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
        let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params());
        let salt = SaltString::generate(&mut OsRng);
        let theirs = argon2
            .hash_password(b"hunter2 but longer", &salt)
            .expect("hash")
            .to_string();
        let mut workspace = Workspace::default();
        assert!(verify_in(&mut workspace, &theirs, "hunter2 but longer"));
        assert!(!verify_in(&mut workspace, &theirs, "hunter3 but longer"));

        let ours = hash_in(&mut workspace, "hunter2 but longer").expect("hash");
        let parsed = PasswordHash::new(&ours).expect("a PHC string");
        assert!(
            argon2
                .verify_password(b"hunter2 but longer", &parsed)
                .is_ok()
        );
        assert!(
            argon2
                .verify_password(b"hunter3 but longer", &parsed)
                .is_err()
        );
    }

    /// The kept memory is reused as it is: what one hash left in it must not change the next
    /// one, whatever the parameters of each, and a released workspace starts over.
    #[test]
    fn a_reused_workspace_gives_the_same_answers_as_a_fresh_one() {
        use argon2::password_hash::PasswordHasher as _;
        let smaller = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(8_192, 3, 1, None).expect("params"),
        )
        .hash_password(b"older parameters", &SaltString::generate(&mut OsRng))
        .expect("hash")
        .to_string();
        let mut workspace = Workspace::default();
        let first = hash_in(&mut workspace, "first password").expect("hash");
        let second = hash_in(&mut workspace, "second password").expect("hash");
        assert!(verify_in(&mut workspace, &smaller, "older parameters"));
        assert!(verify_in(&mut workspace, &first, "first password"));
        assert!(!verify_in(&mut workspace, &first, "second password"));
        workspace.release();
        assert!(workspace.blocks.is_empty());
        assert!(verify_in(&mut workspace, &second, "second password"));
        assert!(verify_in(
            &mut Workspace::default(),
            &first,
            "first password"
        ));
        for unusable in [
            "",
            "$argon2id$v=19$m=19456,t=2,p=1$",
            "$scrypt$ln=15,r=8,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
            "$argon2id$v=7$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
        ] {
            assert!(
                !verify_in(&mut workspace, unusable, "first password"),
                "{unusable}"
            );
        }
    }
}
