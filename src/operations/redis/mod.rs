//! The operation journal in Redis, shared by replicas (`[cluster] redis_url`, the same Redis as
//! shared pacing). Per operation, three keys with one hash tag, `{op:<request_id>}`, so that
//! Redis Cluster keeps them on one node and each script below touches one slot:
//!
//! - `stopgate:op:{op:<id>}:meta`: a hash: the request's header and protobuf bytes, the owner
//!   replica and its lease (`lease_until`, Redis time in ms), results per outcome
//!   (`count:<OUTCOME>`), the RequestId of every state-changing vendor call (`call:<id>`, in
//!   order), and the end once recorded;
//! - `stopgate:op:{op:<id>}:results`: a list of the results as encoded stream messages;
//! - `stopgate:op:{op:<id>}:phases`: a hash per instance: `sent:<vendor RequestId>` once the
//!   vendor accepted its stop, `done` once its result is recorded.
//!
//! Every change is one Lua script that first checks this replica still owns the operation, so
//! two replicas can never both record a result for an instance or both continue an operation.
//! Keys expire `max_duration + retention` after their last write while running, and
//! `retention` after the end. `stopgate:ops:unfinished` (a set) lists operations not yet ended,
//! for the sweep that finds those whose owner died.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;

use super::journal::{
    End, GONE, Header, Journal, JournalError, LOST, Opened, PAGE, Page, Recorded, Resume, Shared,
    Totals,
};
use crate::config::OperationSettings;
use crate::pacing::redis::RedisStore;
use crate::provider::BoxFuture;

/// The set of operations not yet ended.
const UNFINISHED: &str = "stopgate:ops:unfinished";

/// How long one journal command may take before it counts as failed, at most; never more
/// than a third of the lease, so that a renewal fits in it.
const PATIENCE: Duration = Duration::from_secs(2);

fn keys(id: &str) -> [String; 3] {
    let tag = format!("{{op:{id}}}");
    [
        format!("stopgate:op:{tag}:meta"),
        format!("stopgate:op:{tag}:results"),
        format!("stopgate:op:{tag}:phases"),
    ]
}

fn millis(at: SystemTime) -> u64 {
    at.duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis() as u64
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn number(bytes: &[u8]) -> u64 {
    text(bytes).parse().unwrap_or(0)
}

/// A header from the scripts' six fields: method, fingerprint, caller, requested, unique,
/// accepted_at (ms).
fn header_of(id: &str, fields: &[Vec<u8>]) -> Header {
    Header {
        id: id.to_string(),
        method: text(&fields[0]),
        fingerprint: text(&fields[1]),
        caller: text(&fields[2]),
        requested: number(&fields[3]) as u32,
        unique: number(&fields[4]) as u32,
        accepted_at: SystemTime::UNIX_EPOCH + Duration::from_millis(number(&fields[5])),
    }
}

/// The journal in Redis.
pub struct RedisJournal {
    store: Arc<RedisStore>,
    settings: OperationSettings,
    /// This replica's id, as the owner of the operations it runs.
    me: String,
    open: redis::Script,
    append: redis::Script,
    sent: redis::Script,
    end: redis::Script,
    read: redis::Script,
    lease: redis::Script,
    called: redis::Script,
}

impl RedisJournal {
    pub fn new(store: Arc<RedisStore>, settings: OperationSettings) -> RedisJournal {
        RedisJournal {
            store,
            settings,
            me: uuid::Uuid::new_v4().to_string(),
            open: redis::Script::new(include_str!("open.lua")),
            append: redis::Script::new(include_str!("append.lua")),
            sent: redis::Script::new(include_str!("sent.lua")),
            end: redis::Script::new(include_str!("end.lua")),
            read: redis::Script::new(include_str!("read.lua")),
            lease: redis::Script::new(include_str!("lease.lua")),
            called: redis::Script::new(include_str!("called.lua")),
        }
    }

    /// This replica's owner id.
    pub fn owner(&self) -> &str {
        &self.me
    }

    fn patience(&self) -> Duration {
        PATIENCE.min(self.settings.lease() / 3)
    }

    /// While running, keys live as long as the operation may, and its retention after.
    fn ttl_ms(&self) -> u64 {
        (self.settings.max_duration() + self.settings.retention()).as_millis() as u64
    }

    async fn run<T: redis::FromRedisValue>(
        &self,
        script: &redis::Script,
        id: &str,
        args: impl FnOnce(&mut redis::ScriptInvocation<'_>),
    ) -> Result<T, JournalError> {
        let [meta, results, phases] = keys(id);
        let mut invocation = script.key(meta);
        invocation.key(results).key(phases);
        args(&mut invocation);
        self.store
            .invoke(&invocation, self.patience())
            .await
            .map_err(|e| JournalError(format!("the operation journal in Redis: {e}")))
    }

    /// Takes `id` off the set of unfinished operations.
    async fn finished(&self, id: &str) -> Result<(), JournalError> {
        let mut remove = redis::cmd("SREM");
        remove.arg(UNFINISHED).arg(id);
        self.store
            .query::<i64>(&remove, self.patience())
            .await
            .map(|_| ())
            .map_err(JournalError)
    }

    async fn lease_op(&self, id: &str, op: &str) -> Result<Vec<Vec<u8>>, JournalError> {
        let lease = self.settings.lease().as_millis() as u64;
        self.run(&self.lease, id, |i| {
            i.arg(op).arg(&self.me).arg(lease);
        })
        .await
    }
}

/// A script's answer: -1 another replica owns the operation, -2 Redis no longer keeps it.
fn owned(answer: i64) -> Result<(), JournalError> {
    match answer {
        -1 => Err(JournalError(LOST.to_string())),
        -2 => Err(JournalError(GONE.to_string())),
        _ => Ok(()),
    }
}

impl Journal for RedisJournal {
    fn shared(&self) -> bool {
        true
    }

    fn open<'a>(
        &'a self,
        header: &'a Header,
        request: Bytes,
    ) -> BoxFuture<'a, Result<Opened, JournalError>> {
        Box::pin(async move {
            let lease = self.settings.lease().as_millis() as u64;
            let answer: Vec<Vec<u8>> = self
                .run(&self.open, &header.id, |i| {
                    i.arg(&self.me)
                        .arg(lease)
                        .arg(self.ttl_ms())
                        .arg(&header.method)
                        .arg(&header.fingerprint)
                        .arg(&header.caller)
                        .arg(header.requested)
                        .arg(header.unique)
                        .arg(millis(header.accepted_at))
                        .arg(request.as_ref());
                })
                .await?;
            match answer.first().map(|w| w.as_slice()) {
                Some(b"created") => {
                    let mut add = redis::cmd("SADD");
                    add.arg(UNFINISHED).arg(&header.id);
                    self.store
                        .query::<i64>(&add, self.patience())
                        .await
                        .map_err(JournalError)?;
                    Ok(Opened::Created)
                }
                Some(b"existing") if answer.len() == 9 => Ok(Opened::Existing {
                    header: header_of(&header.id, &answer[1..7]),
                    recorded: number(&answer[7]) as usize,
                    finished: answer[8] == b"1",
                }),
                _ => Err(JournalError(
                    "unexpected answer from the journal's open script".into(),
                )),
            }
        })
    }

    fn append<'a>(
        &'a self,
        id: &'a str,
        results: Vec<Recorded>,
        unique: Option<u32>,
    ) -> BoxFuture<'a, Result<(), JournalError>> {
        Box::pin(async move {
            let answer: i64 = self
                .run(&self.append, id, |i| {
                    i.arg(&self.me)
                        .arg(self.ttl_ms())
                        .arg(unique.map(|u| u.to_string()).unwrap_or_default());
                    for r in &results {
                        i.arg(&r.instance_id).arg(r.outcome).arg(r.message.as_ref());
                    }
                })
                .await?;
            owned(answer)
        })
    }

    fn end<'a>(&'a self, id: &'a str, end: End) -> BoxFuture<'a, Result<(), JournalError>> {
        Box::pin(async move {
            let (kind, code, message, body) = match &end {
                End::Summary(bytes) => ("summary", 0, String::new(), bytes.clone()),
                End::Failed {
                    code,
                    message,
                    details,
                } => ("failed", *code, message.clone(), details.clone()),
            };
            let retention = self.settings.retention().as_millis() as u64;
            let answer: i64 = self
                .run(&self.end, id, |i| {
                    i.arg(&self.me)
                        .arg(retention)
                        .arg(kind)
                        .arg(code)
                        .arg(&message)
                        .arg(body.as_ref());
                })
                .await?;
            owned(answer)?;
            // The sweep drops ended operations from the set too: a failure here is harmless.
            let _ = self.finished(id).await;
            Ok(())
        })
    }

    fn read<'a>(
        &'a self,
        id: &'a str,
        from: usize,
    ) -> BoxFuture<'a, Result<Option<Page>, JournalError>> {
        Box::pin(async move {
            let answer: Vec<Vec<u8>> = self
                .run(&self.read, id, |i| {
                    i.arg(from).arg(PAGE);
                })
                .await?;
            if answer.len() < 5 {
                return Ok(None);
            }
            let total = number(&answer[0]) as usize;
            let messages: Vec<Bytes> = answer[5..].iter().map(|m| Bytes::from(m.clone())).collect();
            let end = if from + messages.len() >= total {
                match answer[1].as_slice() {
                    b"summary" => Some(End::Summary(Bytes::from(answer[4].clone()))),
                    b"failed" => Some(End::Failed {
                        code: text(&answer[2]).parse().unwrap_or(13),
                        message: text(&answer[3]),
                        details: Bytes::from(answer[4].clone()),
                    }),
                    _ => None,
                }
            } else {
                None
            };
            Ok(Some(Page { messages, end }))
        })
    }
}

impl Shared for RedisJournal {
    fn sent<'a>(
        &'a self,
        id: &'a str,
        ids: &'a [String],
        vendor_request_id: &'a str,
        watch: Option<Duration>,
    ) -> BoxFuture<'a, Result<(), JournalError>> {
        Box::pin(async move {
            let answer: i64 = self
                .run(&self.sent, id, |i| {
                    i.arg(&self.me)
                        .arg(self.ttl_ms())
                        .arg(vendor_request_id)
                        .arg(watch.map(|w| w.as_millis().to_string()).unwrap_or_default());
                    for instance in ids {
                        i.arg(instance);
                    }
                })
                .await?;
            owned(answer)
        })
    }

    fn renew<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<bool, JournalError>> {
        Box::pin(async move {
            let answer = self.lease_op(id, "renew").await?;
            // Only another owner ends the work here: keys that are gone (a Redis restarted
            // empty) leave the operation to this replica, which nobody else can take it from.
            Ok(!matches!(
                answer.first().map(|w| w.as_slice()),
                Some(b"lost")
            ))
        })
    }

    fn release<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<(), JournalError>> {
        Box::pin(async move {
            self.lease_op(id, "release").await?;
            Ok(())
        })
    }

    fn take_over<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Option<Resume>, JournalError>> {
        Box::pin(async move {
            let answer = self.lease_op(id, "take").await?;
            match answer.first().map(|w| w.as_slice()) {
                Some(b"taken") if answer.len() >= 9 => {
                    let now = number(&answer[8]);
                    let mut decided = HashSet::new();
                    let mut sent = HashMap::new();
                    let mut due: Option<u64> = None;
                    for pair in answer[9..].chunks(2) {
                        if let [instance, phase] = pair {
                            let instance = text(instance);
                            if phase == b"done" {
                                decided.insert(instance);
                            } else if let Some(rest) = phase.strip_prefix(b"sent:") {
                                let rest = text(rest);
                                let (rid, at) = rest.split_once('|').unwrap_or((&rest, ""));
                                if let Ok(at) = at.parse::<u64>() {
                                    due = Some(due.map_or(at, |d| d.max(at)));
                                }
                                sent.insert(instance, rid.to_string());
                            }
                        }
                    }
                    let remaining = due.map(|at| Duration::from_millis(at.saturating_sub(now)));
                    Ok(Some(Resume {
                        header: header_of(id, &answer[1..7]),
                        request: Bytes::from(answer[7].clone()),
                        decided,
                        sent,
                        remaining,
                    }))
                }
                Some(b"gone") | Some(b"ended") => {
                    let _ = self.finished(id).await;
                    Ok(None)
                }
                _ => Ok(None),
            }
        })
    }

    fn unfinished(&self) -> BoxFuture<'_, Result<Vec<String>, JournalError>> {
        Box::pin(async move {
            let mut members = redis::cmd("SMEMBERS");
            members.arg(UNFINISHED);
            self.store
                .query::<Vec<String>>(&members, self.patience())
                .await
                .map_err(JournalError)
        })
    }

    fn called<'a>(
        &'a self,
        id: &'a str,
        vendor_request_id: &'a str,
    ) -> BoxFuture<'a, Result<(), JournalError>> {
        Box::pin(async move {
            let answer: i64 = self
                .run(&self.called, id, |i| {
                    i.arg(&self.me).arg(vendor_request_id);
                })
                .await?;
            owned(answer)
        })
    }

    fn totals<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Totals, JournalError>> {
        Box::pin(async move {
            let [meta, ..] = keys(id);
            let mut all = redis::cmd("HGETALL");
            all.arg(meta);
            let fields: HashMap<String, Vec<u8>> = self
                .store
                .query(&all, self.patience())
                .await
                .map_err(JournalError)?;
            let mut totals = Totals::default();
            let mut calls = Vec::new();
            for (field, value) in fields {
                if let Some(outcome) = field.strip_prefix("count:") {
                    totals
                        .outcomes
                        .insert(outcome.to_string(), number(&value) as u32);
                } else if let Some(rid) = field.strip_prefix("call:") {
                    calls.push((number(&value), rid.to_string()));
                }
            }
            calls.sort();
            totals.vendor_request_ids = calls.into_iter().map(|(_, rid)| rid).collect();
            Ok(totals)
        })
    }
}
