//! The log of vendor calls the simulator received, for tests and operators to assert on.

use serde::Serialize;
use time::OffsetDateTime;

use crate::model::Provider;

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

/// Every call since the last reset, oldest first.
#[derive(Debug, Default)]
pub struct CallLog {
    next_seq: u64,
    records: Vec<CallRecord>,
}

impl CallLog {
    /// Appends a record, numbering it.
    pub fn push(&mut self, mut record: CallRecord) {
        self.next_seq += 1;
        record.seq = self.next_seq;
        self.records.push(record);
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
            .filter(|r| r.seq > since)
            .filter(|r| provider.is_none_or(|p| r.provider == p))
            .filter(|r| action.is_none_or(|a| r.action == a))
            .cloned()
            .collect()
    }

    /// Forgets every record (sequence numbers keep growing).
    pub fn clear(&mut self) {
        self.records.clear();
    }
}
