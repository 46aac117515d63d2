//! The streaming pattern both services share: the engine's work runs in a task of its own and
//! its events reach the caller through one channel, converted as they are read; when the
//! caller goes away, the work is aborted, so no further vendor call is made. A request-level failure becomes the
//! RPC's status and ends the stream. The RPC's span and metrics close with the stream.
//! [`Operation`] is what differs between the two services; [`serve`] is everything else
//! (authorization, the instance limit, validation, the ledger, the stream). The call limit and
//! the drain are applied before any of this, by [`super::admission_layer`].

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use tokio::sync::mpsc;
use tonic::{Code, Request, Response, Status};
use tracing::Instrument;

use super::admission::{Admission, Instances};
use super::{auth, deadline};
use crate::engine::Engine;
use crate::engine::ledger::{Event, Ledger, Record};
use crate::model::Provider;
use crate::telemetry;

/// Events the engine may queue ahead of the stream (per call).
const EVENT_BUFFER: usize = 256;

/// One streaming operation of the API: how its request is checked and its work run.
pub trait Operation: 'static {
    type Request: Send + 'static;
    /// The request once converted and validated.
    type Valid: Send + 'static;
    type Progress: Send + 'static;
    type Result: Record;
    type Message: Send + 'static;
    const SERVICE: &'static str;
    const METHOD: &'static str;

    /// The account the request acts as (for authorization).
    fn account(request: &Self::Request) -> &str;
    /// Converts and validates, refusing with INVALID_ARGUMENT; logs what was asked.
    fn validate(engine: &Engine, request: Self::Request) -> Result<Self::Valid, Status>;
    /// The provider, the distinct ids and how many ids the request named.
    fn ids(valid: &Self::Valid) -> (Provider, &[String], usize);
    /// The engine's work for the request.
    fn run(
        engine: Arc<Engine>,
        valid: Self::Valid,
        ledger: Arc<Ledger<Self::Progress, Self::Result>>,
        deadline: Option<tokio::time::Instant>,
    ) -> impl Future<Output = ()> + Send + 'static;
    /// One event as a stream message, or the RPC's status.
    fn convert(event: Event<Self::Progress, Self::Result>) -> Result<Self::Message, Status>;
}

/// The response stream of an operation.
pub type StreamOf<O> = CallStream<
    Event<<O as Operation>::Progress, <O as Operation>::Result>,
    <O as Operation>::Message,
>;

/// Serves one call of `O`: refusals become the RPC's status, the rest streams.
pub fn serve<O: Operation>(
    engine: &Arc<Engine>,
    admission: &Arc<Admission>,
    request: Request<O::Request>,
) -> Result<Response<StreamOf<O>>, Status> {
    let rpc = Rpc::start(O::SERVICE, O::METHOD, request.metadata());
    let prepared = rpc.span.in_scope(|| {
        auth::authorize(&request, O::account(request.get_ref()))?;
        let deadline = deadline::of(request.metadata());
        let valid = O::validate(engine, request.into_inner())?;
        let (_, ids, _) = O::ids(&valid);
        // A call naming no instance (every task of an execution) holds one slot.
        let instances = admission.reserve_instances(ids.len().max(1))?;
        Ok((valid, deadline, instances))
    });
    let (valid, deadline, instances) = prepared.map_err(|status: Status| rpc.refused(status))?;
    let (events_tx, events_rx) = mpsc::channel(EVENT_BUFFER);
    let (provider, ids, requested) = O::ids(&valid);
    let completion = events_tx.clone();
    let ledger = Arc::new(Ledger::new(ids.to_vec(), requested, events_tx).labelled(
        O::METHOD,
        provider,
        engine.metrics().clone(),
    ));
    let work = O::run(engine.clone(), valid, ledger, deadline);
    Ok(Response::new(spawn(
        rpc,
        instances,
        (events_rx, completion),
        work,
        O::convert,
    )))
}

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

/// The response stream of one call: the engine's events, converted as the caller reads them.
/// The work runs as its own task (a slow reader never holds it up); dropping the stream (the
/// caller went away) aborts the work, so no further vendor call is made.
pub struct CallStream<E, M> {
    events: mpsc::Receiver<E>,
    convert: fn(E) -> Result<M, Status>,
    work: tokio::task::JoinHandle<()>,
    /// Set by the work when it returns, before the events end: the stream can then end with
    /// its last message rather than wait for the task to be reaped (a separate HTTP/2 write).
    returned: Arc<AtomicBool>,
    rpc: Rpc,
    code: Code,
    /// The events have ended; the work's own end (or panic) is awaited.
    events_ended: bool,
    finished: bool,
}

/// Runs `work` as a task and streams each event of `events` converted by `convert`; the
/// work's `instances` are given back when the work returns or is aborted, so the instance
/// count says how many are still being worked on. `completion`, a sender of `events` that
/// only this task holds, keeps the events open until the work has returned.
fn spawn<E, M>(
    rpc: Rpc,
    instances: Instances,
    (events, completion): (mpsc::Receiver<E>, mpsc::Sender<E>),
    work: impl Future<Output = ()> + Send + 'static,
    convert: fn(E) -> Result<M, Status>,
) -> CallStream<E, M>
where
    E: Send + 'static,
    M: Send + 'static,
{
    let returned = Arc::new(AtomicBool::new(false));
    let set = returned.clone();
    let work = tokio::spawn(
        async move {
            work.await;
            drop(instances);
            // Ordered before the events end: the stream reads the flag after it sees their
            // end. A panic unwinds past this and drops the sender unset.
            set.store(true, Ordering::Release);
            drop(completion);
        }
        .instrument(rpc.span.clone()),
    );
    CallStream {
        events,
        convert,
        work,
        returned,
        rpc,
        code: Code::Ok,
        events_ended: false,
        finished: false,
    }
}

impl<E, M> CallStream<E, M> {
    fn finish(&mut self, code: Code) {
        self.code = code;
        self.finished = true;
        self.rpc.finish(code);
    }
}

impl<E, M> futures::Stream for CallStream<E, M> {
    type Item = Result<M, Status>;

    fn poll_next(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        use std::task::Poll;
        // Every field is Unpin.
        let this = self.get_mut();
        if this.finished {
            return Poll::Ready(None);
        }
        if !this.events_ended {
            match this.events.poll_recv(cx) {
                Poll::Ready(Some(event)) => {
                    let message = (this.convert)(event);
                    if let Err(status) = &message {
                        // A request-level failure is the RPC's status and its last message.
                        this.finish(status.code());
                        this.work.abort();
                    }
                    return Poll::Ready(Some(message));
                }
                // The work owns the event senders: the events end when it does.
                Poll::Ready(None) => {
                    this.events_ended = true;
                    if this.returned.load(Ordering::Acquire) {
                        this.finish(Code::Ok);
                        return Poll::Ready(None);
                    }
                }
                Poll::Pending => return Poll::Pending,
            }
        }
        match std::pin::Pin::new(&mut this.work).poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Err(error)) if error.is_panic() => {
                // A bug that panics ends this request with INTERNAL, never with an OK stream
                // that lacks results.
                this.rpc.span.in_scope(|| {
                    tracing::error!("the request failed on a bug (a panic); reported as INTERNAL")
                });
                this.finish(Code::Internal);
                Poll::Ready(Some(Err(Status::internal(
                    "stopgate failed on this request (a bug); some results may be missing: check the instances' state",
                ))))
            }
            Poll::Ready(_) => {
                this.finish(Code::Ok);
                Poll::Ready(None)
            }
        }
    }
}

impl<E, M> Drop for CallStream<E, M> {
    fn drop(&mut self) {
        if !self.finished {
            self.rpc
                .span
                .in_scope(|| tracing::info!("caller went away; dropping the rest of its request"));
            self.work.abort();
            self.finish(Code::Cancelled);
        }
    }
}

#[cfg(test)]
mod tests {
    use futures::StreamExt;

    use super::*;
    use crate::config::Limits;

    /// A stream over `work`, which gets the only other sender of the events.
    fn stream_of(
        work: impl FnOnce(mpsc::Sender<u32>) -> std::pin::Pin<Box<dyn Future<Output = ()> + Send>>,
    ) -> CallStream<u32, u32> {
        let rpc = Rpc::start(
            "test.Service",
            "Method",
            &tonic::metadata::MetadataMap::new(),
        );
        let instances = Admission::new(&Limits::default())
            .reserve_instances(1)
            .unwrap();
        let (tx, rx) = mpsc::channel(EVENT_BUFFER);
        let completion = tx.clone();
        spawn(rpc, instances, (rx, completion), work(tx), Ok)
    }

    #[tokio::test]
    async fn work_that_returns_ends_the_stream_after_its_events() {
        let stream = stream_of(|tx| {
            Box::pin(async move {
                tx.send(1).await.unwrap();
                tx.send(2).await.unwrap();
            })
        });
        let items: Vec<u32> = stream.map(|m| m.unwrap()).collect().await;
        assert_eq!(items, [1, 2]);
    }

    #[tokio::test]
    async fn work_that_panics_after_an_event_ends_the_stream_with_internal() {
        let mut stream = stream_of(|tx| {
            Box::pin(async move {
                tx.send(1).await.unwrap();
                drop(tx);
                panic!("a bug in the work");
            })
        });
        assert_eq!(stream.next().await.unwrap().unwrap(), 1);
        let status = stream.next().await.unwrap().unwrap_err();
        assert_eq!(status.code(), Code::Internal);
        assert!(stream.next().await.is_none());
    }
}
