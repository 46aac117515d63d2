//! Pacing: one schedule per account × provider × region × action, so that large requests run
//! at the vendor's published rate without being throttled (docs/design.md rule 4).
//!
//! Each key keeps the earliest time its next call may start (the generic cell rate algorithm
//! with no burst): calls are spaced evenly at `1 / rate`, which a vendor's token bucket of one
//! second's depth never rejects.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// Shared by every request of the gateway.
#[derive(Debug, Default)]
pub struct Pacer {
    next: Mutex<HashMap<String, Instant>>,
}

impl Pacer {
    /// Reserves the next slot for `key` at `per_second` and returns when it starts, without
    /// waiting. A slot that is not used is simply lost.
    pub fn reserve(&self, key: &str, per_second: f64) -> Instant {
        self.reserve_before(key, per_second, None)
            .expect("no deadline")
    }

    /// Like [`Pacer::reserve`], but reserves nothing (and returns `None`) when the slot would
    /// start at or after `deadline`, so that a request running out of time does not delay the
    /// others on the same key.
    pub fn reserve_before(
        &self,
        key: &str,
        per_second: f64,
        deadline: Option<Instant>,
    ) -> Option<Instant> {
        let interval = Duration::from_secs_f64(1.0 / per_second.max(0.001));
        let now = Instant::now();
        let mut next = self.next.lock().unwrap_or_else(|p| p.into_inner());
        let slot = next.entry(key.to_string()).or_insert(now);
        let start = (*slot).max(now);
        if deadline.is_some_and(|d| start >= d) {
            return None;
        }
        *slot = start + interval;
        Some(start)
    }
}

/// Sleeps one poll interval jittered by ±20% (so that many waits do not poll in step), but
/// never past `deadline`. Returns false once the deadline has come.
pub async fn poll_pause(interval: Duration, deadline: Instant) -> bool {
    use rand::Rng;
    let jittered = interval.mul_f64(rand::rng().random_range(0.8..1.2));
    tokio::time::sleep_until((Instant::now() + jittered).min(deadline)).await;
    Instant::now() < deadline
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn calls_are_spaced_at_the_rate_per_key() {
        let pacer = Pacer::default();
        let t0 = Instant::now();
        let slots: Vec<Duration> = (0..5).map(|_| pacer.reserve("a", 10.0) - t0).collect();
        assert_eq!(
            slots,
            (0..5)
                .map(|i| Duration::from_millis(100 * i))
                .collect::<Vec<_>>()
        );
        assert_eq!(pacer.reserve("b", 10.0) - t0, Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn a_slot_past_the_deadline_is_not_taken() {
        let pacer = Pacer::default();
        let t0 = Instant::now();
        pacer.reserve("a", 10.0);
        assert_eq!(
            pacer.reserve_before("a", 10.0, Some(t0 + Duration::from_millis(50))),
            None
        );
        assert_eq!(
            pacer.reserve("a", 10.0) - t0,
            Duration::from_millis(100),
            "the refused slot was not taken"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn an_idle_key_does_not_bank_a_burst() {
        let pacer = Pacer::default();
        pacer.reserve("a", 10.0);
        tokio::time::advance(Duration::from_secs(5)).await;
        let t1 = Instant::now();
        assert_eq!(pacer.reserve("a", 10.0), t1);
        assert_eq!(pacer.reserve("a", 10.0) - t1, Duration::from_millis(100));
    }
}
