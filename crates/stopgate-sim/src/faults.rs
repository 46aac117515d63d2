//! Injected faults: a vendor error, a bare 5xx, latency, a dropped connection or a malformed
//! body, for one action or one instance, N times or with a probability, before the action runs
//! or after it (docs/simulator.md).

use rand::Rng;
use serde::{Deserialize, Serialize};

use stopgate_vendor::Provider;

/// What a fault does to the request.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// Answer with this vendor error.
    Error {
        code: String,
        message: Option<String>,
        http_status: Option<u16>,
    },
    /// A bare HTTP error with a non-vendor body (a load balancer's 503).
    HttpStatus(u16),
    /// Wait, then serve normally.
    LatencyMs(u64),
    /// Close the connection without answering.
    Drop,
    /// HTTP 200 with a truncated JSON body.
    Malformed,
}

/// When a fault strikes: before the action runs (nothing changes), or after it (the change is
/// made, then the answer is lost or replaced: the ambiguous failure a real network produces).
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum FaultPhase {
    #[default]
    Before,
    After,
}

impl FaultPhase {
    pub fn as_str(self) -> &'static str {
        match self {
            FaultPhase::Before => "before",
            FaultPhase::After => "after",
        }
    }
}

/// A fault as given to the admin API.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultSpec {
    pub provider: String,
    pub action: Option<String>,
    pub instance_id: Option<String>,
    pub times: Option<u32>,
    pub probability: Option<f64>,
    #[serde(default)]
    pub phase: FaultPhase,
    pub kind: FaultKind,
}

/// Whether an error code is a throttling answer (Alibaba `Throttling*`, `*.Throttling`; Tencent
/// `RequestLimitExceeded*`).
fn is_throttling(code: &str) -> bool {
    code.starts_with("Throttling")
        || code.ends_with(".Throttling")
        || code.starts_with("RequestLimitExceeded")
}

#[derive(Debug, Clone)]
struct Fault {
    id: u64,
    provider: Provider,
    action: Option<String>,
    instance_id: Option<String>,
    remaining: Option<u32>,
    probability: f64,
    phase: FaultPhase,
    kind: FaultKind,
}

/// The active faults.
#[derive(Debug, Default)]
pub struct Faults {
    next_id: u64,
    faults: Vec<Fault>,
}

/// What the faults decided for one request.
#[derive(Debug, Default, PartialEq)]
pub struct FaultPlan {
    /// Total latency to add before answering.
    pub latency_ms: u64,
    /// The fault that replaces the answer, if any.
    pub outcome: Option<FaultKind>,
}

impl Faults {
    /// Adds a fault; returns its id.
    pub fn add(&mut self, provider: Provider, spec: FaultSpec) -> Result<u64, String> {
        let probability = spec.probability.unwrap_or(1.0);
        if !(0.0..=1.0).contains(&probability) {
            return Err(format!(
                "probability must be between 0 and 1, got {probability}"
            ));
        }
        if spec.times == Some(0) {
            return Err(
                "times must be at least 1 (omit it for a fault that never runs out)".into(),
            );
        }
        if let (FaultPhase::After, FaultKind::Error { code, .. }) = (spec.phase, &spec.kind) {
            if is_throttling(code) {
                return Err(format!(
                    "a throttling error ({code}) cannot have phase \"after\": a vendor throttles a request instead of running it, never after running it; use phase \"before\" (or a 5xx, \"drop\" or \"malformed\" after the action)"
                ));
            }
        }
        self.next_id += 1;
        self.faults.push(Fault {
            id: self.next_id,
            provider,
            action: spec.action,
            instance_id: spec.instance_id,
            remaining: spec.times,
            probability,
            phase: spec.phase,
            kind: spec.kind,
        });
        Ok(self.next_id)
    }

    /// Removes every fault.
    pub fn clear(&mut self) {
        self.faults.clear();
    }

    /// Decides what happens to a request of `action` whose parameters mention `mentions`, at
    /// `phase`: only the faults of that phase apply (and count toward their `times`).
    pub fn plan(
        &mut self,
        phase: FaultPhase,
        provider: Provider,
        action: &str,
        mentions: &dyn Fn(&str) -> bool,
    ) -> FaultPlan {
        let mut plan = FaultPlan::default();
        let mut rng = rand::rng();
        for fault in &mut self.faults {
            if plan.outcome.is_some() && !matches!(fault.kind, FaultKind::LatencyMs(_)) {
                continue;
            }
            let applies = fault.phase == phase
                && fault.provider == provider
                && fault.action.as_deref().is_none_or(|a| a == action)
                && fault.instance_id.as_deref().is_none_or(mentions)
                && (fault.probability >= 1.0 || rng.random::<f64>() < fault.probability);
            if !applies {
                continue;
            }
            if let Some(n) = fault.remaining.as_mut() {
                *n -= 1;
            }
            match &fault.kind {
                FaultKind::LatencyMs(ms) => plan.latency_ms += ms,
                other => plan.outcome = Some(other.clone()),
            }
        }
        self.faults.retain(|f| f.remaining != Some(0));
        plan
    }

    /// The ids of the active faults (for the admin API).
    pub fn ids(&self) -> Vec<u64> {
        self.faults.iter().map(|f| f.id).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(
        action: Option<&str>,
        instance: Option<&str>,
        times: Option<u32>,
        kind: FaultKind,
    ) -> FaultSpec {
        FaultSpec {
            provider: "tencent".into(),
            action: action.map(str::to_string),
            instance_id: instance.map(str::to_string),
            times,
            probability: None,
            phase: FaultPhase::Before,
            kind,
        }
    }

    #[test]
    fn a_fault_for_n_times_runs_out() {
        let mut faults = Faults::default();
        let kind = FaultKind::HttpStatus(503);
        faults
            .add(
                Provider::Tencent,
                spec(Some("StopInstances"), None, Some(2), kind.clone()),
            )
            .unwrap();
        let mut planned = |provider, action| {
            faults
                .plan(FaultPhase::Before, provider, action, &|_: &str| false)
                .outcome
        };
        assert_eq!(
            planned(Provider::Tencent, "StopInstances"),
            Some(kind.clone())
        );
        assert_eq!(planned(Provider::Tencent, "DescribeInstances"), None);
        assert_eq!(planned(Provider::Alibaba, "StopInstances"), None);
        assert_eq!(planned(Provider::Tencent, "StopInstances"), Some(kind));
        assert_eq!(
            planned(Provider::Tencent, "StopInstances"),
            None,
            "two times, then no more"
        );
    }

    #[test]
    fn an_instance_fault_applies_only_to_requests_naming_it() {
        let mut faults = Faults::default();
        faults
            .add(
                Provider::Tencent,
                spec(None, Some("ins-bad00001"), None, FaultKind::Drop),
            )
            .unwrap();
        assert_eq!(
            faults
                .plan(
                    FaultPhase::Before,
                    Provider::Tencent,
                    "StopInstances",
                    &|id| id == "ins-bad00001"
                )
                .outcome,
            Some(FaultKind::Drop)
        );
        assert_eq!(
            faults
                .plan(
                    FaultPhase::Before,
                    Provider::Tencent,
                    "StopInstances",
                    &|_| false
                )
                .outcome,
            None
        );
    }

    #[test]
    fn a_fault_applies_only_at_its_phase_and_counts_only_there() {
        let mut faults = Faults::default();
        let mut after = spec(Some("StopInstances"), None, Some(1), FaultKind::Drop);
        after.phase = FaultPhase::After;
        faults.add(Provider::Tencent, after).unwrap();
        let never = |_: &str| false;
        let plan = |faults: &mut Faults, phase| {
            faults
                .plan(phase, Provider::Tencent, "StopInstances", &never)
                .outcome
        };
        assert_eq!(plan(&mut faults, FaultPhase::Before), None);
        assert_eq!(plan(&mut faults, FaultPhase::After), Some(FaultKind::Drop));
        assert_eq!(plan(&mut faults, FaultPhase::After), None);
    }

    #[test]
    fn throttling_after_the_action_is_refused_with_the_reason() {
        let mut faults = Faults::default();
        for code in ["Throttling.User", "Flow.Throttling", "RequestLimitExceeded"] {
            let mut throttle = spec(
                None,
                None,
                None,
                FaultKind::Error {
                    code: code.into(),
                    message: None,
                    http_status: None,
                },
            );
            throttle.phase = FaultPhase::After;
            let error = faults.add(Provider::Tencent, throttle.clone()).unwrap_err();
            assert!(
                error.contains(code) && error.contains("\"before\""),
                "{error}"
            );
            throttle.phase = FaultPhase::Before;
            faults.add(Provider::Tencent, throttle).unwrap();
        }
    }

    #[test]
    fn latency_adds_up_and_does_not_replace_the_answer() {
        let mut faults = Faults::default();
        faults
            .add(
                Provider::Tencent,
                spec(None, None, None, FaultKind::LatencyMs(100)),
            )
            .unwrap();
        faults
            .add(
                Provider::Tencent,
                spec(None, None, None, FaultKind::LatencyMs(50)),
            )
            .unwrap();
        let plan = faults.plan(
            FaultPhase::Before,
            Provider::Tencent,
            "StopInstances",
            &|_| false,
        );
        assert_eq!(
            plan,
            FaultPlan {
                latency_ms: 150,
                outcome: None
            }
        );
    }

    #[test]
    fn a_fault_with_a_probability_fires_about_that_often() {
        let mut faults = Faults::default();
        let mut spec = spec(None, None, None, FaultKind::Drop);
        spec.probability = Some(0.3);
        faults.add(Provider::Tencent, spec).unwrap();
        let fired = (0..2000)
            .filter(|_| {
                faults
                    .plan(
                        FaultPhase::Before,
                        Provider::Tencent,
                        "StopInstances",
                        &|_| false,
                    )
                    .outcome
                    .is_some()
            })
            .count();
        // 600 expected; the bounds are more than 10 standard deviations wide.
        assert!((400..=800).contains(&fired), "{fired}");
    }
}
