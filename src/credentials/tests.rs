//! The cache on a paused clock with a scripted source.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::*;
use crate::config::{Credentials, Secret};
use crate::model::Provider;
use crate::provider::BoxFuture;

const HOUR: Duration = Duration::from_secs(3600);

/// Answers fetches in order, each after `delay`; counts them.
struct Scripted {
    answers: Mutex<VecDeque<Result<Fetched, String>>>,
    delay: Duration,
    fetches: AtomicUsize,
}

impl Scripted {
    fn new(answers: Vec<Result<Fetched, String>>) -> Arc<Scripted> {
        Arc::new(Scripted {
            answers: Mutex::new(answers.into()),
            delay: Duration::from_millis(200),
            fetches: AtomicUsize::new(0),
        })
    }

    fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }
}

impl Source for Scripted {
    fn describe(&self) -> String {
        "scripted acs:ram::1:role/test".to_string()
    }

    fn fetch(&self) -> BoxFuture<'_, Result<Fetched, String>> {
        Box::pin(async move {
            self.fetches.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(self.delay).await;
            self.answers
                .lock()
                .unwrap()
                .pop_front()
                .unwrap_or_else(|| Err("the script ran out".to_string()))
        })
    }
}

fn keys(id: &str, lifetime: Duration) -> Result<Fetched, String> {
    Ok(Fetched {
        credentials: Credentials {
            access_key_id: Secret::new(id),
            secret: Secret::new(format!("secret-of-{id}")),
            token: Some(Secret::new(format!("token-of-{id}"))),
        },
        lifetime: Some(lifetime),
    })
}

fn credential(source: &Arc<Scripted>) -> Arc<Credential> {
    Arc::new(Credential::from_source(
        Provider::Alibaba,
        source.clone(),
        None,
    ))
}

fn id(snapshot: &Snapshot) -> &str {
    snapshot.credentials.access_key_id.expose()
}

#[tokio::test(start_paused = true)]
async fn credentials_are_refreshed_ahead_of_expiry() {
    let source = Scripted::new(vec![keys("first", HOUR), keys("second", HOUR)]);
    let credential = credential(&source);
    assert_eq!(id(&credential.current().await.unwrap()), "first");
    // A fifth of the hour ahead (12 min) plus at most a fifth of that: still cached at 40 min.
    tokio::time::advance(Duration::from_secs(40 * 60)).await;
    assert_eq!(id(&credential.current().await.unwrap()), "first");
    assert_eq!(source.fetches(), 1);
    // Refreshed by 48 minutes, well before the hour is over.
    tokio::time::advance(Duration::from_secs(8 * 60)).await;
    assert_eq!(id(&credential.current().await.unwrap()), "second");
    assert_eq!(source.fetches(), 2);
}

#[tokio::test(start_paused = true)]
async fn concurrent_callers_share_one_refresh() {
    let source = Scripted::new(vec![keys("only", HOUR)]);
    let credential = credential(&source);
    let callers: Vec<_> = (0..20)
        .map(|_| {
            let credential = credential.clone();
            tokio::spawn(async move { credential.current().await })
        })
        .collect();
    for caller in callers {
        assert_eq!(id(&caller.await.unwrap().unwrap()), "only");
    }
    assert_eq!(source.fetches(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_failed_refresh_keeps_valid_old_credentials() {
    let source = Scripted::new(vec![
        keys("old", HOUR),
        Err("STS answered HTTP 503".to_string()),
    ]);
    let credential = credential(&source);
    credential.current().await.unwrap();
    tokio::time::advance(Duration::from_secs(50 * 60)).await;
    let snapshot = credential.current().await.unwrap();
    assert_eq!(id(&snapshot), "old");
    assert_eq!(source.fetches(), 2);
    assert!(credential.usable());
    // Within the backoff the failing source is left alone.
    assert_eq!(id(&credential.current().await.unwrap()), "old");
    assert_eq!(source.fetches(), 2);
}

#[tokio::test(start_paused = true)]
async fn expired_and_failing_gives_an_error_naming_the_source_never_the_secret() {
    let source = Scripted::new(vec![
        keys("short", Duration::from_secs(900)),
        Err("STS answered HTTP 503".to_string()),
    ]);
    let credential = credential(&source);
    credential.current().await.unwrap();
    tokio::time::advance(Duration::from_secs(900)).await;
    let error = credential.current().await.unwrap_err();
    let text = error.to_string();
    assert!(text.contains("scripted acs:ram::1:role/test"), "{text}");
    assert!(
        text.contains("expired") && text.contains("HTTP 503"),
        "{text}"
    );
    assert!(!text.contains("secret-of-short") && !text.contains("token-of-short"));
    assert!(!credential.usable());
}

#[tokio::test(start_paused = true)]
async fn a_rejected_token_is_refreshed_once_whoever_reports_it() {
    let source = Scripted::new(vec![keys("rejected", HOUR), keys("replacement", HOUR)]);
    let credential = credential(&source);
    let rejected = credential.current().await.unwrap();
    credential.invalidate(&rejected);
    credential.invalidate(&rejected);
    let replacement = credential.current().await.unwrap();
    assert_eq!(id(&replacement), "replacement");
    // A late report about the old fetch does not throw away the new one.
    credential.invalidate(&rejected);
    assert_eq!(id(&credential.current().await.unwrap()), "replacement");
    assert_eq!(source.fetches(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_rejected_token_whose_refresh_fails_is_not_handed_out_again() {
    let source = Scripted::new(vec![keys("rejected", HOUR), Err("STS down".to_string())]);
    let credential = credential(&source);
    let rejected = credential.current().await.unwrap();
    credential.invalidate(&rejected);
    let error = credential.current().await.unwrap_err();
    assert!(error.reason.contains("refused"), "{error}");
}

#[tokio::test(start_paused = true)]
async fn static_keys_are_always_current() {
    let credential = Credential::fixed(
        Provider::Tencent,
        Credentials {
            access_key_id: Secret::new("AKIDstatic"),
            secret: Secret::new("key"),
            token: None,
        },
    );
    let snapshot = credential.current().await.unwrap();
    credential.invalidate(&snapshot);
    tokio::time::advance(HOUR * 100).await;
    assert_eq!(id(&credential.current().await.unwrap()), "AKIDstatic");
    assert!(credential.usable());
}

#[test]
fn the_token_file_is_read_again_after_rotation() {
    let dir = std::env::temp_dir().join(format!("stopgate-token-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("token");
    std::fs::write(&path, "first.jwt.token\n").unwrap();
    assert_eq!(read_token_file(&path).unwrap(), "first.jwt.token");
    std::fs::write(&path, "rotated.jwt.token").unwrap();
    assert_eq!(read_token_file(&path).unwrap(), "rotated.jwt.token");
    std::fs::write(&path, "").unwrap();
    assert!(read_token_file(&path).unwrap_err().contains("empty"));
    std::fs::remove_dir_all(&dir).unwrap();
    let missing = read_token_file(&dir.join("missing")).unwrap_err();
    assert!(missing.contains("token_file"), "{missing}");
}

#[tokio::test(start_paused = true)]
async fn refreshes_and_their_failures_are_counted() {
    use opentelemetry::metrics::MeterProvider;
    use opentelemetry_sdk::metrics::{InMemoryMetricExporter, PeriodicReader, SdkMeterProvider};
    let exporter = InMemoryMetricExporter::default();
    let meters = SdkMeterProvider::builder()
        .with_reader(PeriodicReader::builder(exporter.clone()).build())
        .build();
    let metrics = crate::telemetry::Metrics::new(&meters.meter("stopgate-test"));
    let source = Scripted::new(vec![keys("first", HOUR), Err("STS down".to_string())]);
    let credential = Credential::from_source(
        Provider::Alibaba,
        source.clone(),
        Some(metrics.credential_refreshes.clone()),
    );
    credential.current().await.unwrap();
    tokio::time::advance(Duration::from_secs(50 * 60)).await;
    credential.current().await.unwrap();
    meters.force_flush().unwrap();
    assert_eq!(
        crate::telemetry::counted(&exporter, "stopgate.credentials.refreshes"),
        2
    );
}

#[tokio::test(start_paused = true)]
async fn keys_that_live_seconds_are_reused_for_half_their_life_and_usable_nearly_to_the_end() {
    let two = Duration::from_secs(2);
    let source = Scripted::new(vec![
        keys("first", two),
        Err("STS answered HTTP 503".to_string()),
    ]);
    let credential = credential(&source);
    credential.current().await.unwrap();
    // Fetched at 0.2 s (the script's delay): due between 0.8 s and 1 s after that.
    tokio::time::advance(Duration::from_millis(700)).await;
    assert_eq!(id(&credential.current().await.unwrap()), "first");
    assert!(credential.usable());
    assert_eq!(source.fetches(), 1);
    // Due now; the refresh fails and the old keys are still handed out.
    tokio::time::advance(Duration::from_millis(400)).await;
    assert_eq!(id(&credential.current().await.unwrap()), "first");
    assert_eq!(source.fetches(), 2);
    // A tenth of the lifetime before expiry they are no longer handed out.
    tokio::time::advance(Duration::from_millis(500)).await;
    assert!(!credential.usable());
    assert!(credential.current().await.is_err());
}

#[tokio::test(start_paused = true)]
async fn the_next_change_is_the_refresh_then_the_retry_then_the_end_of_use() {
    let source = Scripted::new(vec![
        keys("first", Duration::from_secs(100)),
        Err("STS answered HTTP 503".to_string()),
    ]);
    let credential = credential(&source);
    assert_eq!(credential.next_change(), None, "nothing fetched yet");
    credential.current().await.unwrap();
    let fetched = tokio::time::Instant::now();
    // Due 50 s ahead at most (plus a fifth at random), usable until 10 s before expiry.
    let due = credential.next_change().unwrap();
    assert!(due >= fetched + Duration::from_secs(40) && due <= fetched + Duration::from_secs(50));
    tokio::time::advance(due - tokio::time::Instant::now()).await;
    credential.current().await.unwrap();
    // The refresh failed (the old keys were handed out): tried again a second later.
    let failed = tokio::time::Instant::now();
    assert_eq!(
        credential.next_change(),
        Some(failed + Duration::from_secs(1))
    );
    tokio::time::advance(Duration::from_secs(30)).await;
    assert_eq!(
        credential.next_change(),
        Some(fetched + Duration::from_secs(90)),
        "past the retry, the end of use is next"
    );
}
