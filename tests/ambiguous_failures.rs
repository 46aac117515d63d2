//! Failures that hide whether the vendor acted, black box: the simulator's faults strike before
//! the action (nothing changes) or after it (the action is applied, then the answer is lost: the
//! connection dropped, a bare 503 or a truncated body). Invariant on both clouds and both
//! operations: no result claims a stop the vendor did not make, and no instance or task the
//! vendor did stop is reported FAILED.

mod common;

use common::*;
use serde_json::{Value, json};
use stopgate::api::pb;
use tonic::Code;

on_both_clouds!(
    a_stop_whose_answer_is_lost_is_reported_as_the_vendor_did,
    a_cancel_whose_answer_is_lost_is_reported_as_the_vendor_did,
    unreadable_tasks_fail_each_named_instance_with_the_vendors_evidence,
    unreadable_tasks_without_named_instances_fail_the_call_with_the_vendors_code,
);

const KINDS: [&str; 3] = ["drop", "http_status", "malformed"];

fn kind(name: &str) -> Value {
    match name {
        "http_status" => json!({"http_status": 503}),
        other => json!(other),
    }
}

async fn a_stop_whose_answer_is_lost_is_reported_as_the_vendor_did(v: Vendor) {
    let h = Harness::start().await;
    let mut n = 0;
    for phase in ["before", "after"] {
        for fault in KINDS {
            let ids = v.ids(n..n + 6);
            n += 6;
            h.seed_running(v, &ids).await;
            h.admin("DELETE", "/_sim/faults", Value::Null).await;
            h.admin("DELETE", "/_sim/calls", Value::Null).await;
            h.fault(json!({"provider": v.name, "action": "StopInstances", "times": 1, "phase": phase, "kind": kind(fault)}))
                .await;
            let stream = h.stop(v.request(&ids)).await;
            for id in &ids {
                let outcome = stream.outcome(id);
                let state = h.state(v, id).await;
                assert!(
                    matches!(
                        outcome,
                        pb::InstanceOutcome::StopAccepted | pb::InstanceOutcome::Stopped
                    ),
                    "{phase}/{fault}: {id} is {outcome:?} ({:?}) though the simulator has it {state}",
                    stream.result(id).error
                );
                assert!(
                    state == v.stopping || state == v.stopped,
                    "{phase}/{fault}: {id} reported {outcome:?} but is {state}"
                );
            }
            let stops = h.calls(v, "StopInstances").await.len();
            let expected = if phase == "after" { 1 } else { 2 };
            assert_eq!(
                stops, expected,
                "{phase}/{fault}: an applied stop is read, not sent again; a lost one is sent again"
            );
        }
    }
}

struct Names {
    stop: &'static str,
    tasks: &'static str,
    running: &'static str,
}

fn names(v: Vendor) -> Names {
    match v.provider {
        pb::Provider::Alibaba => Names {
            stop: "StopInvocation",
            tasks: "DescribeInvocationResults",
            running: "Running",
        },
        _ => Names {
            stop: "CancelInvocation",
            tasks: "DescribeInvocationTasks",
            running: "RUNNING",
        },
    }
}

fn execution_id(v: Vendor, n: usize) -> String {
    match v.provider {
        pb::Provider::Alibaba => format!("t-test{n:028}"),
        _ => format!("inv-test{n:04}"),
    }
}

/// Seeds running instances, each with a running task of a new execution; returns its id.
async fn seed_execution(h: &Harness, v: Vendor, n: usize, ids: &[String]) -> String {
    h.seed_running(v, ids).await;
    let id = execution_id(v, n);
    let tasks: Vec<Value> = ids
        .iter()
        .map(|i| json!({"instance_id": i, "state": names(v).running, "run_ms": 600000}))
        .collect();
    h.admin(
        "POST",
        "/_sim/invocations",
        json!({"provider": v.name, "region": v.region, "id": id, "tasks": tasks}),
    )
    .await;
    id
}

fn command_request(v: Vendor, execution: &str, ids: &[String]) -> pb::StopCommandExecutionRequest {
    pb::StopCommandExecutionRequest {
        provider: v.provider as i32,
        region: v.region.to_string(),
        execution_id: execution.to_string(),
        instance_ids: ids.to_vec(),
        wait: Some(pb::WaitOptions {
            until_terminal: true,
            timeout: None,
        }),
        ..Default::default()
    }
}

async fn a_cancel_whose_answer_is_lost_is_reported_as_the_vendor_did(v: Vendor) {
    let h = Harness::start().await;
    let mut n = 0;
    for phase in ["before", "after"] {
        for fault in KINDS {
            let ids = v.ids(n * 10..n * 10 + 3);
            let execution = seed_execution(&h, v, n, &ids).await;
            n += 1;
            h.admin("DELETE", "/_sim/faults", Value::Null).await;
            h.admin("DELETE", "/_sim/calls", Value::Null).await;
            h.fault(json!({"provider": v.name, "action": names(v).stop, "times": 1, "phase": phase, "kind": kind(fault)}))
                .await;
            let stream = h
                .stop_command(command_request(v, &execution, &ids))
                .await
                .expect("the call succeeds");
            for id in &ids {
                let outcome = stream.outcome(id);
                assert!(
                    matches!(
                        outcome,
                        pb::CommandOutcome::Terminated | pb::CommandOutcome::Cancelled
                    ),
                    "{phase}/{fault}: {id} is {outcome:?}: {:?}",
                    stream.result(id).error
                );
            }
            let stops = h.calls(v, names(v).stop).await.len();
            let expected = if phase == "after" { 1 } else { 2 };
            assert_eq!(stops, expected, "{phase}/{fault}");
        }
    }
}

fn task_error_info(result: &pb::TaskResult) -> tonic_types::pb::ErrorInfo {
    use prost::Message;
    let status = result.error.as_ref().expect("an error");
    let any = status
        .details
        .iter()
        .find(|d| d.type_url.ends_with("google.rpc.ErrorInfo"))
        .expect("ErrorInfo");
    tonic_types::pb::ErrorInfo::decode(any.value.as_slice()).unwrap()
}

async fn unreadable_tasks_fail_each_named_instance_with_the_vendors_evidence(v: Vendor) {
    // Few retries: the read fails every time anyway.
    let h = Harness::start_with(|c| c.max_retries = 2).await;
    let ids = v.ids(0..3);
    let execution = seed_execution(&h, v, 1, &ids).await;
    h.fault(json!({"provider": v.name, "action": names(v).tasks, "kind": "malformed"}))
        .await;
    let stream = h
        .stop_command(command_request(v, &execution, &ids))
        .await
        .expect("per-instance results, not an RPC error");
    for id in &ids {
        assert_eq!(stream.outcome(id), pb::CommandOutcome::Failed);
        let info = task_error_info(stream.result(id));
        assert_eq!(
            info.metadata["vendorCode"], "MALFORMED_RESPONSE",
            "{info:?}"
        );
    }
    let summary = stream.summary.expect("a summary");
    assert_eq!(summary.outcome_counts["FAILED"], 3);
    assert!(
        h.calls(v, names(v).stop).await.is_empty(),
        "nothing was sent"
    );
}

async fn unreadable_tasks_without_named_instances_fail_the_call_with_the_vendors_code(v: Vendor) {
    use tonic_types::StatusExt;
    // Few retries: the read fails every time anyway.
    let h = Harness::start_with(|c| c.max_retries = 2).await;
    let ids = v.ids(0..3);
    let execution = seed_execution(&h, v, 1, &ids).await;
    h.fault(json!({"provider": v.name, "action": names(v).tasks, "kind": "malformed"}))
        .await;
    let status = h
        .stop_command(command_request(v, &execution, &[]))
        .await
        .expect_err("no instance to answer for");
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    let info = status.get_details_error_info().expect("ErrorInfo");
    assert_eq!(info.metadata["vendorCode"], "MALFORMED_RESPONSE");
}
