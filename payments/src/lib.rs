//! Billing: invoices, payments, saved payment methods and the `PaymentProvider` plugins (mock
//! and Stripe). Nothing here knows about the `tenants` crate: what billing needs about a firm,
//! a file or a client (ids, names, email addresses, which files a client may see) is passed in
//! as plain values by the web layer, which also owns the transactions of firm-side changes, so
//! an invoice and its audit entry commit together.

pub mod checkout;
pub mod entity;
pub mod error;
pub mod invoices;
pub mod ledger;
pub mod methods;
pub mod mock;
pub mod provider;
pub mod registry;
pub mod settings;
pub mod signature;
pub mod stripe;
pub mod webhooks;

use portico_platform::money::{Currency, Money};

pub use error::{BillingError, BillingResult};
pub use provider::{PaymentProvider, ProviderError, ProviderKind};
pub use registry::Providers;

/// The currency of a code read back from our own rows (or the mock provider's store). Only
/// codes that parsed are ever written there, so the USD fallback is not reached in practice; it
/// keeps one damaged row from failing a whole page.
pub(crate) fn stored_currency(code: &str) -> Currency {
    Currency::parse(code).unwrap_or_else(|_| usd())
}

/// The currency of a firm that never chose one.
pub(crate) fn usd() -> Currency {
    // A fixed, valid code: `parse` cannot refuse it.
    Currency::parse("USD").expect("USD is a valid currency code")
}

/// `$1,234.56`-style text for emails and messages (two minor digits; the symbol for the common
/// currencies, the ISO code otherwise).
pub fn format_money(money: Money) -> String {
    let sign = if money.amount < 0 { "-" } else { "" };
    let abs = money.amount.unsigned_abs();
    let major = abs / 100;
    let minor = abs % 100;
    let digits = major.to_string();
    let mut grouped = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(c);
    }
    let symbol = match money.currency.as_str() {
        "USD" | "CAD" | "AUD" | "NZD" => "$",
        "EUR" => "€",
        "GBP" => "£",
        _ => "",
    };
    if symbol.is_empty() {
        format!("{sign}{grouped}.{minor:02} {}", money.currency)
    } else if matches!(money.currency.as_str(), "CAD" | "AUD" | "NZD") {
        format!("{sign}{symbol}{grouped}.{minor:02} {}", money.currency)
    } else {
        format!("{sign}{symbol}{grouped}.{minor:02}")
    }
}

#[cfg(test)]
mod tests {
    use portico_platform::money::{Currency, Money};

    use super::format_money;

    #[test]
    fn money_reads_like_money() {
        let usd = Currency::parse("USD").unwrap();
        assert_eq!(format_money(Money::new(123456, usd)), "$1,234.56");
        assert_eq!(format_money(Money::new(5, usd)), "$0.05");
        assert_eq!(format_money(Money::new(-100000000, usd)), "-$1,000,000.00");
        let chf = Currency::parse("CHF").unwrap();
        assert_eq!(format_money(Money::new(1000, chf)), "10.00 CHF");
    }
}
