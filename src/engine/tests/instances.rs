//! StopInstances: retries and their budget, lost answers, bisection, deadlines.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::fake::{self, DESCRIBE, Fake, Phase, STOP};
use super::{config, ids, stop, stop_request};
use crate::engine::call::BudgetSettings;
use crate::model::{InstanceOutcome, InstanceState, RetryClass};
use crate::provider::classes;

fn outcome_count(
    d: &super::Delivered<crate::engine::stop_instances::InstanceResult>,
    o: InstanceOutcome,
) -> usize {
    d.results.values().filter(|r| r.outcome == o).count()
}

#[tokio::test(start_paused = true)]
async fn transient_failures_are_retried_and_counted_in_the_summary() {
    let fake = Arc::new(Fake::new(false));
    let all = ids("ins", 3);
    fake.running(&all);
    fake.fault(DESCRIBE, Phase::Before, fake::unavailable(), 2);
    let d = stop(&fake, config(), stop_request(&all), None).await;
    assert_eq!(outcome_count(&d, InstanceOutcome::StopAccepted), 3, "{d:?}");
    let summary = d.summary.clone().expect("summary");
    assert_eq!(summary.retries, 2);
    assert_eq!(summary.vendor_calls, 4, "3 reads and one stop");
}

#[tokio::test(start_paused = true)]
async fn permanent_errors_are_never_retried() {
    let fake = Arc::new(Fake::new(false));
    let all = ids("ins", 2);
    fake.running(&all);
    fake.fault(DESCRIBE, Phase::Before, fake::auth_failed(), 1);
    let d = stop(&fake, config(), stop_request(&all), None).await;
    assert_eq!(fake.calls(DESCRIBE), 1);
    assert_eq!(outcome_count(&d, InstanceOutcome::Failed), 2);
    let error = d.results["ins-0"].error.clone().unwrap();
    assert_eq!(error.reason, "AUTH_FAILED");
    assert_eq!(error.retry, RetryClass::Permanent);
    assert_eq!(d.summary.unwrap().retries, 0);
}

#[tokio::test(start_paused = true)]
async fn the_budget_bounds_the_retries_of_a_failing_vendor() {
    let fake = Arc::new(Fake::new(false));
    let all = ids("ins", 40);
    fake.running(&all);
    fake.fault(DESCRIBE, Phase::Before, fake::unavailable(), u32::MAX);
    let mut config = config();
    config.retry_budget = BudgetSettings {
        initial: 5.0,
        per_success: 1.0,
        max: 100.0,
    };
    let d = stop(&fake, config, stop_request(&all), None).await;
    let summary = d.summary.clone().expect("summary");
    assert_eq!(summary.retries, 5, "only the budget's retries");
    // Five describe-sized chunks: one attempt each plus the five retries.
    assert_eq!(fake.calls(DESCRIBE), 10);
    assert_eq!(outcome_count(&d, InstanceOutcome::Failed), 40);
    let error = d.results["ins-0"].error.clone().unwrap();
    assert_eq!(error.retry, RetryClass::Persistent, "{error:?}");
    assert_eq!(error.vendor_code.as_deref(), Some("HTTP_5XX"));
    assert!(error.message.contains("retry budget is spent"), "{error:?}");
}

#[tokio::test(start_paused = true)]
async fn successful_calls_earn_retries() {
    let fake = Arc::new(Fake::new(false));
    let all = ids("ins", 4);
    fake.running(&all);
    // No retry in hand at first: the read succeeds and earns one, which the stop then uses.
    fake.fault(
        STOP,
        Phase::Before,
        fake::vendor_error(classes::THROTTLED, "RequestLimitExceeded"),
        1,
    );
    let mut config = config();
    config.retry_budget = BudgetSettings {
        initial: 0.0,
        per_success: 1.0,
        max: 10.0,
    };
    let d = stop(&fake, config, stop_request(&all), None).await;
    assert_eq!(outcome_count(&d, InstanceOutcome::StopAccepted), 4, "{d:?}");
    assert_eq!(d.summary.unwrap().retries, 1);
}

#[tokio::test(start_paused = true)]
async fn per_instance_resends_go_through_the_budget_and_are_counted() {
    // Alibaba-like: one instance busy inside a 200 answer, twice.
    let fake = Arc::new(Fake::new(true));
    let all = ids("i", 3);
    fake.running(&all);
    fake.refuse("i-1", fake::in_progress());
    let mut config = config();
    config.retry_budget = BudgetSettings {
        initial: 2.0,
        per_success: 0.0,
        max: 2.0,
    };
    let d = stop(&fake, config, stop_request(&all), None).await;
    assert_eq!(outcome_count(&d, InstanceOutcome::StopAccepted), 2);
    let failed = &d.results["i-1"];
    assert_eq!(failed.outcome, InstanceOutcome::Failed);
    assert_eq!(failed.error.as_ref().unwrap().retry, RetryClass::Persistent);
    assert_eq!(d.summary.unwrap().retries, 2, "both re-sends counted");
    assert_eq!(
        fake.calls(STOP),
        3,
        "the first call and the budget's two re-sends"
    );
}

#[tokio::test(start_paused = true)]
async fn a_stop_applied_but_unanswered_is_accepted_not_failed_and_not_resent() {
    for per_instance in [false, true] {
        let fake = Arc::new(Fake::new(per_instance));
        let all = ids("ins", 4);
        fake.running(&all);
        fake.fault(STOP, Phase::After, fake::unavailable(), 1);
        let d = stop(&fake, config(), stop_request(&all), None).await;
        assert!(d.repeated.is_empty());
        assert_eq!(outcome_count(&d, InstanceOutcome::Failed), 0, "{d:?}");
        assert_eq!(d.results.len(), 4);
        assert_eq!(fake.calls(STOP), 1, "an applied stop is not sent again");
        for id in &all {
            assert_ne!(fake.state(id), Some(InstanceState::Running));
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_stop_lost_before_the_vendor_is_sent_again_after_a_read() {
    let fake = Arc::new(Fake::new(false));
    let all = ids("ins", 4);
    fake.running(&all);
    fake.fault(STOP, Phase::Before, fake::unavailable(), 1);
    let d = stop(&fake, config(), stop_request(&all), None).await;
    assert_eq!(outcome_count(&d, InstanceOutcome::StopAccepted), 4, "{d:?}");
    assert_eq!(fake.calls(STOP), 2);
    assert_eq!(
        fake.calls(DESCRIBE),
        2,
        "the first read, and the one after the lost answer"
    );
    assert_eq!(d.summary.unwrap().retries, 1);
}

#[tokio::test(start_paused = true)]
async fn a_lost_answer_whose_read_fails_too_says_the_outcome_is_unknown() {
    let fake = Arc::new(Fake::new(false));
    let all = ids("ins", 1);
    fake.running(&all);
    fake.fault(STOP, Phase::After, fake::unavailable(), 1);
    // The first read succeeds; every later one fails for good.
    fake.fault_after(DESCRIBE, 1, Phase::Before, fake::auth_failed(), u32::MAX);
    let d = stop(&fake, config(), stop_request(&all), None).await;
    assert_eq!(fake.state("ins-0"), Some(InstanceState::Stopping));
    let result = &d.results["ins-0"];
    assert_eq!(result.outcome, InstanceOutcome::Failed);
    let error = result.error.as_ref().unwrap();
    assert!(
        error
            .message
            .contains("whether the stop was applied is unknown"),
        "{error:?}"
    );
    assert_eq!(error.vendor_code.as_deref(), Some("HTTP_5XX"));
    assert_eq!(fake.calls(STOP), 1, "never sent again without knowing");
}

#[tokio::test(start_paused = true)]
async fn bisection_isolates_the_refused_instance() {
    let fake = Arc::new(Fake::new(false));
    let all = ids("ins", 4);
    fake.running(&all);
    fake.refuse(
        "ins-2",
        fake::vendor_error(classes::INSTANCE_LOCKED, "InvalidInstanceState.Freezing"),
    );
    let d = stop(&fake, config(), stop_request(&all), None).await;
    assert_eq!(outcome_count(&d, InstanceOutcome::StopAccepted), 3, "{d:?}");
    assert_eq!(d.results["ins-2"].outcome, InstanceOutcome::Failed);
    assert_eq!(
        d.results["ins-2"].error.as_ref().unwrap().reason,
        "INSTANCE_LOCKED"
    );
    // [0,1,2,3] refused → [0,1] ok, [2,3] refused → [2] refused, [3] ok.
    assert_eq!(fake.calls(STOP), 5);
}

#[tokio::test(start_paused = true)]
async fn a_deadline_mid_work_still_answers_every_instance_and_sends_the_summary() {
    let fake = Arc::new(Fake::new(false));
    let all = ids("ins", 200);
    fake.running(&all);
    // A slow vendor: 25 chunks of two calls each cannot all be done in time.
    fake.slow(Duration::from_secs(2));
    let deadline = Instant::now() + Duration::from_secs(5);
    let d = stop(&fake, config(), stop_request(&all), Some(deadline)).await;
    assert!(d.repeated.is_empty());
    assert_eq!(d.results.len(), 200);
    assert!(d.summary.is_some());
    assert!(
        Instant::now() < deadline,
        "everything was sent before the caller's deadline"
    );
    let deadline_exceeded = d
        .results
        .values()
        .filter(|r| {
            r.error
                .as_ref()
                .is_some_and(|e| e.reason == "DEADLINE_EXCEEDED")
        })
        .count();
    assert!(deadline_exceeded > 0, "the deadline cut the work");
    assert!(
        d.results
            .values()
            .any(|r| r.outcome == InstanceOutcome::StopAccepted),
        "the work was cut mid-way"
    );
}

#[tokio::test(start_paused = true)]
async fn all_or_nothing_whose_answer_is_lost_reports_what_the_vendor_did() {
    let fake = Arc::new(Fake::new(true));
    let all = ids("i", 3);
    fake.running(&all);
    fake.fault(STOP, Phase::After, fake::unavailable(), 1);
    let mut request = stop_request(&all);
    request.all_or_nothing = true;
    let d = stop(&fake, config(), request, None).await;
    assert_eq!(outcome_count(&d, InstanceOutcome::Failed), 0, "{d:?}");
    assert_eq!(d.results.len(), 3);
    assert_eq!(fake.calls(STOP), 1);
}

#[tokio::test(start_paused = true)]
async fn a_dropped_request_makes_no_further_vendor_call() {
    let fake = Arc::new(Fake::new(false));
    let all = ids("ins", 100);
    fake.running(&all);
    fake.slow(Duration::from_secs(1));
    let engine = crate::engine::Engine::with_adapter(config(), fake.clone());
    // The stream stays open: only dropping the request may end the work.
    let (tx, _rx) = tokio::sync::mpsc::channel(1000);
    let ledger = Arc::new(crate::engine::ledger::Ledger::new(
        all.clone(),
        all.len(),
        tx,
    ));
    let request = stop_request(&all);
    let running = tokio::spawn(async move { engine.stop_instances(request, ledger, None).await });
    tokio::time::sleep(Duration::from_millis(1500)).await;
    running.abort();
    assert!(running.await.unwrap_err().is_cancelled());
    let made = fake.calls(DESCRIBE) + fake.calls(STOP);
    assert!(made > 0);
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert_eq!(fake.calls(DESCRIBE) + fake.calls(STOP), made);
}

#[tokio::test(start_paused = true)]
async fn a_taken_over_operation_reads_first_and_never_resends_an_accepted_stop() {
    let fake = Arc::new(Fake::new(false));
    // Accepted by the earlier owner: one still stopping, one already stopped, one still running
    // (its stop accepted, not yet applied). Being sent when the owner died: one that took it,
    // one that did not. And one the earlier owner never reached.
    let [
        stopping,
        stopped,
        accepted_running,
        sent_applied,
        sent_lost,
        untouched,
    ] = ["ins-a", "ins-b", "ins-c", "ins-d", "ins-e", "ins-f"].map(String::from);
    fake.running(&[
        accepted_running.clone(),
        sent_lost.clone(),
        untouched.clone(),
    ]);
    fake.set(&stopping, InstanceState::Stopping);
    fake.set(&stopped, InstanceState::Stopped);
    fake.set(&sent_applied, InstanceState::Stopping);
    let mut request = stop_request(&[
        stopping.clone(),
        stopped.clone(),
        accepted_running.clone(),
        sent_applied.clone(),
        sent_lost.clone(),
        untouched.clone(),
    ]);
    request.sent = [
        (stopping.clone(), "rid-1".to_string()),
        (stopped.clone(), "rid-1".to_string()),
        (accepted_running.clone(), "rid-1".to_string()),
        (sent_applied.clone(), String::new()),
        (sent_lost.clone(), String::new()),
    ]
    .into_iter()
    .collect();
    let d = stop(&fake, config(), request, None).await;
    let outcome = |id: &str| d.results[id].outcome;
    assert_eq!(outcome(&stopping), InstanceOutcome::StopAccepted);
    assert_eq!(
        d.results[&stopping].vendor_request_id.as_deref(),
        Some("rid-1")
    );
    assert_eq!(outcome(&stopped), InstanceOutcome::Stopped, "{d:?}");
    assert_eq!(outcome(&accepted_running), InstanceOutcome::StopAccepted);
    assert_eq!(outcome(&sent_applied), InstanceOutcome::StopAccepted);
    assert_eq!(outcome(&sent_lost), InstanceOutcome::StopAccepted);
    assert_eq!(outcome(&untouched), InstanceOutcome::StopAccepted);
    // One stop call, for the two instances no stop had reached.
    assert_eq!(fake.calls(STOP), 1);
    assert_eq!(fake.state(&accepted_running), Some(InstanceState::Running));
    assert_eq!(fake.state(&sent_lost), Some(InstanceState::Stopping));
    assert_eq!(fake.state(&untouched), Some(InstanceState::Stopping));
}
