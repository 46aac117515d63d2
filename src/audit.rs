//! Who asked, on the record (docs/operations.md "Audit"). The vendors' audit trails (Alibaba
//! ActionTrail, Tencent CloudAudit) see only stopgate's credentials; these lines name the
//! caller behind each operation and every state-changing vendor call it caused, with the
//! vendor's RequestId, so that a vendor's audit entry can be joined to whoever asked.
//!
//! Every line has the tracing target `stopgate::audit` and a field `audit` naming the event:
//! `operation.accepted`, `selector.resolved` (what a selector matched, per region),
//! `vendor.call` (each stop or cancel sent, retries included) and `operation.finished`. No
//! secret is ever a field.

use crate::model::{Provider, StopError};

/// What every audit line of one operation says about it.
#[derive(Debug, Clone)]
pub struct Origin {
    pub request_id: String,
    /// The token's name, the mTLS subject, or "anonymous".
    pub caller: String,
    pub method: &'static str,
    pub provider: Provider,
    pub account: String,
    pub region: String,
}

/// The operation was accepted (`reattached`: a later request joined it).
pub fn accepted(origin: &Origin, requested: usize, unique: usize, fingerprint: &str) {
    tracing::info!(
        target: "stopgate::audit",
        audit = "operation.accepted",
        request_id = %origin.request_id,
        caller = %origin.caller,
        method = origin.method,
        provider = %origin.provider,
        account = %origin.account,
        region = %origin.region,
        requested,
        unique,
        fingerprint,
        "operation accepted"
    );
}

/// A selector was resolved: what it asked for, and how many instances it matched in each
/// region searched (or why a region could not be read). `refused`: more matched than
/// expected, so nothing is stopped.
pub fn selector_resolved(
    origin: &Origin,
    tags: &str,
    expect_at_most: usize,
    regions: &[(String, Result<usize, String>)],
    refused: bool,
) {
    let matched: usize = regions.iter().filter_map(|(_, r)| r.as_ref().ok()).sum();
    let per_region: Vec<String> = regions
        .iter()
        .map(|(region, r)| match r {
            Ok(n) => format!("{region}={n}"),
            Err(reason) => format!("{region}:{reason}"),
        })
        .collect();
    tracing::info!(
        target: "stopgate::audit",
        audit = "selector.resolved",
        request_id = %origin.request_id,
        caller = %origin.caller,
        provider = %origin.provider,
        account = %origin.account,
        tags,
        expect_at_most,
        matched,
        regions = %per_region.join(","),
        refused,
        "selector resolved"
    );
}

/// A state-changing vendor call was sent in `region` for `instance_ids` (empty: every
/// instance of an execution); `answer` is its vendor RequestId, or the error it met.
pub fn vendor_call(
    origin: &Origin,
    region: &str,
    action: &str,
    instance_ids: &[String],
    answer: Result<Option<&str>, &StopError>,
) {
    let (outcome, vendor_request_id, error) = match answer {
        Ok(id) => ("accepted", id.unwrap_or_default(), ""),
        Err(e) => (
            if e.may_have_applied() {
                "unknown"
            } else {
                "refused"
            },
            e.vendor_request_id.as_deref().unwrap_or_default(),
            e.reason.as_str(),
        ),
    };
    tracing::info!(
        target: "stopgate::audit",
        audit = "vendor.call",
        request_id = %origin.request_id,
        caller = %origin.caller,
        provider = %origin.provider,
        account = %origin.account,
        region,
        action,
        instances = instance_ids.len(),
        instance_ids = %instance_ids.join(","),
        outcome,
        vendor_request_id,
        error,
        "vendor call"
    );
}

/// The operation ended: its counts and every state-changing vendor RequestId, or `None` when
/// it ended without a summary (a request-level failure, a bug, or a shutdown).
pub fn finished(origin: &Origin, summary: Option<&crate::engine::ledger::Summary>) {
    let (unique, outcomes, vendor_calls, vendor_request_ids) = match summary {
        Some(s) => (
            s.unique,
            format!("{:?}", s.outcome_counts),
            s.vendor_calls,
            s.vendor_request_ids.join(","),
        ),
        None => (0, String::new(), 0, String::new()),
    };
    tracing::info!(
        target: "stopgate::audit",
        audit = "operation.finished",
        request_id = %origin.request_id,
        caller = %origin.caller,
        method = origin.method,
        provider = %origin.provider,
        account = %origin.account,
        region = %origin.region,
        summary = summary.is_some(),
        unique,
        outcomes,
        vendor_calls,
        vendor_request_ids,
        "{}",
        if summary.is_some() {
            "operation finished"
        } else {
            "operation ended without a summary"
        }
    );
}

/// A vendor answer that carries the vendor's RequestId.
pub trait VendorAnswer {
    fn vendor_request_id(&self) -> Option<&str>;
}

impl VendorAnswer for Option<String> {
    fn vendor_request_id(&self) -> Option<&str> {
        self.as_deref()
    }
}

impl VendorAnswer for crate::provider::StopAnswer {
    fn vendor_request_id(&self) -> Option<&str> {
        match self {
            crate::provider::StopAnswer::PerInstance { request_id, .. }
            | crate::provider::StopAnswer::Accepted { request_id }
            | crate::provider::StopAnswer::DryRunPassed { request_id } => request_id.as_deref(),
        }
    }
}
