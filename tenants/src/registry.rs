//! The tenant registry: onboarding, listing, suspension, reactivation and deletion of firms.
//! Onboarding writes the registry row, the first administrator, the setup token, the setup email
//! and the audit entry in one transaction: all of it happens, or none of it.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use portico_platform::Database;
use portico_platform::ids::{MemberId, TenantId};
use portico_platform::mail::{self, EnqueueError, OutgoingEmail};
use portico_platform::storage::BlobStore;
use portico_platform::{TenantActiveModel, TenantTx};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait,
    QueryFilter, QueryOrder, SqlErr, Statement,
};
use serde::Serialize;

use crate::audit::{self, Actor, AuditEvent};
use crate::entity::{member, tenant};
use crate::resolver::TenantResolver;
use crate::slug::{SlugError, validate_slug};
use crate::tokens::{self, TokenPurpose};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TenantStatus {
    Active,
    Suspended,
}

impl TenantStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            TenantStatus::Active => "active",
            TenantStatus::Suspended => "suspended",
        }
    }

    fn parse(value: &str) -> TenantStatus {
        // The column has a CHECK constraint; anything unexpected is treated as suspended so a
        // damaged row fails closed.
        if value == "active" {
            TenantStatus::Active
        } else {
            TenantStatus::Suspended
        }
    }
}

/// A firm as the registry knows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TenantRecord {
    pub id: TenantId,
    pub slug: String,
    pub name: String,
    pub status: TenantStatus,
    pub portal_url: String,
    pub created_at: DateTime<Utc>,
}

impl From<tenant::Model> for TenantRecord {
    fn from(row: tenant::Model) -> Self {
        Self {
            id: TenantId::from_uuid(row.id),
            slug: row.slug,
            name: row.name,
            status: TenantStatus::parse(&row.status),
            portal_url: row.portal_url,
            created_at: row.created_at,
        }
    }
}

#[derive(Clone, Debug)]
pub struct NewTenant {
    pub slug: String,
    pub name: String,
    pub admin_email: String,
    pub admin_name: String,
}

#[derive(Debug)]
pub struct OnboardedTenant {
    pub tenant: TenantRecord,
    pub admin_id: MemberId,
    /// The administrator's account-setup link; also emailed. Shown once (CLI), never stored.
    pub setup_link: String,
}

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error(transparent)]
    InvalidSlug(#[from] SlugError),
    #[error("{0}")]
    Invalid(String),
    #[error("a firm with slug `{0}` already exists")]
    SlugTaken(String),
    #[error("no firm with slug `{0}`")]
    NotFound(String),
    #[error("confirmation does not match: pass the firm's slug `{0}` to delete it")]
    ConfirmationMismatch(String),
    #[error(transparent)]
    Db(#[from] DbErr),
}

impl From<EnqueueError> for RegistryError {
    fn from(err: EnqueueError) -> Self {
        match err {
            EnqueueError::BadAddress(address) => RegistryError::Invalid(format!(
                "admin_email `{address}` is not a valid email address"
            )),
            EnqueueError::Db(err) => RegistryError::Db(err),
        }
    }
}

/// Builds a firm's Portal URL from its slug (from configuration: scheme, base domain, port).
pub type PortalUrlFn = Arc<dyn Fn(&str) -> String + Send + Sync>;

#[derive(Clone)]
pub struct Registry {
    db: Database,
    resolver: TenantResolver,
    blobs: BlobStore,
    portal_url: PortalUrlFn,
    setup_valid_for: Duration,
}

impl Registry {
    pub fn new(
        db: Database,
        resolver: TenantResolver,
        blobs: BlobStore,
        portal_url: PortalUrlFn,
        setup_valid_for: Duration,
    ) -> Self {
        Self {
            db,
            resolver,
            blobs,
            portal_url,
            setup_valid_for,
        }
    }

    pub fn resolver(&self) -> &TenantResolver {
        &self.resolver
    }

    /// Onboards a firm. The same slug again is refused with [`RegistryError::SlugTaken`] and
    /// changes nothing, so a retried onboarding can never create a second firm.
    pub async fn create(
        &self,
        new: NewTenant,
        actor: Actor,
    ) -> Result<OnboardedTenant, RegistryError> {
        let slug = new.slug.trim().to_owned();
        validate_slug(&slug)?;
        let name = required(&new.name, "name", 200)?;
        let admin_name = required(&new.admin_name, "admin_name", 200)?;
        let admin_email = normalize_email(&new.admin_email).ok_or_else(|| {
            RegistryError::Invalid(format!(
                "admin_email `{}` is not a valid email address",
                new.admin_email.trim()
            ))
        })?;

        let now = Utc::now();
        let id = TenantId::new();
        let portal_url = (self.portal_url)(&slug);
        let tx = self.db.registry_write().await?;
        let row = tenant::ActiveModel {
            id: Set(id.as_uuid()),
            slug: Set(slug.clone()),
            name: Set(name.clone()),
            status: Set(TenantStatus::Active.as_str().to_owned()),
            portal_url: Set(portal_url.clone()),
            created_at: Set(now),
            updated_at: Set(now),
        };
        let inserted = match row.insert(tx.registry_conn()).await {
            Ok(inserted) => inserted,
            Err(err) if matches!(err.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {
                return Err(RegistryError::SlugTaken(slug));
            }
            Err(err) => return Err(err.into()),
        };
        let tx = tx.bind_tenant(id).await?;

        let admin_id = MemberId::new();
        let mut admin = member::ActiveModel::new_active(&tx);
        admin.id = Set(admin_id.as_uuid());
        admin.name = Set(admin_name.clone());
        admin.email = Set(admin_email.clone());
        admin.email_normalized = Set(admin_email.to_lowercase());
        admin.is_admin = Set(true);
        admin.portal_rights = Set(true);
        admin.active = Set(true);
        admin.password_hash = Set(None);
        admin.last_login_at = Set(None);
        admin.created_at = Set(now);
        admin.updated_at = Set(now);
        admin.insert(tx.conn()).await?;

        let token = tokens::issue(
            &tx,
            TokenPurpose::MemberSetup,
            admin_id.as_uuid(),
            self.setup_valid_for,
        )
        .await?;
        let setup_link = format!("{portal_url}/firm/setup/{}", token.reveal());
        mail::enqueue(
            &tx,
            OutgoingEmail {
                to: admin_email.clone(),
                subject: format!("Set up your Portico account for {name}"),
                body_text: format!(
                    "Hello {admin_name},\n\n\
                     {name} now has a client portal on Portico, and you are its administrator.\n\n\
                     Choose your password here (the link works once and expires in {hours} hours):\n\
                     {setup_link}\n\n\
                     Your firm's Portal address is {portal_url}\n",
                    hours = self.setup_valid_for.num_hours(),
                ),
                kind: "member_setup",
            },
        )
        .await?;
        audit::record(
            &tx,
            AuditEvent {
                actor,
                action: "tenant.created",
                target_kind: "tenant",
                target_id: Some(slug.clone()),
                ip: None,
                detail: Some(serde_json::json!({ "name": name, "admin_email": admin_email })),
            },
        )
        .await?;
        tx.commit().await?;
        tracing::info!(tenant = %slug, "firm onboarded");
        Ok(OnboardedTenant {
            tenant: inserted.into(),
            admin_id,
            setup_link,
        })
    }

    #[allow(clippy::disallowed_methods)] // the registry is not tenant-owned
    pub async fn list(&self) -> Result<Vec<TenantRecord>, DbErr> {
        let rows = tenant::Entity::find()
            .order_by_asc(tenant::Column::Slug)
            .all(self.db.unscoped_registry())
            .await?;
        Ok(rows.into_iter().map(TenantRecord::from).collect())
    }

    pub async fn get(&self, slug: &str) -> Result<TenantRecord, RegistryError> {
        crate::bootstrap::tenant_by_slug(&self.db, slug)
            .await?
            .ok_or_else(|| RegistryError::NotFound(slug.to_owned()))
    }

    pub async fn suspend(&self, slug: &str, actor: Actor) -> Result<TenantRecord, RegistryError> {
        self.set_status(slug, TenantStatus::Suspended, "tenant.suspended", actor)
            .await
    }

    pub async fn reactivate(
        &self,
        slug: &str,
        actor: Actor,
    ) -> Result<TenantRecord, RegistryError> {
        self.set_status(slug, TenantStatus::Active, "tenant.reactivated", actor)
            .await
    }

    #[allow(clippy::disallowed_methods)] // the registry is not tenant-owned
    async fn set_status(
        &self,
        slug: &str,
        status: TenantStatus,
        action: &'static str,
        actor: Actor,
    ) -> Result<TenantRecord, RegistryError> {
        let current = self.get(slug).await?;
        if current.status == status {
            return Ok(current);
        }
        let tx = self.db.registry_write().await?;
        tenant::Entity::update_many()
            .col_expr(
                tenant::Column::Status,
                sea_orm::sea_query::Expr::value(status.as_str()),
            )
            .col_expr(
                tenant::Column::UpdatedAt,
                sea_orm::sea_query::Expr::value(Utc::now()),
            )
            .filter(tenant::Column::Id.eq(current.id.as_uuid()))
            .exec(tx.registry_conn())
            .await?;
        let tx = tx.bind_tenant(current.id).await?;
        audit::record(
            &tx,
            AuditEvent {
                actor,
                action,
                target_kind: "tenant",
                target_id: Some(current.slug.clone()),
                ip: None,
                detail: None,
            },
        )
        .await?;
        tx.commit().await?;
        self.resolver.invalidate(slug).await;
        tracing::info!(tenant = %slug, status = status.as_str(), "firm status changed");
        Ok(TenantRecord { status, ..current })
    }

    /// Deletes a firm: every row of every tenant-owned table (`tenant_tables`, children first),
    /// the registry row, and then its stored blobs. `confirm` must repeat the slug.
    pub async fn delete(
        &self,
        slug: &str,
        confirm: &str,
        tenant_tables: &[&str],
    ) -> Result<(), RegistryError> {
        if confirm != slug {
            return Err(RegistryError::ConfirmationMismatch(slug.to_owned()));
        }
        let record = self.get(slug).await?;
        let tx = self
            .db
            .registry_write()
            .await?
            .bind_tenant(record.id)
            .await?;
        delete_tenant_rows(&tx, tenant_tables).await?;
        let backend = tx.conn().get_database_backend();
        tx.conn()
            .execute_raw(Statement::from_sql_and_values(
                backend,
                if backend == sea_orm::DbBackend::Postgres {
                    "DELETE FROM tenant WHERE id = $1"
                } else {
                    "DELETE FROM tenant WHERE id = ?"
                },
                [record.id.as_uuid().into()],
            ))
            .await?;
        tx.commit().await?;
        self.resolver.invalidate(slug).await;
        if let Err(err) = self.db.forget_write_epoch(record.id).await {
            // A counter nothing will read again; it only takes a row.
            tracing::warn!(tenant = %slug, error = %err, "firm deleted but its write epoch row remains");
        }
        if let Err(err) = self.blobs.delete_tenant(record.id).await {
            // The rows are gone, so nothing can reach these blobs; report them for removal.
            tracing::error!(tenant = %slug, error = %err, "firm deleted but its blob directory could not be removed");
        }
        tracing::info!(tenant = %slug, "firm deleted");
        Ok(())
    }
}

async fn delete_tenant_rows(tx: &TenantTx, tables: &[&str]) -> Result<(), DbErr> {
    let backend = tx.conn().get_database_backend();
    let placeholder = if backend == sea_orm::DbBackend::Postgres {
        "$1"
    } else {
        "?"
    };
    for table in tables {
        // Table names come from the compiled-in migration list, never from input.
        let sql = format!("DELETE FROM {table} WHERE tenant_id = {placeholder}");
        tx.conn()
            .execute_raw(Statement::from_sql_and_values(
                backend,
                sql,
                [tx.tenant_id().as_uuid().into()],
            ))
            .await?;
    }
    Ok(())
}

fn required(value: &str, field: &str, max: usize) -> Result<String, RegistryError> {
    let value = value.trim();
    if value.is_empty() {
        return Err(RegistryError::Invalid(format!("{field} is required")));
    }
    if value.chars().count() > max {
        return Err(RegistryError::Invalid(format!(
            "{field} must be at most {max} characters"
        )));
    }
    Ok(value.to_owned())
}

/// Trims and checks an email address; keeps the local part's case (some servers care) — the
/// lower-cased form is used for uniqueness.
pub fn normalize_email(value: &str) -> Option<String> {
    let value = value.trim();
    if value.len() > 254 || value.contains(char::is_whitespace) {
        return None;
    }
    let (local, domain) = value.split_once('@')?;
    if local.is_empty() || domain.is_empty() || !domain.contains('.') || domain.contains('@') {
        return None;
    }
    Some(value.to_owned())
}
