//! Every vendor call of a request goes through its one [`Caller`]: paced, retried with
//! exponential backoff and jitter on temporary errors (honouring the vendor's retry-after),
//! bounded by the retry policy, the request's retry budget and the operation's deadline, and
//! counted for the summary. Re-sends decided by the engine (an instance refused for a moment,
//! a stop whose answer was lost) pass the same gate ([`Caller::pause_to_resend`]).
//!
//! The budget is a token bucket per request, in the manner of the AWS SDKs' retry quota and
//! gRPC's retry throttling: it starts with `initial` tokens, a retry costs one, and every
//! successful call adds `per_success` (up to `max`). A large request therefore earns the
//! retries its size needs, while a vendor that fails most calls is not hammered.

use std::future::Future;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use rand::Rng;
use tokio::time::Instant;
use tracing::Instrument;

use super::deadline::Deadline;
use crate::model::{ErrorKind, RetryClass, StopError};
use crate::pacing::{Pacer, Turns, Unavailable};
use crate::telemetry::Metrics;

/// The retry budget's settings (`[retry_budget]` in the configuration).
#[derive(Debug, Clone, Copy, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BudgetSettings {
    /// Retries a request may make before any call succeeds.
    pub initial: f64,
    /// Retries earned by each successful vendor call.
    pub per_success: f64,
    /// The most retries a request can have in hand.
    pub max: f64,
}

impl Default for BudgetSettings {
    fn default() -> Self {
        // Two retries per success sustain a vendor failing two calls in three; beyond that
        // the request gives up with the vendor's error instead of piling on.
        BudgetSettings {
            initial: 50.0,
            per_success: 2.0,
            max: 1000.0,
        }
    }
}

impl BudgetSettings {
    /// Says which setting is out of range.
    pub fn validate(&self) -> Result<(), String> {
        for (name, value) in [
            ("initial", self.initial),
            ("per_success", self.per_success),
            ("max", self.max),
        ] {
            if !value.is_finite() || value < 0.0 {
                return Err(format!(
                    "[retry_budget] {name} = {value}: it must be a finite number, zero or more"
                ));
            }
        }
        if self.initial > self.max {
            return Err(format!(
                "[retry_budget] initial = {} exceeds max = {}: raise max or lower initial",
                self.initial, self.max
            ));
        }
        Ok(())
    }
}

/// The retries a request has left: a token bucket refilled by successful calls.
#[derive(Debug)]
pub struct RetryBudget {
    settings: BudgetSettings,
    tokens: Mutex<f64>,
}

impl RetryBudget {
    pub fn new(settings: BudgetSettings) -> RetryBudget {
        RetryBudget {
            settings,
            tokens: Mutex::new(settings.initial),
        }
    }

    /// Takes one retry, if there is one left.
    pub fn take(&self) -> bool {
        let mut tokens = self.tokens.lock().unwrap_or_else(|p| p.into_inner());
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// A call succeeded: earn retries.
    pub fn earn(&self) {
        let mut tokens = self.tokens.lock().unwrap_or_else(|p| p.into_inner());
        *tokens = (*tokens + self.settings.per_success).min(self.settings.max);
    }

    /// The retries in hand.
    pub fn left(&self) -> f64 {
        *self.tokens.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Counters reported in the summary.
#[derive(Debug, Default)]
pub struct Stats {
    pub vendor_calls: AtomicU32,
    pub retries: AtomicU32,
    pub throttled: AtomicU32,
    /// RequestIds of the state-changing vendor calls (stops, cancels), in order.
    pub state_changes: std::sync::Mutex<Vec<String>>,
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
            max_retries: 16,
            // Short: a retry still waits for its pacing slot, and throttling waits at least
            // one second whatever this says.
            base: Duration::from_millis(100),
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

/// Whether a failed call whose effect is unknown may be sent again blindly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Resend {
    /// Reads, and anything harmless to repeat.
    Always,
    /// Stops: after an answer that may hide an applied stop, the engine reads first.
    Unambiguous,
}

/// Makes the calls of one request.
#[derive(Clone)]
pub struct Caller {
    pacer: Arc<Pacer>,
    /// This request's place in the pacing queues.
    turns: Arc<Turns>,
    /// `account/provider/region`: the pacing key without the action.
    key: String,
    /// Who and where, for spans and metrics.
    target: Target,
    rate: Arc<dyn Fn(&str) -> f64 + Send + Sync>,
    pub stats: Arc<Stats>,
    /// Where vendor calls, retries and throttles are counted.
    metrics: Metrics,
    policy: RetryPolicy,
    /// Retries left for the whole request.
    budget: Arc<RetryBudget>,
    deadline: Deadline,
    /// The operation's audit record, when it has one.
    origin: Option<Arc<crate::audit::Origin>>,
    /// Where state-changing calls' RequestIds are kept beyond this process (shared journal).
    phases: Option<Arc<dyn crate::engine::ledger::Phases>>,
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
    // Throttling windows are at least a second (docs/vendors/tencent.md, §6 item 8, docs/vendors/alibaba.md, §5.4).
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
        budget: BudgetSettings,
        deadline: Deadline,
        metrics: Metrics,
    ) -> Caller {
        Caller {
            pacer,
            turns: Arc::new(Turns::default()),
            metrics,
            key: format!("{}/{}/{}", target.account, target.provider, target.region),
            target,
            rate,
            stats: Arc::new(Stats::default()),
            policy,
            budget: Arc::new(RetryBudget::new(budget)),
            deadline,
            origin: None,
            phases: None,
        }
    }

    /// Keeps each state-changing call's RequestId in `phases` too.
    pub fn with_phases(mut self, phases: Option<Arc<dyn crate::engine::ledger::Phases>>) -> Caller {
        self.phases = phases;
        self
    }

    /// Writes an audit line for each state-changing call, naming `origin`.
    pub fn with_origin(mut self, origin: Option<Arc<crate::audit::Origin>>) -> Caller {
        self.origin = origin;
        self
    }

    /// Notes a state-changing call's answer: its RequestId for the summary, and the audit line.
    fn state_changed<T: crate::audit::VendorAnswer>(
        &self,
        action: &str,
        ids: &[String],
        answer: &Result<T, StopError>,
    ) {
        let request_id = match answer {
            Ok(t) => t.vendor_request_id(),
            Err(e) => e.vendor_request_id.as_deref(),
        };
        if let Some(id) = request_id.filter(|id| !id.is_empty()) {
            self.stats
                .state_changes
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(id.to_string());
        }
        if let Some(origin) = &self.origin {
            crate::audit::vendor_call(
                origin,
                &self.target.region,
                action,
                ids,
                answer.as_ref().map(|t| t.vendor_request_id()),
            );
        }
    }

    /// Retries allowed per call.
    pub fn max_retries(&self) -> u32 {
        self.policy.max_retries
    }

    /// When a wait of `budget` must end: its own end, or the request's cutoff, so that the
    /// last results can still be sent.
    pub fn wait_deadline(&self, budget: Duration) -> Instant {
        let own = Instant::now() + budget;
        match self.deadline.cutoff() {
            Some(cutoff) => own.min(cutoff),
            None => own,
        }
    }

    /// The operation's deadline (its maximum duration).
    pub fn deadline(&self) -> &Deadline {
        &self.deadline
    }

    /// The request's retry budget.
    pub fn budget(&self) -> &RetryBudget {
        &self.budget
    }

    /// Decides whether a call that failed with `error` on its `attempt`-th try (1-based) is
    /// tried again, and after how long. Takes a token from the budget when it is.
    fn retry_wait(&self, attempt: u32, error: &StopError) -> Option<Duration> {
        if !error.is_retryable()
            || attempt > self.policy.max_retries
            // A vendor asking for a longer wait than we would ever sleep: retrying sooner
            // would only be refused again.
            || error.retry_after.is_some_and(|after| after > self.policy.max)
        {
            return None;
        }
        let wait = backoff(
            &self.policy,
            attempt,
            error.retry_after,
            error.is_throttling(),
        );
        // The retry must still find a pacing slot before the cutoff.
        if self
            .deadline
            .cutoff()
            .is_some_and(|cutoff| Instant::now() + wait >= cutoff)
        {
            return None;
        }
        self.budget.take().then_some(wait)
    }

    /// The gate for a re-send the engine decides (an instance refused for a moment, a stop
    /// whose answer was lost and that a read showed not applied): `round` is the how-many-th
    /// re-send of these instances (1-based), `error` why. Waits the backoff and returns true
    /// when the re-send may go; the re-send is counted as a retry.
    pub async fn pause_to_resend(&self, action: &str, round: u32, error: &StopError) -> bool {
        let Some(wait) = self.retry_wait(round, error) else {
            return false;
        };
        self.count_retry(action);
        tracing::debug!(
            action,
            round,
            ?wait,
            code = error.vendor_code.as_deref(),
            "re-sending"
        );
        tokio::time::sleep(wait).await;
        true
    }

    /// [`Caller::pause_to_resend`] for a re-send that waits on its own (a wait's next poll).
    pub fn allow_resend(&self, action: &str, round: u32, error: &StopError) -> bool {
        if self.retry_wait(round, error).is_none() {
            return false;
        }
        self.count_retry(action);
        true
    }

    /// `error`, still failing after `attempts` tries, as reported: persistent, and saying
    /// when it was the request's retry budget that ran out.
    pub fn give_up(&self, error: StopError, attempts: u32) -> StopError {
        let error = persistent(error, attempts);
        if error.retry == RetryClass::Persistent && self.budget.left() < 1.0 {
            return error.with_message(|m| {
                format!("{m}; the request's retry budget is spent (see [retry_budget] in the configuration): the vendor failed too many calls, try again later")
            });
        }
        error
    }

    fn count_retry(&self, action: &str) {
        self.stats.retries.fetch_add(1, Ordering::Relaxed);
        self.metrics.vendor_retries.add(
            1,
            &[
                opentelemetry::KeyValue::new("stopgate.provider", self.target.provider.as_str()),
                opentelemetry::KeyValue::new("stopgate.vendor.action", action.to_string()),
            ],
        );
    }

    fn out_of_time(&self, action: &str) -> StopError {
        let mut e = StopError::local(
            ErrorKind::DeadlineExceeded,
            "DEADLINE_EXCEEDED",
            format!(
                "the operation reached its maximum duration before {action} could be sent ([operations] max_duration_seconds); check the instance's state and send a new request"
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
        self.run_with(action, Resend::Always, 0, call).await
    }

    /// Runs a stop `call` paced and retried, except after an error that may hide an applied
    /// stop ([`StopError::may_have_applied`]): that error comes back at once, for the engine to
    /// read what happened before it sends anything again. `resent` is how many times the
    /// engine already sent this stop: its attempts continue that count.
    /// `ids` are the instances the call is for (empty: every instance of an execution); each
    /// attempt is noted ([`Caller::state_changed`]).
    pub async fn run_stop<T, F, Fut>(
        &self,
        action: &str,
        ids: &[String],
        resent: u32,
        call: F,
    ) -> Result<T, StopError>
    where
        T: crate::audit::VendorAnswer,
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T, StopError>>,
    {
        self.run_with(action, Resend::Unambiguous, resent, || {
            let attempt = call();
            async move {
                let answer = attempt.await;
                self.state_changed(action, ids, &answer);
                let request_id = match &answer {
                    Ok(t) => t.vendor_request_id(),
                    Err(e) => e.vendor_request_id.as_deref(),
                };
                if let (Some(phases), Some(id)) = (&self.phases, request_id) {
                    phases.called(id).await;
                }
                answer
            }
        })
        .await
    }

    async fn run_with<T, F, Fut>(
        &self,
        action: &str,
        resend: Resend,
        first_attempt: u32,
        call: F,
    ) -> Result<T, StopError>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T, StopError>>,
    {
        let key = format!("{}/{action}", self.key);
        let rate = (self.rate)(action);
        let mut attempt = first_attempt;
        let mut last: Option<StopError> = None;
        loop {
            match self
                .pacer
                .acquire(&self.turns, &key, rate, self.deadline.cutoff())
                .await
            {
                Ok(true) => {}
                // Report the vendor's own error when there was one, not the lack of time.
                Ok(false) => {
                    return Err(match last {
                        Some(error) => self.give_up(error, attempt),
                        None => self.out_of_time(action),
                    });
                }
                // Nothing was sent, so nothing is ambiguous; the operator chose to fail rather
                // than pace alone, and the caller may retry once Redis is back.
                Err(Unavailable(message)) => {
                    let mut e =
                        StopError::local(ErrorKind::Unavailable, "PACING_UNAVAILABLE", message);
                    e.retry = RetryClass::Temporary;
                    return Err(e);
                }
            }
            self.stats.vendor_calls.fetch_add(1, Ordering::Relaxed);
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
            let metrics = &self.metrics;
            metrics.vendor_calls.add(1, &labels);
            metrics
                .vendor_duration
                .record(started.elapsed().as_secs_f64() * 1000.0, &labels[..2]);
            let error = match answer {
                Ok(value) => {
                    self.budget.earn();
                    return Ok(value);
                }
                Err(error) => error,
            };
            if error.is_throttling() {
                metrics.vendor_throttled.add(1, &labels[..2]);
                self.stats.throttled.fetch_add(1, Ordering::Relaxed);
                // Someone else spends this quota too: every caller of the key slows down.
                self.pacer.throttled(&key, error.retry_after).await;
            }
            attempt += 1;
            // An instance-scoped error goes back to the engine at once (still temporary): it
            // splits the batch and re-sends the instance alone; retrying the whole batch here
            // would spend the request's budget on the other instances.
            if error.scope == crate::model::ErrorScope::Instance
                || (resend == Resend::Unambiguous && error.may_have_applied())
            {
                return Err(error);
            }
            let Some(wait) = self.retry_wait(attempt, &error) else {
                return Err(self.give_up(error, attempt));
            };
            self.count_retry(action);
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
pub(crate) fn persistent(mut error: StopError, attempts: u32) -> StopError {
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
    fn budget_settings_out_of_range_are_refused_with_the_setting_named() {
        assert!(BudgetSettings::default().validate().is_ok());
        for bad in [
            BudgetSettings {
                per_success: f64::NAN,
                ..Default::default()
            },
            BudgetSettings {
                max: f64::INFINITY,
                ..Default::default()
            },
            BudgetSettings {
                initial: -1.0,
                ..Default::default()
            },
            BudgetSettings {
                initial: 10.0,
                max: 5.0,
                ..Default::default()
            },
        ] {
            let error = bad.validate().unwrap_err();
            assert!(error.starts_with("[retry_budget]"), "{error}");
        }
        let config: crate::config::Config =
            toml::from_str("[retry_budget]\ninitial = 3\nper_success = 0.5\nmax = 9").unwrap();
        assert_eq!(
            config.retry_budget,
            BudgetSettings {
                initial: 3.0,
                per_success: 0.5,
                max: 9.0
            }
        );
    }

    #[test]
    fn the_budget_is_spent_by_retries_and_earned_by_successes_up_to_its_max() {
        let budget = RetryBudget::new(BudgetSettings {
            initial: 1.0,
            per_success: 0.5,
            max: 1.5,
        });
        assert!(budget.take());
        assert!(!budget.take());
        budget.earn();
        assert!(!budget.take(), "half a retry is not a retry");
        budget.earn();
        budget.earn();
        budget.earn();
        assert_eq!(budget.left(), 1.5);
    }

    #[tokio::test(start_paused = true)]
    async fn no_pacing_slot_is_reserved_that_the_cutoff_would_cut() {
        let pacer = Arc::new(Pacer::default());
        let at = Instant::now() + Duration::from_millis(1500);
        let caller = Caller::new(
            pacer.clone(),
            Target {
                provider: crate::model::Provider::Tencent,
                account: "a".into(),
                region: "r".into(),
            },
            Arc::new(|_: &str| 1.0),
            RetryPolicy::default(),
            BudgetSettings::default(),
            Deadline::new(Some(at), Arc::new(|| 0)),
            crate::telemetry::metrics().clone(),
        );
        let call = || async { Ok::<(), StopError>(()) };
        assert!(caller.run("StopInstances", call).await.is_ok());
        assert!(caller.run("StopInstances", call).await.is_ok(), "at 1 s");
        let late = caller.run("StopInstances", call).await.unwrap_err();
        assert_eq!(late.kind, ErrorKind::DeadlineExceeded);
        assert_eq!(caller.stats.vendor_calls.load(Ordering::Relaxed), 2);
        // The refused slot (2 s) was not taken from the requests that share the schedule.
        let other = crate::pacing::Turns::default();
        assert!(
            pacer
                .acquire(&other, "a/tencent/r/StopInstances", 1.0, None)
                .await
                .unwrap()
        );
        assert_eq!(Instant::now(), at + Duration::from_millis(500));
    }

    #[test]
    fn backoff_grows_is_capped_and_honours_retry_after() {
        let policy = RetryPolicy {
            max_retries: 16,
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
