//! Provider adapters: one module per vendor with the same shape (`sign`, `client`, `errors`,
//! and the actions), behind the [`Adapter`] trait the engine drives. An adapter call is one
//! vendor-sized batch and one HTTP request; chunking, pacing and retrying are the engine's.

pub mod alibaba;
pub mod classes;
pub mod http;
pub mod select;
pub mod signing;
pub mod tencent;

use std::future::Future;
use std::pin::Pin;

use crate::credentials::Credential;
use crate::model::{Billing, InstanceState, Provider, StopError, StopMode, TaskState};
pub use select::{RegionList, Selected, SelectedPage, TagLimits, TagMatch};

/// The string field `key` of a vendor's JSON object, empty when absent or not a string.
pub(crate) fn text(value: &serde_json::Value, key: &str) -> String {
    value
        .get(key)
        .and_then(serde_json::Value::as_str)
        .unwrap_or_default()
        .to_string()
}

/// A boxed future, so that adapters can sit behind `dyn Adapter`.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Where and as whom a call is made.
#[derive(Debug, Clone, Copy)]
pub struct Scope<'a> {
    pub region: &'a str,
    /// Asked for current credentials before each vendor call.
    pub credentials: &'a Credential,
}

/// One instance as a describe call saw it.
#[derive(Debug, Clone, PartialEq)]
pub struct Observed {
    pub id: String,
    pub state: InstanceState,
    /// The vendor's own word.
    pub raw_state: String,
    /// Billing that took effect, when the vendor reports it (stopped instances).
    pub billing: Option<Billing>,
    /// A lock that makes stops fail (Alibaba `OperationLocks`, Tencent `RestrictState`).
    pub lock: Option<String>,
    /// Whether the instance can stop charging, when the describe answer tells.
    pub can_stop_charging: Option<bool>,
    /// Tencent: the last StopInstances failed, with this message (`LatestOperationState`).
    pub stop_failed: Option<String>,
    /// Tencent `LatestOperationRequestId`: which call the `LatestOperation*` fields are about.
    pub operation_request_id: Option<String>,
}

/// The answer of one describe call: unknown ids are simply absent (docs/vendors/alibaba.md, §7 item 18).
#[derive(Debug, Clone, Default)]
pub struct Described {
    pub instances: Vec<Observed>,
    pub request_id: Option<String>,
}

/// One vendor stop call.
#[derive(Debug, Clone)]
pub struct StopCall<'a> {
    pub ids: &'a [String],
    /// `GracefulThenForce` only reaches adapters that support it natively.
    pub mode: StopMode,
    pub billing: Billing,
    pub confirm_local_disk: bool,
    pub dry_run: bool,
    /// All succeed or none (Alibaba `AllTogether`).
    pub all_or_nothing: bool,
}

/// A stop call's answer when the call as a whole did not fail.
#[derive(Debug, Clone)]
pub enum StopAnswer {
    /// One result per instance (Alibaba `SuccessFirst`).
    PerInstance {
        results: Vec<(String, Result<(), StopError>)>,
        request_id: Option<String>,
    },
    /// The whole batch was accepted.
    Accepted { request_id: Option<String> },
    /// The vendor's dry run passed for the whole batch.
    DryRunPassed { request_id: Option<String> },
}

/// What a vendor can do, and its limits (docs/design.md table; docs/vendors/*.md).
#[derive(Debug, Clone, Copy)]
pub struct Capabilities {
    /// Instances per stop call.
    pub stop_batch: usize,
    /// Instances per describe call.
    pub describe_batch: usize,
    /// Soft-then-hard stop in one call (Tencent `SOFT_FIRST`).
    pub native_graceful_then_force: bool,
    /// A vendor-side dry run (Alibaba `DryRun`).
    pub native_dry_run: bool,
    /// A result per instance in one stop answer (Alibaba `SuccessFirst`).
    pub per_instance_results: bool,
    /// The vendor refuses STOP_CHARGING for instances that cannot (Tencent) instead of
    /// silently keeping them charged (Alibaba).
    pub refuses_unsupported_stop_charging: bool,
}

/// The action names used to key rate limits.
#[derive(Debug, Clone, Copy)]
pub struct Actions {
    pub stop: &'static str,
    /// Reads instances, by ids or by tags.
    pub describe: &'static str,
    /// Lists the regions (for a selector's `all_regions`).
    pub regions: &'static str,
}

/// One instance's task of a command execution, as read.
#[derive(Debug, Clone, PartialEq)]
pub struct ObservedTask {
    pub instance_id: String,
    pub state: TaskState,
    /// The vendor's own word.
    pub raw_state: String,
    pub exit_code: Option<i64>,
}

/// What is known about an execution as a whole.
#[derive(Debug, Clone, PartialEq)]
pub struct ExecutionInfo {
    /// An Alibaba periodic (`RepeatMode=Period`) invocation.
    pub periodic: bool,
}

/// A describe-execution answer: the execution (`None` when the vendor does not know it) and
/// the RequestId.
pub type ExecutionAnswer = (Option<ExecutionInfo>, Option<String>);

/// One page of an execution's tasks.
#[derive(Debug, Clone, Default)]
pub struct TaskPage {
    pub tasks: Vec<ObservedTask>,
    /// The token of the next page, when there is one.
    pub next: Option<String>,
    pub request_id: Option<String>,
}

/// The action names and limits of the command half.
#[derive(Debug, Clone, Copy)]
pub struct CommandActions {
    /// Alibaba `StopInvocation`, Tencent `CancelInvocation`.
    pub stop: &'static str,
    /// `DescribeInvocations` on both.
    pub describe_execution: &'static str,
    /// Alibaba `DescribeInvocationResults`, Tencent `DescribeInvocationTasks`.
    pub describe_tasks: &'static str,
    /// Instances per stop call (Alibaba 50, Tencent 100).
    pub stop_batch: usize,
    /// Omitting the instances documentedly stops the whole execution (Alibaba; for Tencent the
    /// documentation is silent, so stopgate always names them).
    pub stop_all_documented: bool,
    /// A well-formed instance id that cannot exist, for asking the vendor about an execution
    /// without stopping anything.
    pub probe_instance: &'static str,
}

/// One cloud vendor.
pub trait Adapter: Send + Sync {
    fn provider(&self) -> Provider;
    fn capabilities(&self) -> Capabilities;
    fn actions(&self) -> Actions;
    /// The published requests per second of an action, or `None` when the vendor publishes
    /// none (then the gateway's configured default applies).
    fn published_rate(&self, action: &str) -> Option<f64>;
    /// Whether `id` is well formed for this vendor.
    fn valid_instance_id(&self, id: &str) -> bool;
    /// What a well-formed id looks like, for error messages.
    fn instance_id_example(&self) -> &'static str;
    /// Whether `region` is well formed for this vendor.
    fn valid_region(&self, region: &str) -> bool;
    /// The vendor's public regions known to stopgate (extended by configuration).
    fn known_regions(&self) -> &'static [&'static str];
    /// Whether `id` may be a target of a command (instance ids, plus managed or lightweight
    /// instances where the vendor's command service accepts them).
    fn valid_command_target(&self, id: &str) -> bool;
    /// Reads the state of up to `describe_batch` instances.
    fn describe<'a>(
        &'a self,
        scope: Scope<'a>,
        ids: &'a [String],
    ) -> BoxFuture<'a, Result<Described, StopError>>;
    /// Stops up to `stop_batch` instances in one call.
    fn stop<'a>(
        &'a self,
        scope: Scope<'a>,
        call: &'a StopCall<'a>,
    ) -> BoxFuture<'a, Result<StopAnswer, StopError>>;

    // === selectors ===

    /// The most tags one tag-filtered read can ask for, and their longest keys and values.
    fn tag_limits(&self) -> TagLimits;
    /// Reads one page (`page`: the previous page's `next`) of the instances in the scope's
    /// region that the vendor's tag filters match for `tags` (rate-limited as `describe`).
    fn select<'a>(
        &'a self,
        scope: Scope<'a>,
        tags: &'a [TagMatch],
        page: Option<&'a str>,
    ) -> BoxFuture<'a, Result<SelectedPage, StopError>>;
    /// The regions the vendor offers the account (`DescribeRegions`), asked in the scope's
    /// region.
    fn regions<'a>(&'a self, scope: Scope<'a>) -> BoxFuture<'a, Result<RegionList, StopError>>;

    // === commands ===

    fn command_actions(&self) -> CommandActions;
    /// Whether `id` is a well-formed execution id for this vendor.
    fn valid_execution_id(&self, id: &str) -> bool;
    /// What a well-formed execution id looks like, for error messages.
    fn execution_id_example(&self) -> &'static str;
    /// Reads an execution; `None` when the vendor does not know it.
    fn describe_execution<'a>(
        &'a self,
        scope: Scope<'a>,
        id: &'a str,
    ) -> BoxFuture<'a, Result<ExecutionAnswer, StopError>>;
    /// Reads one page of an execution's per-instance tasks.
    fn describe_tasks<'a>(
        &'a self,
        scope: Scope<'a>,
        id: &'a str,
        page: Option<&'a str>,
    ) -> BoxFuture<'a, Result<TaskPage, StopError>>;
    /// Stops the execution on up to `stop_batch` instances (all of them when `instances` is
    /// empty, only where `stop_all_documented`). Returns the vendor's RequestId.
    fn stop_execution<'a>(
        &'a self,
        scope: Scope<'a>,
        id: &'a str,
        instances: &'a [String],
    ) -> BoxFuture<'a, Result<Option<String>, StopError>>;
}
