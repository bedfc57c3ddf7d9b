//! Billing: the firm's billing settings, invoices and their lines, payments (recorded offline or
//! taken through the Portal), clients' saved payment methods and provider customers, payment
//! attempts (the idempotency ledger of Pay Now), webhook events received, and the platform-level
//! map from a provider account to its firm. Portal accounts also keep the previous sign-in time
//! (the Billing module's Since Last Login view), and outbox emails the worker that claimed them
//! (so a worker whose lease ran out cannot send or mark an email another worker took over). The mock payment provider keeps its own objects in
//! `mock_psp_*` tables: it stands in for an external service, so they belong to no firm.

use sea_orm_migration::prelude::*;

use crate::sql::{enable_rls, run};

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0005_billing"
    }
}

const UP: &str = r#"
ALTER TABLE portal_account ADD COLUMN previous_login_at {ts};
ALTER TABLE mail_outbox ADD COLUMN claimed_by {uuid};

CREATE TABLE billing_settings (
    tenant_id {uuid} NOT NULL PRIMARY KEY REFERENCES tenant (id),
    provider text NOT NULL CHECK (provider IN ('mock', 'stripe')),
    currency text NOT NULL,
    stripe_account_id text,
    next_invoice_number bigint NOT NULL,
    updated_at {ts} NOT NULL
);

CREATE TABLE invoice (
    tenant_id {uuid} NOT NULL,
    id {uuid} NOT NULL,
    matter_id {uuid} NOT NULL,
    client_contact_id {uuid} NOT NULL,
    number text NOT NULL,
    currency text NOT NULL,
    status text NOT NULL CHECK (status IN ('draft', 'finalized', 'paid', 'void')),
    total bigint NOT NULL,
    amount_paid bigint NOT NULL,
    due_date text,
    memo text NOT NULL,
    shared {bool} NOT NULL,
    shared_at {ts},
    created_by {uuid} NOT NULL,
    created_at {ts} NOT NULL,
    finalized_at {ts},
    paid_at {ts},
    voided_at {ts},
    updated_at {ts} NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, matter_id) REFERENCES matter (tenant_id, id),
    FOREIGN KEY (tenant_id, client_contact_id) REFERENCES contact (tenant_id, id),
    FOREIGN KEY (tenant_id, created_by) REFERENCES member (tenant_id, id)
);
CREATE UNIQUE INDEX invoice_number_key ON invoice (tenant_id, number);
CREATE INDEX invoice_matter_idx ON invoice (tenant_id, matter_id, created_at);
CREATE INDEX invoice_client_idx ON invoice (tenant_id, client_contact_id, status);

CREATE TABLE invoice_line (
    tenant_id {uuid} NOT NULL,
    id {uuid} NOT NULL,
    invoice_id {uuid} NOT NULL,
    position integer NOT NULL,
    description text NOT NULL,
    amount bigint NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, invoice_id) REFERENCES invoice (tenant_id, id)
);
CREATE INDEX invoice_line_invoice_idx ON invoice_line (tenant_id, invoice_id, position);

CREATE TABLE payment_method (
    tenant_id {uuid} NOT NULL,
    id {uuid} NOT NULL,
    contact_id {uuid} NOT NULL,
    provider text NOT NULL,
    account text NOT NULL,
    provider_method_id text NOT NULL,
    kind text NOT NULL CHECK (kind IN ('card', 'bank_account')),
    brand text NOT NULL,
    last4 text NOT NULL,
    exp_month integer,
    exp_year integer,
    holder_name text,
    email text,
    billing_address {json} NOT NULL,
    is_default {bool} NOT NULL,
    created_at {ts} NOT NULL,
    updated_at {ts} NOT NULL,
    removed_at {ts},
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, contact_id) REFERENCES contact (tenant_id, id)
);
CREATE UNIQUE INDEX payment_method_provider_key ON payment_method (tenant_id, provider, provider_method_id);
CREATE INDEX payment_method_contact_idx ON payment_method (tenant_id, contact_id);

CREATE TABLE payment_attempt (
    tenant_id {uuid} NOT NULL,
    id {uuid} NOT NULL,
    invoice_id {uuid} NOT NULL,
    contact_id {uuid} NOT NULL,
    idempotency_key text NOT NULL,
    payment_method_id {uuid} NOT NULL,
    amount bigint NOT NULL,
    currency text NOT NULL,
    provider text NOT NULL,
    account text NOT NULL,
    status text NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed')),
    provider_payment_id text,
    failure_code text,
    failure_message text,
    payment_id {uuid},
    payer_name text NOT NULL,
    receipt_email text NOT NULL,
    lawyer_email text,
    created_at {ts} NOT NULL,
    updated_at {ts} NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, invoice_id) REFERENCES invoice (tenant_id, id),
    FOREIGN KEY (tenant_id, contact_id) REFERENCES contact (tenant_id, id),
    FOREIGN KEY (tenant_id, payment_method_id) REFERENCES payment_method (tenant_id, id)
);
CREATE UNIQUE INDEX payment_attempt_key ON payment_attempt (tenant_id, contact_id, idempotency_key);
CREATE INDEX payment_attempt_invoice_idx ON payment_attempt (tenant_id, invoice_id, status);
CREATE INDEX payment_attempt_provider_idx ON payment_attempt (tenant_id, provider_payment_id);

CREATE TABLE payment (
    tenant_id {uuid} NOT NULL,
    id {uuid} NOT NULL,
    matter_id {uuid} NOT NULL,
    invoice_id {uuid},
    client_contact_id {uuid} NOT NULL,
    amount bigint NOT NULL,
    currency text NOT NULL,
    method text NOT NULL,
    source text NOT NULL CHECK (source IN ('offline', 'portal')),
    reference text NOT NULL,
    provider text,
    provider_payment_id text,
    confirmation_number text,
    attempt_id {uuid},
    shared {bool} NOT NULL,
    shared_at {ts},
    recorded_by_kind text NOT NULL CHECK (recorded_by_kind IN ('member', 'client', 'system')),
    recorded_by_id {uuid},
    received_at {ts} NOT NULL,
    created_at {ts} NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, matter_id) REFERENCES matter (tenant_id, id),
    FOREIGN KEY (tenant_id, invoice_id) REFERENCES invoice (tenant_id, id),
    FOREIGN KEY (tenant_id, client_contact_id) REFERENCES contact (tenant_id, id)
);
CREATE UNIQUE INDEX payment_provider_key ON payment (tenant_id, provider, provider_payment_id);
CREATE UNIQUE INDEX payment_attempt_once_key ON payment (tenant_id, attempt_id);
CREATE INDEX payment_matter_idx ON payment (tenant_id, matter_id, received_at);
CREATE INDEX payment_invoice_idx ON payment (tenant_id, invoice_id);

CREATE TABLE billing_customer (
    tenant_id {uuid} NOT NULL,
    contact_id {uuid} NOT NULL,
    provider text NOT NULL,
    account text NOT NULL,
    customer_id text NOT NULL,
    created_at {ts} NOT NULL,
    PRIMARY KEY (tenant_id, contact_id, provider, account),
    FOREIGN KEY (tenant_id, contact_id) REFERENCES contact (tenant_id, id)
);

CREATE TABLE payment_method_setup (
    tenant_id {uuid} NOT NULL,
    id {uuid} NOT NULL,
    contact_id {uuid} NOT NULL,
    provider text NOT NULL,
    account text NOT NULL,
    provider_setup_id text NOT NULL,
    created_at {ts} NOT NULL,
    completed_at {ts},
    payment_method_id {uuid},
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, contact_id) REFERENCES contact (tenant_id, id)
);

CREATE TABLE webhook_event (
    tenant_id {uuid} NOT NULL REFERENCES tenant (id),
    provider text NOT NULL,
    event_id text NOT NULL,
    event_type text NOT NULL,
    object_id text,
    received_at {ts} NOT NULL,
    PRIMARY KEY (tenant_id, provider, event_id)
);

CREATE TABLE payment_account (
    provider text NOT NULL,
    account text NOT NULL,
    tenant_id {uuid} NOT NULL REFERENCES tenant (id) ON DELETE CASCADE,
    created_at {ts} NOT NULL,
    PRIMARY KEY (provider, account)
);
CREATE INDEX payment_account_tenant_idx ON payment_account (tenant_id);

CREATE TABLE mock_psp_object (
    id text NOT NULL PRIMARY KEY,
    account text NOT NULL,
    kind text NOT NULL,
    data {json} NOT NULL,
    created_at {ts} NOT NULL,
    updated_at {ts} NOT NULL
);

CREATE TABLE mock_psp_idempotency (
    account text NOT NULL,
    idempotency_key text NOT NULL,
    fingerprint text NOT NULL,
    object_id text,
    error {json},
    created_at {ts} NOT NULL,
    PRIMARY KEY (account, idempotency_key)
)
"#;

pub const TABLES: &[&str] = &[
    "billing_settings",
    "invoice",
    "invoice_line",
    "payment_method",
    "payment_attempt",
    "payment",
    "billing_customer",
    "payment_method_setup",
    "webhook_event",
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
            "DROP TABLE mock_psp_idempotency; DROP TABLE mock_psp_object; \
             DROP TABLE payment_account; DROP TABLE webhook_event; \
             DROP TABLE payment_method_setup; DROP TABLE billing_customer; DROP TABLE payment; \
             DROP TABLE payment_attempt; DROP TABLE payment_method; DROP TABLE invoice_line; \
             DROP TABLE invoice; DROP TABLE billing_settings; \
             ALTER TABLE portal_account DROP COLUMN previous_login_at; \
             ALTER TABLE mail_outbox DROP COLUMN claimed_by",
        )
        .await
    }
}
