//! StopCommandExecution, black box: the real gateway against the real simulator. Each behaviour
//! runs against both vendors (`<behaviour>::alibaba`, `<behaviour>::tencent`).

mod common;

use common::*;
use serde_json::{Value, json};
use stopgate::api::pb;
use tonic::Code;

on_both_clouds!(
    a_command_stop_outlives_its_stream_and_is_re_attached_to,
    pending_running_and_finished_tasks_each_get_the_truth,
    a_subset_of_instances_is_stopped_alone,
    an_instance_outside_the_execution_fails_alone,
    an_unknown_execution_is_not_found_with_the_vendors_code,
    one_hundred_twenty_instances_are_chunked_to_the_vendor_limit,
    waiting_streams_transitions_until_terminal,
    dry_run_says_what_a_stop_would_do_and_changes_nothing,
    throttling_is_retried_and_the_stop_still_succeeds,
);

struct Names {
    pending: &'static str,
    running: &'static str,
    success: &'static str,
    failed: &'static str,
    stop_action: &'static str,
    execution: &'static str,
}

fn names(v: Vendor) -> Names {
    match v.provider {
        pb::Provider::Alibaba => Names {
            pending: "Pending",
            running: "Running",
            success: "Success",
            failed: "Failed",
            stop_action: "StopInvocation",
            execution: "t-test0000000000000000000000000001",
        },
        _ => Names {
            pending: "PENDING",
            running: "RUNNING",
            success: "SUCCESS",
            failed: "FAILED",
            stop_action: "CancelInvocation",
            execution: "inv-test0001",
        },
    }
}

/// Seeds running instances and an invocation with these (instance, state, exit code) tasks.
async fn seed_execution(
    h: &Harness,
    v: Vendor,
    tasks: &[(String, &str, Option<i64>)],
    extra: Value,
) {
    let ids: Vec<String> = tasks.iter().map(|t| t.0.clone()).collect();
    h.seed_running(v, &ids).await;
    let tasks: Vec<Value> = tasks
        .iter()
        .map(|(id, state, exit)| json!({"instance_id": id, "state": state, "exit_code": exit, "run_ms": 600000}))
        .collect();
    let mut spec =
        json!({"provider": v.name, "region": v.region, "id": names(v).execution, "tasks": tasks});
    if let (Some(spec), Some(extra)) = (spec.as_object_mut(), extra.as_object()) {
        spec.extend(extra.clone());
    }
    h.admin("POST", "/_sim/invocations", spec).await;
}

fn request(v: Vendor, instances: &[String]) -> pb::StopCommandExecutionRequest {
    pb::StopCommandExecutionRequest {
        provider: v.provider as i32,
        region: v.region.to_string(),
        execution_id: names(v).execution.to_string(),
        instance_ids: instances.to_vec(),
        ..Default::default()
    }
}

fn waiting(mut r: pb::StopCommandExecutionRequest) -> pb::StopCommandExecutionRequest {
    r.wait = Some(pb::WaitOptions {
        until_terminal: true,
        timeout: None,
    });
    r
}

async fn task_state(h: &Harness, v: Vendor, instance: &str) -> String {
    let all = h
        .admin(
            "GET",
            &format!("/_sim/invocations?provider={}&region={}", v.name, v.region),
            Value::Null,
        )
        .await;
    all["invocations"][0]["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["instance_id"] == instance)
        .unwrap()["state"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn pending_running_and_finished_tasks_each_get_the_truth(v: Vendor) {
    let h = Harness::start().await;
    h.admin(
        "POST",
        "/_sim/timings",
        json!({"deliver_ms": 60000, "cancel_ms": 60000}),
    )
    .await;
    let n = names(v);
    let ids = v.ids(0..4);
    seed_execution(
        &h,
        v,
        &[
            (ids[0].clone(), n.pending, None),
            (ids[1].clone(), n.running, None),
            (ids[2].clone(), n.success, Some(0)),
            (ids[3].clone(), n.failed, Some(3)),
        ],
        json!({}),
    )
    .await;
    let s = h.stop_command(request(v, &[])).await.unwrap();
    assert_eq!(s.results.len(), 4);
    assert_eq!(s.outcome(&ids[0]), pb::CommandOutcome::Cancelled);
    assert_eq!(
        s.result(&ids[0]).previous_state,
        pb::TaskState::Pending as i32
    );
    assert_eq!(
        s.outcome(&ids[1]),
        pb::CommandOutcome::StopRequested,
        "not waited for: the end state is not known yet"
    );
    assert_eq!(s.current(&ids[1]), pb::TaskState::Stopping);
    assert_eq!(s.outcome(&ids[2]), pb::CommandOutcome::AlreadyFinished);
    assert_eq!(s.current(&ids[2]), pb::TaskState::Succeeded);
    assert_eq!(s.result(&ids[2]).exit_code, Some(0));
    assert_eq!(s.outcome(&ids[3]), pb::CommandOutcome::AlreadyFinished);
    assert_eq!(s.current(&ids[3]), pb::TaskState::Failed);
    assert_eq!(s.result(&ids[3]).exit_code, Some(3));
    let calls = h.calls(v, n.stop_action).await;
    assert_eq!(calls.len(), 1);
    let sent = params_ids(&calls[0], v);
    assert!(
        !sent.contains(&ids[2]) && !sent.contains(&ids[3]),
        "finished tasks are not sent: {sent:?}"
    );
}

async fn a_subset_of_instances_is_stopped_alone(v: Vendor) {
    let h = Harness::start().await;
    let n = names(v);
    let ids = v.ids(0..3);
    seed_execution(
        &h,
        v,
        &ids.iter()
            .map(|i| (i.clone(), n.running, None))
            .collect::<Vec<_>>(),
        json!({}),
    )
    .await;
    let s = h
        .stop_command(waiting(request(v, &ids[0..2])))
        .await
        .unwrap();
    assert_eq!(s.results.len(), 2);
    assert_eq!(s.outcome(&ids[0]), pb::CommandOutcome::Terminated);
    assert_eq!(s.outcome(&ids[1]), pb::CommandOutcome::Terminated);
    assert_eq!(
        task_state(&h, v, &ids[2]).await,
        n.running,
        "the unnamed instance keeps running"
    );
    assert_eq!(
        params_ids(&h.calls(v, n.stop_action).await[0], v),
        ids[0..2].to_vec()
    );
}

async fn an_instance_outside_the_execution_fails_alone(v: Vendor) {
    let h = Harness::start().await;
    let n = names(v);
    let ids = v.ids(0..2);
    seed_execution(
        &h,
        v,
        &ids.iter()
            .map(|i| (i.clone(), n.running, None))
            .collect::<Vec<_>>(),
        json!({}),
    )
    .await;
    let stranger = v.id(99);
    h.seed_running(v, std::slice::from_ref(&stranger)).await;
    let s = h
        .stop_command(request(
            v,
            &[ids[0].clone(), stranger.clone(), ids[1].clone()],
        ))
        .await
        .unwrap();
    assert_eq!(s.outcome(&stranger), pb::CommandOutcome::Failed);
    let error = s.result(&stranger).error.as_ref().unwrap();
    assert_eq!(error.code, Code::NotFound as i32);
    assert!(error.message.contains("has no task"), "{}", error.message);
    assert_eq!(s.outcome(&ids[0]), pb::CommandOutcome::StopRequested);
    assert_eq!(s.outcome(&ids[1]), pb::CommandOutcome::StopRequested);
    let calls = h.calls(v, n.stop_action).await;
    assert!(
        calls
            .iter()
            .all(|c| c["outcome"] == "ok" && !params_ids(c, v).contains(&stranger)),
        "{calls:?}"
    );
}

async fn an_unknown_execution_is_not_found_with_the_vendors_code(v: Vendor) {
    let h = Harness::start().await;
    let error = h.stop_command(request(v, &[])).await.unwrap_err();
    assert_eq!(error.code(), Code::NotFound);
    use tonic_types::StatusExt;
    let info = error.get_details_error_info().expect("ErrorInfo");
    let expected = match v.provider {
        pb::Provider::Alibaba => "InvalidInvokeId.NotFound",
        _ => "ResourceNotFound.InvocationNotFound",
    };
    assert_eq!(info.metadata["vendorCode"], expected);
    assert!(
        error.message().contains(names(v).execution),
        "{}",
        error.message()
    );
}

async fn one_hundred_twenty_instances_are_chunked_to_the_vendor_limit(v: Vendor) {
    let h = Harness::start().await;
    // The tasks are still stopping when read after the stop, however slow the machine.
    h.admin("POST", "/_sim/timings", json!({"cancel_ms": 600_000}))
        .await;
    let n = names(v);
    let ids = v.ids(0..120);
    seed_execution(
        &h,
        v,
        &ids.iter()
            .map(|i| (i.clone(), n.running, None))
            .collect::<Vec<_>>(),
        json!({}),
    )
    .await;
    // Named instances are chunked to the vendor's limit (Alibaba 50, Tencent 100).
    let s = h.stop_command(request(v, &ids)).await.unwrap();
    assert_eq!(s.results.len(), 120);
    assert!(
        s.results
            .iter()
            .all(|r| r.outcome == pb::CommandOutcome::StopRequested as i32)
    );
    let mut sizes: Vec<usize> = h
        .calls(v, n.stop_action)
        .await
        .iter()
        .map(|c| params_ids(c, v).len())
        .collect();
    sizes.sort();
    let expected = match v.provider {
        pb::Provider::Alibaba => vec![20, 50, 50],
        _ => vec![20, 100],
    };
    assert_eq!(sizes, expected);
    // Reading the tasks is paged too (Alibaba MaxResults 50, Tencent Limit 100).
    let pages = h
        .calls(
            v,
            if v.provider == pb::Provider::Alibaba {
                "DescribeInvocationResults"
            } else {
                "DescribeInvocationTasks"
            },
        )
        .await;
    // Two reads (before the stop, and after it to report the outcome) of 3 pages / 2 pages.
    let expected_pages = if v.provider == pb::Provider::Alibaba {
        2 * 3
    } else {
        2 * 2
    };
    assert_eq!(pages.len(), expected_pages);
}

async fn waiting_streams_transitions_until_terminal(v: Vendor) {
    let h = Harness::start().await;
    let n = names(v);
    let ids = v.ids(0..2);
    seed_execution(
        &h,
        v,
        &ids.iter()
            .map(|i| (i.clone(), n.running, None))
            .collect::<Vec<_>>(),
        json!({}),
    )
    .await;
    let s = h.stop_command(waiting(request(v, &[]))).await.unwrap();
    for id in &ids {
        assert_eq!(s.outcome(id), pb::CommandOutcome::Terminated);
        assert_eq!(s.current(id), pb::TaskState::Terminated);
        let seen: Vec<i32> = s
            .progress
            .iter()
            .filter(|p| p.instance_id == *id)
            .map(|p| p.state)
            .collect();
        assert!(
            seen.contains(&(pb::TaskState::Terminated as i32)),
            "{id}: {seen:?}"
        );
    }
}

async fn dry_run_says_what_a_stop_would_do_and_changes_nothing(v: Vendor) {
    let h = Harness::start().await;
    h.admin("POST", "/_sim/timings", json!({"deliver_ms": 60000}))
        .await;
    let n = names(v);
    let ids = v.ids(0..3);
    seed_execution(
        &h,
        v,
        &[
            (ids[0].clone(), n.pending, None),
            (ids[1].clone(), n.running, None),
            (ids[2].clone(), n.success, Some(0)),
        ],
        json!({}),
    )
    .await;
    let s = h
        .stop_command(pb::StopCommandExecutionRequest {
            dry_run: true,
            ..request(v, &[])
        })
        .await
        .unwrap();
    assert_eq!(s.outcome(&ids[0]), pb::CommandOutcome::DryRunPassed);
    assert_eq!(
        s.result(&ids[0]).dry_run_action,
        pb::DryRunAction::WouldCancel as i32
    );
    assert_eq!(
        s.result(&ids[1]).dry_run_action,
        pb::DryRunAction::WouldTerminate as i32
    );
    assert_eq!(s.outcome(&ids[2]), pb::CommandOutcome::AlreadyFinished);
    assert!(
        h.calls(v, n.stop_action).await.is_empty(),
        "no call that changes anything"
    );
    assert_eq!(task_state(&h, v, &ids[0]).await, n.pending);
    assert_eq!(task_state(&h, v, &ids[1]).await, n.running);
}

async fn throttling_is_retried_and_the_stop_still_succeeds(v: Vendor) {
    let h = Harness::start().await;
    let n = names(v);
    let ids = v.ids(0..2);
    seed_execution(
        &h,
        v,
        &ids.iter()
            .map(|i| (i.clone(), n.running, None))
            .collect::<Vec<_>>(),
        json!({}),
    )
    .await;
    let code = match v.provider {
        pb::Provider::Alibaba => json!({"code": "Throttling.User", "http_status": 400}),
        _ => json!({"code": "RequestLimitExceeded"}),
    };
    h.fault(
        json!({"provider": v.name, "action": n.stop_action, "times": 2, "kind": {"error": code}}),
    )
    .await;
    let s = h.stop_command(request(v, &ids)).await.unwrap();
    assert!(
        s.results
            .iter()
            .all(|r| r.outcome == pb::CommandOutcome::StopRequested as i32),
        "{s:#?}"
    );
    let summary = s.summary.unwrap();
    assert_eq!((summary.throttled, summary.retries), (2, 2));
    assert_eq!(h.calls(v, n.stop_action).await.len(), 3);
}

#[tokio::test]
async fn a_periodic_alibaba_invocation_has_its_future_runs_cancelled() {
    let v = ALIBABA;
    let h = Harness::start().await;
    // The scheduled run must still be scheduled when the stop arrives, however slow the machine.
    h.admin("POST", "/_sim/timings", json!({"deliver_ms": 600_000}))
        .await;
    let ids = v.ids(0..2);
    seed_execution(
        &h,
        v,
        &[
            (ids[0].clone(), "Scheduled", None),
            (ids[1].clone(), "Running", None),
        ],
        json!({"repeat_mode": "Period"}),
    )
    .await;
    let s = h.stop_command(waiting(request(v, &[]))).await.unwrap();
    assert_eq!(s.outcome(&ids[0]), pb::CommandOutcome::Cancelled);
    assert_eq!(s.outcome(&ids[1]), pb::CommandOutcome::Terminated);
    let notes = s.summary.unwrap().notes;
    assert!(
        notes.iter().any(|n| n.contains("periodic")
            && n.contains("future runs")
            && n.contains("cancelled")),
        "{notes:?}"
    );
    let all = h
        .admin(
            "GET",
            "/_sim/invocations?provider=alibaba&region=cn-hangzhou",
            Value::Null,
        )
        .await;
    assert_eq!(
        all["invocations"][0]["stopped"], true,
        "the vendor stops scheduling further runs"
    );
    // The whole invocation was stopped in one call with no instance list (docs/vendors/alibaba.md, §2.3).
    let calls = h.calls(v, "StopInvocation").await;
    assert_eq!(calls.len(), 1);
    assert!(params_ids(&calls[0], v).is_empty());
}

#[tokio::test]
async fn an_alibaba_execution_that_keeps_running_is_never_reported_terminated() {
    let v = ALIBABA;
    let h = Harness::start().await;
    let id = v.id(1);
    // A one-time invocation whose started executions are not interrupted (docs/vendors/alibaba.md, §2.3).
    h.seed_running(v, std::slice::from_ref(&id)).await;
    h.admin(
        "POST",
        "/_sim/invocations",
        json!({"provider": "alibaba", "region": v.region, "id": names(v).execution, "interrupt_running": false,
               "tasks": [{"instance_id": id, "state": "Running", "run_ms": 400}]}),
    )
    .await;
    let s = h.stop_command(waiting(request(v, &[]))).await.unwrap();
    assert_eq!(s.outcome(&id), pb::CommandOutcome::StopRequested);
    assert_eq!(s.current(&id), pb::TaskState::Succeeded);
    assert_ne!(s.current(&id), pb::TaskState::Terminated);
    let notes = s.summary.unwrap().notes;
    assert!(
        notes.iter().any(|n| n.contains("not interrupted")),
        "{notes:?}"
    );
}

#[tokio::test]
async fn bad_command_requests_are_rejected_before_any_vendor_call() {
    let h = Harness::start().await;
    for (request, field) in [
        (
            pb::StopCommandExecutionRequest {
                execution_id: "inv-test0001".into(),
                ..request(ALIBABA, &[])
            },
            "execution_id",
        ),
        (
            pb::StopCommandExecutionRequest {
                execution_id: String::new(),
                ..request(TENCENT, &[])
            },
            "execution_id",
        ),
        (
            request(TENCENT, &["i-bp1aaaaaaaaaaaaaaaaa".to_string()]),
            "instance_ids[0]",
        ),
        (
            pb::StopCommandExecutionRequest {
                dry_run: true,
                ..waiting(request(TENCENT, &[]))
            },
            "wait.until_terminal",
        ),
    ] {
        let error = h.stop_command(request).await.unwrap_err();
        assert_eq!(error.code(), Code::InvalidArgument, "{field}");
        use tonic_types::StatusExt;
        assert!(
            error
                .get_details_bad_request()
                .unwrap()
                .field_violations
                .iter()
                .any(|f| f.field == field),
            "{field}: {error:?}"
        );
    }
    assert!(
        h.admin("GET", "/_sim/calls", Value::Null).await["calls"]
            .as_array()
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn the_not_found_probe_names_only_an_instance_that_cannot_exist() {
    for v in [ALIBABA, TENCENT] {
        let h = Harness::start().await;
        h.stop_command(request(v, &[])).await.unwrap_err();
        let calls = h.calls(v, names(v).stop_action).await;
        assert_eq!(calls.len(), 1);
        let probe = params_ids(&calls[0], v);
        assert_eq!(
            probe.len(),
            1,
            "never an empty list, which would stop everything"
        );
        assert!(
            probe[0] == "i-stopgateprobe000000000" || probe[0] == "ins-00000000",
            "{probe:?}"
        );
    }
}

#[tokio::test]
async fn tencent_lighthouse_targets_are_accepted_as_command_targets() {
    let v = TENCENT;
    let h = Harness::start().await;
    let id = v.id(1);
    seed_execution(&h, v, &[(id.clone(), "RUNNING", None)], json!({})).await;
    let s = h
        .stop_command(request(v, &[id.clone(), "lhins-abcd1234".to_string()]))
        .await
        .unwrap();
    assert_eq!(
        s.outcome("lhins-abcd1234"),
        pb::CommandOutcome::Failed,
        "not in this execution, but a valid target id"
    );
    assert_eq!(s.outcome(&id), pb::CommandOutcome::StopRequested);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_level_refusal_is_not_split_into_many_calls() {
    let v = TENCENT;
    for code in ["UnauthorizedOperation.CamAuthFailed", "InvalidParameter"] {
        let h = Harness::start().await;
        let ids = v.ids(0..8);
        seed_execution(
            &h,
            v,
            &ids.iter()
                .map(|i| (i.clone(), "RUNNING", None))
                .collect::<Vec<_>>(),
            json!({}),
        )
        .await;
        h.fault(json!({"provider": "tencent", "action": "CancelInvocation", "kind": {"error": {"code": code}}})).await;
        let s = h.stop_command(request(v, &ids)).await.unwrap();
        assert!(
            s.results
                .iter()
                .all(|r| r.outcome == pb::CommandOutcome::Failed as i32),
            "{code}: {s:#?}"
        );
        assert_eq!(
            h.calls(v, "CancelInvocation").await.len(),
            1,
            "{code}: one call, no bisection"
        );
    }
}

async fn a_command_stop_outlives_its_stream_and_is_re_attached_to(v: Vendor) {
    let h = Harness::start().await;
    let n = names(v);
    let ids = v.ids(0..2);
    seed_execution(
        &h,
        v,
        &ids.iter()
            .map(|i| (i.clone(), n.running, None))
            .collect::<Vec<_>>(),
        json!({}),
    )
    .await;
    let request = pb::StopCommandExecutionRequest {
        request_id: uuid::Uuid::new_v4().to_string(),
        ..waiting(request(v, &[]))
    };
    // Start it, read the first message, and go away.
    let mut client = pb::command_service_client::CommandServiceClient::new(h.channel.clone());
    let mut inbound = client
        .stop_command_execution(request.clone())
        .await
        .unwrap()
        .into_inner();
    let first = inbound.message().await.unwrap().expect("a first message");
    assert!(matches!(
        first.event,
        Some(pb::stop_command_execution_response::Event::Accepted(_))
    ));
    drop(inbound);

    let s = h.stop_command(request).await.unwrap();
    assert!(s.accepted.as_ref().unwrap().reattached);
    for id in &ids {
        assert_eq!(s.outcome(id), pb::CommandOutcome::Terminated);
    }
    let stops: Vec<Value> = h
        .calls(v, n.stop_action)
        .await
        .into_iter()
        .filter(|c| c["outcome"] == "ok")
        .collect();
    assert_eq!(
        stops.len(),
        1,
        "one stop, sent by the operation alone: {stops:#?}"
    );
}
