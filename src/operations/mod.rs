//! Operations (docs/operations.md): a stop, once accepted, is an operation that runs to its end
//! whoever is listening. Its results are recorded in a [`journal::Journal`] as they are decided,
//! and every stream, the first or one re-attached later with the same `request_id`, follows the
//! journal ([`follow`]). [`Operations`] is this process's register of the operations it runs:
//! their live progress, their state, and the hand-over on shutdown.
//!
//! - [`journal`]: what is kept per operation, and the trait of the stores.
//! - [`memory`]: the in-process journal (the default).
//! - [`record`]: the task that turns an operation's events into journal entries.
//! - [`follow`]: a stream that replays and follows one operation.

pub mod follow;
pub mod journal;
pub mod memory;
pub mod record;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use tokio::sync::{broadcast, watch};

use crate::config::OperationSettings;
use journal::Journal;

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
}

/// A progress event of an instance, encoded as a stream message.
#[derive(Debug, Clone)]
pub struct Progress {
    pub instance_id: String,
    pub message: Bytes,
}

/// An operation running in this process.
pub struct Local {
    pub id: String,
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
}

/// The operations of this process, and where all operations are kept.
pub struct Operations {
    journal: Arc<dyn Journal>,
    settings: OperationSettings,
    local: Mutex<HashMap<String, Arc<Local>>>,
    /// How many operations run here.
    running: watch::Sender<usize>,
}

impl Operations {
    pub fn new(journal: Arc<dyn Journal>, settings: OperationSettings) -> Operations {
        Operations {
            journal,
            settings,
            local: Mutex::new(HashMap::new()),
            running: watch::Sender::new(0),
        }
    }

    /// With the in-process journal.
    pub fn in_memory(settings: OperationSettings) -> Operations {
        let journal = Arc::new(memory::MemoryJournal::new(settings.clone()));
        Operations::new(journal, settings)
    }

    pub fn journal(&self) -> &Arc<dyn Journal> {
        &self.journal
    }

    pub fn settings(&self) -> &OperationSettings {
        &self.settings
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Local>>> {
        self.local.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Registers an operation that starts running here.
    pub fn register(&self, id: &str) -> Arc<Local> {
        let local = Arc::new(Local {
            id: id.to_string(),
            state: watch::Sender::new(LocalState::default()),
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
        let running: Vec<Arc<Local>> = self.lock().values().cloned().collect();
        for local in running {
            tracing::warn!(
                request_id = %local.id,
                "shutting down before this operation ended; its undecided instances are left to re-attaching"
            );
            if let Some(work) = local.work.lock().unwrap_or_else(|p| p.into_inner()).take() {
                work.abort();
            }
        }
    }
}
