//! Watching accepted stops (docs/design.md rule 7): batched describes at a jittered interval, a
//! progress event per observed transition, one result per instance when it is terminal or when
//! the timeout passes. Also drives Alibaba's emulated graceful-then-force (rule 5): an instance
//! whose graceful stop failed (Running again) or that is still stopping after
//! `graceful_timeout` is force-stopped.

use std::collections::HashMap;
use std::time::Duration;

use super::call::Caller;
use super::instance_result::{InstanceLedger, InstanceProgress, InstanceResult};
use super::request::ValidStop;
use crate::model::{
    Billing, ErrorKind, InstanceOutcome, InstanceState, Reason, RetryClass, StopError, StopMode,
};
use crate::provider::{Adapter, Capabilities, Scope};
use crate::provider::{Observed, StopAnswer, StopCall};

/// What a wait needs of the request it belongs to.
pub(crate) struct Watch<'a> {
    pub adapter: &'a dyn Adapter,
    pub scope: Scope<'a>,
    pub caller: &'a Caller,
    pub ledger: &'a InstanceLedger,
    pub req: &'a ValidStop,
    pub caps: Capabilities,
    /// How often to poll.
    pub poll: Duration,
}

impl Watch<'_> {
    async fn describe(&self, ids: &[String]) -> Result<HashMap<String, Observed>, StopError> {
        let described = self
            .caller
            .run(self.adapter.actions().describe, || {
                self.adapter.describe(self.scope, ids)
            })
            .await?;
        Ok(described
            .instances
            .into_iter()
            .map(|o| (o.id.clone(), o))
            .collect())
    }
}

/// One accepted stop being watched.
#[derive(Debug, Clone)]
pub struct Tracked {
    /// As read before the stop.
    before: Observed,
    /// As last observed.
    last: Observed,
    request_id: Option<String>,
    /// Alibaba graceful-then-force: the force phase may still be needed.
    may_force: bool,
    forced: bool,
    /// How many times the force was sent again after its answer was lost.
    force_round: u32,
    /// The last force's answer was lost: the next read tells whether it was applied.
    force_unknown: bool,
}

impl Tracked {
    pub fn new(before: Observed, request_id: Option<String>, may_force: bool) -> Tracked {
        Tracked {
            last: before.clone(),
            before,
            request_id,
            may_force,
            forced: false,
            force_round: 0,
            force_unknown: false,
        }
    }

    /// Notes what a read showed.
    pub fn observed(&mut self, now: Observed) {
        self.last = now;
    }
}

/// What happens to a watched instance after one observation.
enum Step {
    Keep,
    Force,
    Done(Box<InstanceResult>),
}

fn result(
    t: &Tracked,
    outcome: InstanceOutcome,
    billing: Option<Billing>,
    error: Option<StopError>,
) -> InstanceResult {
    InstanceResult {
        instance_id: t.before.id.clone(),
        outcome,
        previous: Some((t.before.state, t.before.raw_state.clone())),
        current: Some((t.last.state, t.last.raw_state.clone())),
        vendor_request_id: error
            .as_ref()
            .and_then(|e| e.vendor_request_id.clone())
            .or_else(|| t.request_id.clone()),
        billing,
        error,
        forced: t.forced,
        region: None,
    }
}

fn stop_failed(run: &Watch<'_>, t: &Tracked, why: String) -> InstanceResult {
    let mut e = StopError::local(ErrorKind::FailedPrecondition, "STOP_FAILED", why);
    e.provider = Some(run.req.provider);
    e.vendor_message = t.last.stop_failed.clone();
    e.vendor_request_id = t.request_id.clone();
    result(t, InstanceOutcome::Failed, None, Some(e))
}

/// Tencent: the instance's last StopInstances FAILED, and it is ours (an older failure on the
/// same instance does not count: docs/vendors/tencent.md, §6 item 7, match `LatestOperationRequestId`).
fn this_stop_failed(t: &Tracked) -> bool {
    t.last.stop_failed.is_some()
        && match (&t.last.operation_request_id, &t.request_id) {
            (Some(theirs), Some(ours)) => theirs == ours,
            _ => true,
        }
}

fn decide(run: &Watch<'_>, t: &Tracked, waiting: bool) -> Step {
    let now = &t.last;
    match now.state {
        InstanceState::Stopped => {
            let billing = now.billing.or(match run.req.billing {
                Billing::StopCharging | Billing::KeepCharging
                    if run.caps.refuses_unsupported_stop_charging =>
                {
                    Some(run.req.billing)
                }
                _ => None,
            });
            Step::Done(Box::new(result(
                t,
                InstanceOutcome::Stopped,
                Some(billing.unwrap_or(Billing::Unknown)),
                None,
            )))
        }
        // Alibaba refuses to force an instance that is still stopping ("expected status is in
        // (Running)", docs/vendors/alibaba.md, §2.1), so the emulated force waits for the graceful stop to
        // fail (running again).
        InstanceState::Running if t.may_force && !t.forced => Step::Force,
        InstanceState::Running
            if this_stop_failed(t) || !run.caps.native_graceful_then_force || t.forced =>
        {
            let why = match &now.stop_failed {
                Some(msg) => format!(
                    "{} reports the stop of {} FAILED: {msg}; retry with STOP_MODE_FORCE or STOP_MODE_GRACEFUL_THEN_FORCE",
                    run.req.provider, now.id
                ),
                None => format!(
                    "the stop of {} did not complete: it is running again (the guest ignored the shutdown); retry with STOP_MODE_FORCE or STOP_MODE_GRACEFUL_THEN_FORCE",
                    now.id
                ),
            };
            Step::Done(Box::new(stop_failed(run, t, why)))
        }
        _ if !waiting && t.forced => {
            // Graceful-then-force without wait: the force was accepted; that is the result.
            Step::Done(Box::new(result(
                t,
                InstanceOutcome::StopAccepted,
                Some(t.last.billing.unwrap_or(Billing::Unknown)),
                None,
            )))
        }
        _ => Step::Keep,
    }
}

/// Force-stops `group` (Alibaba's emulated second phase). Instances the vendor refuses for
/// their state (still stopping) stay watched.
async fn force(run: &Watch<'_>, group: &mut [&mut Tracked]) {
    let ids: Vec<String> = group.iter().map(|t| t.before.id.clone()).collect();
    for t in group.iter() {
        run.ledger
            .progress(InstanceProgress {
                instance_id: t.before.id.clone(),
                state: t.last.state,
                raw_state: t.last.raw_state.clone(),
                message: "graceful stop did not finish; forcing".to_string(),
                region: run.req.region.clone(),
            })
            .await;
    }
    let call = StopCall {
        ids: &ids,
        mode: StopMode::Force,
        billing: run.req.billing,
        confirm_local_disk: run.req.confirm_local_disk,
        dry_run: false,
        all_or_nothing: false,
    };
    let action = run.adapter.actions().stop;
    let resent = group.iter().map(|t| t.force_round).max().unwrap_or(0);
    match run
        .caller
        .run_stop(action, &ids, resent, || run.adapter.stop(run.scope, &call))
        .await
    {
        Ok(StopAnswer::PerInstance {
            results,
            request_id,
        }) => {
            for (id, outcome) in results {
                if let Some(t) = group.iter_mut().find(|t| t.before.id == id) {
                    match outcome {
                        Ok(()) => {
                            t.forced = true;
                            t.request_id = request_id.clone();
                        }
                        Err(e) if e.is(Reason::InstanceState) => {}
                        Err(e) => {
                            t.may_force = false;
                            t.forced = true;
                            run.ledger
                                .result(result(t, InstanceOutcome::Failed, None, Some(e)))
                                .await;
                        }
                    }
                }
            }
        }
        Ok(StopAnswer::Accepted { request_id }) | Ok(StopAnswer::DryRunPassed { request_id }) => {
            for t in group.iter_mut() {
                t.forced = true;
                t.request_id = request_id.clone();
            }
        }
        Err(e) if e.may_have_applied() => {
            // The next read tells whether the force was applied; if it was not, the
            // instance is still running and is forced again, through the retry gate.
            for t in group.iter_mut() {
                t.force_round += 1;
                if run.caller.allow_resend(action, t.force_round, &e) {
                    t.force_unknown = true;
                } else {
                    t.may_force = false;
                    t.forced = true;
                    let e = run.caller.give_up(e.clone(), t.force_round);
                    run.ledger
                        .result(result(t, InstanceOutcome::Failed, None, Some(e)))
                        .await;
                }
            }
        }
        Err(e) => {
            for t in group.iter_mut() {
                t.forced = true;
                run.ledger
                    .result(result(t, InstanceOutcome::Failed, None, Some(e.clone())))
                    .await;
            }
        }
    }
}

/// Watches `tracked` until each has its result or the time is up.
pub(crate) async fn watch(run: &Watch<'_>, mut tracked: Vec<Tracked>) {
    let waiting = run.req.wait.is_some();
    // Without wait, only the graceful phase of an emulated graceful-then-force is watched.
    let budget = run.req.wait.unwrap_or(run.req.graceful_timeout);
    let deadline = run.caller.wait_deadline(budget);
    let interval = run.poll;
    let mut last_error: Option<StopError> = None;
    while !tracked.is_empty() && !run.ledger.is_closed() {
        if !super::pace::poll_pause(interval, deadline).await {
            break;
        }
        let mut seen = HashMap::new();
        // Instances whose read failed for good (credentials, permissions): waiting longer
        // cannot help, so they fail now with the vendor's error.
        let mut unreadable = HashMap::new();
        let ids: Vec<String> = tracked.iter().map(|t| t.before.id.clone()).collect();
        for chunk in ids.chunks(run.caps.describe_batch) {
            match run.describe(chunk).await {
                Ok(map) => seen.extend(map),
                Err(e) if e.retry == RetryClass::Permanent => {
                    unreadable.extend(chunk.iter().map(|id| (id.clone(), e.clone())));
                }
                Err(e) => last_error = Some(e),
            }
        }
        let mut to_force = Vec::new();
        let mut still = Vec::new();
        for mut t in tracked {
            if let Some(e) = unreadable.remove(&t.before.id) {
                let e = e.with_message(|m| {
                    format!(
                        "the stop of {} was accepted, but reading its state while waiting failed: {m}",
                        t.before.id
                    )
                });
                run.ledger
                    .result(result(&t, InstanceOutcome::Failed, None, Some(e)))
                    .await;
                continue;
            }
            let Some(now) = seen.remove(&t.before.id) else {
                still.push(t);
                continue;
            };
            if t.force_unknown && now.state != InstanceState::Running {
                // The force whose answer was lost was applied.
                t.forced = true;
            }
            t.force_unknown = false;
            if now.raw_state != t.last.raw_state {
                run.ledger
                    .progress(InstanceProgress {
                        instance_id: now.id.clone(),
                        state: now.state,
                        raw_state: now.raw_state.clone(),
                        message: String::new(),
                        region: run.req.region.clone(),
                    })
                    .await;
            }
            t.last = now;
            match decide(run, &t, waiting) {
                Step::Keep => still.push(t),
                Step::Force => to_force.push(t),
                Step::Done(r) => {
                    run.ledger.result(*r).await;
                }
            }
        }
        if !to_force.is_empty() {
            for chunk in to_force.chunks_mut(run.caps.stop_batch) {
                let mut refs: Vec<&mut Tracked> = chunk.iter_mut().collect();
                force(run, &mut refs).await;
            }
            still.extend(
                to_force
                    .into_iter()
                    .filter(|t| !run.ledger.is_done(&t.before.id)),
            );
        }
        tracked = still;
    }
    for t in tracked {
        let mut e = StopError::local(
            ErrorKind::DeadlineExceeded,
            "WAIT_TIMEOUT",
            format!(
                "{} was still {} when the wait ended; its stop was accepted and may still complete: wait longer or check again",
                t.before.id, t.last.raw_state
            ),
        );
        e.provider = Some(run.req.provider);
        e.vendor_request_id = t.request_id.clone();
        if let Some(last) = &last_error {
            with_last_error(&mut e, last);
        }
        run.ledger
            .result(result(&t, InstanceOutcome::Failed, None, Some(e)))
            .await;
    }
}

/// Attaches the last failed read of a wait to its timeout: the vendor's evidence of why the
/// wait may not have seen the end.
pub(crate) fn with_last_error(timeout: &mut StopError, last: &StopError) {
    timeout.message = format!(
        "{}; the last failed read while waiting: {}",
        timeout.message, last.message
    );
    timeout.vendor_code = last.vendor_code.clone();
    timeout.vendor_message = last.vendor_message.clone();
    timeout.http_status = last.http_status;
}
