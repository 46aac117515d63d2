//! A scripted vendor for the engine's unit tests: instances and tasks with simple state
//! machines, and faults that strike before or after the action, in the order scripted.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::model::{
    CodeClass, ErrorKind, ErrorScope, InstanceState, Provider, RetryClass, StopError, StopMode,
    TaskState,
};
use crate::provider::classes;
use crate::provider::select::carries_all;
use crate::provider::{
    Actions, Adapter, BoxFuture, Capabilities, CommandActions, Described, ExecutionAnswer,
    ExecutionInfo, Observed, ObservedTask, RegionList, Scope, Selected, SelectedPage, StopAnswer,
    StopCall, TagMatch, TaskPage,
};

pub const STOP: &str = "StopInstances";
pub const DESCRIBE: &str = "DescribeInstances";
pub const CANCEL: &str = "CancelInvocation";
pub const TASKS: &str = "DescribeInvocationTasks";
pub const EXECUTION: &str = "DescribeInvocations";
/// A tag-filtered read (paced as DescribeInstances).
pub const SELECT: &str = "DescribeInstances(tags)";
pub const REGIONS: &str = "DescribeRegions";
/// Instances per page of a tag-filtered read: small, so that tests page.
pub const SELECT_PAGE: usize = 3;

/// When a fault strikes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Before,
    After,
}

struct Fault {
    action: &'static str,
    phase: Phase,
    error: StopError,
    /// Calls of the action let through before the fault starts striking.
    skip: u32,
    times: u32,
}

#[derive(Default)]
struct World {
    instances: HashMap<String, InstanceState>,
    /// Instances whose guest ignores a graceful shutdown (back to running after stopping).
    ignores_shutdown: Vec<String>,
    /// Stopping instances that will be running again at the next read.
    failing_graceful: Vec<String>,
    /// Instances every stop refuses with this (instance-scoped) error.
    refused: HashMap<String, StopError>,
    tasks: Vec<(String, TaskState)>,
    faults: Vec<Fault>,
    /// How long each call takes to answer.
    latency: std::time::Duration,
    /// (action, ids) of every call received (a tag-filtered read: its region).
    calls: Vec<(&'static str, Vec<String>)>,
    /// Region and tags of instances placed with [`Fake::tagged`].
    placed: HashMap<String, (String, Vec<(String, String)>)>,
    /// Regions whose tag-filtered reads fail with this error.
    failing_regions: HashMap<String, StopError>,
    /// What DescribeRegions lists.
    regions: Vec<String>,
}

/// The scripted vendor.
pub struct Fake {
    /// Alibaba-like (`SuccessFirst` answers per instance) or Tencent-like (one code per call).
    per_instance: bool,
    world: Mutex<World>,
}

/// A vendor error of `class` with `code`.
pub fn vendor_error(class: CodeClass, code: &str) -> StopError {
    StopError::vendor(
        Provider::Tencent,
        class,
        code,
        "scripted",
        Some("req-1".into()),
        Some(200),
    )
}

/// A bare 503: the call may or may not have been applied.
pub fn unavailable() -> StopError {
    vendor_error(classes::VENDOR_UNAVAILABLE, "HTTP_5XX")
}

/// Expired credentials: permanent.
pub fn auth_failed() -> StopError {
    vendor_error(classes::AUTH_FAILED, "AuthFailure.SecretIdNotFound")
}

/// An instance busy with another operation: temporary, about one instance.
pub fn in_progress() -> StopError {
    vendor_error(
        CodeClass::new(
            ErrorKind::Aborted,
            RetryClass::Temporary,
            ErrorScope::Instance,
            "OPERATION_IN_PROGRESS",
        ),
        "OperationDenied.InstanceOperationInProgress",
    )
}

impl Fake {
    pub fn new(per_instance: bool) -> Fake {
        Fake {
            per_instance,
            world: Mutex::new(World::default()),
        }
    }

    fn world(&self) -> std::sync::MutexGuard<'_, World> {
        self.world.lock().unwrap()
    }

    /// Adds running instances.
    pub fn running(&self, ids: &[String]) {
        let mut w = self.world();
        for id in ids {
            w.instances.insert(id.clone(), InstanceState::Running);
        }
    }

    /// Puts an instance in `state` (as if an earlier stop had reached it).
    pub fn set(&self, id: &str, state: InstanceState) {
        self.world().instances.insert(id.to_string(), state);
    }

    /// Adds running instances in `region` carrying `tags`.
    pub fn tagged(&self, ids: &[String], region: &str, tags: &[(&str, &str)]) {
        let mut w = self.world();
        let tags: Vec<(String, String)> = tags
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        for id in ids {
            w.instances.insert(id.clone(), InstanceState::Running);
            w.placed
                .insert(id.clone(), (region.to_string(), tags.clone()));
        }
    }

    /// Every tag-filtered read of `region` fails with `error`.
    pub fn fail_region(&self, region: &str, error: StopError) {
        self.world()
            .failing_regions
            .insert(region.to_string(), error);
    }

    /// The regions DescribeRegions lists.
    pub fn list_regions(&self, regions: &[&str]) {
        self.world().regions = regions.iter().map(|r| r.to_string()).collect();
    }

    /// The ids of every call of `action`, in order.
    pub fn calls_of(&self, action: &str) -> Vec<Vec<String>> {
        self.world()
            .calls
            .iter()
            .filter(|(a, _)| *a == action)
            .map(|(_, ids)| ids.clone())
            .collect()
    }

    pub fn ignores_shutdown(&self, id: &str) {
        self.world().ignores_shutdown.push(id.to_string());
    }

    pub fn refuse(&self, id: &str, error: StopError) {
        self.world().refused.insert(id.to_string(), error);
    }

    pub fn task(&self, id: &str, state: TaskState) {
        self.world().tasks.push((id.to_string(), state));
    }

    pub fn state(&self, id: &str) -> Option<InstanceState> {
        self.world().instances.get(id).copied()
    }

    /// Every call takes `latency` to answer.
    pub fn slow(&self, latency: std::time::Duration) {
        self.world().latency = latency;
    }

    /// The next `times` calls of `action` fail with `error` in `phase`.
    pub fn fault(&self, action: &'static str, phase: Phase, error: StopError, times: u32) {
        self.fault_after(action, 0, phase, error, times);
    }

    /// Like [`Fake::fault`], once `skip` calls of `action` went through.
    pub fn fault_after(
        &self,
        action: &'static str,
        skip: u32,
        phase: Phase,
        error: StopError,
        times: u32,
    ) {
        self.world().faults.push(Fault {
            action,
            phase,
            error,
            skip,
            times,
        });
    }

    /// How many calls of `action` were received.
    pub fn calls(&self, action: &str) -> usize {
        self.world()
            .calls
            .iter()
            .filter(|(a, _)| *a == action)
            .count()
    }

    /// Logs the call and returns the fault that strikes it, if any.
    fn strike(&self, action: &'static str, ids: &[String]) -> Option<(Phase, StopError)> {
        let mut w = self.world();
        w.calls.push((action, ids.to_vec()));
        let mut strike = None;
        for f in w
            .faults
            .iter_mut()
            .filter(|f| f.action == action && f.times > 0)
        {
            if f.skip > 0 {
                f.skip -= 1;
            } else if strike.is_none() {
                f.times -= 1;
                strike = Some((f.phase, f.error.clone()));
            }
        }
        strike
    }

    fn stop_now(&self, call: &StopCall<'_>) -> Result<StopAnswer, Box<StopError>> {
        let mut w = self.world();
        if call.dry_run {
            // The vendor's dry run (Alibaba's): checks the states, changes nothing.
            let refused = call
                .ids
                .iter()
                .any(|id| w.instances.get(id) != Some(&InstanceState::Running));
            if refused {
                return Err(Box::new(vendor_error(
                    classes::INSTANCE_STATE,
                    "IncorrectInstanceStatus",
                )));
            }
            return Ok(StopAnswer::DryRunPassed {
                request_id: Some("req-dry-run".into()),
            });
        }
        let mut results = Vec::new();
        for id in call.ids {
            let outcome = if let Some(e) = w.refused.get(id) {
                Err(e.clone())
            } else {
                match w.instances.get(id).copied() {
                    Some(InstanceState::Running) => {
                        let graceful = call.mode == StopMode::Graceful;
                        if graceful && w.ignores_shutdown.contains(id) {
                            w.failing_graceful.push(id.clone());
                        }
                        w.instances.insert(id.clone(), InstanceState::Stopping);
                        Ok(())
                    }
                    _ => Err(vendor_error(
                        classes::INSTANCE_STATE,
                        "IncorrectInstanceStatus",
                    )),
                }
            };
            results.push((id.clone(), outcome));
        }
        if self.per_instance {
            return Ok(StopAnswer::PerInstance {
                results,
                request_id: Some("req-stop".into()),
            });
        }
        // One code for the whole call, as Tencent answers: nothing changes if any is refused.
        if let Some((_, Err(e))) = results.iter().find(|(_, r)| r.is_err()) {
            let e = e.clone();
            for (id, r) in &results {
                if r.is_ok() {
                    w.instances.insert(id.clone(), InstanceState::Running);
                    w.failing_graceful.retain(|i| i != id);
                }
            }
            return Err(Box::new(e));
        }
        Ok(StopAnswer::Accepted {
            request_id: Some("req-stop".into()),
        })
    }
}

fn observed(id: &str, state: InstanceState) -> Observed {
    Observed {
        id: id.to_string(),
        state,
        raw_state: format!("{state:?}").to_uppercase(),
        billing: None,
        lock: None,
        can_stop_charging: None,
        stop_failed: None,
        operation_request_id: None,
    }
}

impl Adapter for Fake {
    fn provider(&self) -> Provider {
        Provider::Tencent
    }
    fn capabilities(&self) -> Capabilities {
        Capabilities {
            stop_batch: 4,
            describe_batch: 8,
            native_graceful_then_force: !self.per_instance,
            native_dry_run: self.per_instance,
            per_instance_results: self.per_instance,
            refuses_unsupported_stop_charging: !self.per_instance,
        }
    }
    fn actions(&self) -> Actions {
        Actions {
            stop: STOP,
            describe: DESCRIBE,
            regions: REGIONS,
        }
    }
    fn published_rate(&self, _action: &str) -> Option<f64> {
        Some(1000.0)
    }
    fn valid_instance_id(&self, _id: &str) -> bool {
        true
    }
    fn instance_id_example(&self) -> &'static str {
        "ins-1"
    }
    fn valid_region(&self, _region: &str) -> bool {
        true
    }
    fn known_regions(&self) -> &'static [&'static str] {
        &["r"]
    }
    fn valid_command_target(&self, _id: &str) -> bool {
        true
    }
    fn describe<'a>(
        &'a self,
        _scope: Scope<'a>,
        ids: &'a [String],
    ) -> BoxFuture<'a, Result<Described, StopError>> {
        Box::pin(async move {
            let latency = self.world().latency;
            tokio::time::sleep(latency).await;
            if let Some((_, e)) = self.strike(DESCRIBE, ids) {
                return Err(e);
            }
            let mut w = self.world();
            let instances = ids
                .iter()
                .filter_map(|id| w.instances.get(id).map(|s| observed(id, *s)))
                .collect();
            // Time passes between reads: stops progress by one step.
            let failing = std::mem::take(&mut w.failing_graceful);
            for (id, state) in w.instances.iter_mut() {
                if *state == InstanceState::Stopping && ids.contains(id) {
                    *state = if failing.contains(id) {
                        InstanceState::Running
                    } else {
                        InstanceState::Stopped
                    };
                }
            }
            w.failing_graceful = failing.into_iter().filter(|i| !ids.contains(i)).collect();
            Ok(Described {
                instances,
                request_id: Some("req-read".into()),
            })
        })
    }
    fn stop<'a>(
        &'a self,
        _scope: Scope<'a>,
        call: &'a StopCall<'a>,
    ) -> BoxFuture<'a, Result<StopAnswer, StopError>> {
        Box::pin(async move {
            let latency = self.world().latency;
            tokio::time::sleep(latency).await;
            match self.strike(STOP, call.ids) {
                Some((Phase::Before, e)) => Err(e),
                Some((Phase::After, e)) => {
                    let _ = self.stop_now(call);
                    Err(e)
                }
                None => self.stop_now(call).map_err(|e| *e),
            }
        })
    }
    fn tag_limits(&self) -> crate::provider::TagLimits {
        crate::provider::TagLimits {
            tags: 10,
            key: 127,
            value: 255,
        }
    }
    fn select<'a>(
        &'a self,
        scope: Scope<'a>,
        tags: &'a [TagMatch],
        page: Option<&'a str>,
    ) -> BoxFuture<'a, Result<SelectedPage, StopError>> {
        Box::pin(async move {
            if let Some((_, e)) = self.strike(SELECT, &[scope.region.to_string()]) {
                return Err(e);
            }
            let w = self.world();
            if let Some(e) = w.failing_regions.get(scope.region) {
                return Err(e.clone());
            }
            let mut matching: Vec<Selected> = w
                .placed
                .iter()
                .filter(|(_, (region, have))| region == scope.region && carries_all(have, tags))
                .filter_map(|(id, (_, have))| {
                    let state = w.instances.get(id)?;
                    Some(Selected {
                        observed: observed(id, *state),
                        tags: have.clone(),
                    })
                })
                .collect();
            matching.sort_by(|a, b| a.observed.id.cmp(&b.observed.id));
            let total = matching.len();
            let offset: usize = page.and_then(|p| p.parse().ok()).unwrap_or(0);
            let instances: Vec<Selected> = matching
                .into_iter()
                .skip(offset)
                .take(SELECT_PAGE)
                .collect();
            let read = offset + instances.len();
            Ok(SelectedPage {
                instances,
                total: Some(total as u64),
                next: (read < total).then(|| read.to_string()),
                request_id: Some("req-select".into()),
            })
        })
    }
    fn regions<'a>(&'a self, _scope: Scope<'a>) -> BoxFuture<'a, Result<RegionList, StopError>> {
        Box::pin(async move {
            if let Some((_, e)) = self.strike(REGIONS, &[]) {
                return Err(e);
            }
            Ok(RegionList {
                regions: self.world().regions.clone(),
                request_id: Some("req-regions".into()),
            })
        })
    }
    fn command_actions(&self) -> CommandActions {
        CommandActions {
            stop: CANCEL,
            describe_execution: EXECUTION,
            describe_tasks: TASKS,
            stop_batch: 4,
            stop_all_documented: false,
            probe_instance: "ins-00000000",
        }
    }
    fn valid_execution_id(&self, _id: &str) -> bool {
        true
    }
    fn execution_id_example(&self) -> &'static str {
        "inv-1"
    }
    fn describe_execution<'a>(
        &'a self,
        _scope: Scope<'a>,
        _id: &'a str,
    ) -> BoxFuture<'a, Result<ExecutionAnswer, StopError>> {
        Box::pin(async move {
            if let Some((_, e)) = self.strike(EXECUTION, &[]) {
                return Err(e);
            }
            Ok((Some(ExecutionInfo { periodic: false }), None))
        })
    }
    fn describe_tasks<'a>(
        &'a self,
        _scope: Scope<'a>,
        _id: &'a str,
        _page: Option<&'a str>,
    ) -> BoxFuture<'a, Result<TaskPage, StopError>> {
        Box::pin(async move {
            if let Some((_, e)) = self.strike(TASKS, &[]) {
                return Err(e);
            }
            let mut w = self.world();
            let tasks = w
                .tasks
                .iter()
                .map(|(id, s)| ObservedTask {
                    instance_id: id.clone(),
                    state: *s,
                    raw_state: format!("{s:?}").to_uppercase(),
                    exit_code: None,
                })
                .collect();
            for (_, s) in w.tasks.iter_mut() {
                if *s == TaskState::Stopping {
                    *s = TaskState::Terminated;
                }
            }
            Ok(TaskPage {
                tasks,
                next: None,
                request_id: Some("req-tasks".into()),
            })
        })
    }
    fn stop_execution<'a>(
        &'a self,
        _scope: Scope<'a>,
        _id: &'a str,
        instances: &'a [String],
    ) -> BoxFuture<'a, Result<Option<String>, StopError>> {
        Box::pin(async move {
            let fault = self.strike(CANCEL, instances);
            if let Some((Phase::Before, e)) = fault {
                return Err(e);
            }
            {
                let mut w = self.world();
                for (id, s) in w.tasks.iter_mut() {
                    if instances.contains(id) {
                        *s = match *s {
                            TaskState::Pending | TaskState::Delivering => TaskState::Cancelled,
                            TaskState::Running => TaskState::Stopping,
                            other => other,
                        };
                    }
                }
            }
            match fault {
                Some((_, e)) => Err(e),
                None => Ok(Some("req-cancel".into())),
            }
        })
    }
}
