//! The providers this server offers, by kind: adding a provider is one module implementing
//! `PaymentProvider`, one line here and its configuration.

use std::sync::Arc;

use portico_platform::Database;
use portico_platform::config::PaymentSettings;
use secrecy::ExposeSecret;

use crate::mock::MockProvider;
use crate::provider::{PaymentProvider, ProviderKind};
use crate::stripe::StripeProvider;

#[derive(Clone)]
pub struct Providers {
    mock: Arc<MockProvider>,
    stripe: Arc<StripeProvider>,
}

impl Providers {
    pub fn new(db: Database, settings: &PaymentSettings) -> Self {
        Self {
            mock: Arc::new(MockProvider::new(
                db,
                settings.mock.webhook_secret.expose_secret().to_owned(),
            )),
            stripe: Arc::new(StripeProvider::new(&settings.stripe)),
        }
    }

    pub fn get(&self, kind: ProviderKind) -> Arc<dyn PaymentProvider> {
        match kind {
            ProviderKind::Mock => self.mock.clone(),
            ProviderKind::Stripe => self.stripe.clone(),
        }
    }

    /// The mock, for its tokenisation endpoint and its signed events.
    pub fn mock(&self) -> &MockProvider {
        &self.mock
    }
}
