//! The Stripe provider: the `PaymentProvider` calls made with async-stripe against Stripe's API,
//! on the firm's connected account (Connect). Request and answer translation lives in `wire`;
//! this module only sends.

pub mod wire;

use std::time::Duration;

use async_trait::async_trait;
use portico_platform::config::StripeSettings;
use secrecy::{ExposeSecret, SecretString};
use stripe::{AccountId, Client, ClientBuilder, IdempotencyKey, RequestStrategy, StripeRequest};
use stripe_client_core::CustomizableStripeRequest;
use stripe_core::payment_intent::RetrievePaymentIntent;
use stripe_core::setup_intent::RetrieveSetupIntent;
use stripe_payment::payment_method::{DetachPaymentMethod, RetrievePaymentMethod};

use crate::provider::{
    Capabilities, CustomerDetails, MethodUpdate, PayRequest, PaymentProvider, ProviderAccount,
    ProviderCharge, ProviderError, ProviderKind, ProviderPaymentMethod, SetupSession, WebhookError,
    WebhookEvent,
};
use crate::signature;

const NOT_CONFIGURED: &str = "Stripe is not configured on this server (payments.stripe.secret_key)";

/// Per attempt. async-stripe has no timeout by default, and a request that never returns
/// would hold a payment attempt (and the client's page) forever. A timed-out charge is
/// `Unavailable`: the retry with the same idempotency key learns what happened.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

pub struct StripeProvider {
    /// `Err` holds why every call is refused (no key, or a key or URL the client rejects).
    client: Result<Client, String>,
    webhook_secret: SecretString,
}

impl StripeProvider {
    /// Never fails, so a server without Stripe keys still starts (firms on the mock provider
    /// are unaffected); each Stripe call then answers `NotConfigured`.
    pub fn new(settings: &StripeSettings) -> StripeProvider {
        Self::with_keys(
            &settings.api_base,
            &settings.secret_key,
            settings.webhook_secret.clone(),
        )
    }

    fn with_keys(
        api_base: &str,
        secret_key: &SecretString,
        webhook_secret: SecretString,
    ) -> StripeProvider {
        let secret = secret_key.expose_secret();
        let client = if secret.is_empty() {
            Err(NOT_CONFIGURED.to_owned())
        } else {
            // async-stripe appends `v1/…` to the base as text: without the slash a base with
            // a path would produce `…/stripev1/…`.
            let base = if api_base.is_empty() {
                "https://api.stripe.com/".to_owned()
            } else if api_base.ends_with('/') {
                api_base.to_owned()
            } else {
                format!("{api_base}/")
            };
            ClientBuilder::new(secret)
                .url(base)
                .timeout(REQUEST_TIMEOUT)
                .build()
                // The builder's messages name the setting, never the key itself.
                .map_err(|e| format!("Stripe is misconfigured on this server: {e}"))
        };
        if let Err(problem) = &client
            && !secret.is_empty()
        {
            tracing::warn!(%problem, "Stripe provider disabled");
        }
        StripeProvider {
            client,
            webhook_secret,
        }
    }

    fn client(&self) -> Result<&Client, ProviderError> {
        self.client
            .as_ref()
            .map_err(|problem| ProviderError::NotConfigured(problem.clone()))
    }

    /// Prepares `request` for the firm's connected account, with `key` as its Idempotency-Key
    /// when the call changes something. Stripe-side retries stay off: a retry is the caller's
    /// decision, made with the same key. (Sending happens at the call site, where the answer's
    /// concrete type is known to async-stripe's deserialiser.)
    fn prepare<R: StripeRequest>(
        &self,
        account: &ProviderAccount,
        request: &R,
        key: Option<&str>,
    ) -> Result<(&Client, CustomizableStripeRequest<R::Output>), ProviderError> {
        let client = self.client()?;
        wire::check_id("account", account.as_str())?;
        let strategy = match key {
            Some(key) => RequestStrategy::Idempotent(
                IdempotencyKey::new(key)
                    .map_err(|e| ProviderError::Invalid(format!("idempotency key: {e}")))?,
            ),
            None => RequestStrategy::Once,
        };
        let request = request
            .customize()
            .account_id(AccountId::from(account.as_str()))
            .request_strategy(strategy);
        Ok((client, request))
    }
}

/// A key for calls the trait gives none (updating details, choosing the default, detaching).
/// They set a value rather than create anything, so a repeat is harmless; a fresh key per call
/// still lets Stripe recognise a duplicated delivery of that one request. A key derived from
/// the parameters would be wrong: setting A, then B, then A again would replay the first
/// answer and leave B in place.
fn fresh_key(operation: &str) -> String {
    format!("portico-{operation}-{}", uuid::Uuid::new_v4())
}

#[async_trait]
impl PaymentProvider for StripeProvider {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Stripe
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            cards: true,
            bank_accounts: true,
            browser_tokenisation: true,
        }
    }

    async fn create_customer(
        &self,
        account: &ProviderAccount,
        customer: &CustomerDetails,
        idempotency_key: &str,
    ) -> Result<String, ProviderError> {
        let request = wire::create_customer(customer);
        let (client, call) = self.prepare(account, &request, Some(idempotency_key))?;
        let created = call.send(client).await.map_err(wire::provider_error)?;
        Ok(created.id.as_str().to_owned())
    }

    async fn begin_method_setup(
        &self,
        account: &ProviderAccount,
        customer_id: &str,
        idempotency_key: &str,
    ) -> Result<SetupSession, ProviderError> {
        let request = wire::create_setup_intent(customer_id);
        let (client, call) = self.prepare(account, &request, Some(idempotency_key))?;
        let setup = call.send(client).await.map_err(wire::provider_error)?;
        Ok(SetupSession {
            provider_setup_id: setup.id.as_str().to_owned(),
            client_secret: setup.client_secret,
        })
    }

    async fn complete_method_setup(
        &self,
        account: &ProviderAccount,
        customer_id: &str,
        provider_setup_id: &str,
        provider_token: &str,
        _idempotency_key: &str,
    ) -> Result<ProviderPaymentMethod, ProviderError> {
        // Stripe.js confirmed the SetupIntent in the browser (which attached the method to the
        // customer), so this step only reads and needs no key.
        wire::check_id("setup", provider_setup_id)?;
        let request = RetrieveSetupIntent::new(provider_setup_id);
        let (client, call) = self.prepare(account, &request, None)?;
        let setup = call.send(client).await.map_err(wire::provider_error)?;
        let method_id = wire::confirmed_setup_method(&setup, customer_id, provider_token)?;
        wire::check_id("payment method", &method_id)?;
        let request = RetrievePaymentMethod::new(method_id.as_str());
        let (client, call) = self.prepare(account, &request, None)?;
        let method = call.send(client).await.map_err(wire::provider_error)?;
        wire::payment_method(&method)
    }

    async fn update_method(
        &self,
        account: &ProviderAccount,
        provider_method_id: &str,
        update: &MethodUpdate,
    ) -> Result<ProviderPaymentMethod, ProviderError> {
        wire::check_id("payment method", provider_method_id)?;
        let request = wire::update_payment_method(provider_method_id, update);
        let key = fresh_key("update-method");
        let (client, call) = self.prepare(account, &request, Some(&key))?;
        let method = call.send(client).await.map_err(wire::provider_error)?;
        wire::payment_method(&method)
    }

    async fn set_default_method(
        &self,
        account: &ProviderAccount,
        customer_id: &str,
        provider_method_id: &str,
    ) -> Result<(), ProviderError> {
        wire::check_id("customer", customer_id)?;
        let request = wire::set_default_method(customer_id, provider_method_id);
        let key = fresh_key("default-method");
        let (client, call) = self.prepare(account, &request, Some(&key))?;
        call.send(client).await.map_err(wire::provider_error)?;
        Ok(())
    }

    async fn detach_method(
        &self,
        account: &ProviderAccount,
        provider_method_id: &str,
    ) -> Result<(), ProviderError> {
        wire::check_id("payment method", provider_method_id)?;
        let request = DetachPaymentMethod::new(provider_method_id);
        let key = fresh_key("detach-method");
        let (client, call) = self.prepare(account, &request, Some(&key))?;
        call.send(client).await.map_err(wire::provider_error)?;
        Ok(())
    }

    async fn pay(
        &self,
        account: &ProviderAccount,
        request: &PayRequest,
    ) -> Result<ProviderCharge, ProviderError> {
        let intent_request = wire::create_payment_intent(request);
        let (client, call) =
            self.prepare(account, &intent_request, Some(&request.idempotency_key))?;
        let intent = call.send(client).await.map_err(wire::provider_error)?;
        wire::charge(&intent)
    }

    async fn retrieve_payment(
        &self,
        account: &ProviderAccount,
        provider_payment_id: &str,
    ) -> Result<ProviderCharge, ProviderError> {
        wire::check_id("payment", provider_payment_id)?;
        let request = RetrievePaymentIntent::new(provider_payment_id);
        let (client, call) = self.prepare(account, &request, None)?;
        let intent = call.send(client).await.map_err(wire::provider_error)?;
        wire::charge(&intent)
    }

    fn verify_webhook(
        &self,
        payload: &[u8],
        signature_header: Option<&str>,
        now_unix: i64,
    ) -> Result<WebhookEvent, WebhookError> {
        signature::verify(
            payload,
            signature_header,
            &[self.webhook_secret.expose_secret()],
            now_unix,
        )?;
        wire::webhook_event(payload)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unconfigured() -> StripeProvider {
        StripeProvider::with_keys(
            "http://127.0.0.1:9/",
            &SecretString::from(""),
            SecretString::from("whsec_test"),
        )
    }

    #[tokio::test]
    async fn without_a_secret_key_every_call_is_not_configured() {
        let provider = unconfigured();
        let account = ProviderAccount("acct_1".to_owned());
        let error = provider.detach_method(&account, "pm_1").await.unwrap_err();
        assert!(
            matches!(&error, ProviderError::NotConfigured(message) if message == NOT_CONFIGURED),
            "{error:?}"
        );
        let error = provider
            .retrieve_payment(&account, "pi_1")
            .await
            .unwrap_err();
        assert!(matches!(error, ProviderError::NotConfigured(_)));
    }

    #[test]
    fn webhooks_verify_with_the_configured_secret() {
        let provider = unconfigured();
        let payload = br#"{"id":"evt_1","object":"event","type":"payment_intent.succeeded"}"#;
        let now = 1_800_000_000;
        let header = signature::sign("whsec_test", payload, now);
        let event = provider
            .verify_webhook(payload, Some(&header), now)
            .unwrap();
        assert_eq!(event.id, "evt_1");
        let forged = signature::sign("whsec_other", payload, now);
        assert_eq!(
            provider.verify_webhook(payload, Some(&forged), now),
            Err(WebhookError::BadSignature)
        );
    }

    #[test]
    fn the_secret_key_is_not_in_debug_output_of_the_client() {
        let provider = StripeProvider::with_keys(
            "http://127.0.0.1:9",
            &SecretString::from("sk_test_very_secret"),
            SecretString::from("whsec_test"),
        );
        let client = provider.client().unwrap();
        assert!(!format!("{client:?}").contains("sk_test_very_secret"));
    }
}
