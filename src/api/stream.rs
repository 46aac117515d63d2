//! The streaming pattern both services share. A call names an operation by its `request_id`
//! (assigned when absent): a new one is started, as a task of its own that outlives the call,
//! and its events are recorded in the journal ([`crate::operations::record`]); an existing one
//! with the same request is re-attached to. Either way the response stream follows the journal
//! ([`crate::operations::follow`]), so the first stream and a re-attached one carry the same
//! results. A request-level failure becomes the RPC's status and ends the stream. The RPC's
//! span and metrics close with the stream.
//!
//! [`Operation`] is what differs between the two services; [`serve`] is everything else
//! (authorization, the request id, validation, the instance limit, the journal, the stream).
//! The call limit and the drain are applied before any of this, by
//! [`super::admission_layer`].

use std::future::Future;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use prost::Message;
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;
use tonic::{Code, Request, Response, Status};
use tracing::Instrument;

use super::admission::Admission;
use super::{auth, deadline, pb, status};
use crate::audit::Origin;
use crate::engine::Engine;
use crate::engine::ledger::{Event, Ledger, Record};
use crate::model::Provider;
use crate::operations::journal::{Header, Opened};
use crate::operations::record::ProgressOf;
use crate::operations::{Operations, follow};
use crate::telemetry;

/// Events the engine may queue ahead of the recorder (per operation).
const EVENT_BUFFER: usize = 256;

/// The longest request_id accepted.
pub const MAX_REQUEST_ID: usize = 128;

/// One streaming operation of the API: how its request is checked and its work run.
pub trait Operation: 'static {
    type Request: Message + Default + Send + 'static;
    /// The request once converted and validated.
    type Valid: Send + 'static;
    type Progress: ProgressOf + Send + 'static;
    type Result: Record;
    type Message: Message + Default + Send + 'static;
    const SERVICE: &'static str;
    const METHOD: &'static str;

    /// The account the request acts as (for authorization).
    fn account(request: &Self::Request) -> &str;
    /// The request's `request_id` field.
    fn request_id(request: &mut Self::Request) -> &mut String;
    /// Converts and validates, refusing with INVALID_ARGUMENT; logs what was asked.
    fn validate(engine: &Engine, request: Self::Request) -> Result<Self::Valid, Status>;
    /// The provider, region, account, the distinct ids and how many ids the request named.
    fn target(valid: &Self::Valid) -> Target<'_>;
    /// The engine's work for the request.
    fn run(
        engine: Arc<Engine>,
        valid: Self::Valid,
        ledger: Arc<Ledger<Self::Progress, Self::Result>>,
        deadline: Option<tokio::time::Instant>,
    ) -> impl Future<Output = ()> + Send + 'static;
    /// One event as a stream message, or the RPC's status.
    fn convert(event: Event<Self::Progress, Self::Result>) -> Result<Self::Message, Status>;
    /// The stream's first message.
    fn accepted(accepted: pb::OperationAccepted) -> Self::Message;
    /// The instance a result message is about.
    fn result_instance(message: &Self::Message) -> Option<&str>;
    /// Narrows a request taken over from another replica to its undecided instances, with
    /// the stops the vendor already accepted (`sent`).
    fn resume(valid: &mut Self::Valid, resume: &crate::operations::journal::Resume);
}

/// What a validated request acts on.
pub struct Target<'a> {
    pub provider: Provider,
    pub region: &'a str,
    pub account: &'a str,
    pub ids: &'a [String],
    pub requested: usize,
    /// Instances the operation may work on at most: its ids, or a selector's expect_at_most.
    pub at_most: usize,
}

/// The response stream of an operation.
pub type StreamOf<O> = CallStream<<O as Operation>::Message>;

/// The request id a caller sent, checked, or a new UUID when it sent none.
fn request_id(sent: String) -> Result<String, Status> {
    if sent.is_empty() {
        return Ok(uuid::Uuid::new_v4().to_string());
    }
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':');
    if sent.len() > MAX_REQUEST_ID || !sent.chars().all(allowed) {
        return Err(status::invalid_fields(vec![(
            "request_id".to_string(),
            format!(
                "must be at most {MAX_REQUEST_ID} letters, digits, '-', '_', '.' or ':' (a UUID is recommended); got {} characters",
                sent.chars().count()
            ),
        )]));
    }
    Ok(sent)
}

/// What identifies a request's content: the method and the request without its request_id.
fn fingerprint<M: Message>(method: &str, request: &M) -> String {
    let mut hash = Sha256::new();
    hash.update(method.as_bytes());
    hash.update([0]);
    hash.update(request.encode_to_vec());
    hex::encode(hash.finalize())
}

fn timestamp(at: SystemTime) -> prost_types::Timestamp {
    let since = at
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    prost_types::Timestamp {
        seconds: since.as_secs() as i64,
        nanos: since.subsec_nanos() as i32,
    }
}

/// Serves one call of `O`: refusals become the RPC's status, the rest streams.
pub async fn serve<O: Operation>(
    engine: &Arc<Engine>,
    admission: &Arc<Admission>,
    operations: &Arc<Operations>,
    request: Request<O::Request>,
) -> Result<Response<StreamOf<O>>, Status> {
    let rpc = Rpc::start(O::SERVICE, O::METHOD, request.metadata());
    let caller = auth::identity(&request);
    let prepared = rpc.span.in_scope(|| {
        auth::authorize(&request, O::account(request.get_ref()))?;
        let deadline = deadline::of(request.metadata());
        let mut request = request.into_inner();
        let id = request_id(std::mem::take(O::request_id(&mut request)))?;
        let fingerprint = fingerprint(O::METHOD, &request);
        *O::request_id(&mut request) = id.clone();
        let encoded = request.encode_to_vec();
        let valid = O::validate(engine, request)?;
        Ok((id, fingerprint, encoded, valid, deadline))
    });
    let (id, fingerprint, encoded, valid, deadline) =
        prepared.map_err(|status: Status| rpc.refused(status))?;
    rpc.span.record("stopgate.request_id", id.as_str());
    let target = O::target(&valid);
    let origin = Origin {
        request_id: id.clone(),
        caller: caller.clone(),
        method: O::METHOD,
        provider: target.provider,
        account: target.account.to_string(),
        region: target.region.to_string(),
    };
    let header = Header {
        id: id.clone(),
        method: O::METHOD.to_string(),
        fingerprint,
        caller,
        requested: target.requested as u32,
        unique: target.ids.len() as u32,
        accepted_at: SystemTime::now(),
    };
    // A call naming no instance (every task of an execution) holds one slot.
    let instances = admission
        .reserve_instances(target.at_most.max(1))
        .map_err(|status| rpc.refused(status))?;
    let (journal, shared, opened) =
        operations
            .open(&header, encoded.into())
            .await
            .map_err(|e| {
                rpc.refused(Status::unavailable(format!(
                    "the operation journal cannot be reached ({e}); nothing was sent: try again"
                )))
            })?;
    let settings = operations.settings();
    let mut accepted = pb::OperationAccepted {
        request_id: id.clone(),
        reattached: false,
        requested: header.requested,
        unique: header.unique,
        recorded: 0,
        accepted_at: Some(timestamp(header.accepted_at)),
        retention: Some(prost_types::Duration {
            seconds: settings.retention_seconds as i64,
            nanos: 0,
        }),
        finished: false,
    };
    match opened {
        Opened::Created => {
            rpc.span.in_scope(|| {
                crate::audit::accepted(
                    &origin,
                    target.requested,
                    target.ids.len(),
                    &header.fingerprint,
                )
            });
            let deadline = tokio::time::Instant::now() + operations.settings().max_duration();
            let ids = target.ids.to_vec();
            start::<O>(
                engine,
                operations,
                (valid, ids, Default::default()),
                (origin, deadline),
                Home {
                    header: &header,
                    journal: journal.clone(),
                    shared,
                    recorded: Vec::new(),
                },
                Some(instances),
                &rpc.span,
            );
        }
        Opened::Existing { header: kept, .. } if kept.caller != header.caller => {
            return Err(rpc.refused(Status::permission_denied(format!(
                "request_id {id:?} belongs to an operation of another caller; use a new request_id"
            ))));
        }
        Opened::Existing { header: kept, .. } if kept.fingerprint != header.fingerprint => {
            return Err(rpc.refused(status::invalid_fields(vec![(
                "request_id".to_string(),
                format!(
                    "{id:?} already names a different {} request (accepted at {}); use a new request_id for a new request, or send exactly the same request to re-attach",
                    kept.method,
                    time::OffsetDateTime::from(kept.accepted_at)
                        .format(&time::format_description::well_known::Rfc3339)
                        .unwrap_or_default()
                ),
            )])));
        }
        Opened::Existing {
            header: kept,
            recorded,
            finished,
        } => {
            drop(instances);
            if !finished && shared.is_some() && operations.local(&id).is_none() {
                // Its owner may be gone: continue it here if its lease expired.
                take_over(engine, operations, &id).await;
            }
            rpc.span.in_scope(|| {
                tracing::info!(request_id = %id, recorded, finished, "re-attached to an operation")
            });
            accepted.reattached = true;
            accepted.unique = kept.unique;
            accepted.recorded = recorded as u32;
            accepted.finished = finished;
            accepted.accepted_at = Some(timestamp(kept.accepted_at));
        }
    }
    let (tx, rx) = mpsc::channel(follow::BUFFER);
    let unique = accepted.unique;
    let follower = follow::Follow {
        operations: operations.clone(),
        journal,
        id,
        accepted: O::accepted(accepted),
        unique,
        deadline,
        instance_of: O::result_instance,
    };
    tokio::spawn(follow::follow(follower, tx).instrument(rpc.span.clone()));
    Ok(Response::new(CallStream::new(rpc, rx)))
}

/// Where an operation starting here is kept: its header, its journal (with the shared side
/// when replicas share it), and the results an earlier owner already recorded.
struct Home<'a> {
    header: &'a Header,
    journal: Arc<dyn crate::operations::journal::Journal>,
    shared: Option<Arc<dyn crate::operations::journal::Shared>>,
    recorded: Vec<bytes::Bytes>,
}

/// Starts an operation here, new or taken over: the engine's work, its recorder and (with a
/// shared journal) the heartbeat of its lease, all outliving the call. `ids` are all the
/// operation's distinct instances, of which `decided` already have their result.
fn start<O: Operation>(
    engine: &Arc<Engine>,
    operations: &Arc<Operations>,
    (valid, ids, decided): (O::Valid, Vec<String>, std::collections::HashSet<String>),
    (origin, deadline): (Origin, tokio::time::Instant),
    home: Home<'_>,
    instances: Option<super::admission::Instances>,
    span: &tracing::Span,
) {
    let Home {
        header,
        journal,
        shared,
        recorded,
    } = home;
    let local = operations.register(header, (journal, shared.clone()), recorded);
    let (events_tx, events_rx) = mpsc::channel(EVENT_BUFFER);
    let target = O::target(&valid);
    let mut ledger = Ledger::new(ids, target.requested, events_tx)
        .labelled(O::METHOD, target.provider, engine.metrics().clone())
        .with_origin(origin.clone())
        .decided(decided);
    if let Some(shared) = shared {
        ledger = ledger.with_phases(Arc::new(crate::operations::JournalPhases {
            journal: shared.clone(),
            id: origin.request_id.clone(),
        }));
        crate::operations::heartbeat(shared.clone(), local.clone(), operations.settings().lease());
    }
    let work = tokio::spawn(
        O::run(engine.clone(), valid, Arc::new(ledger), Some(deadline)).instrument(span.clone()),
    );
    local.set_work(work.abort_handle());
    let recorder = crate::operations::record::record(
        operations.clone(),
        local,
        events_rx,
        work,
        O::convert,
        move |summary| crate::audit::finished(&origin, summary),
    );
    tokio::spawn(
        async move {
            recorder.await;
            // The instance limit counts the instances still being worked on.
            drop(instances);
        }
        .instrument(span.clone()),
    );
}

/// Takes the operation `id` over if its owner's lease expired, and continues it here.
pub async fn take_over(engine: &Arc<Engine>, operations: &Arc<Operations>, id: &str) {
    let Some(shared) = operations.shared() else {
        return;
    };
    if operations.local(id).is_some() {
        return;
    }
    match shared.take_over(id).await {
        Ok(Some(resume)) => match resume.header.method.as_str() {
            "StopInstances" => super::instance_service::resume(engine, operations, resume).await,
            "StopCommandExecution" => {
                super::command_service::resume(engine, operations, resume).await
            }
            other => {
                tracing::error!(request_id = %id, method = other, "cannot continue an operation of an unknown method")
            }
        },
        Ok(None) => {}
        Err(e) => {
            tracing::warn!(request_id = %id, error = %e, "cannot take over an operation whose owner is gone")
        }
    }
}

/// Continues an operation of `O` that this replica took over from one that is gone: reads the
/// request it recorded, and works only on the instances still undecided, never sending a stop
/// the vendor already accepted.
pub async fn resume<O: Operation>(
    engine: &Arc<Engine>,
    operations: &Arc<Operations>,
    resume: crate::operations::journal::Resume,
) {
    let id = resume.header.id.clone();
    let span = tracing::info_span!("operation taken over", stopgate.request_id = %id);
    let valid = span.in_scope(|| {
        let request = O::Request::decode(resume.request.clone())
            .map_err(|e| format!("its recorded request cannot be read ({e})"))?;
        O::validate(engine, request).map_err(|s| s.message().to_string())
    });
    let mut valid = match valid {
        Ok(valid) => valid,
        Err(why) => {
            // This replica's configuration refuses it (another account set, say): leave it to
            // a replica that can, and say so.
            span.in_scope(
                || tracing::error!(request_id = %id, why, "cannot continue this operation here"),
            );
            return;
        }
    };
    let target = O::target(&valid);
    let ids = target.ids.to_vec();
    let origin = Origin {
        request_id: id.clone(),
        caller: resume.header.caller.clone(),
        method: O::METHOD,
        provider: target.provider,
        account: target.account.to_string(),
        region: target.region.to_string(),
    };
    span.in_scope(|| {
        tracing::info!(
            target: "stopgate::audit",
            audit = "operation.taken_over",
            request_id = %id,
            caller = %origin.caller,
            decided = resume.decided.len(),
            sent = resume.sent.len(),
            "operation taken over from a replica that is gone"
        )
    });
    O::resume(&mut valid, &resume);
    // This replica's copy starts with what the earlier owner recorded.
    let mut recorded = Vec::new();
    loop {
        match operations.journal().read(&id, recorded.len()).await {
            Ok(Some(page)) if !page.messages.is_empty() => recorded.extend(page.messages),
            Ok(_) => break,
            Err(e) => {
                span.in_scope(|| tracing::warn!(request_id = %id, error = %e, "cannot read what the earlier owner recorded; leaving the operation to the next sweep"));
                if let Some(shared) = operations.shared() {
                    let _ = shared.release(&id).await;
                }
                return;
            }
        }
    }
    let age = SystemTime::now()
        .duration_since(resume.header.accepted_at)
        .unwrap_or_default();
    let left = operations.settings().max_duration().saturating_sub(age);
    let deadline = tokio::time::Instant::now() + left;
    start::<O>(
        engine,
        operations,
        (valid, ids, resume.decided),
        (origin, deadline),
        Home {
            header: &resume.header,
            journal: operations.journal().clone(),
            shared: operations.shared().cloned(),
            recorded,
        },
        None,
        &span,
    );
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

/// The response stream of one call: what its follower sends. Its end closes the RPC's span
/// and metrics; the caller going away ends only the stream, never the operation.
pub struct CallStream<M> {
    messages: mpsc::Receiver<Result<M, Status>>,
    rpc: Rpc,
    finished: bool,
}

impl<M> CallStream<M> {
    fn new(rpc: Rpc, messages: mpsc::Receiver<Result<M, Status>>) -> CallStream<M> {
        CallStream {
            messages,
            rpc,
            finished: false,
        }
    }

    fn finish(&mut self, code: Code) {
        self.finished = true;
        self.rpc.finish(code);
    }
}

impl<M> futures::Stream for CallStream<M> {
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
        match this.messages.poll_recv(cx) {
            Poll::Ready(Some(Err(status))) => {
                // A status is the stream's last message.
                this.finish(status.code());
                Poll::Ready(Some(Err(status)))
            }
            Poll::Ready(Some(Ok(message))) => Poll::Ready(Some(Ok(message))),
            Poll::Ready(None) => {
                this.finish(Code::Ok);
                Poll::Ready(None)
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<M> Drop for CallStream<M> {
    fn drop(&mut self) {
        if !self.finished {
            self.rpc.span.in_scope(|| {
                tracing::info!(
                    "caller went away; its operation continues and can be re-attached to"
                )
            });
            self.finish(Code::Cancelled);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_request_id_is_assigned_a_uuid_and_a_bad_one_is_refused() {
        let assigned = request_id(String::new()).unwrap();
        assert!(uuid::Uuid::parse_str(&assigned).is_ok());
        assert_eq!(
            request_id("7d0c0c56-0c5e-4b4e-9a59-1d2c2b6f3e10".into()).unwrap(),
            "7d0c0c56-0c5e-4b4e-9a59-1d2c2b6f3e10"
        );
        for bad in ["has space", "ünïcode", &"x".repeat(MAX_REQUEST_ID + 1)] {
            let status = request_id(bad.to_string()).unwrap_err();
            assert_eq!(status.code(), Code::InvalidArgument);
            assert!(status.message().contains("request_id"), "{status:?}");
        }
    }

    #[test]
    fn the_fingerprint_ignores_the_request_id_and_nothing_else() {
        let mut a = pb::StopInstancesRequest {
            region: "cn-hangzhou".into(),
            instance_ids: vec!["i-1".into()],
            ..Default::default()
        };
        let base = fingerprint("StopInstances", &a);
        a.dry_run = true;
        assert_ne!(fingerprint("StopInstances", &a), base);
        a.dry_run = false;
        assert_eq!(fingerprint("StopInstances", &a), base);
        assert_ne!(fingerprint("StopCommandExecution", &a), base);
    }
}
