//! Gateway configuration: accounts and their credentials (from a TOML file or the vendors'
//! standard environment variables), per-provider endpoint overrides and rate limits, and the
//! gateway's own limits. Endpoints come only from here, never from a request.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

use crate::model::Provider;

mod source;
pub use source::{
    AssumeRole, CredentialSource, DEFAULT_SESSION_NAME, DURATION_RANGE, DefaultChain, InstanceRole,
    OidcRole, StsSettings,
};

/// A secret string: never printed by `Debug`.
#[derive(Clone, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The secret itself, for signing only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret([REDACTED])")
    }
}

/// One vendor credential: an access key pair, with a token when it is temporary (STS).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Credentials {
    /// Alibaba AccessKeyId / Tencent SecretId.
    #[serde(alias = "secret_id")]
    pub access_key_id: Secret,
    /// Alibaba AccessKeySecret / Tencent SecretKey.
    #[serde(alias = "access_key_secret", alias = "secret_key")]
    pub secret: Secret,
    /// Alibaba SecurityToken / Tencent session token.
    #[serde(default, alias = "security_token", alias = "session_token")]
    pub token: Option<Secret>,
}

impl Credentials {
    /// Every secret value, for redacting vendor messages.
    pub fn secret_values(&self) -> Vec<String> {
        let mut values = vec![self.access_key_id.0.clone(), self.secret.0.clone()];
        values.extend(self.token.as_ref().map(|t| t.0.clone()));
        values.retain(|v| v.len() >= 4);
        values
    }
}

/// A named credential profile: what a request's `account` selects.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Account {
    /// Where the Alibaba credentials come from (`[accounts.NAME.alibaba]`).
    pub alibaba: Option<CredentialSource>,
    /// Where the Tencent credentials come from (`[accounts.NAME.tencent]`).
    pub tencent: Option<CredentialSource>,
    /// Regions this account may act in; empty means any well-formed region. A selector's
    /// `all_regions` searches these (or, when empty, the vendor's own list).
    #[serde(default)]
    pub regions: Vec<String>,
}

impl Account {
    /// Where the credentials for a provider come from.
    pub fn source(&self, provider: Provider) -> Option<&CredentialSource> {
        match provider {
            Provider::Alibaba => self.alibaba.as_ref(),
            Provider::Tencent => self.tencent.as_ref(),
        }
    }
}

/// Per-provider settings.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ProviderSettings {
    /// Base URL replacing the public endpoint (a private endpoint or the simulator), e.g.
    /// `http://127.0.0.1:8780`.
    pub endpoint: Option<String>,
    /// Requests per second per account × region × action, overriding the published limits.
    #[serde(default)]
    pub rate_limits: BTreeMap<String, f64>,
    /// Vendor calls in flight at once per request (default 4).
    pub max_concurrency: Option<usize>,
    /// Regions to accept beyond the ones stopgate knows (a region the vendor opened since).
    #[serde(default)]
    pub regions: Vec<String>,
}

/// TLS for the gRPC listener; with `client_ca`, mutual TLS (client certificates required and
/// verified against that CA).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct TlsSettings {
    /// PEM certificate chain of the server.
    pub cert: std::path::PathBuf,
    /// PEM private key of the server.
    pub key: std::path::PathBuf,
    /// PEM CA that client certificates must chain to.
    pub client_ca: Option<std::path::PathBuf>,
}

/// A caller allowed in by bearer token, and the accounts it may use.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct CallerToken {
    /// A name for logs (never the token).
    pub name: String,
    /// The bearer token (`authorization: Bearer <token>`).
    pub token: Secret,
    /// Accounts this caller may act as; `"*"` means all of them.
    pub accounts: Vec<String>,
}

/// The gateway's own limits: admission control and HTTP/2 connection settings (`[limits]`).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// StopInstances and StopCommandExecution calls served at once, across all connections;
    /// beyond it a call gets RESOURCE_EXHAUSTED with a RetryInfo (default 1024).
    pub max_concurrent_rpcs: usize,
    /// Instances (or command tasks) in flight at once across all calls; a call that would
    /// exceed it gets RESOURCE_EXHAUSTED with a RetryInfo (default 100,000).
    pub max_instances_in_flight: usize,
    /// HTTP/2 streams one connection may open at once (`SETTINGS_MAX_CONCURRENT_STREAMS`,
    /// default 1024).
    pub max_concurrent_streams: u32,
    /// Seconds between HTTP/2 PINGs on an idle connection (default 30; 0 turns them off).
    pub http2_keepalive_interval_seconds: u64,
    /// Seconds to wait for a PING's answer before closing the connection (default 10).
    pub http2_keepalive_timeout_seconds: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_concurrent_rpcs: 1024,
            max_instances_in_flight: 100_000,
            max_concurrent_streams: 1024,
            http2_keepalive_interval_seconds: 30,
            http2_keepalive_timeout_seconds: 10,
        }
    }
}

/// What to do when the shared pacing store cannot be reached.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum OnUnavailable {
    /// Pace in this process at the rate divided by `replicas`, and keep trying Redis.
    #[default]
    Local,
    /// Send no vendor call: the instances fail with the reason, and the caller retries.
    Fail,
}

/// Pacing shared by several replicas through Redis (`[cluster]`).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct ClusterSettings {
    /// A single Redis, self-run or managed: `redis://[:password@]host:6379[/db]`. Also
    /// `STOPGATE_REDIS_URL`.
    pub redis_url: Option<Secret>,
    /// Seed nodes of a Redis Cluster, instead of `redis_url`.
    pub redis_cluster_urls: Vec<Secret>,
    /// What to do while Redis cannot be reached (default `local`).
    pub on_unavailable: OnUnavailable,
    /// How many replicas share the vendor quota: while Redis is unreachable each paces at the
    /// rate divided by this (default 1).
    pub replicas: u32,
    /// How long one Redis operation may take before Redis counts as unavailable, in
    /// milliseconds (default 250).
    pub timeout_ms: u64,
}

impl Default for ClusterSettings {
    fn default() -> Self {
        ClusterSettings {
            redis_url: None,
            redis_cluster_urls: Vec::new(),
            on_unavailable: OnUnavailable::Local,
            replicas: 1,
            timeout_ms: 250,
        }
    }
}

impl ClusterSettings {
    /// Whether a Redis is configured.
    pub fn enabled(&self) -> bool {
        self.redis_url.is_some() || !self.redis_cluster_urls.is_empty()
    }

    /// The time one Redis operation may take.
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms.max(1))
    }

    fn validate(&self) -> Result<(), String> {
        if self.redis_url.is_some() && !self.redis_cluster_urls.is_empty() {
            return Err("[cluster] sets both redis_url and redis_cluster_urls: keep redis_url for a single Redis, or redis_cluster_urls for Redis Cluster".into());
        }
        if self.replicas == 0 {
            return Err("[cluster] replicas must be at least 1 (the number of gateway replicas sharing the vendor quota)".into());
        }
        if self.timeout_ms == 0 {
            return Err("[cluster] timeout_ms must be at least 1".into());
        }
        for url in self.redis_url.iter().chain(&self.redis_cluster_urls) {
            let scheme = url.expose().split("://").next().unwrap_or_default();
            match scheme {
                "redis" | "redis+unix" | "unix" => {}
                "rediss" => return Err("[cluster] a rediss:// (TLS) URL: this build of stopgate speaks plain Redis only; reach Redis over a private network, or through a local TLS tunnel (stunnel) at a redis:// address".into()),
                _ => return Err("[cluster] a Redis URL must start with redis:// (e.g. redis://:password@10.0.0.5:6379/0)".into()),
            }
        }
        Ok(())
    }
}

/// Operations (docs/operations.md): every accepted stop runs to its end whoever listens, and is
/// kept for re-attaching. The journal is in process, or in the `[cluster]` Redis when one is set.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct OperationSettings {
    /// How long an operation and its results are kept after it ends, in seconds (default
    /// 86,400: 24 hours). Re-attaching works within it; after it, the same request_id starts a
    /// new operation.
    pub retention_seconds: u64,
    /// The longest an operation may run, in seconds (default 7,200): instances still undecided
    /// then fail with DEADLINE_EXCEEDED. It must leave room for the longest wait (1 hour) and
    /// graceful window (30 minutes).
    pub max_duration_seconds: u64,
    /// The in-process journal keeps at most this many ended operations (default 1,000); the
    /// oldest are forgotten first.
    pub max_retained: usize,
    /// The in-process journal keeps at most this many results of ended operations in all
    /// (default 1,000,000, about 150 MB); the oldest operations are forgotten first.
    pub max_retained_results: usize,
    /// How long the owner's lease on an operation lasts without a heartbeat, in seconds (default
    /// 10). With Redis, another replica takes an operation over once its owner's lease expired.
    pub lease_seconds: u64,
}

impl Default for OperationSettings {
    fn default() -> Self {
        OperationSettings {
            retention_seconds: 86_400,
            max_duration_seconds: 7_200,
            max_retained: 1_000,
            max_retained_results: 1_000_000,
            lease_seconds: 10,
        }
    }
}

impl OperationSettings {
    pub fn retention(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.retention_seconds)
    }

    pub fn max_duration(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.max_duration_seconds)
    }

    pub fn lease(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.lease_seconds)
    }

    fn validate(&self) -> Result<(), String> {
        if self.retention_seconds == 0 {
            return Err("[operations] retention_seconds must be at least 1 (default 86400): results must be kept to be re-attached to".to_string());
        }
        if self.max_duration_seconds < 60 {
            return Err(format!(
                "[operations] max_duration_seconds = {} is too short: give at least 60 (default 7200)",
                self.max_duration_seconds
            ));
        }
        if self.lease_seconds < 2 {
            return Err(format!(
                "[operations] lease_seconds = {} is too short: give at least 2 (default 10), so a heartbeat can renew it in time",
                self.lease_seconds
            ));
        }
        if self.max_retained == 0 {
            return Err("[operations] max_retained must be at least 1 (default 1000)".to_string());
        }
        Ok(())
    }
}

/// Everything the gateway is configured with.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// The most instances one request may name (default 10,000).
    pub max_instances_per_request: usize,
    /// How often to poll while waiting, in milliseconds (default 2000; jittered ±20%).
    pub poll_interval_ms: u64,
    /// How long in-flight streams may run after SIGTERM, in seconds (default 30).
    pub shutdown_grace_seconds: u64,
    /// Retries per vendor call (default 16).
    pub max_retries: u32,
    /// The retry budget of each request (`[retry_budget]`).
    pub retry_budget: crate::engine::call::BudgetSettings,
    pub alibaba: ProviderSettings,
    pub tencent: ProviderSettings,
    pub accounts: BTreeMap<String, Account>,
    /// TLS (and mTLS) for the gRPC listener; plaintext (h2c) when absent.
    pub tls: Option<TlsSettings>,
    /// When any is given, stopgate's services require a bearer token (health and reflection
    /// stay open).
    pub callers: Vec<CallerToken>,
    /// Admission control and HTTP/2 settings.
    pub limits: Limits,
    /// Pacing shared by replicas through Redis; in-process pacing when absent.
    pub cluster: ClusterSettings,
    /// Operations: how long they may run and how long they are kept (`[operations]`).
    pub operations: OperationSettings,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_instances_per_request: 10_000,
            poll_interval_ms: 2000,
            shutdown_grace_seconds: 30,
            max_retries: 16,
            retry_budget: Default::default(),
            alibaba: ProviderSettings::default(),
            tencent: ProviderSettings::default(),
            accounts: BTreeMap::new(),
            tls: None,
            callers: Vec::new(),
            limits: Limits::default(),
            cluster: ClusterSettings::default(),
            operations: OperationSettings::default(),
        }
    }
}

/// The account a request names when it names none.
pub const DEFAULT_ACCOUNT: &str = "default";

impl Config {
    /// Reads a TOML file.
    pub fn from_file(path: &Path) -> Result<Config, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read config {}: {e}", path.display()))?;
        toml::from_str(&text).map_err(|e| format!("invalid config {}: {e}", path.display()))
    }

    /// Fills the `default` account from the vendors' standard variables (access keys, or else
    /// the default chain when a pod's OIDC variables are all set) and the endpoints
    /// from `STOPGATE_ALIBABA_ENDPOINT` / `STOPGATE_TENCENT_ENDPOINT` (docs/design.md "Operations").
    /// A file's explicit settings win over the environment.
    pub fn apply_env(&mut self, get: impl Fn(&str) -> Option<String>) {
        let pair = |id: &str, secret: &str, token: &str| {
            Some(Credentials {
                access_key_id: Secret::new(get(id).filter(|v| !v.is_empty())?),
                secret: Secret::new(get(secret).filter(|v| !v.is_empty())?),
                token: get(token).filter(|v| !v.is_empty()).map(Secret::new),
            })
        };
        let alibaba = pair(
            "ALIBABA_CLOUD_ACCESS_KEY_ID",
            "ALIBABA_CLOUD_ACCESS_KEY_SECRET",
            "ALIBABA_CLOUD_SECURITY_TOKEN",
        );
        let tencent = pair(
            "TENCENTCLOUD_SECRET_ID",
            "TENCENTCLOUD_SECRET_KEY",
            "TENCENTCLOUD_SESSION_TOKEN",
        );
        let account = self
            .accounts
            .entry(DEFAULT_ACCOUNT.to_string())
            .or_default();
        // Without keys, a pod's OIDC variables (ACK RRSA, TKE) select the default chain.
        let chain = |vars: &[&str]| {
            vars.iter()
                .all(|v| get(v).is_some_and(|value| !value.is_empty()))
                .then(|| CredentialSource::DefaultChain(DefaultChain::default()))
        };
        if account.alibaba.is_none() {
            account.alibaba = alibaba.map(CredentialSource::from).or_else(|| {
                chain(&[
                    "ALIBABA_CLOUD_ROLE_ARN",
                    "ALIBABA_CLOUD_OIDC_PROVIDER_ARN",
                    "ALIBABA_CLOUD_OIDC_TOKEN_FILE",
                ])
            });
        }
        if account.tencent.is_none() {
            account.tencent = tencent.map(CredentialSource::from).or_else(|| {
                chain(&[
                    "TKE_REGION",
                    "TKE_PROVIDER_ID",
                    "TKE_WEB_IDENTITY_TOKEN_FILE",
                    "TKE_ROLE_ARN",
                ])
            });
        }
        if account.alibaba.is_none() && account.tencent.is_none() && account.regions.is_empty() {
            self.accounts.remove(DEFAULT_ACCOUNT);
        }
        if self.alibaba.endpoint.is_none() {
            self.alibaba.endpoint = get("STOPGATE_ALIBABA_ENDPOINT").filter(|v| !v.is_empty());
        }
        if self.tencent.endpoint.is_none() {
            self.tencent.endpoint = get("STOPGATE_TENCENT_ENDPOINT").filter(|v| !v.is_empty());
        }
        if !self.cluster.enabled() {
            self.cluster.redis_url = get("STOPGATE_REDIS_URL")
                .filter(|v| !v.is_empty())
                .map(Secret::new);
        }
    }

    /// Settings of one provider.
    pub fn provider(&self, provider: Provider) -> &ProviderSettings {
        match provider {
            Provider::Alibaba => &self.alibaba,
            Provider::Tencent => &self.tencent,
        }
    }

    /// The poll interval.
    pub fn poll_interval(&self) -> Duration {
        Duration::from_millis(self.poll_interval_ms.max(10))
    }

    /// Checks the settings make sense; says which one does not.
    pub fn validate(&self) -> Result<(), String> {
        if self.max_instances_per_request == 0 {
            return Err("max_instances_per_request must be at least 1".into());
        }
        for provider in Provider::ALL {
            let settings = self.provider(provider);
            if let Some(endpoint) = &settings.endpoint {
                let url = reqwest::Url::parse(endpoint).map_err(|e| {
                    format!("[{provider}] endpoint {endpoint:?} is not a URL ({e}); write it like http://127.0.0.1:8780")
                })?;
                if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
                    return Err(format!(
                        "[{provider}] endpoint {endpoint:?} must be an http:// or https:// URL with a host"
                    ));
                }
            }
            // `!(r > 0)` rather than `r <= 0`: NaN compares false to everything and would pass.
            if let Some((action, rate)) = settings
                .rate_limits
                .iter()
                .find(|(_, r)| !(r.is_finite() && **r > 0.0))
            {
                return Err(format!(
                    "[{provider}.rate_limits] {action} = {rate}: a rate must be a positive, finite number of requests per second"
                ));
            }
        }
        for (name, account) in &self.accounts {
            for provider in Provider::ALL {
                if let Some(source) = account.source(provider) {
                    source.validate(provider, &format!("accounts.{name}.{provider}"))?;
                }
            }
        }
        self.validate_limits()?;
        self.retry_budget.validate()?;
        self.cluster.validate()?;
        self.operations.validate()?;
        let mut tokens = std::collections::HashSet::new();
        for caller in &self.callers {
            let token = caller.token.expose();
            if token.trim() != token || !token.is_ascii() {
                return Err(format!(
                    "[[callers]] {:?}: the token must be ASCII without surrounding spaces",
                    caller.name
                ));
            }
            if !tokens.insert(token) {
                return Err(format!(
                    "[[callers]] {:?}: another caller has the same token; give each caller its own",
                    caller.name
                ));
            }
            if caller.token.expose().len() < 16 {
                return Err(format!(
                    "[[callers]] {:?}: the token must be at least 16 characters",
                    caller.name
                ));
            }
            if let Some(unknown) = caller
                .accounts
                .iter()
                .find(|a| *a != "*" && !self.accounts.contains_key(*a))
            {
                return Err(format!(
                    "[[callers]] {:?} names account {unknown:?}, which is not configured",
                    caller.name
                ));
            }
        }
        Ok(())
    }
}

impl Config {
    fn validate_limits(&self) -> Result<(), String> {
        let l = &self.limits;
        if l.max_concurrent_rpcs == 0 || l.max_concurrent_streams == 0 {
            return Err(
                "[limits] max_concurrent_rpcs and max_concurrent_streams must be at least 1".into(),
            );
        }
        if l.max_instances_in_flight < self.max_instances_per_request {
            return Err(format!(
                "[limits] max_instances_in_flight = {} is below max_instances_per_request = {}: no request of the largest allowed size could ever be admitted; raise it",
                l.max_instances_in_flight, self.max_instances_per_request
            ));
        }
        if l.http2_keepalive_interval_seconds > 0 && l.http2_keepalive_timeout_seconds == 0 {
            return Err(
                "[limits] http2_keepalive_timeout_seconds must be at least 1 when keepalive is on"
                    .into(),
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_never_show_in_debug_output() {
        let creds = Credentials {
            access_key_id: Secret::new("LTAIabcdef"),
            secret: Secret::new("very-secret-value"),
            token: Some(Secret::new("sts-token-value")),
        };
        let printed = format!("{creds:?}");
        assert!(!printed.contains("very-secret-value"));
        assert!(!printed.contains("sts-token-value"));
        assert!(!printed.contains("LTAIabcdef"));
    }

    #[test]
    fn the_vendors_standard_variables_fill_the_default_account() {
        let env: BTreeMap<&str, &str> = [
            ("ALIBABA_CLOUD_ACCESS_KEY_ID", "ak"),
            ("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "sk"),
            ("TENCENTCLOUD_SECRET_ID", "tid"),
            ("TENCENTCLOUD_SECRET_KEY", "tkey"),
            ("TENCENTCLOUD_SESSION_TOKEN", "ttok"),
            ("STOPGATE_TENCENT_ENDPOINT", "http://127.0.0.1:9"),
        ]
        .into_iter()
        .collect();
        let mut config = Config::default();
        config.apply_env(|k| env.get(k).map(|v| v.to_string()));
        let account = &config.accounts[DEFAULT_ACCOUNT];
        let alibaba = account.source(Provider::Alibaba).unwrap().as_static();
        assert_eq!(alibaba.unwrap().secret.expose(), "sk");
        assert!(alibaba.unwrap().token.is_none());
        assert_eq!(
            account
                .source(Provider::Tencent)
                .and_then(CredentialSource::as_static)
                .unwrap()
                .token
                .as_ref()
                .unwrap()
                .expose(),
            "ttok"
        );
        assert_eq!(
            config.tencent.endpoint.as_deref(),
            Some("http://127.0.0.1:9")
        );
        assert_eq!(config.alibaba.endpoint, None);
    }

    #[test]
    fn a_pods_oidc_variables_select_the_default_chain() {
        let env: BTreeMap<&str, &str> = [
            ("ALIBABA_CLOUD_ROLE_ARN", "acs:ram::1:role/r"),
            (
                "ALIBABA_CLOUD_OIDC_PROVIDER_ARN",
                "acs:ram::1:oidc-provider/p",
            ),
            ("ALIBABA_CLOUD_OIDC_TOKEN_FILE", "/var/run/token"),
            ("TKE_REGION", "ap-guangzhou"),
            ("TKE_PROVIDER_ID", "cls-1"),
        ]
        .into_iter()
        .collect();
        let mut config = Config::default();
        config.apply_env(|k| env.get(k).map(|v| v.to_string()));
        let account = &config.accounts[DEFAULT_ACCOUNT];
        assert_eq!(
            account.source(Provider::Alibaba).unwrap().kind(),
            "default_chain"
        );
        // Two of TKE's four variables are not enough.
        assert!(account.source(Provider::Tencent).is_none());
    }

    #[test]
    fn a_toml_file_names_accounts_and_endpoints() {
        let config: Config = toml::from_str(
            r#"
            max_instances_per_request = 500
            [alibaba]
            endpoint = "http://127.0.0.1:8780"
            rate_limits = { StopInstances = 5.0 }
            [accounts.prod.tencent]
            secret_id = "AKIDx"
            secret_key = "key"
            "#,
        )
        .unwrap();
        assert_eq!(config.max_instances_per_request, 500);
        assert_eq!(config.alibaba.rate_limits["StopInstances"], 5.0);
        assert_eq!(
            config.accounts["prod"]
                .source(Provider::Tencent)
                .and_then(CredentialSource::as_static)
                .unwrap()
                .access_key_id
                .expose(),
            "AKIDx"
        );
        assert!(config.validate().is_ok());
    }

    #[test]
    fn a_rate_limit_that_is_not_a_finite_positive_number_is_refused() {
        for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 0.0, -1.0] {
            let mut config = Config::default();
            config
                .tencent
                .rate_limits
                .insert("StopInstances".into(), bad);
            let error = config.validate().unwrap_err();
            assert!(error.contains("positive, finite"), "{bad}: {error}");
        }
        let parsed: Config = toml::from_str("[alibaba]\nrate_limits = { StopInstances = nan }")
            .expect("TOML has nan");
        assert!(parsed.validate().is_err());
    }

    #[test]
    fn limits_read_from_toml_and_are_checked() {
        let config: Config = toml::from_str(
            "[limits]\nmax_concurrent_rpcs = 8\nmax_instances_in_flight = 20000\nhttp2_keepalive_interval_seconds = 0",
        )
        .unwrap();
        assert_eq!(config.limits.max_concurrent_rpcs, 8);
        assert!(config.validate().is_ok());
        let mut config = Config::default();
        config.limits.max_instances_in_flight = 10;
        assert!(
            config
                .validate()
                .unwrap_err()
                .contains("max_instances_in_flight")
        );
        config.limits = Limits {
            max_concurrent_rpcs: 0,
            ..Limits::default()
        };
        assert!(config.validate().is_err());
    }

    #[test]
    fn a_bad_endpoint_is_refused_with_an_example() {
        let mut config = Config::default();
        config.tencent.endpoint = Some("127.0.0.1:8780".into());
        let error = config.validate().unwrap_err();
        assert!(error.contains("http://127.0.0.1:8780"), "{error}");
    }
}
