//! Firm slugs: the DNS label of a firm's Portal address.

/// Words that could be confused with platform hosts or services.
pub const RESERVED_SLUGS: &[&str] = &[
    "admin",
    "api",
    "app",
    "apps",
    "assets",
    "auth",
    "autoconfig",
    "autodiscover",
    "billing",
    "blog",
    "cdn",
    "console",
    "dashboard",
    "dev",
    "docs",
    "email",
    "ftp",
    "help",
    "imap",
    "login",
    "mail",
    "mx",
    "ns1",
    "ns2",
    "operator",
    "platform",
    "pop",
    "portal",
    "portico",
    "root",
    "smtp",
    "sso",
    "staging",
    "static",
    "status",
    "stripe",
    "support",
    "system",
    "test",
    "webhooks",
    "webmail",
    "www",
];

pub const MIN_LEN: usize = 3;
pub const MAX_LEN: usize = 40;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SlugError {
    #[error("slug must be {MIN_LEN} to {MAX_LEN} characters long")]
    Length,
    #[error(
        "slug may contain only lower-case letters a-z, digits and hyphens, and must start and end with a letter or digit"
    )]
    Characters,
    #[error("slug `{0}` is reserved")]
    Reserved(String),
}

/// A DNS label as hosts use it (any length up to 63); used when classifying hosts.
pub fn is_well_formed_label(label: &str) -> bool {
    !label.is_empty()
        && label.len() <= 63
        && label
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !label.starts_with('-')
        && !label.ends_with('-')
}

/// The rules for a new firm's slug.
pub fn validate_slug(slug: &str) -> Result<(), SlugError> {
    if !(MIN_LEN..=MAX_LEN).contains(&slug.len()) {
        return Err(SlugError::Length);
    }
    // Punycode labels (`xn--`) would let a slug look like another in a browser.
    if !is_well_formed_label(slug) || slug.starts_with("xn--") {
        return Err(SlugError::Characters);
    }
    if RESERVED_SLUGS.contains(&slug) {
        return Err(SlugError::Reserved(slug.to_owned()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slug_rules() {
        assert_eq!(validate_slug("acme"), Ok(()));
        assert_eq!(validate_slug("smith-and-jones-2"), Ok(()));
        assert_eq!(validate_slug("ab"), Err(SlugError::Length));
        assert_eq!(validate_slug(&"a".repeat(41)), Err(SlugError::Length));
        assert_eq!(validate_slug("Acme"), Err(SlugError::Characters));
        assert_eq!(validate_slug("-acme"), Err(SlugError::Characters));
        assert_eq!(validate_slug("acme-"), Err(SlugError::Characters));
        assert_eq!(validate_slug("ac.me"), Err(SlugError::Characters));
        assert_eq!(validate_slug("acmé"), Err(SlugError::Characters));
        assert_eq!(validate_slug("xn--acme"), Err(SlugError::Characters));
        assert_eq!(validate_slug("www"), Err(SlugError::Reserved("www".into())));
        assert_eq!(
            validate_slug("admin"),
            Err(SlugError::Reserved("admin".into()))
        );
    }
}
