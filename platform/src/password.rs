//! Password hashing with Argon2id (OWASP: m=19 MiB, t=2, p=1), run off the async runtime behind
//! a semaphore of one less than the cores so a login storm cannot starve other requests or
//! memory.

use std::sync::Arc;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::Semaphore;

#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("password hashing failed")]
    Hashing,
}

#[derive(Clone)]
pub struct PasswordHasher {
    permits: Arc<Semaphore>,
    /// Verified against for unknown accounts so that "no such user" costs the same time.
    dummy_hash: Arc<str>,
}

fn argon2() -> Argon2<'static> {
    // OWASP Password Storage Cheat Sheet, first Argon2id option. The values are constants that
    // `Params::new` accepts, so the fallback is never taken; it keeps the function infallible.
    let params = Params::new(19_456, 2, 1, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

impl PasswordHasher {
    pub fn new() -> Self {
        // One core is always left to everything else: with a hash per core, a login storm
        // took every core and doubled other requests' p99 (bench/, login storm).
        let cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2);
        let permits = cores.saturating_sub(1).max(1);
        let dummy = hash_blocking("portico-dummy-password-for-timing")
            .unwrap_or_else(|_| String::from("$argon2id$v=19$m=19456,t=2,p=1$invalid"));
        Self {
            permits: Arc::new(Semaphore::new(permits)),
            dummy_hash: dummy.into(),
        }
    }

    pub async fn hash(&self, password: &SecretString) -> Result<String, PasswordError> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| PasswordError::Hashing)?;
        let password = password.expose_secret().to_owned();
        tokio::task::spawn_blocking(move || hash_blocking(&password))
            .await
            .map_err(|_| PasswordError::Hashing)?
    }

    /// Verifies `password` against `stored`, or against a dummy hash when there is no account,
    /// so both paths take the same time. Returns false for no account.
    pub async fn verify(&self, stored: Option<&str>, password: &SecretString) -> bool {
        let Ok(_permit) = self.permits.acquire().await else {
            return false;
        };
        let exists = stored.is_some();
        let hash = stored
            .map(str::to_owned)
            .unwrap_or_else(|| self.dummy_hash.to_string());
        let password = password.expose_secret().to_owned();
        let ok = tokio::task::spawn_blocking(move || {
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
