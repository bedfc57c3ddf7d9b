//! `Money`: integer minor units plus an ISO currency code. Floats never hold an amount.

use std::fmt;

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Currency([u8; 3]);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MoneyError {
    #[error("currency must be a three-letter ISO 4217 code such as USD")]
    BadCurrency,
    #[error("amounts in different currencies cannot be combined")]
    CurrencyMismatch,
    #[error("amount is out of range")]
    Overflow,
}

impl Currency {
    pub fn parse(code: &str) -> Result<Self, MoneyError> {
        let bytes = code.as_bytes();
        if bytes.len() == 3 && bytes.iter().all(u8::is_ascii_alphabetic) {
            let mut upper = [0u8; 3];
            for (slot, byte) in upper.iter_mut().zip(bytes) {
                *slot = byte.to_ascii_uppercase();
            }
            Ok(Self(upper))
        } else {
            Err(MoneyError::BadCurrency)
        }
    }

    pub fn as_str(&self) -> &str {
        // Only ASCII letters are ever stored (see `parse`), so this is valid UTF-8.
        std::str::from_utf8(&self.0).unwrap_or("XXX")
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An amount in minor units (cents) of one currency.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Money {
    pub amount: i64,
    pub currency: Currency,
}

impl Money {
    pub fn new(amount: i64, currency: Currency) -> Self {
        Self { amount, currency }
    }

    pub fn checked_add(self, other: Money) -> Result<Money, MoneyError> {
        if self.currency != other.currency {
            return Err(MoneyError::CurrencyMismatch);
        }
        let amount = self
            .amount
            .checked_add(other.amount)
            .ok_or(MoneyError::Overflow)?;
        Ok(Money::new(amount, self.currency))
    }

    pub fn checked_sub(self, other: Money) -> Result<Money, MoneyError> {
        if self.currency != other.currency {
            return Err(MoneyError::CurrencyMismatch);
        }
        let amount = self
            .amount
            .checked_sub(other.amount)
            .ok_or(MoneyError::Overflow)?;
        Ok(Money::new(amount, self.currency))
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.amount < 0 { "-" } else { "" };
        let abs = self.amount.unsigned_abs();
        write!(f, "{sign}{}.{:02} {}", abs / 100, abs % 100, self.currency)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_refuses_mixed_currencies_and_overflow() {
        let usd = Currency::parse("usd").expect("valid");
        let eur = Currency::parse("EUR").expect("valid");
        assert_eq!(usd.as_str(), "USD");
        let a = Money::new(1050, usd);
        assert_eq!(a.checked_add(Money::new(5, usd)), Ok(Money::new(1055, usd)));
        assert_eq!(
            a.checked_add(Money::new(5, eur)),
            Err(MoneyError::CurrencyMismatch)
        );
        assert_eq!(
            Money::new(i64::MAX, usd).checked_add(Money::new(1, usd)),
            Err(MoneyError::Overflow)
        );
        assert_eq!(Money::new(-1050, usd).to_string(), "-10.50 USD");
        assert_eq!(Currency::parse("US"), Err(MoneyError::BadCurrency));
        assert_eq!(Currency::parse("U$D"), Err(MoneyError::BadCurrency));
    }
}
