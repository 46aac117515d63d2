//! The Tencent adapter's instance half: `DescribeInstances` to observe (state, LatestOperation,
//! restrictions, charge type), `StopInstances` with `StopType` (docs/vendors/tencent.md, §2.1, §2.3).

use serde_json::{Value, json};

use super::client::{CVM, TencentClient};
use crate::model::{Billing, InstanceState, Provider, StopError, StopMode};
use crate::provider::text;
use crate::provider::{
    Actions, Adapter, BoxFuture, Capabilities, Described, Observed, Scope, StopAnswer, StopCall,
};
use crate::provider::{CommandActions, ExecutionAnswer, TaskPage};

const P: Provider = Provider::Tencent;

/// Tencent Cloud's public regions (add new ones with `[tencent] regions` in the config).
pub const KNOWN_REGIONS: &[&str] = &[
    "ap-guangzhou",
    "ap-shanghai",
    "ap-nanjing",
    "ap-beijing",
    "ap-chengdu",
    "ap-chongqing",
    "ap-hongkong",
    "ap-taipei",
    "ap-singapore",
    "ap-jakarta",
    "ap-seoul",
    "ap-tokyo",
    "ap-bangkok",
    "ap-mumbai",
    "na-siliconvalley",
    "na-ashburn",
    "na-toronto",
    "sa-saopaulo",
    "eu-frankfurt",
    "ap-shanghai-fsi",
    "ap-shenzhen-fsi",
    "ap-beijing-fsi",
];

/// `ins-` + 8 lowercase letters or digits (docs/vendors/tencent.md, §2.1).
pub fn is_instance_id(id: &str) -> bool {
    id.strip_prefix("ins-").is_some_and(|rest| {
        rest.len() == 8
            && rest
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    })
}

/// Tencent region ids, e.g. `ap-guangzhou`, `na-siliconvalley`, `ap-shanghai-fsi`.
pub fn is_region(region: &str) -> bool {
    let parts: Vec<&str> = region.split('-').collect();
    parts.len() >= 2
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        })
}

/// Reads one `InstanceSet` entry.
pub(super) fn observed(instance: &Value) -> Observed {
    let raw_state = text(instance, "InstanceState");
    let billing = match text(instance, "StopChargingMode").as_str() {
        "STOP_CHARGING" => Some(Billing::StopCharging),
        "KEEP_CHARGING" => Some(Billing::KeepCharging),
        _ => None,
    };
    let restrict = text(instance, "RestrictState");
    let stop_failed = (text(instance, "LatestOperation") == "StopInstances"
        && text(instance, "LatestOperationState") == "FAILED")
        .then(|| {
            let msg = text(instance, "LatestOperationErrorMsg");
            if msg.is_empty() {
                "the vendor reports the stop FAILED".to_string()
            } else {
                msg
            }
        });
    Observed {
        id: text(instance, "InstanceId"),
        state: InstanceState::from_vendor(&raw_state),
        raw_state,
        billing,
        lock: (!restrict.is_empty() && restrict != "NORMAL").then_some(restrict),
        // STOP_CHARGING applies to pay-as-you-go instances only (docs/vendors/tencent.md, §6 item 3).
        can_stop_charging: Some(text(instance, "InstanceChargeType") == "POSTPAID_BY_HOUR"),
        stop_failed,
        operation_request_id: Some(text(instance, "LatestOperationRequestId"))
            .filter(|r| !r.is_empty()),
    }
}

impl Adapter for TencentClient {
    fn provider(&self) -> Provider {
        P
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            stop_batch: 100,
            describe_batch: 100,
            native_graceful_then_force: true,
            native_dry_run: false,
            per_instance_results: false,
            refuses_unsupported_stop_charging: true,
        }
    }

    fn actions(&self) -> Actions {
        Actions {
            stop: "StopInstances",
            describe: "DescribeInstances",
            regions: "DescribeRegions",
        }
    }

    fn published_rate(&self, action: &str) -> Option<f64> {
        // docs/vendors/tencent.md, §2.1–2.3 and §1.0.
        match action {
            "StopInstances" | "StartInstances" => Some(10.0),
            "DescribeInstances" | "DescribeInstancesStatus" => Some(40.0),
            "DescribeRegions" => Some(20.0),
            "RunCommand"
            | "CancelInvocation"
            | "DescribeInvocations"
            | "DescribeInvocationTasks" => Some(20.0),
            _ => None,
        }
    }

    fn valid_instance_id(&self, id: &str) -> bool {
        is_instance_id(id)
    }

    fn instance_id_example(&self) -> &'static str {
        "ins-r8hr2upy"
    }

    fn valid_region(&self, region: &str) -> bool {
        is_region(region)
    }

    fn known_regions(&self) -> &'static [&'static str] {
        KNOWN_REGIONS
    }

    fn valid_command_target(&self, id: &str) -> bool {
        // TAT also targets Lighthouse instances (`lhins-…`, docs/vendors/tencent.md, §1.0).
        is_instance_id(id)
            || id.strip_prefix("lhins-").is_some_and(|rest| {
                rest.len() == 8
                    && rest
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
            })
    }

    fn describe<'a>(
        &'a self,
        scope: Scope<'a>,
        ids: &'a [String],
    ) -> BoxFuture<'a, Result<Described, StopError>> {
        Box::pin(async move {
            let params = json!({"InstanceIds": ids, "Limit": 100});
            let (body, request_id) = self.call(scope, CVM, "DescribeInstances", &params).await?;
            let instances = body
                .get("InstanceSet")
                .and_then(Value::as_array)
                .map(|list| list.iter().map(observed).collect())
                .unwrap_or_default();
            Ok(Described {
                instances,
                request_id,
            })
        })
    }

    fn tag_limits(&self) -> crate::provider::TagLimits {
        super::select::TAG_LIMITS
    }

    fn select<'a>(
        &'a self,
        scope: Scope<'a>,
        tags: &'a [crate::provider::TagMatch],
        page: Option<&'a str>,
    ) -> BoxFuture<'a, Result<crate::provider::SelectedPage, StopError>> {
        Box::pin(super::select::select(self, scope, tags, page))
    }

    fn regions<'a>(
        &'a self,
        scope: Scope<'a>,
    ) -> BoxFuture<'a, Result<crate::provider::RegionList, StopError>> {
        Box::pin(super::select::regions(self, scope))
    }

    fn stop<'a>(
        &'a self,
        scope: Scope<'a>,
        call: &'a StopCall<'a>,
    ) -> BoxFuture<'a, Result<StopAnswer, StopError>> {
        Box::pin(async move {
            if call.dry_run {
                // Tencent has no dry run (docs/vendors/tencent.md, §6 item 15); the engine never asks.
                return Err(StopError::local(
                    crate::model::ErrorKind::Internal,
                    "UNSUPPORTED_OPERATION",
                    "tencent StopInstances has no dry run; stopgate validates by reading state instead",
                ));
            }
            let stop_type = match call.mode {
                StopMode::Graceful => "SOFT",
                StopMode::Force => "HARD",
                StopMode::GracefulThenForce => "SOFT_FIRST",
            };
            let mut params = json!({"InstanceIds": call.ids, "StopType": stop_type});
            match call.billing {
                Billing::StopCharging => params["StoppedMode"] = json!("STOP_CHARGING"),
                Billing::KeepCharging => params["StoppedMode"] = json!("KEEP_CHARGING"),
                Billing::ProviderDefault | Billing::Unknown => {}
            }
            let (_, request_id) = self.call(scope, CVM, "StopInstances", &params).await?;
            Ok(StopAnswer::Accepted { request_id })
        })
    }

    fn command_actions(&self) -> CommandActions {
        CommandActions {
            stop: "CancelInvocation",
            describe_execution: "DescribeInvocations",
            describe_tasks: "DescribeInvocationTasks",
            stop_batch: 100,
            // docs/vendors/tencent.md, §1.1: what an omitted InstanceIds does is not documented.
            stop_all_documented: false,
            probe_instance: "ins-00000000",
        }
    }

    fn valid_execution_id(&self, id: &str) -> bool {
        super::tat::is_invocation_id(id)
    }

    fn execution_id_example(&self) -> &'static str {
        "inv-ib2lld37"
    }

    fn describe_execution<'a>(
        &'a self,
        scope: Scope<'a>,
        id: &'a str,
    ) -> BoxFuture<'a, Result<ExecutionAnswer, StopError>> {
        Box::pin(self.describe_invocation(scope, id))
    }

    fn describe_tasks<'a>(
        &'a self,
        scope: Scope<'a>,
        id: &'a str,
        page: Option<&'a str>,
    ) -> BoxFuture<'a, Result<TaskPage, StopError>> {
        Box::pin(self.describe_invocation_tasks(scope, id, page))
    }

    fn stop_execution<'a>(
        &'a self,
        scope: Scope<'a>,
        id: &'a str,
        instances: &'a [String],
    ) -> BoxFuture<'a, Result<Option<String>, StopError>> {
        Box::pin(self.cancel_invocation(scope, id, instances))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // docs/vendors/tencent.md, §2.3: LatestOperation bookkeeping tells a failed soft stop.
    #[test]
    fn describe_entries_read_latest_operation_failures_and_restrictions() {
        let entry = json!({"InstanceId": "ins-a", "InstanceState": "RUNNING", "LatestOperation": "StopInstances",
            "LatestOperationState": "FAILED", "LatestOperationErrorMsg": "soft shutdown timed out",
            "RestrictState": "PROTECTIVELY_ISOLATED", "InstanceChargeType": "PREPAID", "StopChargingMode": "NOT_APPLICABLE"});
        let seen = observed(&entry);
        assert_eq!(seen.state, InstanceState::Running);
        assert_eq!(seen.stop_failed.as_deref(), Some("soft shutdown timed out"));
        assert_eq!(seen.lock.as_deref(), Some("PROTECTIVELY_ISOLATED"));
        assert_eq!(seen.can_stop_charging, Some(false));
        assert_eq!(seen.billing, None);
        let ok = observed(
            &json!({"InstanceId": "ins-b", "InstanceState": "STOPPED", "LatestOperation": "StopInstances",
            "LatestOperationState": "SUCCESS", "RestrictState": "NORMAL", "StopChargingMode": "STOP_CHARGING",
            "InstanceChargeType": "POSTPAID_BY_HOUR"}),
        );
        assert_eq!(ok.stop_failed, None);
        assert_eq!(ok.lock, None);
        assert_eq!(ok.billing, Some(Billing::StopCharging));
    }

    #[test]
    fn tencent_ids_are_ins_and_eight_characters() {
        assert!(is_instance_id("ins-r8hr2upy"));
        assert!(!is_instance_id("ins-1122"));
        assert!(!is_instance_id("i-bp1aaaaaaaaaaaaaaaaa"));
    }
}
