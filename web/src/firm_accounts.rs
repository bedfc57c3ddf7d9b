//! Member account flows shared by the pages and the API: setup and reset links, reset requests.

use std::time::Duration;

use portico_tenants::TenantRecord;
use portico_tenants::members::{self, LinkError, Member};
use portico_tenants::passwords;
use portico_tenants::throttle::{self, ThrottleKeys};
use portico_tenants::tokens::TokenPurpose;
use secrecy::{ExposeSecret, SecretString};

use crate::state::AppState;

#[derive(Debug, thiserror::Error)]
pub enum PasswordLinkError {
    #[error("this link has expired or has already been used; ask for a new one")]
    Unusable,
    #[error("{0}")]
    Rejected(String),
    #[error("{0}")]
    Internal(String),
}

impl From<LinkError> for PasswordLinkError {
    fn from(err: LinkError) -> Self {
        match err {
            LinkError::Unusable => PasswordLinkError::Unusable,
            LinkError::Db(err) => PasswordLinkError::Internal(err.to_string()),
        }
    }
}

fn internal(err: impl std::fmt::Display) -> PasswordLinkError {
    PasswordLinkError::Internal(err.to_string())
}

pub async fn complete_setup(
    state: &AppState,
    tenant: &TenantRecord,
    token: &str,
    password: &SecretString,
    ip: Option<String>,
) -> Result<Member, PasswordLinkError> {
    use_password_link(
        state,
        tenant,
        TokenPurpose::MemberSetup,
        token,
        password,
        ip,
    )
    .await
}

pub async fn complete_reset(
    state: &AppState,
    tenant: &TenantRecord,
    token: &str,
    password: &SecretString,
    ip: Option<String>,
) -> Result<Member, PasswordLinkError> {
    use_password_link(
        state,
        tenant,
        TokenPurpose::MemberReset,
        token,
        password,
        ip,
    )
    .await
}

/// The member a link belongs to, if it can still be used (for showing the page).
pub async fn link_holder(
    state: &AppState,
    tenant: &TenantRecord,
    purpose: TokenPurpose,
    token: &str,
) -> Result<Member, PasswordLinkError> {
    let tx = state.db.tenant(tenant.id).read().await.map_err(internal)?;
    let member = members::member_for_link(&tx, purpose, token).await?;
    tx.commit().await.map_err(internal)?;
    Ok(member)
}

async fn use_password_link(
    state: &AppState,
    tenant: &TenantRecord,
    purpose: TokenPurpose,
    token: &str,
    password: &SecretString,
    ip: Option<String>,
) -> Result<Member, PasswordLinkError> {
    let holder = link_holder(state, tenant, purpose, token).await?;
    passwords::check(
        password.expose_secret(),
        &[&holder.name, &holder.email, &tenant.name],
    )
    .map_err(|rejected| PasswordLinkError::Rejected(rejected.to_string()))?;
    let hash = state.passwords.hash(password).await.map_err(internal)?;
    let db = state.db.tenant(tenant.id);
    let tx = db.write().await.map_err(internal)?;
    let member = members::set_password_with_link(&tx, purpose, token, hash, ip).await?;
    tx.commit().await.map_err(internal)?;
    // A reset also lifts a lockout: the person has just proven they own the mailbox.
    let keys = ThrottleKeys::new("member", &member.email.to_lowercase(), None);
    throttle::clear_account(&db, &keys)
        .await
        .map_err(internal)?;
    Ok(member)
}

/// Queues a reset email if the address belongs to a member, without making the caller wait
/// for (or learn from) the lookup.
pub fn request_reset_in_background(state: &AppState, tenant: &TenantRecord, email: String) {
    let state = state.clone();
    let tenant = tenant.clone();
    tokio::spawn(async move {
        let valid_for = chrono::Duration::from_std(Duration::from_secs(
            state.settings.auth.password_reset_valid_secs,
        ))
        .unwrap_or_else(|_| chrono::Duration::hours(1));
        let result = async {
            let options = crate::firm_options::options_or_defaults(&state, &tenant).await;
            let tx = state.db.tenant(tenant.id).write().await?;
            let firm_name = options.portal_name(&tenant.name).to_owned();
            members::request_reset(&tx, &email, &tenant.portal_url, &firm_name, valid_for)
                .await
                .map_err(|e| sea_orm::DbErr::Custom(e.to_string()))?;
            tx.commit().await
        }
        .await;
        if let Err(err) = result {
            tracing::error!(tenant = %tenant.slug, error = %err, "password reset request failed");
        }
    });
}
