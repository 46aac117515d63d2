//! The streaming pattern both services share (tonic's own): the engine's work runs in a task
//! that forwards its events to the caller; when the caller goes away, the task ends and the
//! work is dropped, so no further vendor call is made. A request-level failure becomes the
//! RPC's status and ends the stream. The RPC's span and metrics close with the stream.

use std::future::Future;
use std::time::Instant;

use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Code, Status};
use tracing::Instrument;

use crate::telemetry;

/// One RPC being served: its span and when it started.
pub struct Rpc {
    pub span: tracing::Span,
    method: &'static str,
    started: Instant,
}

impl Rpc {
    /// Opens the RPC's span as a child of the caller's trace context.
    pub fn start(
        service: &'static str,
        method: &'static str,
        metadata: &tonic::metadata::MetadataMap,
    ) -> Rpc {
        Rpc {
            span: telemetry::rpc_span(service, method, metadata),
            method,
            started: Instant::now(),
        }
    }

    /// Closes the RPC with `code`.
    fn finish(&self, code: Code) {
        self.span.record("rpc.grpc.status_code", code as i64);
        if code != Code::Ok {
            self.span.record("otel.status_code", "ERROR");
        }
        telemetry::record_rpc(self.method, code, self.started.elapsed());
    }

    /// The call was refused before any work: closes the RPC with that status.
    pub fn refused(&self, status: Status) -> Status {
        self.finish(status.code());
        status
    }
}

/// Runs `work`, streaming each event of `events` converted by `convert`.
pub fn spawn<E, M>(
    rpc: Rpc,
    mut events: mpsc::Receiver<E>,
    work: impl Future<Output = ()> + Send + 'static,
    convert: fn(E) -> Result<M, Status>,
) -> ReceiverStream<Result<M, Status>>
where
    E: Send + 'static,
    M: Send + 'static,
{
    let (out_tx, out_rx) = mpsc::channel(256);
    let span = rpc.span.clone();
    tokio::spawn(
        async move {
            // A bug that panics ends this request with INTERNAL, never with an OK stream that
            // lacks results.
            let panicked = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
            let flag = panicked.clone();
            let work = async move {
                use futures::FutureExt;
                if std::panic::AssertUnwindSafe(work).catch_unwind().await.is_err() {
                    flag.store(true, std::sync::atomic::Ordering::SeqCst);
                }
            }
            .instrument(tracing::Span::current());
            tokio::pin!(work);
            let mut working = true;
            let mut code = Code::Ok;
            loop {
                tokio::select! {
                    // The work owns the only event sender; finishing drops it, which ends
                    // `events` after its last message (the summary).
                    () = &mut work, if working => working = false,
                    event = events.recv() => match event {
                        Some(event) => {
                            let message = convert(event);
                            if let Err(status) = &message {
                                code = status.code();
                            }
                            let failed = message.is_err();
                            if out_tx.send(message).await.is_err() {
                                code = Code::Cancelled;
                                break;
                            }
                            if failed {
                                break;
                            }
                        }
                        None => break,
                    },
                    () = out_tx.closed() => {
                        code = Code::Cancelled;
                        break;
                    }
                }
            }
            if working {
                tracing::info!("caller went away; dropping the rest of its request");
            }
            if panicked.load(std::sync::atomic::Ordering::SeqCst) {
                tracing::error!("the request failed on a bug (a panic); reported as INTERNAL");
                code = Code::Internal;
                let _ = out_tx
                    .send(Err(Status::internal("stopgate failed on this request (a bug); some results may be missing: check the instances' state")))
                    .await;
            }
            rpc.finish(code);
        }
        .instrument(span),
    );
    ReceiverStream::new(out_rx)
}
