//! The log of vendor calls the simulator received, for tests and operators to assert on: a ring
//! buffer bounded in records and in bytes, since anyone who reaches the port can add to it.

use std::collections::VecDeque;

use serde::Serialize;
use time::OffsetDateTime;

use stopgate_vendor::Provider;

/// One received vendor call.
#[derive(Debug, Clone, Serialize)]
pub struct CallRecord {
    pub seq: u64,
    #[serde(with = "time::serde::rfc3339")]
    pub time: OffsetDateTime,
    pub provider: Provider,
    /// `ecs`, `cvm` or `tat`.
    pub service: String,
    pub action: String,
    pub region: String,
    /// Empty when authentication failed.
    pub account: String,
    /// Business parameters (no signature or common parameters).
    pub params: serde_json::Value,
    /// `ok`, the error code returned, `dropped`, `malformed` or `http_<status>`.
    pub outcome: String,
    pub http_status: u16,
    /// Whether the action ran and succeeded: true for an `ok` answer, and for a fault of phase
    /// `after` that replaced a successful answer.
    pub applied: bool,
    /// `before` or `after` when an injected fault decided the answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fault_phase: Option<&'static str>,
    /// With a fault of phase `after`: what the action itself answered (`ok` or its error code).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action_outcome: Option<String>,
    /// The `x-acs-retry-after` sent with a throttling answer, in milliseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after_ms: Option<u64>,
}

/// Default number of records kept.
pub const DEFAULT_CAPACITY: usize = 10_000;

/// The most the records may weigh together (roughly, by the size of their text).
pub const MAX_BYTES: usize = 64 * 1024 * 1024;

/// The last calls since the last reset, oldest first.
#[derive(Debug)]
pub struct CallLog {
    next_seq: u64,
    capacity: usize,
    max_bytes: usize,
    bytes: usize,
    /// Records forgotten to stay within the bounds since the last clear.
    dropped: u64,
    records: VecDeque<(usize, CallRecord)>,
}

impl Default for CallLog {
    fn default() -> Self {
        CallLog::new(DEFAULT_CAPACITY)
    }
}

/// About how many bytes a JSON value takes as text (without serializing it).
fn json_weight(value: &serde_json::Value) -> usize {
    match value {
        serde_json::Value::String(s) => s.len() + 2,
        serde_json::Value::Array(items) => items.iter().map(json_weight).sum::<usize>() + 2,
        serde_json::Value::Object(map) => {
            map.iter()
                .map(|(k, v)| k.len() + 3 + json_weight(v))
                .sum::<usize>()
                + 2
        }
        _ => 8,
    }
}

impl CallLog {
    /// A log that keeps at most `capacity` records (at least one) and [`MAX_BYTES`].
    pub fn new(capacity: usize) -> CallLog {
        CallLog::with_bounds(capacity, MAX_BYTES)
    }

    fn with_bounds(capacity: usize, max_bytes: usize) -> CallLog {
        CallLog {
            next_seq: 0,
            capacity: capacity.max(1),
            max_bytes,
            bytes: 0,
            dropped: 0,
            records: VecDeque::new(),
        }
    }

    /// Appends a record, numbering it, and forgets the oldest ones beyond the bounds.
    pub fn push(&mut self, mut record: CallRecord) {
        self.next_seq += 1;
        record.seq = self.next_seq;
        let weight = 256
            + json_weight(&record.params)
            + record.action.len()
            + record.region.len()
            + record.outcome.len();
        self.bytes += weight;
        self.records.push_back((weight, record));
        while self.records.len() > self.capacity
            || (self.bytes > self.max_bytes && self.records.len() > 1)
        {
            let (weight, _) = self.records.pop_front().expect("not empty");
            self.bytes -= weight;
            self.dropped += 1;
        }
    }

    /// How many records were forgotten to stay within the bounds since the last clear.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Records matching the filters, oldest first.
    pub fn query(
        &self,
        provider: Option<Provider>,
        action: Option<&str>,
        since: u64,
    ) -> Vec<CallRecord> {
        self.records
            .iter()
            .map(|(_, r)| r)
            .filter(|r| r.seq > since)
            .filter(|r| provider.is_none_or(|p| r.provider == p))
            .filter(|r| action.is_none_or(|a| r.action == a))
            .cloned()
            .collect()
    }

    /// Forgets every record (sequence numbers keep growing).
    pub fn clear(&mut self) {
        self.records.clear();
        self.bytes = 0;
        self.dropped = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn record(params: serde_json::Value) -> CallRecord {
        CallRecord {
            seq: 0,
            time: OffsetDateTime::now_utc(),
            provider: Provider::Tencent,
            service: "cvm".into(),
            action: "StopInstances".into(),
            region: "ap-guangzhou".into(),
            account: String::new(),
            params,
            outcome: "ok".into(),
            http_status: 200,
            applied: true,
            fault_phase: None,
            action_outcome: None,
            retry_after_ms: None,
        }
    }

    #[test]
    fn the_log_keeps_the_newest_records_up_to_its_capacity() {
        let mut log = CallLog::new(3);
        for _ in 0..5 {
            log.push(record(json!({})));
        }
        let seqs: Vec<u64> = log.query(None, None, 0).iter().map(|r| r.seq).collect();
        assert_eq!(seqs, [3, 4, 5]);
        assert_eq!(log.dropped(), 2);
    }

    #[test]
    fn the_log_stays_within_its_byte_bound_whatever_the_records_weigh() {
        let mut log = CallLog::with_bounds(1_000_000, 64 * 1024);
        let big = json!({ "Blob": "x".repeat(8 * 1024) });
        for _ in 0..100 {
            log.push(record(big.clone()));
        }
        let kept = log.query(None, None, 0).len();
        assert!((1..8).contains(&kept), "{kept} records of 8 KiB kept");
        assert!(log.bytes <= 64 * 1024);
        assert_eq!(log.dropped(), 100 - kept as u64);
    }
}
