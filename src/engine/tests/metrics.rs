//! The engine counts into the metrics it is handed, not into a global.

use std::sync::Arc;

use opentelemetry::metrics::MeterProvider;
use opentelemetry_sdk::metrics::{InMemoryMetricExporter, PeriodicReader, SdkMeterProvider};
use tokio::sync::mpsc;

use super::fake::{self, DESCRIBE, Fake, Phase};
use super::{collect, config, ids, stop_request};
use crate::engine::Engine;
use crate::engine::ledger::Ledger;
use crate::model::Provider;
use crate::telemetry::{Metrics, counted};

#[tokio::test(start_paused = true)]
async fn vendor_retries_and_results_are_counted_in_the_handed_metrics() {
    let exporter = InMemoryMetricExporter::default();
    let provider = SdkMeterProvider::builder()
        .with_reader(PeriodicReader::builder(exporter.clone()).build())
        .build();
    let metrics = Metrics::new(&provider.meter("stopgate-test"));

    let fake = Arc::new(Fake::new(false));
    let all = ids("ins", 3);
    fake.running(&all);
    fake.fault(DESCRIBE, Phase::Before, fake::unavailable(), 2);
    let engine = Engine::with_adapter(config(), fake.clone()).with_metrics(metrics.clone());
    let request = stop_request(&all);
    let (tx, rx) = mpsc::channel(256);
    let ledger = Arc::new(
        Ledger::new(request.ids.clone(), request.requested, tx).labelled(
            "StopInstances",
            Provider::Tencent,
            engine.metrics().clone(),
        ),
    );
    let collector = tokio::spawn(collect(rx));
    engine.stop_instances(request, ledger, None).await;
    collector.await.unwrap();

    provider.force_flush().unwrap();
    assert_eq!(counted(&exporter, "stopgate.vendor.retries"), 2);
    assert_eq!(
        counted(&exporter, "stopgate.vendor.calls"),
        4,
        "3 reads and one stop"
    );
    assert_eq!(counted(&exporter, "stopgate.results"), 3);
}
