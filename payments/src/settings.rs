//! Options > Billing: which provider a firm takes payments with, its currency, its Stripe
//! connected account, and the invoice-number counter. A firm that never saved the page bills
//! in USD through the mock provider.
//!
//! Webhooks arrive on no firm's host, so each provider account a firm uses is also registered
//! in the platform-level `payment_account` map (one account belongs to one firm: connecting an
//! account another firm already uses is refused).

use chrono::Utc;
use portico_platform::TenantTx;
use portico_platform::money::Currency;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter};

use crate::entity::{billing_settings, payment_account};
use crate::error::{BillingError, BillingResult};
use crate::mock;
use crate::provider::{ProviderAccount, ProviderKind};
use portico_platform::{TenantActiveModel, TenantScoped};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BillingSettings {
    pub provider: ProviderKind,
    pub currency: Currency,
    pub stripe_account_id: Option<String>,
}

impl BillingSettings {
    fn defaults() -> Self {
        Self {
            provider: ProviderKind::Mock,
            currency: crate::usd(),
            stripe_account_id: None,
        }
    }

    fn of(row: &billing_settings::Model) -> Self {
        let defaults = Self::defaults();
        Self {
            provider: ProviderKind::parse(&row.provider).unwrap_or(defaults.provider),
            currency: Currency::parse(&row.currency).unwrap_or(defaults.currency),
            stripe_account_id: row.stripe_account_id.clone(),
        }
    }
}

/// The currencies a firm can bill in (ISO 4217 codes with two minor-unit digits, which is what
/// the amounts on our pages assume).
pub const CURRENCIES: &[&str] = &["USD", "CAD", "EUR", "GBP", "AUD", "NZD", "CHF"];

pub fn parse_currency(code: &str) -> BillingResult<Currency> {
    let currency =
        Currency::parse(code.trim()).map_err(|e| BillingError::Invalid(e.to_string()))?;
    if CURRENCIES.contains(&currency.as_str()) {
        Ok(currency)
    } else {
        Err(BillingError::Invalid(format!(
            "currency must be one of {}",
            CURRENCIES.join(", ")
        )))
    }
}

pub async fn get(tx: &TenantTx) -> BillingResult<BillingSettings> {
    let row = billing_settings::Entity::scoped(tx).one(tx.conn()).await?;
    Ok(row
        .map(|r| BillingSettings::of(&r))
        .unwrap_or_else(BillingSettings::defaults))
}

/// The firm's account at `provider` (the mock gives every firm its own account).
pub fn account(tx: &TenantTx, settings: &BillingSettings) -> BillingResult<ProviderAccount> {
    match settings.provider {
        ProviderKind::Mock => Ok(ProviderAccount(mock::account_for_tenant(
            tx.tenant_id().as_uuid(),
        ))),
        ProviderKind::Stripe => settings
            .stripe_account_id
            .clone()
            .map(ProviderAccount)
            .ok_or_else(|| {
                BillingError::Conflict(
                    "online payments are not set up: the firm has not connected its Stripe account (Options > Billing)".into(),
                )
            }),
    }
}

fn valid_stripe_account(id: &str) -> bool {
    id.len() <= 64
        && id
            .strip_prefix("acct_")
            .is_some_and(|rest| !rest.is_empty() && rest.chars().all(|c| c.is_ascii_alphanumeric()))
}

/// Creates the row (with defaults) if the firm has none; a no-op otherwise.
async fn ensure_row(tx: &TenantTx) -> BillingResult<()> {
    let defaults = BillingSettings::defaults();
    let mut row = billing_settings::ActiveModel::new_active(tx);
    row.provider = Set(defaults.provider.as_str().to_owned());
    row.currency = Set(defaults.currency.as_str().to_owned());
    row.stripe_account_id = Set(None);
    row.next_invoice_number = Set(1);
    row.updated_at = Set(Utc::now());
    billing_settings::Entity::insert(row)
        .on_conflict_do_nothing()
        .exec(tx.conn())
        .await?;
    Ok(())
}

/// Registers `account` at `provider` as this firm's (idempotent); refuses an account that
/// belongs to another firm.
pub async fn register_account(
    tx: &TenantTx,
    provider: ProviderKind,
    account: &ProviderAccount,
) -> BillingResult<()> {
    let row = payment_account::ActiveModel {
        provider: Set(provider.as_str().to_owned()),
        account: Set(account.as_str().to_owned()),
        tenant_id: Set(tx.tenant_id().as_uuid()),
        created_at: Set(Utc::now()),
    };
    payment_account::Entity::insert(row)
        .on_conflict_do_nothing()
        .exec(tx.conn())
        .await?;
    // The map is platform-level (no tenant_id filter applies); read back who owns the account.
    #[allow(clippy::disallowed_methods)]
    let owner = payment_account::Entity::find_by_id((
        provider.as_str().to_owned(),
        account.as_str().to_owned(),
    ))
    .one(tx.conn())
    .await?;
    match owner {
        Some(owner) if owner.tenant_id == tx.tenant_id().as_uuid() => Ok(()),
        _ => Err(BillingError::Conflict(
            "that payment account is already connected to another firm".into(),
        )),
    }
}

/// Saves Options > Billing; returns the settings before and after (for the audit trail).
pub async fn update(
    tx: &TenantTx,
    provider: ProviderKind,
    currency: &str,
    stripe_account_id: Option<&str>,
) -> BillingResult<(BillingSettings, BillingSettings)> {
    let currency = parse_currency(currency)?;
    let stripe_account_id = stripe_account_id
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned);
    if let Some(id) = &stripe_account_id
        && !valid_stripe_account(id)
    {
        return Err(BillingError::Invalid(
            "stripe_account_id must be a Stripe connected account id such as acct_1A2b3C".into(),
        ));
    }
    if provider == ProviderKind::Stripe && stripe_account_id.is_none() {
        return Err(BillingError::Invalid(
            "stripe_account_id is required to take payments with Stripe".into(),
        ));
    }
    let before = get(tx).await?;
    ensure_row(tx).await?;
    if let Some(id) = &stripe_account_id {
        register_account(tx, ProviderKind::Stripe, &ProviderAccount(id.clone())).await?;
    }
    if before.stripe_account_id.is_some() && before.stripe_account_id != stripe_account_id {
        // The old account no longer routes webhooks to this firm.
        #[allow(clippy::disallowed_methods)]
        payment_account::Entity::delete_many()
            .filter(payment_account::Column::Provider.eq(ProviderKind::Stripe.as_str()))
            .filter(payment_account::Column::TenantId.eq(tx.tenant_id().as_uuid()))
            .filter(
                payment_account::Column::Account
                    .eq(before.stripe_account_id.clone().unwrap_or_default()),
            )
            .exec(tx.conn())
            .await?;
    }
    let after = BillingSettings {
        provider,
        currency,
        stripe_account_id,
    };
    ensure_account_registered(tx, &after).await?;
    billing_settings::Entity::scoped_update(tx)
        .col_expr(
            billing_settings::Column::Provider,
            Expr::value(provider.as_str()),
        )
        .col_expr(
            billing_settings::Column::Currency,
            Expr::value(currency.as_str()),
        )
        .col_expr(
            billing_settings::Column::StripeAccountId,
            Expr::value(after.stripe_account_id.clone()),
        )
        .col_expr(billing_settings::Column::UpdatedAt, Expr::value(Utc::now()))
        .exec(tx.conn())
        .await?;
    Ok((before, after))
}

/// The next invoice number of the firm (`INV-00001`, …). The counter row is updated in the
/// caller's transaction, so concurrent drafts wait for each other and numbers never repeat.
pub async fn next_invoice_number(tx: &TenantTx) -> BillingResult<String> {
    ensure_row(tx).await?;
    billing_settings::Entity::scoped_update(tx)
        .col_expr(
            billing_settings::Column::NextInvoiceNumber,
            Expr::col(billing_settings::Column::NextInvoiceNumber).add(1),
        )
        .exec(tx.conn())
        .await?;
    let row = billing_settings::Entity::scoped(tx)
        .one(tx.conn())
        .await?
        .ok_or_else(|| {
            BillingError::Db(sea_orm::DbErr::RecordNotFound("billing_settings".into()))
        })?;
    Ok(format!("INV-{:05}", row.next_invoice_number - 1))
}

/// Makes sure the mock account of this firm routes webhooks here (called before the mock is
/// used, so firms that never saved Options > Billing work too).
pub async fn ensure_account_registered(
    tx: &TenantTx,
    settings: &BillingSettings,
) -> BillingResult<ProviderAccount> {
    let account = account(tx, settings)?;
    if settings.provider == ProviderKind::Mock {
        register_account(tx, ProviderKind::Mock, &account).await?;
    }
    Ok(account)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stripe_account_ids_are_checked() {
        assert!(valid_stripe_account("acct_1A2b3C"));
        assert!(!valid_stripe_account("acct_"));
        assert!(!valid_stripe_account("cus_123"));
        assert!(!valid_stripe_account("acct_12 3"));
    }

    #[test]
    fn only_listed_currencies() {
        assert_eq!(parse_currency("usd").unwrap().as_str(), "USD");
        assert!(parse_currency("JPY").is_err());
        assert!(parse_currency("US").is_err());
    }
}
