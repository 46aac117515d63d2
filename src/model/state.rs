//! Normalized states, outcomes and options (docs/design.md "Normalized model").

/// An instance's state on either cloud.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InstanceState {
    Pending,
    Starting,
    Running,
    Stopping,
    Stopped,
    Rebooting,
    Terminating,
    Terminated,
    LaunchFailed,
    /// Rescue mode or live migration.
    Maintenance,
    Unknown,
}

impl InstanceState {
    /// Normalizes Alibaba's `Status` (docs/vendors/alibaba.md, §2.4) and Tencent's `InstanceState`
    /// (docs/vendors/tencent.md, §2.4); anything else is `Unknown`.
    pub fn from_vendor(raw: &str) -> InstanceState {
        match raw.to_ascii_uppercase().as_str() {
            "PENDING" => InstanceState::Pending,
            "STARTING" => InstanceState::Starting,
            "RUNNING" => InstanceState::Running,
            "STOPPING" => InstanceState::Stopping,
            "STOPPED" => InstanceState::Stopped,
            "REBOOTING" => InstanceState::Rebooting,
            "TERMINATING" | "SHUTDOWN" => InstanceState::Terminating,
            "TERMINATED" | "DELETED" => InstanceState::Terminated,
            "LAUNCH_FAILED" => InstanceState::LaunchFailed,
            "ENTER_RESCUE_MODE"
            | "RESCUE_MODE"
            | "EXIT_RESCUE_MODE"
            | "ENTER_SERVICE_LIVE_MIGRATE"
            | "SERVICE_LIVE_MIGRATE"
            | "EXIT_SERVICE_LIVE_MIGRATE" => InstanceState::Maintenance,
            _ => InstanceState::Unknown,
        }
    }
}

/// How the guest is shut down.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StopMode {
    #[default]
    Graceful,
    Force,
    GracefulThenForce,
}

/// Billing while stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Billing {
    #[default]
    ProviderDefault,
    KeepCharging,
    StopCharging,
    /// Result only: not (yet) reported by the vendor.
    Unknown,
}

/// What happened to one instance (docs/design.md rule 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InstanceOutcome {
    StopAccepted,
    Stopped,
    AlreadyStopped,
    DryRunPassed,
    Failed,
}

impl InstanceOutcome {
    /// The proto enum's name without its prefix, for summaries.
    pub fn name(self) -> &'static str {
        match self {
            InstanceOutcome::StopAccepted => "STOP_ACCEPTED",
            InstanceOutcome::Stopped => "STOPPED",
            InstanceOutcome::AlreadyStopped => "ALREADY_STOPPED",
            InstanceOutcome::DryRunPassed => "DRY_RUN_PASSED",
            InstanceOutcome::Failed => "FAILED",
        }
    }
}

/// A command task's state on either cloud.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TaskState {
    Pending,
    Delivering,
    Running,
    Stopping,
    Cancelled,
    Terminated,
    Succeeded,
    Failed,
    TimedOut,
    Unknown,
}

impl TaskState {
    /// Normalizes Alibaba's per-instance `InvocationStatus` (docs/vendors/alibaba.md, §2.8) and Tencent's
    /// `TaskStatus` (docs/vendors/tencent.md, §1.3).
    pub fn from_vendor(raw: &str) -> TaskState {
        match raw.to_ascii_uppercase().as_str() {
            "PENDING" | "SCHEDULED" => TaskState::Pending,
            "DELIVERING" | "DELIVER_DELAYED" => TaskState::Delivering,
            "RUNNING" => TaskState::Running,
            "STOPPING" | "CANCELLING" => TaskState::Stopping,
            "CANCELLED" => TaskState::Cancelled,
            "TERMINATED" => TaskState::Terminated,
            "SUCCESS" => TaskState::Succeeded,
            "FAILED" | "INVALID" | "ABORTED" | "ERROR" | "DELIVER_FAILED" | "START_FAILED" => {
                TaskState::Failed
            }
            "TIMEOUT" | "TASK_TIMEOUT" => TaskState::TimedOut,
            _ => TaskState::Unknown,
        }
    }

    /// Whether the task has ended.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            TaskState::Cancelled
                | TaskState::Terminated
                | TaskState::Succeeded
                | TaskState::Failed
                | TaskState::TimedOut
        )
    }
}

/// What happened to one instance's task (docs/design.md rule 8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CommandOutcome {
    Cancelled,
    Terminated,
    StopRequested,
    AlreadyFinished,
    DryRunPassed,
    Failed,
}

impl CommandOutcome {
    /// The proto enum's name without its prefix, for summaries.
    pub fn name(self) -> &'static str {
        match self {
            CommandOutcome::Cancelled => "CANCELLED",
            CommandOutcome::Terminated => "TERMINATED",
            CommandOutcome::StopRequested => "STOP_REQUESTED",
            CommandOutcome::AlreadyFinished => "ALREADY_FINISHED",
            CommandOutcome::DryRunPassed => "DRY_RUN_PASSED",
            CommandOutcome::Failed => "FAILED",
        }
    }
}

/// What a real stop would do to a task (dry run only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DryRunAction {
    WouldCancel,
    WouldTerminate,
    NothingToStop,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_vendors_state_words_normalize() {
        assert_eq!(
            InstanceState::from_vendor("Stopped"),
            InstanceState::Stopped
        );
        assert_eq!(
            InstanceState::from_vendor("STOPPED"),
            InstanceState::Stopped
        );
        assert_eq!(
            InstanceState::from_vendor("SHUTDOWN"),
            InstanceState::Terminating
        );
        assert_eq!(
            InstanceState::from_vendor("RESCUE_MODE"),
            InstanceState::Maintenance
        );
        assert_eq!(
            InstanceState::from_vendor("Hibernated"),
            InstanceState::Unknown
        );
        assert_eq!(TaskState::from_vendor("Scheduled"), TaskState::Pending);
        assert_eq!(TaskState::from_vendor("CANCELLING"), TaskState::Stopping);
        assert_eq!(TaskState::from_vendor("Aborted"), TaskState::Failed);
        assert_eq!(TaskState::from_vendor("TASK_TIMEOUT"), TaskState::TimedOut);
        assert!(!TaskState::Stopping.is_terminal());
    }
}
