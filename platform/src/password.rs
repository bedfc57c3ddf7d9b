//! Password hashing with Argon2id (OWASP: m=19 MiB, t=2, p=1) on dedicated threads of lower
//! CPU priority, one less than the cores: a login storm can neither take every core nor, on the
//! core it has, delay other requests — the scheduler runs them first and hashes with what is
//! left (bench/, login storm).

use std::sync::{Arc, Mutex, mpsc};

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::oneshot;

#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("password hashing failed")]
    Hashing,
}

type Job = Box<dyn FnOnce() + Send>;

#[derive(Clone)]
pub struct PasswordHasher {
    /// Hashing jobs, taken by the hashing threads in turn.
    jobs: mpsc::Sender<Job>,
    /// Verified against for unknown accounts so that "no such user" costs the same time.
    dummy_hash: Arc<str>,
}

fn argon2() -> Argon2<'static> {
    // OWASP Password Storage Cheat Sheet, first Argon2id option. The values are constants that
    // `Params::new` accepts, so the fallback is never taken; it keeps the function infallible.
    let params = Params::new(19_456, 2, 1, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Priority of the hashing threads on the library's 0–99 scale: 22 is niceness 10 on Linux, so
/// they get about a tenth of a core that other work wants — sign-ins slow down under load rather
/// than everything else, and still go on.
const HASHING_PRIORITY: u8 = 22;

fn spawn_hashing_threads(count: usize) -> mpsc::Sender<Job> {
    let (sender, receiver) = mpsc::channel::<Job>();
    let receiver = Arc::new(Mutex::new(receiver));
    for n in 0..count {
        let receiver = Arc::clone(&receiver);
        let spawned = std::thread::Builder::new()
            .name(format!("portico-argon2-{n}"))
            .spawn(move || {
                lower_priority();
                loop {
                    // A poisoned lock means another hashing thread panicked while waiting;
                    // the receiver itself is still sound.
                    let next = match receiver.lock() {
                        Ok(guard) => guard.recv(),
                        Err(poisoned) => poisoned.into_inner().recv(),
                    };
                    match next {
                        Ok(job) => job(),
                        // Every hasher is gone: the process is shutting down.
                        Err(_) => return,
                    }
                }
            });
        if let Err(err) = spawned {
            tracing::error!(error = %err, "could not start a password-hashing thread");
        }
    }
    sender
}

fn lower_priority() {
    use thread_priority::unix::{
        NormalThreadSchedulePolicy, ThreadSchedulePolicy, set_thread_priority_and_policy,
        thread_native_id,
    };
    use thread_priority::{ThreadPriority, ThreadPriorityValue};
    let lowered = ThreadPriorityValue::try_from(HASHING_PRIORITY)
        .map_err(|e| e.to_string())
        .and_then(|value| {
            set_thread_priority_and_policy(
                thread_native_id(),
                ThreadPriority::Crossplatform(value),
                ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Other),
            )
            .map_err(|e| e.to_string())
        });
    if let Err(err) = lowered {
        tracing::warn!(error = %err, "password hashing runs at normal priority");
    }
}

impl PasswordHasher {
    pub fn new() -> Self {
        // One core is always left to everything else: with a hash per core, a login storm
        // took every core and doubled other requests' p99 (bench/, login storm).
        let cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2);
        let dummy = hash_blocking("portico-dummy-password-for-timing")
            .unwrap_or_else(|_| String::from("$argon2id$v=19$m=19456,t=2,p=1$invalid"));
        Self {
            jobs: spawn_hashing_threads(cores.saturating_sub(1).max(1)),
            dummy_hash: dummy.into(),
        }
    }

    /// Runs `work` on a hashing thread and waits for its answer without blocking the runtime.
    async fn on_hashing_thread<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Option<T> {
        let (answer, answered) = oneshot::channel();
        let job: Job = Box::new(move || {
            let _ = answer.send(work());
        });
        self.jobs.send(job).ok()?;
        answered.await.ok()
    }

    pub async fn hash(&self, password: &SecretString) -> Result<String, PasswordError> {
        let password = password.expose_secret().to_owned();
        self.on_hashing_thread(move || hash_blocking(&password))
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
            .on_hashing_thread(move || {
                PasswordHash::new(&hash)
                    .map(|parsed| {
                        argon2()
                            .verify_password(password.as_bytes(), &parsed)
                            .is_ok()
                    })
                    .unwrap_or(false)
            })
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

fn hash_blocking(password: &str) -> Result<String, PasswordError> {
    let salt = SaltString::generate(&mut OsRng);
    argon2()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|_| PasswordError::Hashing)
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
