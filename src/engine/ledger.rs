//! The exactly-once guarantee (docs/design.md rule 1): every requested id gets one terminal result,
//! whatever happens; progress may precede it; a summary closes the stream.

use std::collections::{BTreeMap, HashSet};
use std::sync::Mutex;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;

use super::call::Stats;
use crate::model::StopError;

/// A terminal result of one instance.
pub trait Record: Send + 'static {
    /// The instance it is about.
    fn instance_id(&self) -> &str;
    /// The outcome's name for the summary's counts.
    fn outcome_name(&self) -> &'static str;
    /// The result that stands in when nothing else was decided (a failure with `error`).
    fn failed(instance_id: &str, error: StopError) -> Self;
    /// Names the region the instance is in (results of a command stop carry none).
    fn set_region(&mut self, _region: &str) {}
}

/// One region a selector searched, for the summary.
#[derive(Debug, Clone, PartialEq)]
pub struct RegionSummary {
    pub region: String,
    /// Instances matched there.
    pub matched: u32,
    /// Why the region could not be read.
    pub error: Option<StopError>,
}

/// Counts and costs of one call (the last message of every stream).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Summary {
    pub requested: u32,
    pub unique: u32,
    pub outcome_counts: BTreeMap<String, u32>,
    pub vendor_calls: u32,
    pub retries: u32,
    pub throttled: u32,
    pub elapsed: Duration,
    pub notes: Vec<String>,
    /// RequestIds of every state-changing vendor call, in order.
    pub vendor_request_ids: Vec<String>,
    /// Each region a selector searched.
    pub regions: Vec<RegionSummary>,
}

/// What a stream carries.
#[derive(Debug, Clone)]
pub enum Event<P, R> {
    Progress(P),
    Result(R),
    Summary(Summary),
    /// The request as a whole failed (e.g. an unknown execution): the RPC's own status.
    Failed(StopError),
}

struct State {
    ids: Vec<String>,
    requested: usize,
    aborted: bool,
    done: HashSet<String>,
    counts: BTreeMap<String, u32>,
    notes: Vec<String>,
    /// The region of every result, unless an instance is placed elsewhere.
    region: Option<String>,
    /// Where a selector found each instance.
    placed: std::collections::HashMap<String, String>,
    regions: Vec<RegionSummary>,
}

/// Emits events for one request and enforces one result per id.
pub struct Ledger<P, R> {
    started: Instant,
    /// Operation and provider, for the results metric.
    labels: Vec<opentelemetry::KeyValue>,
    /// Where results are counted; none until [`Ledger::labelled`].
    metrics: Option<crate::telemetry::Metrics>,
    tx: mpsc::Sender<Event<P, R>>,
    state: Mutex<State>,
    /// The operation's audit record, when it has one.
    origin: Option<std::sync::Arc<crate::audit::Origin>>,
    /// Where accepted stops are noted, so that another replica taking the operation over
    /// knows which stops were its own.
    phases: Option<std::sync::Arc<dyn Phases>>,
    /// Another replica owns the operation now.
    lost: std::sync::atomic::AtomicBool,
}

/// Where an operation notes the stops the vendor accepted (the shared journal).
pub trait Phases: Send + Sync {
    /// The stop of `ids` is being sent (`vendor_request_id` empty) or was accepted; `watch`:
    /// how long the watch that follows may last. False when another replica owns the operation
    /// now: nothing more may be sent from here.
    fn sent<'a>(
        &'a self,
        ids: &'a [String],
        vendor_request_id: &'a str,
        watch: Option<std::time::Duration>,
    ) -> crate::provider::BoxFuture<'a, bool>;

    /// A state-changing vendor call (stop, force, cancel) answered with this RequestId.
    fn called<'a>(&'a self, vendor_request_id: &'a str) -> crate::provider::BoxFuture<'a, ()>;
}

impl<P: Send + 'static, R: Record> Ledger<P, R> {
    /// A ledger for the distinct `ids` of a request that named `requested` ids.
    pub fn new(ids: Vec<String>, requested: usize, tx: mpsc::Sender<Event<P, R>>) -> Ledger<P, R> {
        Ledger {
            started: Instant::now(),
            labels: Vec::new(),
            metrics: None,
            tx,
            state: Mutex::new(State {
                ids,
                requested,
                aborted: false,
                done: HashSet::new(),
                counts: BTreeMap::new(),
                notes: Vec::new(),
                region: None,
                placed: std::collections::HashMap::new(),
                regions: Vec::new(),
            }),
            origin: None,
            phases: None,
            lost: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// Notes accepted stops in `phases`.
    pub fn with_phases(mut self, phases: std::sync::Arc<dyn Phases>) -> Self {
        self.phases = Some(phases);
        self
    }

    /// Counts `ids` as decided already (by an earlier owner of the operation): they get no
    /// result from this ledger.
    pub fn decided(self, ids: impl IntoIterator<Item = String>) -> Self {
        self.lock().done.extend(ids);
        self
    }

    /// A stop of `ids` is about to be sent: a replica taking the operation over treats them
    /// as possibly stopped by it (it reads them, and sends again only to one still running).
    pub async fn sending(&self, ids: &[String]) -> bool {
        let Some(phases) = &self.phases else {
            return true;
        };
        let owner = phases.sent(ids, "", None).await;
        if !owner {
            self.lost.store(true, Ordering::Release);
        }
        owner
    }

    /// The vendor accepted the stop of `ids`; `watch` is how long the watch that follows may
    /// last (the wait, or the graceful window of an emulated graceful-then-force).
    pub async fn sent(
        &self,
        ids: &[String],
        vendor_request_id: Option<&str>,
        watch: Option<Duration>,
    ) {
        if let (Some(phases), Some(rid)) = (&self.phases, vendor_request_id)
            && !phases.sent(ids, rid, watch).await
        {
            self.lost.store(true, Ordering::Release);
        }
    }

    /// Names the operation in audit lines.
    pub fn with_origin(mut self, origin: crate::audit::Origin) -> Self {
        self.origin = Some(std::sync::Arc::new(origin));
        self
    }

    /// The operation's audit record.
    pub fn origin(&self) -> Option<std::sync::Arc<crate::audit::Origin>> {
        self.origin.clone()
    }

    /// Where the operation's phases are noted, when it has such a place.
    pub fn phases(&self) -> Option<std::sync::Arc<dyn Phases>> {
        self.phases.clone()
    }

    /// Counts results in `metrics`, labelled with the operation and provider.
    pub fn labelled(
        mut self,
        operation: &'static str,
        provider: crate::model::Provider,
        metrics: crate::telemetry::Metrics,
    ) -> Self {
        self.metrics = Some(metrics);
        self.labels = vec![
            opentelemetry::KeyValue::new("rpc.method", operation),
            opentelemetry::KeyValue::new("stopgate.provider", provider.as_str()),
        ];
        self
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Sets the ids to answer for, when they are only known after a read (every instance of
    /// an execution, every instance a selector matched). Ids an earlier owner of the
    /// operation decided stay counted even if the read no longer finds them.
    pub fn expect(&self, mut ids: Vec<String>) {
        let mut state = self.lock();
        let known: HashSet<&String> = ids.iter().collect();
        let mut earlier: Vec<String> = state
            .done
            .iter()
            .filter(|id| !known.contains(id))
            .cloned()
            .collect();
        earlier.sort();
        ids.extend(earlier);
        if state.requested == 0 {
            state.requested = ids.len();
        }
        state.ids = ids;
    }

    /// Every result is in `region` (a request naming its ids and one region).
    pub fn in_region(&self, region: &str) {
        self.lock().region = Some(region.to_string());
    }

    /// Where a selector found each instance, and what it found in each region searched.
    pub fn placed(
        &self,
        placed: std::collections::HashMap<String, String>,
        regions: Vec<RegionSummary>,
    ) {
        let mut state = self.lock();
        state.placed = placed;
        state.regions = regions;
    }

    /// Fails the request as a whole: no per-instance results, no summary.
    pub async fn abort(&self, error: StopError) {
        // Reserve room first: if this future is dropped while waiting, nothing was decided.
        let permit = self.tx.reserve().await;
        self.lock().aborted = true;
        if let Ok(permit) = permit {
            permit.send(Event::Failed(error));
        }
    }

    /// Whether the ids to answer for are known yet (a command request naming no instances
    /// learns them from the vendor).
    pub fn has_ids(&self) -> bool {
        !self.lock().ids.is_empty()
    }

    /// How many results are still owed (those of ids not yet known do not count).
    pub fn undecided(&self) -> usize {
        let state = self.lock();
        state.ids.len().saturating_sub(state.done.len())
    }

    /// Whether `id` already has its result.
    pub fn is_done(&self, id: &str) -> bool {
        self.lock().done.contains(id)
    }

    /// Sends a result unless the id already has one (then it is dropped and false returned).
    pub async fn result(&self, mut record: R) -> bool {
        // Reserve room in the stream before marking the id decided, so that a deadline that
        // drops this future mid-wait cannot leave an id marked done but never sent.
        let permit = self.tx.reserve().await;
        {
            let mut state = self.lock();
            let region = state
                .placed
                .get(record.instance_id())
                .or(state.region.as_ref());
            if let Some(region) = region {
                record.set_region(region);
            }
            if !state.done.insert(record.instance_id().to_string()) {
                tracing::warn!(instance = record.instance_id(), "dropping a second result");
                return false;
            }
            *state
                .counts
                .entry(record.outcome_name().to_string())
                .or_default() += 1;
        }
        if let Some(metrics) = &self.metrics {
            let mut labels = self.labels.clone();
            labels.push(opentelemetry::KeyValue::new(
                "stopgate.outcome",
                record.outcome_name(),
            ));
            metrics.results.add(1, &labels);
        }
        if let Ok(permit) = permit {
            permit.send(Event::Result(record));
        }
        true
    }

    /// Sends a progress event.
    pub async fn progress(&self, progress: P) {
        let _ = self.tx.send(Event::Progress(progress)).await;
    }

    /// Adds a note to the summary.
    pub fn note(&self, note: impl Into<String>) {
        self.lock().notes.push(note.into());
    }

    /// Whether nobody takes results any more, or another replica owns the operation now:
    /// either way, no further vendor call is made.
    pub fn is_closed(&self) -> bool {
        self.tx.is_closed() || self.lost.load(Ordering::Acquire)
    }

    /// Fails every id that has no result yet with `error`.
    pub async fn fail_remaining(&self, error: &StopError) {
        let pending: Vec<String> = {
            let state = self.lock();
            if state.aborted {
                return;
            }
            state
                .ids
                .iter()
                .filter(|id| !state.done.contains(*id))
                .cloned()
                .collect()
        };
        for id in pending {
            self.result(R::failed(&id, error.clone())).await;
        }
    }

    /// Closes the stream: any id still without a result fails as an internal error (a bug, but
    /// never a missing result), then the summary goes out.
    pub async fn finish(&self, stats: &Stats) {
        let lost = StopError::local(
            crate::model::ErrorKind::Internal,
            "INTERNAL",
            "stopgate finished without deciding this instance; this is a bug, please report it",
        );
        self.fail_remaining(&lost).await;
        let summary = {
            let state = self.lock();
            if state.aborted {
                return;
            }
            Summary {
                requested: state.requested as u32,
                unique: state.ids.len() as u32,
                outcome_counts: state.counts.clone(),
                vendor_calls: stats.vendor_calls.load(Ordering::Relaxed),
                retries: stats.retries.load(Ordering::Relaxed),
                throttled: stats.throttled.load(Ordering::Relaxed),
                elapsed: self.started.elapsed(),
                notes: state.notes.clone(),
                vendor_request_ids: stats
                    .state_changes
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .clone(),
                regions: state.regions.clone(),
            }
        };
        let _ = self.tx.send(Event::Summary(summary)).await;
    }
}
