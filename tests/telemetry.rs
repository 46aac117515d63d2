//! Telemetry, black box: a small OTLP receiver gets stopgate's traces and metrics while a stop
//! runs on both clouds with a caller `traceparent`; the spans have the right parent and
//! attributes, the JSON logs carry the trace id, and nothing exported or logged (at trace
//! level) contains a credential. One test: telemetry is process-wide.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::{
    MetricsService, MetricsServiceServer,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use opentelemetry_proto::tonic::trace::v1::Span;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use serde_json::json;
use stopgate::api::pb;
use stopgate::config::{Credentials, Secret};
use stopgate::sim::credentials as sim;
use stopgate::telemetry::{TelemetryConfig, init};

#[derive(Default, Clone)]
struct Receiver {
    spans: Arc<Mutex<Vec<Span>>>,
    raw: Arc<Mutex<String>>,
    metric_names: Arc<Mutex<Vec<String>>>,
}

#[tonic::async_trait]
impl TraceService for Receiver {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let request = request.into_inner();
        self.raw.lock().unwrap().push_str(&format!("{request:?}"));
        for rs in request.resource_spans {
            for ss in rs.scope_spans {
                self.spans.lock().unwrap().extend(ss.spans);
            }
        }
        Ok(tonic::Response::new(ExportTraceServiceResponse {
            partial_success: None,
        }))
    }
}

#[tonic::async_trait]
impl MetricsService for Receiver {
    async fn export(
        &self,
        request: tonic::Request<ExportMetricsServiceRequest>,
    ) -> Result<tonic::Response<ExportMetricsServiceResponse>, tonic::Status> {
        let request = request.into_inner();
        self.raw.lock().unwrap().push_str(&format!("{request:?}"));
        for rm in request.resource_metrics {
            for sm in rm.scope_metrics {
                self.metric_names
                    .lock()
                    .unwrap()
                    .extend(sm.metrics.into_iter().map(|m| m.name));
            }
        }
        Ok(tonic::Response::new(ExportMetricsServiceResponse {
            partial_success: None,
        }))
    }
}

#[derive(Clone)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(data);
        Ok(data.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The password the gateway is given for its Redis (a wrong one).
const REDIS_PASSWORD: &str = "stopgate-redis-password-7c2e";

fn attribute(span: &Span, key: &str) -> Option<String> {
    let kv = span.attributes.iter().find(|kv| kv.key == key)?;
    match kv.value.as_ref()?.value.as_ref()? {
        AnyValue::StringValue(s) => Some(s.clone()),
        AnyValue::IntValue(i) => Some(i.to_string()),
        AnyValue::BoolValue(b) => Some(b.to_string()),
        AnyValue::DoubleValue(d) => Some(d.to_string()),
        other => Some(format!("{other:?}")),
    }
}

const TRACES: [(&str, &str); 2] = [
    ("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"),
    ("0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_is_traced_under_the_callers_trace_and_no_secret_is_exported_or_logged() {
    let receiver = Receiver::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let otlp = listener.local_addr().unwrap();
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(TraceServiceServer::new(receiver.clone()))
            .add_service(MetricsServiceServer::new(receiver.clone()))
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );
    let logs = Arc::new(Mutex::new(Vec::new()));
    let writer = Buffer(logs.clone());
    let config = TelemetryConfig {
        json_logs: true,
        log_filter: Some("trace".into()),
        traces_endpoint: Some(format!("http://{otlp}")),
        metrics_endpoint: Some(format!("http://{otlp}")),
        metrics_interval: Duration::from_millis(300),
        service_name: "stopgate-test".into(),
    };
    let telemetry = init(&config, move || writer.clone()).unwrap();

    // A Redis that refuses the gateway's password, so that its URL goes through the error and
    // warning paths.
    let redis_port = cluster::free_port();
    let _redis = cluster::Redis::start_with(redis_port, &["--requirepass", "the-real-one"]).await;
    // Temporary credentials, so that tokens are in play too.
    let h = Harness::start_with(|c| {
        c.cluster.redis_url = Some(Secret::new(format!(
            "redis://:{REDIS_PASSWORD}@127.0.0.1:{redis_port}/0"
        )));
        let account = c.accounts.get_mut("default").unwrap();
        account.alibaba = Some(
            Credentials {
                access_key_id: Secret::new(sim::ALIBABA_STS.0),
                secret: Secret::new(sim::ALIBABA_STS.1),
                token: Some(Secret::new(sim::ALIBABA_STS.2)),
            }
            .into(),
        );
        account.tencent = Some(
            Credentials {
                access_key_id: Secret::new(sim::TENCENT_TEMPORARY.0),
                secret: Secret::new(sim::TENCENT_TEMPORARY.1),
                token: Some(Secret::new(sim::TENCENT_TEMPORARY.2)),
            }
            .into(),
        );
    })
    .await;
    for (v, (trace, parent)) in [ALIBABA, TENCENT].into_iter().zip(TRACES) {
        let ids = v.ids(0..2);
        h.seed_running(v, &ids).await;
        h.fault(json!({"provider": v.name, "action": "StopInstances", "times": 1, "kind": {"http_status": 503}})).await;
        let mut request = tonic::Request::new(v.request(&ids));
        request.metadata_mut().insert(
            "traceparent",
            format!("00-{trace}-{parent}-01").parse().unwrap(),
        );
        let s = h.stop_with(request).await.unwrap();
        assert!(
            s.results
                .iter()
                .all(|r| r.outcome == pb::InstanceOutcome::StopAccepted as i32)
        );
    }
    tokio::time::sleep(Duration::from_millis(700)).await; // one metrics export interval or two
    tokio::task::spawn_blocking(move || telemetry.shutdown())
        .await
        .unwrap();
    for _ in 0..50 {
        if receiver.spans.lock().unwrap().len() >= 8 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let spans = receiver.spans.lock().unwrap().clone();
    for ((trace, parent), provider) in TRACES.iter().zip(["alibaba", "tencent"]) {
        let trace_id = hex::decode(trace).unwrap();
        let rpc = spans
            .iter()
            .find(|s| s.trace_id == trace_id && s.kind == SpanKind::Server as i32)
            .unwrap_or_else(|| panic!("an RPC span in trace {trace}: {spans:#?}"));
        assert_eq!(rpc.name, "stopgate.v1.InstanceService/StopInstances");
        assert_eq!(
            rpc.parent_span_id,
            hex::decode(parent).unwrap(),
            "the caller's span is the parent"
        );
        assert_eq!(attribute(rpc, "rpc.system").as_deref(), Some("grpc"));
        assert_eq!(
            attribute(rpc, "rpc.service").as_deref(),
            Some("stopgate.v1.InstanceService")
        );
        assert_eq!(
            attribute(rpc, "rpc.method").as_deref(),
            Some("StopInstances")
        );
        assert_eq!(attribute(rpc, "rpc.grpc.status_code").as_deref(), Some("0"));

        let calls: Vec<&Span> = spans
            .iter()
            .filter(|s| s.trace_id == trace_id && s.kind == SpanKind::Client as i32)
            .collect();
        assert!(
            calls.len() >= 3,
            "describe, a failed stop and its retry: {calls:#?}"
        );
        for call in &calls {
            assert_eq!(
                call.parent_span_id, rpc.span_id,
                "vendor calls are children of the RPC span"
            );
            assert_eq!(
                attribute(call, "stopgate.provider").as_deref(),
                Some(provider)
            );
            assert!(attribute(call, "cloud.region").is_some_and(|r| r.contains('-')));
            assert!(
                attribute(call, "server.address")
                    .unwrap()
                    .starts_with("127.0.0.1:")
            );
            assert!(attribute(call, "http.response.status_code").is_some());
            assert_eq!(
                attribute(call, "http.request.method").as_deref(),
                Some("POST")
            );
        }
        let stops: Vec<&&Span> = calls
            .iter()
            .filter(|c| attribute(c, "stopgate.vendor.action").as_deref() == Some("StopInstances"))
            .collect();
        let failed = stops
            .iter()
            .find(|c| attribute(c, "http.response.status_code").as_deref() == Some("503"))
            .expect("the injected 503");
        assert_eq!(attribute(failed, "stopgate.attempt").as_deref(), Some("1"));
        assert_eq!(
            attribute(failed, "error.type").as_deref(),
            Some("VENDOR_UNAVAILABLE")
        );
        let retried = stops
            .iter()
            .find(|c| attribute(c, "http.response.status_code").as_deref() == Some("200"))
            .expect("the retry");
        assert_eq!(attribute(retried, "stopgate.attempt").as_deref(), Some("2"));
        assert!(
            !attribute(retried, "stopgate.vendor.request_id")
                .unwrap_or_default()
                .is_empty()
        );
    }

    let metric_names = receiver.metric_names.lock().unwrap().clone();
    for name in [
        "stopgate.rpc.requests",
        "rpc.server.duration",
        "stopgate.vendor.calls",
        "stopgate.vendor.duration",
        "stopgate.vendor.retries",
        "stopgate.results",
    ] {
        assert!(
            metric_names.iter().any(|n| n == name),
            "metric {name} exported: {metric_names:?}"
        );
    }

    let logs = String::from_utf8(logs.lock().unwrap().clone()).unwrap();
    let with_trace: Vec<&str> = logs.lines().filter(|l| l.contains(TRACES[0].0)).collect();
    assert!(
        !with_trace.is_empty(),
        "log lines inside the request carry its trace id"
    );
    for line in logs.lines() {
        serde_json::from_str::<serde_json::Value>(line)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
    }
    let exported = receiver.raw.lock().unwrap().clone();
    assert!(
        logs.contains("Redis is unavailable at start"),
        "the refused Redis was logged"
    );
    let secrets = [
        REDIS_PASSWORD,
        sim::ALIBABA_STS.1,
        sim::ALIBABA_STS.2,
        sim::TENCENT_TEMPORARY.1,
        sim::TENCENT_TEMPORARY.2,
    ];
    for secret in secrets {
        assert!(!logs.contains(secret), "a secret in the logs");
        assert!(!exported.contains(secret), "a secret in exported telemetry");
    }
    for header in ["HMAC-SHA256 Credential=", "Signature="] {
        assert!(
            !logs.contains(header) && !exported.contains(header),
            "an Authorization header leaked: {header}"
        );
    }
}
