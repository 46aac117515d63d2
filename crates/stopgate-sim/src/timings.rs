//! The delays of the simulated state machines, and the clock arithmetic they share.

use std::time::Instant;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// Delays of the state machines, in milliseconds.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct Timings {
    /// Graceful stop: Stopping → Stopped.
    pub stop_ms: u64,
    /// Forced stop: Stopping → Stopped.
    pub force_stop_ms: u64,
    /// Starting → Running.
    pub start_ms: u64,
    /// How long a guest that ignores ACPI stays Stopping before the soft stop fails.
    pub graceful_timeout_ms: u64,
    /// Command delivery: Pending → Running.
    pub deliver_ms: u64,
    /// Default run time of a command.
    pub run_ms: u64,
    /// Stopping/CANCELLING → Terminated.
    pub cancel_ms: u64,
    /// Time between runs of a periodic invocation.
    pub period_ms: u64,
}

impl Default for Timings {
    fn default() -> Self {
        Timings {
            stop_ms: 1500,
            force_stop_ms: 500,
            start_ms: 1500,
            graceful_timeout_ms: 5000,
            deliver_ms: 500,
            run_ms: 600_000,
            cancel_ms: 1000,
            period_ms: 60_000,
        }
    }
}

/// The wall-clock time of a monotonic instant, relative to `now`.
pub fn wall_clock_at(at: Instant, now: Instant) -> OffsetDateTime {
    let wall = OffsetDateTime::now_utc();
    if at <= now {
        wall - (now - at)
    } else {
        wall + (at - now)
    }
}
