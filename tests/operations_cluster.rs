//! Operations shared by replicas through a real Redis (docs/operations.md): a replica killed
//! with SIGKILL mid-stop (ids, or a selector across regions), a SIGTERM whose grace is shorter than the wait, re-attaching on
//! another replica, a mismatched request under the same id, and retention. Real `stopgate
//! serve` processes, a real redis-server started on a free loopback port, the simulator.

mod common;

use common::cluster::{Redis, Replica};
use common::*;
use serde_json::json;
use stopgate::api::pb;
use tonic::Code;

fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// A replica sharing `redis`'s journal, with a 2 s lease so that a dead owner is noticed fast.
async fn replica(sim: &Sim, redis: &Redis, extra: &str) -> Replica {
    Replica::start(
        sim.addr,
        &format!(
            "poll_interval_ms = 50\n{extra}\n[cluster]\nredis_url = \"{}\"\n[operations]\nlease_seconds = 2\n",
            redis.url()
        ),
    )
    .await
}

/// Starts `request` on `replica` and reads the stream's first message.
async fn started(
    replica: &Replica,
    request: &pb::StopInstancesRequest,
) -> tonic::Streaming<pb::StopInstancesResponse> {
    let mut client = replica.client.clone();
    let mut inbound = client
        .stop_instances(request.clone())
        .await
        .unwrap()
        .into_inner();
    inbound.message().await.unwrap().expect("the first message");
    inbound
}

/// An Alibaba simulator with one instance whose guest ignores the shutdown (running again
/// `graceful_ms` after the graceful stop), and a graceful-then-force request for it that waits.
async fn stubborn_alibaba(sim: &Sim, graceful_ms: u64) -> (String, pb::StopInstancesRequest) {
    let v = ALIBABA;
    let stubborn = v.id(7);
    sim.seed(v, vec![json!({"id": stubborn, "ignores_shutdown": true})])
        .await;
    sim.admin(
        "POST",
        "/_sim/timings",
        json!({"stop_ms": 150, "force_stop_ms": 50, "graceful_timeout_ms": graceful_ms}),
    )
    .await;
    let request = pb::StopInstancesRequest {
        request_id: new_id(),
        mode: pb::StopMode::GracefulThenForce as i32,
        wait: Some(pb::WaitOptions {
            until_terminal: true,
            timeout: None,
        }),
        ..v.request(std::slice::from_ref(&stubborn))
    };
    (stubborn, request)
}

/// Reads results from `inbound` until `n` have come (or the stream ends).
async fn read_results(
    inbound: &mut tonic::Streaming<pb::StopInstancesResponse>,
    n: usize,
) -> Vec<pb::InstanceResult> {
    let mut results = Vec::new();
    while results.len() < n {
        match inbound.message().await {
            Ok(Some(message)) => {
                if let Some(pb::stop_instances_response::Event::Result(r)) = message.event {
                    results.push(r);
                }
            }
            _ => break,
        }
    }
    results
}

/// A stream re-attached after a take-over: it answers each of the `n` instances exactly once,
/// repeats every result sent `before` the owner died, and every instance was stopped by the
/// operation: accepted, or found stopped after a stop whose answer the killed replica never
/// saw; never "already stopped" or failed.
fn answered_once_after_take_over(s: &Stream, before: &[pb::InstanceResult], n: usize) {
    assert!(s.accepted.as_ref().unwrap().reattached);
    assert_eq!(s.results.len(), n);
    let answered: std::collections::HashSet<&str> =
        s.results.iter().map(|r| r.instance_id.as_str()).collect();
    assert_eq!(answered.len(), n, "each instance exactly once");
    for r in before {
        assert_eq!(s.result(&r.instance_id), r, "a result already sent stands");
    }
    for r in &s.results {
        assert!(
            matches!(
                pb::InstanceOutcome::try_from(r.outcome).unwrap(),
                pb::InstanceOutcome::StopAccepted | pb::InstanceOutcome::Stopped
            ),
            "{r:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_killed_mid_stop_is_taken_over_and_every_instance_is_answered_once() {
    let v = TENCENT;
    let sim = Sim::start().await;
    let redis = Redis::start().await;
    let ids = v.ids(0..5_000);
    for chunk in ids.chunks(1000) {
        sim.seed_running(v, chunk).await;
    }
    // Ten stop calls a second: the 50 calls need 5 s, so the kill lands mid-way.
    let pacing = "[tencent.rate_limits]\nStopInstances = 10.0\n";
    let mut owner = replica(&sim, &redis, pacing).await;
    let other = replica(&sim, &redis, pacing).await;
    let request = pb::StopInstancesRequest {
        request_id: new_id(),
        ..v.request(&ids)
    };
    let mut inbound = started(&owner, &request).await;
    let before = read_results(&mut inbound, 500).await;
    assert_eq!(before.len(), 500);
    owner.signal("KILL");
    owner.exited().await;
    let ok = |calls: &[serde_json::Value]| calls.iter().filter(|c| c["outcome"] == "ok").count();
    let accepted_by_the_dead = ok(&sim.calls(v, "StopInstances").await);

    // Re-attach on the other replica: it takes the operation over once the lease expires.
    let s = collect_stop(&other.client, tonic::Request::new(request))
        .await
        .expect("the re-attached stream completes");
    answered_once_after_take_over(&s, &before, 5_000);
    let summary = s.summary.unwrap();
    assert_eq!(summary.unique, 5_000);
    let counted: u32 = ["STOP_ACCEPTED", "STOPPED"]
        .iter()
        .map(|o| summary.outcome_counts.get(*o).copied().unwrap_or(0))
        .sum();
    assert_eq!(counted, 5_000, "{summary:?}");
    let calls = sim.calls(v, "StopInstances").await;
    // The summary names the RequestIds of both owners' stop calls: at least the 5 calls behind
    // the 500 results read before the kill, and every call of the new owner.
    let by_the_new_owner = ok(&calls) - accepted_by_the_dead;
    let ids_named: std::collections::HashSet<&String> = summary.vendor_request_ids.iter().collect();
    assert_eq!(ids_named.len(), summary.vendor_request_ids.len());
    assert!(
        ids_named.len() >= by_the_new_owner + 5 && ids_named.len() <= ok(&calls),
        "{} RequestIds, {} accepted calls, {by_the_new_owner} by the new owner",
        ids_named.len(),
        ok(&calls)
    );
    let named = accepted_stops(&calls, v);
    assert_eq!(named.len(), 5_000, "every instance was stopped");
    let twice: Vec<(&String, &usize)> = named.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        twice.is_empty(),
        "no instance in two accepted stop calls: {twice:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_selector_stop_taken_over_from_a_killed_replica_answers_every_match_once() {
    let v = TENCENT;
    let sim = Sim::start().await;
    let redis = Redis::start().await;
    let regions = ["ap-guangzhou", "ap-shanghai"];
    let mut all = Vec::new();
    for (r, region) in regions.iter().enumerate() {
        let ids = v.ids(r * 10_000..r * 10_000 + 2_000);
        for chunk in ids.chunks(1000) {
            sim.seed_tagged(v, region, chunk, json!({"fleet": "batch"}))
                .await;
        }
        // Decoys the selector must leave alone.
        sim.seed_tagged(
            v,
            region,
            &v.ids(r * 10_000 + 5_000..r * 10_000 + 5_010),
            json!({"fleet": "web"}),
        )
        .await;
        all.extend(ids);
    }
    // Ten stop calls a second per region: 20 calls each need 2 s, so the kill lands mid-way.
    let pacing = "[tencent.rate_limits]\nStopInstances = 10.0\n";
    let mut owner = replica(&sim, &redis, pacing).await;
    let other = replica(&sim, &redis, pacing).await;
    let request = pb::StopInstancesRequest {
        provider: v.provider as i32,
        request_id: new_id(),
        selector: Some(pb::InstanceSelector {
            tags: vec![pb::TagMatch {
                key: "fleet".into(),
                value: Some("batch".into()),
            }],
            regions: regions.iter().map(|r| r.to_string()).collect(),
            all_regions: false,
            expect_at_most: 4_000,
        }),
        ..Default::default()
    };
    let mut inbound = started(&owner, &request).await;
    let before = read_results(&mut inbound, 400).await;
    assert_eq!(before.len(), 400);
    owner.signal("KILL");
    owner.exited().await;

    let s = collect_stop(&other.client, tonic::Request::new(request))
        .await
        .expect("the re-attached stream completes");
    answered_once_after_take_over(&s, &before, all.len());
    for r in &s.results {
        assert!(regions.contains(&r.region.as_str()), "{r:?}");
    }
    let named = accepted_stops(&sim.calls(v, "StopInstances").await, v);
    assert_eq!(named.len(), all.len(), "every match was stopped, no decoy");
    let twice: Vec<(&String, &usize)> = named.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        twice.is_empty(),
        "no instance in two accepted stop calls: {twice:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_shorter_than_the_wait_hands_the_operation_over() {
    let v = TENCENT;
    let sim = Sim::start().await;
    let redis = Redis::start().await;
    let ids = v.ids(0..20);
    sim.seed_running(v, &ids).await;
    // Stopping takes 4 s: the wait outlasts the 1 s grace.
    sim.admin("POST", "/_sim/timings", json!({"stop_ms": 4000}))
        .await;
    let mut owner = replica(&sim, &redis, "shutdown_grace_seconds = 1").await;
    let other = replica(&sim, &redis, "").await;
    let request = pb::StopInstancesRequest {
        request_id: new_id(),
        wait: Some(pb::WaitOptions {
            until_terminal: true,
            timeout: None,
        }),
        ..v.request(&ids)
    };
    let mut inbound = started(&owner, &request).await;
    // Once every stop was sent (each instance stopping), shut the owner down.
    loop {
        let states = sim.states(v).await;
        if ids.iter().all(|id| states[id] == v.stopping) {
            break;
        }
        tokio::task::yield_now().await;
    }
    owner.signal("TERM");
    let status = loop {
        match inbound.message().await {
            Ok(Some(_)) => {}
            Ok(None) => panic!("the owner shut down before the wait ended"),
            Err(status) => break status,
        }
    };
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert!(
        status.message().contains("another replica continues it"),
        "{status:?}"
    );
    assert!(owner.exited().await.success());

    let s = collect_stop(&other.client, tonic::Request::new(request))
        .await
        .unwrap();
    for id in &ids {
        assert_eq!(s.outcome(id), pb::InstanceOutcome::Stopped, "{s:#?}");
    }
    let named = accepted_stops(&sim.calls(v, "StopInstances").await, v);
    assert!(named.values().all(|n| *n == 1), "{named:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alibaba_graceful_then_force_is_forced_with_the_caller_gone_and_re_attached_elsewhere() {
    let v = ALIBABA;
    let sim = Sim::start().await;
    let redis = Redis::start().await;
    let (stubborn, request) = stubborn_alibaba(&sim, 300).await;
    let first = replica(&sim, &redis, "").await;
    let second = replica(&sim, &redis, "").await;
    drop(started(&first, &request).await);

    let s = collect_stop(&second.client, tonic::Request::new(request))
        .await
        .unwrap();
    assert!(s.accepted.as_ref().unwrap().reattached);
    assert_eq!(s.outcome(&stubborn), pb::InstanceOutcome::Stopped, "{s:#?}");
    assert!(s.result(&stubborn).forced);
    assert_eq!(sim.state(v, &stubborn).await, v.stopped);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_replica_refuses_a_different_request_under_the_same_id_and_forgets_after_retention()
{
    let v = TENCENT;
    let sim = Sim::start().await;
    let redis = Redis::start().await;
    let ids = v.ids(0..2);
    sim.seed_running(v, &ids).await;
    let retention = "[operations]\nretention_seconds = 1\nlease_seconds = 2\n";
    let config = format!(
        "poll_interval_ms = 50\n[cluster]\nredis_url = \"{}\"\n{retention}",
        redis.url()
    );
    let a = Replica::start(sim.addr, &config).await;
    let b = Replica::start(sim.addr, &config).await;
    let request = pb::StopInstancesRequest {
        request_id: new_id(),
        ..v.request(&ids[..1])
    };
    let first = collect_stop(&a.client, tonic::Request::new(request.clone()))
        .await
        .unwrap();
    let other = pb::StopInstancesRequest {
        request_id: request.request_id.clone(),
        ..v.request(&ids)
    };
    let status = collect_stop(&b.client, tonic::Request::new(other))
        .await
        .expect_err("a different request under the same id");
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert!(
        status.message().contains("request_id") || format!("{status:?}").contains("request_id")
    );
    assert_eq!(sim.state(v, &ids[1]).await, v.running, "nothing was sent");

    // Re-sent to the other replica until the window has passed: a re-attach each time before.
    loop {
        let s = collect_stop(&b.client, tonic::Request::new(request.clone()))
            .await
            .unwrap();
        if !s.accepted.as_ref().unwrap().reattached {
            break;
        }
        assert_eq!(s.results, first.results);
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let keys: Vec<String> = redis
        .query(redis::cmd("KEYS").arg(format!("*{}*", request.request_id)))
        .await;
    // The new operation under the old id has its own keys; the old ones expired.
    assert!(keys.len() <= 3, "{keys:?}");
    assert_eq!(sim.calls(v, "StopInstances").await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alibaba_graceful_then_force_is_forced_by_the_replica_that_takes_over_from_a_killed_one() {
    let v = ALIBABA;
    let sim = Sim::start().await;
    let redis = Redis::start().await;
    // The guest ignores the shutdown: 1.5 s after the graceful stop it is running again.
    let (stubborn, request) = stubborn_alibaba(&sim, 1500).await;
    let mut owner = replica(&sim, &redis, "").await;
    let other = replica(&sim, &redis, "").await;
    let inbound = started(&owner, &request).await;
    // Kill the owner once the vendor accepted the graceful stop and the journal noted it: the
    // force phase is left to whoever takes over.
    let phases = format!("stopgate:op:{{op:{}}}:phases", request.request_id);
    loop {
        let phase: Option<String> = redis
            .query(redis::cmd("HGET").arg(&phases).arg(&stubborn))
            .await;
        if phase.is_some_and(|p| p.starts_with("sent:") && !p.starts_with("sent:|")) {
            break;
        }
        tokio::task::yield_now().await;
    }
    owner.signal("KILL");
    owner.exited().await;
    drop(inbound);

    let s = collect_stop(&other.client, tonic::Request::new(request))
        .await
        .unwrap();
    assert_eq!(s.outcome(&stubborn), pb::InstanceOutcome::Stopped, "{s:#?}");
    assert!(s.result(&stubborn).forced, "the new owner forced it");
    assert_eq!(sim.state(v, &stubborn).await, v.stopped);
    let calls = sim.calls(v, "StopInstances").await;
    let accepted = |force: &str| {
        calls
            .iter()
            .filter(|c| c["params"]["ForceStop"] == force && c["outcome"] == "ok")
            .count()
    };
    assert_eq!(accepted("false"), 1, "one graceful stop: {calls:#?}");
    assert_eq!(accepted("true"), 1, "one forced stop: {calls:#?}");
}
