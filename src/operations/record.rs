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

use super::journal::{End, GONE, Journal, JournalError, LOST, Recorded};
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

/// How a write to the operation's journal ended.
enum Written {
    Done,
    /// This replica no longer owns the operation: another one continues it.
    Lost,
    /// The shared journal could not be written for a while: the operation goes on with this
    /// replica's copy alone.
    Unavailable,
}

/// Failed writes after which an operation that may go on alone does so.
const GIVE_UP_AFTER: u32 = 3;

/// Retries a journal write until it succeeds (a result, once decided, must be kept), unless
/// this replica lost the operation, or `patient` is false and the journal stays unavailable.
async fn keep<F, Fut>(id: &str, what: &str, patient: bool, write: F) -> Written
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<(), JournalError>>,
{
    let mut pause = Duration::from_millis(100);
    let mut failures = 0;
    loop {
        match write().await {
            Ok(()) => return Written::Done,
            Err(e) if e.0 == LOST => {
                tracing::warn!(request_id = %id, "another replica took this operation over; stopping work on it here");
                return Written::Lost;
            }
            Err(e) if e.0 == GONE && !patient => {
                tracing::warn!(request_id = %id, "the shared journal no longer keeps this operation (Redis restarted empty?); it goes on with this replica's copy only");
                return Written::Unavailable;
            }
            Err(e) => {
                failures += 1;
                if !patient && failures >= GIVE_UP_AFTER {
                    tracing::warn!(request_id = %id, error = %e, "the shared operation journal is unavailable; the operation goes on with this replica's copy only (streams attached here get every result; no other replica can continue it)");
                    return Written::Unavailable;
                }
                tracing::warn!(request_id = %id, error = %e, "cannot write {what} to the operation journal; retrying");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(5));
            }
        }
    }
}

/// How long a detached operation keeps trying to write its end back to Redis.
const CATCH_UP_FOR: Duration = Duration::from_secs(600);

/// Writes back to the shared journal what a detached operation recorded only here, once Redis
/// answers: the results it missed (each instance at most once) and the end. Gives up when
/// another replica owns the operation, when Redis no longer keeps it, or after
/// [`CATCH_UP_FOR`].
async fn catch_up(local: Arc<Local>, unsynced: Vec<Recorded>, end: End) {
    let id = local.id.clone();
    let journal = local.journal.clone();
    let started = tokio::time::Instant::now();
    let mut pause = Duration::from_millis(500);
    loop {
        let written = match journal.append(&id, unsynced.clone(), None).await {
            Ok(()) => journal.end(&id, end.clone()).await,
            Err(e) => Err(e),
        };
        match written {
            Ok(()) => {
                tracing::info!(request_id = %id, results = unsynced.len(), "the shared journal has the operation's end again");
                return;
            }
            Err(e) if e.0 == LOST || e.0 == GONE => return,
            Err(_) if started.elapsed() >= CATCH_UP_FOR => {
                tracing::warn!(request_id = %id, "gave up writing the operation's end back to the shared journal; a replica may take it over once Redis answers");
                return;
            }
            Err(_) => {
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(5));
            }
        }
    }
}

/// Writes to the operation's journal, unless the operation already goes on without it; when
/// the journal stays unavailable (and `patient` is false), sets `detached`. Returns false when
/// this replica lost the operation to another.
async fn write_through<F, Fut>(
    id: &str,
    what: &str,
    patient: bool,
    detached: &mut bool,
    write: F,
) -> bool
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<(), JournalError>>,
{
    if *detached {
        return true;
    }
    match keep(id, what, patient, write).await {
        Written::Done => true,
        Written::Lost => false,
        Written::Unavailable => {
            *detached = true;
            true
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
    let journal: Arc<dyn Journal> = local.journal.clone();
    let id = local.id.clone();
    let mut on_end = Some(on_end);
    let mut ended = false;
    let mut batch: Vec<Recorded> = Vec::new();
    let mut lost = false;
    // Without a copy here, writes wait for the journal; with one, the operation goes on with
    // the copy alone when Redis stays away.
    let patient = local.cache.is_none();
    let mut detached = false;
    // While detached: the results Redis misses, and the end, written back once it answers.
    let mut unsynced: Vec<Recorded> = Vec::new();
    let mut final_end: Option<End> = None;
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
                Event::Result(r) => {
                    let (instance_id, outcome) = (r.instance_id().to_string(), r.outcome_name());
                    match convert(Event::Result(r)) {
                        Ok(message) => batch.push(Recorded {
                            instance_id,
                            outcome,
                            message: message.encode_to_vec().into(),
                        }),
                        Err(status) => end = Some(failed(&status)),
                    }
                }
                Event::Summary(mut summary) => {
                    unique = Some(summary.unique);
                    // What an earlier owner recorded counts too.
                    if let Some(shared) = &local.shared
                        && let Ok(totals) = shared.totals(&id).await
                    {
                        let mut outcomes = totals.outcomes;
                        for r in &batch {
                            *outcomes.entry(r.outcome.to_string()).or_default() += 1;
                        }
                        summary.outcome_counts = outcomes;
                        summary.vendor_request_ids = totals.vendor_request_ids;
                    }
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
        if lost {
            continue;
        }
        if !batch.is_empty() || unique.is_some() {
            let results = std::mem::take(&mut batch);
            let unique = unique.take();
            let count = results.len();
            if let Some(cache) = &local.cache {
                let _ = cache.append(&id, results.clone(), unique).await;
            }
            let kept = write_through(&id, "results", patient, &mut detached, || {
                journal.append(&id, results.clone(), unique)
            });
            if !kept.await {
                lost = true;
                local.abort_work();
                continue;
            }
            if detached {
                unsynced.extend(results);
            }
            local.update(|s| {
                s.recorded += count;
                s.detached = detached;
            });
        }
        if let Some(end) = end.take() {
            if let Some(cache) = &local.cache {
                let _ = cache.end(&id, end.clone()).await;
            }
            final_end = Some(end.clone());
            let kept = write_through(&id, "the operation's end", patient, &mut detached, || {
                journal.end(&id, end.clone())
            });
            if !kept.await {
                lost = true;
                local.abort_work();
                continue;
            }
            local.update(|s| {
                s.ended = true;
                s.detached = detached;
            });
            ended = true;
        }
    }
    let joined = work.await;
    if lost {
        // Another replica continues: this copy is done with (and may be forgotten).
        if let Some(cache) = &local.cache {
            let _ = cache.end(&id, failed(&Status::unavailable(LOST))).await;
        }
        local.update(|s| s.lost = true);
    } else if detached && let Some(end) = final_end.take() {
        // Redis must learn the end too, or a replica would take the operation over and run it
        // again once its lease expired.
        tokio::spawn(catch_up(local.clone(), unsynced, end));
    }
    if !ended {
        match joined {
            _ if lost => local.update(|s| s.interrupted = true),
            Err(e) if e.is_cancelled() => {
                // Shutdown: what was decided is recorded; another replica continues at once.
                if let Some(shared) = local.shared.as_ref().filter(|_| !detached) {
                    if let Err(e) = shared.release(&id).await {
                        tracing::warn!(request_id = %id, error = %e, "cannot release the operation's lease; another replica continues it once the lease expires");
                    }
                }
                local.update(|s| s.interrupted = true)
            }
            _ => {
                // The work ended without its summary: a bug (a panic) or a lost end.
                tracing::error!(request_id = %id, "the operation ended without a summary (a bug); reported as INTERNAL");
                if let Some(cache) = &local.cache {
                    let _ = cache.end(&id, bug()).await;
                }
                if !detached {
                    keep(&id, "the operation's end", patient, || {
                        journal.end(&id, bug())
                    })
                    .await;
                }
                local.update(|s| s.ended = true);
            }
        }
    }
    if let Some(on_end) = on_end.take() {
        on_end(None);
    }
    operations.unregister(&id);
}
