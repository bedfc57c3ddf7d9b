//! Property tests of billing's untrusted inputs: webhook signature headers and bodies, and
//! money amounts. Whatever arrives, nothing panics or overflows, a genuine signature always
//! verifies and any change to the signed body is refused.

use portico_payments::ledger::parse_amount;
use portico_payments::mock::parse_event;
use portico_payments::provider::WebhookError;
use portico_payments::signature::{TOLERANCE_SECS, sign, verify};
use proptest::prelude::*;

const NOW: i64 = 1_800_000_000;

proptest! {
    #[test]
    fn any_header_is_answered_without_panicking(header in "\\PC{0,200}", body in any::<Vec<u8>>()) {
        let result = verify(&body, Some(&header), &["whsec_test"], NOW);
        // Random text is never a valid signature.
        prop_assert!(result.is_err());
    }

    #[test]
    fn genuine_signatures_verify_and_tampering_is_refused(
        body in proptest::collection::vec(any::<u8>(), 1..512),
        skew in -TOLERANCE_SECS..=TOLERANCE_SECS,
        flip in any::<prop::sample::Index>(),
    ) {
        let header = sign("whsec_test", &body, NOW + skew);
        prop_assert_eq!(verify(&body, Some(&header), &["whsec_test"], NOW), Ok(()));
        let mut tampered = body.clone();
        let at = flip.index(tampered.len());
        tampered[at] ^= 0x01;
        prop_assert_eq!(verify(&tampered, Some(&header), &["whsec_test"], NOW), Err(WebhookError::BadSignature));
        prop_assert_eq!(verify(&body, Some(&header), &["whsec_other"], NOW), Err(WebhookError::BadSignature));
    }

    #[test]
    fn stale_signatures_are_refused(body in any::<Vec<u8>>(), age in (TOLERANCE_SECS + 1)..100_000i64) {
        let header = sign("whsec_test", &body, NOW - age);
        prop_assert_eq!(verify(&body, Some(&header), &["whsec_test"], NOW), Err(WebhookError::Stale));
    }

    #[test]
    fn event_bodies_parse_or_are_refused(body in any::<Vec<u8>>()) {
        let _ = parse_event(&body);
    }

    #[test]
    fn typed_cards_are_checked_without_panicking(
        // A valid test card half the time, so the expiry and CVC checks are reached.
        number in prop_oneof![Just("4242 4242 4242 4242".to_owned()), "[0-9 -]{0,24}"],
        exp_month in any::<u32>(),
        exp_year in any::<i32>(),
        cvc in "\\PC{0,6}",
    ) {
        let card = portico_payments::mock::CardInput { card_number: number, exp_month, exp_year, cvc };
        if let Ok(digits) = portico_payments::mock::check_card(&card) {
            prop_assert!((12..=19).contains(&digits.len()));
            prop_assert!((1..=12).contains(&exp_month));
            prop_assert!((1000..=9999).contains(&exp_year));
        }
    }

    #[test]
    fn amounts_are_positive_and_bounded(amount in any::<i64>()) {
        match parse_amount(amount) {
            Ok(a) => prop_assert!(a > 0 && a <= portico_payments::invoices::MAX_AMOUNT),
            Err(_) => prop_assert!(amount <= 0 || amount > portico_payments::invoices::MAX_AMOUNT),
        }
    }
}
