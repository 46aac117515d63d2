//! Credentials from sources that cannot answer, over real sockets: the gateway reports the
//! provider NOT_SERVING and fails each instance with UNAUTHENTICATED naming the source, without
//! a vendor call.

mod common;

use common::*;
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
