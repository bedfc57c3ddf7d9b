//! Webhook signatures in Stripe's scheme, used by both providers: the header is
//! `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<payload>">[,v1=…]`. Any `v1` that matches is
//! accepted, because while a secret is being rotated Stripe signs with the old and the new one
//! (a verifier that keeps only one `v1` would refuse genuine events). Events older or newer than
//! the tolerance are refused so a captured request cannot be replayed later.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::provider::WebhookError;

/// Stripe's default tolerance.
pub const TOLERANCE_SECS: i64 = 300;

type HmacSha256 = Hmac<Sha256>;

fn mac(secret: &[u8], timestamp: i64, payload: &[u8]) -> HmacSha256 {
    // HMAC accepts keys of any length, so `new_from_slice` cannot fail.
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(payload);
    mac
}

/// Builds a valid header (the mock provider signs its events with it; tests too).
pub fn sign(secret: &str, payload: &[u8], timestamp: i64) -> String {
    let digest = mac(secret.as_bytes(), timestamp, payload)
        .finalize()
        .into_bytes();
    format!("t={timestamp},v1={}", hex::encode(digest))
}

/// Checks `header` against `secrets` (any secret, any `v1`) and the tolerance around `now`.
pub fn verify(
    payload: &[u8],
    header: Option<&str>,
    secrets: &[&str],
    now: i64,
) -> Result<(), WebhookError> {
    let header = header.ok_or(WebhookError::MissingSignature)?;
    if secrets.iter().all(|s| s.is_empty()) {
        return Err(WebhookError::NotConfigured);
    }
    let mut timestamp = None;
    let mut candidates = Vec::new();
    for part in header.split(',') {
        let (key, value) = part
            .trim()
            .split_once('=')
            .ok_or(WebhookError::MalformedSignature)?;
        match key {
            "t" => {
                timestamp = Some(
                    value
                        .parse::<i64>()
                        .map_err(|_| WebhookError::MalformedSignature)?,
                )
            }
            "v1" => {
                if let Ok(bytes) = hex::decode(value) {
                    candidates.push(bytes);
                }
            }
            // v0 (test-mode legacy) and future schemes are ignored, as Stripe's libraries do.
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or(WebhookError::MalformedSignature)?;
    if candidates.is_empty() {
        return Err(WebhookError::MalformedSignature);
    }
    let matches = secrets.iter().filter(|s| !s.is_empty()).any(|secret| {
        candidates.iter().any(|candidate| {
            // `verify_slice` compares in constant time.
            mac(secret.as_bytes(), timestamp, payload)
                .verify_slice(candidate)
                .is_ok()
        })
    });
    if !matches {
        return Err(WebhookError::BadSignature);
    }
    if (now - timestamp).abs() > TOLERANCE_SECS {
        return Err(WebhookError::Stale);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000;

    #[test]
    fn accepts_a_fresh_signature() {
        let header = sign("whsec_a", b"{}", NOW - 10);
        assert_eq!(verify(b"{}", Some(&header), &["whsec_a"], NOW), Ok(()));
    }

    #[test]
    fn accepts_any_matching_v1_during_rotation() {
        let old = sign("whsec_old", b"{}", NOW);
        let new = sign("whsec_new", b"{}", NOW);
        let new_v1 = new.split(',').nth(1).unwrap();
        let header = format!("{old},{new_v1}");
        assert_eq!(verify(b"{}", Some(&header), &["whsec_new"], NOW), Ok(()));
        assert_eq!(verify(b"{}", Some(&header), &["whsec_old"], NOW), Ok(()));
    }

    #[test]
    fn refuses_wrong_secret_tampered_payload_and_stale_time() {
        let header = sign("whsec_a", b"{}", NOW);
        assert_eq!(
            verify(b"{}", Some(&header), &["whsec_b"], NOW),
            Err(WebhookError::BadSignature)
        );
        assert_eq!(
            verify(b"{ }", Some(&header), &["whsec_a"], NOW),
            Err(WebhookError::BadSignature)
        );
        assert_eq!(
            verify(b"{}", Some(&header), &["whsec_a"], NOW + 301),
            Err(WebhookError::Stale)
        );
        assert_eq!(
            verify(b"{}", None, &["whsec_a"], NOW),
            Err(WebhookError::MissingSignature)
        );
        assert_eq!(
            verify(b"{}", Some("garbage"), &["whsec_a"], NOW),
            Err(WebhookError::MalformedSignature)
        );
        assert_eq!(
            verify(b"{}", Some(&header), &[""], NOW),
            Err(WebhookError::NotConfigured)
        );
    }
}
