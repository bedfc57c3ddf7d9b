//! Client Portal access: one Portal account per contact, and the files shared with it.

use sea_orm_migration::prelude::*;

use crate::sql::{enable_rls, run};

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0003_portal_access"
    }
}

const UP: &str = r#"
CREATE TABLE portal_account (
    tenant_id {uuid} NOT NULL REFERENCES tenant (id),
    id {uuid} NOT NULL,
    contact_id {uuid} NOT NULL,
    login_email text NOT NULL,
    login_email_normalized text NOT NULL,
    pending_login_email text,
    status text NOT NULL CHECK (status IN ('invited', 'active', 'disabled')),
    password_hash text,
    terms_accepted_at {ts},
    invited_at {ts},
    invitation_expires_at {ts},
    last_login_at {ts},
    created_at {ts} NOT NULL,
    updated_at {ts} NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, contact_id) REFERENCES contact (tenant_id, id)
);
CREATE UNIQUE INDEX portal_account_contact_key ON portal_account (tenant_id, contact_id);
CREATE UNIQUE INDEX portal_account_login_key ON portal_account (tenant_id, login_email_normalized)
    WHERE status <> 'disabled';

CREATE TABLE portal_file_share (
    tenant_id {uuid} NOT NULL,
    contact_id {uuid} NOT NULL,
    matter_id {uuid} NOT NULL,
    shared_by {uuid},
    shared_at {ts} NOT NULL,
    PRIMARY KEY (tenant_id, contact_id, matter_id),
    FOREIGN KEY (tenant_id, contact_id) REFERENCES contact (tenant_id, id),
    FOREIGN KEY (tenant_id, matter_id) REFERENCES matter (tenant_id, id)
);
CREATE INDEX portal_file_share_matter_idx ON portal_file_share (tenant_id, matter_id)
"#;

pub const TABLES: &[&str] = &["portal_account", "portal_file_share"];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run(manager, UP).await?;
        enable_rls(manager, TABLES).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run(
            manager,
            "DROP TABLE portal_file_share; DROP TABLE portal_account",
        )
        .await
    }
}
