//! Every account × provider's [`Credential`], built from the configuration once.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use opentelemetry::metrics::Counter;

use super::alibaba_metadata::EcsRole;
use super::alibaba_sts::AlibabaSts;
use super::tencent_metadata::CvmRole;
use super::tencent_sts::TencentSts;
use super::{Credential, chain};
use crate::config::{Config, CredentialSource};
use crate::model::Provider;

/// How often, at the least, the keeper looks at every credential, refreshing those due; it
/// looks sooner when a credential is due earlier ([`CredentialStore::next_change`]), so that
/// short-lived keys are refreshed ahead of calls and health follows their expiry.
pub const KEEP_INTERVAL: Duration = Duration::from_secs(15);

/// The shortest pause of the keeper, so that it never spins.
pub const MIN_KEEP_PAUSE: Duration = Duration::from_millis(20);

/// The credentials of every configured account and provider.
#[derive(Debug, Default)]
pub struct CredentialStore {
    credentials: BTreeMap<(String, Provider), Arc<Credential>>,
}

impl CredentialStore {
    /// Builds each account's credentials from its source; the default chain is resolved with
    /// `env`. Nothing is fetched yet.
    pub fn build(
        config: &Config,
        refreshes: Option<Counter<u64>>,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<CredentialStore, String> {
        let mut credentials = BTreeMap::new();
        for (name, account) in &config.accounts {
            for provider in Provider::ALL {
                let Some(source) = account.source(provider) else {
                    continue;
                };
                let credential = build(provider, source, &refreshes, env)
                    .map_err(|e| format!("[accounts.{name}.{provider}]: {e}"))?;
                credentials.insert((name.clone(), provider), credential);
            }
        }
        Ok(CredentialStore { credentials })
    }

    /// The credentials of an account for a provider.
    pub fn get(&self, account: &str, provider: Provider) -> Option<Arc<Credential>> {
        self.credentials
            .get(&(account.to_string(), provider))
            .cloned()
    }

    /// Whether some account holds credentials for the provider that can sign a call now.
    pub fn usable(&self, provider: Provider) -> bool {
        self.credentials
            .iter()
            .any(|((_, p), c)| *p == provider && c.usable())
    }

    /// The next moment after now when some credential is due for a refresh, may retry a failed
    /// one, or stops being usable: when the keeper should look again, if before
    /// [`KEEP_INTERVAL`] is over.
    pub fn next_change(&self) -> Option<tokio::time::Instant> {
        self.credentials
            .values()
            .filter_map(|c| c.next_change())
            .min()
    }

    /// Fetches every credential that is due (all of them the first time), so that calls
    /// rarely wait for a refresh and health tells the truth. Failures are logged by the
    /// credential and counted.
    pub async fn refresh_due(&self) {
        let all = self.credentials.values().map(|c| async move {
            let _ = c.current().await;
        });
        futures::future::join_all(all).await;
    }
}

/// One credential from its configured source.
fn build(
    provider: Provider,
    source: &CredentialSource,
    refreshes: &Option<Counter<u64>>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Arc<Credential>, String> {
    let fetched = |source: Arc<dyn super::Source>| {
        Ok(Arc::new(Credential::from_source(
            provider,
            source,
            refreshes.clone(),
        )))
    };
    match (source, provider) {
        (CredentialSource::Static(keys), _) => {
            Ok(Arc::new(Credential::fixed(provider, keys.clone())))
        }
        (CredentialSource::DefaultChain(settings), _) => {
            let resolved = chain::resolve(provider, settings, env)?;
            tracing::info!(%provider, source = resolved.kind(), "default credential chain resolved");
            build(provider, &resolved, refreshes, env)
        }
        (CredentialSource::AssumeRole(role), _) => {
            let signer = build(provider, &role.source, refreshes, env)?;
            match provider {
                Provider::Alibaba => {
                    fetched(Arc::new(AlibabaSts::assume_role(role.clone(), signer)?))
                }
                Provider::Tencent => {
                    fetched(Arc::new(TencentSts::assume_role(role.clone(), signer)?))
                }
            }
        }
        (CredentialSource::Oidc(role), Provider::Alibaba) => {
            fetched(Arc::new(AlibabaSts::oidc(role.clone())?))
        }
        (CredentialSource::Oidc(role), Provider::Tencent) => {
            fetched(Arc::new(TencentSts::web_identity(role.clone())?))
        }
        (CredentialSource::InstanceRole(role), Provider::Alibaba) => {
            fetched(Arc::new(EcsRole::new(role.clone())?))
        }
        (CredentialSource::InstanceRole(role), Provider::Tencent) => {
            fetched(Arc::new(CvmRole::new(role.clone())?))
        }
    }
}
