//! Client account flows shared by the Portal pages and the API: accepting an invitation,
//! password reset, confirming a new login email.

use std::time::Duration;

use portico_tenants::TenantRecord;
use portico_tenants::passwords;
use portico_tenants::portal_access::{self, Client, FirmContext, InvitationView};
use portico_tenants::throttle::{self, ThrottleKeys};
use portico_tenants::tokens::LinkError;
use secrecy::{ExposeSecret, SecretString};

use crate::firm_accounts::PasswordLinkError;
use crate::state::AppState;

fn internal(err: impl std::fmt::Display) -> PasswordLinkError {
    PasswordLinkError::Internal(err.to_string())
}

impl From<portico_tenants::portal_access::PortalError> for PasswordLinkError {
    fn from(err: portico_tenants::portal_access::PortalError) -> Self {
        PasswordLinkError::Internal(err.to_string())
    }
}

/// What invitation emails and pages need to know about the firm. Its options decide (a
/// closed Portal invites nobody; how long an invitation lasts), so they are the firm's or an
/// error, never the defaults.
pub async fn firm_context(
    state: &AppState,
    tenant: &TenantRecord,
) -> Result<FirmContext, sea_orm::DbErr> {
    let options = crate::firm_options::options(state, tenant).await?;
    Ok(FirmContext {
        portal_url: tenant.portal_url.clone(),
        firm_name: options.portal_name(&tenant.name).to_owned(),
        options: (*options).clone(),
    })
}

fn link_error(err: LinkError) -> PasswordLinkError {
    match err {
        LinkError::Unusable => PasswordLinkError::Unusable,
        LinkError::Db(err) => internal(err),
    }
}

pub async fn invitation(
    state: &AppState,
    tenant: &TenantRecord,
    token: &str,
) -> Result<InvitationView, PasswordLinkError> {
    let tx = state.db.tenant(tenant.id).read().await.map_err(internal)?;
    let view = portal_access::invitation(&tx, token)
        .await
        .map_err(link_error)?;
    tx.commit().await.map_err(internal)?;
    Ok(view)
}

/// Accepts an invitation: the terms must be accepted and the password must pass the policy.
pub async fn accept_invitation(
    state: &AppState,
    tenant: &TenantRecord,
    token: &str,
    accept_terms: bool,
    password: &SecretString,
) -> Result<Client, PasswordLinkError> {
    let holder = invitation(state, tenant, token).await?;
    if !accept_terms {
        return Err(PasswordLinkError::Rejected(
            "you must accept the terms of service to create your account".into(),
        ));
    }
    let firm = firm_context(state, tenant).await.map_err(internal)?;
    passwords::check(
        password.expose_secret(),
        &[&holder.name, &holder.login_email, &firm.firm_name],
    )
    .map_err(|r| PasswordLinkError::Rejected(r.to_string()))?;
    let hash = state.passwords.hash(password).await.map_err(internal)?;
    let tx = state.db.tenant(tenant.id).write().await.map_err(internal)?;
    let client = portal_access::accept_invitation(&tx, token, hash, &firm)
        .await
        .map_err(link_error)?;
    tx.commit().await.map_err(internal)?;
    Ok(client)
}

pub async fn reset_holder(
    state: &AppState,
    tenant: &TenantRecord,
    token: &str,
) -> Result<Client, PasswordLinkError> {
    let tx = state.db.tenant(tenant.id).read().await.map_err(internal)?;
    let client = portal_access::reset_holder(&tx, token)
        .await
        .map_err(link_error)?;
    tx.commit().await.map_err(internal)?;
    Ok(client)
}

pub async fn complete_reset(
    state: &AppState,
    tenant: &TenantRecord,
    token: &str,
    password: &SecretString,
) -> Result<Client, PasswordLinkError> {
    let holder = reset_holder(state, tenant, token).await?;
    let firm = firm_context(state, tenant).await.map_err(internal)?;
    passwords::check(
        password.expose_secret(),
        &[&holder.name, &holder.login_email, &firm.firm_name],
    )
    .map_err(|r| PasswordLinkError::Rejected(r.to_string()))?;
    let hash = state.passwords.hash(password).await.map_err(internal)?;
    let db = state.db.tenant(tenant.id);
    let tx = db.write().await.map_err(internal)?;
    let client = portal_access::reset_password(&tx, token, hash)
        .await
        .map_err(link_error)?;
    tx.commit().await.map_err(internal)?;
    let keys = ThrottleKeys::new("client", &client.login_email.to_lowercase(), None);
    throttle::clear_account(&db, &keys)
        .await
        .map_err(internal)?;
    Ok(client)
}

pub async fn verify_login_email(
    state: &AppState,
    tenant: &TenantRecord,
    token: &str,
) -> Result<Client, PasswordLinkError> {
    let tx = state.db.tenant(tenant.id).write().await.map_err(internal)?;
    let client = portal_access::verify_login_email(&tx, token)
        .await
        .map_err(link_error)?;
    tx.commit().await.map_err(internal)?;
    Ok(client)
}

/// Queues a client reset email if the address is an active login, in the background.
pub fn request_reset_in_background(state: &AppState, tenant: &TenantRecord, email: String) {
    let state = state.clone();
    let tenant = tenant.clone();
    tokio::spawn(async move {
        let valid_for = chrono::Duration::from_std(Duration::from_secs(
            state.settings.auth.password_reset_valid_secs,
        ))
        .unwrap_or_else(|_| chrono::Duration::hours(1));
        let result = async {
            let firm = firm_context(&state, &tenant).await.map_err(internal)?;
            let tx = state.db.tenant(tenant.id).write().await.map_err(internal)?;
            portal_access::request_reset(&tx, &email, &firm, valid_for).await?;
            tx.commit().await.map_err(internal)
        }
        .await;
        if let Err(err) = result {
            tracing::error!(tenant = %tenant.slug, error = %err, "client password reset request failed");
        }
    });
}
