//! Temporary credentials over real sockets. From sources that cannot answer: the gateway reports
//! the provider NOT_SERVING and fails each instance with UNAUTHENTICATED naming the source,
//! without a vendor call. From roles, OIDC and instance roles whose keys live seconds: the
//! gateway keeps stopping across several lifetimes, fetching keys about twice a lifetime rather
//! than for every call, and no vendor call is refused.

mod common;

use common::*;
use stopgate::api::pb;
use stopgate::config::{CredentialSource, InstanceRole};
use tonic::Code;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

/// A metadata endpoint where nothing listens.
fn nowhere() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    url
}

async fn an_instance_without_credentials_fails_unauthenticated_naming_the_source(v: Vendor) {
    let h = Harness::start_with(|c| {
        let account = c.accounts.get_mut("default").unwrap();
        let source = Some(CredentialSource::InstanceRole(InstanceRole {
            role_name: Some("stopgate".into()),
            metadata_endpoint: Some(nowhere()),
            imds_v1: true,
        }));
        match v.name {
            "alibaba" => account.alibaba = source,
            _ => account.tencent = source,
        }
    })
    .await;
    let health = HealthClient::new(h.channel.clone())
        .check(HealthCheckRequest {
            service: format!("stopgate.provider.{}", v.name),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(health.status, ServingStatus::NotServing as i32);

    let id = v.id(1);
    h.seed_running(v, std::slice::from_ref(&id)).await;
    let stream = h.stop(v.request(std::slice::from_ref(&id))).await;
    let result = stream.result(&id);
    let error = result.error.as_ref().expect("an error");
    assert_eq!(error.code, Code::Unauthenticated as i32);
    assert_eq!(stream.reason(&id), "CREDENTIALS_UNAVAILABLE");
    let role = match v.name {
        "alibaba" => "ECS RAM role stopgate",
        _ => "CVM CAM role stopgate",
    };
    assert!(error.message.contains(role), "{}", error.message);
    assert!(h.calls(v, "StopInstances").await.is_empty());
    assert_eq!(h.state(v, &id).await, v.running);
}

on_both_clouds!(an_instance_without_credentials_fails_unauthenticated_naming_the_source);

on_both_clouds!(
    an_assumed_role_keeps_stopping_across_three_lifetimes_without_a_failed_call,
    an_oidc_role_keeps_stopping_across_three_lifetimes_without_a_failed_call,
    an_instance_role_keeps_stopping_across_three_lifetimes_without_a_failed_call,
);

/// Keys the simulator's STS and metadata services issue live 3 s in these tests (the vendors
/// write expiry in whole seconds, so the gateway sees 2 to 3 s).
const LIFETIME: std::time::Duration = std::time::Duration::from_secs(3);

/// Runs a gateway whose `default` account gets its `v` credentials from `source`, and stops one
/// fresh instance after another for more than three key lifetimes: every stop succeeds, the
/// simulator refused no vendor call, and it issued keys (`issued` calls) again and again but
/// about twice a lifetime: keys are reused within their lifetime, not fetched for each call.
async fn keeps_stopping(sim: Sim, v: Vendor, source: CredentialSource, issued: &str) {
    let h = Harness::start_on(sim, roles::with_source(v, source)).await;
    let started = std::time::Instant::now();
    let mut n = 0;
    while started.elapsed() < LIFETIME * 3 + LIFETIME / 2 {
        let id = v.id(n);
        h.seed_running(v, std::slice::from_ref(&id)).await;
        let s = h.stop(v.request(std::slice::from_ref(&id))).await;
        assert_eq!(s.outcome(&id), pb::InstanceOutcome::StopAccepted, "{s:#?}");
        n += 1;
    }
    let lifetimes = started.elapsed().as_secs_f64() / LIFETIME.as_secs_f64();
    let (fetched, failed) = roles::answered(&h.simulator, v, issued).await;
    assert_eq!(failed, 0, "no {issued} call failed");
    assert!(
        fetched >= 4,
        "{fetched} {issued} calls over three lifetimes"
    );
    let signed =
        h.calls(v, "StopInstances").await.len() + h.calls(v, "DescribeInstances").await.len();
    assert!(
        fetched as f64 <= 4.0 * lifetimes + 2.0 && fetched * 2 <= signed,
        "keys are reused: {fetched} {issued} calls over {lifetimes:.1} lifetimes, for {n} stops and {signed} signed calls"
    );
    let refused = roles::refused_vendor_calls(&h.simulator, v).await;
    assert!(
        refused.is_empty(),
        "no vendor call was refused: {refused:#?}"
    );
}

async fn an_assumed_role_keeps_stopping_across_three_lifetimes_without_a_failed_call(v: Vendor) {
    let sim = Sim::start().await;
    let arn = roles::seed_role(&sim, v, LIFETIME).await;
    let source = roles::assume_role(&sim, v, &arn);
    keeps_stopping(sim, v, source, "AssumeRole").await
}

async fn an_oidc_role_keeps_stopping_across_three_lifetimes_without_a_failed_call(v: Vendor) {
    let sim = Sim::start().await;
    let arn = roles::seed_role(&sim, v, LIFETIME).await;
    let token = "eyJ.projected-service-account-token.sig";
    roles::seed_oidc(&sim, v, &[token]).await;
    let token_file = roles::TokenFile::new(token);
    let source = roles::oidc_role(&sim, v, &arn, &token_file);
    keeps_stopping(sim, v, source, roles::oidc_action(v)).await;
}

async fn an_instance_role_keeps_stopping_across_three_lifetimes_without_a_failed_call(v: Vendor) {
    let sim = Sim::start().await;
    let arn = roles::seed_role(&sim, v, LIFETIME).await;
    roles::seed_instance_role(&sim, v, &arn).await;
    let source = CredentialSource::InstanceRole(InstanceRole {
        role_name: Some("stopgate".into()),
        metadata_endpoint: Some(format!("http://{}", sim.addr)),
        imds_v1: true,
    });
    keeps_stopping(sim, v, source, "GetRoleCredentials").await
}
