//! Protobuf ↔ model conversions.

use std::time::Duration;

use super::pb;
use super::status::to_rpc_status;
use crate::engine::ledger::{Event, Summary};
use crate::engine::request::{StopCommandRequest, StopInstancesRequest};
use crate::engine::selector::SelectorRequest;
use crate::engine::stop_command::{TaskProgress, TaskResult};
use crate::engine::stop_instances::{InstanceProgress, InstanceResult};
use crate::model::{
    Billing, CommandOutcome, DryRunAction, InstanceOutcome, InstanceState, Provider, StopMode,
    TaskState,
};
use crate::provider::TagMatch;

pub fn provider(value: i32) -> Option<Provider> {
    match pb::Provider::try_from(value).ok()? {
        pb::Provider::Alibaba => Some(Provider::Alibaba),
        pb::Provider::Tencent => Some(Provider::Tencent),
        pb::Provider::Unspecified => None,
    }
}

/// A proto duration, or `Err` with why it is not usable.
pub fn duration(value: Option<&prost_types::Duration>) -> Result<Option<Duration>, String> {
    match value {
        None => Ok(None),
        Some(d) if d.seconds < 0 || d.nanos < 0 => Err("must not be negative".to_string()),
        // google.protobuf.Duration keeps nanos below one second; more is a malformed value.
        Some(d) if d.nanos >= 1_000_000_000 => Err(format!(
            "nanos = {} is out of range: write whole seconds in `seconds` and keep nanos within 0..=999999999",
            d.nanos
        )),
        Some(d) => Ok(Some(Duration::new(d.seconds as u64, d.nanos as u32))),
    }
}

fn proto_duration(d: Duration) -> prost_types::Duration {
    prost_types::Duration {
        seconds: d.as_secs() as i64,
        nanos: d.subsec_nanos() as i32,
    }
}

fn now() -> prost_types::Timestamp {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    prost_types::Timestamp {
        seconds: now.as_secs() as i64,
        nanos: now.subsec_nanos() as i32,
    }
}

/// Converts a StopInstances request; unusable enum values and durations are field violations.
pub fn stop_request(
    req: pb::StopInstancesRequest,
) -> Result<StopInstancesRequest, Vec<(String, String)>> {
    let mut problems = Vec::new();
    let mode = match pb::StopMode::try_from(req.mode) {
        Ok(pb::StopMode::Unspecified | pb::StopMode::Graceful) => StopMode::Graceful,
        Ok(pb::StopMode::Force) => StopMode::Force,
        Ok(pb::StopMode::GracefulThenForce) => StopMode::GracefulThenForce,
        Err(_) => {
            problems.push(("mode".into(), format!("unknown value {}", req.mode)));
            StopMode::Graceful
        }
    };
    let billing = match pb::Billing::try_from(req.billing) {
        Ok(pb::Billing::Unspecified | pb::Billing::ProviderDefault) => Billing::ProviderDefault,
        Ok(pb::Billing::KeepCharging) => Billing::KeepCharging,
        Ok(pb::Billing::StopCharging) => Billing::StopCharging,
        Ok(pb::Billing::Unknown) | Err(_) => {
            problems.push((
                "billing".into(),
                "use BILLING_PROVIDER_DEFAULT, BILLING_KEEP_CHARGING or BILLING_STOP_CHARGING"
                    .into(),
            ));
            Billing::ProviderDefault
        }
    };
    if req.provider != 0 && provider(req.provider).is_none() {
        problems.push(("provider".into(), format!("unknown value {}", req.provider)));
    }
    let wait = wait(req.wait.as_ref(), &mut problems);
    let graceful_timeout = duration(req.graceful_timeout.as_ref()).unwrap_or_else(|e| {
        problems.push(("graceful_timeout".into(), e));
        None
    });
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(StopInstancesRequest {
        provider: provider(req.provider),
        region: req.region,
        account: req.account,
        instance_ids: req.instance_ids,
        mode,
        billing,
        dry_run: req.dry_run,
        all_or_nothing: req.all_or_nothing,
        confirm_local_disk: req.confirm_local_disk_data_loss,
        wait,
        graceful_timeout,
        selector: req.selector.map(|s| SelectorRequest {
            tags: s
                .tags
                .into_iter()
                .map(|t| TagMatch {
                    key: t.key,
                    value: t.value,
                })
                .collect(),
            regions: s.regions,
            all_regions: s.all_regions,
            expect_at_most: s.expect_at_most,
        }),
    })
}

pub fn instance_state(state: InstanceState) -> pb::InstanceState {
    match state {
        InstanceState::Pending => pb::InstanceState::Pending,
        InstanceState::Starting => pb::InstanceState::Starting,
        InstanceState::Running => pb::InstanceState::Running,
        InstanceState::Stopping => pb::InstanceState::Stopping,
        InstanceState::Stopped => pb::InstanceState::Stopped,
        InstanceState::Rebooting => pb::InstanceState::Rebooting,
        InstanceState::Terminating => pb::InstanceState::Terminating,
        InstanceState::Terminated => pb::InstanceState::Terminated,
        InstanceState::LaunchFailed => pb::InstanceState::LaunchFailed,
        InstanceState::Maintenance => pb::InstanceState::Maintenance,
        InstanceState::Unknown => pb::InstanceState::Unknown,
    }
}

fn billing(value: Option<Billing>) -> pb::Billing {
    match value {
        None => pb::Billing::Unspecified,
        Some(Billing::ProviderDefault) => pb::Billing::ProviderDefault,
        Some(Billing::KeepCharging) => pb::Billing::KeepCharging,
        Some(Billing::StopCharging) => pb::Billing::StopCharging,
        Some(Billing::Unknown) => pb::Billing::Unknown,
    }
}

fn outcome(value: InstanceOutcome) -> pb::InstanceOutcome {
    match value {
        InstanceOutcome::StopAccepted => pb::InstanceOutcome::StopAccepted,
        InstanceOutcome::Stopped => pb::InstanceOutcome::Stopped,
        InstanceOutcome::AlreadyStopped => pb::InstanceOutcome::AlreadyStopped,
        InstanceOutcome::DryRunPassed => pb::InstanceOutcome::DryRunPassed,
        InstanceOutcome::Failed => pb::InstanceOutcome::Failed,
    }
}

pub fn summary(s: Summary) -> pb::Summary {
    pb::Summary {
        requested: s.requested,
        unique: s.unique,
        outcome_counts: s.outcome_counts.into_iter().collect(),
        vendor_calls: s.vendor_calls,
        retries: s.retries,
        throttled: s.throttled,
        elapsed: Some(proto_duration(s.elapsed)),
        notes: s.notes,
        vendor_request_ids: s.vendor_request_ids,
        regions: s
            .regions
            .into_iter()
            .map(|r| pb::RegionSummary {
                region: r.region,
                matched: r.matched,
                error: r.error.as_ref().map(to_rpc_status),
            })
            .collect(),
    }
}

fn split(state: Option<(InstanceState, String)>) -> (i32, String) {
    match state {
        Some((s, raw)) => (instance_state(s) as i32, raw),
        None => (pb::InstanceState::Unspecified as i32, String::new()),
    }
}

/// One stream message, or the RPC's status when the request failed as a whole.
pub fn instance_event(
    event: Event<InstanceProgress, InstanceResult>,
) -> Result<pb::StopInstancesResponse, tonic::Status> {
    use pb::stop_instances_response::Event as E;
    let event = match event {
        Event::Progress(p) => E::Progress(pb::InstanceProgress {
            instance_id: p.instance_id,
            state: instance_state(p.state) as i32,
            vendor_state: p.raw_state,
            observed_at: Some(now()),
            message: p.message,
            region: p.region,
        }),
        Event::Result(r) => {
            let (previous_state, vendor_previous_state) = split(r.previous);
            let (current_state, vendor_state) = split(r.current);
            E::Result(pb::InstanceResult {
                instance_id: r.instance_id,
                outcome: outcome(r.outcome) as i32,
                previous_state,
                current_state,
                vendor_previous_state,
                vendor_state,
                vendor_request_id: r.vendor_request_id.unwrap_or_default(),
                billing_effective: billing(r.billing) as i32,
                error: r.error.as_ref().map(to_rpc_status),
                forced: r.forced,
                region: r.region.unwrap_or_default(),
            })
        }
        Event::Summary(s) => E::Summary(summary(s)),
        Event::Failed(e) => return Err(super::status::rpc_error(&e)),
    };
    Ok(pb::StopInstancesResponse { event: Some(event) })
}

/// The wait options shared by both requests.
fn wait(
    wait: Option<&pb::WaitOptions>,
    problems: &mut Vec<(String, String)>,
) -> Option<Option<Duration>> {
    match wait.filter(|w| w.until_terminal) {
        None => {
            if wait.is_some_and(|w| w.timeout.is_some()) {
                problems.push((
                    "wait.timeout".into(),
                    "set wait.until_terminal to wait".into(),
                ));
            }
            None
        }
        Some(w) => match duration(w.timeout.as_ref()) {
            Ok(d) => Some(d),
            Err(e) => {
                problems.push(("wait.timeout".into(), e));
                None
            }
        },
    }
}

/// Converts a StopCommandExecution request.
pub fn command_request(
    req: pb::StopCommandExecutionRequest,
) -> Result<StopCommandRequest, Vec<(String, String)>> {
    let mut problems = Vec::new();
    if req.provider != 0 && provider(req.provider).is_none() {
        problems.push(("provider".into(), format!("unknown value {}", req.provider)));
    }
    let wait = wait(req.wait.as_ref(), &mut problems);
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(StopCommandRequest {
        provider: provider(req.provider),
        region: req.region,
        account: req.account,
        execution_id: req.execution_id,
        instance_ids: req.instance_ids,
        dry_run: req.dry_run,
        wait,
    })
}

pub fn task_state(state: TaskState) -> pb::TaskState {
    match state {
        TaskState::Pending => pb::TaskState::Pending,
        TaskState::Delivering => pb::TaskState::Delivering,
        TaskState::Running => pb::TaskState::Running,
        TaskState::Stopping => pb::TaskState::Stopping,
        TaskState::Cancelled => pb::TaskState::Cancelled,
        TaskState::Terminated => pb::TaskState::Terminated,
        TaskState::Succeeded => pb::TaskState::Succeeded,
        TaskState::Failed => pb::TaskState::Failed,
        TaskState::TimedOut => pb::TaskState::TimedOut,
        TaskState::Unknown => pb::TaskState::Unknown,
    }
}

fn command_outcome(value: CommandOutcome) -> pb::CommandOutcome {
    match value {
        CommandOutcome::Cancelled => pb::CommandOutcome::Cancelled,
        CommandOutcome::Terminated => pb::CommandOutcome::Terminated,
        CommandOutcome::StopRequested => pb::CommandOutcome::StopRequested,
        CommandOutcome::AlreadyFinished => pb::CommandOutcome::AlreadyFinished,
        CommandOutcome::DryRunPassed => pb::CommandOutcome::DryRunPassed,
        CommandOutcome::Failed => pb::CommandOutcome::Failed,
    }
}

fn dry_run_action(value: Option<DryRunAction>) -> pb::DryRunAction {
    match value {
        None => pb::DryRunAction::Unspecified,
        Some(DryRunAction::WouldCancel) => pb::DryRunAction::WouldCancel,
        Some(DryRunAction::WouldTerminate) => pb::DryRunAction::WouldTerminate,
        Some(DryRunAction::NothingToStop) => pb::DryRunAction::NothingToStop,
    }
}

fn split_task(state: Option<(TaskState, String)>) -> (i32, String) {
    match state {
        Some((s, raw)) => (task_state(s) as i32, raw),
        None => (pb::TaskState::Unspecified as i32, String::new()),
    }
}

/// One command stream message, or the RPC's status when the request failed as a whole.
pub fn command_event(
    event: Event<TaskProgress, TaskResult>,
) -> Result<pb::StopCommandExecutionResponse, tonic::Status> {
    use pb::stop_command_execution_response::Event as E;
    let event = match event {
        Event::Progress(p) => E::Progress(pb::TaskProgress {
            instance_id: p.instance_id,
            state: task_state(p.state) as i32,
            vendor_state: p.raw_state,
            observed_at: Some(now()),
        }),
        Event::Result(r) => {
            let (previous_state, vendor_previous_state) = split_task(r.previous);
            let (current_state, vendor_state) = split_task(r.current);
            E::Result(pb::TaskResult {
                instance_id: r.instance_id,
                outcome: command_outcome(r.outcome) as i32,
                previous_state,
                current_state,
                vendor_previous_state,
                vendor_state,
                vendor_request_id: r.vendor_request_id.unwrap_or_default(),
                error: r.error.as_ref().map(to_rpc_status),
                exit_code: r.exit_code,
                dry_run_action: dry_run_action(r.dry_run_action) as i32,
            })
        }
        Event::Summary(s) => E::Summary(summary(s)),
        Event::Failed(e) => return Err(super::status::rpc_error(&e)),
    };
    Ok(pb::StopCommandExecutionResponse { event: Some(event) })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(seconds: i64, nanos: i32) -> prost_types::Duration {
        prost_types::Duration { seconds, nanos }
    }

    #[test]
    fn a_duration_outside_the_protobuf_ranges_is_refused() {
        assert_eq!(
            duration(Some(&d(90, 500_000_000))),
            Ok(Some(Duration::from_millis(90_500)))
        );
        assert!(
            duration(Some(&d(1, 1_000_000_000)))
                .unwrap_err()
                .contains("nanos")
        );
        assert!(duration(Some(&d(0, i32::MAX))).is_err());
        assert!(duration(Some(&d(0, -1))).is_err());
        assert!(duration(Some(&d(-1, 0))).is_err());
    }
}
