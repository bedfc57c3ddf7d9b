//! Provider-facing routes, on any host: `/webhooks/stripe` and `/webhooks/mock` (signed
//! events), and `/mock-psp/tokens`, the mock provider's tokenisation endpoint that stands in
//! for Stripe.js (it is not part of the Portal API: in Stripe mode card numbers go from the
//! browser to Stripe).
//!
//! A webhook is verified (signature, any matching `v1`, ±300 s) before anything else; events
//! of accounts no firm uses are acknowledged and ignored; the event's object is re-fetched from
//! the provider; then the event id and its effect are recorded in one transaction. A 2xx tells
//! the provider to stop retrying, so it is only sent once that transaction committed (or the
//! event is known to need nothing).

use chrono::Utc;
use poem::http::StatusCode;
use poem::web::{Data, Json};
use poem::{Body, IntoResponse, Request, Response, handler};
use portico_payments::mock::{self, BankInput, CardInput, MockError};
use portico_payments::provider::{ProviderAccount, ProviderError};
use portico_payments::webhooks::{self, WebhookOutcome};
use portico_payments::{ProviderKind, format_money};
use portico_tenants::activity::{self, ActivityKind};
use portico_tenants::audit::Actor;
use portico_tenants::bootstrap;
use serde::Deserialize;

use crate::error::problem_response;
use crate::state::AppState;

/// Webhook bodies are small JSON events; anything bigger is not one.
const MAX_EVENT_BYTES: usize = 256 * 1024;

#[handler]
pub async fn stripe(state: Data<&AppState>, req: &Request, body: Body) -> Response {
    receive(&state, ProviderKind::Stripe, "stripe-signature", req, body).await
}

#[handler]
pub async fn mock_events(state: Data<&AppState>, req: &Request, body: Body) -> Response {
    receive(
        &state,
        ProviderKind::Mock,
        "portico-mock-signature",
        req,
        body,
    )
    .await
}

fn acknowledged(note: &str) -> Response {
    Json(serde_json::json!({"received": true, "note": note})).into_response()
}

async fn receive(
    state: &AppState,
    kind: ProviderKind,
    signature_header: &str,
    req: &Request,
    body: Body,
) -> Response {
    let payload = match body.into_bytes_limit(MAX_EVENT_BYTES).await {
        Ok(bytes) => bytes,
        Err(_) => {
            return problem_response(
                StatusCode::PAYLOAD_TOO_LARGE,
                "webhook payload too large or unreadable",
            );
        }
    };
    let header = req
        .headers()
        .get(signature_header)
        .and_then(|v| v.to_str().ok());
    let provider = state.payments.get(kind);
    let event = match provider.verify_webhook(&payload, header, Utc::now().timestamp()) {
        Ok(event) => event,
        Err(err) => {
            tracing::warn!(provider = kind.as_str(), error = %err, "webhook refused");
            return problem_response(StatusCode::BAD_REQUEST, &format!("webhook refused: {err}"));
        }
    };
    let Some(account) = event.account.clone() else {
        return acknowledged("no connected account: ignored");
    };
    let tenant = match webhooks::tenant_for_account(&state.db, kind, &account).await {
        Ok(Some(tenant)) => tenant,
        Ok(None) => return acknowledged("unknown account: ignored"),
        Err(err) => return retry_later(&err.to_string()),
    };
    let firm_name = match bootstrap::tenant_by_id(&state.db, tenant).await {
        Ok(Some(record)) => record.name,
        Ok(None) => return acknowledged("unknown account: ignored"),
        Err(err) => return retry_later(&err.to_string()),
    };
    // Never trust the event body: ask the provider what the payment is now.
    let charge = match (
        &event.object_id,
        event.event_type.starts_with("payment_intent."),
    ) {
        (Some(object), true) => {
            match provider
                .retrieve_payment(&ProviderAccount(account.clone()), object)
                .await
            {
                Ok(charge) => Some(charge),
                Err(ProviderError::NotFound) => None,
                Err(err) => return retry_later(&err.to_string()),
            }
        }
        _ => None,
    };
    let result = async {
        let tx = state.db.tenant(tenant).write().await?;
        let outcome = webhooks::record_and_apply(&tx, kind, &event, charge, &firm_name).await?;
        if let WebhookOutcome::Applied(Some(settled)) = &outcome
            && settled.changed
        {
            let what = match settled.result.status {
                portico_payments::checkout::PayStatus::Succeeded => "succeeded",
                _ => "failed",
            };
            activity::record(
                &tx,
                ActivityKind::ClientActivity,
                Some(settled.file_id),
                &Actor::System("payment provider"),
                "payment.confirmed",
                format!(
                    "a Portal payment of {} on invoice {} {what} (confirmed by the payment provider)",
                    format_money(settled.result.amount),
                    settled.invoice_number
                ),
            )
            .await?;
        }
        tx.commit().await?;
        Ok::<_, portico_payments::BillingError>(outcome)
    }
    .await;
    match result {
        Ok(WebhookOutcome::Duplicate) => acknowledged("already processed"),
        Ok(WebhookOutcome::Applied(_)) => acknowledged("processed"),
        Err(err) => retry_later(&err.to_string()),
    }
}

/// A non-2xx the provider retries later; the cause is logged, not sent.
fn retry_later(cause: &str) -> Response {
    tracing::error!(
        cause,
        "webhook could not be processed; the provider will retry"
    );
    problem_response(
        StatusCode::SERVICE_UNAVAILABLE,
        "the event could not be processed now; retry later",
    )
}

#[derive(Deserialize)]
#[serde(untagged)]
pub enum TokenRequest {
    Card(CardInput),
    Bank(BankInput),
}

/// `POST /mock-psp/tokens`: typed card (or bank account) details → a single-use token.
#[handler]
pub async fn mock_tokens(state: Data<&AppState>, body: Body) -> Response {
    let bytes = match body.into_bytes_limit(16 * 1024).await {
        Ok(bytes) => bytes,
        Err(_) => return problem_response(StatusCode::PAYLOAD_TOO_LARGE, "request too large"),
    };
    let request: TokenRequest = match serde_json::from_slice(&bytes) {
        Ok(r) => r,
        Err(_) => {
            return problem_response(
                StatusCode::BAD_REQUEST,
                "expected {card_number, exp_month, exp_year, cvc} or {routing_number, account_number}",
            );
        }
    };
    let token = match &request {
        TokenRequest::Card(card) => mock::tokenise(&state.db, card).await,
        TokenRequest::Bank(bank) => mock::tokenise_bank_account(&state.db, bank).await,
    };
    match token {
        Ok(token) => (
            StatusCode::CREATED,
            Json(serde_json::json!({"provider_token": token})),
        )
            .into_response(),
        Err(MockError::Invalid(message)) => {
            problem_response(StatusCode::UNPROCESSABLE_ENTITY, &message)
        }
        Err(MockError::Db(err)) => {
            tracing::error!(error = %err, "mock tokenisation failed");
            problem_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong on our side.",
            )
        }
    }
}
