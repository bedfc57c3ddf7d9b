//! Property tests of the parsers that see untrusted input first: the Host header, uploaded
//! file names and custom-field values. Whatever arrives, they never panic, and what they let
//! through has the shape the rest of the code relies on. The case count is proptest's default
//! (256 per property, a second or two in all); `PROPTEST_CASES` raises it for a longer run.

use chrono::Utc;
use portico_platform::ids::CustomFieldId;
use portico_tenants::custom_fields::{FieldDefinition, FieldKind};
use portico_tenants::documents::{FILENAME_MAX, sanitize_filename};
use portico_tenants::host::{HostTarget, classify_host, normalize_host};
use proptest::prelude::*;

const BASE: &str = "portico.example";

proptest! {
    #[test]
    fn host_normalisation_is_total_and_canonical(raw in any::<String>()) {
        if let Some(host) = normalize_host(&raw) {
            prop_assert!(!host.is_empty());
            prop_assert!(host.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.'));
            prop_assert!(!host.ends_with('.'));
            prop_assert_eq!(normalize_host(&host), Some(host.clone()), "idempotent");
        }
    }

    #[test]
    fn hosts_that_look_alike_resolve_alike(label in "[a-z][a-z0-9-]{1,20}[a-z0-9]", port in 1u16.., upper in any::<bool>(), dot in any::<bool>()) {
        let mut raw = format!("{label}.{BASE}");
        if upper {
            raw = raw.to_uppercase();
        }
        if dot {
            raw.push('.');
        }
        raw.push_str(&format!(":{port}"));
        let plain = classify_host(&format!("{label}.{BASE}"), BASE);
        prop_assert_eq!(classify_host(&raw, BASE), plain);
    }

    #[test]
    fn only_one_label_under_the_base_domain_is_a_firm(raw in "\\PC{0,80}") {
        match classify_host(&raw, BASE) {
            HostTarget::Firm(label) => {
                prop_assert!(!label.contains('.'));
                prop_assert_eq!(classify_host(&format!("{label}.{BASE}"), BASE), HostTarget::Firm(label.clone()));
            }
            HostTarget::Operator => {
                let host = normalize_host(&raw);
                prop_assert_eq!(host.as_deref(), Some(BASE));
            }
            HostTarget::Unknown => {}
        }
    }

    #[test]
    fn file_names_come_out_safe(raw in any::<String>()) {
        let name = sanitize_filename(&raw);
        prop_assert!(!name.is_empty());
        prop_assert!(name.chars().count() <= FILENAME_MAX);
        prop_assert!(!name.contains(['/', '\\', '<', '>', ':', '"', '|', '?', '*']));
        prop_assert!(!name.chars().any(char::is_control));
        let disguised = name.contains('\u{202e}') || name.contains('\u{200b}');
        prop_assert!(!disguised, "format characters kept");
        prop_assert!(!name.starts_with('.') && !name.ends_with('.'));
        prop_assert!(!name.contains(".."));
        prop_assert_eq!(sanitize_filename(&name), name.clone(), "idempotent");
    }

    #[test]
    fn custom_field_values_are_checked_and_stable(raw in "\\PC{0,40}", kind in 0usize..5) {
        let kinds = [FieldKind::Text, FieldKind::Number, FieldKind::Date, FieldKind::YesNo, FieldKind::Choice];
        let field = FieldDefinition {
            id: CustomFieldId::new(),
            name: "Field".into(),
            kind: kinds[kind],
            choices: vec!["Yes please".into(), "No".into()],
            file_type: None,
            created_at: Utc::now(),
        };
        match field.normalize(Some(&raw)) {
            Ok(Some(stored)) => {
                // What is stored is accepted again as itself.
                prop_assert_eq!(field.normalize(Some(&stored)), Ok(Some(stored.clone())));
                match field.kind {
                    FieldKind::Number => prop_assert!(stored.parse::<f64>().is_ok_and(f64::is_finite), "{}", stored),
                    FieldKind::Date => prop_assert!(chrono::NaiveDate::parse_from_str(&stored, "%Y-%m-%d").is_ok()),
                    FieldKind::YesNo => prop_assert!(stored == "true" || stored == "false"),
                    FieldKind::Choice => prop_assert!(field.choices.contains(&stored)),
                    FieldKind::Text => prop_assert!(!stored.trim().is_empty()),
                }
            }
            Ok(None) => prop_assert!(raw.trim().is_empty()),
            Err(message) => prop_assert!(message.starts_with("Field: ")),
        }
    }
}
