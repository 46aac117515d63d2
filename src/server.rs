//! The gRPC server: stopgate's services, gRPC health (overall, per service, per provider) and
//! reflection v1 + v1alpha, with a graceful drain on shutdown.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tonic_health::ServingStatus;

use crate::api::command_service::CommandService;
use crate::api::instance_service::InstanceService;
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

/// Serves on `listener` until `shutdown` resolves, then stops taking new calls, reports
/// NOT_SERVING, and lets in-flight streams finish for up to `grace`.
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
    for provider in Provider::ALL {
        let status = if engine.is_configured(provider) {
            ServingStatus::Serving
        } else {
            ServingStatus::NotServing
        };
        reporter
            .set_service_status(provider_health_name(provider), status)
            .await;
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
    let mut builder = tonic::transport::Server::builder();
    if let Some(tls) = &engine.config().tls {
        builder = builder
            .tls_config(tls_config(tls)?)
            .map_err(|e| format!("TLS: {e}"))?;
    }
    let (instances, commands) = (callers.clone(), callers);
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = builder
        .add_service(health)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_service(InstanceServiceServer::with_interceptor(
            InstanceService::new(engine.clone()),
            move |r| instances.check(r),
        ))
        .add_service(CommandServiceServer::with_interceptor(
            CommandService::new(engine),
            move |r| commands.check(r),
        ))
        .serve_with_incoming_shutdown(TcpListenerStream::new(listener), async {
            let _ = stop_rx.await;
        });
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
    let _ = stop_tx.send(());
    match tokio::time::timeout(grace, server).await {
        Ok(result) => result.map_err(|e| format!("gRPC server failed: {e}")),
        Err(_) => {
            tracing::warn!("grace period over; closing the streams still open");
            Ok(())
        }
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
