//! Refreshing temporary credentials when the source fails or changes, over real sockets: a
//! failed refresh while the keys are valid fails no stop; expired keys with a failing refresh
//! fail stops UNAUTHENTICATED (no vendor call) and health NOT_SERVING until the source answers;
//! a rotated OIDC token file is read at the next exchange.

mod common;

use std::time::Duration;

use common::*;
use serde_json::{Value, json};
use stopgate::api::pb;
use tonic::Code;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

on_both_clouds!(
    a_refresh_failing_while_the_keys_are_valid_fails_no_stop_and_recovers,
    expired_keys_whose_refresh_fails_fail_stops_unauthenticated_until_sts_answers,
    a_rotated_oidc_token_file_is_picked_up,
);

/// Every wait for an event gives up after this.
const DEADLINE: Duration = Duration::from_secs(60);

/// Seeds one running instance and stops it; the stream.
async fn stop_one(h: &Harness, v: Vendor, n: usize) -> (String, Stream) {
    let id = v.id(n);
    h.seed_running(v, std::slice::from_ref(&id)).await;
    let stream = h.stop(v.request(std::slice::from_ref(&id))).await;
    (id, stream)
}

/// Waits until the health of the vendor's provider service is `status` (a watch, bounded).
async fn wait_health(h: &Harness, v: Vendor, status: ServingStatus) {
    let service = format!("stopgate.provider.{}", v.name);
    let watch = async {
        let mut health = HealthClient::new(h.channel.clone());
        let mut answers = health
            .watch(HealthCheckRequest {
                service: service.clone(),
            })
            .await
            .unwrap()
            .into_inner();
        while let Some(answer) = answers.message().await.unwrap() {
            if answer.status == status as i32 {
                return;
            }
        }
        panic!("the health watch of {service} ended");
    };
    tokio::time::timeout(DEADLINE, watch)
        .await
        .unwrap_or_else(|_| panic!("{service} never became {status:?}"));
}

/// The sequence number of a call log entry.
fn seq(call: &Value) -> u64 {
    call["seq"].as_u64().unwrap()
}

async fn a_refresh_failing_while_the_keys_are_valid_fails_no_stop_and_recovers(v: Vendor) {
    // Keys live long enough to outlast two failed refreshes and their backoff (1 s, then 2 s):
    // due about half their lifetime ahead, they stay usable 7 s or more after the first failure.
    let lifetime = Duration::from_secs(15);
    let sim = Sim::start().await;
    let arn = roles::seed_role(&sim, v, lifetime).await;
    let h = Harness::start_on(
        sim.clone(),
        roles::with_source(v, roles::assume_role(&sim, v, &arn)),
    )
    .await;
    wait_health(&h, v, ServingStatus::Serving).await;
    h.fault(json!({"provider": v.name, "action": "AssumeRole", "times": 2, "kind": {"http_status": 503}}))
        .await;
    // Stop until STS refused both refreshes and then issued new keys, and once more after.
    let started = std::time::Instant::now();
    let mut n = 0;
    let (failed, recovered) = loop {
        assert!(started.elapsed() < DEADLINE, "the refresh never recovered");
        let (id, s) = stop_one(&h, v, n).await;
        n += 1;
        assert_eq!(s.outcome(&id), pb::InstanceOutcome::StopAccepted, "{s:#?}");
        let calls = h.calls(v, "AssumeRole").await;
        let failed: Vec<u64> = calls
            .iter()
            .filter(|c| c["outcome"] != "ok")
            .map(seq)
            .collect();
        let recovered = calls
            .iter()
            .filter(|c| c["outcome"] == "ok" && failed.len() == 2 && seq(c) > failed[1])
            .map(seq)
            .next();
        if let Some(recovered) = recovered {
            break (failed, recovered);
        }
    };
    let (id, s) = stop_one(&h, v, n).await;
    assert_eq!(s.outcome(&id), pb::InstanceOutcome::StopAccepted, "{s:#?}");
    // Stops were signed with the old keys while the refresh kept failing.
    let signed_meanwhile = h
        .calls(v, "StopInstances")
        .await
        .iter()
        .filter(|c| seq(c) > failed[0] && seq(c) < recovered)
        .count();
    assert!(signed_meanwhile > 0, "no stop was sent while STS failed");
    let refused = roles::refused_vendor_calls(&h.simulator, v).await;
    assert!(
        refused.is_empty(),
        "no vendor call was refused: {refused:#?}"
    );
}

async fn expired_keys_whose_refresh_fails_fail_stops_unauthenticated_until_sts_answers(v: Vendor) {
    let sim = Sim::start().await;
    let arn = roles::seed_role(&sim, v, Duration::from_secs(2)).await;
    let h = Harness::start_on(
        sim.clone(),
        roles::with_source(v, roles::assume_role(&sim, v, &arn)),
    )
    .await;
    wait_health(&h, v, ServingStatus::Serving).await;
    h.fault(json!({"provider": v.name, "action": "AssumeRole", "kind": {"http_status": 503}}))
        .await;
    // The keys expire and cannot be replaced.
    wait_health(&h, v, ServingStatus::NotServing).await;

    let (id, s) = stop_one(&h, v, 0).await;
    let result = s.result(&id);
    let error = result.error.as_ref().expect("an error");
    assert_eq!(error.code, Code::Unauthenticated as i32, "{error:#?}");
    assert_eq!(s.reason(&id), "CREDENTIALS_UNAVAILABLE");
    assert!(
        error.message.contains(&format!("STS AssumeRole {arn}")),
        "the message names the source: {}",
        error.message
    );
    let (_, source_secret) = roles::source_pair(v);
    let mut secrets = roles::issued_secrets(&h.simulator, v).await;
    assert!(!secrets.is_empty());
    secrets.push(source_secret.to_string());
    for secret in &secrets {
        assert!(
            !error.message.contains(secret.as_str()),
            "a secret in {}",
            error.message
        );
    }
    assert!(
        h.calls(v, "StopInstances").await.is_empty(),
        "no stop was sent"
    );
    assert_eq!(h.state(v, &id).await, v.running);

    h.admin("DELETE", "/_sim/faults", Value::Null).await;
    wait_health(&h, v, ServingStatus::Serving).await;
    let (id, s) = stop_one(&h, v, 1).await;
    assert_eq!(s.outcome(&id), pb::InstanceOutcome::StopAccepted, "{s:#?}");
}

/// Stops one fresh instance after another (numbered from `n` on) until the simulator answered
/// `count` calls of `action`; every stop succeeds.
async fn stop_until(
    h: &Harness,
    v: Vendor,
    action: &str,
    n: &mut usize,
    count: usize,
    started: std::time::Instant,
) {
    loop {
        let (id, s) = stop_one(h, v, *n).await;
        *n += 1;
        assert_eq!(s.outcome(&id), pb::InstanceOutcome::StopAccepted, "{s:#?}");
        if h.calls(v, action).await.len() >= count {
            return;
        }
        assert!(
            started.elapsed() < DEADLINE,
            "fewer than {count} {action} calls"
        );
    }
}

/// The provider first accepts token A, written in the file. Then, as an issuer rotating its
/// tokens does, it accepts A and B while the file is rewritten with B, and then B only: the
/// exchanges after that succeed, so they carried B read from the file, none is refused, and
/// every stop succeeds. (The call log does not show tokens; exchanges run one at a time.)
async fn a_rotated_oidc_token_file_is_picked_up(v: Vendor) {
    let (a, b) = ("eyJ.token-A.sig", "eyJ.token-B.sig");
    let sim = Sim::start().await;
    let arn = roles::seed_role(&sim, v, Duration::from_secs(2)).await;
    roles::seed_oidc(&sim, v, &[a]).await;
    let file = roles::TokenFile::new(a);
    let h = Harness::start_on(
        sim.clone(),
        roles::with_source(v, roles::oidc_role(&sim, v, &arn, &file)),
    )
    .await;
    let action = roles::oidc_action(v);
    let exchanges = || async { h.calls(v, action).await.len() };
    let started = std::time::Instant::now();
    let mut n = 0;
    stop_until(&h, v, action, &mut n, 2, started).await;

    roles::seed_oidc(&sim, v, &[a, b]).await;
    file.rotate(b);
    // At most one exchange was under way with A; the ones after it read B.
    let rotated = exchanges().await;
    stop_until(&h, v, action, &mut n, rotated + 3, started).await;
    roles::seed_oidc(&sim, v, &[b]).await;
    let switched = exchanges().await;
    stop_until(&h, v, action, &mut n, switched + 2, started).await;

    let (ok, refused) = roles::answered(&sim, v, action).await;
    assert_eq!(refused, 0, "no exchange was refused ({ok} answered)");
    let refused = roles::refused_vendor_calls(&h.simulator, v).await;
    assert!(
        refused.is_empty(),
        "no vendor call was refused: {refused:#?}"
    );
}
