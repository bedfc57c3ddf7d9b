//! Failed operator sign-ins, counted per client address, for the console's sign-in form and the
//! operator API's bearer token alike. After [`LIMIT`] failures from one address, that address is
//! refused (429, even with the right token) until [`WINDOW`] has passed since its first failure.
//!
//! The operator token is a random value of at least 24 characters (checked at start-up), so
//! guessing it online is hopeless anyway; the limit stops a scanner from trying forever and
//! filling the logs. It is counted in each node's memory, not in the database like the firms'
//! sign-in throttle: the platform has no tenant to scope a table row to, and with N nodes an
//! address gets N × [`LIMIT`] tries per window, which changes nothing against a token of that
//! length. A restart forgets the counts.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use portico_platform::token::constant_time_eq;

/// Failed sign-ins an address may make per window.
pub const LIMIT: u32 = 10;
/// How long an address's failures count, from its first one.
pub const WINDOW: Duration = Duration::from_secs(15 * 60);
/// Addresses remembered at once; beyond this the least used are forgotten first.
const ADDRESSES: u64 = 100_000;

pub struct OperatorThrottle {
    limit: u32,
    window: Duration,
    failures: moka::sync::Cache<String, Arc<Failures>>,
}

struct Failures {
    first: Instant,
    count: AtomicU32,
}

/// Why an operator token was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    /// Not the configured token (or none is configured); counted against the address.
    Wrong,
    /// The address has used up its failures; it may try again after this long.
    LockedOut(Duration),
}

impl Default for OperatorThrottle {
    fn default() -> Self {
        Self::with(LIMIT, WINDOW)
    }
}

impl OperatorThrottle {
    fn with(limit: u32, window: Duration) -> Self {
        Self {
            limit,
            window,
            failures: moka::sync::Cache::builder()
                .max_capacity(ADDRESSES)
                .time_to_live(window)
                .build(),
        }
    }

    /// An address the peer did not tell (no socket address) is counted as one.
    fn key(address: Option<&str>) -> String {
        address.unwrap_or("unknown").to_owned()
    }

    /// Checks the token `presented` from `address` against the configured `expected` one (empty:
    /// the operator console and API are off): refused while the address is locked out, even
    /// when right; a wrong token counts against it, the right one clears its count.
    pub fn verify(
        &self,
        address: Option<&str>,
        presented: &str,
        expected: &str,
    ) -> Result<(), Refused> {
        if let Some(wait) = self.locked_for(address) {
            return Err(Refused::LockedOut(wait));
        }
        if expected.is_empty() || !constant_time_eq(presented, expected) {
            self.failed(address);
            return Err(Refused::Wrong);
        }
        self.succeeded(address);
        Ok(())
    }

    /// How long `address` must still wait, if it has used up its failures.
    fn locked_for(&self, address: Option<&str>) -> Option<Duration> {
        let failures = self.failures.get(&Self::key(address))?;
        if failures.count.load(Ordering::SeqCst) < self.limit {
            return None;
        }
        Some(self.window.saturating_sub(failures.first.elapsed())).filter(|wait| !wait.is_zero())
    }

    /// A wrong token from `address`.
    fn failed(&self, address: Option<&str>) {
        let failures = self.failures.get_with(Self::key(address), || {
            Arc::new(Failures {
                first: Instant::now(),
                count: AtomicU32::new(0),
            })
        });
        failures.count.fetch_add(1, Ordering::SeqCst);
    }

    /// The right token from `address`: its earlier failures no longer count.
    fn succeeded(&self, address: Option<&str>) {
        self.failures.invalidate(&Self::key(address));
    }
}

/// Whole minutes, rounded up, for a message to a person.
pub fn minutes(wait: Duration) -> u64 {
    wait.as_secs().div_ceil(60).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_is_refused_after_its_failures_until_the_window_passes() {
        let throttle = OperatorThrottle::with(3, Duration::from_millis(300));
        let (a, b) = (Some("203.0.113.7"), Some("198.51.100.2"));
        for _ in 0..2 {
            throttle.failed(a);
        }
        assert_eq!(throttle.locked_for(a), None, "two failures of three");
        throttle.failed(a);
        let wait = throttle.locked_for(a).expect("refused after the third");
        assert!(wait <= Duration::from_millis(300), "{wait:?}");
        assert_eq!(throttle.locked_for(b), None, "another address is not");
        std::thread::sleep(Duration::from_millis(350));
        assert_eq!(throttle.locked_for(a), None, "the window has passed");
    }

    #[test]
    fn a_success_clears_the_addresss_failures() {
        let throttle = OperatorThrottle::with(2, WINDOW);
        throttle.failed(None);
        throttle.succeeded(None);
        throttle.failed(None);
        assert_eq!(
            throttle.locked_for(None),
            None,
            "one failure since the success"
        );
        throttle.failed(None);
        assert!(throttle.locked_for(None).is_some());
    }

    #[test]
    fn minutes_round_up() {
        assert_eq!(minutes(Duration::from_secs(1)), 1);
        assert_eq!(minutes(Duration::from_secs(61)), 2);
        assert_eq!(minutes(WINDOW), 15);
    }
}
