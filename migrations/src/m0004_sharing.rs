//! Sharing and collaboration: documents (encrypted blobs), notes, appointments, tasks, custom
//! fields with per-file Portal sharing, the activity feed, member preferences and the jobs that
//! notify people (nightly digest, batched client notices).

use sea_orm_migration::prelude::*;

use crate::sql::{enable_rls, run};

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0004_sharing"
    }
}

const UP: &str = r#"
CREATE TABLE tenant_key (
    tenant_id {uuid} NOT NULL PRIMARY KEY REFERENCES tenant (id),
    wrapped_key {blob} NOT NULL,
    created_at {ts} NOT NULL
);

CREATE TABLE document (
    tenant_id {uuid} NOT NULL,
    id {uuid} NOT NULL,
    matter_id {uuid} NOT NULL,
    title text NOT NULL,
    filename text NOT NULL,
    content_type text NOT NULL,
    size_bytes bigint NOT NULL,
    blob_name text NOT NULL,
    wrapped_key {blob} NOT NULL,
    shared {bool} NOT NULL,
    created_by_kind text NOT NULL CHECK (created_by_kind IN ('member', 'client')),
    created_by_id {uuid} NOT NULL,
    created_at {ts} NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, matter_id) REFERENCES matter (tenant_id, id)
);
CREATE INDEX document_matter_idx ON document (tenant_id, matter_id, created_at);

CREATE TABLE note (
    tenant_id {uuid} NOT NULL,
    id {uuid} NOT NULL,
    matter_id {uuid} NOT NULL,
    body text NOT NULL,
    shared {bool} NOT NULL,
    created_by_kind text NOT NULL CHECK (created_by_kind IN ('member', 'client')),
    created_by_id {uuid} NOT NULL,
    created_at {ts} NOT NULL,
    updated_at {ts} NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, matter_id) REFERENCES matter (tenant_id, id)
);
CREATE INDEX note_matter_idx ON note (tenant_id, matter_id, created_at);

CREATE TABLE appointment (
    tenant_id {uuid} NOT NULL,
    id {uuid} NOT NULL,
    matter_id {uuid} NOT NULL,
    title text NOT NULL,
    starts_at {ts} NOT NULL,
    ends_at {ts},
    location text NOT NULL,
    private {bool} NOT NULL,
    attendee_ids {json} NOT NULL,
    shared {bool} NOT NULL,
    created_by_kind text NOT NULL CHECK (created_by_kind IN ('member', 'client')),
    created_by_id {uuid} NOT NULL,
    created_at {ts} NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, matter_id) REFERENCES matter (tenant_id, id)
);
CREATE INDEX appointment_matter_idx ON appointment (tenant_id, matter_id, starts_at);

CREATE TABLE task (
    tenant_id {uuid} NOT NULL,
    id {uuid} NOT NULL,
    matter_id {uuid} NOT NULL,
    title text NOT NULL,
    due_date text,
    done {bool} NOT NULL,
    shared {bool} NOT NULL,
    created_by_kind text NOT NULL CHECK (created_by_kind IN ('member', 'client')),
    created_by_id {uuid} NOT NULL,
    created_at {ts} NOT NULL,
    updated_at {ts} NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, matter_id) REFERENCES matter (tenant_id, id)
);
CREATE INDEX task_matter_idx ON task (tenant_id, matter_id, created_at);

CREATE TABLE custom_field (
    tenant_id {uuid} NOT NULL REFERENCES tenant (id),
    id {uuid} NOT NULL,
    name text NOT NULL,
    kind text NOT NULL CHECK (kind IN ('text', 'number', 'date', 'yes_no', 'choice')),
    choices {json} NOT NULL,
    file_type text,
    created_at {ts} NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE UNIQUE INDEX custom_field_name_key ON custom_field (tenant_id, name);

CREATE TABLE custom_field_value (
    tenant_id {uuid} NOT NULL,
    matter_id {uuid} NOT NULL,
    field_id {uuid} NOT NULL,
    value text,
    sharing text NOT NULL CHECK (sharing IN ('hidden', 'read_only', 'editable')),
    sharing_changed_at {ts},
    updated_by_kind text,
    updated_by_id {uuid},
    updated_at {ts} NOT NULL,
    PRIMARY KEY (tenant_id, matter_id, field_id),
    FOREIGN KEY (tenant_id, matter_id) REFERENCES matter (tenant_id, id),
    FOREIGN KEY (tenant_id, field_id) REFERENCES custom_field (tenant_id, id)
);

CREATE TABLE activity (
    tenant_id {uuid} NOT NULL REFERENCES tenant (id),
    id {uuid} NOT NULL,
    occurred_at {ts} NOT NULL,
    kind text NOT NULL CHECK (kind IN ('client_activity', 'client_login', 'member_activity')),
    matter_id {uuid},
    actor_kind text NOT NULL,
    actor_id {uuid},
    actor_label text NOT NULL,
    action text NOT NULL,
    summary text NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX activity_time_idx ON activity (tenant_id, occurred_at);
CREATE INDEX activity_matter_idx ON activity (tenant_id, matter_id, occurred_at);

CREATE TABLE member_preferences (
    tenant_id {uuid} NOT NULL,
    member_id {uuid} NOT NULL,
    alerts text NOT NULL CHECK (alerts IN ('responsible', 'assigned', 'none')),
    nightly_digest {bool} NOT NULL,
    activity_seen_at {ts},
    PRIMARY KEY (tenant_id, member_id),
    FOREIGN KEY (tenant_id, member_id) REFERENCES member (tenant_id, id)
);

CREATE TABLE digest_run (
    tenant_id {uuid} NOT NULL,
    member_id {uuid} NOT NULL,
    day text NOT NULL,
    created_at {ts} NOT NULL,
    PRIMARY KEY (tenant_id, member_id, day),
    FOREIGN KEY (tenant_id, member_id) REFERENCES member (tenant_id, id)
);

CREATE TABLE client_notice (
    tenant_id {uuid} NOT NULL,
    id {uuid} NOT NULL,
    contact_id {uuid} NOT NULL,
    summary text NOT NULL,
    created_at {ts} NOT NULL,
    sent_at {ts},
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, contact_id) REFERENCES contact (tenant_id, id)
);
CREATE INDEX client_notice_pending_idx ON client_notice (tenant_id, contact_id, created_at) WHERE sent_at IS NULL
"#;

pub const TABLES: &[&str] = &[
    "tenant_key",
    "document",
    "note",
    "appointment",
    "task",
    "custom_field",
    "custom_field_value",
    "activity",
    "member_preferences",
    "digest_run",
    "client_notice",
];

/// The notification jobs work across firms, like the mail outbox: each declares itself and a
/// second policy admits it on its own tables only.
const JOB_POLICIES: &str = "\
CREATE POLICY system_job_notifications ON client_notice \
  USING (current_setting('app.system_job', true) = 'notifications') \
  WITH CHECK (current_setting('app.system_job', true) = 'notifications');
CREATE POLICY system_job_notifications ON member_preferences \
  USING (current_setting('app.system_job', true) = 'notifications') \
  WITH CHECK (current_setting('app.system_job', true) = 'notifications')";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run(manager, UP).await?;
        enable_rls(manager, TABLES).await?;
        if manager.get_database_backend() == sea_orm_migration::sea_orm::DbBackend::Postgres {
            run(manager, JOB_POLICIES).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run(
            manager,
            "DROP TABLE client_notice; DROP TABLE digest_run; DROP TABLE member_preferences; \
             DROP TABLE activity; DROP TABLE custom_field_value; DROP TABLE custom_field; \
             DROP TABLE task; DROP TABLE appointment; DROP TABLE note; DROP TABLE document; \
             DROP TABLE tenant_key",
        )
        .await
    }
}
