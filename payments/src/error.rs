//! What can go wrong in billing, in terms the web layer maps to HTTP statuses.

use portico_platform::mail::EnqueueError;
use sea_orm::DbErr;

use crate::provider::ProviderError;

#[derive(Debug, thiserror::Error)]
pub enum BillingError {
    /// Bad input; the message says which field and why (422).
    #[error("{0}")]
    Invalid(String),
    /// Missing, in another firm, or not visible to the caller: one answer for all (404).
    #[error("not found")]
    NotFound,
    /// The request conflicts with the current state (409), e.g. sharing a draft, or an
    /// idempotency key reused for a different payment.
    #[error("{0}")]
    Conflict(String),
    /// The payment provider could not be reached or is not configured (502/503).
    #[error("{0}")]
    Provider(ProviderError),
    #[error(transparent)]
    Db(#[from] DbErr),
}

impl BillingError {
    /// A client's Idempotency-Key already names a payment with other parameters, whether we
    /// or the provider noticed.
    pub(crate) fn key_reused() -> Self {
        BillingError::Conflict(
            "this Idempotency-Key was already used for a different payment".into(),
        )
    }
}

impl From<EnqueueError> for BillingError {
    fn from(err: EnqueueError) -> Self {
        match err {
            EnqueueError::BadAddress(address) => {
                BillingError::Invalid(format!("{address} is not a valid email address"))
            }
            EnqueueError::Db(e) => BillingError::Db(e),
        }
    }
}

impl From<ProviderError> for BillingError {
    fn from(err: ProviderError) -> Self {
        match err {
            ProviderError::IdempotencyConflict => BillingError::key_reused(),
            ProviderError::Invalid(message) => BillingError::Invalid(message),
            ProviderError::NotFound => BillingError::NotFound,
            other => BillingError::Provider(other),
        }
    }
}

pub type BillingResult<T> = Result<T, BillingError>;
