//! A stream that follows one operation: the first message, every result the journal holds in
//! order, then each new one as it is recorded (with live progress when the operation runs in
//! this process), and the end. A stream may also end early, before the operation does: at the
//! caller's deadline, or when this replica shuts down. Either ends with a status that says how
//! many results were sent and how to re-attach; every result it did send is final.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use prost::Message;
use tokio::sync::{broadcast, mpsc};
use tokio::time::Instant;
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

use super::journal::{End, PAGE};
use super::{LocalState, Operations};

/// Messages queued ahead of a slow reader.
pub const BUFFER: usize = 64;

/// How often a stream reads the journal when the operation runs elsewhere.
const POLL: Duration = Duration::from_millis(200);

/// What a follower needs to know.
pub struct Follow<M> {
    pub operations: Arc<Operations>,
    /// Where the operation is kept.
    pub journal: Arc<dyn super::journal::Journal>,
    pub id: String,
    /// The first message (OperationAccepted).
    pub accepted: M,
    /// Distinct instances of the operation (0 when not known yet).
    pub unique: u32,
    /// The caller's deadline.
    pub deadline: Option<Instant>,
    /// The instance a result message is about (None for other messages).
    pub instance_of: fn(&M) -> Option<&str>,
}

/// A stream that ends before the operation does: how many results it carried, and how to get
/// the rest.
pub fn incomplete(code: Code, id: &str, sent: usize, why: &str) -> Status {
    let message = crate::api::status::cap(
        &format!(
            "{why}; this stream carried {sent} result(s), each final. To receive the rest, send the same request again with request_id \"{id}\" (to any replica) within the retention window"
        ),
        crate::api::status::MAX_MESSAGE_BYTES,
    );
    let details = ErrorDetails::with_error_info(
        "OPERATION_INCOMPLETE",
        crate::api::status::DOMAIN,
        [
            ("requestId".to_string(), crate::api::status::cap(id, 256)),
            ("resultsSent".to_string(), sent.to_string()),
        ],
    );
    Status::with_error_details(code, message, details)
}

/// The status of a request that failed as a whole, as recorded.
fn status_of(end: End) -> Result<(), Status> {
    match end {
        End::Summary(_) => Ok(()),
        End::Failed {
            code,
            message,
            details,
        } => Err(Status::with_details(Code::from(code), message, details)),
    }
}

/// Follows the operation, sending its messages to `tx` until it ends, the stream is cut, or
/// the caller goes away.
pub async fn follow<M>(f: Follow<M>, tx: mpsc::Sender<Result<M, Status>>)
where
    M: Message + Default + Send + 'static,
{
    if tx.send(Ok(f.accepted)).await.is_err() {
        return;
    }
    let mut closing = f.operations.closing();
    let local = f.operations.local(&f.id);
    // An operation running here is read from this replica's copy, up to what its journal
    // holds (so that nothing is streamed that a later re-attach elsewhere could contradict).
    let journal: Arc<dyn super::journal::Journal> = match &local {
        Some(l) => match &l.cache {
            Some(cache) => cache.clone(),
            None => l.journal.clone(),
        },
        None => f.journal.clone(),
    };
    let mut state = local.as_ref().map(|l| l.state());
    let mut progress = local.as_ref().map(|l| l.progress());
    // Results already sent: progress about them is late and is dropped.
    let mut sent: HashSet<String> = HashSet::new();
    let mut cursor = 0usize;
    let cut = f.deadline.map(|at| {
        at.checked_sub(crate::engine::deadline::margin(BUFFER))
            .unwrap_or(at)
    });
    let mut failures = 0u32;
    loop {
        // The recorder publishes an instance's progress before it writes its result: forward
        // what is queued before reading, so progress comes before the result it leads to.
        while let Some(p) = progress.as_mut() {
            match p.try_recv() {
                Ok(event) => {
                    if !sent.contains(&event.instance_id) {
                        if let Ok(message) = M::decode(event.message) {
                            if tx.send(Ok(message)).await.is_err() {
                                return;
                            }
                        }
                    }
                }
                Err(broadcast::error::TryRecvError::Lagged(_)) => {}
                Err(_) => break,
            }
        }
        let page = match journal.read(&f.id, cursor).await {
            Ok(Some(mut page)) => {
                if let Some(state) = &state {
                    let now = *state.borrow();
                    let kept = now.recorded.saturating_sub(cursor);
                    if page.messages.len() > kept {
                        page.messages.truncate(kept);
                        page.end = None;
                    }
                    if !now.ended {
                        page.end = None;
                    }
                }
                page
            }
            Ok(None) => {
                let _ = tx
                    .send(Err(Status::not_found(format!(
                        "operation {} is no longer kept (its retention window passed); send the request with a new request_id to stop these instances again",
                        f.id
                    ))))
                    .await;
                return;
            }
            Err(e) => {
                failures += 1;
                tracing::warn!(request_id = %f.id, error = %e, "cannot read the operation journal");
                if failures >= 25 {
                    let why = format!("the operation journal cannot be read ({e})");
                    let _ = tx
                        .send(Err(incomplete(Code::Unavailable, &f.id, sent.len(), &why)))
                        .await;
                    return;
                }
                tokio::time::sleep(POLL).await;
                continue;
            }
        };
        failures = 0;
        let read = page.messages.len();
        for bytes in page.messages {
            let message = match M::decode(bytes) {
                Ok(message) => message,
                Err(e) => {
                    let _ = tx
                        .send(Err(Status::internal(format!(
                            "a recorded result of operation {} cannot be read ({e}); this is a bug, please report it",
                            f.id
                        ))))
                        .await;
                    return;
                }
            };
            if let Some(instance) = (f.instance_of)(&message) {
                sent.insert(instance.to_string());
            }
            if tx.send(Ok(message)).await.is_err() {
                return;
            }
        }
        cursor += read;
        if let Some(end) = page.end {
            match status_of(end.clone()) {
                Ok(()) => {
                    if let End::Summary(bytes) = end {
                        if let Ok(summary) = M::decode(bytes) {
                            let _ = tx.send(Ok(summary)).await;
                        }
                    }
                }
                Err(status) => {
                    let _ = tx.send(Err(status)).await;
                }
            }
            return;
        }
        if read == PAGE {
            continue;
        }
        let now: LocalState = state.as_ref().map(|s| *s.borrow()).unwrap_or_default();
        if now.interrupted && now.recorded <= cursor {
            let why = if now.lost {
                format!(
                    "another replica took operation {} over and continues it",
                    f.id
                )
            } else if now.detached {
                format!(
                    "this replica shut down before operation {} ended, and the shared journal was unavailable: instances not reported here are NOT decided, and their stops may or may not have been sent (check their state)",
                    f.id
                )
            } else if f.journal.shared() {
                format!(
                    "this replica is shutting down before operation {} ended; another replica continues it",
                    f.id
                )
            } else {
                let undecided = match (f.unique as usize).saturating_sub(sent.len()) {
                    0 => "the instances".to_string(),
                    n => format!("{n} instance(s)"),
                };
                format!(
                    "this replica shut down before operation {} ended: {undecided} not reported here are NOT decided, and their stops may or may not have been sent (check their state); the operation was kept in this process only, so it ends here",
                    f.id
                )
            };
            let _ = tx
                .send(Err(incomplete(Code::Unavailable, &f.id, sent.len(), &why)))
                .await;
            return;
        }
        if now.recorded > cursor || now.ended {
            continue;
        }
        let polling = state.is_none();
        tokio::select! {
            // Shutdown: a stream following an operation that runs elsewhere ends now (one that
            // runs here ends through its state, once what was decided is recorded).
            () = async { let _ = closing.wait_for(|c| *c).await; }, if polling => {
                let why = format!(
                    "this replica is shutting down; operation {} goes on elsewhere",
                    f.id
                );
                let _ = tx
                    .send(Err(incomplete(Code::Unavailable, &f.id, sent.len(), &why)))
                    .await;
                return;
            }
            changed = async {
                match state.as_mut() {
                    Some(s) => s.changed().await.is_ok(),
                    None => std::future::pending().await,
                }
            } => {
                if !changed {
                    // The operation's register entry is gone: read what the journal holds.
                    state = None;
                    progress = None;
                }
            }
            event = async {
                match progress.as_mut() {
                    Some(p) => p.recv().await,
                    None => std::future::pending().await,
                }
            } => match event {
                Ok(p) if !sent.contains(&p.instance_id) => {
                    if let Ok(message) = M::decode(p.message) {
                        if tx.send(Ok(message)).await.is_err() {
                            return;
                        }
                    }
                }
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => progress = None,
            },
            () = async {
                if polling {
                    tokio::time::sleep(POLL).await
                } else {
                    std::future::pending().await
                }
            } => {}
            () = async {
                match cut {
                    Some(cut) => tokio::time::sleep_until(cut).await,
                    None => std::future::pending().await,
                }
            } => {
                let why = format!(
                    "the caller's deadline came before operation {} ended; the operation continues",
                    f.id
                );
                let _ = tx
                    .send(Err(incomplete(Code::DeadlineExceeded, &f.id, sent.len(), &why)))
                    .await;
                return;
            }
            () = tx.closed() => return,
        }
    }
}
