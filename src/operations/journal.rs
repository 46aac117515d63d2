//! What the journal keeps of each operation, and the trait of the stores that keep it: in
//! process ([`super::memory`]) or in Redis. The journal holds messages already encoded as the
//! stream sends them, so that a stream re-attached anywhere replays exactly what was decided.

use std::time::SystemTime;

use bytes::Bytes;

use crate::provider::BoxFuture;

/// What identifies an operation and what it was asked.
#[derive(Debug, Clone, PartialEq)]
pub struct Header {
    /// The request_id (the caller's, or the UUID stopgate assigned).
    pub id: String,
    /// The gRPC method, e.g. "StopInstances".
    pub method: String,
    /// SHA-256 (hex) of the method and the request without its request_id.
    pub fingerprint: String,
    /// Who asked: the token's name, the mTLS subject, or "anonymous".
    pub caller: String,
    /// Instances named by the request, duplicates included.
    pub requested: u32,
    /// Distinct instances (0 while not known).
    pub unique: u32,
    pub accepted_at: SystemTime,
}

/// How an operation ended.
#[derive(Debug, Clone, PartialEq)]
pub enum End {
    /// Every instance has its result: the summary message, encoded.
    Summary(Bytes),
    /// The request failed as a whole (e.g. an unknown execution): the RPC's status.
    Failed {
        code: i32,
        message: String,
        details: Bytes,
    },
}

/// What opening an operation found.
#[derive(Debug, Clone, PartialEq)]
pub enum Opened {
    /// No operation had this id (or it had expired): this one is new, and the caller runs it.
    Created,
    /// An operation with this id exists.
    Existing {
        header: Header,
        /// Results recorded so far.
        recorded: usize,
        finished: bool,
    },
}

/// Some recorded messages of an operation, and its end once every message was read.
#[derive(Debug, Clone, Default)]
pub struct Page {
    pub messages: Vec<Bytes>,
    /// Set when the page reaches the last recorded message of an ended operation.
    pub end: Option<End>,
}

/// One decided result, as appended.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub instance_id: String,
    /// The outcome's enum name, for the summary's counts.
    pub outcome: &'static str,
    /// The stream message, encoded.
    pub message: Bytes,
}

/// What a replica needs to continue an operation whose owner is gone.
#[derive(Debug, Clone)]
pub struct Resume {
    pub header: Header,
    /// The request as the caller sent it (protobuf), request_id included.
    pub request: Bytes,
    /// Instances that already have their result.
    pub decided: std::collections::HashSet<String>,
    /// Undecided instances whose stop was sent: the vendor's RequestId once it accepted it,
    /// empty while its answer was not seen.
    pub sent: std::collections::HashMap<String, String>,
    /// What is left of the watch that followed those stops (the graceful window of Alibaba's
    /// emulated graceful-then-force, or the wait), by the latest of them.
    pub remaining: Option<std::time::Duration>,
}

/// What the shared journal counts over a whole operation.
#[derive(Debug, Clone, Default)]
pub struct Totals {
    pub outcomes: std::collections::BTreeMap<String, u32>,
    pub vendor_request_ids: Vec<String>,
}

/// The journal could not be read or written. `lost`: this replica no longer owns the
/// operation (another one took it over), so it must stop working on it.
#[derive(Debug, Clone)]
pub struct JournalError(pub String);

/// The operation belongs to another replica now.
pub const LOST: &str = "this replica no longer owns the operation";

/// The shared journal no longer keeps the operation (it expired, or Redis restarted empty).
pub const GONE: &str = "the shared journal no longer keeps the operation";

impl std::fmt::Display for JournalError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The most messages one read returns.
pub const PAGE: usize = 1000;

/// Where operations are kept.
pub trait Journal: Send + Sync + 'static {
    /// Whether other replicas see it (and so can continue an operation this one leaves).
    fn shared(&self) -> bool {
        false
    }

    /// Creates the operation, or finds the one that already has this id.
    fn open<'a>(
        &'a self,
        header: &'a Header,
        request: Bytes,
    ) -> BoxFuture<'a, Result<Opened, JournalError>>;

    /// Appends decided results, in order, each instance at most once; `unique` is the number
    /// of distinct instances once known.
    fn append<'a>(
        &'a self,
        id: &'a str,
        results: Vec<Recorded>,
        unique: Option<u32>,
    ) -> BoxFuture<'a, Result<(), JournalError>>;

    /// Records the operation's end; its retention starts now.
    fn end<'a>(&'a self, id: &'a str, end: End) -> BoxFuture<'a, Result<(), JournalError>>;

    /// Up to [`PAGE`] messages from the `from`-th; `None` when no such operation is kept.
    fn read<'a>(
        &'a self,
        id: &'a str,
        from: usize,
    ) -> BoxFuture<'a, Result<Option<Page>, JournalError>>;
}

/// What only a journal shared by replicas does: ownership, phases and take-over. The
/// in-process journal has one owner, this process, for ever.
pub trait Shared: Journal {
    /// Notes that the stop of `ids` is being sent (`vendor_request_id` empty) or was accepted;
    /// `watch` is how long the watch that follows it may last (its end is kept as a due time).
    fn sent<'a>(
        &'a self,
        id: &'a str,
        ids: &'a [String],
        vendor_request_id: &'a str,
        watch: Option<std::time::Duration>,
    ) -> BoxFuture<'a, Result<(), JournalError>>;

    /// Renews this replica's lease; `Ok(false)` only when another replica owns it now.
    fn renew<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<bool, JournalError>>;

    /// Gives the lease up at once (shutdown), so another replica continues.
    fn release<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<(), JournalError>>;

    /// Takes the operation over if its owner's lease expired.
    fn take_over<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Option<Resume>, JournalError>>;

    /// Operations not yet ended, whoever owns them.
    fn unfinished(&self) -> BoxFuture<'_, Result<Vec<String>, JournalError>>;

    /// Notes a state-changing vendor call's RequestId.
    fn called<'a>(
        &'a self,
        id: &'a str,
        vendor_request_id: &'a str,
    ) -> BoxFuture<'a, Result<(), JournalError>>;

    /// Over the whole operation, whoever recorded them: results per outcome, and the
    /// RequestIds of every state-changing vendor call, in order.
    fn totals<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Totals, JournalError>>;
}
