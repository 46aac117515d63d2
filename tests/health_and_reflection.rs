//! Health (overall, per service, per provider) and reflection v1 + v1alpha, over real sockets.

mod common;

use common::*;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_reflection::pb::v1 as rv1;
use tonic_reflection::pb::v1alpha as rv1alpha;

async fn status(h: &Harness, service: &str) -> ServingStatus {
    let mut client = HealthClient::new(h.channel.clone());
    let reply = client
        .check(HealthCheckRequest {
            service: service.to_string(),
        })
        .await
        .unwrap();
    ServingStatus::try_from(reply.into_inner().status).unwrap()
}

#[tokio::test]
async fn health_is_reported_overall_per_service_and_per_provider() {
    let h = Harness::start().await;
    for service in [
        "",
        "stopgate.v1.InstanceService",
        "stopgate.v1.CommandService",
        "stopgate.provider.alibaba",
        "stopgate.provider.tencent",
    ] {
        assert_eq!(
            status(&h, service).await,
            ServingStatus::Serving,
            "{service}"
        );
    }
}

#[tokio::test]
async fn a_provider_without_credentials_is_not_serving() {
    let h = Harness::start_with(|c| {
        c.accounts.get_mut("default").unwrap().tencent = None;
    })
    .await;
    assert_eq!(
        status(&h, "stopgate.provider.alibaba").await,
        ServingStatus::Serving
    );
    assert_eq!(
        status(&h, "stopgate.provider.tencent").await,
        ServingStatus::NotServing
    );
    assert_eq!(status(&h, "").await, ServingStatus::Serving);
}

#[tokio::test]
async fn reflection_v1_and_v1alpha_both_list_the_services() {
    let h = Harness::start().await;
    let mut v1 = rv1::server_reflection_client::ServerReflectionClient::new(h.channel.clone());
    let request = rv1::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(
            rv1::server_reflection_request::MessageRequest::ListServices(String::new()),
        ),
    };
    let mut replies = v1
        .server_reflection_info(tokio_stream::iter(vec![request]))
        .await
        .unwrap()
        .into_inner();
    let reply = replies.message().await.unwrap().unwrap();
    let Some(rv1::server_reflection_response::MessageResponse::ListServicesResponse(list)) =
        reply.message_response
    else {
        panic!("not a list: {reply:?}")
    };
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    for expected in [
        "stopgate.v1.InstanceService",
        "grpc.health.v1.Health",
        "grpc.reflection.v1.ServerReflection",
        "grpc.reflection.v1alpha.ServerReflection",
    ] {
        assert!(
            names.iter().any(|n| n == expected),
            "v1 lists {expected}: {names:?}"
        );
    }

    let mut alpha =
        rv1alpha::server_reflection_client::ServerReflectionClient::new(h.channel.clone());
    let request = rv1alpha::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(
            rv1alpha::server_reflection_request::MessageRequest::FileContainingSymbol(
                "stopgate.v1.InstanceService".to_string(),
            ),
        ),
    };
    let mut replies = alpha
        .server_reflection_info(tokio_stream::iter(vec![request]))
        .await
        .unwrap()
        .into_inner();
    let reply = replies.message().await.unwrap().unwrap();
    assert!(
        matches!(reply.message_response, Some(rv1alpha::server_reflection_response::MessageResponse::FileDescriptorResponse(ref f)) if !f.file_descriptor_proto.is_empty()),
        "{reply:?}"
    );
}

#[tokio::test]
async fn the_maximum_instances_per_request_is_configurable_and_defaults_to_ten_thousand() {
    let h = Harness::start().await;
    let too_many = TENCENT.ids(0..10_001);
    let error = h
        .stop_with(tonic::Request::new(TENCENT.request(&too_many)))
        .await
        .unwrap_err();
    assert_eq!(error.code(), tonic::Code::InvalidArgument);
    assert!(
        error.message().contains("at most 10000"),
        "{}",
        error.message()
    );

    let h = Harness::start_with(|c| c.max_instances_per_request = 5).await;
    let error = h
        .stop_with(tonic::Request::new(ALIBABA.request(&ALIBABA.ids(0..6))))
        .await
        .unwrap_err();
    assert_eq!(error.code(), tonic::Code::InvalidArgument);
    assert!(error.message().contains("at most 5"), "{}", error.message());
}
