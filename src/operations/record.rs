//! The recorder of one operation: it reads the engine's events as they come, writes results and
//! the end to the journal in batches (one write per batch, so a journal in Redis costs one round
//! trip per batch, not per instance), publishes progress to followers in this process, and tells
//! them what the journal now holds. It is the only reader of the engine's events, so the engine
//! never sees its caller go away.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use prost::Message;
use tokio::sync::mpsc;
use tonic::Status;

use super::journal::{End, Journal, JournalError};
use super::{Local, Operations, Progress};
use crate::engine::ledger::{Event, Record};

/// The most events written in one batch.
const BATCH: usize = 1024;

/// What a progress event is about.
pub trait ProgressOf {
    fn instance_id(&self) -> &str;
}

/// The status of a request that failed as a whole, as the journal keeps it.
pub fn failed(status: &Status) -> End {
    End::Failed {
        code: status.code() as i32,
        message: status.message().to_string(),
        details: Bytes::copy_from_slice(status.details()),
    }
}

/// The end of an operation whose work failed on a bug.
fn bug() -> End {
    failed(&Status::internal(
        "stopgate failed on this request (a bug); some results may be missing: check the instances' state",
    ))
}

/// Retries a journal write until it succeeds: a result, once decided, must be kept.
async fn keep<F, Fut>(id: &str, what: &str, write: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<(), JournalError>>,
{
    let mut pause = Duration::from_millis(100);
    loop {
        match write().await {
            Ok(()) => return,
            Err(e) => {
                tracing::warn!(request_id = %id, error = %e, "cannot write {what} to the operation journal; retrying");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(5));
            }
        }
    }
}

/// Records the events of the operation `local` until they end, then its end: the summary or
/// the request's failure, INTERNAL if the work panicked, or nothing if it was interrupted
/// (shutdown), which followers then report. `on_end` sees the summary (for the audit line).
pub async fn record<P, R, M>(
    operations: Arc<Operations>,
    local: Arc<Local>,
    mut events: mpsc::Receiver<Event<P, R>>,
    work: tokio::task::JoinHandle<()>,
    convert: fn(Event<P, R>) -> Result<M, Status>,
    on_end: impl FnOnce(Option<&crate::engine::ledger::Summary>),
) where
    P: ProgressOf + Send + 'static,
    R: Record,
    M: Message,
{
    let journal: Arc<dyn Journal> = operations.journal().clone();
    let id = local.id.clone();
    let mut on_end = Some(on_end);
    let mut ended = false;
    let mut batch: Vec<Bytes> = Vec::new();
    let mut end: Option<End> = None;
    let mut unique = None;
    while let Some(first) = events.recv().await {
        let mut next = Some(first);
        let mut taken = 0;
        while let Some(event) = next.take() {
            match event {
                Event::Progress(p) => {
                    let instance_id = p.instance_id().to_string();
                    if let Ok(message) = convert(Event::Progress(p)) {
                        local.publish(Progress {
                            instance_id,
                            message: message.encode_to_vec().into(),
                        });
                    }
                }
                Event::Result(r) => match convert(Event::Result(r)) {
                    Ok(message) => batch.push(message.encode_to_vec().into()),
                    Err(status) => end = Some(failed(&status)),
                },
                Event::Summary(summary) => {
                    unique = Some(summary.unique);
                    if let Some(on_end) = on_end.take() {
                        on_end(Some(&summary));
                    }
                    end = Some(match convert(Event::Summary(summary)) {
                        Ok(message) => End::Summary(message.encode_to_vec().into()),
                        Err(status) => failed(&status),
                    });
                }
                Event::Failed(error) => {
                    if let Err(status) = convert(Event::Failed(error)) {
                        end = Some(failed(&status));
                    }
                }
            }
            taken += 1;
            if taken < BATCH && end.is_none() {
                next = events.try_recv().ok();
            }
        }
        if !batch.is_empty() || unique.is_some() {
            let messages = std::mem::take(&mut batch);
            let unique = unique.take();
            let count = messages.len();
            keep(&id, "results", || {
                journal.append(&id, messages.clone(), unique)
            })
            .await;
            local.update(|s| s.recorded += count);
        }
        if let Some(end) = end.take() {
            keep(&id, "the operation's end", || journal.end(&id, end.clone())).await;
            local.update(|s| s.ended = true);
            ended = true;
        }
    }
    let joined = work.await;
    if !ended {
        match joined {
            Err(e) if e.is_cancelled() => local.update(|s| s.interrupted = true),
            _ => {
                // The work ended without its summary: a bug (a panic) or a lost end.
                tracing::error!(request_id = %id, "the operation ended without a summary (a bug); reported as INTERNAL");
                keep(&id, "the operation's end", || journal.end(&id, bug())).await;
                local.update(|s| s.ended = true);
            }
        }
    }
    if let Some(on_end) = on_end.take() {
        on_end(None);
    }
    operations.unregister(&id);
}
