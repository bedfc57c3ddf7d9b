//! Saved payment methods of a client (the primary client of the files they pay for): the
//! two-step add (the provider's setup object, then the browser's token — in Stripe mode the
//! card number goes from the browser to Stripe and never reaches us), list, edit of the holder
//! details and expiry (never the number or the type), default, remove.
//!
//! These flows call the provider between short transactions (a database transaction is never
//! held open across a network call); every provider call carries an idempotency key derived
//! from our rows, so a retried request finds the provider's first answer.

use chrono::{Datelike, Utc};
use portico_platform::ids::{ContactId, PaymentMethodId};
use portico_platform::{TenantActiveModel, TenantDb, TenantScoped, TenantTx};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
};
use serde::Serialize;

use crate::entity::{billing_customer, payment_method, payment_method_setup};
use crate::error::{BillingError, BillingResult};
use crate::provider::{
    BillingAddress, CustomerDetails, MethodKind, MethodUpdate, ProviderAccount, ProviderKind,
    ProviderPaymentMethod,
};
use crate::registry::Providers;
use crate::settings::{self, BillingSettings};

/// The client adding or using methods, with the details the provider's customer gets.
#[derive(Clone, Debug)]
pub struct Payer {
    pub client: ContactId,
    pub name: String,
    pub email: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct SavedMethod {
    pub id: PaymentMethodId,
    pub provider: String,
    pub kind: MethodKind,
    pub brand: String,
    pub last4: String,
    pub exp_month: Option<i32>,
    pub exp_year: Option<i32>,
    pub holder_name: Option<String>,
    pub email: Option<String>,
    pub billing_address: BillingAddress,
    pub is_default: bool,
}

fn saved_of(row: payment_method::Model) -> SavedMethod {
    SavedMethod {
        id: PaymentMethodId::from_uuid(row.id),
        provider: row.provider,
        kind: MethodKind::parse(&row.kind).unwrap_or(MethodKind::Card),
        brand: row.brand,
        last4: row.last4,
        exp_month: row.exp_month,
        exp_year: row.exp_year,
        holder_name: row.holder_name,
        email: row.email,
        billing_address: serde_json::from_value(row.billing_address).unwrap_or_default(),
        is_default: row.is_default,
    }
}

/// What the browser needs for step two.
#[derive(Clone, Debug, Serialize)]
pub struct SetupStart {
    pub provider: ProviderKind,
    /// Our setup id, sent back with the token.
    pub setup_id: uuid::Uuid,
    /// Stripe: the SetupIntent's client secret for Stripe.js.
    pub client_secret: Option<String>,
}

fn active_methods(
    tx: &TenantTx,
    client: ContactId,
    settings: &BillingSettings,
    account: &ProviderAccount,
) -> sea_orm::Select<payment_method::Entity> {
    payment_method::Entity::scoped(tx)
        .filter(payment_method::Column::ContactId.eq(client.as_uuid()))
        .filter(payment_method::Column::Provider.eq(settings.provider.as_str()))
        .filter(payment_method::Column::Account.eq(account.as_str()))
        .filter(payment_method::Column::RemovedAt.is_null())
}

/// The client's usable methods (those at the firm's current provider), default first.
pub async fn list(tx: &TenantTx, client: ContactId) -> BillingResult<Vec<SavedMethod>> {
    let settings = settings::get(tx).await?;
    let Ok(account) = settings::account(tx, &settings) else {
        return Ok(Vec::new());
    };
    Ok(active_methods(tx, client, &settings, &account)
        .order_by_desc(payment_method::Column::IsDefault)
        .order_by_asc(payment_method::Column::CreatedAt)
        .all(tx.conn())
        .await?
        .into_iter()
        .map(saved_of)
        .collect())
}

/// One usable method of the client, or `NotFound`.
pub(crate) async fn method_row(
    tx: &TenantTx,
    client: ContactId,
    id: PaymentMethodId,
) -> BillingResult<payment_method::Model> {
    Ok(usable_method(tx, client, id).await?.1)
}

/// [`method_row`] with the firm's settings it was checked against.
async fn usable_method(
    tx: &TenantTx,
    client: ContactId,
    id: PaymentMethodId,
) -> BillingResult<(BillingSettings, payment_method::Model)> {
    let settings = settings::get(tx).await?;
    let account = settings::account(tx, &settings).map_err(|_| BillingError::NotFound)?;
    let row = active_methods(tx, client, &settings, &account)
        .filter(payment_method::Column::Id.eq(id.as_uuid()))
        .one(tx.conn())
        .await?
        .ok_or(BillingError::NotFound)?;
    Ok((settings, row))
}

/// The client's customer object at `provider` and `account`, if one was created.
pub(crate) async fn customer_row(
    tx: &TenantTx,
    client: uuid::Uuid,
    provider: &str,
    account: &str,
) -> Result<Option<billing_customer::Model>, DbErr> {
    billing_customer::Entity::scoped(tx)
        .filter(billing_customer::Column::ContactId.eq(client))
        .filter(billing_customer::Column::Provider.eq(provider))
        .filter(billing_customer::Column::Account.eq(account))
        .one(tx.conn())
        .await
}

/// The client's customer id at the firm's provider, created on first use.
pub(crate) async fn customer_id(
    db: &TenantDb,
    providers: &Providers,
    payer: &Payer,
) -> BillingResult<(BillingSettings, ProviderAccount, String)> {
    let tx = db.write().await?;
    let settings = settings::get(&tx).await?;
    let account = settings::ensure_account_registered(&tx, &settings).await?;
    let existing = customer_row(
        &tx,
        payer.client.as_uuid(),
        settings.provider.as_str(),
        account.as_str(),
    )
    .await?;
    tx.commit().await?;
    if let Some(existing) = existing {
        return Ok((settings, account, existing.customer_id));
    }
    let provider = providers.get(settings.provider);
    // One key per client and account: concurrent first uses create one customer, not two.
    let key = format!("customer-{}-{}", payer.client, account.as_str());
    let created = provider
        .create_customer(
            &account,
            &CustomerDetails {
                name: payer.name.clone(),
                email: payer.email.clone(),
                reference: payer.client.to_string(),
            },
            &key,
        )
        .await?;
    let tx = db.write().await?;
    let mut row = billing_customer::ActiveModel::new_active(&tx);
    row.contact_id = Set(payer.client.as_uuid());
    row.provider = Set(settings.provider.as_str().to_owned());
    row.account = Set(account.as_str().to_owned());
    row.customer_id = Set(created.clone());
    row.created_at = Set(Utc::now());
    billing_customer::Entity::insert(row)
        .on_conflict_do_nothing()
        .exec(tx.conn())
        .await?;
    tx.commit().await?;
    Ok((settings, account, created))
}

/// Step one: the provider's setup object for a new method.
pub async fn begin_setup(
    db: &TenantDb,
    providers: &Providers,
    payer: &Payer,
) -> BillingResult<SetupStart> {
    let (settings, account, customer) = customer_id(db, providers, payer).await?;
    let setup_id = uuid::Uuid::now_v7();
    let session = providers
        .get(settings.provider)
        .begin_method_setup(&account, &customer, &format!("setup-{setup_id}"))
        .await?;
    let tx = db.write().await?;
    let mut row = payment_method_setup::ActiveModel::new_active(&tx);
    row.id = Set(setup_id);
    row.contact_id = Set(payer.client.as_uuid());
    row.provider = Set(settings.provider.as_str().to_owned());
    row.account = Set(account.as_str().to_owned());
    row.provider_setup_id = Set(session.provider_setup_id);
    row.created_at = Set(Utc::now());
    row.completed_at = Set(None);
    row.payment_method_id = Set(None);
    row.insert(tx.conn()).await?;
    tx.commit().await?;
    Ok(SetupStart {
        provider: settings.provider,
        setup_id,
        client_secret: session.client_secret,
    })
}

/// Step two: the browser's token becomes a saved method (the client's first is the default).
/// Completing the same setup again answers with the method it created.
pub async fn complete_setup(
    db: &TenantDb,
    providers: &Providers,
    payer: &Payer,
    setup_id: uuid::Uuid,
    provider_token: &str,
) -> BillingResult<SavedMethod> {
    let token = provider_token.trim();
    if token.is_empty() || token.len() > 255 {
        return Err(BillingError::Invalid(
            "provider_token: the token from the payment form is required".into(),
        ));
    }
    let tx = db.read().await?;
    let setup = payment_method_setup::Entity::scoped(&tx)
        .filter(payment_method_setup::Column::Id.eq(setup_id))
        .filter(payment_method_setup::Column::ContactId.eq(payer.client.as_uuid()))
        .one(tx.conn())
        .await?
        .ok_or_else(|| BillingError::Invalid("setup_id: no such payment-method setup".into()))?;
    if let Some(done) = setup.payment_method_id {
        let row = payment_method::Entity::scoped(&tx)
            .filter(payment_method::Column::Id.eq(done))
            .one(tx.conn())
            .await?
            .ok_or(BillingError::NotFound)?;
        return Ok(saved_of(row));
    }
    tx.commit().await?;
    let (settings, account, customer) = customer_id(db, providers, payer).await?;
    if setup.provider != settings.provider.as_str() || setup.account != account.as_str() {
        return Err(BillingError::Conflict(
            "the firm changed its payment provider; start adding the method again".into(),
        ));
    }
    let provider = providers.get(settings.provider);
    let mut method = provider
        .complete_method_setup(
            &account,
            &customer,
            &setup.provider_setup_id,
            token,
            &format!("setup-complete-{setup_id}"),
        )
        .await?;
    // Prefilled from the primary client, as the payment dialog is.
    if method.holder_name.is_none() || method.email.is_none() {
        let update = MethodUpdate {
            holder_name: method.holder_name.is_none().then(|| payer.name.clone()),
            email: method.email.is_none().then(|| payer.email.clone()),
            ..MethodUpdate::default()
        };
        method = provider
            .update_method(&account, &method.provider_method_id, &update)
            .await?;
    }
    let tx = db.write().await?;
    let has_default = active_methods(&tx, payer.client, &settings, &account)
        .filter(payment_method::Column::IsDefault.eq(true))
        .one(tx.conn())
        .await?
        .is_some();
    let id = PaymentMethodId::new();
    let now = Utc::now();
    let mut row = payment_method::ActiveModel::new_active(&tx);
    row.id = Set(id.as_uuid());
    row.contact_id = Set(payer.client.as_uuid());
    row.provider = Set(settings.provider.as_str().to_owned());
    row.account = Set(account.as_str().to_owned());
    row.provider_method_id = Set(method.provider_method_id.clone());
    apply_details(&mut row, &method);
    row.kind = Set(method.kind.as_str().to_owned());
    row.brand = Set(method.brand.clone());
    row.last4 = Set(method.last4.clone());
    row.is_default = Set(!has_default);
    row.created_at = Set(now);
    row.updated_at = Set(now);
    row.removed_at = Set(None);
    let inserted = row.insert(tx.conn()).await?;
    payment_method_setup::Entity::scoped_update(&tx)
        .col_expr(payment_method_setup::Column::CompletedAt, Expr::value(now))
        .col_expr(
            payment_method_setup::Column::PaymentMethodId,
            Expr::value(id.as_uuid()),
        )
        .filter(payment_method_setup::Column::Id.eq(setup_id))
        .exec(tx.conn())
        .await?;
    tx.commit().await?;
    if !has_default {
        provider
            .set_default_method(&account, &customer, &method.provider_method_id)
            .await?;
    }
    Ok(saved_of(inserted))
}

fn apply_details(row: &mut payment_method::ActiveModel, method: &ProviderPaymentMethod) {
    row.exp_month = Set(method.exp_month.map(|m| m as i32));
    row.exp_year = Set(method.exp_year);
    row.holder_name = Set(method.holder_name.clone());
    row.email = Set(method.email.clone());
    row.billing_address = Set(serde_json::to_value(&method.billing_address).unwrap_or_default());
}

/// The editable details, checked.
#[derive(Clone, Debug, Default)]
pub struct DetailsChange {
    pub holder_name: Option<String>,
    pub email: Option<String>,
    pub billing_address: Option<BillingAddress>,
    pub exp_month: Option<u32>,
    pub exp_year: Option<i32>,
}

fn check_change(
    kind: MethodKind,
    change: &DetailsChange,
    current: &payment_method::Model,
) -> BillingResult<MethodUpdate> {
    let holder_name = match &change.holder_name {
        Some(name) => {
            let name = name.trim();
            if name.is_empty() || name.chars().count() > 200 {
                return Err(BillingError::Invalid(
                    "holder_name: 1 to 200 characters".into(),
                ));
            }
            Some(name.to_owned())
        }
        None => None,
    };
    let email = match &change.email {
        Some(email) => {
            let email = email.trim();
            let plausible = email.len() <= 254
                && email
                    .split_once('@')
                    .is_some_and(|(local, domain)| !local.is_empty() && domain.contains('.'));
            if !plausible {
                return Err(BillingError::Invalid("email: a valid email address".into()));
            }
            Some(email.to_owned())
        }
        None => None,
    };
    if let Some(address) = &change.billing_address {
        for (field, value) in [
            ("line1", &address.line1),
            ("line2", &address.line2),
            ("city", &address.city),
            ("state", &address.state),
            ("postal_code", &address.postal_code),
            ("country", &address.country),
        ] {
            if value.as_ref().is_some_and(|v| v.chars().count() > 200) {
                return Err(BillingError::Invalid(format!(
                    "billing_address.{field}: at most 200 characters"
                )));
            }
        }
    }
    if (change.exp_month.is_some() || change.exp_year.is_some()) && kind != MethodKind::Card {
        return Err(BillingError::Invalid(
            "exp_month, exp_year: a bank account has no expiry".into(),
        ));
    }
    if let Some(month) = change.exp_month
        && !(1..=12).contains(&month)
    {
        return Err(BillingError::Invalid("exp_month: 1 to 12".into()));
    }
    let today = Utc::now().date_naive();
    if change.exp_month.is_some() || change.exp_year.is_some() {
        let month = change
            .exp_month
            .map(|m| m as i32)
            .or(current.exp_month)
            .unwrap_or(12);
        let year = change.exp_year.or(current.exp_year).unwrap_or(today.year());
        if year > today.year() + 50 {
            return Err(BillingError::Invalid(
                "exp_year: too far in the future".into(),
            ));
        }
        // Years far in the past are expired cards; checked before any arithmetic on them.
        if year < today.year() - 1 {
            return Err(BillingError::Invalid(
                "exp_month, exp_year: the card would already be expired".into(),
            ));
        }
        if year * 100 + month < today.year() * 100 + today.month() as i32 {
            return Err(BillingError::Invalid(
                "exp_month, exp_year: the card would already be expired".into(),
            ));
        }
    }
    Ok(MethodUpdate {
        holder_name,
        email,
        billing_address: change.billing_address.clone(),
        exp_month: change.exp_month,
        exp_year: change.exp_year,
    })
}

/// Edits holder name, email, billing address and (cards) expiry, at the provider and here.
pub async fn update(
    db: &TenantDb,
    providers: &Providers,
    client: ContactId,
    id: PaymentMethodId,
    change: &DetailsChange,
) -> BillingResult<SavedMethod> {
    let tx = db.read().await?;
    let (settings, row) = usable_method(&tx, client, id).await?;
    tx.commit().await?;
    let kind = MethodKind::parse(&row.kind).unwrap_or(MethodKind::Card);
    let update = check_change(kind, change, &row)?;
    let method = providers
        .get(settings.provider)
        .update_method(
            &ProviderAccount(row.account.clone()),
            &row.provider_method_id,
            &update,
        )
        .await?;
    let tx = db.write().await?;
    let row = method_row(&tx, client, id).await?;
    let mut active: payment_method::ActiveModel = row.into();
    apply_details(&mut active, &method);
    active.updated_at = Set(Utc::now());
    let updated = active.update(tx.conn()).await?;
    tx.commit().await?;
    Ok(saved_of(updated))
}

/// Makes `id` the client's default method.
pub async fn set_default(
    db: &TenantDb,
    providers: &Providers,
    payer: &Payer,
    id: PaymentMethodId,
) -> BillingResult<SavedMethod> {
    let tx = db.read().await?;
    let row = method_row(&tx, payer.client, id).await?;
    tx.commit().await?;
    let (settings, account, customer) = customer_id(db, providers, payer).await?;
    providers
        .get(settings.provider)
        .set_default_method(&account, &customer, &row.provider_method_id)
        .await?;
    let tx = db.write().await?;
    payment_method::Entity::scoped_update(&tx)
        .col_expr(payment_method::Column::IsDefault, Expr::value(false))
        .filter(payment_method::Column::ContactId.eq(payer.client.as_uuid()))
        .exec(tx.conn())
        .await?;
    payment_method::Entity::scoped_update(&tx)
        .col_expr(payment_method::Column::IsDefault, Expr::value(true))
        .filter(payment_method::Column::Id.eq(id.as_uuid()))
        .exec(tx.conn())
        .await?;
    let row = method_row(&tx, payer.client, id).await?;
    tx.commit().await?;
    Ok(saved_of(row))
}

/// Detaches the method at the provider and removes it from the client's list (the row stays,
/// marked removed, because past payment attempts refer to it).
pub async fn remove(
    db: &TenantDb,
    providers: &Providers,
    client: ContactId,
    id: PaymentMethodId,
) -> BillingResult<()> {
    let tx = db.read().await?;
    let (settings, row) = usable_method(&tx, client, id).await?;
    tx.commit().await?;
    providers
        .get(settings.provider)
        .detach_method(
            &ProviderAccount(row.account.clone()),
            &row.provider_method_id,
        )
        .await?;
    let tx = db.write().await?;
    let now = Utc::now();
    payment_method::Entity::scoped_update(&tx)
        .col_expr(payment_method::Column::RemovedAt, Expr::value(now))
        .col_expr(payment_method::Column::IsDefault, Expr::value(false))
        .filter(payment_method::Column::Id.eq(id.as_uuid()))
        .exec(tx.conn())
        .await?;
    // The oldest remaining method becomes the default, so a client with methods always has
    // one preselected in the payment dialog.
    if row.is_default {
        let account = ProviderAccount(row.account.clone());
        let next = active_methods(&tx, client, &settings, &account)
            .order_by_asc(payment_method::Column::CreatedAt)
            .one(tx.conn())
            .await?;
        if let Some(next) = next {
            payment_method::Entity::scoped_update(&tx)
                .col_expr(payment_method::Column::IsDefault, Expr::value(true))
                .filter(payment_method::Column::Id.eq(next.id))
                .exec(tx.conn())
                .await?;
        }
    }
    tx.commit().await?;
    Ok(())
}
