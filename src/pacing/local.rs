//! The in-process slot store: one schedule per key in a map, on this process's clock. The
//! default, and what a Redis-backed gateway falls back to while Redis is unreachable.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use super::rules::{Schedule, Take};

/// Keys kept before idle ones are forgotten. Keys come from configured accounts, known
/// regions and actions, so this is a second line of defence.
const MAX_KEYS: usize = 4096;

/// Schedules in this process.
#[derive(Debug)]
pub struct LocalStore {
    epoch: Instant,
    /// How many replicas spend the same quota, each pacing on its own: each takes this share.
    replicas: u32,
    schedules: Mutex<HashMap<String, Schedule>>,
}

impl Default for LocalStore {
    fn default() -> Self {
        LocalStore::shared_by(1)
    }
}

impl LocalStore {
    /// A store for one of `replicas` replicas that pace on their own: each paces at the
    /// rate divided by `replicas`.
    pub fn shared_by(replicas: u32) -> LocalStore {
        LocalStore {
            epoch: Instant::now(),
            replicas: replicas.max(1),
            schedules: Mutex::new(HashMap::new()),
        }
    }

    fn now(&self) -> u64 {
        self.epoch.elapsed().as_micros() as u64
    }

    fn with<T>(&self, key: &str, f: impl FnOnce(&mut Schedule, u64) -> T) -> T {
        let now = self.now();
        let mut schedules = self.schedules.lock().unwrap_or_else(|p| p.into_inner());
        if schedules.len() >= MAX_KEYS && !schedules.contains_key(key) {
            // Forget the keys with nothing scheduled and a full rate: they hold no state.
            schedules.retain(|_, s| s.next > now || s.factor < 1.0);
        }
        let schedule = schedules
            .entry(key.to_string())
            .or_insert_with(|| Schedule::new(now));
        f(schedule, now)
    }

    /// See [`Schedule::take`]; `interval` is the configured rate's, before the replicas' share.
    pub fn take(&self, key: &str, interval: Duration, cutoff: Option<Duration>) -> Take {
        let interval = interval * self.replicas;
        self.with(key, |s, now| {
            s.take(
                now,
                interval.as_micros() as u64,
                cutoff.map(|c| c.as_micros() as u64),
            )
        })
    }

    /// See [`Schedule::throttled`].
    pub fn throttled(&self, key: &str, retry_after: Option<Duration>) {
        self.with(key, |s, now| {
            s.throttled(now, retry_after.map_or(0, |d| d.as_micros() as u64))
        })
    }
}
