//! StopCommandExecution: lost answers and reads that fail.

use std::sync::Arc;
use std::time::Duration;

use super::fake::{self, CANCEL, Fake, Phase, TASKS};
use super::{command_request, config, stop_command};
use crate::model::{CommandOutcome, TaskState};

fn running_tasks(fake: &Fake, n: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            let id = format!("ins-{i}");
            fake.task(&id, TaskState::Running);
            id
        })
        .collect()
}

#[tokio::test(start_paused = true)]
async fn unreadable_tasks_fail_each_named_instance_with_the_evidence_and_a_summary() {
    let fake = Arc::new(Fake::new(false));
    let named = running_tasks(&fake, 3);
    fake.fault(TASKS, Phase::Before, fake::unavailable(), u32::MAX);
    let d = stop_command(&fake, config(), command_request(&named)).await;
    assert!(d.failed.is_none());
    assert_eq!(d.results.len(), 3);
    for r in d.results.values() {
        assert_eq!(r.outcome, CommandOutcome::Failed);
        assert_eq!(
            r.error.as_ref().unwrap().vendor_code.as_deref(),
            Some("HTTP_5XX")
        );
    }
    assert_eq!(d.summary.unwrap().outcome_counts["FAILED"], 3);
    assert_eq!(fake.calls(CANCEL), 0);
}

#[tokio::test(start_paused = true)]
async fn unreadable_tasks_without_named_instances_fail_the_request_with_the_vendor_code() {
    let fake = Arc::new(Fake::new(false));
    running_tasks(&fake, 3);
    fake.fault(TASKS, Phase::Before, fake::unavailable(), u32::MAX);
    let d = stop_command(&fake, config(), command_request(&[])).await;
    let failed = d.failed.expect("a request-level error");
    assert_eq!(failed.vendor_code.as_deref(), Some("HTTP_5XX"));
    assert!(d.results.is_empty() && d.summary.is_none());
}

#[tokio::test(start_paused = true)]
async fn a_cancel_applied_but_unanswered_is_not_failed_and_not_resent() {
    let fake = Arc::new(Fake::new(false));
    let named = running_tasks(&fake, 3);
    fake.fault(CANCEL, Phase::After, fake::unavailable(), 1);
    let mut request = command_request(&named);
    request.wait = Some(Duration::from_secs(60));
    let d = stop_command(&fake, config(), request).await;
    for r in d.results.values() {
        assert_eq!(r.outcome, CommandOutcome::Terminated, "{r:?}");
    }
    assert_eq!(d.results.len(), 3);
    assert_eq!(fake.calls(CANCEL), 1);
}

#[tokio::test(start_paused = true)]
async fn a_cancel_lost_before_the_vendor_is_sent_again() {
    let fake = Arc::new(Fake::new(false));
    let named = running_tasks(&fake, 2);
    fake.fault(CANCEL, Phase::Before, fake::unavailable(), 1);
    let mut request = command_request(&named);
    request.wait = Some(Duration::from_secs(60));
    let d = stop_command(&fake, config(), request).await;
    for r in d.results.values() {
        assert_eq!(r.outcome, CommandOutcome::Terminated, "{r:?}");
    }
    assert_eq!(fake.calls(CANCEL), 2);
    assert_eq!(d.summary.unwrap().retries, 1);
}

#[tokio::test(start_paused = true)]
async fn a_permanent_error_while_waiting_fails_the_tasks_at_once() {
    let fake = Arc::new(Fake::new(false));
    let named = running_tasks(&fake, 2);
    // The first read (before the stop) succeeds, the waits' reads fail for good.
    fake.fault_after(TASKS, 1, Phase::Before, fake::auth_failed(), u32::MAX);
    let mut request = command_request(&named);
    request.wait = Some(Duration::from_secs(3600));
    let d = stop_command(&fake, config(), request).await;
    for r in d.results.values() {
        assert_eq!(r.outcome, CommandOutcome::Failed);
        assert_eq!(r.error.as_ref().unwrap().reason, "AUTH_FAILED", "{r:?}");
    }
    assert_eq!(fake.calls(TASKS), 2);
}
