//! When to refresh temporary credentials and how long to wait after a failed refresh.
//!
//! The official libraries refresh 15 minutes before expiry (Alibaba STS), 5 minutes (Tencent
//! CVM) or after a tenth of the lifetime (Tencent STS). stopgate takes one rule for all: a fifth
//! of the lifetime ahead, at least one minute and at most fifteen, plus up to a fifth of that
//! again at random, so that replicas started together do not refresh together.

use std::time::Duration;

/// Credentials closer than this to their expiry are not handed out: a vendor call with its
/// retries could outlast them.
pub const USABLE_MARGIN: Duration = Duration::from_secs(30);

const MIN_AHEAD: Duration = Duration::from_secs(60);
const MAX_AHEAD: Duration = Duration::from_secs(15 * 60);
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// How long before expiry to refresh credentials that live `lifetime`; `jitter` in `[0, 1)`.
pub fn refresh_ahead(lifetime: Duration, jitter: f64) -> Duration {
    let ahead = (lifetime / 5).clamp(MIN_AHEAD, MAX_AHEAD);
    ahead + ahead.mul_f64(jitter.clamp(0.0, 1.0) / 5.0)
}

/// How long to wait before trying again after `failures` refreshes failed in a row.
pub fn backoff(failures: u32) -> Duration {
    let doublings = failures.saturating_sub(1).min(16);
    (FIRST_BACKOFF * 2u32.pow(doublings)).min(MAX_BACKOFF)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fifth_of_the_lifetime_ahead_between_one_and_fifteen_minutes() {
        let hour = Duration::from_secs(3600);
        assert_eq!(refresh_ahead(hour, 0.0), Duration::from_secs(720));
        assert_eq!(refresh_ahead(hour * 12, 0.0), MAX_AHEAD);
        assert_eq!(refresh_ahead(Duration::from_secs(120), 0.0), MIN_AHEAD);
        let jittered = refresh_ahead(hour, 0.99);
        assert!(jittered > Duration::from_secs(720) && jittered < Duration::from_secs(865));
    }

    #[test]
    fn backoff_doubles_up_to_half_a_minute() {
        assert_eq!(backoff(1), Duration::from_secs(1));
        assert_eq!(backoff(3), Duration::from_secs(4));
        assert_eq!(backoff(40), MAX_BACKOFF);
    }
}
