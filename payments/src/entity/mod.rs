//! sea-orm entities of the billing module. Tenant-owned ones get the scoped finders; the
//! provider-account map and the mock provider's store are platform-level.

pub mod billing_customer;
pub mod billing_settings;
pub mod invoice;
pub mod invoice_line;
pub mod mock_psp_idempotency;
pub mod mock_psp_object;
pub mod payment;
pub mod payment_account;
pub mod payment_attempt;
pub mod payment_method;
pub mod payment_method_setup;
pub mod webhook_event;

portico_platform::tenant_scoped!(
    crate::entity::billing_settings,
    crate::entity::invoice,
    crate::entity::invoice_line,
    crate::entity::payment_method,
    crate::entity::payment_attempt,
    crate::entity::payment,
    crate::entity::billing_customer,
    crate::entity::payment_method_setup,
    crate::entity::webhook_event,
);
