//! The schedule of one pacing key, and the rules every store applies to it. `redis/pace.lua`
//! is the same rules in Lua; the constants are handed to it, so both always agree.
//!
//! - Calls are spaced evenly, one every `interval / factor` (the generic cell rate algorithm
//!   with no burst: a vendor's token bucket of one second's depth never rejects that).
//! - A slot is taken only when it starts within `HORIZON_SLOTS` intervals of now; otherwise the
//!   caller is told when to come back. So no replica or request holds a queue of future slots,
//!   and a newcomer is served within about two slots.
//! - A throttling answer means someone else spends the same quota: no slot starts before the
//!   vendor's retry-after (or `THROTTLE_PAUSE`), and the factor is halved (at most once per
//!   `DECREASE_EVERY`, so a burst of throttled calls cuts it once), never below `MIN_FACTOR`.
//! - The factor grows back by `RECOVERY_PER_SECOND` per second without a throttle (additive
//!   increase, multiplicative decrease).

use std::time::Duration;

/// How many intervals ahead a slot may be taken.
pub const HORIZON_SLOTS: f64 = 2.0;
/// What a throttling answer multiplies the rate by.
pub const DECREASE: f64 = 0.5;
/// The lowest the rate falls to, as a share of the configured rate.
pub const MIN_FACTOR: f64 = 1.0 / 16.0;
/// Throttling answers within this time of a cut do not cut again.
pub const DECREASE_EVERY: Duration = Duration::from_secs(1);
/// How much of the configured rate comes back per second without throttling.
pub const RECOVERY_PER_SECOND: f64 = 1.0 / 60.0;
/// How long a key pauses after a throttling answer that carried no retry-after.
pub const THROTTLE_PAUSE: Duration = Duration::from_secs(1);

/// What taking a slot answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Take {
    /// The slot is yours; it starts after this wait.
    Granted(Duration),
    /// The next free slot is beyond the horizon: ask again after this wait.
    Later(Duration),
    /// The next free slot starts at or after the caller's cutoff; nothing was taken.
    TooLate,
}

/// One key's schedule, in microseconds on the store's clock.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Schedule {
    /// When the next call may start.
    pub next: u64,
    /// The share of the configured rate in force, in `MIN_FACTOR..=1`.
    pub factor: f64,
    /// When `factor` was last brought up to date.
    pub at: u64,
    /// When the factor was last cut, if ever.
    pub cut: Option<u64>,
}

impl Schedule {
    /// A key not seen before.
    pub fn new(now: u64) -> Schedule {
        Schedule {
            next: now,
            factor: 1.0,
            at: now,
            cut: None,
        }
    }

    fn recover(&mut self, now: u64) {
        let elapsed = now.saturating_sub(self.at) as f64 / 1e6;
        self.factor = (self.factor + elapsed * RECOVERY_PER_SECOND).min(1.0);
        self.at = self.at.max(now);
    }

    /// Takes the next slot for a call at `interval_us` (the configured rate), unless it starts
    /// beyond the horizon or at or after `cutoff_us` from now.
    pub fn take(&mut self, now: u64, interval_us: u64, cutoff_us: Option<u64>) -> Take {
        self.recover(now);
        let spacing = interval_us as f64 / self.factor;
        let start = self.next.max(now);
        let wait = start - now;
        if cutoff_us.is_some_and(|cutoff| wait >= cutoff) {
            return Take::TooLate;
        }
        let horizon = (spacing * HORIZON_SLOTS) as u64;
        if wait > horizon {
            return Take::Later(Duration::from_micros(wait - horizon));
        }
        self.next = start + spacing as u64;
        Take::Granted(Duration::from_micros(wait))
    }

    /// A call on this key was throttled; the vendor asked for `retry_after_us` (0: it did not
    /// say).
    pub fn throttled(&mut self, now: u64, retry_after_us: u64) {
        self.recover(now);
        if self
            .cut
            .is_none_or(|cut| now.saturating_sub(cut) >= DECREASE_EVERY.as_micros() as u64)
        {
            self.factor = (self.factor * DECREASE).max(MIN_FACTOR);
            self.cut = Some(now);
        }
        let pause = if retry_after_us > 0 {
            retry_after_us
        } else {
            THROTTLE_PAUSE.as_micros() as u64
        };
        self.next = self.next.max(now + pause);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1_000_000;

    #[test]
    fn slots_are_spaced_at_the_interval_and_taken_only_near_now() {
        let mut s = Schedule::new(0);
        assert_eq!(s.take(0, S / 10, None), Take::Granted(Duration::ZERO));
        assert_eq!(
            s.take(0, S / 10, None),
            Take::Granted(Duration::from_millis(100))
        );
        assert_eq!(
            s.take(0, S / 10, None),
            Take::Granted(Duration::from_millis(200))
        );
        // The next would start 300 ms out, past the horizon of two slots.
        assert_eq!(
            s.take(0, S / 10, None),
            Take::Later(Duration::from_millis(100))
        );
        assert_eq!(
            s.take(100_000, S / 10, None),
            Take::Granted(Duration::from_millis(200))
        );
    }

    #[test]
    fn a_slot_at_or_past_the_cutoff_is_not_taken() {
        let mut s = Schedule::new(0);
        s.take(0, S / 10, None);
        assert_eq!(s.take(0, S / 10, Some(100_000)), Take::TooLate);
        assert_eq!(
            s.take(0, S / 10, Some(100_001)),
            Take::Granted(Duration::from_millis(100))
        );
    }

    #[test]
    fn an_idle_key_does_not_bank_a_burst() {
        let mut s = Schedule::new(0);
        s.take(0, S / 10, None);
        assert_eq!(s.take(5 * S, S / 10, None), Take::Granted(Duration::ZERO));
        assert_eq!(
            s.take(5 * S, S / 10, None),
            Take::Granted(Duration::from_millis(100))
        );
    }

    fn micros(take: Take) -> u64 {
        match take {
            Take::Granted(d) | Take::Later(d) => d.as_micros() as u64,
            Take::TooLate => u64::MAX,
        }
    }

    #[test]
    fn a_throttle_pauses_the_key_halves_the_rate_once_per_burst_and_the_rate_recovers() {
        let mut s = Schedule::new(0);
        s.throttled(0, 1_500_000);
        s.throttled(1000, 0);
        assert!(
            (0.5..0.501).contains(&s.factor),
            "a burst of throttles cuts once: {}",
            s.factor
        );
        let later = s.take(1000, S / 10, None);
        assert!(matches!(later, Take::Later(_)), "{later:?}");
        assert!(
            (1_099_000..1_100_000).contains(&micros(later)),
            "come back when the paused slot is two (halved) slots away: {later:?}"
        );
        assert_eq!(
            s.take(1_500_000, S / 10, None),
            Take::Granted(Duration::ZERO)
        );
        let second = micros(s.take(1_500_000, S / 10, None));
        assert!(
            (190_000..200_000).contains(&second),
            "spaced at about half the rate, a little recovered: {second}"
        );
        s.throttled(3 * S, 0);
        assert!(s.factor < 0.5);
        // A minute without throttling brings the whole rate back.
        s.take(70 * S, S / 10, None);
        assert_eq!(s.factor, 1.0);
    }

    #[test]
    fn the_rate_never_falls_below_its_floor() {
        let mut s = Schedule::new(0);
        for i in 1..100 {
            s.throttled(i * 2 * S, 0);
        }
        assert!(s.factor >= MIN_FACTOR);
    }
}
