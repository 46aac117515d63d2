//! StopInstances: read, decide, stop, isolate, (wait), report — one result per instance.
//!
//! 1. Read every instance's state in describe-sized chunks (this yields `previous_state`, finds
//!    unknown ids, and makes the stop idempotent: docs/design.md rule 2).
//! 2. Stop the running ones in stop-sized chunks, chunks in parallel up to the configured
//!    concurrency, each call paced and retried by the [`Caller`].
//! 3. Isolate failures (rule 3): Alibaba answers per instance (`SuccessFirst`); Tencent answers
//!    one code per call, so an instance-scoped error splits the batch in halves until the
//!    failing instances stand alone. A state error re-reads the instance (it may have stopped
//!    meanwhile).
//! 4. Wait when asked, or when Alibaba needs the emulated graceful-then-force ([`super::wait`]).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use futures::StreamExt;

use super::call::Caller;
use super::ledger::Record;
use super::request::ValidStop;
use super::wait::{self, Tracked, Watch};
use crate::model::{
    Billing, ErrorKind, InstanceOutcome, InstanceState, Reason, StopError, StopMode,
};
use crate::provider::{Adapter, Capabilities, Observed, Scope, StopAnswer, StopCall};

pub use super::instance_result::{InstanceLedger, InstanceProgress, InstanceResult};

fn state_of(o: &Observed) -> Option<(InstanceState, String)> {
    Some((o.state, o.raw_state.clone()))
}

/// One request being executed.
pub(crate) struct Run<'a> {
    pub adapter: &'a dyn Adapter,
    pub scope: Scope<'a>,
    pub caller: &'a Caller,
    pub ledger: &'a InstanceLedger,
    pub req: &'a ValidStop,
    pub caps: Capabilities,
    /// How often to poll while waiting.
    pub poll: std::time::Duration,
    /// Stops accepted that must be watched.
    tracked: Mutex<Vec<Tracked>>,
    /// Stops accepted on Alibaba with an explicit billing request: read once to report the mode
    /// that took effect (Alibaba silently falls back, docs/vendors/alibaba.md, §7 item 13).
    billing_check: Mutex<Vec<(Observed, Option<String>)>>,
    /// States already read (a selector's read), with that read's RequestId: the first read
    /// of these instances is not repeated.
    known: Option<HashMap<String, (Observed, Option<String>)>>,
}

impl<'a> Run<'a> {
    pub fn new(
        adapter: &'a dyn Adapter,
        scope: Scope<'a>,
        caller: &'a Caller,
        ledger: &'a InstanceLedger,
        req: &'a ValidStop,
        poll: std::time::Duration,
    ) -> Self {
        Run {
            poll,
            adapter,
            scope,
            caller,
            ledger,
            req,
            caps: adapter.capabilities(),
            tracked: Mutex::new(Vec::new()),
            billing_check: Mutex::new(Vec::new()),
            known: None,
        }
    }

    /// Starts from states already read instead of reading them again.
    pub fn with_known(mut self, known: HashMap<String, (Observed, Option<String>)>) -> Self {
        self.known = Some(known);
        self
    }

    /// The states the stop decides on: already known, or read now.
    async fn first_read(
        &self,
        ids: &[String],
    ) -> Result<(HashMap<String, Observed>, Option<String>), StopError> {
        let Some(known) = &self.known else {
            return self.describe(ids).await;
        };
        let mut request_id = None;
        let seen = ids
            .iter()
            .filter_map(|id| known.get(id))
            .map(|(o, rid)| {
                request_id = request_id.take().or_else(|| rid.clone());
                (o.id.clone(), o.clone())
            })
            .collect();
        Ok((seen, request_id))
    }

    /// What the waits need of this request.
    fn watch(&self) -> Watch<'_> {
        Watch {
            adapter: self.adapter,
            scope: self.scope,
            caller: self.caller,
            ledger: self.ledger,
            req: self.req,
            caps: self.caps,
            poll: self.poll,
        }
    }

    /// Whether accepted stops must be watched: asked to wait, or Alibaba's emulated
    /// graceful-then-force (docs/design.md rule 5).
    fn emulates_force(&self) -> bool {
        self.req.mode == StopMode::GracefulThenForce && !self.caps.native_graceful_then_force
    }

    /// How long accepted stops are watched: the wait, or the graceful window of the emulated
    /// graceful-then-force; none when they are not watched.
    fn watch_budget(&self) -> Option<std::time::Duration> {
        self.req
            .wait
            .or_else(|| self.emulates_force().then_some(self.req.graceful_timeout))
    }

    /// The mode sent to the vendor on the first call.
    fn first_mode(&self) -> StopMode {
        if self.emulates_force() {
            StopMode::Graceful
        } else {
            self.req.mode
        }
    }

    pub async fn describe(
        &self,
        ids: &[String],
    ) -> Result<(HashMap<String, Observed>, Option<String>), StopError> {
        let action = self.adapter.actions().describe;
        let described = self
            .caller
            .run(action, || self.adapter.describe(self.scope, ids))
            .await?;
        let map = described
            .instances
            .into_iter()
            .map(|o| (o.id.clone(), o))
            .collect();
        Ok((map, described.request_id))
    }

    pub async fn fail(&self, id: &str, previous: Option<&Observed>, error: StopError) {
        let mut result = InstanceResult::failed(id, error);
        result.previous = previous.and_then(state_of);
        result.current = result.previous.clone();
        self.ledger.result(result).await;
    }

    async fn not_found(&self, id: &str, request_id: Option<String>) {
        let mut error = StopError::local(
            ErrorKind::NotFound,
            "INSTANCE_NOT_FOUND",
            format!(
                "{} {} has no instance {id} in {} for account {:?}; check the id, region and account",
                self.req.provider,
                self.adapter.actions().describe,
                self.req.region,
                self.req.account
            ),
        );
        error.provider = Some(self.req.provider);
        error.vendor_request_id = request_id;
        self.fail(id, None, error).await;
    }

    async fn wrong_state(&self, o: &Observed) {
        let mut error = StopError::local(
            ErrorKind::FailedPrecondition,
            Reason::InstanceState.as_str(),
            format!(
                "instance {} is {}; only running instances can be stopped: try again when it is running",
                o.id, o.raw_state
            ),
        );
        error.provider = Some(self.req.provider);
        self.fail(&o.id, Some(o), error).await;
    }

    async fn already_stopped(&self, o: &Observed, request_id: Option<String>) {
        self.ledger
            .result(InstanceResult {
                instance_id: o.id.clone(),
                outcome: InstanceOutcome::AlreadyStopped,
                previous: state_of(o),
                current: state_of(o),
                vendor_request_id: request_id,
                billing: o.billing,
                error: None,
                forced: false,
                region: None,
            })
            .await;
    }

    /// The vendor accepted the stop (or the instance was already stopping).
    async fn accepted(&self, o: &Observed, request_id: Option<String>, already_stopping: bool) {
        // Watch it when asked to wait, or when Alibaba's emulated force may still be needed
        // (not for an instance that was already stopping: that stop was not ours to force).
        if self.req.wait.is_some() || (self.emulates_force() && !already_stopping) {
            self.tracked
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(Tracked::new(
                    o.clone(),
                    request_id,
                    !already_stopping && self.emulates_force(),
                ));
            return;
        }
        let explicit_billing = matches!(
            self.req.billing,
            Billing::StopCharging | Billing::KeepCharging
        );
        if explicit_billing && !already_stopping && !self.caps.refuses_unsupported_stop_charging {
            self.billing_check
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push((o.clone(), request_id));
            return;
        }
        let billing = if already_stopping {
            o.billing
        } else if explicit_billing {
            // Tencent refuses a mode it cannot honour, so an accepted stop took it.
            Some(self.req.billing)
        } else {
            None
        };
        self.stop_accepted(o, request_id, billing, false).await;
    }

    pub async fn stop_accepted(
        &self,
        o: &Observed,
        request_id: Option<String>,
        billing: Option<Billing>,
        forced: bool,
    ) {
        let current = if o.state == InstanceState::Stopping {
            state_of(o)
        } else {
            Some((InstanceState::Stopping, String::new()))
        };
        self.ledger
            .result(InstanceResult {
                instance_id: o.id.clone(),
                outcome: InstanceOutcome::StopAccepted,
                previous: state_of(o),
                current,
                vendor_request_id: request_id,
                billing: Some(billing.unwrap_or(Billing::Unknown)),
                error: None,
                forced,
                region: None,
            })
            .await;
    }

    async fn dry_run_passed(&self, o: &Observed, request_id: Option<String>) {
        self.ledger
            .result(InstanceResult {
                instance_id: o.id.clone(),
                outcome: InstanceOutcome::DryRunPassed,
                previous: state_of(o),
                current: state_of(o),
                vendor_request_id: request_id,
                billing: None,
                error: None,
                forced: false,
                region: None,
            })
            .await;
    }

    /// Reads, decides and stops one describe-sized chunk.
    async fn chunk(&self, ids: &[String]) {
        if self.ledger.is_closed() {
            return;
        }
        let (seen, request_id) = match self.first_read(ids).await {
            Ok(answer) => answer,
            Err(error) => {
                for id in ids {
                    self.fail(id, None, error.clone()).await;
                }
                return;
            }
        };
        let mut candidates = Vec::new();
        for id in ids {
            // Taken over from another replica, whose stop of this instance the vendor accepted:
            // never sent again; what the instance does now is that stop's result.
            // An empty RequestId: the stop was being sent, its answer unknown.
            if let (Some(ours), Some(o)) = (self.req.sent.get(id), seen.get(id)) {
                let ours = (!ours.is_empty()).then(|| ours.clone());
                match o.state {
                    InstanceState::Stopping | InstanceState::Stopped => {
                        self.applied(o, o, ours).await;
                        continue;
                    }
                    InstanceState::Running if ours.is_some() => {
                        self.accepted(o, ours, false).await;
                        continue;
                    }
                    // Still running after a stop whose answer was never seen: it was not
                    // applied, so it is decided (and sent) as usual.
                    _ => {}
                }
            }
            match seen.get(id) {
                None => self.not_found(id, request_id.clone()).await,
                Some(o) if o.state == InstanceState::Stopped => {
                    self.already_stopped(o, request_id.clone()).await
                }
                Some(o) if o.state == InstanceState::Stopping && self.req.dry_run => {
                    // A real stop would accept it (docs/design.md rule 2).
                    self.dry_run_passed(o, request_id.clone()).await
                }
                Some(o) if o.state == InstanceState::Stopping => {
                    self.accepted(o, request_id.clone(), true).await
                }
                Some(o) if o.state == InstanceState::Running => candidates.push(o.clone()),
                Some(o) => self.wrong_state(o).await,
            }
        }
        if candidates.is_empty() {
            return;
        }
        if self.req.dry_run && !self.caps.native_dry_run {
            self.local_dry_run(&candidates).await;
            return;
        }
        for group in candidates.chunks(self.caps.stop_batch) {
            self.stop_group(group.to_vec(), self.first_mode()).await;
        }
    }

    /// Tencent has no dry run (docs/vendors/tencent.md, §6 item 15): predict from what the read showed.
    async fn local_dry_run(&self, candidates: &[Observed]) {
        for o in candidates {
            if let Some(lock) = &o.lock {
                let mut e = StopError::local(
                    ErrorKind::FailedPrecondition,
                    "INSTANCE_LOCKED",
                    format!(
                        "instance {} is restricted ({lock}); a stop would be refused",
                        o.id
                    ),
                );
                e.provider = Some(self.req.provider);
                self.fail(&o.id, Some(o), e).await;
            } else if self.req.billing == Billing::StopCharging
                && o.can_stop_charging == Some(false)
            {
                let mut e = StopError::local(
                    ErrorKind::FailedPrecondition,
                    "STOP_CHARGING_UNSUPPORTED",
                    format!(
                        "instance {} is not pay-as-you-go; {} would refuse STOP_CHARGING: use BILLING_KEEP_CHARGING",
                        o.id, self.req.provider
                    ),
                );
                e.provider = Some(self.req.provider);
                self.fail(&o.id, Some(o), e).await;
            } else {
                self.dry_run_passed(o, None).await;
            }
        }
    }

    /// Sends one stop call for `group`, splitting it on an instance-scoped whole-call error.
    pub fn stop_group<'b>(
        &'b self,
        group: Vec<Observed>,
        mode: StopMode,
    ) -> crate::provider::BoxFuture<'b, ()> {
        self.stop_group_round(group, mode, 0)
    }

    /// `stop_group`, `round` being how many times these instances were re-sent.
    fn stop_group_round<'b>(
        &'b self,
        group: Vec<Observed>,
        mode: StopMode,
        round: u32,
    ) -> crate::provider::BoxFuture<'b, ()> {
        Box::pin(async move {
            if group.is_empty() || self.ledger.is_closed() {
                return;
            }
            let ids: Vec<String> = group.iter().map(|o| o.id.clone()).collect();
            let call = StopCall {
                ids: &ids,
                mode,
                billing: self.req.billing,
                confirm_local_disk: self.req.confirm_local_disk,
                dry_run: self.req.dry_run,
                all_or_nothing: false,
            };
            let action = self.adapter.actions().stop;
            let stop = || self.adapter.stop(self.scope, &call);
            if !self.req.dry_run && !self.ledger.sending(&ids).await {
                return;
            }
            // A dry run changes nothing, so its lost answers are simply asked again.
            let answer = if self.req.dry_run {
                self.caller.run(action, stop).await
            } else {
                self.caller.run_stop(action, &ids, round, stop).await
            };
            match answer {
                Ok(StopAnswer::Accepted { request_id }) => {
                    self.ledger
                        .sent(&ids, request_id.as_deref(), self.watch_budget())
                        .await;
                    for o in &group {
                        self.accepted(o, request_id.clone(), false).await;
                    }
                }
                Ok(StopAnswer::DryRunPassed { request_id }) => {
                    for o in &group {
                        self.dry_run_passed(o, request_id.clone()).await;
                    }
                }
                Ok(StopAnswer::PerInstance {
                    results,
                    request_id,
                }) => {
                    let accepted: Vec<String> = results
                        .iter()
                        .filter(|(_, r)| r.is_ok())
                        .map(|(id, _)| id.clone())
                        .collect();
                    self.ledger
                        .sent(&accepted, request_id.as_deref(), self.watch_budget())
                        .await;
                    let mut answered: HashMap<String, Result<(), StopError>> =
                        results.into_iter().collect();
                    let mut recheck = Vec::new();
                    let mut again = Vec::new();
                    for o in &group {
                        match answered.remove(&o.id) {
                            Some(Ok(())) => self.accepted(o, request_id.clone(), false).await,
                            Some(Err(e)) if e.is(Reason::InstanceState) => {
                                recheck.push((o.clone(), e))
                            }
                            // A per-instance temporary error inside a 200 answer (SuccessFirst):
                            // re-send that instance, as the caller would retry a whole call.
                            Some(Err(e)) if e.is_retryable() => again.push((o.clone(), e)),
                            Some(Err(e)) => self.fail(&o.id, Some(o), e).await,
                            None => {
                                let mut e = StopError::local(
                                    ErrorKind::Internal,
                                    "VENDOR_INCOMPLETE_ANSWER",
                                    format!(
                                        "{} StopInstances did not report instance {}; check its state and stop it again",
                                        self.req.provider, o.id
                                    ),
                                );
                                e.vendor_request_id = request_id.clone();
                                self.fail(&o.id, Some(o), e).await;
                            }
                        }
                    }
                    self.recheck(recheck).await;
                    if let Some((_, why)) = again
                        .iter()
                        .max_by_key(|(_, e)| (e.is_throttling(), e.retry_after))
                        .cloned()
                    {
                        self.resend(again, mode, round + 1, why).await;
                    }
                }
                Err(e) if e.may_have_applied() && !self.req.dry_run => {
                    self.after_lost_answer(group, mode, round + 1, e).await;
                }
                // One instance left, a temporary instance-level refusal (e.g. Tencent
                // OperationDenied.InstanceOperationInProgress): re-send it alone.
                Err(e) if group.len() == 1 && e.is_retryable() => {
                    let retry = group.into_iter().map(|o| (o, e.clone())).collect();
                    self.resend(retry, mode, round + 1, e).await;
                }
                Err(e) if group.len() > 1 && self.should_split(&e) => {
                    // One code for the whole call (Tencent, or an Alibaba AllTogether dry run):
                    // split to find the instance(s).
                    let mut left = group;
                    let right = left.split_off(left.len() / 2);
                    self.stop_group_round(left, mode, round).await;
                    self.stop_group_round(right, mode, round).await;
                }
                Err(e) if e.is(Reason::InstanceState) && !self.req.dry_run => {
                    self.recheck(group.into_iter().map(|o| (o, e.clone())).collect())
                        .await;
                }
                Err(e) => {
                    for o in &group {
                        self.fail(&o.id, Some(o), e.clone()).await;
                    }
                }
            }
        })
    }

    /// Re-sends the stop of `items` (each with the error that refused it) through the
    /// request's retry gate; those it refuses fail with their own error.
    async fn resend(
        &self,
        items: Vec<(Observed, StopError)>,
        mode: StopMode,
        round: u32,
        why: StopError,
    ) {
        if self
            .caller
            .pause_to_resend(self.adapter.actions().stop, round, &why)
            .await
        {
            let group = items.into_iter().map(|(o, _)| o).collect();
            self.stop_group_round(group, mode, round).await;
        } else {
            for (o, e) in items {
                self.fail(&o.id, Some(&o), self.caller.give_up(e, round))
                    .await;
            }
        }
    }

    /// The answer to a stop call was lost (the connection dropped, a 5xx, an unreadable body):
    /// the vendor may or may not have stopped the instances. Reads them and reports the truth:
    /// stopping or stopped is the stop accepted; still running is sent again.
    async fn after_lost_answer(
        &self,
        group: Vec<Observed>,
        mode: StopMode,
        round: u32,
        error: StopError,
    ) {
        let ids: Vec<String> = group.iter().map(|o| o.id.clone()).collect();
        let (seen, request_id) = match self.describe(&ids).await {
            Ok(read) => read,
            Err(read) => {
                let error = self.caller.give_up(error, round).with_message(|m| {
                    format!(
                        "{m}; whether the stop was applied is unknown, because reading the instance also failed ({}): check its state",
                        read.message
                    )
                });
                for o in &group {
                    self.fail(&o.id, Some(o), error.clone()).await;
                }
                return;
            }
        };
        let mut again = Vec::new();
        for before in group {
            match seen.get(&before.id) {
                Some(now)
                    if matches!(now.state, InstanceState::Stopping | InstanceState::Stopped) =>
                {
                    self.applied(&before, now, request_id.clone()).await
                }
                Some(now) if now.state == InstanceState::Running => {
                    again.push((before, error.clone()))
                }
                Some(now) => self.fail(&before.id, Some(now), error.clone()).await,
                None => self.not_found(&before.id, request_id.clone()).await,
            }
        }
        if !again.is_empty() {
            self.resend(again, mode, round, error).await;
        }
    }

    /// A stop whose answer was lost turned out applied: `now` is stopping or stopped.
    async fn applied(&self, before: &Observed, now: &Observed, request_id: Option<String>) {
        if self.req.wait.is_some() || self.emulates_force() {
            let mut tracked = Tracked::new(before.clone(), request_id, self.emulates_force());
            tracked.observed(now.clone());
            self.tracked
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(tracked);
        } else if now.state == InstanceState::Stopping {
            self.accepted(before, request_id, false).await
        } else {
            self.ledger
                .result(InstanceResult {
                    instance_id: before.id.clone(),
                    outcome: InstanceOutcome::Stopped,
                    previous: state_of(before),
                    current: state_of(now),
                    vendor_request_id: request_id,
                    billing: Some(now.billing.unwrap_or(Billing::Unknown)),
                    error: None,
                    forced: false,
                    region: None,
                })
                .await;
        }
    }

    /// Whether a whole-call error should be narrowed down by splitting the batch: the vendor
    /// blamed an instance, or a dry run (one AllTogether call) failed a precondition that may
    /// belong to one instance only.
    fn should_split(&self, e: &StopError) -> bool {
        e.scope == crate::model::ErrorScope::Instance
            || (self.req.dry_run
                && matches!(
                    e.kind,
                    ErrorKind::FailedPrecondition
                        | ErrorKind::NotFound
                        | ErrorKind::InvalidArgument
                        | ErrorKind::Aborted
                ))
    }

    /// A state error may mean the instance stopped since it was read: read it again and report
    /// the truth (docs/design.md rule 2).
    async fn recheck(&self, items: Vec<(Observed, StopError)>) {
        if items.is_empty() {
            return;
        }
        let ids: Vec<String> = items.iter().map(|(o, _)| o.id.clone()).collect();
        let seen = self
            .describe(&ids)
            .await
            .map(|(m, _)| m)
            .unwrap_or_default();
        for (before, error) in items {
            match seen.get(&before.id) {
                Some(now) if now.state == InstanceState::Stopped => {
                    let mut r = now.clone();
                    r.state = InstanceState::Stopped;
                    self.already_stopped(&r, error.vendor_request_id.clone())
                        .await
                }
                Some(now) if now.state == InstanceState::Stopping => {
                    self.accepted(now, error.vendor_request_id.clone(), true)
                        .await
                }
                Some(now) => self.fail(&before.id, Some(now), error).await,
                None => self.fail(&before.id, Some(&before), error).await,
            }
        }
    }

    /// All-or-nothing: check everything first, then one call (docs/design.md rule 3, last sentence).
    async fn all_or_nothing(&self) {
        let ids = &self.req.ids;
        let (seen, request_id) = match self.first_read(ids).await {
            Ok(answer) => answer,
            Err(error) => return self.ledger.fail_remaining(&error).await,
        };
        let mut culprit: Option<(String, StopError)> = None;
        for id in ids {
            let problem = match seen.get(id) {
                None => Some(StopError::local(
                    ErrorKind::NotFound,
                    "INSTANCE_NOT_FOUND",
                    format!("instance {id} was not found in {}", self.req.region),
                )),
                Some(o)
                    if !matches!(
                        o.state,
                        InstanceState::Running | InstanceState::Stopped | InstanceState::Stopping
                    ) =>
                {
                    Some(StopError::local(
                        ErrorKind::FailedPrecondition,
                        Reason::InstanceState.as_str(),
                        format!(
                            "instance {id} is {}; only running instances can be stopped",
                            o.raw_state
                        ),
                    ))
                }
                _ => None,
            };
            if let Some(problem) = problem {
                culprit = Some((id.clone(), problem));
                break;
            }
        }
        if let Some((id, error)) = culprit {
            return self.abort_all(&seen, &id, error).await;
        }
        let running: Vec<Observed> = ids
            .iter()
            .filter_map(|id| seen.get(id))
            .filter(|o| o.state == InstanceState::Running)
            .cloned()
            .collect();
        if self.req.dry_run && !self.caps.native_dry_run {
            if let Some(o) = running.iter().find(|o| {
                o.lock.is_some()
                    || (self.req.billing == Billing::StopCharging
                        && o.can_stop_charging == Some(false))
            }) {
                let e = StopError::local(
                    ErrorKind::FailedPrecondition,
                    "INSTANCE_LOCKED",
                    format!("instance {} would be refused ({:?})", o.id, o.lock),
                );
                return self.abort_all(&seen, &o.id.clone(), e).await;
            }
        }
        for id in ids {
            if let Some(o) = seen.get(id) {
                match o.state {
                    InstanceState::Stopped => self.already_stopped(o, request_id.clone()).await,
                    InstanceState::Stopping if self.req.dry_run => {
                        self.dry_run_passed(o, request_id.clone()).await
                    }
                    InstanceState::Stopping => self.accepted(o, request_id.clone(), true).await,
                    _ => {}
                }
            }
        }
        if running.is_empty() {
            return;
        }
        if self.req.dry_run && !self.caps.native_dry_run {
            for o in &running {
                self.dry_run_passed(o, None).await;
            }
            return;
        }
        let run_ids: Vec<String> = running.iter().map(|o| o.id.clone()).collect();
        let call = StopCall {
            ids: &run_ids,
            mode: self.first_mode(),
            billing: self.req.billing,
            confirm_local_disk: self.req.confirm_local_disk,
            dry_run: self.req.dry_run,
            all_or_nothing: true,
        };
        let action = self.adapter.actions().stop;
        if !self.req.dry_run && !self.ledger.sending(&run_ids).await {
            return;
        }
        let mut round = 0;
        loop {
            let stop = || self.adapter.stop(self.scope, &call);
            let answer = if self.req.dry_run {
                self.caller.run(action, stop).await
            } else {
                self.caller.run_stop(action, &run_ids, round, stop).await
            };
            match answer {
                Ok(StopAnswer::DryRunPassed { request_id }) => {
                    for o in &running {
                        self.dry_run_passed(o, request_id.clone()).await;
                    }
                }
                Ok(StopAnswer::Accepted { request_id })
                | Ok(StopAnswer::PerInstance { request_id, .. }) => {
                    self.ledger
                        .sent(&run_ids, request_id.as_deref(), self.watch_budget())
                        .await;
                    for o in &running {
                        self.accepted(o, request_id.clone(), false).await;
                    }
                }
                Err(error) if error.may_have_applied() && !self.req.dry_run => {
                    round += 1;
                    if !self.all_or_nothing_lost(&running, &error, round).await {
                        return;
                    }
                    if self.caller.pause_to_resend(action, round, &error).await {
                        continue;
                    }
                    let error = self.caller.give_up(error, round);
                    for o in &running {
                        self.fail(&o.id, Some(o), error.clone()).await;
                    }
                }
                Err(error) => {
                    let error = error.with_message(|m: &str| {
                        format!(
                            "all_or_nothing: the vendor refused the one call for all instances: {m}"
                        )
                    });
                    for o in &running {
                        self.fail(&o.id, Some(o), error.clone()).await;
                    }
                }
            }
            return;
        }
    }

    /// The answer to the one all-or-nothing stop was lost: reads the instances and reports
    /// those the stop reached. Returns true when none was reached and all still run, so that
    /// the call may be sent again as it was; otherwise every instance has its result.
    async fn all_or_nothing_lost(
        &self,
        running: &[Observed],
        error: &StopError,
        round: u32,
    ) -> bool {
        let ids: Vec<String> = running.iter().map(|o| o.id.clone()).collect();
        let (seen, request_id) = match self.describe(&ids).await {
            Ok(read) => read,
            Err(read) => {
                let error = self.caller.give_up(error.clone(), round).with_message(|m| {
                    format!(
                        "{m}; whether the stop was applied is unknown, because reading the instances also failed ({}): check their state",
                        read.message
                    )
                });
                for o in running {
                    self.fail(&o.id, Some(o), error.clone()).await;
                }
                return false;
            }
        };
        let untouched = running.iter().all(|o| {
            seen.get(&o.id)
                .is_some_and(|now| now.state == InstanceState::Running)
        });
        if untouched {
            return true;
        }
        for before in running {
            match seen.get(&before.id) {
                Some(now)
                    if matches!(now.state, InstanceState::Stopping | InstanceState::Stopped) =>
                {
                    self.applied(before, now, request_id.clone()).await
                }
                now => {
                    let error = self.caller.give_up(error.clone(), round);
                    self.fail(&before.id, now.or(Some(before)), error).await
                }
            }
        }
        false
    }

    async fn abort_all(&self, seen: &HashMap<String, Observed>, culprit: &str, error: StopError) {
        let mut error = error;
        error.provider = Some(self.req.provider);
        let aborted = StopError::local(
            ErrorKind::Aborted,
            "ALL_OR_NOTHING_ABORTED",
            format!(
                "not stopped: all_or_nothing was set and instance {culprit} cannot be stopped ({})",
                error.message
            ),
        );
        self.fail(culprit, seen.get(culprit), error).await;
        for id in &self.req.ids {
            if id != culprit {
                self.fail(id, seen.get(id), aborted.clone()).await;
            }
        }
    }

    /// Reports the billing mode that took effect on Alibaba, read once after the stop.
    async fn report_billing(&self) {
        let items =
            std::mem::take(&mut *self.billing_check.lock().unwrap_or_else(|p| p.into_inner()));
        for batch in items.chunks(self.caps.describe_batch) {
            let ids: Vec<String> = batch.iter().map(|(o, _)| o.id.clone()).collect();
            let seen = self
                .describe(&ids)
                .await
                .map(|(m, _)| m)
                .unwrap_or_default();
            for (o, request_id) in batch {
                let billing = seen.get(&o.id).and_then(|now| now.billing);
                self.stop_accepted(o, request_id.clone(), billing, false)
                    .await;
            }
        }
    }

    /// Runs the whole request.
    pub async fn execute(&self, concurrency: usize) {
        if self.req.all_or_nothing {
            self.all_or_nothing().await;
        } else {
            futures::stream::iter(self.req.ids.chunks(self.caps.describe_batch))
                .for_each_concurrent(concurrency.max(1), |chunk| self.chunk(chunk))
                .await;
        }
        self.report_billing().await;
        let tracked = std::mem::take(&mut *self.tracked.lock().unwrap_or_else(|p| p.into_inner()));
        if !tracked.is_empty() {
            wait::watch(&self.watch(), tracked).await;
        }
    }
}

/// Shared handle used by the service layer.
pub type SharedLedger = Arc<InstanceLedger>;
