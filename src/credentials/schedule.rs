//! When to refresh temporary credentials, how close to expiry they stop being handed out, and
//! how long to back off after a failed refresh.
//!
//! The official libraries refresh 15 minutes before expiry (Alibaba STS), 5 minutes (Tencent
//! CVM) or after a tenth of the lifetime (Tencent STS). stopgate takes one rule for all: a fifth
//! of the lifetime ahead, at least one minute and at most fifteen, but never more than half the
//! lifetime, plus up to a fifth of that again at random, so that replicas started together do
//! not refresh together. Credentials stop being handed out 30 seconds before expiry, or a tenth
//! of their lifetime when that is shorter.
//!
//! Real vendor credentials live at least 15 minutes, so for them the half-lifetime and
//! tenth-of-lifetime caps never bite; they keep keys that live seconds (the simulator's, in
//! tests) in use for most of their life instead of refreshing them on every call.

use std::time::Duration;

/// Credentials closer than this to their expiry are not handed out: a vendor call with its
/// retries could outlast them. Shorter for short-lived keys ([`usable_margin`]).
pub const USABLE_MARGIN: Duration = Duration::from_secs(30);

const MIN_AHEAD: Duration = Duration::from_secs(60);
const MAX_AHEAD: Duration = Duration::from_secs(15 * 60);
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// How long before expiry to refresh credentials that live `lifetime`; `jitter` in `[0, 1)`.
pub fn refresh_ahead(lifetime: Duration, jitter: f64) -> Duration {
    let ahead = (lifetime / 5).clamp(MIN_AHEAD, MAX_AHEAD).min(lifetime / 2);
    ahead + ahead.mul_f64(jitter.clamp(0.0, 1.0) / 5.0)
}

/// How long before expiry credentials that live `lifetime` stop being handed out.
pub fn usable_margin(lifetime: Duration) -> Duration {
    USABLE_MARGIN.min(lifetime / 10)
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
        assert_eq!(
            refresh_ahead(Duration::from_secs(15 * 60), 0.0),
            MIN_AHEAD * 3
        );
        assert_eq!(refresh_ahead(Duration::from_secs(120), 0.0), MIN_AHEAD);
        let jittered = refresh_ahead(hour, 0.99);
        assert!(jittered > Duration::from_secs(720) && jittered < Duration::from_secs(865));
    }

    #[test]
    fn short_lived_keys_are_refreshed_half_their_lifetime_ahead_at_most() {
        let two = Duration::from_secs(2);
        assert_eq!(refresh_ahead(two, 0.0), Duration::from_secs(1));
        let jittered = refresh_ahead(two, 0.99);
        assert!(jittered < Duration::from_millis(1200), "{jittered:?}");
        assert!(two - jittered > Duration::from_millis(800), "{jittered:?}");
    }

    #[test]
    fn the_usable_margin_is_half_a_minute_or_a_tenth_of_a_short_lifetime() {
        assert_eq!(usable_margin(Duration::from_secs(3600)), USABLE_MARGIN);
        assert_eq!(usable_margin(Duration::from_secs(15 * 60)), USABLE_MARGIN);
        assert_eq!(
            usable_margin(Duration::from_secs(2)),
            Duration::from_millis(200)
        );
        // Whatever the lifetime, keys are due for a refresh after they were fetched and before
        // they stop being handed out.
        for secs in [1, 2, 10, 120, 900, 3600, 43_200] {
            let lifetime = Duration::from_secs(secs);
            assert!(refresh_ahead(lifetime, 0.99) < lifetime);
            assert!(refresh_ahead(lifetime, 0.0) > usable_margin(lifetime));
        }
    }

    #[test]
    fn backoff_doubles_up_to_half_a_minute() {
        assert_eq!(backoff(1), Duration::from_secs(1));
        assert_eq!(backoff(3), Duration::from_secs(4));
        assert_eq!(backoff(40), MAX_BACKOFF);
    }
}
