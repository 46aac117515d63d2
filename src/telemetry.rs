//! Logs, traces and metrics.
//!
//! - **Logs:** `tracing` to stderr, as text or JSON (`--log-format json`). Each line inside a
//!   request carries the request's span list, including its `trace_id`.
//! - **Traces:** OpenTelemetry. They go out over OTLP/gRPC when `OTEL_EXPORTER_OTLP_ENDPOINT`
//!   (or `…_TRACES_ENDPOINT`) is set, and nothing is exported otherwise. The SDK honours the
//!   other standard `OTEL_*` variables (`OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`,
//!   headers, timeouts). The caller's W3C `traceparent` becomes the parent of the RPC span, and
//!   each vendor call is a child span.
//! - **Metrics:** over OTLP/gRPC on the same conditions (`…_METRICS_ENDPOINT`,
//!   `OTEL_METRIC_EXPORT_INTERVAL`).
//!
//! The HTTP/2 stacks are kept out of traces. Spans and logs carry names, ids, codes
//! and counts, never a credential: adapters redact vendor text, and no header is recorded.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use opentelemetry::metrics::{Counter, Histogram};
use opentelemetry::propagation::{Extractor, TextMapPropagator};
use opentelemetry::trace::{TraceId, TracerProvider as _};
use opentelemetry::{KeyValue, global};
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::metrics::SdkMeterProvider;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{IdGenerator, RandomIdGenerator, SdkTracerProvider};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// What to set up, read from the environment by [`TelemetryConfig::from_env`].
#[derive(Debug, Clone, Default)]
pub struct TelemetryConfig {
    /// Write JSON log lines instead of text.
    pub json_logs: bool,
    /// The log filter (`RUST_LOG` syntax); `info` when absent.
    pub log_filter: Option<String>,
    /// OTLP/gRPC endpoint for traces; none: traces stay in-process (ids in logs only).
    pub traces_endpoint: Option<String>,
    /// OTLP/gRPC endpoint for metrics; none: no metrics are exported.
    pub metrics_endpoint: Option<String>,
    /// How often metrics are exported.
    pub metrics_interval: Duration,
    /// `service.name`.
    pub service_name: String,
}

impl TelemetryConfig {
    /// The standard `OTEL_*` variables and `RUST_LOG`.
    pub fn from_env(json_logs: bool) -> TelemetryConfig {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let disabled = |name: &str| var(name).is_some_and(|v| v == "none");
        let base = var("OTEL_EXPORTER_OTLP_ENDPOINT");
        TelemetryConfig {
            json_logs,
            log_filter: var("RUST_LOG"),
            traces_endpoint: (!disabled("OTEL_TRACES_EXPORTER"))
                .then(|| var("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT").or(base.clone()))
                .flatten(),
            metrics_endpoint: (!disabled("OTEL_METRICS_EXPORTER"))
                .then(|| var("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT").or(base))
                .flatten(),
            metrics_interval: Duration::from_millis(
                var("OTEL_METRIC_EXPORT_INTERVAL")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(60_000),
            ),
            service_name: var("OTEL_SERVICE_NAME").unwrap_or_else(|| "stopgate".to_string()),
        }
    }
}

/// Keeps the providers alive; [`Telemetry::shutdown`] flushes them.
pub struct Telemetry {
    tracer_provider: Option<SdkTracerProvider>,
    meter_provider: Option<SdkMeterProvider>,
}

impl Telemetry {
    /// Flushes and stops the exporters.
    pub fn shutdown(self) {
        if let Some(traces) = self.tracer_provider {
            let _ = traces.force_flush();
            let _ = traces.shutdown();
        }
        if let Some(meters) = self.meter_provider {
            let _ = meters.force_flush();
            let _ = meters.shutdown();
        }
    }
}

/// Installs logging, tracing and metrics for the process. Must run inside the tokio runtime.
pub fn init<W>(config: &TelemetryConfig, writer: W) -> Result<Telemetry, String>
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    global::set_text_map_propagator(TraceContextPropagator::new());
    let resource = Resource::builder()
        .with_service_name(config.service_name.clone())
        .build();

    // Without an exporter no OpenTelemetry span is built: it would be dropped unseen, and
    // building one per span was a tenth of the gateway's CPU per call. The logs still carry
    // trace ids: `rpc_span` takes the caller's or makes one.
    let tracer_provider = match &config.traces_endpoint {
        Some(endpoint) => {
            let exporter = opentelemetry_otlp::SpanExporter::builder()
                .with_tonic()
                .with_endpoint(endpoint.clone())
                .build()
                .map_err(|e| format!("OTLP trace exporter for {endpoint}: {e}"))?;
            let provider = SdkTracerProvider::builder()
                .with_resource(resource.clone())
                .with_batch_exporter(exporter)
                .build();
            global::set_tracer_provider(provider.clone());
            Some(provider)
        }
        None => None,
    };

    let meter_provider = match &config.metrics_endpoint {
        Some(endpoint) => {
            let exporter = opentelemetry_otlp::MetricExporter::builder()
                .with_tonic()
                .with_endpoint(endpoint.clone())
                .build()
                .map_err(|e| format!("OTLP metric exporter for {endpoint}: {e}"))?;
            let reader = opentelemetry_sdk::metrics::PeriodicReader::builder(exporter)
                .with_interval(config.metrics_interval)
                .build();
            let provider = SdkMeterProvider::builder()
                .with_resource(resource)
                .with_reader(reader)
                .build();
            global::set_meter_provider(provider.clone());
            Some(provider)
        }
        None => None,
    };

    // The exporter's own HTTP/2 stack stays out of traces and logs below debug.
    let quiet = ",h2=off,hyper=off,hyper_util=off,tower=off,tonic=off,reqwest=off,rustls=off,opentelemetry=warn,opentelemetry_sdk=warn,opentelemetry_otlp=warn";
    let filter = |base: &str| {
        EnvFilter::try_new(format!("{base}{quiet}"))
            .map_err(|e| format!("log filter {base:?}: {e}"))
    };
    let log_filter = filter(config.log_filter.as_deref().unwrap_or("info"))?;
    let otel = match &tracer_provider {
        Some(provider) => Some(
            tracing_opentelemetry::layer()
                .with_tracer(provider.tracer("stopgate"))
                .with_filter(filter("stopgate=trace")?),
        ),
        None => None,
    };
    let registry = tracing_subscriber::registry().with(otel);
    let result = if config.json_logs {
        let fmt = tracing_subscriber::fmt::layer()
            .json()
            .with_current_span(false)
            .with_span_list(true)
            .with_writer(writer)
            .with_filter(log_filter);
        registry.with(fmt).try_init()
    } else {
        // Colours only for a person at a terminal: escape codes in a log file or a collector
        // are noise, and they cost a few µs per line.
        let fmt = tracing_subscriber::fmt::layer()
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .with_writer(writer)
            .with_filter(log_filter);
        registry.with(fmt).try_init()
    };
    result.map_err(|e| format!("installing the log subscriber: {e}"))?;
    EXPORTING_TRACES.store(tracer_provider.is_some(), Ordering::Relaxed);
    Ok(Telemetry {
        tracer_provider,
        meter_provider,
    })
}

use tracing_subscriber::Layer as _;

/// Reads W3C trace context from gRPC metadata.
struct MetadataExtractor<'a>(&'a tonic::metadata::MetadataMap);

impl Extractor for MetadataExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0
            .keys()
            .filter_map(|k| match k {
                tonic::metadata::KeyRef::Ascii(k) => Some(k.as_str()),
                tonic::metadata::KeyRef::Binary(_) => None,
            })
            .collect()
    }
}

/// The caller's trace context (`traceparent`, `tracestate`), if it sent one.
pub fn remote_context(metadata: &tonic::metadata::MetadataMap) -> opentelemetry::Context {
    TraceContextPropagator::new().extract(&MetadataExtractor(metadata))
}

/// Whether spans go to an exporter (the OpenTelemetry layer is installed).
static EXPORTING_TRACES: AtomicBool = AtomicBool::new(false);

/// The trace an RPC belongs to when no span is exported: the caller's, or a new one.
fn trace_id_without_export(metadata: &tonic::metadata::MetadataMap) -> TraceId {
    use opentelemetry::trace::TraceContextExt;
    let remote = remote_context(metadata);
    let caller = remote.span().span_context().trace_id();
    if caller != TraceId::INVALID {
        caller
    } else {
        RandomIdGenerator::default().new_trace_id()
    }
}

/// The span of one RPC, child of the caller's trace, with its trace id recorded so that every
/// log line inside it shows it.
pub fn rpc_span(
    service: &str,
    method: &str,
    metadata: &tonic::metadata::MetadataMap,
) -> tracing::Span {
    use opentelemetry::trace::TraceContextExt;
    use tracing_opentelemetry::OpenTelemetrySpanExt;
    let span = tracing::info_span!(
        "rpc",
        otel.name = %format!("{service}/{method}"),
        otel.kind = "server",
        otel.status_code = tracing::field::Empty,
        rpc.system = "grpc",
        rpc.service = service,
        rpc.method = method,
        rpc.grpc.status_code = tracing::field::Empty,
        trace_id = tracing::field::Empty,
        stopgate.request_id = tracing::field::Empty,
    );
    if span.is_disabled() {
        return span;
    }
    let trace_id = if EXPORTING_TRACES.load(Ordering::Relaxed) {
        // The parent must be set before the span is entered.
        let _ = span.set_parent(remote_context(metadata));
        span.context().span().span_context().trace_id()
    } else {
        trace_id_without_export(metadata)
    };
    span.record("trace_id", tracing::field::display(trace_id));
    span
}

/// The instruments stopgate records. Cloning shares them; the engine is handed one.
#[derive(Clone)]
pub struct Metrics {
    pub rpc_requests: Counter<u64>,
    pub rpc_duration: Histogram<f64>,
    pub vendor_calls: Counter<u64>,
    pub vendor_duration: Histogram<f64>,
    pub vendor_throttled: Counter<u64>,
    pub vendor_retries: Counter<u64>,
    pub pacing_fallbacks: Counter<u64>,
    pub results: Counter<u64>,
    /// Credential refreshes by provider, source and outcome (`ok`, `failed`).
    pub credential_refreshes: Counter<u64>,
}

/// The instruments of the global meter provider (the one OTLP exports), created on first use.
pub fn metrics() -> &'static Metrics {
    static METRICS: OnceLock<Metrics> = OnceLock::new();
    METRICS.get_or_init(|| Metrics::new(&global::meter("stopgate")))
}

impl Metrics {
    /// The instruments of `meter`.
    pub fn new(meter: &opentelemetry::metrics::Meter) -> Metrics {
        Metrics {
            rpc_requests: meter
                .u64_counter("stopgate.rpc.requests")
                .with_description("RPCs by method and status")
                .build(),
            rpc_duration: meter
                .f64_histogram("rpc.server.duration")
                .with_unit("ms")
                .with_description("RPC duration")
                .build(),
            vendor_calls: meter
                .u64_counter("stopgate.vendor.calls")
                .with_description("Vendor API calls by provider, action and outcome")
                .build(),
            vendor_duration: meter
                .f64_histogram("stopgate.vendor.duration")
                .with_unit("ms")
                .with_description("Vendor API call duration")
                .build(),
            vendor_throttled: meter
                .u64_counter("stopgate.vendor.throttled")
                .with_description("Vendor answers that were throttling")
                .build(),
            vendor_retries: meter
                .u64_counter("stopgate.vendor.retries")
                .with_description("Vendor calls that were retries")
                .build(),
            pacing_fallbacks: meter
                .u64_counter("stopgate.pacing.fallbacks")
                .with_description(
                    "Pacing slots taken in this process because the shared Redis was unavailable",
                )
                .build(),
            results: meter
                .u64_counter("stopgate.results")
                .with_description("Per-instance results by operation, provider and outcome")
                .build(),
            credential_refreshes: meter
                .u64_counter("stopgate.credentials.refreshes")
                .with_description(
                    "Fetches of temporary vendor credentials by provider, source and outcome",
                )
                .build(),
        }
    }
}

/// Records one finished RPC.
pub fn record_rpc(method: &'static str, code: tonic::Code, elapsed: Duration) {
    let labels = [
        KeyValue::new("rpc.method", method),
        KeyValue::new("rpc.grpc.status_code", code as i64),
    ];
    metrics().rpc_requests.add(1, &labels);
    metrics()
        .rpc_duration
        .record(elapsed.as_secs_f64() * 1000.0, &labels);
}

/// The sum of a u64 counter over all its label sets, as an in-memory exporter holds it (for
/// unit tests).
#[cfg(test)]
pub(crate) fn counted(
    exporter: &opentelemetry_sdk::metrics::InMemoryMetricExporter,
    name: &str,
) -> u64 {
    use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData};
    let mut total = 0;
    for resource in exporter.get_finished_metrics().unwrap() {
        for scope in resource.scope_metrics() {
            for metric in scope.metrics().filter(|m| m.name() == name) {
                if let AggregatedMetrics::U64(MetricData::Sum(sum)) = metric.data() {
                    total += sum.data_points().map(|p| p.value()).sum::<u64>();
                }
            }
        }
    }
    total
}
