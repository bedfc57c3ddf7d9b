//! The audit-trail filter as pages and the API accept it: `actor` (a member id, `operator`,
//! `system` or `client`), `from` and `to` (inclusive dates, `YYYY-MM-DD`).

use chrono::{NaiveDate, TimeZone, Utc};
use portico_tenants::audit::AuditFilter;

pub const DEFAULT_LIMIT: u64 = 200;

pub fn parse(
    actor: Option<&str>,
    from: Option<&str>,
    to: Option<&str>,
    limit: Option<u64>,
) -> Result<AuditFilter, String> {
    let mut filter = AuditFilter {
        limit: limit.unwrap_or(DEFAULT_LIMIT).clamp(1, 1000),
        ..Default::default()
    };
    match actor.map(str::trim).filter(|a| !a.is_empty()) {
        None => {}
        Some(kind @ ("operator" | "system" | "client" | "member")) => {
            filter.actor_kind = Some(kind.to_owned())
        }
        Some(id) => {
            filter.actor_id = Some(id.parse().map_err(|_| {
                format!("actor `{id}` is not a member id, operator, system or client")
            })?);
        }
    }
    let day = |value: &str, field: &str| {
        NaiveDate::parse_from_str(value.trim(), "%Y-%m-%d")
            .map_err(|_| format!("{field} must be a date like 2026-01-31"))
    };
    if let Some(from) = from.filter(|v| !v.trim().is_empty()) {
        let date = day(from, "from")?;
        filter.from = date.and_hms_opt(0, 0, 0).map(|t| Utc.from_utc_datetime(&t));
    }
    if let Some(to) = to.filter(|v| !v.trim().is_empty()) {
        let date = day(to, "to")?;
        filter.until = date
            .succ_opt()
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .map(|t| Utc.from_utc_datetime(&t));
    }
    if let (Some(from), Some(until)) = (filter.from, filter.until)
        && from >= until
    {
        return Err("from must not be after to".into());
    }
    Ok(filter)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_explains() {
        let f = parse(
            Some("operator"),
            Some("2026-01-01"),
            Some("2026-01-31"),
            None,
        )
        .expect("valid");
        assert_eq!(f.actor_kind.as_deref(), Some("operator"));
        assert_eq!(
            f.until.expect("until").to_rfc3339(),
            "2026-02-01T00:00:00+00:00"
        );
        assert!(
            parse(Some("bob"), None, None, None)
                .unwrap_err()
                .contains("actor")
        );
        assert!(
            parse(None, Some("31/01/2026"), None, None)
                .unwrap_err()
                .contains("from")
        );
        assert!(parse(None, Some("2026-02-01"), Some("2026-01-01"), None).is_err());
    }
}
