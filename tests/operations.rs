//! Operations outlive their streams (docs/operations.md), with the in-process journal: request
//! ids, re-attaching after a disconnect or the caller's deadline, a mismatched request under
//! the same id, retention, shutdown, and the audit record. The real gateway against the real
//! simulator over real sockets; shutdown and the audit log run `stopgate serve` processes.

mod common;

use std::time::Duration;

use common::cluster::Replica;
use common::*;
use serde_json::json;
use stopgate::api::pb;
use tonic::Code;
use tonic_types::StatusExt;

on_both_clouds!(
    a_caller_that_disconnects_gets_every_result_by_re_attaching,
    the_callers_deadline_ends_the_stream_not_the_operation,
    a_deadline_that_cuts_ten_thousand_instances_is_completed_by_re_attaching,
);

fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

fn waiting(request: pb::StopInstancesRequest) -> pb::StopInstancesRequest {
    pb::StopInstancesRequest {
        wait: Some(pb::WaitOptions {
            until_terminal: true,
            timeout: None,
        }),
        ..request
    }
}

/// Starts an operation, reads its first message and goes away.
async fn accept_and_leave(h: &Harness, request: pb::StopInstancesRequest) -> pb::OperationAccepted {
    let mut client = h.client.clone();
    let mut inbound = client.stop_instances(request).await.unwrap().into_inner();
    let first = inbound.message().await.unwrap().expect("a first message");
    match first.event {
        Some(pb::stop_instances_response::Event::Accepted(accepted)) => accepted,
        other => panic!("the first message is OperationAccepted, not {other:?}"),
    }
}

/// The ErrorInfo of a status that ended a stream early.
fn incomplete(status: &tonic::Status) -> tonic_types::ErrorInfo {
    let info = status
        .get_details_error_info()
        .unwrap_or_else(|| panic!("an ErrorInfo: {status:?}"));
    assert_eq!(info.reason, "OPERATION_INCOMPLETE", "{status:?}");
    info
}

async fn a_caller_that_disconnects_gets_every_result_by_re_attaching(v: Vendor) {
    // Paced at 2 stop calls a second, so the work is far from done when the caller leaves.
    let h = Harness::start_with(|c| {
        c.alibaba.rate_limits.insert("StopInstances".into(), 2.0);
        c.tencent.rate_limits.insert("StopInstances".into(), 2.0);
    })
    .await;
    let ids = v.ids(0..300);
    h.seed_running(v, &ids).await;
    let request = pb::StopInstancesRequest {
        request_id: new_id(),
        ..waiting(v.request(&ids))
    };
    let accepted = accept_and_leave(&h, request.clone()).await;
    assert_eq!(accepted.request_id, request.request_id);
    assert!(!accepted.reattached);
    assert_eq!((accepted.requested, accepted.unique), (300, 300));

    let s = h.stop(request.clone()).await;
    let again = s.accepted.as_ref().unwrap();
    assert!(again.reattached, "{again:?}");
    assert_eq!(again.request_id, request.request_id);
    assert_eq!(s.results.len(), 300);
    for id in &ids {
        assert_eq!(s.outcome(id), pb::InstanceOutcome::Stopped, "{id}");
    }
    assert_eq!(s.summary.as_ref().unwrap().unique, 300);
    // The operation went on alone: every instance was stopped by exactly one accepted call.
    let named = accepted_stops(&h.calls(v, "StopInstances").await, v);
    for id in &ids {
        assert_eq!(named.get(id), Some(&1), "{id} in one accepted stop call");
    }
    for (id, state) in h.states(v).await {
        assert_eq!(state, v.stopped, "{id}");
    }
}

async fn the_callers_deadline_ends_the_stream_not_the_operation(v: Vendor) {
    let h = Harness::start().await;
    let ids = v.ids(0..3);
    h.seed_running(v, &ids).await;
    // The vendor answers the stop long after the caller's deadline.
    h.fault(json!({"provider": v.name, "action": "StopInstances", "kind": {"latency_ms": 3000}}))
        .await;
    let request = pb::StopInstancesRequest {
        request_id: new_id(),
        ..v.request(&ids)
    };
    let mut cut = tonic::Request::new(request.clone());
    cut.set_timeout(Duration::from_secs(1));
    let status = h.stop_with(cut).await.expect_err("the stream is cut");
    assert_eq!(status.code(), Code::DeadlineExceeded, "{status:?}");
    let info = incomplete(&status);
    assert_eq!(info.metadata["requestId"], request.request_id);
    assert_eq!(info.metadata["resultsSent"], "0");
    assert!(
        status.message().contains(&request.request_id) && status.message().contains("continues"),
        "says how to re-attach: {status:?}"
    );

    let s = h.stop(request).await;
    assert!(s.accepted.as_ref().unwrap().reattached);
    for id in &ids {
        assert_eq!(s.outcome(id), pb::InstanceOutcome::StopAccepted, "{s:#?}");
    }
    assert_eq!(h.calls(v, "StopInstances").await.len(), 1);
}

async fn a_deadline_that_cuts_ten_thousand_instances_is_completed_by_re_attaching(v: Vendor) {
    // Stops paced at 20 per second: the 100 stop calls need 5 s, so a 2 s deadline always cuts
    // the stream mid-way, however fast the machine.
    let h = Harness::start_with(|c| {
        for settings in [&mut c.alibaba, &mut c.tencent] {
            settings.rate_limits.insert("StopInstances".into(), 20.0);
        }
    })
    .await;
    let ids = v.ids(0..10_000);
    for chunk in ids.chunks(1000) {
        h.seed_running(v, chunk).await;
    }
    let request = pb::StopInstancesRequest {
        request_id: new_id(),
        ..v.request(&ids)
    };
    // Read the cut stream message by message, keeping the results it carried.
    let mut client = h.client.clone();
    let mut cut = tonic::Request::new(request.clone());
    cut.set_timeout(Duration::from_secs(2));
    let mut inbound = client.stop_instances(cut).await.unwrap().into_inner();
    let mut first = std::collections::HashMap::new();
    let status = loop {
        match inbound.message().await {
            Ok(Some(message)) => {
                if let Some(pb::stop_instances_response::Event::Result(r)) = message.event {
                    assert!(first.insert(r.instance_id.clone(), r).is_none());
                }
            }
            Ok(None) => panic!("the 2 s deadline cuts a 5 s operation"),
            Err(status) => break status,
        }
    };
    assert_eq!(status.code(), Code::DeadlineExceeded, "{status:?}");
    let info = incomplete(&status);
    assert_eq!(info.metadata["resultsSent"], first.len().to_string());
    assert!(first.len() < 10_000);

    let s = h.stop(request).await;
    assert_eq!(s.results.len(), 10_000);
    let answered: std::collections::HashSet<&str> =
        s.results.iter().map(|r| r.instance_id.as_str()).collect();
    assert_eq!(answered.len(), 10_000, "one result per instance");
    for (id, before) in &first {
        assert_eq!(
            s.result(id),
            before,
            "a result sent before the cut is the one a re-attach reports"
        );
    }
    let summary = s.summary.unwrap();
    assert_eq!(summary.outcome_counts.values().sum::<u32>(), 10_000);
    let named = accepted_stops(&h.calls(v, "StopInstances").await, v);
    assert!(named.values().all(|n| *n == 1), "no instance stopped twice");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alibaba_graceful_then_force_is_forced_after_the_caller_disconnects() {
    let v = ALIBABA;
    let h = Harness::start().await;
    let (stubborn, polite) = (v.id(1), v.id(2));
    h.seed(
        v,
        vec![
            json!({"id": stubborn, "ignores_shutdown": true}),
            json!({"id": polite}),
        ],
    )
    .await;
    let request = pb::StopInstancesRequest {
        request_id: new_id(),
        mode: pb::StopMode::GracefulThenForce as i32,
        ..waiting(v.request(&[stubborn.clone(), polite.clone()]))
    };
    accept_and_leave(&h, request.clone()).await;

    let s = h.stop(request).await;
    assert!(s.accepted.as_ref().unwrap().reattached);
    assert_eq!(s.outcome(&stubborn), pb::InstanceOutcome::Stopped, "{s:#?}");
    assert!(
        s.result(&stubborn).forced,
        "the force phase ran with nobody listening"
    );
    assert!(!s.result(&polite).forced);
    assert_eq!(h.state(v, &stubborn).await, v.stopped);
    let forced = h
        .calls(v, "StopInstances")
        .await
        .into_iter()
        .filter(|c| c["params"]["ForceStop"] == "true" && c["outcome"] == "ok")
        .count();
    assert_eq!(forced, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_request_id_with_another_request_is_invalid_argument() {
    let v = TENCENT;
    let h = Harness::start().await;
    let ids = v.ids(0..2);
    h.seed_running(v, &ids).await;
    let id = new_id();
    let first = pb::StopInstancesRequest {
        request_id: id.clone(),
        ..v.request(&ids[..1])
    };
    h.stop(first).await;
    let other = pb::StopInstancesRequest {
        request_id: id.clone(),
        ..v.request(&ids)
    };
    let status = h
        .stop_with(tonic::Request::new(other))
        .await
        .expect_err("refused");
    assert_eq!(status.code(), Code::InvalidArgument);
    let bad = status.get_details_bad_request().expect("a BadRequest");
    assert_eq!(bad.field_violations[0].field, "request_id", "{status:?}");
    assert!(
        status.message().contains("request_id")
            || bad.field_violations[0].description.contains("different")
    );
    assert_eq!(h.state(v, &ids[1]).await, v.running, "nothing was sent");

    let malformed = pb::StopInstancesRequest {
        request_id: "not a valid id".into(),
        ..v.request(&ids)
    };
    let status = h
        .stop_with(tonic::Request::new(malformed))
        .await
        .expect_err("refused");
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(h.calls(v, "StopInstances").await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operation_is_forgotten_after_its_retention_window() {
    let v = TENCENT;
    let h = Harness::start_with(|c| c.operations.retention_seconds = 1).await;
    let ids = v.ids(0..2);
    h.seed_running(v, &ids).await;
    let request = pb::StopInstancesRequest {
        request_id: new_id(),
        ..v.request(&ids)
    };
    let first = h.stop(request.clone()).await;
    assert!(!first.accepted.as_ref().unwrap().reattached);
    // Sent again until the window has passed: every answer before it is the same operation,
    // re-attached, with the same results and no new vendor call.
    let fresh = loop {
        let s = h.stop(request.clone()).await;
        let accepted = s.accepted.clone().unwrap();
        if !accepted.reattached {
            break s;
        }
        assert!(accepted.finished);
        assert_eq!(s.results, first.results);
        assert_eq!(h.calls(v, "StopInstances").await.len(), 1);
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    // After it, the same id is a new operation: the instances are read again, already stopping
    // or stopped, and nothing is sent.
    for id in &ids {
        assert!(
            matches!(
                fresh.outcome(id),
                pb::InstanceOutcome::AlreadyStopped | pb::InstanceOutcome::StopAccepted
            ),
            "{fresh:#?}"
        );
    }
    assert_eq!(h.calls(v, "StopInstances").await.len(), 1);
}

/// A `stopgate serve` process with the in-process journal.
async fn replica(sim: &Sim, extra: &str) -> Replica {
    Replica::start(sim.addr, &format!("poll_interval_ms = 50\n{extra}")).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_with_a_short_grace_sends_what_was_decided_and_says_what_was_not() {
    let v = TENCENT;
    let sim = Sim::start().await;
    let (stopped, running) = (v.ids(0..2), v.ids(10..12));
    sim.seed(
        v,
        stopped
            .iter()
            .map(|id| json!({"id": id, "state": v.stopped}))
            .collect(),
    )
    .await;
    sim.seed_running(v, &running).await;
    // The running ones take a minute to stop: the wait outlasts the 1 s grace.
    sim.admin("POST", "/_sim/timings", json!({"stop_ms": 60000}))
        .await;
    let mut gateway = replica(&sim, "shutdown_grace_seconds = 1").await;
    let all: Vec<String> = stopped.iter().chain(&running).cloned().collect();
    let request = pb::StopInstancesRequest {
        request_id: new_id(),
        ..waiting(v.request(&all))
    };
    let mut client = gateway.client.clone();
    let mut inbound = client.stop_instances(request).await.unwrap().into_inner();
    let mut results = Vec::new();
    while results.len() < 2 {
        let message = inbound.message().await.unwrap().expect("more messages");
        if let Some(pb::stop_instances_response::Event::Result(r)) = message.event {
            results.push(r);
        }
    }
    gateway.signal("TERM");
    let status = loop {
        match inbound.message().await {
            Ok(Some(message)) => {
                if let Some(pb::stop_instances_response::Event::Result(r)) = message.event {
                    results.push(r);
                }
            }
            Ok(None) => panic!("the stream ends with a status saying what was not decided"),
            Err(status) => break status,
        }
    };
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    let info = incomplete(&status);
    assert_eq!(info.metadata["resultsSent"], "2");
    assert!(
        status
            .message()
            .contains("2 instance(s) not reported here are NOT decided"),
        "{status:?}"
    );
    let decided: Vec<&str> = results.iter().map(|r| r.instance_id.as_str()).collect();
    assert_eq!(decided.len(), 2);
    for id in &stopped {
        assert!(decided.contains(&id.as_str()), "{decided:?}");
    }
    assert!(gateway.exited().await.success());
    // Their stops were sent before the shutdown: they are stopping.
    for id in &running {
        assert_eq!(sim.state(v, id).await, v.stopping);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_lines_name_the_caller_and_every_vendor_request_id() {
    let v = TENCENT;
    let sim = Sim::start().await;
    let ids = v.ids(0..150);
    sim.seed_running(v, &ids).await;
    let token = "audit-test-token-0123456789";
    let gateway = replica(
        &sim,
        &format!("[[callers]]\nname = \"ci-bot\"\ntoken = \"{token}\"\naccounts = [\"*\"]\n"),
    )
    .await;
    let request = pb::StopInstancesRequest {
        request_id: new_id(),
        ..v.request(&ids)
    };
    let mut call = tonic::Request::new(request.clone());
    call.metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    let s = collect_stop(&gateway.client, call).await.unwrap();
    let summary = s.summary.unwrap();
    // 150 instances: two stop calls of at most 100.
    assert_eq!(summary.vendor_request_ids.len(), 2, "{summary:?}");
    let logs = gateway.log_lines();
    let of = |event: &str| -> Vec<&String> {
        logs.iter()
            .filter(|l| {
                l.contains(&format!("audit=\"{event}\"")) || l.contains(&format!("audit={event}"))
            })
            .filter(|l| l.contains(&request.request_id))
            .collect()
    };
    let accepted = of("operation.accepted");
    assert_eq!(accepted.len(), 1, "{logs:#?}");
    assert!(accepted[0].contains("token:ci-bot"), "{}", accepted[0]);
    let calls = of("vendor.call");
    assert_eq!(calls.len(), 2, "{logs:#?}");
    for vendor_id in &summary.vendor_request_ids {
        let line = calls
            .iter()
            .find(|l| l.contains(vendor_id.as_str()))
            .unwrap_or_else(|| panic!("a vendor.call line with {vendor_id}: {calls:#?}"));
        assert!(line.contains("token:ci-bot"), "{line}");
        assert!(line.contains("StopInstances"), "{line}");
    }
    let finished = of("operation.finished");
    assert_eq!(finished.len(), 1, "{logs:#?}");
    for vendor_id in &summary.vendor_request_ids {
        assert!(finished[0].contains(vendor_id.as_str()), "{}", finished[0]);
    }
    assert!(
        logs.iter().all(|l| !l.contains(token)),
        "the token is never logged"
    );
}
