//! Pacing: when each vendor call may start, so that everything spending one vendor quota
//! (every request of this gateway and, with Redis, every replica) stays under the vendor's
//! rate together, and learns from throttling that someone else spends it too.
//!
//! - [`Pacer`] (here) is the front every call goes through. Per key (account × provider ×
//!   region × action) it lets one call of each request wait for a slot at a time, first come
//!   first served, so a one-instance request is not queued behind a large request's calls.
//! - A [`SlotStore`] keeps the schedules: [`local::LocalStore`] in this process (the default)
//!   or [`redis::RedisStore`] in a Redis shared by the replicas, with the same [`rules`].

pub mod local;
pub mod redis;
pub mod rules;

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use tokio::time::Instant;

use local::LocalStore;
use rules::Take;

/// A boxed future, for the store's object-safe methods.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The shared store could not be reached and the gateway is configured not to pace locally
/// instead; says what failed and what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unavailable(pub String);

/// Where the schedules live.
pub trait SlotStore: Send + Sync {
    /// Takes the next slot of `key` for a call at `interval` (the configured rate), unless it
    /// starts beyond the horizon or `cutoff` from now (see [`rules`]).
    fn take<'a>(
        &'a self,
        key: &'a str,
        interval: Duration,
        cutoff: Option<Duration>,
    ) -> BoxFuture<'a, Result<Take, Unavailable>>;

    /// A call on `key` was throttled by the vendor (with its retry-after, if it gave one).
    fn throttled<'a>(&'a self, key: &'a str, retry_after: Option<Duration>) -> BoxFuture<'a, ()>;
}

impl SlotStore for LocalStore {
    fn take<'a>(
        &'a self,
        key: &'a str,
        interval: Duration,
        cutoff: Option<Duration>,
    ) -> BoxFuture<'a, Result<Take, Unavailable>> {
        let take = LocalStore::take(self, key, interval, cutoff);
        Box::pin(std::future::ready(Ok(take)))
    }

    fn throttled<'a>(&'a self, key: &'a str, retry_after: Option<Duration>) -> BoxFuture<'a, ()> {
        LocalStore::throttled(self, key, retry_after);
        Box::pin(std::future::ready(()))
    }
}

type Turn = tokio::sync::Mutex<()>;

/// Shared by every request of the gateway.
pub struct Pacer {
    store: Arc<dyn SlotStore>,
    /// Per key, the queue of requests waiting for a slot (tokio's mutex is first come, first
    /// served). Weak, so a key nobody waits on costs nothing.
    queues: Mutex<HashMap<String, Weak<Turn>>>,
}

impl std::fmt::Debug for Pacer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pacer").finish_non_exhaustive()
    }
}

impl Default for Pacer {
    fn default() -> Self {
        Pacer::new(Arc::new(LocalStore::default()))
    }
}

/// One request's place in the pacing queues: at most one of its calls waits per key.
#[derive(Debug, Default)]
pub struct Turns {
    mine: Mutex<HashMap<String, Arc<Turn>>>,
}

impl Turns {
    fn for_key(&self, key: &str) -> Arc<Turn> {
        let mut mine = self.mine.lock().unwrap_or_else(|p| p.into_inner());
        mine.entry(key.to_string()).or_default().clone()
    }
}

impl Pacer {
    pub fn new(store: Arc<dyn SlotStore>) -> Pacer {
        Pacer {
            store,
            queues: Mutex::new(HashMap::new()),
        }
    }

    fn queue(&self, key: &str) -> Arc<Turn> {
        let mut queues = self.queues.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(queue) = queues.get(key).and_then(Weak::upgrade) {
            return queue;
        }
        if queues.len() >= 1024 {
            queues.retain(|_, q| q.strong_count() > 0);
        }
        let queue = Arc::new(Turn::new(()));
        queues.insert(key.to_string(), Arc::downgrade(&queue));
        queue
    }

    /// Waits for a slot of `key` at `per_second` and returns true when the call may start;
    /// false, without taking a slot, when none starts before `cutoff`.
    pub async fn acquire(
        &self,
        turns: &Turns,
        key: &str,
        per_second: f64,
        cutoff: Option<Instant>,
    ) -> Result<bool, Unavailable> {
        let interval = Duration::from_secs_f64(1.0 / per_second.max(0.001));
        let mine = turns.for_key(key);
        let _mine = mine.lock().await;
        let queue = self.queue(key);
        let _turn = queue.lock().await;
        loop {
            let now = Instant::now();
            let left = match cutoff {
                Some(cutoff) if cutoff <= now => return Ok(false),
                Some(cutoff) => Some(cutoff - now),
                None => None,
            };
            match self.store.take(key, interval, left).await? {
                Take::Granted(wait) => {
                    // tokio rounds a timer up to its next millisecond tick: sleeping for
                    // nothing would add about a millisecond to every vendor call.
                    if !wait.is_zero() {
                        tokio::time::sleep_until(now + wait).await;
                    }
                    return Ok(true);
                }
                Take::Later(wait) => {
                    if cutoff.is_some_and(|cutoff| now + wait >= cutoff) {
                        return Ok(false);
                    }
                    tokio::time::sleep_until(now + wait).await;
                }
                Take::TooLate => return Ok(false),
            }
        }
    }

    /// Tells the schedule of `key` that the vendor throttled a call.
    pub async fn throttled(&self, key: &str, retry_after: Option<Duration>) {
        self.store.throttled(key, retry_after).await
    }
}

#[cfg(test)]
mod tests;
