//! StopCommandExecution (docs/design.md rule 8): read the execution and its per-instance tasks,
//! report finished tasks as they ended without sending them, stop the rest in vendor-sized
//! chunks, then report what the vendor says happened (or, with wait, watch until it is final).
//!
//! - An unknown execution fails the whole request as NOT_FOUND with the vendor's own code: the
//!   describe calls cannot tell it, so the stop call (harmless for an id that does not exist) is
//!   what asks the vendor. A dry run never makes that call and reports NOT_FOUND on its own.
//! - An instance outside the execution is NOT_FOUND for that instance only; it is never sent,
//!   so a Tencent `InstanceIsNotRelatedToInvocation` cannot fail the others.
//! - With no instance list, Alibaba is asked to stop the invocation as a whole (documented,
//!   and the only way a periodic invocation's future runs are cancelled); Tencent's behaviour
//!   for an omitted list is undocumented, so its unfinished tasks are named.

use std::collections::HashMap;
use std::time::Duration;

use super::call::Caller;
use super::ledger::{Ledger, Record};
use super::request::ValidCommandStop;
use crate::model::{
    CommandOutcome, DryRunAction, ErrorKind, ErrorScope, Reason, StopError, TaskState,
};
use crate::provider::{Adapter, CommandActions, ObservedTask, Scope};

/// The one terminal result of one instance's task.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskResult {
    pub instance_id: String,
    pub outcome: CommandOutcome,
    pub previous: Option<(TaskState, String)>,
    pub current: Option<(TaskState, String)>,
    pub vendor_request_id: Option<String>,
    pub error: Option<StopError>,
    pub exit_code: Option<i64>,
    pub dry_run_action: Option<DryRunAction>,
}

impl Record for TaskResult {
    fn instance_id(&self) -> &str {
        &self.instance_id
    }

    fn outcome_name(&self) -> &'static str {
        self.outcome.name()
    }

    fn failed(instance_id: &str, error: StopError) -> Self {
        TaskResult {
            instance_id: instance_id.to_string(),
            outcome: CommandOutcome::Failed,
            previous: None,
            current: None,
            vendor_request_id: error.vendor_request_id.clone(),
            error: Some(error),
            exit_code: None,
            dry_run_action: None,
        }
    }
}

/// A task transition seen while waiting.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskProgress {
    pub instance_id: String,
    pub state: TaskState,
    pub raw_state: String,
}

/// The ledger of a StopCommandExecution stream.
pub type CommandLedger = Ledger<TaskProgress, TaskResult>;

fn state_of(t: &ObservedTask) -> Option<(TaskState, String)> {
    Some((t.state, t.raw_state.clone()))
}

/// A stopped task being followed to its end.
struct Followed {
    before: ObservedTask,
    last: ObservedTask,
    request_id: Option<String>,
}

/// One request being executed.
pub(crate) struct CommandRun<'a> {
    pub adapter: &'a dyn Adapter,
    pub scope: Scope<'a>,
    pub caller: &'a Caller,
    pub ledger: &'a CommandLedger,
    pub req: &'a ValidCommandStop,
    pub poll: Duration,
    actions: CommandActions,
}

impl<'a> CommandRun<'a> {
    pub fn new(
        adapter: &'a dyn Adapter,
        scope: Scope<'a>,
        caller: &'a Caller,
        ledger: &'a CommandLedger,
        req: &'a ValidCommandStop,
        poll: Duration,
    ) -> Self {
        CommandRun {
            actions: adapter.command_actions(),
            adapter,
            scope,
            caller,
            ledger,
            req,
            poll,
        }
    }

    fn id(&self) -> &str {
        &self.req.execution_id
    }

    /// Every task of the execution, reading page after page.
    async fn read_tasks(
        &self,
    ) -> Result<(HashMap<String, ObservedTask>, Vec<String>, Option<String>), StopError> {
        let mut tasks = HashMap::new();
        let mut order = Vec::new();
        let mut token: Option<String> = None;
        let mut seen_tokens = std::collections::HashSet::new();
        let mut request_id = None;
        // A bound no honest vendor reaches (100,000 records is Alibaba's retention cap).
        for _ in 0..10_000 {
            let page = self
                .caller
                .run(self.actions.describe_tasks, || {
                    self.adapter
                        .describe_tasks(self.scope, self.id(), token.as_deref())
                })
                .await?;
            request_id = request_id.or(page.request_id);
            let page_len = page.tasks.len();
            for task in page.tasks {
                if !tasks.contains_key(&task.instance_id) {
                    order.push(task.instance_id.clone());
                }
                tasks.insert(task.instance_id.clone(), task);
            }
            // Stop on the last page, an empty page, or a token seen before (a cycle).
            match page.next {
                Some(next) if page_len > 0 && seen_tokens.insert(next.clone()) => {
                    token = Some(next)
                }
                _ => break,
            }
        }
        Ok((tasks, order, request_id))
    }

    async fn result(
        &self,
        task: &ObservedTask,
        outcome: CommandOutcome,
        before: Option<&ObservedTask>,
        request_id: Option<String>,
    ) {
        self.ledger
            .result(TaskResult {
                instance_id: task.instance_id.clone(),
                outcome,
                previous: before.or(Some(task)).and_then(state_of),
                current: state_of(task),
                vendor_request_id: request_id,
                error: None,
                exit_code: task.exit_code,
                dry_run_action: None,
            })
            .await;
    }

    async fn fail(&self, id: &str, before: Option<&ObservedTask>, error: StopError) {
        let mut result = TaskResult::failed(id, error);
        result.previous = before.and_then(state_of);
        result.current = result.previous.clone();
        self.ledger.result(result).await;
    }

    /// Asks the vendor about an execution the describe calls do not know, through the stop
    /// call, so that the request fails with the vendor's own code.
    async fn not_found(&self, describe_request_id: Option<String>) -> StopError {
        let provider = self.req.provider;
        let explain = |e: StopError| {
            e.with_message(|m| {
                format!("{provider} has no command execution {} in {} for account {:?} ({m}); check the id, region and account", self.req.execution_id, self.req.region, self.req.account)
            })
        };
        let mut local = StopError::local(
            ErrorKind::NotFound,
            Reason::ExecutionNotFound.as_str(),
            format!(
                "{provider} has no command execution {} in {} for account {:?}; check the id, region and account",
                self.req.execution_id, self.req.region, self.req.account
            ),
        );
        local.provider = Some(provider);
        local.vendor_request_id = describe_request_id;
        if self.req.dry_run {
            return local;
        }
        let not_listed = || {
            let mut e = StopError::local(
                ErrorKind::Unavailable,
                "EXECUTION_NOT_LISTED",
                format!(
                    "{provider} knows execution {} but does not list it yet; try again in a few seconds",
                    self.req.execution_id
                ),
            );
            e.retry = crate::model::RetryClass::Temporary;
            e.provider = Some(provider);
            e
        };
        // The probe names an instance that cannot exist: for an unknown execution the vendor
        // says so with its own code; for one that exists, the call fails on the instance
        // (InvalidInstanceId.NotFound / InstanceIsNotRelatedToInvocation) and stops nothing.
        let probe = [self.actions.probe_instance.to_string()];
        let answer = self
            .caller
            .run(self.actions.stop, || {
                self.adapter.stop_execution(self.scope, self.id(), &probe)
            })
            .await;
        match answer {
            Err(e) if e.is(Reason::ExecutionNotFound) => explain(e),
            // Only an answer that relates the instance to the execution proves it exists (it
            // is not listed yet): worth retrying. Any other answer leaves it not found.
            Err(e) if e.is(Reason::InstanceNotInExecution) => not_listed(),
            Ok(_) => not_listed(),
            Err(e) if e.kind == ErrorKind::NotFound || e.scope == ErrorScope::Instance => {
                let mut local = local;
                local.vendor_code = e.vendor_code;
                local.vendor_message = e.vendor_message;
                local.vendor_request_id = e.vendor_request_id.or(local.vendor_request_id);
                local
            }
            Err(e) => e,
        }
    }

    /// The execution could not be read, so nothing was sent. Each named instance fails with
    /// the vendor's evidence (and the summary follows); without named instances there is no
    /// one to answer for, and the request fails as a whole.
    async fn unreadable(&self, error: StopError) {
        if self.req.ids.is_empty() {
            return self.ledger.abort(error).await;
        }
        let error = error.with_message(|m| {
            format!("nothing was stopped: the execution could not be read ({m})")
        });
        self.ledger.expect(self.req.ids.clone());
        for id in &self.req.ids {
            self.fail(id, None, error.clone()).await;
        }
    }

    /// Runs the whole request.
    pub async fn execute(&self) {
        let described = self
            .caller
            .run(self.actions.describe_execution, || {
                self.adapter.describe_execution(self.scope, self.id())
            })
            .await;
        let info = match described {
            Ok((Some(info), _)) => info,
            Ok((None, request_id)) => {
                return self.ledger.abort(self.not_found(request_id).await).await;
            }
            Err(e) => return self.unreadable(e).await,
        };
        let (tasks, order, read_id) = match self.read_tasks().await {
            Ok(read) => read,
            Err(e) => return self.unreadable(e).await,
        };
        let targets = if self.req.ids.is_empty() {
            order
        } else {
            self.req.ids.clone()
        };
        self.ledger.expect(targets.clone());

        let mut to_stop = Vec::new();
        let mut already_stopping = Vec::new();
        for id in &targets {
            let Some(task) = tasks.get(id) else {
                let mut e = StopError::local(
                    ErrorKind::NotFound,
                    Reason::InstanceNotInExecution.as_str(),
                    format!(
                        "instance {id} has no task in execution {}; it was not sent",
                        self.req.execution_id
                    ),
                );
                e.provider = Some(self.req.provider);
                e.vendor_request_id = read_id.clone();
                self.fail(id, None, e).await;
                continue;
            };
            if task.state.is_terminal() {
                self.result(task, CommandOutcome::AlreadyFinished, None, read_id.clone())
                    .await;
            } else if self.req.dry_run {
                let action = match task.state {
                    TaskState::Pending | TaskState::Delivering => DryRunAction::WouldCancel,
                    TaskState::Stopping => DryRunAction::NothingToStop,
                    _ => DryRunAction::WouldTerminate,
                };
                let mut r = TaskResult::failed(id, StopError::local(ErrorKind::Internal, "", ""));
                r.outcome = CommandOutcome::DryRunPassed;
                r.error = None;
                r.previous = state_of(task);
                r.current = state_of(task);
                r.vendor_request_id = read_id.clone();
                r.dry_run_action = Some(action);
                self.ledger.result(r).await;
            } else if task.state == TaskState::Stopping {
                already_stopping.push(Followed {
                    before: task.clone(),
                    last: task.clone(),
                    request_id: read_id.clone(),
                });
            } else {
                to_stop.push(task.clone());
            }
        }
        if self.req.dry_run {
            if self.req.provider == crate::model::Provider::Alibaba {
                self.ledger.note("Alibaba may leave running executions of a one-time invocation running (docs/vendors/alibaba.md, §2.3): WOULD_TERMINATE is what the API allows, the real stop reports what happened");
            }
            return;
        }

        let mut followed = already_stopping;
        let stop_all = self.req.ids.is_empty() && self.actions.stop_all_documented;
        if stop_all && !to_stop.is_empty() {
            match self
                .caller
                .run_stop(self.actions.stop, &[], 0, || {
                    self.adapter.stop_execution(self.scope, self.id(), &[])
                })
                .await
            {
                Ok(request_id) => followed.extend(to_stop.into_iter().map(|t| Followed {
                    before: t.clone(),
                    last: t,
                    request_id: request_id.clone(),
                })),
                // Those the lost stop did not reach are named in the stops sent again.
                Err(e) if e.may_have_applied() => {
                    self.after_lost_answer(to_stop, &mut followed, 1, e).await
                }
                Err(e) => {
                    for t in &to_stop {
                        self.fail(&t.instance_id, Some(t), e.clone()).await;
                    }
                }
            }
        } else {
            for group in to_stop.chunks(self.actions.stop_batch) {
                self.stop_group(group.to_vec(), &mut followed, false, 0)
                    .await;
            }
        }
        if info.periodic && !followed.is_empty() {
            let whom = if stop_all {
                "all instances".to_string()
            } else {
                format!("the {} named instance(s)", followed.len())
            };
            self.ledger.note(format!(
                "{} is a periodic invocation: its future runs on {whom} are cancelled; executions already started are reported as they are",
                self.req.execution_id
            ));
        }
        self.observe(followed).await;
    }

    /// Stops the execution on `group`, splitting it if the vendor blames one instance.
    fn stop_group<'b>(
        &'b self,
        group: Vec<ObservedTask>,
        followed: &'b mut Vec<Followed>,
        resent: bool,
        round: u32,
    ) -> crate::provider::BoxFuture<'b, ()> {
        Box::pin(async move {
            if group.is_empty() || self.ledger.is_closed() {
                return;
            }
            let ids: Vec<String> = group.iter().map(|t| t.instance_id.clone()).collect();
            let answer = self
                .caller
                .run_stop(self.actions.stop, &ids, round, || {
                    self.adapter.stop_execution(self.scope, self.id(), &ids)
                })
                .await;
            let error = match answer {
                Ok(request_id) => {
                    followed.extend(group.into_iter().map(|t| Followed {
                        before: t.clone(),
                        last: t,
                        request_id: request_id.clone(),
                    }));
                    return;
                }
                Err(e) => e,
            };
            if error.may_have_applied() {
                return self
                    .after_lost_answer(group, followed, round + 1, error)
                    .await;
            }
            if group.len() > 1 && error.scope == ErrorScope::Instance {
                // The vendor blamed an instance: split the group to find it.
                let mut left = group;
                let right = left.split_off(left.len() / 2);
                self.stop_group(left, followed, resent, round).await;
                self.stop_group(right, followed, resent, round).await;
                return;
            }
            // A task may have ended between the read and the stop, and what the vendor answers
            // then is undocumented. For a refusal of the call's content (never for credentials,
            // limits or availability), read the tasks once, report those that ended, and send
            // the rest once more.
            let content = error.scope == ErrorScope::Instance
                || matches!(
                    error.kind,
                    ErrorKind::InvalidArgument | ErrorKind::FailedPrecondition
                );
            if content && !resent {
                if let Ok((now, _, _)) = self.read_tasks().await {
                    let mut rest = Vec::new();
                    for task in &group {
                        match now.get(&task.instance_id) {
                            Some(t) if t.state.is_terminal() => {
                                self.result(
                                    t,
                                    CommandOutcome::AlreadyFinished,
                                    Some(task),
                                    error.vendor_request_id.clone(),
                                )
                                .await
                            }
                            _ => rest.push(task.clone()),
                        }
                    }
                    if rest.len() < group.len() {
                        self.stop_group(rest, followed, true, round).await;
                        return;
                    }
                }
            }
            for t in &group {
                self.fail(&t.instance_id, Some(t), error.clone()).await;
            }
        })
    }

    /// The answer to a stop call was lost (the connection dropped, a 5xx, an unreadable body):
    /// the vendor may or may not have stopped the tasks. Reads them: those the stop reached
    /// (stopping, cancelled, terminated) are followed like accepted stops, those that ended on
    /// their own are reported so, and those still pending or running are sent again.
    async fn after_lost_answer(
        &self,
        group: Vec<ObservedTask>,
        followed: &mut Vec<Followed>,
        round: u32,
        error: StopError,
    ) {
        let now = match self.read_tasks().await {
            Ok((now, _, _)) => now,
            Err(read) => {
                let error = self.caller.give_up(error, round).with_message(|m| {
                    format!(
                        "{m}; whether the stop was applied is unknown, because reading the tasks also failed ({}): check their state",
                        read.message
                    )
                });
                for t in &group {
                    self.fail(&t.instance_id, Some(t), error.clone()).await;
                }
                return;
            }
        };
        let mut again = Vec::new();
        for before in group {
            match now.get(&before.instance_id) {
                Some(t)
                    if matches!(
                        t.state,
                        TaskState::Stopping | TaskState::Cancelled | TaskState::Terminated
                    ) =>
                {
                    followed.push(Followed {
                        before,
                        last: t.clone(),
                        request_id: None,
                    })
                }
                Some(t) if t.state.is_terminal() => {
                    self.result(t, CommandOutcome::AlreadyFinished, Some(&before), None)
                        .await
                }
                Some(t) => again.push(t.clone()),
                None => {
                    self.fail(&before.instance_id, Some(&before), error.clone())
                        .await
                }
            }
        }
        if again.is_empty() {
            return;
        }
        if self
            .caller
            .pause_to_resend(self.actions.stop, round, &error)
            .await
        {
            for chunk in again.chunks(self.actions.stop_batch) {
                self.stop_group(chunk.to_vec(), followed, false, round)
                    .await;
            }
        } else {
            let error = self.caller.give_up(error, round);
            for t in &again {
                self.fail(&t.instance_id, Some(t), error.clone()).await;
            }
        }
    }

    /// The outcome of a stopped task that reached `now`, if it is final.
    fn outcome(now: &ObservedTask) -> Option<CommandOutcome> {
        match now.state {
            TaskState::Cancelled => Some(CommandOutcome::Cancelled),
            TaskState::Terminated => Some(CommandOutcome::Terminated),
            // Ended on its own despite the stop (Alibaba one-time invocations, docs/vendors/alibaba.md, §2.3):
            // reported as it is, never as terminated.
            s if s.is_terminal() => Some(CommandOutcome::StopRequested),
            _ => None,
        }
    }

    /// Reports what the vendor says now, or with wait, follows every task to its end.
    async fn observe(&self, mut followed: Vec<Followed>) {
        if followed.is_empty() {
            return;
        }
        let deadline = self.req.wait.map(|w| self.caller.wait_deadline(w));
        let mut uninterrupted = 0;
        let mut last_error: Option<StopError> = None;
        loop {
            if let Some(deadline) = deadline {
                if !super::pace::poll_pause(self.poll, deadline).await {
                    break;
                }
            }
            let seen = match self.read_tasks().await {
                Ok((tasks, _, _)) => tasks,
                Err(e) if deadline.is_none() => {
                    // The vendor accepted the stop; only its effect is unknown.
                    tracing::warn!(error = %e, "could not read the tasks after the stop");
                    for f in &followed {
                        self.result(
                            &f.last,
                            CommandOutcome::StopRequested,
                            Some(&f.before),
                            f.request_id.clone(),
                        )
                        .await;
                    }
                    return;
                }
                Err(e) if e.retry == crate::model::RetryClass::Permanent => {
                    // Waiting longer cannot help (credentials, permissions): fail them now.
                    let e = e.with_message(|m| {
                        format!(
                            "the stop was accepted, but reading the tasks while waiting failed: {m}"
                        )
                    });
                    for f in &followed {
                        let mut r = TaskResult::failed(&f.before.instance_id, e.clone());
                        r.previous = state_of(&f.before);
                        r.current = state_of(&f.last);
                        self.ledger.result(r).await;
                    }
                    return;
                }
                Err(e) => {
                    last_error = Some(e);
                    HashMap::new()
                }
            };
            let mut still = Vec::new();
            for mut f in followed {
                if let Some(now) = seen.get(&f.before.instance_id) {
                    if now.raw_state != f.last.raw_state && deadline.is_some() {
                        self.ledger
                            .progress(TaskProgress {
                                instance_id: now.instance_id.clone(),
                                state: now.state,
                                raw_state: now.raw_state.clone(),
                            })
                            .await;
                    }
                    f.last = now.clone();
                }
                match Self::outcome(&f.last) {
                    Some(outcome) => {
                        if outcome == CommandOutcome::StopRequested {
                            uninterrupted += 1;
                        }
                        self.result(&f.last, outcome, Some(&f.before), f.request_id.clone())
                            .await
                    }
                    None if deadline.is_none() => {
                        self.result(
                            &f.last,
                            CommandOutcome::StopRequested,
                            Some(&f.before),
                            f.request_id.clone(),
                        )
                        .await
                    }
                    None => still.push(f),
                }
            }
            followed = still;
            if followed.is_empty() || deadline.is_none() || self.ledger.is_closed() {
                break;
            }
        }
        if uninterrupted > 0 {
            self.ledger.note(format!(
                "{uninterrupted} running execution(s) of {} were not interrupted by the stop and ended on their own (reported as STOP_REQUESTED with their end state)",
                self.req.execution_id
            ));
        }
        for f in followed {
            let mut e = StopError::local(
                ErrorKind::DeadlineExceeded,
                "WAIT_TIMEOUT",
                format!(
                    "the task on {} was still {} when the wait ended; the stop was accepted and may still complete",
                    f.before.instance_id, f.last.raw_state
                ),
            );
            e.provider = Some(self.req.provider);
            e.vendor_request_id = f.request_id.clone();
            if let Some(last) = &last_error {
                super::wait::with_last_error(&mut e, last);
            }
            let mut r = TaskResult::failed(&f.before.instance_id, e);
            r.previous = state_of(&f.before);
            r.current = state_of(&f.last);
            self.ledger.result(r).await;
        }
    }
}
