//! Contacts: the firm's address book of people and companies. Every member of the firm sees
//! every contact; what a contact is linked to (the files where they are a client) is limited
//! to files the member can access (see [`crate::files`]).
//!
//! A contact has a name (required, at most 200 characters) and a list of email addresses (at
//! most 20, possibly none). Addresses keep the spelling and order the firm entered; a second
//! address differing only in letter case is dropped, so the list never holds the same mailbox
//! twice.

use chrono::{DateTime, Utc};
use portico_platform::ids::ContactId;
use portico_platform::{TenantActiveModel, TenantScoped, TenantTx};
use sea_orm::sea_query::{Expr, ExprTrait, Func, LikeExpr};
use sea_orm::{ActiveModelTrait, ActiveValue::Set, ColumnTrait, DbErr, QueryFilter, QueryOrder};
use serde::Serialize;

use crate::audit::{self, AuditEvent};
use crate::entity::contact;
use crate::members::Member;
use crate::registry::normalize_email;

pub const NAME_MAX: usize = 200;
pub const EMAILS_MAX: usize = 20;

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Contact {
    pub id: ContactId,
    pub name: String,
    pub emails: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<contact::Model> for Contact {
    fn from(row: contact::Model) -> Self {
        Self {
            id: ContactId::from_uuid(row.id),
            name: row.name,
            emails: emails_of(&row.emails),
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

fn emails_of(value: &serde_json::Value) -> Vec<String> {
    match value {
        serde_json::Value::Array(items) => items
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
        // SQLite stores the array as text; sea-orm may hand it back as a JSON string.
        serde_json::Value::String(text) => serde_json::from_str(text).unwrap_or_default(),
        _ => Vec::new(),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ContactError {
    #[error("{0}")]
    Invalid(String),
    #[error("not found")]
    NotFound,
    #[error(transparent)]
    Db(#[from] DbErr),
}

/// Which contacts to list.
#[derive(Clone, Debug, Default)]
pub struct ContactFilter {
    /// Case-insensitive part of the name.
    pub q: Option<String>,
    /// Only contacts with Portal access (the contact list's **Portal Users** filter).
    pub portal_users: bool,
}

/// The firm's contacts, by name.
///
/// Portal access is held through a Portal account, which the portal-access feature (Manage
/// Portal) creates; that feature applies the `portal_users` filter against the accounts it
/// stores. A contact without a Portal account does not have Portal access, and no contact has
/// one before that feature grants it, so the filter matches no contact here.
pub async fn list(tx: &TenantTx, filter: &ContactFilter) -> Result<Vec<Contact>, DbErr> {
    if filter.portal_users {
        return Ok(Vec::new());
    }
    let mut query = contact::Entity::scoped(tx);
    if let Some(q) = filter.q.as_deref().map(str::trim).filter(|q| !q.is_empty()) {
        query = query.filter(
            Expr::expr(Func::lower(Expr::col(contact::Column::Name))).like(contains_pattern(q)),
        );
    }
    let rows = query
        .order_by_asc(contact::Column::Name)
        .order_by_asc(contact::Column::Id)
        .all(tx.conn())
        .await?;
    Ok(rows.into_iter().map(Contact::from).collect())
}

/// `%part%` in lower case, with `%`, `_` and `\` taken literally.
pub(crate) fn contains_pattern(part: &str) -> LikeExpr {
    let mut escaped = String::with_capacity(part.len() + 2);
    escaped.push('%');
    for c in part.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped.push('%');
    LikeExpr::new(escaped).escape('\\')
}

pub async fn get(tx: &TenantTx, id: ContactId) -> Result<Option<Contact>, DbErr> {
    Ok(contact::Entity::scoped(tx)
        .filter(contact::Column::Id.eq(id.as_uuid()))
        .one(tx.conn())
        .await?
        .map(Contact::from))
}

#[derive(Clone, Debug, Default)]
pub struct NewContact {
    pub name: String,
    pub emails: Vec<String>,
}

pub async fn create(
    tx: &TenantTx,
    actor: &Member,
    new: NewContact,
    ip: Option<String>,
) -> Result<Contact, ContactError> {
    let name = contact_name(&new.name)?;
    let emails = normalize_emails(&new.emails)?;
    let now = Utc::now();
    let id = ContactId::new();
    let mut row = contact::ActiveModel::new_active(tx);
    row.id = Set(id.as_uuid());
    row.name = Set(name.clone());
    row.emails = Set(serde_json::json!(emails));
    row.created_at = Set(now);
    row.updated_at = Set(now);
    let inserted = row.insert(tx.conn()).await?;
    audit::record(
        tx,
        AuditEvent {
            actor: actor.actor(),
            action: "contact.created",
            target_kind: "contact",
            target_id: Some(id.to_string()),
            ip,
            detail: Some(serde_json::json!({"name": name, "emails": emails})),
        },
    )
    .await?;
    Ok(inserted.into())
}

/// A change to a contact; `None` leaves the field as it is, `Some(vec![])` removes every email.
#[derive(Clone, Debug, Default)]
pub struct ContactPatch {
    pub name: Option<String>,
    pub emails: Option<Vec<String>>,
}

pub async fn update(
    tx: &TenantTx,
    actor: &Member,
    id: ContactId,
    patch: ContactPatch,
    ip: Option<String>,
) -> Result<Contact, ContactError> {
    let row = contact::Entity::scoped(tx)
        .filter(contact::Column::Id.eq(id.as_uuid()))
        .one(tx.conn())
        .await?
        .ok_or(ContactError::NotFound)?;
    let before = Contact::from(row.clone());
    let mut changed = serde_json::Map::new();
    let mut change: contact::ActiveModel = row.into();
    if let Some(name) = patch.name {
        let name = contact_name(&name)?;
        if name != before.name {
            changed.insert(
                "name".into(),
                serde_json::json!({"from": before.name, "to": name}),
            );
            change.name = Set(name);
        }
    }
    if let Some(emails) = patch.emails {
        let emails = normalize_emails(&emails)?;
        if emails != before.emails {
            changed.insert(
                "emails".into(),
                serde_json::json!({"from": before.emails, "to": emails}),
            );
            change.emails = Set(serde_json::json!(emails));
        }
    }
    if changed.is_empty() {
        return Ok(before);
    }
    change.updated_at = Set(Utc::now());
    let updated = change.update(tx.conn()).await?;
    audit::record(
        tx,
        AuditEvent {
            actor: actor.actor(),
            action: "contact.updated",
            target_kind: "contact",
            target_id: Some(id.to_string()),
            ip,
            detail: Some(serde_json::Value::Object(changed)),
        },
    )
    .await?;
    Ok(updated.into())
}

fn contact_name(value: &str) -> Result<String, ContactError> {
    let value = value.trim();
    if value.is_empty() {
        return Err(ContactError::Invalid("name is required".into()));
    }
    if value.chars().count() > NAME_MAX {
        return Err(ContactError::Invalid(format!(
            "name must be at most {NAME_MAX} characters"
        )));
    }
    Ok(value.to_owned())
}

/// Validates a list of addresses: blanks are skipped, each must be a valid address, a repeat
/// (ignoring letter case) is dropped, and at most [`EMAILS_MAX`] remain.
pub fn normalize_emails(values: &[String]) -> Result<Vec<String>, ContactError> {
    let mut out: Vec<String> = Vec::new();
    for raw in values {
        let raw = raw.trim();
        if raw.is_empty() {
            continue;
        }
        let email = valid_email(raw).ok_or_else(|| {
            ContactError::Invalid(format!("`{raw}` is not a valid email address"))
        })?;
        if !out.iter().any(|e| e.to_lowercase() == email.to_lowercase()) {
            out.push(email);
        }
    }
    if out.len() > EMAILS_MAX {
        return Err(ContactError::Invalid(format!(
            "a contact can have at most {EMAILS_MAX} email addresses"
        )));
    }
    Ok(out)
}

/// The registry's address check, plus the characters that would make an address ambiguous in
/// a list or a mail header.
fn valid_email(raw: &str) -> Option<String> {
    let email = normalize_email(raw)?;
    if email.chars().any(|c| {
        matches!(
            c,
            ',' | ';' | '<' | '>' | '"' | '(' | ')' | '[' | ']' | '\\'
        ) || c.is_control()
    }) {
        return None;
    }
    let (_, domain) = email.split_once('@')?;
    if domain.starts_with('.') || domain.ends_with('.') || domain.contains("..") {
        return None;
    }
    Some(email)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_validated_and_deduplicated_ignoring_case() {
        let list = normalize_emails(&[
            " ana@example.com ".into(),
            "".into(),
            "Ana@Example.COM".into(),
            "ana.b@firm.example".into(),
        ])
        .expect("valid");
        assert_eq!(
            list,
            vec![
                "ana@example.com".to_owned(),
                "ana.b@firm.example".to_owned()
            ]
        );
        for bad in [
            "ana",
            "ana@",
            "@example.com",
            "ana@example",
            "a b@example.com",
            "a,b@example.com",
            "ana@.example.com",
            "ana@example..com",
        ] {
            assert!(normalize_emails(&[bad.into()]).is_err(), "{bad} accepted");
        }
        let many: Vec<String> = (0..=EMAILS_MAX)
            .map(|i| format!("a{i}@example.com"))
            .collect();
        assert!(normalize_emails(&many).is_err());
        assert_eq!(
            normalize_emails(&many[..EMAILS_MAX]).expect("twenty").len(),
            EMAILS_MAX
        );
    }

    #[test]
    fn names_are_required_and_bounded() {
        assert!(contact_name("  ").is_err());
        assert!(contact_name(&"x".repeat(NAME_MAX + 1)).is_err());
        assert_eq!(contact_name("  Ana Client ").expect("valid"), "Ana Client");
    }

    #[test]
    fn search_patterns_take_wildcards_literally() {
        use sea_orm::sea_query::{Query, SqliteQueryBuilder};
        let sql = Query::select()
            .expr(Expr::val(1))
            .and_where(Expr::col(contact::Column::Name).like(contains_pattern("50%_A")))
            .to_string(SqliteQueryBuilder);
        assert!(sql.contains(r"'%50\%\_a%' ESCAPE '\'"), "{sql}");
    }
}
