//! StopInstances, black box: the real gateway against the real simulator over real sockets.
//! Each behaviour runs against both vendors (`<behaviour>::alibaba`, `<behaviour>::tencent`).

mod common;

use common::*;
use serde_json::{Value, json};
use stopgate::api::pb;
use tonic::Code;

on_both_clouds!(
    a_running_instance_is_stopped,
    an_already_stopped_instance_is_reported_as_success_without_a_stop_call,
    a_mix_of_states_gets_one_truthful_result_each,
    malformed_ids_are_rejected_before_any_vendor_call,
    duplicates_are_reported_once,
    two_hundred_fifty_instances_are_chunked_to_the_vendor_limit,
    a_failure_of_one_instance_does_not_fail_the_others,
    all_or_nothing_stops_none_when_one_cannot_stop,
    all_or_nothing_stops_all_in_one_call,
    dry_run_changes_nothing_and_reports_each_instance,
    force_powers_off,
    graceful_then_force_stops_an_instance_that_ignores_shutdown,
    stop_charging_reports_the_mode_that_took_effect,
    waiting_streams_transitions_until_stopped,
    a_wait_that_times_out_reports_the_last_state,
    throttling_is_retried_and_the_stop_still_succeeds,
    a_persistent_5xx_fails_only_the_instances_of_that_call,
    a_graceful_stop_the_guest_ignores_fails_with_the_reason,
);

fn ok_calls(calls: &[Value]) -> Vec<&Value> {
    calls.iter().filter(|c| c["outcome"] == "ok").collect()
}

async fn a_running_instance_is_stopped(v: Vendor) {
    let h = Harness::start().await;
    let id = v.id(1);
    h.seed_running(v, std::slice::from_ref(&id)).await;
    let s = h.stop(v.request(std::slice::from_ref(&id))).await;
    let r = s.result(&id);
    assert_eq!(s.outcome(&id), pb::InstanceOutcome::StopAccepted);
    assert_eq!(r.previous_state, pb::InstanceState::Running as i32);
    assert_eq!(r.vendor_previous_state, v.running);
    assert_eq!(r.current_state, pb::InstanceState::Stopping as i32);
    assert!(!r.vendor_request_id.is_empty());
    assert!(r.error.is_none());
    assert!([v.stopping, v.stopped].contains(&h.state(v, &id).await.as_str()));
    let summary = s.summary.unwrap();
    assert_eq!(summary.outcome_counts["STOP_ACCEPTED"], 1);
    assert_eq!((summary.requested, summary.unique), (1, 1));
    assert_eq!(ok_calls(&h.calls(v, "StopInstances").await).len(), 1);
}

async fn an_already_stopped_instance_is_reported_as_success_without_a_stop_call(v: Vendor) {
    let h = Harness::start().await;
    let id = v.id(1);
    h.seed(v, vec![json!({"id": id, "state": v.stopped})]).await;
    let s = h.stop(v.request(std::slice::from_ref(&id))).await;
    assert_eq!(s.outcome(&id), pb::InstanceOutcome::AlreadyStopped);
    assert_eq!(
        s.result(&id).current_state,
        pb::InstanceState::Stopped as i32
    );
    assert_eq!(s.result(&id).vendor_state, v.stopped);
    assert!(
        h.calls(v, "StopInstances").await.is_empty(),
        "nothing to stop, nothing sent"
    );
}

fn lock_for(v: Vendor) -> &'static str {
    match v.provider {
        pb::Provider::Alibaba => "security",
        _ => "banning",
    }
}

async fn a_mix_of_states_gets_one_truthful_result_each(v: Vendor) {
    let h = Harness::start().await;
    let (running, stopped, stopping, missing, locked, starting) =
        (v.id(1), v.id(2), v.id(3), v.id(4), v.id(5), v.id(6));
    h.admin(
        "POST",
        "/_sim/timings",
        json!({"stop_ms": 60_000, "start_ms": 60_000}),
    )
    .await;
    h.seed(
        v,
        vec![
            json!({"id": running}),
            json!({"id": stopped, "state": v.stopped}),
            json!({"id": stopping, "state": v.stopping}),
            json!({"id": locked, "lock": lock_for(v)}),
            json!({"id": starting, "state": v.starting}),
        ],
    )
    .await;
    let ids = vec![
        running.clone(),
        stopped.clone(),
        stopping.clone(),
        missing.clone(),
        locked.clone(),
        starting.clone(),
    ];
    let s = h.stop(v.request(&ids)).await;
    assert_eq!(s.results.len(), 6);
    assert_eq!(s.outcome(&running), pb::InstanceOutcome::StopAccepted);
    assert_eq!(s.outcome(&stopped), pb::InstanceOutcome::AlreadyStopped);
    assert_eq!(s.outcome(&stopping), pb::InstanceOutcome::StopAccepted);
    assert_eq!(
        s.result(&stopping).previous_state,
        pb::InstanceState::Stopping as i32
    );
    assert_eq!(s.outcome(&missing), pb::InstanceOutcome::Failed);
    assert_eq!(
        s.result(&missing).error.as_ref().unwrap().code,
        Code::NotFound as i32
    );
    assert_eq!(s.reason(&missing), "INSTANCE_NOT_FOUND");
    assert_eq!(s.outcome(&locked), pb::InstanceOutcome::Failed);
    assert_eq!(
        s.result(&locked).error.as_ref().unwrap().code,
        Code::FailedPrecondition as i32
    );
    assert_eq!(s.reason(&locked), "INSTANCE_LOCKED");
    let info = error_info(s.result(&locked));
    assert_eq!(info.metadata["provider"], v.name);
    assert!(
        info.metadata.contains_key("vendorCode"),
        "the vendor's own code is kept: {info:?}"
    );
    assert_eq!(s.outcome(&starting), pb::InstanceOutcome::Failed);
    assert_eq!(s.reason(&starting), "INSTANCE_STATE");
    assert_eq!(h.state(v, &running).await, v.stopping);
    assert_eq!(
        h.state(v, &locked).await,
        v.running,
        "the locked instance was not stopped"
    );
}

async fn malformed_ids_are_rejected_before_any_vendor_call(v: Vendor) {
    let h = Harness::start().await;
    let ids = vec![v.id(1), "not-an-id".to_string(), "i-".to_string()];
    let error = h
        .stop_with(tonic::Request::new(v.request(&ids)))
        .await
        .unwrap_err();
    assert_eq!(error.code(), Code::InvalidArgument);
    use tonic_types::StatusExt;
    let bad = error.get_details_bad_request().expect("BadRequest details");
    let fields: Vec<&str> = bad
        .field_violations
        .iter()
        .map(|f| f.field.as_str())
        .collect();
    assert!(
        fields.contains(&"instance_ids[1]") && fields.contains(&"instance_ids[2]"),
        "{fields:?}"
    );
    assert!(
        bad.field_violations[0].description.contains("is not a"),
        "{:?}",
        bad.field_violations
    );
    let calls = h.admin("GET", "/_sim/calls", Value::Null).await;
    assert!(
        calls["calls"].as_array().unwrap().is_empty(),
        "no vendor call at all"
    );

    for (request, field) in [
        (
            pb::StopInstancesRequest {
                instance_ids: vec![],
                ..v.request(&[])
            },
            "instance_ids",
        ),
        (
            pb::StopInstancesRequest {
                region: String::new(),
                ..v.request(&[v.id(1)])
            },
            "region",
        ),
        (
            pb::StopInstancesRequest {
                region: "Hangzhou".into(),
                ..v.request(&[v.id(1)])
            },
            "region",
        ),
        (
            pb::StopInstancesRequest {
                account: "prod".into(),
                ..v.request(&[v.id(1)])
            },
            "account",
        ),
        (
            pb::StopInstancesRequest {
                provider: 0,
                ..v.request(&[v.id(1)])
            },
            "provider",
        ),
        (
            pb::StopInstancesRequest {
                dry_run: true,
                wait: Some(pb::WaitOptions {
                    until_terminal: true,
                    timeout: None,
                }),
                ..v.request(&[v.id(1)])
            },
            "wait.until_terminal",
        ),
        (
            pb::StopInstancesRequest {
                all_or_nothing: true,
                ..v.request(&v.ids(0..101))
            },
            "all_or_nothing",
        ),
    ] {
        let error = h.stop_with(tonic::Request::new(request)).await.unwrap_err();
        assert_eq!(error.code(), Code::InvalidArgument, "{field}: {error:?}");
        let bad = error.get_details_bad_request().unwrap();
        assert!(
            bad.field_violations.iter().any(|f| f.field == field),
            "{field}: {bad:?}"
        );
    }
}

async fn duplicates_are_reported_once(v: Vendor) {
    let h = Harness::start().await;
    let ids = v.ids(0..2);
    h.seed_running(v, &ids).await;
    let request = v.request(&[
        ids[0].clone(),
        ids[1].clone(),
        ids[0].clone(),
        ids[0].clone(),
    ]);
    let s = h.stop(request).await;
    assert_eq!(s.results.len(), 2);
    let summary = s.summary.unwrap();
    assert_eq!((summary.requested, summary.unique), (4, 2));
}

async fn two_hundred_fifty_instances_are_chunked_to_the_vendor_limit(v: Vendor) {
    let h = Harness::start().await;
    let ids = v.ids(0..250);
    h.seed_running(v, &ids).await;
    let s = h.stop(v.request(&ids)).await;
    assert_eq!(s.results.len(), 250);
    assert!(
        s.results
            .iter()
            .all(|r| r.outcome == pb::InstanceOutcome::StopAccepted as i32)
    );
    let calls = h.calls(v, "StopInstances").await;
    let mut sizes: Vec<usize> = calls.iter().map(|c| params_ids(c, v).len()).collect();
    sizes.sort();
    assert_eq!(sizes, vec![50, 100, 100]);
    let mut sent: Vec<String> = calls.iter().flat_map(|c| params_ids(c, v)).collect();
    sent.sort();
    assert_eq!(sent, ids, "each instance sent exactly once");
    assert_eq!(
        s.summary.unwrap().vendor_calls as usize,
        calls.len() + h.calls(v, "DescribeInstances").await.len()
    );
}

async fn a_failure_of_one_instance_does_not_fail_the_others(v: Vendor) {
    let h = Harness::start().await;
    let ids = v.ids(0..8);
    let bad = ids[5].clone();
    let specs = ids
        .iter()
        .map(|id| {
            if *id == bad {
                json!({"id": id, "lock": lock_for(v)})
            } else {
                json!({"id": id})
            }
        })
        .collect();
    h.seed(v, specs).await;
    let s = h.stop(v.request(&ids)).await;
    for id in &ids {
        let expected = if *id == bad {
            pb::InstanceOutcome::Failed
        } else {
            pb::InstanceOutcome::StopAccepted
        };
        assert_eq!(s.outcome(id), expected, "{id}");
    }
    let calls = h.calls(v, "StopInstances").await;
    match v.provider {
        pb::Provider::Alibaba => {
            // SuccessFirst answers per instance: one call.
            assert_eq!(calls.len(), 1);
            assert_eq!(calls[0]["params"]["BatchOptimization"], "SuccessFirst");
        }
        _ => {
            // One code per call: the batch is split in halves until the culprit stands alone.
            let failed: Vec<Vec<String>> = calls
                .iter()
                .filter(|c| c["outcome"] != "ok")
                .map(|c| params_ids(c, v))
                .collect();
            assert_eq!(
                failed.first().map(Vec::len),
                Some(8),
                "the first call had all 8: {failed:?}"
            );
            assert!(
                failed.iter().all(|ids| ids.contains(&bad)),
                "every failed call contained the culprit"
            );
            assert_eq!(
                failed.last().unwrap(),
                &vec![bad.clone()],
                "bisection isolated it"
            );
            let accepted: usize = calls
                .iter()
                .filter(|c| c["outcome"] == "ok")
                .map(|c| params_ids(c, v).len())
                .sum();
            assert_eq!(accepted, 7);
            assert_eq!(calls.len(), 1 + 2 + 2 + 2, "8 → 4+4 → 2+2 → 1+1");
        }
    }
}

async fn all_or_nothing_stops_none_when_one_cannot_stop(v: Vendor) {
    let h = Harness::start().await;
    let ids = v.ids(0..4);
    h.admin("POST", "/_sim/timings", json!({"start_ms": 60_000}))
        .await;
    h.seed(
        v,
        vec![
            json!({"id": ids[0]}),
            json!({"id": ids[1]}),
            json!({"id": ids[2], "state": v.starting}),
            json!({"id": ids[3]}),
        ],
    )
    .await;
    let s = h
        .stop(pb::StopInstancesRequest {
            all_or_nothing: true,
            ..v.request(&ids)
        })
        .await;
    assert!(
        s.results
            .iter()
            .all(|r| r.outcome == pb::InstanceOutcome::Failed as i32)
    );
    assert_eq!(s.reason(&ids[2]), "INSTANCE_STATE");
    assert_eq!(s.reason(&ids[0]), "ALL_OR_NOTHING_ABORTED");
    assert_eq!(
        s.result(&ids[0]).error.as_ref().unwrap().code,
        Code::Aborted as i32
    );
    assert!(h.calls(v, "StopInstances").await.is_empty());

    // A refusal only the vendor can see (a lock) fails the one call, and nothing stops.
    let h = Harness::start().await;
    h.seed(
        v,
        vec![
            json!({"id": ids[0]}),
            json!({"id": ids[1], "lock": lock_for(v)}),
            json!({"id": ids[2]}),
        ],
    )
    .await;
    let s = h
        .stop(pb::StopInstancesRequest {
            all_or_nothing: true,
            ..v.request(&ids[0..3])
        })
        .await;
    assert!(
        s.results
            .iter()
            .all(|r| r.outcome == pb::InstanceOutcome::Failed as i32),
        "{s:#?}"
    );
    for id in &ids[0..3] {
        assert_eq!(h.state(v, id).await, v.running);
    }
    assert_eq!(h.calls(v, "StopInstances").await.len(), 1);
}

async fn all_or_nothing_stops_all_in_one_call(v: Vendor) {
    let h = Harness::start().await;
    let ids = v.ids(0..5);
    h.seed_running(v, &ids).await;
    let s = h
        .stop(pb::StopInstancesRequest {
            all_or_nothing: true,
            ..v.request(&ids)
        })
        .await;
    assert!(
        s.results
            .iter()
            .all(|r| r.outcome == pb::InstanceOutcome::StopAccepted as i32)
    );
    let calls = h.calls(v, "StopInstances").await;
    assert_eq!(calls.len(), 1);
    assert_eq!(params_ids(&calls[0], v).len(), 5);
    if v.provider == pb::Provider::Alibaba {
        assert_eq!(calls[0]["params"]["BatchOptimization"], "AllTogether");
    }
}

async fn dry_run_changes_nothing_and_reports_each_instance(v: Vendor) {
    let h = Harness::start().await;
    let ids = v.ids(0..4);
    h.seed(
        v,
        vec![
            json!({"id": ids[0]}),
            json!({"id": ids[1]}),
            json!({"id": ids[2], "state": v.stopped}),
            json!({"id": ids[3], "lock": lock_for(v)}),
        ],
    )
    .await;
    let s = h
        .stop(pb::StopInstancesRequest {
            dry_run: true,
            ..v.request(&ids)
        })
        .await;
    assert_eq!(s.outcome(&ids[0]), pb::InstanceOutcome::DryRunPassed);
    assert_eq!(s.outcome(&ids[1]), pb::InstanceOutcome::DryRunPassed);
    assert_eq!(s.outcome(&ids[2]), pb::InstanceOutcome::AlreadyStopped);
    assert_eq!(s.outcome(&ids[3]), pb::InstanceOutcome::Failed);
    assert_eq!(s.reason(&ids[3]), "INSTANCE_LOCKED");
    for (id, state) in [
        (&ids[0], v.running),
        (&ids[1], v.running),
        (&ids[2], v.stopped),
        (&ids[3], v.running),
    ] {
        assert_eq!(h.state(v, id).await, state, "dry run changed {id}");
    }
    let calls = h.calls(v, "StopInstances").await;
    match v.provider {
        pb::Provider::Alibaba => assert!(
            !calls.is_empty() && calls.iter().all(|c| c["params"]["DryRun"] == "true"),
            "{calls:?}"
        ),
        _ => assert!(
            calls.is_empty(),
            "Tencent has no dry run: nothing may be sent"
        ),
    }
}

async fn force_powers_off(v: Vendor) {
    let h = Harness::start().await;
    let id = v.id(1);
    h.seed(v, vec![json!({"id": id, "ignores_shutdown": true})])
        .await;
    let s = h
        .stop(pb::StopInstancesRequest {
            mode: pb::StopMode::Force as i32,
            wait: Some(pb::WaitOptions {
                until_terminal: true,
                timeout: None,
            }),
            ..v.request(std::slice::from_ref(&id))
        })
        .await;
    assert_eq!(s.outcome(&id), pb::InstanceOutcome::Stopped);
    let call = &h.calls(v, "StopInstances").await[0];
    match v.provider {
        pb::Provider::Alibaba => assert_eq!(call["params"]["ForceStop"], "true"),
        _ => assert_eq!(call["params"]["StopType"], "HARD"),
    }
}

async fn graceful_then_force_stops_an_instance_that_ignores_shutdown(v: Vendor) {
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
    let s = h
        .stop(pb::StopInstancesRequest {
            mode: pb::StopMode::GracefulThenForce as i32,
            wait: Some(pb::WaitOptions {
                until_terminal: true,
                timeout: None,
            }),
            ..v.request(&[stubborn.clone(), polite.clone()])
        })
        .await;
    assert_eq!(s.outcome(&stubborn), pb::InstanceOutcome::Stopped, "{s:#?}");
    assert_eq!(s.outcome(&polite), pb::InstanceOutcome::Stopped);
    let calls = h.calls(v, "StopInstances").await;
    match v.provider {
        pb::Provider::Alibaba => {
            // Emulated: graceful first, then a forced stop of the one that did not stop.
            assert!(s.result(&stubborn).forced);
            assert!(!s.result(&polite).forced);
            assert_eq!(calls[0]["params"]["ForceStop"], "false");
            let forced: Vec<&Value> = calls
                .iter()
                .filter(|c| c["params"]["ForceStop"] == "true" && c["outcome"] == "ok")
                .collect();
            assert_eq!(forced.len(), 1);
            assert_eq!(params_ids(forced[0], v), vec![stubborn.clone()]);
            assert!(
                s.progress
                    .iter()
                    .any(|p| p.instance_id == stubborn && p.message.contains("forcing"))
            );
        }
        _ => {
            // Native SOFT_FIRST: one call.
            assert_eq!(calls.len(), 1);
            assert_eq!(calls[0]["params"]["StopType"], "SOFT_FIRST");
        }
    }
}

async fn stop_charging_reports_the_mode_that_took_effect(v: Vendor) {
    let h = Harness::start().await;
    let (payg, prepaid) = (v.id(1), v.id(2));
    let prepaid_type = match v.provider {
        pb::Provider::Alibaba => "PrePaid",
        _ => "PREPAID",
    };
    h.seed(
        v,
        vec![
            json!({"id": payg}),
            json!({"id": prepaid, "charge_type": prepaid_type}),
        ],
    )
    .await;
    let s = h
        .stop(pb::StopInstancesRequest {
            billing: pb::Billing::StopCharging as i32,
            ..v.request(&[payg.clone(), prepaid.clone()])
        })
        .await;
    assert_eq!(s.outcome(&payg), pb::InstanceOutcome::StopAccepted);
    assert_eq!(
        s.result(&payg).billing_effective,
        pb::Billing::StopCharging as i32
    );
    match v.provider {
        pb::Provider::Alibaba => {
            // Alibaba silently keeps charging what cannot stop charging: report it.
            assert_eq!(s.outcome(&prepaid), pb::InstanceOutcome::StopAccepted);
            assert_eq!(
                s.result(&prepaid).billing_effective,
                pb::Billing::KeepCharging as i32
            );
        }
        _ => {
            // Tencent refuses it: that instance fails, the other is stopped.
            assert_eq!(s.outcome(&prepaid), pb::InstanceOutcome::Failed);
            assert_eq!(s.reason(&prepaid), "STOP_CHARGING_UNSUPPORTED");
            assert_eq!(h.state(v, &prepaid).await, v.running);
        }
    }
}

async fn waiting_streams_transitions_until_stopped(v: Vendor) {
    let h = Harness::start().await;
    let ids = v.ids(0..3);
    h.seed_running(v, &ids).await;
    let s = h
        .stop(pb::StopInstancesRequest {
            wait: Some(pb::WaitOptions {
                until_terminal: true,
                timeout: None,
            }),
            ..v.request(&ids)
        })
        .await;
    for id in &ids {
        assert_eq!(s.outcome(id), pb::InstanceOutcome::Stopped);
        assert_eq!(s.result(id).vendor_state, v.stopped);
        let seen: Vec<i32> = s
            .progress
            .iter()
            .filter(|p| p.instance_id == *id)
            .map(|p| p.state)
            .collect();
        assert!(
            seen.contains(&(pb::InstanceState::Stopped as i32)),
            "{id}: {seen:?}"
        );
    }
    assert_eq!(h.state(v, &ids[0]).await, v.stopped);
}

async fn a_wait_that_times_out_reports_the_last_state(v: Vendor) {
    let h = Harness::start().await;
    h.admin("POST", "/_sim/timings", json!({"stop_ms": 30_000}))
        .await;
    let id = v.id(1);
    h.seed_running(v, std::slice::from_ref(&id)).await;
    let timeout = prost_types::Duration {
        seconds: 1,
        nanos: 0,
    };
    let s = h
        .stop(pb::StopInstancesRequest {
            wait: Some(pb::WaitOptions {
                until_terminal: true,
                timeout: Some(timeout),
            }),
            ..v.request(std::slice::from_ref(&id))
        })
        .await;
    let r = s.result(&id);
    assert_eq!(s.outcome(&id), pb::InstanceOutcome::Failed);
    assert_eq!(
        r.error.as_ref().unwrap().code,
        Code::DeadlineExceeded as i32
    );
    assert_eq!(s.reason(&id), "WAIT_TIMEOUT");
    assert_eq!(r.vendor_state, v.stopping, "the last observed state");
}

fn throttling_code(v: Vendor) -> Value {
    match v.provider {
        pb::Provider::Alibaba => json!({"code": "Throttling.User", "http_status": 400}),
        _ => json!({"code": "RequestLimitExceeded"}),
    }
}

async fn throttling_is_retried_and_the_stop_still_succeeds(v: Vendor) {
    let h = Harness::start().await;
    let ids = v.ids(0..3);
    h.seed_running(v, &ids).await;
    h.fault(json!({"provider": v.name, "action": "StopInstances", "times": 2, "kind": {"error": throttling_code(v)}})).await;
    let s = h.stop(v.request(&ids)).await;
    assert!(
        s.results
            .iter()
            .all(|r| r.outcome == pb::InstanceOutcome::StopAccepted as i32),
        "{s:#?}"
    );
    let summary = s.summary.unwrap();
    assert_eq!(summary.throttled, 2);
    assert_eq!(summary.retries, 2);
    let calls = h.calls(v, "StopInstances").await;
    assert_eq!(calls.len(), 3);
    assert_eq!(ok_calls(&calls).len(), 1);
}

async fn a_persistent_5xx_fails_only_the_instances_of_that_call(v: Vendor) {
    let h = Harness::start_with(|c| c.max_retries = 2).await;
    let ids = v.ids(0..150);
    h.seed_running(v, &ids).await;
    // Every StopInstances call naming this instance gets a bare 503.
    h.fault(json!({"provider": v.name, "action": "StopInstances", "instance_id": ids[120], "kind": {"http_status": 503}})).await;
    let s = h.stop(v.request(&ids)).await;
    let calls = h.calls(v, "StopInstances").await;
    let failing: Vec<String> = calls
        .iter()
        .find(|c| c["outcome"] == "http_503")
        .map(|c| params_ids(c, v))
        .unwrap();
    for id in &ids {
        let r = s.result(id);
        if failing.contains(id) {
            assert_eq!(r.outcome, pb::InstanceOutcome::Failed as i32);
            assert_eq!(r.error.as_ref().unwrap().code, Code::Unavailable as i32);
            assert_eq!(error_info(r).metadata["retry"], "PERSISTENT");
        } else {
            assert_eq!(
                r.outcome,
                pb::InstanceOutcome::StopAccepted as i32,
                "{id} was not in the failing call"
            );
        }
    }
    assert!(failing.len() < ids.len());
    assert_eq!(
        calls.iter().filter(|c| c["outcome"] == "http_503").count(),
        3,
        "first try and 2 retries"
    );
}

async fn a_graceful_stop_the_guest_ignores_fails_with_the_reason(v: Vendor) {
    let h = Harness::start().await;
    let id = v.id(1);
    h.seed(v, vec![json!({"id": id, "ignores_shutdown": true})])
        .await;
    let s = h
        .stop(pb::StopInstancesRequest {
            wait: Some(pb::WaitOptions {
                until_terminal: true,
                timeout: None,
            }),
            ..v.request(std::slice::from_ref(&id))
        })
        .await;
    let r = s.result(&id);
    assert_eq!(s.outcome(&id), pb::InstanceOutcome::Failed, "{s:#?}");
    assert_eq!(
        r.error.as_ref().unwrap().code,
        Code::FailedPrecondition as i32
    );
    assert_eq!(s.reason(&id), "STOP_FAILED");
    assert_eq!(r.vendor_state, v.running);
    assert!(
        r.error
            .as_ref()
            .unwrap()
            .message
            .contains("STOP_MODE_FORCE"),
        "says what to do"
    );
    if v.provider == pb::Provider::Tencent {
        // LatestOperationState=FAILED with its message (docs/design.md rule 7).
        let info = error_info(r);
        assert!(
            info.metadata["vendorMessage"].contains("soft shutdown"),
            "{info:?}"
        );
    }
}

#[tokio::test]
async fn alibaba_local_disk_instances_need_the_data_loss_confirmation() {
    let v = ALIBABA;
    let h = Harness::start().await;
    let id = v.id(1);
    h.seed(v, vec![json!({"id": id, "instance_type": "ecs.i1.xlarge"})])
        .await;
    let s = h.stop(v.request(std::slice::from_ref(&id))).await;
    assert_eq!(s.outcome(&id), pb::InstanceOutcome::Failed);
    assert_eq!(s.reason(&id), "LOCAL_DISK_CONFIRMATION_REQUIRED");
    assert_eq!(
        error_info(s.result(&id)).metadata["vendorCode"],
        "InstanceType.ParameterMismatch"
    );
    let s = h
        .stop(pb::StopInstancesRequest {
            confirm_local_disk_data_loss: true,
            ..v.request(std::slice::from_ref(&id))
        })
        .await;
    assert_eq!(s.outcome(&id), pb::InstanceOutcome::StopAccepted);
    assert_eq!(
        h.calls(v, "StopInstances").await[1]["params"]["ConfirmStop"],
        "true"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alibaba_throttling_honours_x_acs_retry_after() {
    let v = ALIBABA;
    // The gateway is told Alibaba allows far more than the simulator does, so it is throttled.
    let h = Harness::start_with(|c| {
        c.alibaba.rate_limits.insert("StopInstances".into(), 100.0);
    })
    .await;
    // 0.4/s: the simulator asks for waits of up to 2.5 s, longer than any backoff of the gateway's own.
    h.admin(
        "POST",
        "/_sim/ratelimits",
        json!({"provider": "alibaba", "action": "StopInstances", "per_second": 0.4}),
    )
    .await;
    let ids = v.ids(0..300);
    h.seed_running(v, &ids).await;
    let s = h.stop(v.request(&ids)).await;
    assert!(
        s.results
            .iter()
            .all(|r| r.outcome == pb::InstanceOutcome::StopAccepted as i32),
        "{:?}",
        s.summary
    );
    let summary = s.summary.unwrap();
    assert!(
        summary.throttled >= 1 && summary.retries >= 1,
        "{summary:?}"
    );
    let calls = h.calls(v, "StopInstances").await;
    let time = |c: &Value| {
        time::OffsetDateTime::parse(
            c["time"].as_str().unwrap(),
            &time::format_description::well_known::Rfc3339,
        )
        .unwrap()
    };
    // Each throttled call's retry comes no sooner than the simulator's x-acs-retry-after.
    let mut long_waits = 0;
    for (i, throttled) in calls
        .iter()
        .enumerate()
        .filter(|(_, c)| c["outcome"] == "Throttling.User")
    {
        let asked = throttled["retry_after_ms"]
            .as_i64()
            .expect("the sim logs the retry-after it sent");
        long_waits += usize::from(asked > 1500);
        let ids = params_ids(throttled, v);
        let retry = calls[i + 1..]
            .iter()
            .find(|c| params_ids(c, v) == ids)
            .expect("the batch was retried");
        let gap = time(retry) - time(throttled);
        assert!(
            gap >= time::Duration::milliseconds(asked - 20),
            "asked to wait {asked} ms, retried after {gap}"
        );
    }
    assert!(
        long_waits >= 1,
        "at least one wait was longer than the gateway's own throttling backoff"
    );
}

#[tokio::test]
async fn unknown_regions_and_meaningless_options_are_rejected_before_any_vendor_call() {
    let h = Harness::start().await;
    let thirty = Some(prost_types::Duration {
        seconds: 30,
        nanos: 0,
    });
    for (request, field) in [
        (
            pb::StopInstancesRequest {
                region: "xx-nowhere-1".into(),
                ..ALIBABA.request(&[ALIBABA.id(1)])
            },
            "region",
        ),
        (
            pb::StopInstancesRequest {
                region: "ap-atlantis".into(),
                ..TENCENT.request(&[TENCENT.id(1)])
            },
            "region",
        ),
        // graceful_timeout means something only for Alibaba's emulated graceful-then-force.
        (
            pb::StopInstancesRequest {
                mode: pb::StopMode::Force as i32,
                graceful_timeout: thirty,
                ..ALIBABA.request(&[ALIBABA.id(1)])
            },
            "graceful_timeout",
        ),
        (
            pb::StopInstancesRequest {
                mode: pb::StopMode::GracefulThenForce as i32,
                graceful_timeout: thirty,
                ..TENCENT.request(&[TENCENT.id(1)])
            },
            "graceful_timeout",
        ),
    ] {
        let error = h.stop_with(tonic::Request::new(request)).await.unwrap_err();
        assert_eq!(error.code(), Code::InvalidArgument, "{field}");
        use tonic_types::StatusExt;
        assert!(
            error
                .get_details_bad_request()
                .unwrap()
                .field_violations
                .iter()
                .any(|f| f.field == field),
            "{error:?}"
        );
    }
    let ok = pb::StopInstancesRequest {
        mode: pb::StopMode::GracefulThenForce as i32,
        graceful_timeout: thirty,
        dry_run: true,
        ..ALIBABA.request(&[ALIBABA.id(1)])
    };
    assert!(
        h.stop_with(tonic::Request::new(ok)).await.is_ok(),
        "valid for Alibaba's emulation"
    );
    assert_eq!(h.calls(TENCENT, "DescribeInstances").await.len(), 0);
}

async fn a_dry_run_passes_an_instance_that_is_already_stopping(v: Vendor) {
    let h = Harness::start().await;
    h.admin("POST", "/_sim/timings", json!({"stop_ms": 60_000}))
        .await;
    let id = v.id(1);
    h.seed(v, vec![json!({"id": id, "state": v.stopping})])
        .await;
    for all_or_nothing in [false, true] {
        let s = h
            .stop(pb::StopInstancesRequest {
                dry_run: true,
                all_or_nothing,
                ..v.request(std::slice::from_ref(&id))
            })
            .await;
        assert_eq!(
            s.outcome(&id),
            pb::InstanceOutcome::DryRunPassed,
            "all_or_nothing={all_or_nothing}: a real stop would accept it"
        );
    }
}

async fn graceful_then_force_without_wait_accepts_an_instance_already_stopping(v: Vendor) {
    let h = Harness::start().await;
    h.admin("POST", "/_sim/timings", json!({"stop_ms": 60_000}))
        .await;
    let id = v.id(1);
    h.seed(v, vec![json!({"id": id, "state": v.stopping})])
        .await;
    let s = h
        .stop(pb::StopInstancesRequest {
            mode: pb::StopMode::GracefulThenForce as i32,
            ..v.request(std::slice::from_ref(&id))
        })
        .await;
    assert_eq!(s.outcome(&id), pb::InstanceOutcome::StopAccepted);
    assert_eq!(
        h.calls(v, "DescribeInstances").await.len(),
        1,
        "not watched until a timeout: the one read before deciding"
    );
}

on_both_clouds!(
    a_dry_run_passes_an_instance_that_is_already_stopping,
    graceful_then_force_without_wait_accepts_an_instance_already_stopping
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_temporary_refusal_of_one_tencent_instance_is_isolated_then_retried_alone() {
    let v = TENCENT;
    let h = Harness::start().await;
    let ids = v.ids(0..4);
    h.seed_running(v, &ids).await;
    // The vendor refuses any call naming ids[2], twice, with a temporary instance-level code.
    h.fault(
        json!({"provider": "tencent", "action": "StopInstances", "instance_id": ids[2], "times": 2,
        "kind": {"error": {"code": "OperationDenied.InstanceOperationInProgress"}}}),
    )
    .await;
    let s = h.stop(v.request(&ids)).await;
    for id in &ids {
        assert_eq!(s.outcome(id), pb::InstanceOutcome::StopAccepted, "{id}");
    }
    let calls = h.calls(v, "StopInstances").await;
    let refused: Vec<Vec<String>> = calls
        .iter()
        .filter(|c| c["outcome"] != "ok")
        .map(|c| params_ids(c, v))
        .collect();
    assert_eq!(
        refused[0].len(),
        4,
        "the first call named all four, and was not retried whole: {refused:?}"
    );
    assert_eq!(refused.len(), 2);
    assert!(
        refused[1].len() < 4,
        "the second refusal came after the split: {refused:?}"
    );
    let accepted_alone = calls
        .iter()
        .filter(|c| c["outcome"] == "ok")
        .any(|c| params_ids(c, v) == vec![ids[2].clone()]);
    assert!(
        accepted_alone,
        "the refused instance was retried on its own"
    );
}

fn auth_failure(v: Vendor) -> Value {
    match v.provider {
        pb::Provider::Alibaba => json!({"code": "InvalidAccessKeyId.NotFound", "http_status": 404}),
        _ => json!({"code": "AuthFailure.SecretIdNotFound"}),
    }
}

/// Credentials revoked during a wait: the wait ends at once with the vendor's error, not with a
/// wait timeout much later.
async fn a_permanent_error_while_waiting_fails_the_instance_at_once(v: Vendor) {
    let h = Harness::start().await;
    h.admin("POST", "/_sim/timings", json!({"stop_ms": 600_000}))
        .await;
    let id = v.id(1);
    h.seed_running(v, std::slice::from_ref(&id)).await;
    let mut client = h.client.clone();
    let mut inbound = client
        .stop_instances(pb::StopInstancesRequest {
            wait: Some(pb::WaitOptions {
                until_terminal: true,
                timeout: Some(prost_types::Duration {
                    seconds: 600,
                    nanos: 0,
                }),
            }),
            ..v.request(std::slice::from_ref(&id))
        })
        .await
        .unwrap()
        .into_inner();
    let mut result = None;
    while let Some(message) = inbound.message().await.unwrap() {
        match message.event.unwrap() {
            // The stop was accepted and is being watched: now the credentials go bad.
            pb::stop_instances_response::Event::Progress(_) if result.is_none() => {
                h.fault(json!({"provider": v.name, "action": "DescribeInstances", "kind": {"error": auth_failure(v)}}))
                    .await;
            }
            pb::stop_instances_response::Event::Result(r) => result = Some(r),
            _ => {}
        }
    }
    let r = result.expect("a result");
    assert_eq!(r.outcome, pb::InstanceOutcome::Failed as i32);
    assert_eq!(r.error.as_ref().unwrap().code, Code::Unauthenticated as i32);
    assert_eq!(error_info(&r).reason, "AUTH_FAILED");
}

on_both_clouds!(a_permanent_error_while_waiting_fails_the_instance_at_once);
