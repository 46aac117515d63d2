//! The provider-neutral engine: validate → read → stop → isolate → wait → report, with
//! chunking, pacing, retries and the one-result-per-instance guarantee. It knows the normalized
//! model and the [`Adapter`] trait, nothing about HTTP or protobuf.

pub mod call;
pub mod ledger;
pub mod pace;
pub mod request;
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
use pace::Pacer;
use request::{InvalidRequest, StopInstancesRequest, ValidStop};
use stop_instances::{InstanceLedger, Run};

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
            format!("{account}/{provider}/{region}"),
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
        let work = run.execute(concurrency);
        match deadline {
            Some(deadline) => {
                // Leave time to send the remaining results before the caller gives up.
                let margin = Duration::from_millis(100)
                    .min(deadline.saturating_duration_since(Instant::now()) / 4);
                if tokio::time::timeout_at(deadline - margin, work)
                    .await
                    .is_err()
                {
                    let error = StopError::local(
                        ErrorKind::DeadlineExceeded,
                        "DEADLINE_EXCEEDED",
                        "the caller's deadline passed before this instance was decided; its stop may or may not have been sent: check its state, or call again with a longer deadline",
                    );
                    ledger.fail_remaining(&error).await;
                }
            }
            None => work.await,
        }
        ledger.finish(&caller.stats).await;
    }
}
