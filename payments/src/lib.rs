//! Billing: invoices, payments, saved payment methods and the `PaymentProvider` plugins (mock
//! and Stripe). The crate is reserved in the workspace so the dependency direction
//! (`web → payments → platform`, never `payments ↔ tenants`) is fixed from the start; the
//! billing module itself is not implemented yet.
