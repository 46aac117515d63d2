//! The gRPC server: stopgate's services, gRPC health (overall, per service, per provider) and
//! reflection v1 + v1alpha, with a graceful drain on shutdown.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tonic::transport::server::TcpIncoming;
use tonic_health::ServingStatus;

use crate::api::admission::Admission;
use crate::api::admission_layer::{AdmissionLayer, Method};
use crate::api::command_service::{self, CommandService};
use crate::api::instance_service::{self, InstanceService};
use crate::api::pb;
use crate::api::pb::command_service_server::CommandServiceServer;
use crate::api::pb::instance_service_server::InstanceServiceServer;
use crate::engine::Engine;
use crate::model::Provider;

/// The health service name of a provider (`stopgate.provider.alibaba`).
pub fn provider_health_name(provider: Provider) -> String {
    format!("stopgate.provider.{provider}")
}

/// The health service name of stopgate's instance service.
pub const INSTANCE_SERVICE: &str = "stopgate.v1.InstanceService";
/// The health service name of stopgate's command service.
pub const COMMAND_SERVICE: &str = "stopgate.v1.CommandService";
/// The health service name of shared pacing: SERVING while the `[cluster]` Redis answers,
/// NOT_SERVING while this replica paces on its own. Registered only when a Redis is configured.
pub const CLUSTER_SERVICE: &str = "stopgate.cluster";

/// The calls that count against the call limit and are refused while draining: stopgate's own
/// work. Health and reflection are left out so that they answer however full or draining the
/// gateway is.
const LIMITED: &[Method] = &[
    instance_service::STOP_INSTANCES,
    command_service::STOP_COMMAND_EXECUTION,
];

/// How often a replica with a shared journal looks for operations whose owner is gone.
const SWEEP_EVERY: Duration = Duration::from_secs(1);

/// After the grace period: how long the interrupted operations' streams get to send what was
/// decided and end.
const HAND_OVER: Duration = Duration::from_secs(5);

/// Binds `addr`, with an error that says which flag picks another address.
pub async fn bind(
    addr: std::net::SocketAddr,
    flag: &str,
) -> Result<(TcpListener, std::net::SocketAddr), String> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e} (pick another address with {flag})"))?;
    let local = listener.local_addr().map_err(|e| e.to_string())?;
    Ok((listener, local))
}

/// Sets each provider's health from its credentials.
async fn report_providers(
    reporter: &tonic_health::server::HealthReporter,
    credentials: &crate::credentials::CredentialStore,
) {
    for provider in Provider::ALL {
        let status = if credentials.usable(provider) {
            ServingStatus::Serving
        } else {
            ServingStatus::NotServing
        };
        reporter
            .set_service_status(provider_health_name(provider), status)
            .await;
    }
}

/// Serves on `listener` until `shutdown` resolves, then reports NOT_SERVING, refuses new calls
/// with UNAVAILABLE and lets running operations and in-flight streams finish for up to `grace`;
/// then it stops the operations still running, and their streams end with what was decided. The listener keeps
/// accepting while it drains, so a health check on a new connection is answered NOT_SERVING
/// at once rather than left waiting in the accept queue.
pub async fn serve(
    engine: Arc<Engine>,
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
    grace: Duration,
) -> Result<(), String> {
    let (reporter, health) = tonic_health::server::health_reporter();
    reporter
        .set_service_status("", ServingStatus::Serving)
        .await;
    reporter
        .set_service_status(INSTANCE_SERVICE, ServingStatus::Serving)
        .await;
    reporter
        .set_service_status(COMMAND_SERVICE, ServingStatus::Serving)
        .await;
    // Temporary credentials are fetched before listening, then kept fresh in the background;
    // a provider is SERVING while some account holds credentials for it that can sign a call.
    let credentials = engine.credentials().clone();
    credentials.refresh_due().await;
    report_providers(&reporter, &credentials).await;
    let keeper = {
        let reporter = reporter.clone();
        tokio::spawn(async move {
            loop {
                let now = tokio::time::Instant::now();
                let latest = now + crate::credentials::KEEP_INTERVAL;
                let next = credentials
                    .next_change()
                    .map_or(latest, |at| at.min(latest));
                tokio::time::sleep_until(next.max(now + crate::credentials::MIN_KEEP_PAUSE)).await;
                credentials.refresh_due().await;
                report_providers(&reporter, &credentials).await;
            }
        })
    };
    let _keeper = crate::engine::AbortOnDrop(keeper);
    if let Some(cluster) = engine.cluster().cloned() {
        // Before listening, so the first calls are paced with the other replicas; a Redis that
        // does not answer now is retried in the background and pacing stays local meanwhile.
        cluster.connect().await;
        let mut shared = cluster.health();
        let reporter = reporter.clone();
        tokio::spawn(async move {
            loop {
                let status = if *shared.borrow_and_update() {
                    ServingStatus::Serving
                } else {
                    ServingStatus::NotServing
                };
                reporter.set_service_status(CLUSTER_SERVICE, status).await;
                if shared.changed().await.is_err() {
                    return;
                }
            }
        });
    }
    let reflection = || {
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(pb::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
    };
    // Each build adds its own reflection descriptors; add the other's so both list both.
    let reflection_v1 = reflection()
        .register_encoded_file_descriptor_set(tonic_reflection::pb::v1alpha::FILE_DESCRIPTOR_SET)
        .build_v1()
        .map_err(|e| format!("reflection: {e}"))?;
    let reflection_v1alpha = reflection()
        .register_encoded_file_descriptor_set(tonic_reflection::pb::v1::FILE_DESCRIPTOR_SET)
        .build_v1alpha()
        .map_err(|e| format!("reflection: {e}"))?;

    let callers = crate::api::auth::Callers::new(&engine.config().callers);
    let limits = &engine.config().limits;
    let admission = Admission::new(limits);
    let keepalive = (limits.http2_keepalive_interval_seconds > 0)
        .then(|| Duration::from_secs(limits.http2_keepalive_interval_seconds));
    let mut builder = tonic::transport::Server::builder()
        .max_concurrent_streams(limits.max_concurrent_streams)
        .http2_keepalive_interval(keepalive)
        .http2_keepalive_timeout(Some(Duration::from_secs(
            limits.http2_keepalive_timeout_seconds,
        )))
        .layer(AdmissionLayer::new(admission.clone(), LIMITED));
    if let Some(tls) = &engine.config().tls {
        builder = builder
            .tls_config(tls_config(tls)?)
            .map_err(|e| format!("TLS: {e}"))?;
    }
    let settings = engine.config().operations.clone();
    let operations = Arc::new(match engine.cluster() {
        // Replicas sharing a Redis share the journal too: any of them can re-attach a caller
        // to an operation, and continue one whose owner is gone.
        Some(store) => crate::operations::Operations::in_redis(store.clone(), settings.clone()),
        None => crate::operations::Operations::in_memory(settings.clone()),
    });
    let sweeper = (engine.clone(), operations.clone());
    crate::operations::sweep(
        operations.clone(),
        SWEEP_EVERY.min(settings.lease() / 2),
        move |id| {
            let (engine, operations) = (sweeper.0.clone(), sweeper.1.clone());
            Box::pin(async move { crate::api::stream::take_over(&engine, &operations, &id).await })
        },
    );
    let (instances, commands) = (callers.clone(), callers);
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = builder
        .add_service(health)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_service(InstanceServiceServer::with_interceptor(
            InstanceService::new(engine.clone(), admission.clone(), operations.clone()),
            move |r| instances.check(r),
        ))
        .add_service(CommandServiceServer::with_interceptor(
            CommandService::new(engine, admission.clone(), operations.clone()),
            move |r| commands.check(r),
        ))
        // Small responses must leave at once: without TCP_NODELAY, Nagle's algorithm and the
        // peer's delayed ACK hold each one for tens of milliseconds.
        .serve_with_incoming_shutdown(
            TcpIncoming::from(listener).with_nodelay(Some(true)),
            async {
                let _ = stop_rx.await;
            },
        );
    tokio::pin!(server);
    tokio::select! {
        result = &mut server => return result.map_err(|e| format!("gRPC server failed: {e}")),
        () = shutdown => {}
    }
    tracing::info!(
        grace_seconds = grace.as_secs(),
        "shutting down: no new calls; draining in-flight streams"
    );
    reporter
        .set_service_status("", ServingStatus::NotServing)
        .await;
    reporter
        .set_service_status(INSTANCE_SERVICE, ServingStatus::NotServing)
        .await;
    reporter
        .set_service_status(COMMAND_SERVICE, ServingStatus::NotServing)
        .await;
    admission.drain();
    operations.drain();
    let drained_by = tokio::time::Instant::now() + grace;
    let idle = || async {
        operations.idle().await;
        admission.idle().await;
    };
    tokio::select! {
        result = &mut server => return result.map_err(|e| format!("gRPC server failed: {e}")),
        drained = tokio::time::timeout_at(drained_by, idle()) => if drained.is_err() {
            tracing::warn!(
                calls = admission.calls_in_flight(),
                operations = operations.running(),
                "grace period over; stopping the operations still running and ending their streams"
            );
            // Each stream still gets every result decided so far, then a status saying how
            // many are missing and how to re-attach.
            operations.interrupt();
            let _ = tokio::time::timeout(HAND_OVER, idle()).await;
        }
    }
    // Every call has ended: close the connections (GOAWAY) and stop listening.
    let _ = stop_tx.send(());
    let closing = drained_by.max(tokio::time::Instant::now() + Duration::from_secs(1));
    match tokio::time::timeout_at(closing, server).await {
        Ok(result) => result.map_err(|e| format!("gRPC server failed: {e}")),
        Err(_) => Ok(()),
    }
}

/// The listener's TLS from PEM files (mTLS when a client CA is given).
fn tls_config(
    tls: &crate::config::TlsSettings,
) -> Result<tonic::transport::ServerTlsConfig, String> {
    let read = |path: &std::path::Path, what: &str| {
        std::fs::read(path)
            .map_err(|e| format!("cannot read the TLS {what} {}: {e}", path.display()))
    };
    let identity = tonic::transport::Identity::from_pem(
        read(&tls.cert, "certificate")?,
        read(&tls.key, "key")?,
    );
    let mut config = tonic::transport::ServerTlsConfig::new().identity(identity);
    if let Some(ca) = &tls.client_ca {
        config = config.client_ca_root(tonic::transport::Certificate::from_pem(read(
            ca,
            "client CA",
        )?));
    }
    Ok(config)
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
