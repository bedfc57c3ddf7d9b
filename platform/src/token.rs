//! Secret tokens (sessions, setup/reset/invitation links): 256 random bits, shown once, stored
//! only as a SHA-256 hash so a database dump cannot be replayed.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use rand::rngs::OsRng;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// A freshly generated token. Its `Debug` hides the value so it cannot leak into logs.
#[derive(Clone)]
pub struct RawToken(String);

impl RawToken {
    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        OsRng.fill_bytes(&mut bytes);
        Self(URL_SAFE_NO_PAD.encode(bytes))
    }

    /// The value to put in a link or cookie — the only place it ever appears.
    pub fn reveal(&self) -> &str {
        &self.0
    }

    pub fn hash(&self) -> TokenHash {
        TokenHash::of(&self.0)
    }
}

impl std::fmt::Debug for RawToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RawToken(..)")
    }
}

/// Hex SHA-256 of a token: what the database stores and lookups use. A fast hash is right here:
/// the token already has 256 bits of entropy, so there is nothing to brute-force.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TokenHash(String);

impl TokenHash {
    pub fn of(presented: &str) -> Self {
        Self(hex::encode(Sha256::digest(presented.as_bytes())))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Whether a presented token has the shape we issue (43 base64url chars); anything else can be
/// refused without a database round trip.
pub fn looks_like_token(presented: &str) -> bool {
    presented.len() == 43
        && presented
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Constant-time equality for shared secrets such as the operator token.
pub fn constant_time_eq(a: &str, b: &str) -> bool {
    // Hashing first makes the comparison length-independent as well.
    let a = Sha256::digest(a.as_bytes());
    let b = Sha256::digest(b.as_bytes());
    a.ct_eq(&b).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_urlsafe_and_hash_stably() {
        let a = RawToken::generate();
        let b = RawToken::generate();
        assert_ne!(a.reveal(), b.reveal());
        assert!(looks_like_token(a.reveal()));
        assert_eq!(
            URL_SAFE_NO_PAD.decode(a.reveal()).expect("b64").len() * 8,
            256
        );
        assert_eq!(a.hash(), TokenHash::of(a.reveal()));
        assert_ne!(a.hash().as_str(), a.reveal());
        assert_eq!(format!("{a:?}"), "RawToken(..)");
    }

    #[test]
    fn shape_check_and_constant_time_compare() {
        assert!(!looks_like_token("short"));
        assert!(!looks_like_token(&"a".repeat(42)));
        assert!(!looks_like_token(&format!("{}!", "a".repeat(42))));
        assert!(constant_time_eq("same-secret", "same-secret"));
        assert!(!constant_time_eq("same-secret", "same-secreT"));
        assert!(!constant_time_eq("same-secret", "same-secret-longer"));
    }
}
