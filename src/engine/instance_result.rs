//! What a StopInstances stream carries per instance: its one result and its progress.

use super::ledger::{Ledger, Record};
use crate::model::{Billing, InstanceOutcome, InstanceState, StopError};

/// The one terminal result of one instance.
#[derive(Debug, Clone, PartialEq)]
pub struct InstanceResult {
    pub instance_id: String,
    pub outcome: InstanceOutcome,
    /// Normalized and raw state before the stop.
    pub previous: Option<(InstanceState, String)>,
    /// Normalized and raw state last observed (raw empty when inferred from an accepted stop).
    pub current: Option<(InstanceState, String)>,
    pub vendor_request_id: Option<String>,
    pub billing: Option<Billing>,
    pub error: Option<StopError>,
    pub forced: bool,
    /// The instance's region (set by the ledger).
    pub region: Option<String>,
}

impl Record for InstanceResult {
    fn instance_id(&self) -> &str {
        &self.instance_id
    }

    fn outcome_name(&self) -> &'static str {
        self.outcome.name()
    }

    fn failed(instance_id: &str, error: StopError) -> Self {
        InstanceResult {
            instance_id: instance_id.to_string(),
            outcome: InstanceOutcome::Failed,
            previous: None,
            current: None,
            vendor_request_id: error.vendor_request_id.clone(),
            billing: None,
            error: Some(error),
            forced: false,
            region: None,
        }
    }

    fn set_region(&mut self, region: &str) {
        self.region = Some(region.to_string());
        if let Some(error) = &mut self.error {
            error.region = Some(region.to_string());
        }
    }
}

/// A state transition seen while waiting.
#[derive(Debug, Clone, PartialEq)]
pub struct InstanceProgress {
    pub instance_id: String,
    pub state: InstanceState,
    pub raw_state: String,
    pub message: String,
    /// The instance's region.
    pub region: String,
}

/// The ledger of a StopInstances stream.
pub type InstanceLedger = Ledger<InstanceProgress, InstanceResult>;
