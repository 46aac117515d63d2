//! Credentials from sources that cannot answer, over real sockets: the gateway reports the
//! provider NOT_SERVING and fails each instance with UNAUTHENTICATED naming the source, without
//! a vendor call.

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

on_both_clouds!(an_assumed_role_keeps_stopping_across_three_lifetimes_without_a_failed_call,);

/// The simulator's long-term keys of the vendor, as the source that signs AssumeRole.
fn source_keys(v: Vendor) -> stopgate::config::CredentialSource {
    use stopgate::sim::credentials as keys;
    let (id, secret) = match v.name {
        "alibaba" => (keys::ALIBABA_ACCESS_KEY_ID, keys::ALIBABA_ACCESS_KEY_SECRET),
        _ => (keys::TENCENT_SECRET_ID, keys::TENCENT_SECRET_KEY),
    };
    stopgate::config::CredentialSource::Static(stopgate::config::Credentials {
        access_key_id: stopgate::config::Secret::new(id),
        secret: stopgate::config::Secret::new(secret),
        token: None,
    })
}

async fn an_assumed_role_keeps_stopping_across_three_lifetimes_without_a_failed_call(v: Vendor) {
    use stopgate::config::{AssumeRole, StsSettings};
    let sim = Sim::start().await;
    let arn = match v.name {
        "alibaba" => format!(
            "acs:ram::{}:role/stopgate",
            stopgate::sim::credentials::ALIBABA_ACCOUNT
        ),
        _ => format!(
            "qcs::cam::uin/{}:roleName/stopgate",
            stopgate::sim::credentials::TENCENT_ACCOUNT
        ),
    };
    // Keys the role's STS issues live 2 s.
    const LIFETIME: std::time::Duration = std::time::Duration::from_secs(2);
    sim.admin(
        "POST",
        "/_sim/roles",
        serde_json::json!({"provider": v.name, "arn": arn, "lifetime_seconds": LIFETIME.as_secs()}),
    )
    .await;
    let endpoint = format!("http://{}", sim.addr);
    let h = Harness::start_on(sim, |c| {
        let account = c.accounts.get_mut("default").unwrap();
        let source = Some(CredentialSource::AssumeRole(AssumeRole {
            role_arn: arn.clone(),
            session_name: "stopgate-test".into(),
            duration_seconds: Some(900),
            policy: None,
            external_id: None,
            source: Box::new(source_keys(v)),
            sts: StsSettings {
                region: Some(v.region.into()),
                vpc: false,
                endpoint: Some(endpoint.clone()),
            },
        }));
        match v.name {
            "alibaba" => account.alibaba = source,
            _ => account.tencent = source,
        }
    })
    .await;
    // One stop after another, each of a fresh instance, for more than three lifetimes.
    let started = std::time::Instant::now();
    let mut n = 0;
    while started.elapsed() < LIFETIME * 3 + LIFETIME / 2 {
        let id = v.id(n);
        h.seed_running(v, std::slice::from_ref(&id)).await;
        let s = h.stop(v.request(std::slice::from_ref(&id))).await;
        assert_eq!(s.outcome(&id), pb::InstanceOutcome::StopAccepted, "{s:#?}");
        n += 1;
    }
    let issued = h
        .calls(v, "AssumeRole")
        .await
        .into_iter()
        .filter(|c| c["outcome"] == "ok")
        .count();
    assert!(
        issued >= 4,
        "{issued} AssumeRole calls over three lifetimes"
    );
    let refused: Vec<serde_json::Value> = h
        .calls(v, "StopInstances")
        .await
        .into_iter()
        .chain(h.calls(v, "DescribeInstances").await)
        .filter(|c| c["outcome"] != "ok")
        .collect();
    assert!(
        refused.is_empty(),
        "no vendor call was refused: {refused:#?}"
    );
}
