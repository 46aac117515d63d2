//! Telemetry with no OTLP endpoint, black box: no span is exported (the OpenTelemetry layer is
//! not installed), yet the JSON log lines inside a request still carry its trace id: the
//! caller's `traceparent` when it sent one, a fresh id otherwise. One test: telemetry is
//! process-wide.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use common::*;
use stopgate::telemetry::{TelemetryConfig, init};

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

const CALLER_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";

/// The trace ids of the log lines about StopInstances requests, in order.
fn request_trace_ids(logs: &str) -> Vec<String> {
    logs.lines()
        .map(|line| serde_json::from_str::<serde_json::Value>(line).expect("a JSON line"))
        .filter(|line| line["fields"]["message"] == "StopInstances")
        .map(|line| {
            line["spans"]
                .as_array()
                .and_then(|spans| spans.iter().find_map(|s| s["trace_id"].as_str()))
                .unwrap_or_else(|| panic!("no trace id in {line}"))
                .to_string()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_carry_trace_ids_when_no_trace_is_exported() {
    let logs = Arc::new(Mutex::new(Vec::new()));
    let writer = Buffer(logs.clone());
    let config = TelemetryConfig {
        json_logs: true,
        log_filter: Some("info".into()),
        traces_endpoint: None,
        metrics_endpoint: None,
        metrics_interval: std::time::Duration::from_secs(60),
        service_name: "stopgate-test".into(),
    };
    let telemetry = init(&config, move || writer.clone()).unwrap();
    let h = Harness::start().await;
    let ids = TENCENT.ids(0..1);
    h.seed_running(TENCENT, &ids).await;

    let mut request = tonic::Request::new(TENCENT.request(&ids));
    request.metadata_mut().insert(
        "traceparent",
        format!("00-{CALLER_TRACE}-00f067aa0ba902b7-01")
            .parse()
            .unwrap(),
    );
    h.stop_with(request).await.unwrap();
    h.stop(TENCENT.request(&ids)).await;
    h.stop(TENCENT.request(&ids)).await;
    tokio::task::spawn_blocking(move || telemetry.shutdown())
        .await
        .unwrap();

    let logs = String::from_utf8(logs.lock().unwrap().clone()).unwrap();
    let traces = request_trace_ids(&logs);
    assert_eq!(traces.len(), 3, "one StopInstances line per call: {logs}");
    assert_eq!(traces[0], CALLER_TRACE, "the caller's trace is kept");
    for fresh in &traces[1..] {
        assert_eq!(fresh.len(), 32, "a W3C trace id: {fresh}");
        assert!(fresh.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(fresh, &"0".repeat(32), "a valid (non-zero) trace id");
        assert_ne!(fresh, CALLER_TRACE);
    }
    assert_ne!(
        traces[1], traces[2],
        "each call without a caller trace gets its own"
    );
}
