//! A simulated VM instance: its vendor-neutral phase, the attributes that change how a stop
//! behaves, and the timed steps that move it (Stopping → Stopped after a delay, and so on).

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use serde::Serialize;
use time::OffsetDateTime;

use super::timings::{Timings, wall_clock_at};
use stopgate_vendor::Provider;

/// Every instance state either vendor reports (Alibaba uses the first five).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Phase {
    Pending,
    Running,
    Starting,
    Stopping,
    Stopped,
    LaunchFailed,
    Rebooting,
    Shutdown,
    Terminating,
    EnterRescueMode,
    RescueMode,
    ExitRescueMode,
    EnterServiceLiveMigrate,
    ServiceLiveMigrate,
    ExitServiceLiveMigrate,
}

const TENCENT_NAMES: [(Phase, &str); 15] = [
    (Phase::Pending, "PENDING"),
    (Phase::Running, "RUNNING"),
    (Phase::Starting, "STARTING"),
    (Phase::Stopping, "STOPPING"),
    (Phase::Stopped, "STOPPED"),
    (Phase::LaunchFailed, "LAUNCH_FAILED"),
    (Phase::Rebooting, "REBOOTING"),
    (Phase::Shutdown, "SHUTDOWN"),
    (Phase::Terminating, "TERMINATING"),
    (Phase::EnterRescueMode, "ENTER_RESCUE_MODE"),
    (Phase::RescueMode, "RESCUE_MODE"),
    (Phase::ExitRescueMode, "EXIT_RESCUE_MODE"),
    (Phase::EnterServiceLiveMigrate, "ENTER_SERVICE_LIVE_MIGRATE"),
    (Phase::ServiceLiveMigrate, "SERVICE_LIVE_MIGRATE"),
    (Phase::ExitServiceLiveMigrate, "EXIT_SERVICE_LIVE_MIGRATE"),
];

const ALIBABA_NAMES: [(Phase, &str); 5] = [
    (Phase::Pending, "Pending"),
    (Phase::Running, "Running"),
    (Phase::Starting, "Starting"),
    (Phase::Stopping, "Stopping"),
    (Phase::Stopped, "Stopped"),
];

impl Phase {
    /// The vendor's own word for this phase.
    pub fn vendor_name(self, provider: Provider) -> &'static str {
        let table: &[(Phase, &str)] = match provider {
            Provider::Alibaba => &ALIBABA_NAMES,
            Provider::Tencent => &TENCENT_NAMES,
        };
        table
            .iter()
            .find(|(p, _)| *p == self)
            .map(|(_, n)| *n)
            .unwrap_or("Running")
    }

    /// Parses a vendor's state word (docs/vendors/alibaba.md, §2.4, docs/vendors/tencent.md, §2.4).
    pub fn from_vendor(provider: Provider, raw: &str) -> Option<Phase> {
        let table: &[(Phase, &str)] = match provider {
            Provider::Alibaba => &ALIBABA_NAMES,
            Provider::Tencent => &TENCENT_NAMES,
        };
        table
            .iter()
            .find(|(_, n)| n.eq_ignore_ascii_case(raw))
            .map(|(p, _)| *p)
    }
}

/// Billing after a stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum StoppedMode {
    KeepCharging,
    StopCharging,
}

impl StoppedMode {
    /// Alibaba `KeepCharging`/`StopCharging`, Tencent `KEEP_CHARGING`/`STOP_CHARGING`.
    pub fn vendor_name(self, provider: Provider) -> &'static str {
        match (provider, self) {
            (Provider::Alibaba, StoppedMode::KeepCharging) => "KeepCharging",
            (Provider::Alibaba, StoppedMode::StopCharging) => "StopCharging",
            (Provider::Tencent, StoppedMode::KeepCharging) => "KEEP_CHARGING",
            (Provider::Tencent, StoppedMode::StopCharging) => "STOP_CHARGING",
        }
    }
}

/// How the guest is asked to shut down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopKind {
    /// ACPI shutdown (Alibaba `ForceStop=false`, Tencent `SOFT`).
    Graceful,
    /// Power off (Alibaba `ForceStop=true`, Tencent `HARD`).
    Force,
    /// Soft, then hard if the soft shutdown fails (Tencent `SOFT_FIRST`).
    GracefulThenForce,
}

/// Tencent's `LatestOperationState`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum OperationState {
    Operating,
    Success,
    Failed,
}

impl OperationState {
    pub fn vendor_name(self) -> &'static str {
        match self {
            OperationState::Operating => "OPERATING",
            OperationState::Success => "SUCCESS",
            OperationState::Failed => "FAILED",
        }
    }
}

/// Tencent's `LatestOperation*` bookkeeping (docs/vendors/tencent.md, §2.1).
#[derive(Debug, Clone, Serialize)]
pub struct LatestOperation {
    /// The action, e.g. `StopInstances`.
    pub name: String,
    pub state: OperationState,
    /// The RequestId of the call that started it.
    pub request_id: String,
    /// Why it failed, when it did.
    pub error: Option<String>,
}

#[derive(Debug, Clone)]
struct Step {
    at: Instant,
    phase: Phase,
    outcome: Option<(OperationState, Option<String>)>,
}

/// One simulated instance.
#[derive(Debug, Clone, Serialize)]
pub struct Instance {
    pub id: String,
    pub name: String,
    pub zone: String,
    pub instance_type: String,
    /// Vendor raw charge type (`PostPaid`/`PrePaid`, `POSTPAID_BY_HOUR`/`PREPAID`).
    pub charge_type: String,
    /// Local (instance-store) disks: data is lost on stop, stop-charging does not apply.
    pub local_disk: bool,
    /// `vpc` or `classic`; classic cannot stop charging.
    pub network: String,
    /// Alibaba `security`/`financial`; Tencent `banning`/`freezing`/`isolating`/`corrupted`.
    pub lock: Option<String>,
    /// The guest ignores an ACPI shutdown: graceful stops time out.
    pub ignores_shutdown: bool,
    /// Whether an agent is online for remote commands.
    pub agent_online: bool,
    pub phase: Phase,
    /// Billing mode that took effect on the last stop; `None` while running.
    pub stopped_mode: Option<StoppedMode>,
    pub latest_operation: Option<LatestOperation>,
    /// The instance's tags, key → value (a key carries one value; the value may be empty).
    pub tags: BTreeMap<String, String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(skip)]
    steps: VecDeque<Step>,
}

impl Instance {
    /// A new running instance with default attributes.
    pub fn new(id: String, provider: Provider, region: &str) -> Self {
        let (instance_type, charge_type, zone) = match provider {
            Provider::Alibaba => ("ecs.g7.large", "PostPaid", format!("{region}-h")),
            Provider::Tencent => ("S5.MEDIUM4", "POSTPAID_BY_HOUR", format!("{region}-3")),
        };
        Instance {
            name: format!("sim-{id}"),
            id,
            zone,
            instance_type: instance_type.to_string(),
            charge_type: charge_type.to_string(),
            local_disk: false,
            network: "vpc".to_string(),
            lock: None,
            ignores_shutdown: false,
            agent_online: true,
            phase: Phase::Running,
            stopped_mode: None,
            latest_operation: None,
            tags: BTreeMap::new(),
            created_at: OffsetDateTime::now_utc(),
            steps: VecDeque::new(),
        }
    }

    /// Applies every step that is due at `now`.
    pub fn advance(&mut self, now: Instant) {
        while self.steps.front().is_some_and(|s| s.at <= now) {
            let step = self.steps.pop_front().expect("checked");
            self.phase = step.phase;
            if step.phase == Phase::Running {
                self.stopped_mode = None;
            }
            if let (Some((state, error)), Some(op)) = (step.outcome, self.latest_operation.as_mut())
            {
                op.state = state;
                op.error = error;
            }
        }
    }

    /// Whether this instance can stop charging when stopped (docs/vendors/alibaba.md, §2.1 `StoppedMode`,
    /// docs/vendors/tencent.md, §6.3): not with local disks, prepaid billing or the classic network.
    pub fn supports_stop_charging(&self) -> bool {
        let prepaid = matches!(self.charge_type.as_str(), "PrePaid" | "PREPAID");
        !self.local_disk && !prepaid && self.network != "classic"
    }

    /// Starts a stop; `requested` billing silently falls back to keep-charging when unsupported.
    pub fn begin_stop(
        &mut self,
        kind: StopKind,
        requested: Option<StoppedMode>,
        timings: &Timings,
        now: Instant,
        operation: Option<(&str, &str)>,
    ) {
        let mode = match requested {
            Some(StoppedMode::StopCharging) if self.supports_stop_charging() => {
                StoppedMode::StopCharging
            }
            _ => StoppedMode::KeepCharging,
        };
        self.phase = Phase::Stopping;
        self.stopped_mode = Some(mode);
        self.steps.clear();
        let ms = Duration::from_millis;
        let stopped = Some((OperationState::Success, None));
        match (kind, self.ignores_shutdown) {
            (StopKind::Force, _) => {
                self.push(now + ms(timings.force_stop_ms), Phase::Stopped, stopped)
            }
            (StopKind::Graceful | StopKind::GracefulThenForce, false) => {
                self.push(now + ms(timings.stop_ms), Phase::Stopped, stopped)
            }
            (StopKind::Graceful, true) => self.push(
                now + ms(timings.graceful_timeout_ms),
                Phase::Running,
                Some((
                    OperationState::Failed,
                    Some("soft shutdown timed out: the guest OS did not respond".to_string()),
                )),
            ),
            (StopKind::GracefulThenForce, true) => self.push(
                now + ms(timings.graceful_timeout_ms + timings.force_stop_ms),
                Phase::Stopped,
                stopped,
            ),
        }
        self.set_operation(operation);
    }

    /// Starts a start: Stopped → Starting → Running.
    pub fn begin_start(
        &mut self,
        timings: &Timings,
        now: Instant,
        operation: Option<(&str, &str)>,
    ) {
        self.phase = Phase::Starting;
        self.steps.clear();
        let done = Some((OperationState::Success, None));
        self.push(
            now + Duration::from_millis(timings.start_ms),
            Phase::Running,
            done,
        );
        self.set_operation(operation);
    }

    fn set_operation(&mut self, operation: Option<(&str, &str)>) {
        if let Some((name, request_id)) = operation {
            self.latest_operation = Some(LatestOperation {
                name: name.to_string(),
                state: OperationState::Operating,
                request_id: request_id.to_string(),
                error: None,
            });
        }
    }

    fn push(
        &mut self,
        at: Instant,
        phase: Phase,
        outcome: Option<(OperationState, Option<String>)>,
    ) {
        self.steps.push_back(Step { at, phase, outcome });
    }

    /// Seeds a transitional phase so that it completes like a real one would.
    pub fn settle_seeded_phase(&mut self, timings: &Timings, now: Instant) {
        let ms = Duration::from_millis;
        let target = match self.phase {
            Phase::Stopping => Some((timings.stop_ms, Phase::Stopped)),
            Phase::Starting | Phase::Pending | Phase::Rebooting => {
                Some((timings.start_ms, Phase::Running))
            }
            _ => None,
        };
        if let Some((delay, phase)) = target {
            if phase == Phase::Stopped {
                self.stopped_mode = Some(StoppedMode::KeepCharging);
            }
            self.push(now + ms(delay), phase, None);
        } else if self.phase == Phase::Stopped {
            self.stopped_mode = Some(StoppedMode::KeepCharging);
        }
    }

    /// The wall-clock time at which the instance will next change, if it will.
    pub fn next_change(&self, now: Instant) -> Option<OffsetDateTime> {
        self.steps.front().map(|s| wall_clock_at(s.at, now))
    }
}
