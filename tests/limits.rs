//! The gateway's bounds against heavy or hostile use, black-box over loopback sockets: admission
//! control (calls and instances in flight), the size of errors that quote caller input, and
//! vendor answers too large to read.

mod common;

use common::*;
use serde_json::json;
use stopgate::api::pb;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tonic::Code;
use tonic_types::StatusExt;

/// Starts a StopInstances call that stays in flight (it waits for a stop the simulator takes
/// ten minutes to finish) and returns its stream once the gateway has admitted it.
async fn call_in_flight(
    h: &Harness,
    ids: &[String],
) -> tonic::Streaming<pb::StopInstancesResponse> {
    h.seed_running(TENCENT, ids).await;
    h.admin("POST", "/_sim/timings", json!({"stop_ms": 600_000}))
        .await;
    let mut request = TENCENT.request(ids);
    request.wait = Some(pb::WaitOptions {
        until_terminal: true,
        timeout: None,
    });
    // The response headers come back only once the call has been admitted and its stream
    // has started.
    h.client
        .clone()
        .stop_instances(request)
        .await
        .expect("the first call is admitted")
        .into_inner()
}

fn assert_exhausted(status: &tonic::Status, limit: &str) {
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    assert!(status.message().contains(limit), "{}", status.message());
    let retry = status
        .get_details_retry_info()
        .expect("RESOURCE_EXHAUSTED carries a RetryInfo");
    assert!(retry.retry_delay.is_some_and(|d| !d.is_zero()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_beyond_the_concurrent_call_limit_is_refused_with_retry_info() {
    let h = Harness::start_with(|c| c.limits.max_concurrent_rpcs = 1).await;
    let first = call_in_flight(&h, &TENCENT.ids(0..1)).await;
    let refused = h
        .stop_with(tonic::Request::new(TENCENT.request(&TENCENT.ids(5..6))))
        .await
        .unwrap_err();
    assert_exhausted(&refused, "max_concurrent_rpcs");

    drop(first);
    // The slot comes back when the first stream ends; the gateway notices the cancel
    // asynchronously, so the next call is tried until it is admitted.
    let ids = TENCENT.ids(7..8);
    h.seed_running(TENCENT, &ids).await;
    let mut admitted = None;
    for _ in 0..500 {
        match h
            .stop_with(tonic::Request::new(TENCENT.request(&ids)))
            .await
        {
            Ok(stream) => {
                admitted = Some(stream);
                break;
            }
            Err(status) => {
                assert_eq!(status.code(), Code::ResourceExhausted);
                tokio::task::yield_now().await;
            }
        }
    }
    let stream = admitted.expect("a call is admitted once the first one ended");
    assert_eq!(stream.results.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_and_reflection_answer_while_the_call_limit_is_full() {
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_reflection::pb::v1 as reflection;
    let h = Harness::start_with(|c| c.limits.max_concurrent_rpcs = 1).await;
    let _first = call_in_flight(&h, &TENCENT.ids(0..1)).await;
    let refused = h
        .stop_with(tonic::Request::new(TENCENT.request(&TENCENT.ids(5..6))))
        .await
        .unwrap_err();
    assert_exhausted(&refused, "max_concurrent_rpcs");

    let health = tonic_health::pb::health_client::HealthClient::new(h.channel.clone())
        .check(tonic_health::pb::HealthCheckRequest {
            service: String::new(),
        })
        .await
        .expect("health answers while the call limit is full");
    assert_eq!(health.into_inner().status, ServingStatus::Serving as i32);

    let list = reflection::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(
            reflection::server_reflection_request::MessageRequest::ListServices(String::new()),
        ),
    };
    let reply =
        reflection::server_reflection_client::ServerReflectionClient::new(h.channel.clone())
            .server_reflection_info(tokio_stream::iter(vec![list]))
            .await
            .expect("reflection answers while the call limit is full")
            .into_inner()
            .message()
            .await
            .unwrap()
            .expect("a reply");
    assert!(
        matches!(
            reply.message_response,
            Some(reflection::server_reflection_response::MessageResponse::ListServicesResponse(_))
        ),
        "{reply:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_in_flight_count_across_calls() {
    let h = Harness::start_with(|c| {
        c.max_instances_per_request = 3;
        c.limits.max_instances_in_flight = 4;
    })
    .await;
    let _first = call_in_flight(&h, &TENCENT.ids(0..3)).await;
    let refused = h
        .stop_with(tonic::Request::new(TENCENT.request(&TENCENT.ids(10..12))))
        .await
        .unwrap_err();
    assert_exhausted(&refused, "max_instances_in_flight");
    // One more instance still fits.
    let ids = TENCENT.ids(20..21);
    h.seed_running(TENCENT, &ids).await;
    let stream = h.stop(TENCENT.request(&ids)).await;
    assert_eq!(stream.results.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_two_megabyte_instance_id_is_refused_with_a_short_error() {
    let h = Harness::start().await;
    let huge = format!("ins-{}", "x".repeat(2 << 20));
    let error = h
        .stop_with(tonic::Request::new(
            TENCENT.request(std::slice::from_ref(&huge)),
        ))
        .await
        .unwrap_err();
    assert_eq!(error.code(), Code::InvalidArgument, "{}", error.message());
    assert!(error.message().len() <= 1024, "{}", error.message().len());
    assert!(
        error.details().len() < 8 * 1024,
        "details: {} bytes",
        error.details().len()
    );
    let bad = error.get_details_bad_request().expect("a BadRequest");
    assert!(
        bad.field_violations
            .iter()
            .all(|v| v.description.len() <= 256 && v.field.len() <= 256)
    );
}

/// A vendor endpoint that answers every request with `body` (HTTP 200, JSON).
async fn vendor_answering(body: impl Fn(&str) -> Vec<u8> + Send + Sync + 'static) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let body = std::sync::Arc::new(body);
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let body = body.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 4096];
                loop {
                    let Ok(n) = socket.read(&mut buf).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    head.extend_from_slice(&buf[..n]);
                    let Some(end) = head.windows(4).position(|w| w == b"\r\n\r\n") else {
                        continue;
                    };
                    let text = String::from_utf8_lossy(&head[..end]).to_lowercase();
                    let action = text
                        .lines()
                        .find_map(|l| {
                            l.strip_prefix("x-acs-action:")
                                .or_else(|| l.strip_prefix("x-tc-action:"))
                        })
                        .unwrap_or_default()
                        .trim()
                        .to_string();
                    let length: usize = text
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:"))
                        .and_then(|v| v.trim().parse().ok())
                        .unwrap_or(0);
                    // Drop the request body and answer; the connection stays open.
                    let mut rest = head.split_off(end + 4);
                    while rest.len() < length {
                        let Ok(n) = socket.read(&mut buf).await else {
                            return;
                        };
                        if n == 0 {
                            return;
                        }
                        rest.extend_from_slice(&buf[..n]);
                    }
                    head = rest.split_off(length);
                    let body = body(&action);
                    let header = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
                        body.len()
                    );
                    if socket.write_all(header.as_bytes()).await.is_err()
                        || socket.write_all(&body).await.is_err()
                    {
                        return;
                    }
                }
            });
        }
    });
    format!("http://{addr}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vendor_answer_over_the_size_limit_is_refused_unread() {
    let endpoint = vendor_answering(|_| {
        let padding = "x".repeat(stopgate::provider::http::MAX_BODY_BYTES);
        format!(r#"{{"Response":{{"RequestId":"r-1","Padding":"{padding}"}}}}"#).into_bytes()
    })
    .await;
    // The caller's deadline no longer shortens an operation: few retries keep it short.
    let h = Harness::start_with(|c| {
        c.tencent.endpoint = Some(endpoint);
        c.max_retries = 1;
    })
    .await;
    let id = TENCENT.id(1);
    let mut request = TENCENT.request(std::slice::from_ref(&id));
    request.dry_run = true;
    let outcome = h.stop_with(tonic::Request::new(request)).await;
    let text = match outcome {
        Ok(stream) => {
            let result = stream.result(&id);
            let status = result.error.as_ref().expect("a failed result");
            assert_eq!(
                error_info(result).metadata["vendorCode"],
                "RESPONSE_TOO_LARGE"
            );
            status.message.clone()
        }
        Err(status) => status.message().to_string(),
    };
    assert!(text.contains("over stopgate's limit"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alibaba_per_instance_messages_are_redacted() {
    let secret = stopgate::sim::credentials::ALIBABA_ACCESS_KEY_SECRET;
    let id = ALIBABA.id(1);
    let answer_id = id.clone();
    let endpoint = vendor_answering(move |action| {
        let body = match action {
            "describeinstances" => {
                json!({"RequestId": "r-1", "TotalCount": 1, "Instances": {"Instance": [
                {"InstanceId": answer_id, "Status": "Running", "RegionId": "cn-hangzhou"}]}})
            }
            _ => json!({"RequestId": "r-2", "InstanceResponses": {"InstanceResponse": [
                {"InstanceId": answer_id, "Code": "InstanceLockedForSecurity",
                 "Message": format!("signed with {secret}: the instance is locked")}]}}),
        };
        body.to_string().into_bytes()
    })
    .await;
    let h = Harness::start_with(|c| c.alibaba.endpoint = Some(endpoint)).await;
    let stream = h.stop(ALIBABA.request(std::slice::from_ref(&id))).await;
    let result = stream.result(&id);
    let printed = format!("{result:?}");
    assert!(
        printed.contains("the instance is locked"),
        "the vendor's message reached the result: {printed}"
    );
    assert!(!printed.contains(secret), "{printed}");
    assert!(printed.contains("[REDACTED]"), "{printed}");
}
