//! The Redis store without a Redis: what it does when nothing answers at its address.

use std::time::Duration;

use opentelemetry::metrics::MeterProvider;
use opentelemetry_sdk::metrics::{InMemoryMetricExporter, PeriodicReader, SdkMeterProvider};

use super::RedisStore;
use crate::config::{ClusterSettings, OnUnavailable, Secret};
use crate::pacing::SlotStore;
use crate::pacing::rules::Take;

/// A loopback address where nothing listens.
fn closed_port() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    format!("redis://127.0.0.1:{port}")
}

fn settings(on_unavailable: OnUnavailable) -> ClusterSettings {
    ClusterSettings {
        redis_url: Some(Secret::new(closed_port())),
        on_unavailable,
        replicas: 4,
        ..ClusterSettings::default()
    }
}

#[tokio::test(start_paused = true)]
async fn without_redis_calls_are_paced_locally_at_the_rate_divided_by_the_replicas_and_counted() {
    let exporter = InMemoryMetricExporter::default();
    let provider = SdkMeterProvider::builder()
        .with_reader(PeriodicReader::builder(exporter.clone()).build())
        .build();
    let counter = crate::telemetry::Metrics::new(&provider.meter("test")).pacing_fallbacks;
    let store = RedisStore::new(&settings(OnUnavailable::Local), counter).unwrap();
    assert!(!store.connect().await, "nothing answers there");
    assert!(!*store.health().borrow());
    let interval = Duration::from_millis(100);
    assert_eq!(
        store.take("k", interval, None).await,
        Ok(Take::Granted(Duration::ZERO))
    );
    assert_eq!(
        store.take("k", interval, None).await,
        Ok(Take::Granted(Duration::from_millis(400))),
        "four replicas: each paces at a quarter of the rate"
    );
    provider.force_flush().unwrap();
    assert_eq!(
        crate::telemetry::counted(&exporter, "stopgate.pacing.fallbacks"),
        2
    );
}

#[tokio::test]
async fn with_on_unavailable_fail_no_slot_is_given_and_the_error_says_what_to_do() {
    let counter = crate::telemetry::metrics().pacing_fallbacks.clone();
    let store = RedisStore::new(&settings(OnUnavailable::Fail), counter).unwrap();
    store.connect().await;
    let refused = store
        .take("k", Duration::from_millis(100), None)
        .await
        .unwrap_err();
    assert!(refused.0.contains("unavailable"), "{}", refused.0);
    assert!(
        refused.0.contains("on_unavailable = \"local\""),
        "{}",
        refused.0
    );
}

#[test]
fn a_url_with_a_password_is_never_shown() {
    let settings = ClusterSettings {
        redis_url: Some(Secret::new("redis://:hunter2-secret@127.0.0.1:6390/0")),
        ..ClusterSettings::default()
    };
    let store = RedisStore::new(
        &settings,
        crate::telemetry::metrics().pacing_fallbacks.clone(),
    )
    .unwrap();
    assert_eq!(store.address(), "127.0.0.1:6390");
    assert!(!format!("{store:?}").contains("hunter2"));
    assert!(!format!("{settings:?}").contains("hunter2"));
}
