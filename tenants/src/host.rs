//! Host → target classification. Pure string work, no I/O: the middleware resolves the slug
//! afterwards. Lower-cases, strips the port and one trailing dot, then matches exactly
//! `<slug>.<base_domain>` (a firm) or `<base_domain>` (the operator console).

use crate::slug::is_well_formed_label;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HostTarget {
    /// The bare base domain: operator console and API.
    Operator,
    /// `<slug>.<base_domain>`.
    Firm(String),
    /// Anything else (IP literals, other domains, nested subdomains): answered with 404.
    Unknown,
}

pub fn classify_host(raw: &str, base_domain: &str) -> HostTarget {
    let Some(host) = normalize_host(raw) else {
        return HostTarget::Unknown;
    };
    if host == base_domain {
        return HostTarget::Operator;
    }
    let Some(label) = host
        .strip_suffix(base_domain)
        .and_then(|rest| rest.strip_suffix('.'))
    else {
        return HostTarget::Unknown;
    };
    if is_well_formed_label(label) {
        HostTarget::Firm(label.to_owned())
    } else {
        HostTarget::Unknown
    }
}

/// Lower-case host without port or trailing dot; `None` for IPv6 literals and junk.
pub fn normalize_host(raw: &str) -> Option<String> {
    let raw = raw.trim();
    if raw.is_empty() || raw.starts_with('[') || raw.len() > 253 + 6 {
        return None;
    }
    let host = match raw.rsplit_once(':') {
        Some((host, port)) if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => host,
        Some(_) => return None,
        None => raw,
    };
    let host = host.strip_suffix('.').unwrap_or(host);
    if host.is_empty()
        || !host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
    {
        return None;
    }
    Some(host.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = "portico.example";

    #[test]
    fn firm_hosts_in_every_spelling() {
        for raw in [
            "acme.portico.example",
            "ACME.Portico.Example",
            "acme.portico.example:8443",
            "acme.portico.example.",
            "acme.portico.example.:80",
        ] {
            assert_eq!(
                classify_host(raw, BASE),
                HostTarget::Firm("acme".into()),
                "{raw}"
            );
        }
    }

    #[test]
    fn base_domain_is_the_operator() {
        assert_eq!(classify_host("portico.example", BASE), HostTarget::Operator);
        assert_eq!(
            classify_host("Portico.Example.:8080", BASE),
            HostTarget::Operator
        );
    }

    #[test]
    fn everything_else_is_unknown() {
        for raw in [
            "",
            "127.0.0.1",
            "127.0.0.1:8080",
            "[::1]:8080",
            "evil.example",
            "a.b.portico.example",
            "xportico.example",
            "acme.portico.example..",
            "acme.portico.example:",
            "acme.portico.example:80:80",
            "acme_1.portico.example",
            "-acme.portico.example",
            "acme .portico.example",
            "acme.portico.example/x",
        ] {
            assert_eq!(classify_host(raw, BASE), HostTarget::Unknown, "{raw:?}");
        }
    }
}
