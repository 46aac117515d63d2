//! The schedule of one pacing key, and the rules every store applies to it. `redis/pace.lua`
//! is the same rules in Lua; the constants are handed to it, so both always agree.
//!
//! - Calls are spaced evenly, one every `interval / factor` (the generic cell rate algorithm
//!   with no burst: a vendor's token bucket of one second's depth never rejects that).
//! - A slot is taken only when it starts within `HORIZON_SLOTS` intervals of now; otherwise the
//!   caller is told when to come back. So no replica or request holds a queue of future slots,
//!   and a newcomer is served within about two slots.
//! - Throttling means someone else spends the same quota. No slot starts before a vendor's
//!   retry-after. When at least `CUT_SHARE` of the calls since the last look (at least
//!   `MIN_CALLS` of them) were throttled, the factor is cut by `DECREASE` (or to what got
//!   through, `1 - share`, when that is less), times `MARGIN` so that the new rate sits under
//!   the vendor's rather than on it; never below `MIN_FACTOR`.
//! - A cut is then judged on the next `JUDGE_CALLS` calls or more, leaving out throttling
//!   answered within `JUDGE_AFTER` of it (calls sent before it): if the share of throttled
//!   calls fell below `HELPED` of what it was, the vendor was indeed over its limit and the cut
//!   stays; if it stayed at `UNHELPED` of it or more, slowing down did not help (the throttling
//!   does not come from this rate: a fault, or a quota spent elsewhere at any pace), so the cut
//!   is undone and throttling cuts nothing for `IMMUNE`. Throttled calls are retried with
//!   backoff either way.
//! - From `RECOVERY_DELAY` after the last cut, the factor grows back by `RECOVERY_PER_SECOND`
//!   per second (additive increase, multiplicative decrease).

use std::time::Duration;

/// How many intervals ahead a slot may be taken.
pub const HORIZON_SLOTS: f64 = 2.0;
/// The share of throttled calls that cuts the rate.
pub const CUT_SHARE: f64 = 0.1;
/// Calls that must have been granted before the share is looked at.
pub const MIN_CALLS: u64 = 10;
/// What a cut multiplies the rate by, at least.
pub const DECREASE: f64 = 0.5;
/// How far under the rate that got through a cut aims.
pub const MARGIN: f64 = 0.9;
/// The lowest the rate falls to, as a share of the configured rate.
pub const MIN_FACTOR: f64 = 1.0 / 16.0;
/// Calls after a cut before it is judged.
pub const JUDGE_CALLS: u64 = 15;
/// A cut helped when the throttled share fell below this part of the share that caused it...
pub const HELPED: f64 = 0.6;
/// ...over at least this many calls (the cut stays in force while it is judged, so being
/// slow to call it a success costs nothing).
pub const HELPED_CALLS: u64 = 40;
/// A cut did not help when the throttled share stayed at this part of it or more.
pub const UNHELPED: f64 = 0.8;
/// Throttling answered within this time of a cut is not held against it: those calls were
/// sent before it.
pub const JUDGE_AFTER: Duration = Duration::from_secs(1);
/// How long throttling cuts nothing after a cut that did not help.
pub const IMMUNE: Duration = Duration::from_secs(30);
/// How long after a cut the rate starts to grow back.
pub const RECOVERY_DELAY: Duration = Duration::from_secs(10);
/// How much of the configured rate comes back per second.
pub const RECOVERY_PER_SECOND: f64 = 1.0 / 60.0;

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
    /// Calls granted since the last look (or since the last cut, while it is judged).
    pub granted: u64,
    /// Calls throttled in the same time.
    pub throttled: u64,
    /// While a cut is judged: the factor before it.
    pub cut_from: Option<f64>,
    /// When the last cut was made.
    pub cut_at: u64,
    /// The throttled share that caused the last cut.
    pub cut_share: f64,
    /// Until when throttling cuts nothing.
    pub immune_until: u64,
}

impl Schedule {
    /// A key not seen before.
    pub fn new(now: u64) -> Schedule {
        Schedule {
            next: now,
            factor: 1.0,
            at: now,
            granted: 0,
            throttled: 0,
            cut_from: None,
            cut_at: 0,
            cut_share: 0.0,
            immune_until: 0,
        }
    }

    fn recover(&mut self, now: u64) {
        let from = self.at.max(self.cut_at + RECOVERY_DELAY.as_micros() as u64);
        let elapsed = now.saturating_sub(from) as f64 / 1e6;
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
        self.granted += 1;
        Take::Granted(Duration::from_micros(wait))
    }

    /// A call on this key was throttled; the vendor asked for `retry_after_us` (0: it did not
    /// say).
    pub fn throttled(&mut self, now: u64, retry_after_us: u64) {
        self.recover(now);
        if retry_after_us > 0 {
            self.next = self.next.max(now + retry_after_us);
        }
        if self.cut_from.is_some() && now < self.cut_at + JUDGE_AFTER.as_micros() as u64 {
            return;
        }
        self.throttled += 1;
        let share = self.throttled as f64 / self.granted.max(1) as f64;
        if let Some(before) = self.cut_from {
            if self.granted < JUDGE_CALLS {
                return;
            }
            if share >= UNHELPED * self.cut_share {
                self.factor = before;
                self.immune_until = now + IMMUNE.as_micros() as u64;
            } else if share >= HELPED * self.cut_share || self.granted < HELPED_CALLS {
                return; // not clear yet: keep counting
            }
            self.cut_from = None;
            self.granted = 0;
            self.throttled = 0;
            return;
        }
        if self.granted < MIN_CALLS {
            return;
        }
        if share >= CUT_SHARE && now >= self.immune_until {
            self.cut(now, share);
            return;
        }
        self.granted = 0;
        self.throttled = 0;
    }

    /// Cuts the rate for a throttled `share`, and starts judging the cut.
    fn cut(&mut self, now: u64, share: f64) {
        self.cut_from = Some(self.factor);
        self.cut_at = now;
        self.cut_share = share.min(1.0);
        self.factor = (self.factor * (1.0 - share).min(DECREASE) * MARGIN).max(MIN_FACTOR);
        self.granted = 0;
        self.throttled = 0;
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

    /// Runs `calls` calls at 10/s from `t0`, throttling those `throttle` picks (by index);
    /// returns the time after the last.
    fn run(s: &mut Schedule, t0: u64, calls: u64, throttle: impl Fn(u64) -> bool) -> u64 {
        let mut now = t0;
        for i in 0..calls {
            match s.take(now, S / 10, None) {
                Take::Granted(wait) => now += wait.as_micros() as u64,
                Take::Later(wait) => {
                    now += wait.as_micros() as u64;
                    continue;
                }
                Take::TooLate => unreachable!("no cutoff"),
            }
            if throttle(i) {
                s.throttled(now, 0);
            }
        }
        now
    }

    #[test]
    fn throttling_caused_by_the_rate_cuts_it_and_the_cut_stays() {
        let mut s = Schedule::new(0);
        // Half the calls throttled: a vendor allowing half the rate.
        let t = run(&mut s, 0, 10, |i| i % 2 == 1);
        assert_eq!(s.factor, DECREASE * MARGIN, "cut to under half");
        assert!(s.cut_from.is_some());
        // At half the rate nothing is throttled any more, then one stray throttle: judged.
        run(&mut s, t, HELPED_CALLS + 10, |i| i == HELPED_CALLS + 9);
        assert!(s.cut_from.is_none(), "judged");
        assert!(
            s.factor < 0.6,
            "the cut stays (a little recovered): {}",
            s.factor
        );
        assert_eq!(s.immune_until, 0);
    }

    #[test]
    fn throttling_that_slowing_down_does_not_reduce_is_not_answered_by_slowing_down() {
        let mut s = Schedule::new(0);
        // One call in five throttled whatever the rate: a fault, not a limit.
        let t = run(&mut s, 0, 10, |i| i % 5 == 4);
        assert_eq!(s.factor, DECREASE * MARGIN, "cut first");
        let t = run(&mut s, t, 30, |i| i % 5 == 4);
        assert!(
            s.factor > 0.99,
            "undone: slowing down did not help ({})",
            s.factor
        );
        assert!(s.immune_until > t);
        run(&mut s, t, 30, |i| i % 5 == 4);
        assert!(s.factor > 0.99, "no cut while immune ({})", s.factor);
    }

    #[test]
    fn a_vendor_retry_after_holds_the_key() {
        let mut s = Schedule::new(0);
        s.take(0, S / 10, None);
        s.throttled(0, 1_500_000);
        assert_eq!(
            s.take(0, S / 10, None),
            Take::Later(Duration::from_micros(1_500_000 - 200_000))
        );
    }

    #[test]
    fn the_rate_recovers_and_never_falls_below_its_floor() {
        let mut s = Schedule::new(0);
        s.factor = MIN_FACTOR * 1.5;
        s.granted = MIN_CALLS;
        s.throttled = MIN_CALLS - 1;
        s.throttled(0, 0);
        assert_eq!(s.factor, MIN_FACTOR, "a cut stops at the floor");
        s.take(200 * S, S / 10, None);
        assert_eq!(s.factor, 1.0, "time brings the whole rate back");
    }
}
