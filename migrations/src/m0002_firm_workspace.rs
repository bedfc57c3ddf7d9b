//! The firm workspace: Client Portal options, sessions, login throttling, contacts, files
//! (matters) with their assigned members and people.

use sea_orm_migration::prelude::*;

use crate::sql::{enable_rls, run};

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0002_firm_workspace"
    }
}

const UP: &str = r#"
CREATE TABLE firm_options (
    tenant_id {uuid} NOT NULL PRIMARY KEY REFERENCES tenant (id),
    portal_enabled {bool} NOT NULL,
    invitation_valid_days integer NOT NULL,
    invitation_template text NOT NULL,
    terms_of_service text NOT NULL,
    display_name text NOT NULL,
    accent_color text NOT NULL,
    welcome_message text NOT NULL,
    shareable_kinds text NOT NULL,
    notify_client_on_share {bool} NOT NULL,
    upload_limit_mb integer NOT NULL,
    logo_content_type text,
    logo {blob},
    updated_at {ts} NOT NULL
);

CREATE TABLE session (
    tenant_id {uuid} NOT NULL REFERENCES tenant (id),
    id {uuid} NOT NULL,
    token_hash text NOT NULL,
    principal_kind text NOT NULL CHECK (principal_kind IN ('member', 'client')),
    principal_id {uuid} NOT NULL,
    csrf_token text NOT NULL,
    created_at {ts} NOT NULL,
    last_seen_at {ts} NOT NULL,
    expires_at {ts} NOT NULL,
    ip text,
    PRIMARY KEY (tenant_id, id)
);
CREATE UNIQUE INDEX session_token_key ON session (tenant_id, token_hash);
CREATE INDEX session_principal_idx ON session (tenant_id, principal_kind, principal_id);

CREATE TABLE auth_throttle (
    tenant_id {uuid} NOT NULL REFERENCES tenant (id),
    key text NOT NULL,
    window_started_at {ts} NOT NULL,
    failures integer NOT NULL,
    locked_until {ts},
    PRIMARY KEY (tenant_id, key)
);

CREATE TABLE contact (
    tenant_id {uuid} NOT NULL REFERENCES tenant (id),
    id {uuid} NOT NULL,
    name text NOT NULL,
    emails {json} NOT NULL,
    created_at {ts} NOT NULL,
    updated_at {ts} NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX contact_name_idx ON contact (tenant_id, name);

CREATE TABLE matter (
    tenant_id {uuid} NOT NULL REFERENCES tenant (id),
    id {uuid} NOT NULL,
    number text NOT NULL,
    name text NOT NULL,
    file_type text NOT NULL,
    status text NOT NULL CHECK (status IN ('open', 'closed')),
    responsible_lawyer_id {uuid} NOT NULL,
    created_at {ts} NOT NULL,
    updated_at {ts} NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, responsible_lawyer_id) REFERENCES member (tenant_id, id)
);
CREATE UNIQUE INDEX matter_number_key ON matter (tenant_id, number);
CREATE INDEX matter_lawyer_idx ON matter (tenant_id, responsible_lawyer_id);

CREATE TABLE matter_member (
    tenant_id {uuid} NOT NULL,
    matter_id {uuid} NOT NULL,
    member_id {uuid} NOT NULL,
    PRIMARY KEY (tenant_id, matter_id, member_id),
    FOREIGN KEY (tenant_id, matter_id) REFERENCES matter (tenant_id, id),
    FOREIGN KEY (tenant_id, member_id) REFERENCES member (tenant_id, id)
);
CREATE INDEX matter_member_member_idx ON matter_member (tenant_id, member_id);

CREATE TABLE matter_person (
    tenant_id {uuid} NOT NULL,
    matter_id {uuid} NOT NULL,
    contact_id {uuid} NOT NULL,
    role text NOT NULL CHECK (role IN ('client')),
    is_primary {bool} NOT NULL,
    created_at {ts} NOT NULL,
    PRIMARY KEY (tenant_id, matter_id, contact_id),
    FOREIGN KEY (tenant_id, matter_id) REFERENCES matter (tenant_id, id),
    FOREIGN KEY (tenant_id, contact_id) REFERENCES contact (tenant_id, id)
);
CREATE INDEX matter_person_contact_idx ON matter_person (tenant_id, contact_id);
CREATE UNIQUE INDEX matter_person_primary_key ON matter_person (tenant_id, matter_id) WHERE is_primary
"#;

pub const TABLES: &[&str] = &[
    "firm_options",
    "session",
    "auth_throttle",
    "contact",
    "matter",
    "matter_member",
    "matter_person",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run(manager, UP).await?;
        enable_rls(manager, TABLES).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run(
            manager,
            "DROP TABLE matter_person; DROP TABLE matter_member; DROP TABLE matter; \
             DROP TABLE contact; DROP TABLE auth_throttle; DROP TABLE session; DROP TABLE firm_options",
        )
        .await
    }
}
