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

on_both_clouds!(
    an_assumed_role_keeps_stopping_across_three_lifetimes_without_a_failed_call,
    an_oidc_role_keeps_stopping_across_three_lifetimes_without_a_failed_call,
    an_instance_role_keeps_stopping_across_three_lifetimes_without_a_failed_call,
);

/// Keys the simulator's STS and metadata services issue live 2 s in these tests.
const LIFETIME: std::time::Duration = std::time::Duration::from_secs(2);

/// The simulator's long-term keys of the vendor, as the source that signs AssumeRole.
fn source_keys(v: Vendor) -> CredentialSource {
    use stopgate::sim::credentials as keys;
    let (id, secret) = match v.name {
        "alibaba" => (keys::ALIBABA_ACCESS_KEY_ID, keys::ALIBABA_ACCESS_KEY_SECRET),
        _ => (keys::TENCENT_SECRET_ID, keys::TENCENT_SECRET_KEY),
    };
    CredentialSource::Static(stopgate::config::Credentials {
        access_key_id: stopgate::config::Secret::new(id),
        secret: stopgate::config::Secret::new(secret),
        token: None,
    })
}

/// A role of the vendor's default account, seeded in `sim` with keys living [`LIFETIME`].
async fn seed_role(sim: &Sim, v: Vendor) -> String {
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
    sim.admin(
        "POST",
        "/_sim/roles",
        serde_json::json!({"provider": v.name, "arn": arn, "lifetime_seconds": LIFETIME.as_secs()}),
    )
    .await;
    arn
}

fn sts(sim: &Sim, v: Vendor) -> stopgate::config::StsSettings {
    stopgate::config::StsSettings {
        region: Some(v.region.into()),
        vpc: false,
        endpoint: Some(format!("http://{}", sim.addr)),
    }
}

/// Runs a gateway whose `default` account gets its `v` credentials from `source`, and stops one
/// fresh instance after another for more than three key lifetimes: every stop succeeds, the
/// simulator issued keys again and again (`issued` calls), and it refused no vendor call.
async fn keeps_stopping(sim: Sim, v: Vendor, source: CredentialSource, issued: &str) {
    let h = Harness::start_on(sim, |c| {
        let account = c.accounts.get_mut("default").unwrap();
        match v.name {
            "alibaba" => account.alibaba = Some(source),
            _ => account.tencent = Some(source),
        }
    })
    .await;
    let started = std::time::Instant::now();
    let mut n = 0;
    while started.elapsed() < LIFETIME * 3 + LIFETIME / 2 {
        let id = v.id(n);
        h.seed_running(v, std::slice::from_ref(&id)).await;
        let s = h.stop(v.request(std::slice::from_ref(&id))).await;
        assert_eq!(s.outcome(&id), pb::InstanceOutcome::StopAccepted, "{s:#?}");
        n += 1;
    }
    let fetched = h
        .calls(v, issued)
        .await
        .into_iter()
        .filter(|c| c["outcome"] == "ok")
        .count();
    assert!(
        fetched >= 4,
        "{fetched} {issued} calls over three lifetimes"
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

async fn an_assumed_role_keeps_stopping_across_three_lifetimes_without_a_failed_call(v: Vendor) {
    let sim = Sim::start().await;
    let arn = seed_role(&sim, v).await;
    let source = CredentialSource::AssumeRole(stopgate::config::AssumeRole {
        role_arn: arn,
        session_name: "stopgate-test".into(),
        duration_seconds: Some(900),
        policy: None,
        external_id: None,
        source: Box::new(source_keys(v)),
        sts: sts(&sim, v),
    });
    keeps_stopping(sim, v, source, "AssumeRole").await
}

async fn an_oidc_role_keeps_stopping_across_three_lifetimes_without_a_failed_call(v: Vendor) {
    let sim = Sim::start().await;
    let arn = seed_role(&sim, v).await;
    let provider = match v.name {
        "alibaba" => format!(
            "acs:ram::{}:oidc-provider/ack-rrsa-test",
            stopgate::sim::credentials::ALIBABA_ACCOUNT
        ),
        _ => "cls-test0001".to_string(),
    };
    let token = "eyJ.projected-service-account-token.sig";
    sim.admin(
        "POST",
        "/_sim/oidc-providers",
        serde_json::json!({"provider": v.name, "id": provider, "tokens": [token]}),
    )
    .await;
    let token_file = std::env::temp_dir().join(format!("stopgate-oidc-{}", uuid::Uuid::new_v4()));
    std::fs::write(&token_file, token).unwrap();
    let source = CredentialSource::Oidc(stopgate::config::OidcRole {
        role_arn: arn,
        provider,
        token_file: token_file.clone(),
        session_name: "stopgate-test".into(),
        duration_seconds: Some(900),
        policy: None,
        sts: sts(&sim, v),
    });
    let action = match v.name {
        "alibaba" => "AssumeRoleWithOIDC",
        _ => "AssumeRoleWithWebIdentity",
    };
    keeps_stopping(sim, v, source, action).await;
    let _ = std::fs::remove_file(token_file);
}

async fn an_instance_role_keeps_stopping_across_three_lifetimes_without_a_failed_call(v: Vendor) {
    let sim = Sim::start().await;
    let arn = seed_role(&sim, v).await;
    sim.admin(
        "POST",
        "/_sim/instance-roles",
        serde_json::json!({"provider": v.name, "role_name": "stopgate", "role_arn": arn}),
    )
    .await;
    let source = CredentialSource::InstanceRole(InstanceRole {
        role_name: Some("stopgate".into()),
        metadata_endpoint: Some(format!("http://{}", sim.addr)),
        imds_v1: true,
    });
    keeps_stopping(sim, v, source, "GetRoleCredentials").await
}
