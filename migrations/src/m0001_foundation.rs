//! The tenant registry, firm members, single-use tokens, the mail outbox, the audit trail and
//! operator sessions.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

use crate::sql::{enable_rls, run};

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0001_foundation"
    }
}

const UP: &str = r#"
CREATE TABLE tenant (
    id {uuid} NOT NULL PRIMARY KEY,
    slug text NOT NULL,
    name text NOT NULL,
    status text NOT NULL CHECK (status IN ('active', 'suspended')),
    portal_url text NOT NULL,
    created_at {ts} NOT NULL,
    updated_at {ts} NOT NULL
);
CREATE UNIQUE INDEX tenant_slug_key ON tenant (slug);

CREATE TABLE operator_session (
    id {uuid} NOT NULL PRIMARY KEY,
    token_hash text NOT NULL,
    csrf_token text NOT NULL,
    created_at {ts} NOT NULL,
    expires_at {ts} NOT NULL
);
CREATE UNIQUE INDEX operator_session_token_key ON operator_session (token_hash);

CREATE TABLE member (
    tenant_id {uuid} NOT NULL REFERENCES tenant (id),
    id {uuid} NOT NULL,
    name text NOT NULL,
    email text NOT NULL,
    email_normalized text NOT NULL,
    is_admin {bool} NOT NULL,
    portal_rights {bool} NOT NULL,
    active {bool} NOT NULL,
    password_hash text,
    last_login_at {ts},
    created_at {ts} NOT NULL,
    updated_at {ts} NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE UNIQUE INDEX member_email_key ON member (tenant_id, email_normalized);

CREATE TABLE auth_token (
    tenant_id {uuid} NOT NULL REFERENCES tenant (id),
    id {uuid} NOT NULL,
    purpose text NOT NULL,
    subject_id {uuid} NOT NULL,
    token_hash text NOT NULL,
    expires_at {ts} NOT NULL,
    used_at {ts},
    created_at {ts} NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE UNIQUE INDEX auth_token_hash_key ON auth_token (tenant_id, token_hash);
CREATE INDEX auth_token_subject_idx ON auth_token (tenant_id, subject_id, purpose);

CREATE TABLE mail_outbox (
    tenant_id {uuid} NOT NULL REFERENCES tenant (id),
    id {uuid} NOT NULL,
    kind text NOT NULL,
    to_address text NOT NULL,
    subject text NOT NULL,
    body_text text,
    status text NOT NULL CHECK (status IN ('pending', 'sent', 'failed')),
    attempts integer NOT NULL,
    next_attempt_at {ts} NOT NULL,
    claimed_until {ts},
    last_error text,
    created_at {ts} NOT NULL,
    sent_at {ts},
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX mail_outbox_due_idx ON mail_outbox (tenant_id, next_attempt_at) WHERE status = 'pending';

CREATE TABLE audit_log (
    tenant_id {uuid} NOT NULL REFERENCES tenant (id),
    id {uuid} NOT NULL,
    occurred_at {ts} NOT NULL,
    actor_kind text NOT NULL,
    actor_id {uuid},
    actor_label text NOT NULL,
    action text NOT NULL,
    target_kind text NOT NULL,
    target_id text,
    ip text,
    detail {json},
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX audit_log_time_idx ON audit_log (tenant_id, occurred_at)
"#;

/// The outbox worker works across firms, so the outbox has a second, named policy that admits
/// only a transaction that declared itself the mail job.
const OUTBOX_JOB_POLICY: &str = "CREATE POLICY system_job_mail_outbox ON mail_outbox \
     USING (current_setting('app.system_job', true) = 'mail_outbox') \
     WITH CHECK (current_setting('app.system_job', true) = 'mail_outbox')";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run(manager, UP).await?;
        enable_rls(
            manager,
            &["member", "auth_token", "mail_outbox", "audit_log"],
        )
        .await?;
        if manager.get_database_backend() == DbBackend::Postgres {
            run(manager, OUTBOX_JOB_POLICY).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run(
            manager,
            "DROP TABLE audit_log; DROP TABLE mail_outbox; DROP TABLE auth_token; \
             DROP TABLE member; DROP TABLE operator_session; DROP TABLE tenant",
        )
        .await
    }
}
