//! What a stop request asks for, and its validation before any vendor call (docs/design.md rule 10).

use std::time::Duration;

use std::sync::Arc;

use crate::config::{Config, DEFAULT_ACCOUNT};
use crate::credentials::{Credential, CredentialStore};
use crate::model::{Billing, Provider, StopMode};
use crate::provider::Adapter;

/// The longest wait a request may ask for.
pub const MAX_WAIT: Duration = Duration::from_secs(3600);
/// The wait when none is given.
pub const DEFAULT_WAIT: Duration = Duration::from_secs(600);
/// The longest graceful phase of an emulated graceful-then-force stop.
pub const MAX_GRACEFUL: Duration = Duration::from_secs(1800);
/// The graceful phase when none is given.
pub const DEFAULT_GRACEFUL: Duration = Duration::from_secs(120);

/// One invalid field (`google.rpc.BadRequest.FieldViolation`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldViolation {
    pub field: String,
    pub description: String,
}

/// A request refused before any vendor call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidRequest {
    pub violations: Vec<FieldViolation>,
}

impl InvalidRequest {
    /// One line for the status message.
    pub fn summary(&self) -> String {
        let parts: Vec<String> = self
            .violations
            .iter()
            .take(3)
            .map(|v| format!("{}: {}", v.field, v.description))
            .collect();
        let more = self.violations.len().saturating_sub(3);
        let tail = if more > 0 {
            format!(" (and {more} more)")
        } else {
            String::new()
        };
        format!("invalid request: {}{tail}", parts.join("; "))
    }
}

/// A `StopInstances` request, converted from the proto.
#[derive(Debug, Clone, Default)]
pub struct StopInstancesRequest {
    pub provider: Option<Provider>,
    pub region: String,
    pub account: String,
    pub instance_ids: Vec<String>,
    pub mode: StopMode,
    pub billing: Billing,
    pub dry_run: bool,
    pub all_or_nothing: bool,
    pub confirm_local_disk: bool,
    /// `Some` when the caller asked to wait until terminal; the value is the timeout asked for.
    pub wait: Option<Option<Duration>>,
    pub graceful_timeout: Option<Duration>,
    /// Stop what matches instead of `instance_ids`.
    pub selector: Option<super::selector::SelectorRequest>,
}

/// A request that passed validation.
#[derive(Debug, Clone)]
pub struct ValidStop {
    pub provider: Provider,
    pub region: String,
    pub account: String,
    /// The account's credentials for the provider, fetched afresh for each vendor call.
    pub credentials: Arc<Credential>,
    /// Distinct ids, in request order.
    pub ids: Vec<String>,
    pub requested: usize,
    pub mode: StopMode,
    pub billing: Billing,
    pub dry_run: bool,
    pub all_or_nothing: bool,
    pub confirm_local_disk: bool,
    pub wait: Option<Duration>,
    pub graceful_timeout: Duration,
    /// Instances whose stop the vendor already accepted (with its RequestId), when the
    /// operation was taken over from another replica; empty otherwise.
    pub sent: std::collections::HashMap<String, String>,
    /// A selector request: `ids` are empty until its regions are read, and `region` names
    /// its regions (for logs).
    pub selection: Option<super::selector::Selection>,
}

fn violation(field: impl Into<String>, description: impl Into<String>) -> FieldViolation {
    FieldViolation {
        field: field.into(),
        description: description.into(),
    }
}

/// The shared checks of both operations: provider, region, account and its credentials.
/// `region` is `None` for a selector, whose regions are checked with it.
pub fn check_target(
    config: &Config,
    provider: Option<Provider>,
    region: Option<&str>,
    account: &str,
    adapter: impl Fn(Provider) -> Option<std::sync::Arc<dyn Adapter>>,
    credentials: &CredentialStore,
    violations: &mut Vec<FieldViolation>,
) -> Option<(Provider, String, Arc<Credential>)> {
    let Some(provider) = provider else {
        violations.push(violation(
            "provider",
            "required: PROVIDER_ALIBABA or PROVIDER_TENCENT",
        ));
        return None;
    };
    let adapter = adapter(provider)?;
    let account = if account.is_empty() {
        DEFAULT_ACCOUNT
    } else {
        account
    };
    match region {
        // A selector's regions are checked with it.
        None => {}
        Some("") => violations.push(violation(
            "region",
            format!(
                "required: a {provider} region id such as {}",
                example_region(provider)
            ),
        )),
        Some(region) => check_region(config, adapter.as_ref(), "region", region, violations),
    }
    let Some(profile) = config.accounts.get(account) else {
        let known: Vec<&String> = config.accounts.keys().collect();
        violations.push(violation(
            "account",
            format!("account {account:?} is not configured (configured: {known:?}); add [accounts.{account}] to the config file or set the vendor's credential environment variables for \"default\""),
        ));
        return None;
    };
    if let Some(region) = region.filter(|r| !r.is_empty())
        && !profile.regions.is_empty()
        && !profile.regions.iter().any(|r| r == region)
    {
        violations.push(violation(
            "region",
            format!("account {account:?} may only act in {:?}", profile.regions),
        ));
    }
    let Some(credentials) = profile
        .source(provider)
        .and_then(|_| credentials.get(account, provider))
    else {
        let vars = match provider {
            Provider::Alibaba => "ALIBABA_CLOUD_ACCESS_KEY_ID/ALIBABA_CLOUD_ACCESS_KEY_SECRET",
            Provider::Tencent => "TENCENTCLOUD_SECRET_ID/TENCENTCLOUD_SECRET_KEY",
        };
        violations.push(violation(
            "account",
            format!("account {account:?} has no {provider} credentials; add [accounts.{account}.{provider}] or, for \"default\", set {vars}"),
        ));
        return None;
    };
    Some((provider, account.to_string(), credentials))
}

/// Checks that `region` is one stopgate accepts for the adapter's provider: well formed, and
/// known to stopgate or added in the config (`[PROVIDER] regions`); a violation of `field`
/// otherwise.
pub fn check_region(
    config: &Config,
    adapter: &dyn Adapter,
    field: &str,
    region: &str,
    violations: &mut Vec<FieldViolation>,
) {
    let provider = adapter.provider();
    let known = adapter.valid_region(region)
        && (adapter.known_regions().contains(&region)
            || config
                .provider(provider)
                .regions
                .iter()
                .any(|r| r == region));
    if !known {
        violations.push(violation(
            field,
            format!(
                "{region:?} is not a {provider} region stopgate knows (like {}); if {provider} opened it recently, add it to [{provider}] regions in the config",
                example_region(provider)
            ),
        ));
    }
}

fn example_region(provider: Provider) -> &'static str {
    match provider {
        Provider::Alibaba => "cn-hangzhou",
        Provider::Tencent => "ap-guangzhou",
    }
}

/// Checks ids: present, not too many, well formed; returns them deduplicated.
/// What a list of ids names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdsFor {
    /// Instances to stop: at least one is required.
    Instances,
    /// Targets of a command execution: optional, and managed/lightweight instances count.
    CommandTargets,
}

pub fn check_ids(
    ids: &[String],
    field: &str,
    max: usize,
    what: IdsFor,
    adapter: &dyn Adapter,
    violations: &mut Vec<FieldViolation>,
) -> Vec<String> {
    if ids.is_empty() && what == IdsFor::Instances {
        violations.push(violation(field, "required: at least one instance id"));
    }
    if ids.len() > max {
        violations.push(violation(
            field,
            format!(
                "{} ids given; at most {max} per request: split the request",
                ids.len()
            ),
        ));
    }
    let provider = adapter.provider();
    let mut bad = 0;
    for (i, id) in ids.iter().enumerate() {
        let valid = match what {
            IdsFor::Instances => adapter.valid_instance_id(id),
            IdsFor::CommandTargets => adapter.valid_command_target(id),
        };
        if !valid {
            bad += 1;
            if bad <= 20 {
                violations.push(violation(
                    format!("{field}[{i}]"),
                    format!(
                        "{id:?} is not a {provider} instance id (like {})",
                        adapter.instance_id_example()
                    ),
                ));
            }
        }
    }
    if bad > 20 {
        violations.push(violation(
            field,
            format!("{} more malformed ids not listed", bad - 20),
        ));
    }
    let mut seen = std::collections::HashSet::new();
    ids.iter()
        .filter(|id| seen.insert(id.as_str()))
        .cloned()
        .collect()
}

/// Checks a wait request and fills in the default.
pub fn check_wait(
    wait: Option<Option<Duration>>,
    dry_run: bool,
    violations: &mut Vec<FieldViolation>,
) -> Option<Duration> {
    let timeout = wait?;
    if dry_run {
        violations.push(violation(
            "wait.until_terminal",
            "cannot be combined with dry_run: a dry run changes nothing to wait for",
        ));
    }
    let timeout = timeout.unwrap_or(DEFAULT_WAIT);
    if timeout.is_zero() || timeout > MAX_WAIT {
        violations.push(violation(
            "wait.timeout",
            "must be between 1 second and 1 hour (omit it for 10 minutes)",
        ));
    }
    Some(timeout)
}

impl StopInstancesRequest {
    /// Validates against the configuration; every problem is listed, none is sent.
    pub fn validate(
        self,
        config: &Config,
        adapter: impl Fn(Provider) -> Option<std::sync::Arc<dyn Adapter>>,
        credentials: &CredentialStore,
    ) -> Result<ValidStop, InvalidRequest> {
        let mut violations = Vec::new();
        let target = check_target(
            config,
            self.provider,
            self.selector.is_none().then_some(self.region.as_str()),
            &self.account,
            &adapter,
            credentials,
            &mut violations,
        );
        let adapter = self.provider.and_then(&adapter);
        let mut selection = None;
        if let (Some(selector), Some(a)) = (self.selector.clone(), &adapter) {
            if !self.instance_ids.is_empty() {
                violations.push(violation(
                    "instance_ids",
                    "give either instance_ids or a selector, not both",
                ));
            }
            let batch = self.all_or_nothing.then(|| a.capabilities().stop_batch);
            selection = super::selector::check(
                config,
                a.as_ref(),
                selector,
                &self.region,
                batch,
                &mut violations,
            );
        }
        let ids = match &adapter {
            Some(_) if self.selector.is_some() => Vec::new(),
            Some(a) => check_ids(
                &self.instance_ids,
                "instance_ids",
                config.max_instances_per_request,
                IdsFor::Instances,
                a.as_ref(),
                &mut violations,
            ),
            None => Vec::new(),
        };
        if let Some(adapter) = &adapter {
            let batch = adapter.capabilities().stop_batch;
            if self.all_or_nothing && ids.len() > batch {
                violations.push(violation(
                    "all_or_nothing",
                    format!("all_or_nothing covers one vendor call, at most {batch} instances ({} given): split the request or drop all_or_nothing", ids.len()),
                ));
            }
        }
        let wait = check_wait(self.wait, self.dry_run, &mut violations);
        // graceful_timeout only means something for Alibaba's emulated graceful-then-force;
        // Tencent's SOFT_FIRST decides on its own when to force (rule 5: no silent change).
        let emulated = self.mode == StopMode::GracefulThenForce
            && adapter
                .as_ref()
                .is_some_and(|a| !a.capabilities().native_graceful_then_force);
        if self.graceful_timeout.is_some() && !emulated {
            violations.push(violation(
                "graceful_timeout",
                "applies only to STOP_MODE_GRACEFUL_THEN_FORCE on Alibaba (Tencent's SOFT_FIRST decides when to force): remove it",
            ));
        }
        let graceful_timeout = self.graceful_timeout.unwrap_or(DEFAULT_GRACEFUL);
        if graceful_timeout.is_zero() || graceful_timeout > MAX_GRACEFUL {
            violations.push(violation(
                "graceful_timeout",
                "must be between 1 second and 30 minutes (omit it for 2 minutes)",
            ));
        }
        match target {
            Some((provider, account, credentials)) if violations.is_empty() => Ok(ValidStop {
                provider,
                region: match &selection {
                    Some(s) => s.regions_text(),
                    None => self.region,
                },
                account,
                credentials,
                ids,
                requested: self.instance_ids.len(),
                mode: self.mode,
                billing: self.billing,
                dry_run: self.dry_run,
                all_or_nothing: self.all_or_nothing,
                confirm_local_disk: self.confirm_local_disk,
                wait,
                graceful_timeout,
                sent: Default::default(),
                selection,
            }),
            _ => Err(InvalidRequest { violations }),
        }
    }
}

/// A `StopCommandExecution` request, converted from the proto.
#[derive(Debug, Clone, Default)]
pub struct StopCommandRequest {
    pub provider: Option<Provider>,
    pub region: String,
    pub account: String,
    pub execution_id: String,
    pub instance_ids: Vec<String>,
    pub dry_run: bool,
    /// `Some` when the caller asked to wait until terminal; the value is the timeout asked for.
    pub wait: Option<Option<Duration>>,
}

/// A command request that passed validation.
#[derive(Debug, Clone)]
pub struct ValidCommandStop {
    pub provider: Provider,
    pub region: String,
    pub account: String,
    /// The account's credentials for the provider, fetched afresh for each vendor call.
    pub credentials: Arc<Credential>,
    pub execution_id: String,
    /// Distinct instances named; empty means every instance of the execution.
    pub ids: Vec<String>,
    pub requested: usize,
    pub dry_run: bool,
    pub wait: Option<Duration>,
}

impl StopCommandRequest {
    /// Validates against the configuration; every problem is listed, none is sent.
    pub fn validate(
        self,
        config: &Config,
        adapter: impl Fn(Provider) -> Option<std::sync::Arc<dyn Adapter>>,
        credentials: &CredentialStore,
    ) -> Result<ValidCommandStop, InvalidRequest> {
        let mut violations = Vec::new();
        let target = check_target(
            config,
            self.provider,
            Some(&self.region),
            &self.account,
            &adapter,
            credentials,
            &mut violations,
        );
        let adapter = self.provider.and_then(&adapter);
        let mut ids = Vec::new();
        if let Some(adapter) = &adapter {
            if self.execution_id.is_empty() {
                violations.push(violation(
                    "execution_id",
                    format!(
                        "required: the {} execution id, like {}",
                        adapter.provider(),
                        adapter.execution_id_example()
                    ),
                ));
            } else if !adapter.valid_execution_id(&self.execution_id) {
                violations.push(violation(
                    "execution_id",
                    format!(
                        "{:?} is not a {} execution id (like {})",
                        self.execution_id,
                        adapter.provider(),
                        adapter.execution_id_example()
                    ),
                ));
            }
            ids = check_ids(
                &self.instance_ids,
                "instance_ids",
                config.max_instances_per_request,
                IdsFor::CommandTargets,
                adapter.as_ref(),
                &mut violations,
            );
        }
        let wait = check_wait(self.wait, self.dry_run, &mut violations);
        match target {
            Some((provider, account, credentials)) if violations.is_empty() => {
                Ok(ValidCommandStop {
                    provider,
                    region: self.region,
                    account,
                    credentials,
                    execution_id: self.execution_id,
                    ids,
                    requested: self.instance_ids.len(),
                    dry_run: self.dry_run,
                    wait,
                })
            }
            _ => Err(InvalidRequest { violations }),
        }
    }
}
