//! The Alibaba adapter's command half (Cloud Assistant): `DescribeInvocations` for the
//! invocation, `DescribeInvocationResults` (paged with `NextToken`) for its per-instance tasks,
//! `StopInvocation` (≤ 50 instances) to stop it (docs/vendors/alibaba.md, §2.3, §2.6, §2.7).

use serde_json::Value;

use super::client::AlibabaClient;
use crate::model::{StopError, TaskState};
use crate::provider::text;
use crate::provider::{ExecutionAnswer, ExecutionInfo, ObservedTask, Scope, TaskPage};

/// `t-` followed by 8 to 40 lowercase letters or digits.
pub fn is_invocation_id(id: &str) -> bool {
    id.strip_prefix("t-").is_some_and(|rest| {
        (8..=40).contains(&rest.len())
            && rest
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    })
}

/// Reads one `InvocationResult`.
fn task(result: &Value) -> ObservedTask {
    let raw_state = text(result, "InvocationStatus");
    let state = TaskState::from_vendor(&raw_state);
    ObservedTask {
        instance_id: text(result, "InstanceId"),
        state,
        exit_code: if state.is_terminal() {
            result.get("ExitCode").and_then(Value::as_i64)
        } else {
            None
        },
        raw_state,
    }
}

impl AlibabaClient {
    pub(crate) async fn describe_invocation(
        &self,
        scope: Scope<'_>,
        id: &str,
    ) -> Result<ExecutionAnswer, StopError> {
        let params = vec![
            ("RegionId".to_string(), scope.region.to_string()),
            ("InvokeId".to_string(), id.to_string()),
        ];
        let (body, request_id) = self.call(scope, "DescribeInvocations", &params).await?;
        let info = body
            .pointer("/Invocations/Invocation")
            .and_then(Value::as_array)
            .and_then(|list| list.iter().find(|i| text(i, "InvokeId") == id))
            .map(|inv| ExecutionInfo {
                periodic: matches!(text(inv, "RepeatMode").as_str(), "Period" | "EveryReboot"),
            });
        Ok((info, request_id))
    }

    pub(crate) async fn describe_invocation_results(
        &self,
        scope: Scope<'_>,
        id: &str,
        page: Option<&str>,
    ) -> Result<TaskPage, StopError> {
        let mut params = vec![
            ("RegionId".to_string(), scope.region.to_string()),
            ("InvokeId".to_string(), id.to_string()),
            ("MaxResults".to_string(), "50".to_string()),
        ];
        if let Some(token) = page {
            params.push(("NextToken".to_string(), token.to_string()));
        }
        let (body, request_id) = self
            .call(scope, "DescribeInvocationResults", &params)
            .await?;
        let tasks = body
            .pointer("/Invocation/InvocationResults/InvocationResult")
            .and_then(Value::as_array)
            .map(|list| list.iter().map(task).collect())
            .unwrap_or_default();
        let next = body
            .pointer("/Invocation/NextToken")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
            .map(str::to_string);
        Ok(TaskPage {
            tasks,
            next,
            request_id,
        })
    }

    pub(crate) async fn stop_invocation(
        &self,
        scope: Scope<'_>,
        id: &str,
        instances: &[String],
    ) -> Result<Option<String>, StopError> {
        let mut params = vec![
            ("RegionId".to_string(), scope.region.to_string()),
            ("InvokeId".to_string(), id.to_string()),
        ];
        for (i, instance) in instances.iter().enumerate() {
            params.push((format!("InstanceId.{}", i + 1), instance.clone()));
        }
        let (_, request_id) = self.call(scope, "StopInvocation", &params).await?;
        Ok(request_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn invocation_ids_are_t_and_lowercase_alphanumerics() {
        assert!(is_invocation_id("t-7d2a745b412b4601b2d47f6a768d0000"));
        assert!(is_invocation_id("t-sgdemo0000000000000000000000001"));
        assert!(!is_invocation_id("inv-ib2lld37"));
        assert!(!is_invocation_id("t-short"));
    }

    // docs/vendors/alibaba.md, §2.7: results carry InvocationStatus and ExitCode.
    #[test]
    fn results_read_state_and_exit_code_only_when_finished() {
        let finished =
            task(&json!({"InstanceId": "i-a", "InvocationStatus": "Success", "ExitCode": 0}));
        assert_eq!(
            (finished.state, finished.exit_code),
            (TaskState::Succeeded, Some(0))
        );
        let running =
            task(&json!({"InstanceId": "i-b", "InvocationStatus": "Running", "ExitCode": 0}));
        assert_eq!(
            (running.state, running.exit_code),
            (TaskState::Running, None)
        );
        assert_eq!(
            task(&json!({"InvocationStatus": "Terminated"})).state,
            TaskState::Terminated
        );
    }
}
