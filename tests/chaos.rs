//! Chaos: thousands of instances and a command execution per cloud, with every fault kind the
//! simulator can inject, before and after the vendor acts, on every action. Whatever happens,
//! the promise holds: one result per instance, no success the vendor did not give, no failure
//! for an instance the vendor did stop, and a summary that adds up.

mod common;

use std::collections::HashMap;

use common::{ALIBABA, Harness, TENCENT, Vendor};
use serde_json::{Value, json};
use stopgate::api::pb;

const INSTANCES: usize = 2_000;
const TASKS: usize = 300;
/// The probability of each fault kind on each call; seven kinds make about one call in five fail.
const P: f64 = 0.03;

/// Every transient fault, in both phases where the phase matters, on every action; and, so that
/// however few stop calls there are, the answers of the first two `stop_action` calls that reach
/// the vendor are lost after the vendor applied them.
async fn inject_chaos(h: &Harness, vendor: Vendor, stop_action: &str) {
    h.fault(json!({"provider": vendor.name, "action": stop_action, "times": 2, "phase": "after", "kind": "drop"}))
        .await;
    let throttle = match vendor.provider {
        pb::Provider::Alibaba => json!({"error": {"code": "Throttling.User", "http_status": 400}}),
        _ => json!({"error": {"code": "RequestLimitExceeded"}}),
    };
    for phase in ["before", "after"] {
        for kind in [
            json!({"http_status": 503}),
            json!("drop"),
            json!("malformed"),
        ] {
            h.fault(
                json!({"provider": vendor.name, "probability": P, "phase": phase, "kind": kind}),
            )
            .await;
        }
    }
    h.fault(json!({"provider": vendor.name, "probability": P, "kind": throttle}))
        .await;
}

/// How many calls of `action` the vendor applied although its answer was then lost.
async fn applied_but_lost(h: &Harness, vendor: Vendor, action: &str) -> usize {
    h.calls(vendor, action)
        .await
        .iter()
        .filter(|c| c["fault_phase"] == "after" && c["applied"] == true)
        .count()
}

async fn clear_faults(h: &Harness) {
    h.admin("DELETE", "/_sim/faults", Value::Null).await;
}

/// The simulator's raw state of every task of one invocation.
async fn task_states(h: &Harness, vendor: Vendor, invocation: &str) -> HashMap<String, String> {
    let v = h
        .admin(
            "GET",
            &format!(
                "/_sim/invocations?provider={}&region={}",
                vendor.name, vendor.region
            ),
            Value::Null,
        )
        .await;
    let invocation = v["invocations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["id"] == invocation)
        .expect("the invocation exists")
        .clone();
    invocation["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["instance_id"].as_str().unwrap().to_string(),
                t["state"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn assert_summary_adds_up(summary: &pb::Summary, results: usize, requested: usize) {
    assert_eq!(summary.requested as usize, requested, "{summary:?}");
    assert_eq!(summary.unique as usize, results, "{summary:?}");
    let counted: u32 = summary.outcome_counts.values().sum();
    assert_eq!(
        counted as usize, results,
        "outcome counts add up: {summary:?}"
    );
}

async fn instances_keep_the_promise(vendor: Vendor) {
    let h = Harness::start_with(|c| c.max_retries = 6).await;
    let ids = vendor.ids(0..INSTANCES);
    h.seed_running(vendor, &ids).await;
    inject_chaos(&h, vendor, "StopInstances").await;

    let stream = h.stop(vendor.request(&ids)).await;
    clear_faults(&h).await;
    let states = h.states(vendor).await;
    assert!(
        applied_but_lost(&h, vendor, "StopInstances").await > 0,
        "some stops were applied and their answers lost"
    );

    assert_eq!(stream.results.len(), INSTANCES, "one result per instance");
    let mut failed = 0;
    for id in &ids {
        let state = &states[id];
        let stopping_or_stopped = state == vendor.stopping || state == vendor.stopped;
        match stream.outcome(id) {
            pb::InstanceOutcome::StopAccepted | pb::InstanceOutcome::Stopped => assert!(
                stopping_or_stopped,
                "{id} reported stopped but the vendor has it {state}"
            ),
            pb::InstanceOutcome::Failed => {
                failed += 1;
                assert_eq!(
                    state,
                    vendor.running,
                    "{id} reported FAILED but the vendor did stop it: {:?}",
                    stream.result(id)
                );
            }
            other => panic!("{id}: unexpected {other:?}"),
        }
    }
    let summary = stream.summary.as_ref().unwrap();
    assert_summary_adds_up(summary, INSTANCES, INSTANCES);
    assert!(
        summary.retries > 0,
        "the faults were met and retried: {summary:?}"
    );
    assert!(
        failed * 100 <= INSTANCES,
        "at most 1% failed under 20% transient faults, got {failed}"
    );
}

async fn command_keeps_the_promise(vendor: Vendor) {
    let h = Harness::start_with(|c| c.max_retries = 6).await;
    let ids = vendor.ids(0..TASKS);
    h.seed_running(vendor, &ids).await;
    let tasks: Vec<Value> = ids.iter().map(|id| json!({"instance_id": id})).collect();
    let created = h
        .admin(
            "POST",
            "/_sim/invocations",
            json!({"provider": vendor.name, "region": vendor.region, "tasks": tasks}),
        )
        .await;
    let invocation = created["id"].as_str().unwrap().to_string();
    let stop_action = match vendor.provider {
        pb::Provider::Alibaba => "StopInvocation",
        _ => "CancelInvocation",
    };
    inject_chaos(&h, vendor, stop_action).await;

    let stream = h
        .stop_command(pb::StopCommandExecutionRequest {
            provider: vendor.provider as i32,
            region: vendor.region.to_string(),
            execution_id: invocation.clone(),
            instance_ids: ids.clone(),
            ..Default::default()
        })
        .await
        .expect("named instances always get results");
    clear_faults(&h).await;
    let states = task_states(&h, vendor, &invocation).await;
    assert!(
        applied_but_lost(&h, vendor, stop_action).await > 0,
        "some command stops were applied and their answers lost"
    );

    assert_eq!(stream.results.len(), TASKS, "one result per task");
    let running = match vendor.provider {
        pb::Provider::Alibaba => "Running",
        _ => "RUNNING",
    };
    for id in &ids {
        let state = &states[id];
        match stream.outcome(id) {
            pb::CommandOutcome::Cancelled
            | pb::CommandOutcome::Terminated
            | pb::CommandOutcome::StopRequested => assert_ne!(
                state, running,
                "{id} reported stopped but the vendor still runs it"
            ),
            pb::CommandOutcome::Failed => assert_eq!(
                state,
                running,
                "{id} reported FAILED but the vendor did stop it: {:?}",
                stream.result(id)
            ),
            other => panic!("{id}: unexpected {other:?}"),
        }
    }
    assert_summary_adds_up(stream.summary.as_ref().unwrap(), TASKS, TASKS);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alibaba_instances_keep_the_promise_under_chaos() {
    instances_keep_the_promise(ALIBABA).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tencent_instances_keep_the_promise_under_chaos() {
    instances_keep_the_promise(TENCENT).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alibaba_command_keeps_the_promise_under_chaos() {
    command_keeps_the_promise(ALIBABA).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tencent_command_keeps_the_promise_under_chaos() {
    command_keeps_the_promise(TENCENT).await
}
