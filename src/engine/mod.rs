//! The provider-neutral engine: validate → read → stop → isolate → wait → report, with
//! chunking, pacing, retries and the one-result-per-instance guarantee. It knows the normalized
//! model and the [`Adapter`] trait, nothing about HTTP or protobuf.

pub mod call;
pub mod deadline;
pub mod instance_result;
pub mod ledger;
pub mod pace;
pub mod request;
pub mod selector;
pub mod stop_command;
pub mod stop_instances;
pub mod stop_selected;
#[cfg(test)]
mod tests;
pub mod wait;

use std::collections::BTreeMap;
use std::sync::Arc;

use tokio::time::Instant;

use crate::config::Config;
use crate::credentials::CredentialStore;
use crate::model::{ErrorKind, Provider, StopError};
use crate::pacing::Pacer;
use crate::pacing::redis::RedisStore;
use crate::provider::alibaba::AlibabaClient;
use crate::provider::tencent::TencentClient;
use crate::provider::{Adapter, Scope};
use crate::telemetry::Metrics;
use call::{Caller, RetryPolicy};
use deadline::Deadline;
use ledger::{Ledger, Record};
use request::{
    InvalidRequest, StopCommandRequest, StopInstancesRequest, ValidCommandStop, ValidStop,
};
use stop_command::{CommandLedger, CommandRun};
use stop_instances::{InstanceLedger, Run};

/// Runs `work` as its own task (so that neither a slow reader of the stream nor the work itself
/// can delay the deadline's handling), and if the request's cutoff comes first, fails whatever
/// is still undecided with DEADLINE_EXCEEDED, in the margin kept for sending those results.
async fn within_deadline<P: Send + 'static, R: Record>(
    deadline: &Deadline,
    work: impl std::future::Future<Output = ()> + Send + 'static,
    ledger: &Ledger<P, R>,
) {
    // The work's vendor calls stay children of the RPC's span.
    let mut task = AbortOnDrop(tokio::spawn(tracing::Instrument::in_current_span(work)));
    let finished = loop {
        let Some(cutoff) = deadline.cutoff() else {
            break (&mut task.0).await;
        };
        tokio::select! {
            joined = &mut task.0 => break joined,
            () = tokio::time::sleep_until(cutoff) => {
                // Results decided meanwhile moved the cutoff later.
                if deadline.is_cut() {
                    task.0.abort();
                    break (&mut task.0).await;
                }
            }
        }
    };
    if let Err(joined) = finished {
        if joined.is_panic() {
            // The stream's own handler reports a panic as INTERNAL.
            std::panic::resume_unwind(joined.into_panic());
        }
        let mut error = StopError::local(
            ErrorKind::DeadlineExceeded,
            "DEADLINE_EXCEEDED",
            "the operation reached its maximum duration ([operations] max_duration_seconds) before this result was final; a stop may already have been sent: check the state",
        );
        error.retry = crate::model::RetryClass::Temporary;
        if ledger.has_ids() {
            ledger.fail_remaining(&error).await;
        } else {
            // Nothing to answer per instance yet (the execution's tasks were still being read).
            ledger.abort(error).await;
        }
    }
}

/// The work of a request, ended when the request is dropped (its caller went away), so that
/// no vendor call is made for nobody.
pub(crate) struct AbortOnDrop(pub(crate) tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The default requests per second for an action whose vendor publishes no limit (Alibaba).
pub const DEFAULT_RATE: f64 = 20.0;

/// Chunks of a request in flight at once, unless configured: enough to keep the vendor's rate
/// busy while some chunks sit in a retry's backoff (pacing, not this, sets the call rate).
pub const DEFAULT_CONCURRENCY: usize = 16;

/// Shared by every request.
pub struct Engine {
    config: Arc<Config>,
    adapters: BTreeMap<Provider, Arc<dyn Adapter>>,
    pacer: Arc<Pacer>,
    /// The Redis that paces with the other replicas, when configured.
    cluster: Option<Arc<RedisStore>>,
    /// Where vendor calls and results are counted.
    metrics: Metrics,
    /// Every account × provider's credentials.
    credentials: Arc<CredentialStore>,
}

impl Engine {
    /// An engine with both vendors' adapters, endpoints from the configuration.
    pub fn new(config: Config) -> Result<Engine, String> {
        config.validate()?;
        let mut adapters: BTreeMap<Provider, Arc<dyn Adapter>> = BTreeMap::new();
        adapters.insert(
            Provider::Alibaba,
            Arc::new(AlibabaClient::new(config.alibaba.endpoint.as_deref())?),
        );
        adapters.insert(
            Provider::Tencent,
            Arc::new(TencentClient::new(config.tencent.endpoint.as_deref())?),
        );
        let metrics = crate::telemetry::metrics().clone();
        let credentials = CredentialStore::build(
            &config,
            Some(metrics.credential_refreshes.clone()),
            &|name| std::env::var(name).ok(),
        )?;
        let cluster = if config.cluster.enabled() {
            Some(RedisStore::new(
                &config.cluster,
                metrics.pacing_fallbacks.clone(),
            )?)
        } else {
            None
        };
        let pacer = match &cluster {
            Some(store) => Pacer::new(store.clone()),
            // Replicas without Redis can still split the quota between them.
            None => Pacer::new(Arc::new(crate::pacing::local::LocalStore::shared_by(
                config.cluster.replicas,
            ))),
        };
        Ok(Engine {
            config: Arc::new(config),
            adapters,
            pacer: Arc::new(pacer),
            cluster,
            metrics,
            credentials: Arc::new(credentials),
        })
    }

    /// An engine whose only adapter is `adapter` (the engine's unit tests).
    #[cfg(test)]
    pub(crate) fn with_adapter(config: Config, adapter: Arc<dyn Adapter>) -> Engine {
        let mut adapters: BTreeMap<Provider, Arc<dyn Adapter>> = BTreeMap::new();
        adapters.insert(adapter.provider(), adapter);
        let credentials =
            CredentialStore::build(&config, None, &|_| None).expect("test accounts build");
        Engine {
            config: Arc::new(config),
            adapters,
            pacer: Arc::new(Pacer::default()),
            cluster: None,
            metrics: crate::telemetry::metrics().clone(),
            credentials: Arc::new(credentials),
        }
    }

    /// The Redis shared with the other replicas, when `[cluster]` names one.
    pub fn cluster(&self) -> Option<&Arc<RedisStore>> {
        self.cluster.as_ref()
    }

    /// Counts into `metrics` instead of the global meter provider's instruments (credential
    /// refreshes excepted: the credentials, built with the engine, keep the global counter).
    pub fn with_metrics(mut self, metrics: Metrics) -> Engine {
        self.metrics = metrics;
        self
    }

    /// The instruments this engine counts into.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The adapter of a provider.
    pub fn adapter(&self, provider: Provider) -> Option<Arc<dyn Adapter>> {
        self.adapters.get(&provider).cloned()
    }

    /// Every account × provider's credentials.
    pub fn credentials(&self) -> &Arc<CredentialStore> {
        &self.credentials
    }

    /// Validates a StopInstances request.
    pub fn validate_stop(
        &self,
        request: StopInstancesRequest,
    ) -> Result<ValidStop, InvalidRequest> {
        request.validate(&self.config, |p| self.adapter(p), &self.credentials)
    }

    /// Validates a StopCommandExecution request.
    pub fn validate_command(
        &self,
        request: StopCommandRequest,
    ) -> Result<ValidCommandStop, InvalidRequest> {
        request.validate(&self.config, |p| self.adapter(p), &self.credentials)
    }

    /// Runs a validated StopCommandExecution to its summary (or to its request-level error).
    pub async fn stop_command(
        &self,
        request: ValidCommandStop,
        ledger: Arc<CommandLedger>,
        deadline: Option<Instant>,
    ) {
        let adapter = self.adapter(request.provider).expect("validated provider");
        let deadline = Self::deadline_of(deadline, &ledger);
        let caller = self.caller(
            request.provider,
            &request.account,
            &request.region,
            (deadline.clone(), &ledger),
        );
        let poll = self.config.poll_interval();
        let (work_caller, work_ledger) = (caller.clone(), ledger.clone());
        let work = async move {
            let scope = Scope {
                region: &request.region,
                credentials: request.credentials.as_ref(),
            };
            let run = CommandRun::new(
                adapter.as_ref(),
                scope,
                &work_caller,
                &work_ledger,
                &request,
                poll,
            );
            run.execute().await
        };
        within_deadline(&deadline, work, &ledger).await;
        ledger.finish(&caller.stats).await;
    }

    /// The operation's deadline as the engine sees it: its cutoff follows the results still owed.
    fn deadline_of<P: Send + 'static, R: Record>(
        at: Option<Instant>,
        ledger: &Arc<Ledger<P, R>>,
    ) -> Deadline {
        let ledger = Arc::downgrade(ledger);
        Deadline::new(
            at,
            Arc::new(move || ledger.upgrade().map_or(0, |l| l.undecided())),
        )
    }

    /// The vendor caller of one request: its deadline, and its ledger's audit record and
    /// journal phases.
    fn caller<P: Send + 'static, R: Record>(
        &self,
        provider: Provider,
        account: &str,
        region: &str,
        (deadline, ledger): (Deadline, &Ledger<P, R>),
    ) -> Caller {
        let adapter = self.adapter(provider).expect("both adapters exist");
        let overrides = self.config.provider(provider).rate_limits.clone();
        let rate = Arc::new(move |action: &str| {
            overrides
                .get(action)
                .copied()
                .or_else(|| adapter.published_rate(action))
                .unwrap_or(DEFAULT_RATE)
        });
        let policy = RetryPolicy {
            max_retries: self.config.max_retries,
            ..RetryPolicy::default()
        };
        Caller::new(
            self.pacer.clone(),
            call::Target {
                provider,
                account: account.to_string(),
                region: region.to_string(),
            },
            rate,
            policy,
            self.config.retry_budget,
            deadline,
            self.metrics.clone(),
        )
        .with_origin(ledger.origin())
        .with_phases(ledger.phases())
    }

    /// Runs a validated StopInstances to its summary. `deadline` ends the work (the operation's
    /// maximum duration).
    pub async fn stop_instances(
        &self,
        request: ValidStop,
        ledger: Arc<InstanceLedger>,
        deadline: Option<Instant>,
    ) {
        let adapter = self.adapter(request.provider).expect("validated provider");
        let deadline = Self::deadline_of(deadline, &ledger);
        let caller = self.caller(
            request.provider,
            &request.account,
            &request.region,
            (deadline.clone(), &ledger),
        );
        let concurrency = self
            .config
            .provider(request.provider)
            .max_concurrency
            .unwrap_or(DEFAULT_CONCURRENCY);
        let poll = self.config.poll_interval();
        ledger.in_region(&request.region);
        let (work_caller, work_ledger) = (caller.clone(), ledger.clone());
        let work = async move {
            let scope = Scope {
                region: &request.region,
                credentials: request.credentials.as_ref(),
            };
            let run = Run::new(
                adapter.as_ref(),
                scope,
                &work_caller,
                &work_ledger,
                &request,
                poll,
            );
            run.execute(concurrency).await
        };
        within_deadline(&deadline, work, &ledger).await;
        ledger.finish(&caller.stats).await;
    }
}
