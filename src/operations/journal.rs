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

/// The journal could not be read or written.
#[derive(Debug, Clone)]
pub struct JournalError(pub String);

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

    /// Appends decided results (encoded messages), in order; `unique` is the number of distinct
    /// instances once known.
    fn append<'a>(
        &'a self,
        id: &'a str,
        messages: Vec<Bytes>,
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
