//! The firm's Client Portal options as requests need them: cached per firm, invalidated when
//! the firm saves them; saving (validated, audited) and logo uploads, shared by the JSON API
//! and the options page.

use std::sync::Arc;

use poem::web::{Field, Multipart};
use portico_platform::TenantTx;
use portico_tenants::TenantRecord;
use portico_tenants::audit::{self, AuditEvent};
use portico_tenants::options::{self, FirmOptions, MAX_LOGO_BYTES, SHAREABLE_KINDS};
use sea_orm::DbErr;
use tokio::io::AsyncReadExt;

use crate::auth::MemberCtx;
use crate::state::AppState;

static DEFAULT_OPTIONS: std::sync::LazyLock<Arc<FirmOptions>> =
    std::sync::LazyLock::new(|| Arc::new(FirmOptions::default()));

/// The firm's options (the defaults if it never saved any), or the database error that kept
/// them from being read. Anything the options decide — who may sign in, what may be shared,
/// what is accepted — and anything shown for editing uses this: defaults in place of the
/// firm's would open what the firm closed, or be saved back as the firm's.
pub async fn options(state: &AppState, tenant: &TenantRecord) -> Result<Arc<FirmOptions>, DbErr> {
    if let Some(hit) = state.options_cache.get(tenant.id).await {
        return Ok(hit);
    }
    let seen = state.options_cache.generation();
    let tx = state.db.tenant(tenant.id).read().await?;
    let options = options::get(&tx).await?;
    tx.commit().await?;
    // Most firms keep the defaults: they all share one copy, so a cached firm costs a pointer
    // rather than its own copy of the default texts (idle memory per firm, bench/).
    let options = if options == **DEFAULT_OPTIONS {
        DEFAULT_OPTIONS.clone()
    } else {
        Arc::new(options)
    };
    state
        .options_cache
        .insert_loaded(tenant.id, options.clone(), seen)
        .await;
    Ok(options)
}

/// [`options`], or the defaults when they cannot be read (logged) — only where a default is
/// harmless and an error page would be worse: texts and branding (a sign-in page should still
/// render), never a decision.
pub async fn options_or_defaults(state: &AppState, tenant: &TenantRecord) -> Arc<FirmOptions> {
    match options(state, tenant).await {
        Ok(options) => options,
        Err(err) => {
            tracing::error!(tenant = %tenant.slug, error = %err, "loading firm options failed");
            DEFAULT_OPTIONS.clone()
        }
    }
}

/// [`options`] for a caller that holds a transaction of the firm: from the cache, else read in
/// `tx` — never with a second pooled connection, which a full pool would make the request wait
/// for while holding one (with every connection held so, for ever). Read in `tx`, the options
/// are not cached (`tx` may have begun before a save the cache was told of), and a failure is
/// the caller's error rather than the defaults.
pub async fn options_in(
    state: &AppState,
    tenant: &TenantRecord,
    tx: &TenantTx,
) -> Result<Arc<FirmOptions>, DbErr> {
    if let Some(hit) = state.options_cache.get(tenant.id).await {
        return Ok(hit);
    }
    Ok(Arc::new(options::get(tx).await?))
}

pub async fn invalidate(state: &AppState, tenant: &TenantRecord) {
    state.options_cache.invalidate(tenant.id).await;
    // Other nodes drop their copy too.
    state
        .invalidations
        .publish(portico_platform::invalidation::Invalidation::FirmOptions { tenant: tenant.id })
        .await;
}

/// Why options could not be saved.
#[derive(Debug, thiserror::Error)]
pub enum SaveError {
    /// A rule of [`FirmOptions::validate`]; the message names the field.
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Db(#[from] DbErr),
}

/// Validates and saves an administrator's options, records what changed in the audit trail in
/// the same transaction, and drops the cached copy so clients see the change at once. The logo
/// is not touched (see [`set_logo`]). Returns the options as stored.
pub async fn save(
    state: &AppState,
    ctx: &MemberCtx,
    mut new: FirmOptions,
) -> Result<FirmOptions, SaveError> {
    new.validate().map_err(SaveError::Invalid)?;
    // One entry per kind, in the product's order, whatever order the caller sent.
    new.shareable_kinds = SHAREABLE_KINDS
        .iter()
        .filter(|k| new.allows(k))
        .map(|k| (*k).to_owned())
        .collect();
    let tx = ctx.db.write().await?;
    let before = options::get(&tx).await?;
    options::save(&tx, &new).await?;
    let after = options::get(&tx).await?;
    let changed = changes(&before, &after);
    if !changed.is_empty() {
        audit::record(
            &tx,
            AuditEvent {
                actor: ctx.member.actor(),
                action: "options.updated",
                target_kind: "firm_options",
                target_id: None,
                ip: ctx.ip.clone(),
                detail: Some(serde_json::Value::Object(changed)),
            },
        )
        .await?;
    }
    tx.commit().await?;
    invalidate(state, &ctx.tenant).await;
    Ok(after)
}

/// `{field: {from, to}}` for every changed field. The two long texts only say that they
/// changed: the trail records who changed them and when, not a copy of every version.
fn changes(
    before: &FirmOptions,
    after: &FirmOptions,
) -> serde_json::Map<String, serde_json::Value> {
    use serde_json::json;
    let mut changed = serde_json::Map::new();
    let mut field = |name: &str, from: serde_json::Value, to: serde_json::Value| {
        if from != to {
            changed.insert(name.to_owned(), json!({"from": from, "to": to}));
        }
    };
    field(
        "enabled",
        json!(before.portal_enabled),
        json!(after.portal_enabled),
    );
    field(
        "invitation_valid_days",
        json!(before.invitation_valid_days),
        json!(after.invitation_valid_days),
    );
    field(
        "display_name",
        json!(before.display_name),
        json!(after.display_name),
    );
    field(
        "accent_color",
        json!(before.accent_color),
        json!(after.accent_color),
    );
    field(
        "welcome_message",
        json!(before.welcome_message),
        json!(after.welcome_message),
    );
    field(
        "shareable_kinds",
        json!(before.shareable_kinds),
        json!(after.shareable_kinds),
    );
    field(
        "notify_client_on_share",
        json!(before.notify_client_on_share),
        json!(after.notify_client_on_share),
    );
    field(
        "upload_limit_mb",
        json!(before.upload_limit_mb),
        json!(after.upload_limit_mb),
    );
    for (name, from, to) in [
        (
            "invitation_template",
            &before.invitation_template,
            &after.invitation_template,
        ),
        (
            "terms_of_service",
            &before.terms_of_service,
            &after.terms_of_service,
        ),
    ] {
        if from != to {
            changed.insert(name.to_owned(), json!({"changed": true}));
        }
    }
    changed
}

/// Stores (`Some`) or removes (`None`) the firm's logo, with its audit entry, and drops the
/// cached options (they say whether there is a logo).
pub async fn set_logo(state: &AppState, ctx: &MemberCtx, logo: Option<Logo>) -> Result<(), DbErr> {
    let tx = ctx.db.write().await?;
    let (action, detail) = match &logo {
        Some(logo) => (
            "options.logo_updated",
            Some(serde_json::json!({"content_type": logo.content_type, "bytes": logo.bytes.len()})),
        ),
        None => ("options.logo_removed", None),
    };
    options::set_logo(&tx, logo.map(|l| (l.content_type, l.bytes))).await?;
    audit::record(
        &tx,
        AuditEvent {
            actor: ctx.member.actor(),
            action,
            target_kind: "firm_options",
            target_id: None,
            ip: ctx.ip.clone(),
            detail,
        },
    )
    .await?;
    tx.commit().await?;
    invalidate(state, &ctx.tenant).await;
    Ok(())
}

/// An accepted logo: at most [`MAX_LOGO_BYTES`], of a type recognised from its content.
pub struct Logo {
    pub content_type: &'static str,
    pub bytes: Vec<u8>,
}

/// Why an uploaded logo was refused.
#[derive(Debug, thiserror::Error)]
pub enum LogoError {
    #[error("choose an image file to upload (form field `file`)")]
    Missing,
    #[error("the logo must be at most {} KB", MAX_LOGO_BYTES / 1024)]
    TooLarge,
    #[error("the logo must be a PNG, JPEG, GIF or WebP image (SVG is not accepted)")]
    Unsupported,
    #[error("the upload could not be read: {0}")]
    Unreadable(String),
}

/// A `multipart/form-data` logo upload: the `file` field and, for the HTML form, its `csrf`
/// field. Other fields are skipped.
pub struct LogoUpload {
    pub csrf: Option<String>,
    pub logo: Result<Logo, LogoError>,
}

/// How much of a refused upload is still read (and thrown away) so that the client, which is
/// usually still sending, receives the answer instead of a reset connection. Beyond this the
/// connection is simply closed.
const DRAIN_BYTES: u64 = 16 * MAX_LOGO_BYTES as u64;
/// Form fields other than the file are tiny.
const MAX_TEXT_FIELD_BYTES: usize = 4 * 1024;

/// Reads a logo upload, counting bytes as they arrive: the declared `Content-Length` (or its
/// absence, with a chunked body) is never trusted, and no more than [`MAX_LOGO_BYTES`] is held.
pub async fn read_logo_upload(multipart: &mut Multipart) -> LogoUpload {
    let mut upload = LogoUpload {
        csrf: None,
        logo: Err(LogoError::Missing),
    };
    loop {
        let field = match multipart.next_field().await {
            Ok(Some(field)) => field,
            Ok(None) => return upload,
            Err(err) => {
                upload.logo = Err(LogoError::Unreadable(err.to_string()));
                return upload;
            }
        };
        let name = field.name().unwrap_or_default().to_owned();
        let is_file = name == "file" && matches!(upload.logo, Err(LogoError::Missing));
        let cap = if is_file {
            MAX_LOGO_BYTES
        } else {
            MAX_TEXT_FIELD_BYTES
        };
        match read_capped(field, cap).await {
            Ok(Capped::Whole(bytes)) if is_file => {
                upload.logo = match options::sniff_logo(&bytes) {
                    Some(content_type) => Ok(Logo {
                        content_type,
                        bytes,
                    }),
                    None => Err(LogoError::Unsupported),
                };
            }
            Ok(Capped::Whole(bytes)) => {
                if name == "csrf" {
                    upload.csrf = String::from_utf8(bytes).ok();
                }
            }
            Ok(Capped::TooLarge) => {
                upload.logo = Err(LogoError::TooLarge);
                return upload;
            }
            Err(err) => {
                upload.logo = Err(LogoError::Unreadable(err.to_string()));
                return upload;
            }
        }
    }
}

enum Capped {
    Whole(Vec<u8>),
    TooLarge,
}

async fn read_capped(field: Field, cap: usize) -> std::io::Result<Capped> {
    let reader = field.into_async_read();
    tokio::pin!(reader);
    let mut bytes = Vec::new();
    (&mut reader)
        .take(cap as u64 + 1)
        .read_to_end(&mut bytes)
        .await?;
    if bytes.len() <= cap {
        return Ok(Capped::Whole(bytes));
    }
    drop(bytes);
    tokio::io::copy(&mut (&mut reader).take(DRAIN_BYTES), &mut tokio::io::sink()).await?;
    Ok(Capped::TooLarge)
}
