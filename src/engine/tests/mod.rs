//! The engine's unit tests: the real engine against a scripted vendor ([`fake::Fake`]), on
//! tokio's paused clock, so that backoffs, polls and deadlines run in no real time.

mod commands;
mod fake;
mod instances;
mod metrics;
mod selectors;
mod waits;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;

use super::Engine;
use super::ledger::{Event, Ledger, Summary};
use super::request::{ValidCommandStop, ValidStop};
use super::stop_command::TaskResult;
use super::stop_instances::InstanceResult;
use crate::config::{Config, Credentials, Secret};
use crate::credentials::Credential;
use crate::model::{Billing, Provider, StopError, StopMode};
use fake::Fake;

/// What a stream delivered.
#[derive(Debug)]
struct Delivered<R> {
    results: HashMap<String, R>,
    /// Ids answered more than once (must stay empty).
    repeated: Vec<String>,
    summary: Option<Summary>,
    failed: Option<StopError>,
    progress: usize,
}

fn ids(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}-{i}")).collect()
}

fn credentials() -> Arc<Credential> {
    Arc::new(Credential::fixed(
        Provider::Tencent,
        Credentials {
            access_key_id: Secret::new("AKIDtest"),
            secret: Secret::new("secret"),
            token: None,
        },
    ))
}

fn stop_request(ids: &[String]) -> ValidStop {
    ValidStop {
        provider: Provider::Tencent,
        region: "r".into(),
        account: "a".into(),
        credentials: credentials(),
        ids: ids.to_vec(),
        requested: ids.len(),
        mode: StopMode::Force,
        billing: Billing::ProviderDefault,
        dry_run: false,
        all_or_nothing: false,
        confirm_local_disk: false,
        wait: None,
        graceful_timeout: Duration::from_secs(60),
        sent: Default::default(),
        selection: None,
    }
}

fn command_request(ids: &[String]) -> ValidCommandStop {
    ValidCommandStop {
        provider: Provider::Tencent,
        region: "r".into(),
        account: "a".into(),
        credentials: credentials(),
        execution_id: "inv-1".into(),
        ids: ids.to_vec(),
        requested: ids.len(),
        dry_run: false,
        wait: None,
    }
}

fn config() -> Config {
    Config {
        poll_interval_ms: 1000,
        ..Config::default()
    }
}

async fn collect<P: Send + 'static, R: super::ledger::Record>(
    mut rx: mpsc::Receiver<Event<P, R>>,
) -> Delivered<R> {
    let mut delivered = Delivered {
        results: HashMap::new(),
        repeated: Vec::new(),
        summary: None,
        failed: None,
        progress: 0,
    };
    while let Some(event) = rx.recv().await {
        match event {
            Event::Progress(_) => delivered.progress += 1,
            Event::Result(r) => {
                let id = r.instance_id().to_string();
                if delivered.results.insert(id.clone(), r).is_some() {
                    delivered.repeated.push(id);
                }
            }
            Event::Summary(s) => delivered.summary = Some(s),
            Event::Failed(e) => delivered.failed = Some(e),
        }
    }
    delivered
}

/// Runs one StopInstances through the engine against `fake`.
async fn stop(
    fake: &Arc<Fake>,
    config: Config,
    request: ValidStop,
    deadline: Option<Instant>,
) -> Delivered<InstanceResult> {
    let engine = Engine::with_adapter(config, fake.clone());
    let (tx, rx) = mpsc::channel(256);
    let ledger = Arc::new(Ledger::new(request.ids.clone(), request.requested, tx));
    let collector = tokio::spawn(collect(rx));
    engine.stop_instances(request, ledger, deadline).await;
    collector.await.unwrap()
}

/// Runs one selector request through the engine against `fake`.
async fn stop_selected(
    fake: &Arc<Fake>,
    config: Config,
    request: ValidStop,
) -> Delivered<InstanceResult> {
    let engine = Arc::new(Engine::with_adapter(config, fake.clone()));
    let (tx, rx) = mpsc::channel(256);
    let ledger = Arc::new(Ledger::new(Vec::new(), 0, tx));
    let collector = tokio::spawn(collect(rx));
    engine.stop_selected(request, ledger, None).await;
    collector.await.unwrap()
}

/// Runs one StopCommandExecution through the engine against `fake`.
async fn stop_command(
    fake: &Arc<Fake>,
    config: Config,
    request: ValidCommandStop,
) -> Delivered<TaskResult> {
    let engine = Engine::with_adapter(config, fake.clone());
    let (tx, rx) = mpsc::channel(256);
    let ledger = Arc::new(Ledger::new(request.ids.clone(), request.requested, tx));
    let collector = tokio::spawn(collect(rx));
    engine.stop_command(request, ledger, None).await;
    collector.await.unwrap()
}
