//! One vendor call as the engine makes it: paced, retried with exponential backoff and jitter
//! on temporary errors (honouring the vendor's retry-after), bounded by a retry budget and the
//! caller's deadline, and counted for the summary (DESIGN.md rule 9).

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU32, Ordering};
use std::time::Duration;

use rand::Rng;
use tokio::time::Instant;
use tracing::Instrument;

use super::pace::Pacer;
use crate::model::{ErrorKind, RetryClass, StopError};

/// Counters reported in the summary.
#[derive(Debug, Default)]
pub struct Stats {
    pub vendor_calls: AtomicU32,
    pub retries: AtomicU32,
    pub throttled: AtomicU32,
}

/// Retry settings.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Retries of one call.
    pub max_retries: u32,
    /// First backoff; doubles per attempt.
    pub base: Duration,
    /// Longest backoff (also caps a vendor's retry-after).
    pub max: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_retries: 4,
            base: Duration::from_millis(200),
            max: Duration::from_secs(20),
        }
    }
}

/// Where the calls of a request go.
#[derive(Debug, Clone)]
pub struct Target {
    pub provider: crate::model::Provider,
    pub account: String,
    pub region: String,
}

/// Makes the calls of one request.
#[derive(Clone)]
pub struct Caller {
    pacer: Arc<Pacer>,
    /// `account/provider/region`: the pacing key without the action.
    key: String,
    /// Who and where, for spans and metrics.
    target: Target,
    rate: Arc<dyn Fn(&str) -> f64 + Send + Sync>,
    pub stats: Arc<Stats>,
    policy: RetryPolicy,
    /// Retries left for the whole request.
    budget: Arc<AtomicI64>,
    deadline: Option<Instant>,
}

impl std::fmt::Debug for Caller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Caller")
            .field("key", &self.key)
            .field("deadline", &self.deadline)
            .finish_non_exhaustive()
    }
}

/// The backoff before retry `attempt` (1-based): `base · 2^(attempt-1)` capped at `max`, with
/// equal jitter, and never less than the vendor's retry-after (itself capped at `max`).
pub fn backoff(
    policy: &RetryPolicy,
    attempt: u32,
    retry_after: Option<Duration>,
    throttled: bool,
) -> Duration {
    let exp = policy
        .base
        .saturating_mul(1u32 << (attempt.saturating_sub(1)).min(16))
        .min(policy.max);
    let half = exp / 2;
    let jitter = Duration::from_secs_f64(rand::rng().random_range(0.0..=half.as_secs_f64()));
    let mut wait = half + jitter;
    // Throttling windows are at least a second (tencent.md §6 item 8, alibaba.md §5.4).
    if throttled {
        wait = wait.max(Duration::from_secs(1));
    }
    if let Some(after) = retry_after {
        wait = wait.max(after.min(policy.max));
    }
    wait
}

impl Caller {
    pub fn new(
        pacer: Arc<Pacer>,
        target: Target,
        rate: Arc<dyn Fn(&str) -> f64 + Send + Sync>,
        policy: RetryPolicy,
        deadline: Option<Instant>,
    ) -> Caller {
        Caller {
            pacer,
            key: format!("{}/{}/{}", target.account, target.provider, target.region),
            target,
            rate,
            stats: Arc::new(Stats::default()),
            policy,
            budget: Arc::new(AtomicI64::new(20)),
            deadline,
        }
    }

    /// Retries allowed per call.
    pub fn max_retries(&self) -> u32 {
        self.policy.max_retries
    }

    /// When a wait of `budget` must end: its own end, or shortly before the caller's deadline
    /// so that the last results can still be sent.
    pub fn wait_deadline(&self, budget: Duration) -> Instant {
        let own = Instant::now() + budget;
        match self.deadline {
            Some(caller) => {
                let margin = Duration::from_millis(200)
                    .min(caller.saturating_duration_since(Instant::now()) / 2);
                own.min(caller - margin)
            }
            None => own,
        }
    }

    /// The caller's deadline, if any.
    pub fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    fn out_of_time(&self, action: &str) -> StopError {
        let mut e = StopError::local(
            ErrorKind::DeadlineExceeded,
            "DEADLINE_EXCEEDED",
            format!(
                "the caller's deadline passed before {action} could be sent; give the call a longer deadline"
            ),
        );
        e.retry = RetryClass::Temporary;
        e
    }

    /// Runs `call` paced and retried.
    pub async fn run<T, F, Fut>(&self, action: &str, call: F) -> Result<T, StopError>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T, StopError>>,
    {
        let key = format!("{}/{action}", self.key);
        let rate = (self.rate)(action);
        let mut attempt = 0u32;
        let mut last: Option<StopError> = None;
        loop {
            let Some(slot) = self.pacer.reserve_before(&key, rate, self.deadline) else {
                // Report the vendor's own error when there was one, not the lack of time.
                return Err(match last {
                    Some(error) => persistent(error, attempt),
                    None => self.out_of_time(action),
                });
            };
            // tokio rounds a timer up to its next millisecond tick: sleeping until a slot that
            // has already begun added about a millisecond to every vendor call.
            if slot > tokio::time::Instant::now() {
                tokio::time::sleep_until(slot).await;
            }
            self.stats.vendor_calls.fetch_add(1, Ordering::Relaxed);
            if attempt > 0 {
                self.stats.retries.fetch_add(1, Ordering::Relaxed);
            }
            // One client span per attempt; the adapter's HTTP client fills in what it learns
            // (server.address, HTTP status, vendor request id, vendor code).
            let span = tracing::info_span!(
                "vendor call",
                otel.name = %format!("{} {action}", self.target.provider),
                otel.kind = "client",
                otel.status_code = tracing::field::Empty,
                rpc.system = "http",
                http.request.method = "POST",
                server.address = tracing::field::Empty,
                http.response.status_code = tracing::field::Empty,
                cloud.provider = match self.target.provider {
                    crate::model::Provider::Alibaba => "alibaba_cloud",
                    crate::model::Provider::Tencent => "tencent_cloud",
                },
                cloud.region = %self.target.region,
                stopgate.provider = %self.target.provider,
                stopgate.vendor.action = action,
                stopgate.vendor.request_id = tracing::field::Empty,
                stopgate.vendor.code = tracing::field::Empty,
                stopgate.attempt = attempt + 1,
                error.type = tracing::field::Empty,
            );
            let started = std::time::Instant::now();
            let answer = call().instrument(span.clone()).await;
            let outcome = match &answer {
                Ok(_) => "ok".to_string(),
                Err(e) => {
                    span.record("otel.status_code", "ERROR");
                    span.record("error.type", e.reason.as_str());
                    e.vendor_code.clone().unwrap_or_else(|| e.reason.clone())
                }
            };
            let labels = [
                opentelemetry::KeyValue::new("stopgate.provider", self.target.provider.as_str()),
                opentelemetry::KeyValue::new("stopgate.vendor.action", action.to_string()),
                opentelemetry::KeyValue::new("stopgate.outcome", outcome),
            ];
            let metrics = crate::telemetry::metrics();
            metrics.vendor_calls.add(1, &labels);
            metrics
                .vendor_duration
                .record(started.elapsed().as_secs_f64() * 1000.0, &labels[..2]);
            if attempt > 0 {
                metrics.vendor_retries.add(1, &labels[..2]);
            }
            let error = match answer {
                Ok(value) => return Ok(value),
                Err(error) => error,
            };
            if error.is_throttling() {
                metrics.vendor_throttled.add(1, &labels[..2]);
            }
            if error.is_throttling() {
                self.stats.throttled.fetch_add(1, Ordering::Relaxed);
            }
            attempt += 1;
            // A vendor asking for a longer wait than we would ever sleep: retrying sooner would
            // only be throttled again.
            // An instance-scoped error goes back to the engine at once (still temporary): it
            // splits the batch and retries the instance alone; retrying the whole batch here
            // would spend the request's budget on the other instances.
            if error.scope == crate::model::ErrorScope::Instance {
                return Err(error);
            }
            let give_up = !error.is_retryable()
                || attempt > self.policy.max_retries
                || error
                    .retry_after
                    .is_some_and(|after| after > self.policy.max)
                || self.budget.fetch_sub(1, Ordering::Relaxed) <= 0;
            let wait = backoff(
                &self.policy,
                attempt,
                error.retry_after,
                error.is_throttling(),
            );
            let past_deadline = self.deadline.is_some_and(|d| Instant::now() + wait >= d);
            if give_up || past_deadline {
                return Err(persistent(error, attempt));
            }
            tracing::debug!(
                action,
                attempt,
                ?wait,
                code = error.vendor_code.as_deref(),
                "retrying vendor call"
            );
            // The attempt's span ends with the attempt, not after the backoff.
            drop(span);
            tokio::time::sleep(wait).await;
            last = Some(error);
        }
    }
}

/// A temporary error that is still failing after stopgate's retries.
fn persistent(mut error: StopError, attempts: u32) -> StopError {
    if error.retry == RetryClass::Temporary {
        error.retry = RetryClass::Persistent;
        error.message = format!(
            "{} (still failing after {attempts} attempt(s))",
            error.message
        );
    }
    error
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_is_capped_and_honours_retry_after() {
        let policy = RetryPolicy {
            max_retries: 4,
            base: Duration::from_millis(200),
            max: Duration::from_secs(2),
        };
        for _ in 0..50 {
            let first = backoff(&policy, 1, None, false);
            assert!(
                first >= Duration::from_millis(100) && first <= Duration::from_millis(200),
                "{first:?}"
            );
            let fifth = backoff(&policy, 5, None, false);
            assert!(
                fifth >= Duration::from_secs(1) && fifth <= Duration::from_secs(2),
                "{fifth:?}"
            );
        }
        assert!(
            backoff(&policy, 1, Some(Duration::from_millis(1500)), false)
                >= Duration::from_millis(1500)
        );
        assert_eq!(
            backoff(&policy, 1, Some(Duration::from_secs(60)), false),
            Duration::from_secs(2)
        );
        assert!(backoff(&policy, 1, None, true) >= Duration::from_secs(1));
    }
}
