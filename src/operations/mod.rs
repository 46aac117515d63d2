//! Operations (docs/operations.md): a stop, once accepted, is an operation that runs to its end
//! whoever is listening. Its results are recorded in a [`journal::Journal`] as they are decided,
//! and every stream, the first or one re-attached later with the same `request_id`, follows the
//! journal ([`follow`]). [`Operations`] is this process's register of the operations it runs:
//! their live progress, their state, and the hand-over on shutdown.
//!
//! - [`journal`]: what is kept per operation, and the trait of the stores.
//! - [`memory`]: the in-process journal (the default); [`redis`]: the journal shared by
//!   replicas, with owner leases and take-over.
//! - [`record`]: the task that turns an operation's events into journal entries.
//! - [`follow`]: a stream that replays and follows one operation.

pub mod follow;
pub mod journal;
pub mod memory;
pub mod record;
pub mod redis;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use tokio::sync::{broadcast, watch};

use crate::config::OperationSettings;
use journal::{Journal, Shared};

/// Progress events buffered for a slow follower; older ones are skipped (progress is advisory).
const PROGRESS_BUFFER: usize = 1024;

/// What followers in this process can see of an operation that runs here.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct LocalState {
    /// Results written to the journal.
    pub recorded: usize,
    /// The end is written to the journal.
    pub ended: bool,
    /// This process stopped working on it before its end (shutdown).
    pub interrupted: bool,
    /// The shared journal could not be written: the operation goes on with this replica's
    /// copy only.
    pub detached: bool,
    /// Another replica owns the operation now.
    pub lost: bool,
}

/// A progress event of an instance, encoded as a stream message.
#[derive(Debug, Clone)]
pub struct Progress {
    pub instance_id: String,
    pub message: Bytes,
}

/// Where an opened operation lives (its journal and, when replicas share it, the shared
/// side), and what opening it found.
pub type Opening = (Arc<dyn Journal>, Option<Arc<dyn Shared>>, journal::Opened);

/// An operation running in this process.
pub struct Local {
    pub id: String,
    /// Where it is kept: the shared journal, or this process's when Redis was unavailable at
    /// its start.
    pub journal: Arc<dyn Journal>,
    /// The same journal when replicas share it.
    pub shared: Option<Arc<dyn Shared>>,
    /// With a shared journal, this replica's copy: written first, read by the streams attached
    /// here (up to what the shared journal holds), and all there is if Redis is lost.
    pub cache: Option<Arc<memory::MemoryJournal>>,
    state: watch::Sender<LocalState>,
    progress: broadcast::Sender<Progress>,
    work: Mutex<Option<tokio::task::AbortHandle>>,
}

impl Local {
    /// Watches what the journal holds of it.
    pub fn state(&self) -> watch::Receiver<LocalState> {
        self.state.subscribe()
    }

    /// Its live progress events.
    pub fn progress(&self) -> broadcast::Receiver<Progress> {
        self.progress.subscribe()
    }

    pub(crate) fn update(&self, change: impl FnOnce(&mut LocalState)) {
        self.state.send_modify(change);
    }

    pub(crate) fn publish(&self, progress: Progress) {
        let _ = self.progress.send(progress);
    }

    /// The engine's work, aborted on shutdown once the grace period is over.
    pub(crate) fn set_work(&self, work: tokio::task::AbortHandle) {
        *self.work.lock().unwrap_or_else(|p| p.into_inner()) = Some(work);
    }

    /// Stops the engine's work (shutdown, or another replica owns the operation now).
    pub(crate) fn abort_work(&self) {
        if let Some(work) = self.work.lock().unwrap_or_else(|p| p.into_inner()).take() {
            work.abort();
        }
    }
}

/// The operations of this process, and where all operations are kept.
pub struct Operations {
    journal: Arc<dyn Journal>,
    /// The same journal when replicas share it (Redis).
    shared: Option<Arc<dyn Shared>>,
    /// This process's own journal: the only one without Redis; with Redis, this replica's copy
    /// of the operations it runs, and the journal of those started while Redis is away.
    memory: Arc<memory::MemoryJournal>,
    settings: OperationSettings,
    local: Mutex<HashMap<String, Arc<Local>>>,
    /// How many operations run here.
    running: watch::Sender<usize>,
    /// Shutting down: take nothing over any more.
    stopping: std::sync::atomic::AtomicBool,
    /// Set when the grace period is over: every stream still open here ends.
    closing: watch::Sender<bool>,
}

impl Operations {
    fn new(
        journal: Arc<dyn Journal>,
        memory: Arc<memory::MemoryJournal>,
        settings: OperationSettings,
    ) -> Operations {
        Operations {
            journal,
            shared: None,
            memory,
            settings,
            local: Mutex::new(HashMap::new()),
            running: watch::Sender::new(0),
            stopping: std::sync::atomic::AtomicBool::new(false),
            closing: watch::Sender::new(false),
        }
    }

    /// Resolves once the grace period of a shutdown is over.
    pub fn closing(&self) -> watch::Receiver<bool> {
        self.closing.subscribe()
    }

    /// Whether this replica is shutting down (it takes no operation over).
    pub fn stopping(&self) -> bool {
        self.stopping.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Shutdown has begun: no more take-overs here.
    pub fn drain(&self) {
        self.stopping
            .store(true, std::sync::atomic::Ordering::Release);
    }

    /// With the in-process journal.
    pub fn in_memory(settings: OperationSettings) -> Operations {
        let journal = Arc::new(memory::MemoryJournal::new(settings.clone()));
        Operations::new(journal.clone(), journal, settings)
    }

    /// With the journal in the `[cluster]` Redis, shared by replicas. Redis trouble never fails
    /// a stop: while Redis cannot be reached, operations are kept by this replica alone.
    pub fn in_redis(
        store: Arc<crate::pacing::redis::RedisStore>,
        settings: OperationSettings,
    ) -> Operations {
        let journal = Arc::new(redis::RedisJournal::new(store, settings.clone()));
        let memory = Arc::new(memory::MemoryJournal::new(settings.clone()));
        let mut operations = Operations::new(journal.clone(), memory, settings);
        operations.shared = Some(journal);
        operations
    }

    /// Opens the operation `header.id`: in the journal of the local operation of that id if
    /// there is one, else in the shared journal, else (Redis unavailable, and allowed) in this
    /// process's. Returns the journal it lives in, with its shared side.
    pub async fn open(
        &self,
        header: &journal::Header,
        request: bytes::Bytes,
    ) -> Result<Opening, journal::JournalError> {
        // An operation running here is answered for by its copy here: never opened afresh in a
        // Redis that may have lost it.
        if let Some(local) = self.local(&header.id) {
            let kept: Arc<dyn Journal> = match &local.cache {
                Some(cache) => cache.clone(),
                None => local.journal.clone(),
            };
            let opened = kept.open(header, request).await?;
            return Ok((local.journal.clone(), local.shared.clone(), opened));
        }
        match self.journal.open(header, request.clone()).await {
            Ok(opened) => Ok((self.journal.clone(), self.shared.clone(), opened)),
            Err(error) if self.shared.is_some() => {
                tracing::warn!(request_id = %header.id, %error, "the shared operation journal is unavailable; this operation is kept by this replica only (re-attach here; no other replica can continue it)");
                let opened = self.memory.open(header, request).await?;
                let memory: Arc<dyn Journal> = self.memory.clone();
                Ok((memory, None, opened))
            }
            Err(error) => Err(error),
        }
    }

    pub fn journal(&self) -> &Arc<dyn Journal> {
        &self.journal
    }

    /// The journal's ownership and take-over, when replicas share it.
    pub fn shared(&self) -> Option<&Arc<dyn Shared>> {
        self.shared.as_ref()
    }

    pub fn settings(&self) -> &OperationSettings {
        &self.settings
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Local>>> {
        self.local.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Registers an operation that starts running here, kept in `journal`; with a shared
    /// journal, this replica keeps a copy, starting with `recorded`.
    pub fn register(
        &self,
        header: &journal::Header,
        (journal, shared): (Arc<dyn Journal>, Option<Arc<dyn Shared>>),
        recorded: Vec<bytes::Bytes>,
    ) -> Arc<Local> {
        let id = &header.id;
        let cache = shared.as_ref().map(|_| {
            self.memory.restart(header, recorded.clone());
            self.memory.clone()
        });
        let local = Arc::new(Local {
            id: id.to_string(),
            journal,
            shared,
            cache,
            state: watch::Sender::new(LocalState {
                recorded: recorded.len(),
                ..LocalState::default()
            }),
            progress: broadcast::Sender::new(PROGRESS_BUFFER),
            work: Mutex::new(None),
        });
        let count = {
            let mut running = self.lock();
            running.insert(id.to_string(), local.clone());
            running.len()
        };
        self.running.send_replace(count);
        local
    }

    /// The operation `id` if it runs here.
    pub fn local(&self, id: &str) -> Option<Arc<Local>> {
        self.lock().get(id).cloned()
    }

    /// The operation no longer runs here.
    pub(crate) fn unregister(&self, id: &str) {
        let count = {
            let mut running = self.lock();
            running.remove(id);
            running.len()
        };
        self.running.send_replace(count);
    }

    /// How many operations run here.
    pub fn running(&self) -> usize {
        *self.running.borrow()
    }

    /// Resolves when no operation runs here.
    pub async fn idle(&self) {
        let mut running = self.running.subscribe();
        let _ = running.wait_for(|n| *n == 0).await;
    }

    /// Shutdown, once the grace period is over: stops the work of every operation that runs
    /// here. What was decided is still written to the journal; followers then end their streams
    /// saying which results are missing and how to re-attach.
    pub fn interrupt(&self) {
        self.closing.send_replace(true);
        let running: Vec<Arc<Local>> = self.lock().values().cloned().collect();
        for local in running {
            tracing::warn!(
                request_id = %local.id,
                "shutting down before this operation ended; its undecided instances are left to re-attaching"
            );
            local.abort_work();
        }
    }
}

/// Notes accepted stops in the shared journal (the engine's [`crate::engine::ledger::Phases`]).
pub struct JournalPhases {
    pub journal: Arc<dyn Shared>,
    pub id: String,
}

impl crate::engine::ledger::Phases for JournalPhases {
    fn sent<'a>(
        &'a self,
        ids: &'a [String],
        vendor_request_id: &'a str,
        watch: Option<std::time::Duration>,
    ) -> crate::provider::BoxFuture<'a, bool> {
        Box::pin(async move {
            if ids.is_empty() {
                return true;
            }
            // An empty RequestId notes a stop about to be sent.
            match self
                .journal
                .sent(&self.id, ids, vendor_request_id, watch)
                .await
            {
                Ok(()) => true,
                Err(e) if e.0 == journal::LOST => {
                    tracing::warn!(request_id = %self.id, "another replica owns this operation now; sending nothing more from here");
                    false
                }
                // Without the note, a replica taking over reads these instances' states and
                // still sends nothing to one already stopping.
                Err(e) => {
                    tracing::warn!(request_id = %self.id, error = %e, "cannot note stops in the operation journal");
                    true
                }
            }
        })
    }

    fn called<'a>(&'a self, vendor_request_id: &'a str) -> crate::provider::BoxFuture<'a, ()> {
        Box::pin(async move {
            if let Err(e) = self.journal.called(&self.id, vendor_request_id).await {
                // The summary and the audit line then miss it only if this replica dies.
                tracing::warn!(request_id = %self.id, error = %e, "cannot note a vendor RequestId in the operation journal");
            }
        })
    }
}

/// Renews this replica's lease on `local` every third of the lease until the operation ends
/// here; if another replica owns it now, stops the work here.
pub fn heartbeat(journal: Arc<dyn Shared>, local: Arc<Local>, lease: std::time::Duration) {
    let mut state = local.state();
    tokio::spawn(async move {
        let mut beat = tokio::time::interval(lease / 3);
        beat.tick().await;
        loop {
            tokio::select! {
                _ = beat.tick() => {}
                changed = state.changed() => {
                    if changed.is_err() {
                        return;
                    }
                    let now = *state.borrow_and_update();
                    if now.ended || now.interrupted {
                        return;
                    }
                    continue;
                }
            }
            let now = *state.borrow();
            if now.ended || now.interrupted {
                return;
            }
            match journal.renew(&local.id).await {
                Ok(true) => {}
                Ok(false) => {
                    tracing::warn!(request_id = %local.id, "another replica owns this operation now; stopping work on it here");
                    local.abort_work();
                    return;
                }
                Err(e) => {
                    tracing::warn!(request_id = %local.id, error = %e, "cannot renew the lease on an operation")
                }
            }
        }
    });
}

/// Every replica with a shared journal runs this: it looks for operations whose owner's lease
/// expired (a replica that died or shut down) and continues them here.
pub fn sweep(
    operations: Arc<Operations>,
    every: std::time::Duration,
    take_over: impl Fn(String) -> crate::provider::BoxFuture<'static, ()> + Send + 'static,
) {
    let Some(journal) = operations.shared().cloned() else {
        return;
    };
    let operations = Arc::downgrade(&operations);
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(every).await;
            let Some(ops) = operations.upgrade() else {
                return;
            };
            if ops.stopping() {
                return;
            }
            match journal.unfinished().await {
                Ok(ids) => {
                    for id in ids {
                        if ops.local(&id).is_none() {
                            take_over(id).await;
                        }
                    }
                }
                Err(e) => tracing::debug!(error = %e, "cannot list unfinished operations"),
            }
        }
    });
}
