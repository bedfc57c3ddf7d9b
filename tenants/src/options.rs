//! Options > Client Portal: per-firm settings with documented defaults. A firm without a row
//! uses the defaults; the first save writes the row.

use chrono::Utc;
use portico_platform::{TenantActiveModel, TenantScoped, TenantTx};
use sea_orm::{ActiveModelTrait, ActiveValue::Set, DbErr};
use serde::{Deserialize, Serialize};

use crate::entity::firm_options;

/// The placeholder an invitation email must keep; it becomes the client's setup link.
pub const SETUP_LINK_PLACEHOLDER: &str = "{setup_link}";

pub const DEFAULT_INVITATION_TEMPLATE: &str = "Hello,\n\n\
We have opened a secure Client Portal for you, where you can see documents and information \
about your matter, send us documents and view your invoices.\n\n\
Create your account here (the link works once):\n{setup_link}\n\n\
Kind regards";

pub const DEFAULT_TERMS: &str = "By using this Client Portal you agree to keep your login \
details confidential and to use the portal only for matters handled by the firm.";

/// Item kinds a firm may allow to be shared.
pub const SHAREABLE_KINDS: &[&str] = &[
    "documents",
    "notes",
    "appointments",
    "tasks",
    "custom_fields",
    "bills",
];

pub const MAX_LOGO_BYTES: usize = 512 * 1024;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FirmOptions {
    pub portal_enabled: bool,
    pub invitation_valid_days: i32,
    pub invitation_template: String,
    pub terms_of_service: String,
    /// Name shown on the client pages; empty means the firm's registered name.
    pub display_name: String,
    /// `#rrggbb`.
    pub accent_color: String,
    pub welcome_message: String,
    pub shareable_kinds: Vec<String>,
    pub notify_client_on_share: bool,
    pub upload_limit_mb: i32,
    pub has_logo: bool,
}

impl Default for FirmOptions {
    fn default() -> Self {
        Self {
            portal_enabled: true,
            invitation_valid_days: 7,
            invitation_template: DEFAULT_INVITATION_TEMPLATE.to_owned(),
            terms_of_service: DEFAULT_TERMS.to_owned(),
            display_name: String::new(),
            accent_color: "#1f5f8b".to_owned(),
            welcome_message: "Welcome to your Client Portal.".to_owned(),
            shareable_kinds: SHAREABLE_KINDS.iter().map(|s| s.to_string()).collect(),
            notify_client_on_share: false,
            upload_limit_mb: 50,
            has_logo: false,
        }
    }
}

impl FirmOptions {
    /// The display name, falling back to the firm's registered name.
    pub fn portal_name<'a>(&'a self, firm_name: &'a str) -> &'a str {
        if self.display_name.trim().is_empty() {
            firm_name
        } else {
            &self.display_name
        }
    }

    pub fn allows(&self, kind: &str) -> bool {
        self.shareable_kinds.iter().any(|k| k == kind)
    }

    /// Checks every rule; the message names the field.
    pub fn validate(&self) -> Result<(), String> {
        if !(1..=90).contains(&self.invitation_valid_days) {
            return Err("invitation_valid_days must be between 1 and 90".into());
        }
        if !self.invitation_template.contains(SETUP_LINK_PLACEHOLDER) {
            return Err(format!(
                "invitation_template must contain the setup-link placeholder {SETUP_LINK_PLACEHOLDER}"
            ));
        }
        if self.invitation_template.chars().count() > 10_000 {
            return Err("invitation_template must be at most 10000 characters".into());
        }
        if self.terms_of_service.trim().is_empty() {
            return Err(
                "terms_of_service is required: clients accept it when they set up their account"
                    .into(),
            );
        }
        if self.terms_of_service.chars().count() > 50_000 {
            return Err("terms_of_service must be at most 50000 characters".into());
        }
        if self.display_name.chars().count() > 100 {
            return Err("display_name must be at most 100 characters".into());
        }
        if !is_hex_color(&self.accent_color) {
            return Err("accent_color must be a colour like #1f5f8b".into());
        }
        if self.welcome_message.chars().count() > 2_000 {
            return Err("welcome_message must be at most 2000 characters".into());
        }
        if let Some(kind) = self
            .shareable_kinds
            .iter()
            .find(|k| !SHAREABLE_KINDS.contains(&k.as_str()))
        {
            return Err(format!(
                "shareable_kinds: `{kind}` is not one of {}",
                SHAREABLE_KINDS.join(", ")
            ));
        }
        if !(1..=500).contains(&self.upload_limit_mb) {
            return Err("upload_limit_mb must be between 1 and 500".into());
        }
        Ok(())
    }
}

fn is_hex_color(value: &str) -> bool {
    value.len() == 7 && value.starts_with('#') && value[1..].bytes().all(|b| b.is_ascii_hexdigit())
}

fn from_row(row: &firm_options::Model) -> FirmOptions {
    FirmOptions {
        portal_enabled: row.portal_enabled,
        invitation_valid_days: row.invitation_valid_days,
        invitation_template: row.invitation_template.clone(),
        terms_of_service: row.terms_of_service.clone(),
        display_name: row.display_name.clone(),
        accent_color: row.accent_color.clone(),
        welcome_message: row.welcome_message.clone(),
        shareable_kinds: row
            .shareable_kinds
            .split(',')
            .filter(|k| !k.is_empty())
            .map(str::to_owned)
            .collect(),
        notify_client_on_share: row.notify_client_on_share,
        upload_limit_mb: row.upload_limit_mb,
        has_logo: row.logo.is_some(),
    }
}

pub async fn get(tx: &TenantTx) -> Result<FirmOptions, DbErr> {
    let row = firm_options::Entity::scoped(tx).one(tx.conn()).await?;
    Ok(row.as_ref().map(from_row).unwrap_or_default())
}

/// Saves `options` (validated by the caller with [`FirmOptions::validate`]); the logo is kept.
pub async fn save(tx: &TenantTx, options: &FirmOptions) -> Result<(), DbErr> {
    let existing = firm_options::Entity::scoped(tx).one(tx.conn()).await?;
    let mut row = match &existing {
        Some(row) => row.clone().into(),
        None => firm_options::ActiveModel::new_active(tx),
    };
    row.portal_enabled = Set(options.portal_enabled);
    row.invitation_valid_days = Set(options.invitation_valid_days);
    row.invitation_template = Set(options.invitation_template.clone());
    row.terms_of_service = Set(options.terms_of_service.clone());
    row.display_name = Set(options.display_name.trim().to_owned());
    row.accent_color = Set(options.accent_color.to_lowercase());
    row.welcome_message = Set(options.welcome_message.clone());
    row.shareable_kinds = Set(options.shareable_kinds.join(","));
    row.notify_client_on_share = Set(options.notify_client_on_share);
    row.upload_limit_mb = Set(options.upload_limit_mb);
    row.updated_at = Set(Utc::now());
    if existing.is_some() {
        row.update(tx.conn()).await?;
    } else {
        row.logo_content_type = Set(None);
        row.logo = Set(None);
        row.insert(tx.conn()).await?;
    }
    Ok(())
}

/// The image types a logo may have, recognised by their first bytes (never by name or by
/// the declared type). SVG is refused: it can carry script.
pub fn sniff_logo(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if bytes.starts_with(&[0xff, 0xd8, 0xff]) {
        Some("image/jpeg")
    } else if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
        Some("image/gif")
    } else if bytes.len() >= 12 && &bytes[0..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        Some("image/webp")
    } else {
        None
    }
}

/// Stores (or, with `None`, removes) the firm's logo. The caller checked size and type.
pub async fn set_logo(tx: &TenantTx, logo: Option<(&'static str, Vec<u8>)>) -> Result<(), DbErr> {
    if firm_options::Entity::scoped(tx)
        .one(tx.conn())
        .await?
        .is_none()
    {
        save(tx, &FirmOptions::default()).await?;
    }
    let row = firm_options::Entity::scoped(tx).one(tx.conn()).await?;
    let Some(row) = row else { return Ok(()) };
    let mut row: firm_options::ActiveModel = row.into();
    match logo {
        Some((content_type, bytes)) => {
            row.logo_content_type = Set(Some(content_type.to_owned()));
            row.logo = Set(Some(bytes));
        }
        None => {
            row.logo_content_type = Set(None);
            row.logo = Set(None);
        }
    }
    row.updated_at = Set(Utc::now());
    row.update(tx.conn()).await?;
    Ok(())
}

pub async fn logo(tx: &TenantTx) -> Result<Option<(String, Vec<u8>)>, DbErr> {
    let row = firm_options::Entity::scoped(tx).one(tx.conn()).await?;
    Ok(row.and_then(|r| Some((r.logo_content_type?, r.logo?))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_rules_name_fields() {
        assert_eq!(FirmOptions::default().validate(), Ok(()));
        let mut o = FirmOptions {
            invitation_template: "no link here".into(),
            ..Default::default()
        };
        assert!(o.validate().unwrap_err().contains("{setup_link}"));
        o = FirmOptions {
            accent_color: "red".into(),
            ..Default::default()
        };
        assert!(o.validate().unwrap_err().contains("accent_color"));
        o = FirmOptions {
            shareable_kinds: vec!["spells".into()],
            ..Default::default()
        };
        assert!(o.validate().unwrap_err().contains("spells"));
        o = FirmOptions {
            upload_limit_mb: 0,
            ..Default::default()
        };
        assert!(o.validate().unwrap_err().contains("upload_limit_mb"));
        o = FirmOptions {
            invitation_valid_days: 91,
            ..Default::default()
        };
        assert!(o.validate().unwrap_err().contains("invitation_valid_days"));
    }

    #[test]
    fn logos_are_recognised_by_content() {
        assert_eq!(sniff_logo(b"\x89PNG\r\n\x1a\nrest"), Some("image/png"));
        assert_eq!(sniff_logo(&[0xff, 0xd8, 0xff, 0xe0]), Some("image/jpeg"));
        assert_eq!(sniff_logo(b"<svg onload=alert(1)>"), None);
        assert_eq!(sniff_logo(b"<html>"), None);
    }
}
