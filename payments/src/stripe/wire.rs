//! Translation between our provider types and Stripe's wire objects: request builders in,
//! Stripe objects and errors out. Nothing here sends a request, so every rule about what a
//! Stripe answer means is testable without a server.

use std::collections::HashMap;

use portico_platform::money::Currency;
use stripe::StripeError;
use stripe_core::customer::{CreateCustomer, UpdateCustomer, UpdateCustomerInvoiceSettings};
use stripe_core::payment_intent::{CreatePaymentIntent, CreatePaymentIntentOffSession};
use stripe_core::setup_intent::{CreateSetupIntent, CreateSetupIntentUsage};
use stripe_payment::payment_method::{
    BillingDetailsAddress, BillingDetailsInnerParams, UpdatePaymentMethod, UpdatePaymentMethodCard,
};
use stripe_shared::{
    ApiErrors, ApiErrorsCode, ApiErrorsType, PaymentIntent, PaymentIntentStatus, PaymentMethod,
    PaymentMethodType, SetupIntent, SetupIntentAllowedPaymentMethodTypes, SetupIntentStatus,
};

use crate::provider::{
    BillingAddress, ChargeStatus, CustomerDetails, MethodKind, MethodUpdate, PayRequest,
    ProviderCharge, ProviderError, ProviderPaymentMethod, WebhookError, WebhookEvent,
};

/// Metadata keys we write on Stripe objects, so an object seen in the dashboard or in a
/// webhook can be traced back to our rows.
pub const META_CONTACT: &str = "portico_contact_id";
pub const META_ATTEMPT: &str = "portico_attempt_id";
pub const META_INVOICE: &str = "portico_invoice_id";

/// Stripe ids are `prefix_alphanumerics`. Ids are interpolated into request paths by
/// async-stripe without escaping, so anything else is refused before it reaches a URL.
pub fn check_id(what: &str, id: &str) -> Result<(), ProviderError> {
    let well_formed = !id.is_empty()
        && id.len() <= 255
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if well_formed {
        Ok(())
    } else {
        Err(ProviderError::Invalid(format!(
            "malformed Stripe {what} id"
        )))
    }
}

pub fn create_customer(customer: &CustomerDetails) -> CreateCustomer {
    CreateCustomer::new()
        .name(customer.name.as_str())
        .email(customer.email.as_str())
        .metadata(HashMap::from([(
            META_CONTACT.to_owned(),
            customer.reference.clone(),
        )]))
}

/// A SetupIntent for saving a card to charge later without the client present (invoices are
/// paid off-session once a method is on file).
pub fn create_setup_intent(customer_id: &str) -> CreateSetupIntent {
    CreateSetupIntent::new()
        .customer(customer_id)
        .usage(CreateSetupIntentUsage::OffSession)
        // The API version async-stripe pins names this `allowed_payment_method_types`
        // (`payment_method_types` in older versions).
        .allowed_payment_method_types(vec![SetupIntentAllowedPaymentMethodTypes::Card])
}

/// Which saved PaymentMethod a confirmed SetupIntent produced, after checking that the
/// browser's token is that method and that the setup belongs to this customer. A token the
/// setup did not produce could be another client's card.
pub fn confirmed_setup_method(
    setup: &SetupIntent,
    customer_id: &str,
    token: &str,
) -> Result<String, ProviderError> {
    if setup.status != SetupIntentStatus::Succeeded {
        return Err(ProviderError::Invalid(format!(
            "the card setup is not complete (Stripe status {})",
            setup.status.as_str()
        )));
    }
    let owner = setup.customer.as_ref().map(|c| c.id().as_str());
    if owner != Some(customer_id) {
        return Err(ProviderError::Invalid(
            "the card setup belongs to another customer".to_owned(),
        ));
    }
    match setup.payment_method.as_ref().map(|m| m.id().as_str()) {
        Some(method) if method == token => Ok(method.to_owned()),
        Some(_) => Err(ProviderError::Invalid(
            "the payment method does not match the card setup".to_owned(),
        )),
        None => Err(ProviderError::Invalid(
            "the card setup has no payment method".to_owned(),
        )),
    }
}

/// Our view of a Stripe PaymentMethod: brand and last four only, never a full number.
pub fn payment_method(method: &PaymentMethod) -> Result<ProviderPaymentMethod, ProviderError> {
    let details = &method.billing_details;
    let billing_address = details
        .address
        .as_ref()
        .map(|a| BillingAddress {
            line1: a.line1.clone(),
            line2: a.line2.clone(),
            city: a.city.clone(),
            state: a.state.clone(),
            postal_code: a.postal_code.clone(),
            country: a.country.clone(),
        })
        .unwrap_or_default();
    let (kind, brand, last4, exp_month, exp_year) = match (&method.type_, &method.card) {
        (PaymentMethodType::Card, Some(card)) => (
            MethodKind::Card,
            card.brand.clone(),
            card.last4.clone(),
            u32::try_from(card.exp_month).ok(),
            i32::try_from(card.exp_year).ok(),
        ),
        (PaymentMethodType::UsBankAccount, _) => {
            let bank = method.us_bank_account.as_ref();
            (
                MethodKind::BankAccount,
                bank.and_then(|b| b.bank_name.clone())
                    .unwrap_or_else(|| "Bank account".to_owned()),
                bank.and_then(|b| b.last4.clone()).unwrap_or_default(),
                None,
                None,
            )
        }
        (other, _) => {
            return Err(ProviderError::Invalid(format!(
                "unsupported payment method type {}",
                other.as_str()
            )));
        }
    };
    Ok(ProviderPaymentMethod {
        provider_method_id: method.id.as_str().to_owned(),
        kind,
        brand,
        last4,
        exp_month,
        exp_year,
        holder_name: details.name.clone(),
        email: details.email.clone(),
        billing_address,
    })
}

/// Only the fields being changed are sent: Stripe leaves the others as they are.
pub fn update_payment_method(method_id: &str, update: &MethodUpdate) -> UpdatePaymentMethod {
    let mut request = UpdatePaymentMethod::new(method_id);
    let address = update
        .billing_address
        .as_ref()
        .map(|a| BillingDetailsAddress {
            line1: a.line1.clone(),
            line2: a.line2.clone(),
            city: a.city.clone(),
            state: a.state.clone(),
            postal_code: a.postal_code.clone(),
            country: a.country.clone(),
        });
    if update.holder_name.is_some() || update.email.is_some() || address.is_some() {
        let mut details = BillingDetailsInnerParams::new();
        details.name = update.holder_name.clone();
        details.email = update.email.clone();
        details.address = address;
        request = request.billing_details(details);
    }
    if update.exp_month.is_some() || update.exp_year.is_some() {
        let mut card = UpdatePaymentMethodCard::new();
        card.exp_month = update.exp_month.map(i64::from);
        card.exp_year = update.exp_year.map(i64::from);
        request = request.card(card);
    }
    request
}

pub fn set_default_method(customer_id: &str, method_id: &str) -> UpdateCustomer {
    let mut settings = UpdateCustomerInvoiceSettings::new();
    settings.default_payment_method = Some(method_id.to_owned());
    UpdateCustomer::new(customer_id).invoice_settings(settings)
}

/// A charge of a saved method while the client is not on the page: confirmed at once, so the
/// answer is final (or a decline) unless the bank needs more time.
pub fn create_payment_intent(request: &PayRequest) -> CreatePaymentIntent {
    let currency = stripe_currency(request.amount.currency);
    CreatePaymentIntent::new(request.amount.amount, currency)
        .customer(request.customer_id.as_str())
        .payment_method(request.provider_method_id.as_str())
        .confirm(true)
        .off_session(CreatePaymentIntentOffSession::Bool(true))
        .description(request.description.as_str())
        .metadata(HashMap::from([
            (META_ATTEMPT.to_owned(), request.attempt_reference.clone()),
            (META_INVOICE.to_owned(), request.invoice_reference.clone()),
        ]))
}

/// Stripe spells currencies in lower case.
pub fn stripe_currency(currency: Currency) -> stripe_types::Currency {
    let lower = currency.as_str().to_ascii_lowercase();
    // `from_str` is infallible: unknown codes become `Currency::Unknown(code)`.
    lower
        .parse()
        .unwrap_or(stripe_types::Currency::Unknown(lower))
}

pub fn charge(intent: &PaymentIntent) -> Result<ProviderCharge, ProviderError> {
    let currency = Currency::parse(&intent.currency.to_string()).map_err(|_| {
        ProviderError::Invalid(format!(
            "Stripe answered with an unknown currency {}",
            intent.currency
        ))
    })?;
    Ok(ProviderCharge {
        provider_payment_id: intent.id.as_str().to_owned(),
        status: charge_status(&intent.status, intent.last_payment_error.as_deref()),
        amount: intent.amount,
        currency,
        attempt_reference: intent.metadata.get(META_ATTEMPT).cloned(),
    })
}

/// Only `succeeded` and a refused payment method are final. Everything else (processing,
/// waiting for the client's bank, statuses added after this was written) stays pending, so a
/// later webhook or re-fetch decides.
pub fn charge_status(status: &PaymentIntentStatus, last_error: Option<&ApiErrors>) -> ChargeStatus {
    match (status, last_error) {
        (PaymentIntentStatus::Succeeded, _) => ChargeStatus::Succeeded,
        (PaymentIntentStatus::RequiresPaymentMethod, Some(error)) => ChargeStatus::Failed {
            code: error_code(error),
            message: error_message(error),
        },
        // We never cancel intents ourselves; one canceled at Stripe (in the dashboard) will
        // never be paid, and leaving it pending would keep the invoice waiting forever.
        (PaymentIntentStatus::Canceled, _) => ChargeStatus::Failed {
            code: "canceled".to_owned(),
            message: "The payment was canceled at Stripe.".to_owned(),
        },
        _ => ChargeStatus::Pending,
    }
}

/// The code people and our logs see: Stripe's `code` (`card_declined`, …), else the bank's
/// `decline_code`.
fn error_code(error: &ApiErrors) -> String {
    error
        .code
        .as_ref()
        .map(|c| c.as_str().to_owned())
        .or_else(|| error.decline_code.clone())
        .unwrap_or_else(|| "payment_failed".to_owned())
}

/// Stripe's messages for card errors are written for the payer ("Your card has insufficient
/// funds."), so they are shown as they are.
fn error_message(error: &ApiErrors) -> String {
    error
        .message
        .clone()
        .unwrap_or_else(|| "The payment was refused.".to_owned())
}

/// What a failed call means for us. When the outcome is unknown (no answer, an answer we
/// cannot read, a 5xx) the error is `Unavailable`, so the caller retries with the same key and
/// Stripe replays the first outcome instead of charging again.
pub fn provider_error(error: StripeError) -> ProviderError {
    match error {
        StripeError::Stripe(error, status) => api_error(&error, status),
        StripeError::JSONDeserialize(_) => ProviderError::Unavailable(
            "Stripe's answer could not be read; the outcome is unknown".to_owned(),
        ),
        StripeError::ClientError(message) => ProviderError::Unavailable(message),
        StripeError::Timeout => {
            ProviderError::Unavailable("Stripe did not answer in time".to_owned())
        }
        StripeError::ConfigError(message) => ProviderError::Invalid(message),
    }
}

pub fn api_error(error: &ApiErrors, status: u16) -> ProviderError {
    let code = error.code.as_ref();
    if error.type_ == ApiErrorsType::IdempotencyError {
        return ProviderError::IdempotencyConflict;
    }
    // Another request with the same key is still running, or Stripe is shedding load: the
    // first request's outcome will be replayed to a later retry.
    if matches!(code, Some(ApiErrorsCode::IdempotencyKeyInUse))
        || matches!(status, 409 | 429)
        || status >= 500
        || error.type_ == ApiErrorsType::ApiError
    {
        return ProviderError::Unavailable(format!("Stripe answered {status}"));
    }
    if status == 402 || error.type_ == ApiErrorsType::CardError {
        return ProviderError::Declined {
            code: error_code(error),
            message: error_message(error),
            payment_id: error
                .payment_intent
                .as_ref()
                .map(|intent| intent.id.as_str().to_owned()),
        };
    }
    if status == 404 || matches!(code, Some(ApiErrorsCode::ResourceMissing)) {
        return ProviderError::NotFound;
    }
    ProviderError::Invalid(
        error
            .message
            .clone()
            .unwrap_or_else(|| format!("Stripe refused the request ({status})")),
    )
}

/// A Stripe event, reduced to the fields we act on. The object itself is re-fetched before it
/// is trusted, so nothing else from the payload is kept.
pub fn webhook_event(payload: &[u8]) -> Result<WebhookEvent, WebhookError> {
    let value: serde_json::Value =
        serde_json::from_slice(payload).map_err(|_| WebhookError::BadPayload)?;
    if value
        .get("object")
        .is_some_and(|object| object.as_str() != Some("event"))
    {
        return Err(WebhookError::BadPayload);
    }
    let text = |v: Option<&serde_json::Value>| {
        v.and_then(serde_json::Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    let id = text(value.get("id")).ok_or(WebhookError::BadPayload)?;
    let event_type = text(value.get("type")).ok_or(WebhookError::BadPayload)?;
    Ok(WebhookEvent {
        id,
        event_type,
        account: text(value.get("account")),
        object_id: text(value.pointer("/data/object/id")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api_errors(type_: ApiErrorsType, code: Option<&str>, decline: Option<&str>) -> ApiErrors {
        ApiErrors {
            advice_code: None,
            charge: None,
            code: code.map(|c| c.parse().unwrap()),
            decline_code: decline.map(str::to_owned),
            doc_url: None,
            message: Some("Your card was declined.".to_owned()),
            network_advice_code: None,
            network_decline_code: None,
            param: None,
            payment_intent: None,
            payment_method: None,
            payment_method_type: None,
            request_log_url: None,
            setup_intent: None,
            source: None,
            type_,
        }
    }

    #[test]
    fn succeeded_is_final() {
        assert_eq!(
            charge_status(&PaymentIntentStatus::Succeeded, None),
            ChargeStatus::Succeeded
        );
    }

    #[test]
    fn a_refused_method_is_a_failure_with_stripes_code() {
        let error = api_errors(
            ApiErrorsType::CardError,
            Some("card_declined"),
            Some("insufficient_funds"),
        );
        assert_eq!(
            charge_status(&PaymentIntentStatus::RequiresPaymentMethod, Some(&error)),
            ChargeStatus::Failed {
                code: "card_declined".to_owned(),
                message: "Your card was declined.".to_owned()
            }
        );
        let bank_only = api_errors(ApiErrorsType::CardError, None, Some("insufficient_funds"));
        assert!(matches!(
            charge_status(&PaymentIntentStatus::RequiresPaymentMethod, Some(&bank_only)),
            ChargeStatus::Failed { code, .. } if code == "insufficient_funds"
        ));
    }

    #[test]
    fn anything_unsettled_or_unknown_stays_pending() {
        for status in [
            PaymentIntentStatus::Processing,
            PaymentIntentStatus::RequiresAction,
            PaymentIntentStatus::RequiresConfirmation,
            PaymentIntentStatus::RequiresCapture,
            PaymentIntentStatus::Unknown("something_new".to_owned()),
        ] {
            assert_eq!(
                charge_status(&status, None),
                ChargeStatus::Pending,
                "{status:?}"
            );
        }
        // A fresh intent that has not been tried yet is not a failure.
        assert_eq!(
            charge_status(&PaymentIntentStatus::RequiresPaymentMethod, None),
            ChargeStatus::Pending
        );
    }

    #[test]
    fn canceled_is_a_failure() {
        assert!(matches!(
            charge_status(&PaymentIntentStatus::Canceled, None),
            ChargeStatus::Failed { code, .. } if code == "canceled"
        ));
    }

    #[test]
    fn card_errors_are_declines_with_stripes_code() {
        let error = api_errors(
            ApiErrorsType::CardError,
            Some("card_declined"),
            Some("insufficient_funds"),
        );
        let declined = provider_error(StripeError::Stripe(Box::new(error), 402));
        assert!(
            matches!(&declined, ProviderError::Declined { code, message, payment_id: None }
                if code == "card_declined" && message == "Your card was declined."),
            "{declined:?}"
        );
        // The intent's id travels in `error.payment_intent`: checked against the fake Stripe
        // server in the provider contract suite.
    }

    #[test]
    fn idempotency_errors_are_conflicts_and_key_in_use_is_retryable() {
        let conflict = api_errors(ApiErrorsType::IdempotencyError, None, None);
        assert!(matches!(
            api_error(&conflict, 400),
            ProviderError::IdempotencyConflict
        ));
        let in_use = api_errors(
            ApiErrorsType::InvalidRequestError,
            Some("idempotency_key_in_use"),
            None,
        );
        assert!(matches!(
            api_error(&in_use, 409),
            ProviderError::Unavailable(_)
        ));
    }

    #[test]
    fn unknown_outcomes_are_unavailable() {
        let server = api_errors(ApiErrorsType::ApiError, None, None);
        assert!(matches!(
            api_error(&server, 500),
            ProviderError::Unavailable(_)
        ));
        let limited = api_errors(ApiErrorsType::InvalidRequestError, Some("rate_limit"), None);
        assert!(matches!(
            api_error(&limited, 429),
            ProviderError::Unavailable(_)
        ));
        for error in [
            StripeError::Timeout,
            StripeError::ClientError("connection refused".to_owned()),
            StripeError::JSONDeserialize("bad json".to_owned()),
        ] {
            assert!(matches!(
                provider_error(error),
                ProviderError::Unavailable(_)
            ));
        }
    }

    #[test]
    fn missing_objects_and_other_refusals() {
        let missing = api_errors(
            ApiErrorsType::InvalidRequestError,
            Some("resource_missing"),
            None,
        );
        assert!(matches!(api_error(&missing, 404), ProviderError::NotFound));
        let mut invalid = api_errors(
            ApiErrorsType::InvalidRequestError,
            Some("parameter_missing"),
            None,
        );
        invalid.message = Some("Missing required param: amount.".to_owned());
        assert!(matches!(
            api_error(&invalid, 400),
            ProviderError::Invalid(message) if message == "Missing required param: amount."
        ));
    }

    #[test]
    fn currencies_go_out_in_lower_case() {
        let usd = Currency::parse("USD").unwrap();
        assert_eq!(stripe_currency(usd).to_string(), "usd");
        assert_eq!(stripe_currency(usd), stripe_types::Currency::USD);
    }

    #[test]
    fn ids_that_could_escape_a_path_are_refused() {
        assert!(check_id("payment method", "pm_card_visa").is_ok());
        for bad in ["", "pm_1/../customers", "pm 1", "pm_1?expand=x"] {
            assert!(matches!(
                check_id("payment method", bad),
                Err(ProviderError::Invalid(_))
            ));
        }
    }

    #[test]
    fn webhook_events_are_reduced_to_what_we_act_on() {
        let event = webhook_event(
            br#"{"id":"evt_1","object":"event","type":"payment_intent.succeeded",
                "account":"acct_1","data":{"object":{"id":"pi_1","object":"payment_intent"}}}"#,
        )
        .unwrap();
        assert_eq!(
            event,
            WebhookEvent {
                id: "evt_1".to_owned(),
                event_type: "payment_intent.succeeded".to_owned(),
                account: Some("acct_1".to_owned()),
                object_id: Some("pi_1".to_owned()),
            }
        );
        for bad in [
            &b"not json"[..],
            br#"{"id":"pi_1","object":"payment_intent","type":"x"}"#,
            br#"{"object":"event","type":"x"}"#,
            br#"[1,2]"#,
        ] {
            assert_eq!(webhook_event(bad), Err(WebhookError::BadPayload));
        }
    }
}
