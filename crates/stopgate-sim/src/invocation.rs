//! A simulated remote-command invocation (Alibaba Cloud Assistant `t-…`, Tencent TAT `inv-…`):
//! one task per instance, each with its own timed state machine.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use serde::Serialize;
use time::OffsetDateTime;

use super::timings::{Timings, wall_clock_at};
use stopgate_vendor::Provider;

/// Every per-instance task state either vendor reports (docs/vendors/alibaba.md, §2.8, docs/vendors/tencent.md, §1.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum TaskPhase {
    Pending,
    Scheduled,
    Delivering,
    DeliverDelayed,
    Running,
    /// Alibaba `Stopping`, Tencent `CANCELLING`.
    Stopping,
    Cancelled,
    Terminated,
    Success,
    Failed,
    Timeout,
    Error,
    Invalid,
    Aborted,
    DeliverFailed,
    StartFailed,
    TaskTimeout,
}

const ALIBABA_TASK_NAMES: [(TaskPhase, &str); 13] = [
    (TaskPhase::Pending, "Pending"),
    (TaskPhase::Scheduled, "Scheduled"),
    (TaskPhase::Running, "Running"),
    (TaskPhase::Stopping, "Stopping"),
    (TaskPhase::Cancelled, "Cancelled"),
    (TaskPhase::Terminated, "Terminated"),
    (TaskPhase::Success, "Success"),
    (TaskPhase::Failed, "Failed"),
    (TaskPhase::Timeout, "Timeout"),
    (TaskPhase::Error, "Error"),
    (TaskPhase::Invalid, "Invalid"),
    (TaskPhase::Aborted, "Aborted"),
    (TaskPhase::Delivering, "Pending"),
];

const TENCENT_TASK_NAMES: [(TaskPhase, &str); 14] = [
    (TaskPhase::Pending, "PENDING"),
    (TaskPhase::Delivering, "DELIVERING"),
    (TaskPhase::DeliverDelayed, "DELIVER_DELAYED"),
    (TaskPhase::Running, "RUNNING"),
    (TaskPhase::Stopping, "CANCELLING"),
    (TaskPhase::Cancelled, "CANCELLED"),
    (TaskPhase::Terminated, "TERMINATED"),
    (TaskPhase::Success, "SUCCESS"),
    (TaskPhase::Failed, "FAILED"),
    (TaskPhase::Timeout, "TIMEOUT"),
    (TaskPhase::DeliverFailed, "DELIVER_FAILED"),
    (TaskPhase::StartFailed, "START_FAILED"),
    (TaskPhase::TaskTimeout, "TASK_TIMEOUT"),
    (TaskPhase::Scheduled, "PENDING"),
];

impl TaskPhase {
    fn table(provider: Provider) -> &'static [(TaskPhase, &'static str)] {
        match provider {
            Provider::Alibaba => &ALIBABA_TASK_NAMES,
            Provider::Tencent => &TENCENT_TASK_NAMES,
        }
    }

    /// The vendor's own word for this state.
    pub fn vendor_name(self, provider: Provider) -> &'static str {
        Self::table(provider)
            .iter()
            .find(|(p, _)| *p == self)
            .map(|(_, n)| *n)
            .unwrap_or(match provider {
                Provider::Alibaba => "Failed",
                Provider::Tencent => "FAILED",
            })
    }

    /// Parses a vendor's task state word.
    pub fn from_vendor(provider: Provider, raw: &str) -> Option<TaskPhase> {
        Self::table(provider)
            .iter()
            .find(|(_, n)| n.eq_ignore_ascii_case(raw))
            .map(|(p, _)| *p)
    }

    /// Whether the task has ended for good.
    pub fn is_finished(self) -> bool {
        !matches!(
            self,
            TaskPhase::Pending
                | TaskPhase::Scheduled
                | TaskPhase::Delivering
                | TaskPhase::DeliverDelayed
                | TaskPhase::Running
                | TaskPhase::Stopping
        )
    }

    /// Whether the command had not started yet (a stop cancels it).
    pub fn is_not_started(self) -> bool {
        matches!(
            self,
            TaskPhase::Pending
                | TaskPhase::Scheduled
                | TaskPhase::Delivering
                | TaskPhase::DeliverDelayed
        )
    }
}

/// `Once` or `Period` (Alibaba `RepeatMode`; Tencent invocations are always one-time).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum RepeatMode {
    Once,
    Period,
}

#[derive(Debug, Clone)]
struct TaskStep {
    at: Instant,
    phase: TaskPhase,
    exit_code: Option<i64>,
}

/// One instance's execution of an invocation.
#[derive(Debug, Clone, Serialize)]
pub struct Task {
    /// Tencent `invt-…` (Alibaba tasks have no id of their own).
    pub task_id: String,
    pub instance_id: String,
    pub phase: TaskPhase,
    pub exit_code: Option<i64>,
    pub output: String,
    /// How many runs finished (periodic invocations).
    pub repeats: u32,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub start_time: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub end_time: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub stop_time: Option<OffsetDateTime>,
    /// Alibaba per-instance `ErrorCode` (empty when normal).
    pub error_code: String,
    pub error_info: String,
    /// Stopped: a periodic task runs no further periods.
    #[serde(skip)]
    halted: bool,
    #[serde(skip)]
    steps: VecDeque<TaskStep>,
}

/// One simulated invocation.
#[derive(Debug, Clone, Serialize)]
pub struct Invocation {
    pub id: String,
    pub command_id: String,
    pub command_name: String,
    pub command_type: String,
    /// Base64 of the command text.
    pub command_content: String,
    pub repeat_mode: RepeatMode,
    /// A stop kills running executions (false: they run to completion, docs/vendors/alibaba.md, §2.3).
    pub interrupt_running: bool,
    /// A periodic invocation that was stopped runs no further periods.
    pub stopped: bool,
    pub timeout_s: u64,
    pub username: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    pub tasks: Vec<Task>,
    /// Time between runs of a periodic invocation.
    pub period_ms: u64,
    /// Task by instance id (the first task when an instance has several); built when the
    /// invocation is added to a region.
    #[serde(skip)]
    pub(crate) task_index: HashMap<String, usize>,
}

impl Task {
    /// A task that starts in `phase` now; `run_ms` is how long the command still runs.
    pub fn new(
        task_id: String,
        instance_id: String,
        phase: TaskPhase,
        run_ms: u64,
        exit_code: Option<i64>,
        timings: &Timings,
        now: Instant,
    ) -> Task {
        let wall = OffsetDateTime::now_utc();
        let mut task = Task {
            task_id,
            instance_id,
            phase,
            exit_code: None,
            output: String::new(),
            repeats: 0,
            created_at: wall,
            start_time: None,
            end_time: None,
            stop_time: None,
            error_code: String::new(),
            error_info: String::new(),
            halted: false,
            steps: VecDeque::new(),
        };
        let ms = Duration::from_millis;
        let final_exit = exit_code.unwrap_or(0);
        let done = if final_exit == 0 {
            TaskPhase::Success
        } else {
            TaskPhase::Failed
        };
        match phase {
            p if p.is_not_started() => {
                let deliver = now + ms(timings.deliver_ms);
                task.push(deliver, TaskPhase::Running, None);
                task.push(deliver + ms(run_ms), done, Some(final_exit));
            }
            TaskPhase::Running => {
                task.start_time = Some(wall);
                task.push(now + ms(run_ms), done, Some(final_exit));
            }
            TaskPhase::Stopping => {
                task.push(now + ms(timings.cancel_ms), TaskPhase::Terminated, None)
            }
            _ => {
                task.start_time = Some(wall);
                task.end_time = Some(wall);
                task.exit_code = exit_code.or(match phase {
                    TaskPhase::Success => Some(0),
                    TaskPhase::Failed => Some(1),
                    _ => None,
                });
                task.fill_error();
            }
        }
        task
    }

    fn push(&mut self, at: Instant, phase: TaskPhase, exit_code: Option<i64>) {
        self.steps.push_back(TaskStep {
            at,
            phase,
            exit_code,
        });
    }

    fn fill_error(&mut self) {
        let (code, info) = match self.phase {
            TaskPhase::Failed => (
                "ExitCodeNonzero",
                "the command execution exit code is not zero",
            ),
            TaskPhase::Timeout => ("ExecutionTimeout", "the command execution has timed out"),
            TaskPhase::Terminated => (
                "ExecutionInterrupted",
                "the command execution was interrupted",
            ),
            TaskPhase::Aborted => ("InstanceNotRunning", "the instance is not running"),
            _ => ("", ""),
        };
        self.error_code = code.to_string();
        self.error_info = info.to_string();
    }

    fn advance(&mut self, now: Instant, periodic_active: bool, period_ms: u64, run_ms: u64) {
        while self.steps.front().is_some_and(|s| s.at <= now) {
            let step = self.steps.pop_front().expect("checked");
            let wall = wall_clock_at(step.at, now);
            if step.phase == TaskPhase::Running {
                self.start_time = Some(wall);
                self.end_time = None;
            }
            let run_finished = matches!(step.phase, TaskPhase::Success | TaskPhase::Failed);
            if run_finished {
                self.repeats += 1;
                self.exit_code = step.exit_code;
                self.output = base64_text(&format!("run {} finished\n", self.repeats));
            }
            if run_finished && periodic_active && !self.halted {
                // A periodic invocation waits for its next period instead of ending.
                self.phase = TaskPhase::Scheduled;
                let next = step.at + Duration::from_millis(period_ms);
                self.push(next, TaskPhase::Running, None);
                self.push(
                    next + Duration::from_millis(run_ms),
                    TaskPhase::Success,
                    Some(0),
                );
                continue;
            }
            self.phase = step.phase;
            if step.phase.is_finished() {
                self.end_time = Some(wall);
                self.fill_error();
            }
        }
    }

    /// Applies a stop to this task (docs/vendors/alibaba.md, §2.3, docs/vendors/tencent.md, §1.1): not started → cancelled,
    /// running → stopping then terminated (or left to finish when `interrupt` is false).
    pub fn stop(&mut self, interrupt: bool, timings: &Timings, now: Instant) {
        let wall = OffsetDateTime::now_utc();
        self.halted = true;
        if self.phase.is_not_started() {
            self.steps.clear();
            self.phase = TaskPhase::Cancelled;
            self.stop_time = Some(wall);
            self.end_time = Some(wall);
        } else if self.phase == TaskPhase::Running {
            self.stop_time = Some(wall);
            if interrupt {
                self.steps.clear();
                self.phase = TaskPhase::Stopping;
                self.push(
                    now + Duration::from_millis(timings.cancel_ms),
                    TaskPhase::Terminated,
                    None,
                );
            }
        }
    }
}

fn base64_text(text: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(text)
}

impl Invocation {
    /// Indexes the tasks by instance id.
    pub(crate) fn index_tasks(&mut self) {
        self.task_index.clear();
        for (idx, task) in self.tasks.iter().enumerate() {
            self.task_index
                .entry(task.instance_id.clone())
                .or_insert(idx);
        }
    }

    /// Applies every due step of every task.
    pub fn advance(&mut self, now: Instant, run_ms: u64) {
        for idx in 0..self.tasks.len() {
            self.advance_task(idx, now, run_ms);
        }
    }

    /// Applies the due steps of one task.
    pub fn advance_task(&mut self, idx: usize, now: Instant, run_ms: u64) {
        let periodic_active = self.repeat_mode == RepeatMode::Period && !self.stopped;
        self.tasks[idx].advance(now, periodic_active, self.period_ms, run_ms);
    }

    /// The index of the task on `instance_id`, if the invocation covers it.
    pub fn task_of(&self, instance_id: &str) -> Option<usize> {
        self.task_index.get(instance_id).copied()
    }

    /// Stops the given tasks (all when `instances` is empty), each advanced to `now` first.
    pub fn stop(&mut self, instances: &[String], timings: &Timings, now: Instant) {
        let targets: Vec<usize> = if instances.is_empty() {
            (0..self.tasks.len()).collect()
        } else {
            instances.iter().filter_map(|id| self.task_of(id)).collect()
        };
        for &idx in &targets {
            self.advance_task(idx, now, timings.run_ms);
        }
        if self.repeat_mode == RepeatMode::Period && instances.is_empty() {
            self.stopped = true;
        }
        let interrupt = self.interrupt_running;
        for idx in targets {
            self.tasks[idx].stop(interrupt, timings, now);
        }
    }

    /// Alibaba's overall `InvocationStatus` from its aggregation rules (docs/vendors/alibaba.md, §2.8).
    pub fn alibaba_status(&self) -> &'static str {
        let any = |p: TaskPhase| self.tasks.iter().any(|t| t.phase == p);
        if any(TaskPhase::Pending) || any(TaskPhase::Delivering) {
            return "Pending";
        }
        if any(TaskPhase::Scheduled) {
            return "Scheduled";
        }
        if any(TaskPhase::Running) {
            return "Running";
        }
        if any(TaskPhase::Stopping) {
            return "Stopping";
        }
        let stopped = |t: &&Task| matches!(t.phase, TaskPhase::Cancelled | TaskPhase::Terminated);
        let success = self
            .tasks
            .iter()
            .filter(|t| t.phase == TaskPhase::Success)
            .count();
        let stopped_count = self.tasks.iter().filter(stopped).count();
        let failed = self.tasks.len() - success - stopped_count;
        match (success, failed, stopped_count) {
            (_, 0, 0) => "Success",
            (0, 0, _) => "Stopped",
            (0, _, _) => "Failed",
            (_, _, _) => "PartialFailed",
        }
    }

    /// Alibaba's legacy overall `InvokeStatus`.
    pub fn alibaba_invoke_status(&self) -> &'static str {
        match self.alibaba_status() {
            "Pending" | "Scheduled" | "Running" => "Running",
            "Stopping" => "Stopping",
            "Stopped" => "Stopped",
            "Failed" => "Failed",
            "PartialFailed" => "PartialFailed",
            _ => "Finished",
        }
    }

    /// Tencent's overall `InvocationStatus` (docs/vendors/tencent.md, §1.2).
    pub fn tencent_status(&self) -> &'static str {
        let any = |f: &dyn Fn(TaskPhase) -> bool| self.tasks.iter().any(|t| f(t.phase));
        if any(&|p| p.is_not_started()) {
            return "PENDING";
        }
        if any(&|p| p == TaskPhase::Running) {
            return "RUNNING";
        }
        if any(&|p| p == TaskPhase::Stopping) {
            return "CANCELLING";
        }
        let count =
            |f: &dyn Fn(TaskPhase) -> bool| self.tasks.iter().filter(|t| f(t.phase)).count();
        let total = self.tasks.len();
        let success = count(&|p| p == TaskPhase::Success);
        let cancelled = count(&|p| matches!(p, TaskPhase::Cancelled | TaskPhase::Terminated));
        let timeout = count(&|p| matches!(p, TaskPhase::Timeout | TaskPhase::TaskTimeout));
        if success == total {
            "SUCCESS"
        } else if cancelled == total {
            "CANCELLED"
        } else if timeout == total {
            "TIMEOUT"
        } else if success + cancelled == total {
            "PARTIAL_CANCELLED"
        } else if success + cancelled == 0 {
            "FAILED"
        } else {
            "PARTIAL_FAILED"
        }
    }
}
