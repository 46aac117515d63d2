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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn while_draining_a_new_connection_gets_not_serving_and_new_calls_are_refused() {
    use stopgate::api::pb;
    let sim = stopgate::sim::Simulator::new(&stopgate::sim::SimConfig {
        seed_demo: false,
        ..Default::default()
    })
    .spawn("127.0.0.1:0".parse().unwrap())
    .await
    .unwrap();
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let admin = |path: &str, body: serde_json::Value| {
        http.post(format!("http://{sim}{path}")).json(&body).send()
    };
    let id = TENCENT.id(1);
    admin(
        "/_sim/instances",
        serde_json::json!({"provider": "tencent", "region": TENCENT.region, "instances": [{"id": id}]}),
    )
    .await
    .unwrap();
    admin("/_sim/timings", serde_json::json!({"stop_ms": 600_000}))
        .await
        .unwrap();
    let mut config = stopgate::sandbox::config(sim);
    config.poll_interval_ms = 50;
    let engine = std::sync::Arc::new(stopgate::engine::Engine::new(config).unwrap());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let gateway = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(stopgate::server::serve(
        engine,
        listener,
        async {
            let _ = stopped.await;
        },
        std::time::Duration::from_secs(2),
    ));

    // A call in flight: it waits for a stop that takes ten minutes.
    let channel = tonic::transport::Channel::from_shared(gateway.clone())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut request = TENCENT.request(std::slice::from_ref(&id));
    request.wait = Some(pb::WaitOptions {
        until_terminal: true,
        timeout: None,
    });
    let in_flight = pb::instance_service_client::InstanceServiceClient::new(channel)
        .stop_instances(request)
        .await
        .unwrap()
        .into_inner();

    stop.send(()).unwrap();
    // Each check is a new connection, and must be answered (not left in the accept queue
    // until its deadline) until the drain has begun.
    let mut drained = false;
    for _ in 0..200 {
        let fresh = tonic::transport::Channel::from_shared(gateway.clone())
            .unwrap()
            .connect()
            .await
            .expect("a new connection is accepted while draining");
        let mut check = tonic::Request::new(HealthCheckRequest {
            service: String::new(),
        });
        check.set_timeout(std::time::Duration::from_secs(10));
        let reply = HealthClient::new(fresh.clone())
            .check(check)
            .await
            .expect("health answers while draining");
        if reply.into_inner().status == ServingStatus::NotServing as i32 {
            let refused = pb::instance_service_client::InstanceServiceClient::new(fresh)
                .stop_instances(TENCENT.request(&TENCENT.ids(2..3)))
                .await
                .unwrap_err();
            assert_eq!(refused.code(), tonic::Code::Unavailable, "{refused:?}");
            assert!(refused.message().contains("shutting down"));
            drained = true;
            break;
        }
        tokio::task::yield_now().await;
    }
    assert!(drained, "health never turned NOT_SERVING");
    assert!(
        !server.is_finished(),
        "the in-flight call keeps the server up"
    );
    // The caller leaving does not end the operation: it runs until the grace period is over,
    // and then the server stops it and exits.
    drop(in_flight);
    server.await.unwrap().unwrap();
}
