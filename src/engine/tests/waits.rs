//! Waiting for accepted stops: errors surface, and Alibaba's emulated graceful-then-force.

use std::sync::Arc;
use std::time::Duration;

use super::fake::{self, DESCRIBE, Fake, Phase, STOP};
use super::{config, ids, stop, stop_request};
use crate::model::{InstanceOutcome, StopMode};

#[tokio::test(start_paused = true)]
async fn a_permanent_error_while_waiting_fails_the_instances_at_once() {
    let fake = Arc::new(Fake::new(false));
    let all = ids("ins", 2);
    fake.running(&all);
    fake.fault_after(DESCRIBE, 1, Phase::Before, fake::auth_failed(), u32::MAX);
    let mut request = stop_request(&all);
    request.wait = Some(Duration::from_secs(3600));
    let d = stop(&fake, config(), request, None).await;
    for id in &all {
        let r = &d.results[id];
        assert_eq!(r.outcome, InstanceOutcome::Failed);
        assert_eq!(r.error.as_ref().unwrap().reason, "AUTH_FAILED", "{r:?}");
    }
    assert_eq!(
        fake.calls(DESCRIBE),
        2,
        "no polling after a permanent error"
    );
}

#[tokio::test(start_paused = true)]
async fn a_wait_timeout_carries_the_last_transient_error() {
    let fake = Arc::new(Fake::new(false));
    let all = ids("ins", 1);
    fake.running(&all);
    fake.fault_after(DESCRIBE, 1, Phase::Before, fake::unavailable(), u32::MAX);
    let mut config = config();
    config.max_retries = 0;
    let mut request = stop_request(&all);
    request.wait = Some(Duration::from_secs(10));
    let d = stop(&fake, config, request, None).await;
    let error = d.results["ins-0"].error.clone().unwrap();
    assert_eq!(error.reason, "WAIT_TIMEOUT");
    assert_eq!(error.vendor_code.as_deref(), Some("HTTP_5XX"));
    assert!(error.message.contains("the last failed read"), "{error:?}");
}

fn graceful_then_force(all: &[String]) -> crate::engine::request::ValidStop {
    let mut request = stop_request(all);
    request.mode = StopMode::GracefulThenForce;
    request
}

#[tokio::test(start_paused = true)]
async fn an_ignored_graceful_stop_is_forced() {
    // Alibaba-like: graceful-then-force is emulated by the engine.
    let fake = Arc::new(Fake::new(true));
    let all = ids("i", 2);
    fake.running(&all);
    fake.ignores_shutdown("i-0");
    let d = stop(&fake, config(), graceful_then_force(&all), None).await;
    let forced = &d.results["i-0"];
    assert_eq!(forced.outcome, InstanceOutcome::StopAccepted, "{forced:?}");
    assert!(forced.forced);
    let graceful = &d.results["i-1"];
    assert_eq!(graceful.outcome, InstanceOutcome::Stopped);
    assert!(!graceful.forced);
    assert_eq!(fake.calls(STOP), 2, "the graceful stop, then the force");
}

#[tokio::test(start_paused = true)]
async fn a_force_applied_but_unanswered_is_not_failed() {
    let fake = Arc::new(Fake::new(true));
    let all = ids("i", 1);
    fake.running(&all);
    fake.ignores_shutdown("i-0");
    fake.fault_after(STOP, 1, Phase::After, fake::unavailable(), 1);
    let d = stop(&fake, config(), graceful_then_force(&all), None).await;
    let r = &d.results["i-0"];
    assert_eq!(r.outcome, InstanceOutcome::StopAccepted, "{r:?}");
    assert!(r.forced);
    assert_eq!(fake.calls(STOP), 2, "the applied force was not sent again");
}

#[tokio::test(start_paused = true)]
async fn a_force_lost_before_the_vendor_is_sent_again() {
    let fake = Arc::new(Fake::new(true));
    let all = ids("i", 1);
    fake.running(&all);
    fake.ignores_shutdown("i-0");
    fake.fault_after(STOP, 1, Phase::Before, fake::unavailable(), 1);
    let d = stop(&fake, config(), graceful_then_force(&all), None).await;
    let r = &d.results["i-0"];
    assert_eq!(r.outcome, InstanceOutcome::StopAccepted, "{r:?}");
    assert!(r.forced);
    assert_eq!(fake.calls(STOP), 3);
    assert_eq!(d.summary.unwrap().retries, 1);
}
