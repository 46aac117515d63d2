//! The Alibaba adapter's instance half: `DescribeInstances` to observe, `StopInstances` with
//! `BatchOptimization=SuccessFirst` for per-instance results (docs/vendors/alibaba.md, §2.2, §2.5).

use serde_json::Value;

use super::client::AlibabaClient;
use super::errors;
use crate::model::{Billing, InstanceState, Provider, StopError, StopMode};
use crate::provider::text;
use crate::provider::{
    Actions, Adapter, BoxFuture, Capabilities, Described, Observed, Scope, StopAnswer, StopCall,
};
use crate::provider::{CommandActions, ExecutionAnswer, TaskPage};

const P: Provider = Provider::Alibaba;

/// Alibaba Cloud's public regions (add new ones with `[alibaba] regions` in the config).
pub const KNOWN_REGIONS: &[&str] = &[
    "cn-qingdao",
    "cn-beijing",
    "cn-zhangjiakou",
    "cn-huhehaote",
    "cn-wulanchabu",
    "cn-hangzhou",
    "cn-shanghai",
    "cn-nanjing",
    "cn-fuzhou",
    "cn-wuhan-lr",
    "cn-shenzhen",
    "cn-heyuan",
    "cn-guangzhou",
    "cn-chengdu",
    "cn-hongkong",
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-southeast-1",
    "ap-southeast-3",
    "ap-southeast-5",
    "ap-southeast-6",
    "ap-southeast-7",
    "ap-south-1",
    "us-east-1",
    "us-west-1",
    "na-south-1",
    "eu-west-1",
    "eu-central-1",
    "me-east-1",
    "me-central-1",
];

/// `i-` followed by 8 to 30 lowercase letters or digits.
pub fn is_instance_id(id: &str) -> bool {
    id.strip_prefix("i-").is_some_and(|rest| {
        (8..=30).contains(&rest.len())
            && rest
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    })
}

/// Alibaba region ids: lowercase words joined by `-`, e.g. `cn-hangzhou`, `ap-southeast-1`.
pub fn is_region(region: &str) -> bool {
    let parts: Vec<&str> = region.split('-').collect();
    parts.len() >= 2
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        })
}

/// Reads one `Instances.Instance` entry.
pub(super) fn observed(instance: &Value) -> Observed {
    let raw_state = text(instance, "Status");
    let billing = match text(instance, "StoppedMode").as_str() {
        "StopCharging" => Some(Billing::StopCharging),
        "KeepCharging" => Some(Billing::KeepCharging),
        _ => None,
    };
    let lock = instance
        .pointer("/OperationLocks/LockReason")
        .and_then(Value::as_array)
        .and_then(|locks| locks.first())
        .map(|l| text(l, "LockReason"))
        .filter(|l| !l.is_empty());
    Observed {
        id: text(instance, "InstanceId"),
        state: InstanceState::from_vendor(&raw_state),
        raw_state,
        billing,
        lock,
        // Alibaba silently keeps charging when it cannot stop charging (docs/vendors/alibaba.md, §7 item 13),
        // so whether it can is only known afterwards, from StoppedMode.
        can_stop_charging: None,
        stop_failed: None,
        operation_request_id: None,
    }
}

/// `Code` is `"200"` or `200` on success (docs/vendors/alibaba.md, §2.2: accept both).
fn is_ok_code(code: &Value) -> bool {
    code.as_str().is_some_and(|c| c == "200") || code.as_u64() == Some(200)
}

impl Adapter for AlibabaClient {
    fn provider(&self) -> Provider {
        P
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            stop_batch: 100,
            describe_batch: 100,
            native_graceful_then_force: false,
            native_dry_run: true,
            per_instance_results: true,
            refuses_unsupported_stop_charging: false,
        }
    }

    fn actions(&self) -> Actions {
        Actions {
            stop: "StopInstances",
            describe: "DescribeInstances",
            regions: "DescribeRegions",
        }
    }

    fn published_rate(&self, _action: &str) -> Option<f64> {
        // Alibaba publishes per-account figures only in its console (docs/vendors/alibaba.md, §8).
        None
    }

    fn valid_instance_id(&self, id: &str) -> bool {
        is_instance_id(id)
    }

    fn instance_id_example(&self) -> &'static str {
        "i-bp1a2b3c4d5e6f7g8h9i"
    }

    fn valid_region(&self, region: &str) -> bool {
        is_region(region)
    }

    fn known_regions(&self) -> &'static [&'static str] {
        KNOWN_REGIONS
    }

    fn valid_command_target(&self, id: &str) -> bool {
        // Cloud Assistant also runs on managed instances (`mi-…`).
        is_instance_id(id)
            || id.strip_prefix("mi-").is_some_and(|rest| {
                (8..=40).contains(&rest.len())
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
            let params = vec![
                ("RegionId".to_string(), scope.region.to_string()),
                (
                    "InstanceIds".to_string(),
                    serde_json::to_string(ids).unwrap_or_default(),
                ),
                ("MaxResults".to_string(), "100".to_string()),
            ];
            let (body, request_id) = self.call(scope, "DescribeInstances", &params).await?;
            let instances = body
                .pointer("/Instances/Instance")
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
            let mut params = vec![("RegionId".to_string(), scope.region.to_string())];
            for (i, id) in call.ids.iter().enumerate() {
                params.push((format!("InstanceId.{}", i + 1), id.clone()));
            }
            params.push((
                "ForceStop".into(),
                (call.mode == StopMode::Force).to_string(),
            ));
            match call.billing {
                Billing::StopCharging => params.push(("StoppedMode".into(), "StopCharging".into())),
                Billing::KeepCharging => params.push(("StoppedMode".into(), "KeepCharging".into())),
                Billing::ProviderDefault | Billing::Unknown => {}
            }
            if call.confirm_local_disk {
                params.push(("ConfirmStop".into(), "true".into()));
            }
            // A dry run with SuccessFirst only ever says DRYRUN.SUCCESS (docs/vendors/alibaba.md, §7 item 10),
            // so dry runs, like all-or-nothing, use AllTogether.
            let all_together = call.all_or_nothing || call.dry_run;
            params.push((
                "BatchOptimization".into(),
                if all_together {
                    "AllTogether"
                } else {
                    "SuccessFirst"
                }
                .into(),
            ));
            if call.dry_run {
                params.push(("DryRun".into(), "true".into()));
            }
            let answer = self.call(scope, "StopInstances", &params).await;
            let (body, request_id) = match answer {
                Err(e) if call.dry_run && e.reason == "DRY_RUN_PASSED" => {
                    return Ok(StopAnswer::DryRunPassed {
                        request_id: e.vendor_request_id,
                    });
                }
                other => other?,
            };
            if all_together {
                return Ok(StopAnswer::Accepted { request_id });
            }
            let entries = body
                .pointer("/InstanceResponses/InstanceResponse")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let results = entries
                .iter()
                .map(|entry| {
                    let id = text(entry, "InstanceId");
                    let code = entry.get("Code").cloned().unwrap_or(Value::Null);
                    if is_ok_code(&code) {
                        return (id, Ok(()));
                    }
                    let code = code
                        .as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| code.to_string());
                    // Per-instance messages are vendor text like any other: redact.
                    let message = scope.credentials.redact(&text(entry, "Message"));
                    let class = errors::classify(&code, &message);
                    let mut error =
                        StopError::vendor(P, class, &code, &message, request_id.clone(), Some(200));
                    error.message =
                        format!("alibaba StopInstances answered {code} for {id}: {message}");
                    (id, Err(error))
                })
                .collect();
            Ok(StopAnswer::PerInstance {
                results,
                request_id,
            })
        })
    }

    fn command_actions(&self) -> CommandActions {
        CommandActions {
            stop: "StopInvocation",
            describe_execution: "DescribeInvocations",
            describe_tasks: "DescribeInvocationResults",
            stop_batch: 50,
            // docs/vendors/alibaba.md, §2.3: "omit to stop on all instances of the invocation".
            stop_all_documented: true,
            probe_instance: "i-stopgateprobe000000000",
        }
    }

    fn valid_execution_id(&self, id: &str) -> bool {
        super::assistant::is_invocation_id(id)
    }

    fn execution_id_example(&self) -> &'static str {
        "t-7d2a745b412b4601b2d47f6a768d0000"
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
        Box::pin(self.describe_invocation_results(scope, id, page))
    }

    fn stop_execution<'a>(
        &'a self,
        scope: Scope<'a>,
        id: &'a str,
        instances: &'a [String],
    ) -> BoxFuture<'a, Result<Option<String>, StopError>> {
        Box::pin(self.stop_invocation(scope, id, instances))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn alibaba_ids_and_regions_are_recognized() {
        assert!(is_instance_id("i-bp1aaaaaaaaaaaaaaaaa"));
        assert!(!is_instance_id("ins-r8hr2upy"));
        assert!(!is_instance_id("i-UPPER123456"));
        assert!(is_region("cn-hangzhou"));
        assert!(is_region("ap-southeast-1"));
        assert!(!is_region("hangzhou"));
        assert!(!is_region("cn--x"));
    }

    // docs/vendors/alibaba.md, §2.5: the DescribeInstances shape, with a security lock and StoppedMode.
    #[test]
    fn describe_entries_read_state_billing_and_locks() {
        let entry = json!({"InstanceId": "i-a", "Status": "Stopped", "StoppedMode": "StopCharging",
            "OperationLocks": {"LockReason": [{"LockReason": "security", "LockMsg": "x"}]}});
        let seen = observed(&entry);
        assert_eq!(seen.state, InstanceState::Stopped);
        assert_eq!(seen.raw_state, "Stopped");
        assert_eq!(seen.billing, Some(Billing::StopCharging));
        assert_eq!(seen.lock.as_deref(), Some("security"));
        let running = observed(
            &json!({"InstanceId": "i-b", "Status": "Running", "StoppedMode": "Not-applicable", "OperationLocks": {"LockReason": []}}),
        );
        assert_eq!(running.billing, None);
        assert_eq!(running.lock, None);
    }

    #[test]
    fn success_codes_may_be_strings_or_numbers() {
        assert!(is_ok_code(&json!("200")));
        assert!(is_ok_code(&json!(200)));
        assert!(!is_ok_code(&json!("IncorrectInstanceStatus")));
    }
}
