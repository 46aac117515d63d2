//! The provider-neutral engine: validate → read → stop → isolate → wait → report, with
//! chunking, pacing, retries and the one-result-per-instance guarantee. It knows the normalized
//! model and the [`Adapter`] trait, nothing about HTTP or protobuf.

pub mod call;
pub mod ledger;
pub mod pace;
pub mod request;
pub mod stop_command;
pub mod stop_instances;
pub mod wait;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use crate::config::Config;
use crate::model::{ErrorKind, Provider, StopError};
use crate::provider::alibaba::AlibabaClient;
use crate::provider::tencent::TencentClient;
use crate::provider::{Adapter, Scope};
use call::{Caller, RetryPolicy};
use ledger::{Ledger, Record};
use pace::Pacer;
use request::{
    InvalidRequest, StopCommandRequest, StopInstancesRequest, ValidCommandStop, ValidStop,
};
use stop_command::{CommandLedger, CommandRun};
use stop_instances::{InstanceLedger, Run};

/// Runs `work`, and if the caller's deadline comes first, fails whatever is still undecided
/// with DEADLINE_EXCEEDED, leaving time to send those results before the caller gives up.
async fn within_deadline<P: Send + 'static, R: Record>(
    deadline: Option<Instant>,
    work: impl std::future::Future<Output = ()>,
    ledger: &Ledger<P, R>,
) {
    let Some(deadline) = deadline else {
        return work.await;
    };
    let margin =
        Duration::from_millis(100).min(deadline.saturating_duration_since(Instant::now()) / 4);
    if tokio::time::timeout_at(deadline - margin, work)
        .await
        .is_err()
    {
        let mut error = StopError::local(
            ErrorKind::DeadlineExceeded,
            "DEADLINE_EXCEEDED",
            "the caller's deadline passed before this result was final; a stop may already have been sent: check the state, or call again with a longer deadline",
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

/// The default requests per second for an action whose vendor publishes no limit (Alibaba).
pub const DEFAULT_RATE: f64 = 20.0;

/// Shared by every request.
pub struct Engine {
    config: Arc<Config>,
    adapters: BTreeMap<Provider, Arc<dyn Adapter>>,
    pacer: Arc<Pacer>,
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
        Ok(Engine {
            config: Arc::new(config),
            adapters,
            pacer: Arc::new(Pacer::default()),
        })
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The adapter of a provider.
    pub fn adapter(&self, provider: Provider) -> Option<Arc<dyn Adapter>> {
        self.adapters.get(&provider).cloned()
    }

    /// Whether any account has credentials for the provider (for health).
    pub fn is_configured(&self, provider: Provider) -> bool {
        self.config
            .accounts
            .values()
            .any(|a| a.credentials(provider).is_some())
    }

    /// Validates a StopInstances request.
    pub fn validate_stop(
        &self,
        request: StopInstancesRequest,
    ) -> Result<ValidStop, InvalidRequest> {
        request.validate(&self.config, |p| self.adapter(p))
    }

    /// Validates a StopCommandExecution request.
    pub fn validate_command(
        &self,
        request: StopCommandRequest,
    ) -> Result<ValidCommandStop, InvalidRequest> {
        request.validate(&self.config, |p| self.adapter(p))
    }

    /// Runs a validated StopCommandExecution to its summary (or to its request-level error).
    pub async fn stop_command(
        &self,
        request: ValidCommandStop,
        ledger: Arc<CommandLedger>,
        deadline: Option<Instant>,
    ) {
        let adapter = self.adapter(request.provider).expect("validated provider");
        let caller = self.caller(
            request.provider,
            &request.account,
            &request.region,
            deadline,
        );
        let scope = Scope {
            region: &request.region,
            credentials: &request.credentials,
        };
        let run = CommandRun::new(
            adapter.as_ref(),
            scope,
            &caller,
            &ledger,
            &request,
            self.config.poll_interval(),
        );
        within_deadline(deadline, run.execute(), &ledger).await;
        ledger.finish(&caller.stats).await;
    }

    fn caller(
        &self,
        provider: Provider,
        account: &str,
        region: &str,
        deadline: Option<Instant>,
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
            deadline,
        )
    }

    /// Runs a validated StopInstances to its summary. `deadline` is the caller's gRPC deadline.
    pub async fn stop_instances(
        &self,
        request: ValidStop,
        ledger: Arc<InstanceLedger>,
        deadline: Option<Instant>,
    ) {
        let adapter = self.adapter(request.provider).expect("validated provider");
        let caller = self.caller(
            request.provider,
            &request.account,
            &request.region,
            deadline,
        );
        let scope = Scope {
            region: &request.region,
            credentials: &request.credentials,
        };
        let concurrency = self
            .config
            .provider(request.provider)
            .max_concurrency
            .unwrap_or(4);
        let run = Run::new(
            adapter.as_ref(),
            scope,
            &caller,
            &ledger,
            &request,
            self.config.poll_interval(),
        );
        within_deadline(deadline, run.execute(concurrency), &ledger).await;
        ledger.finish(&caller.stats).await;
    }
}
