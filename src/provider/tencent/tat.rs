//! The Tencent adapter's command half (TAT): `DescribeInvocations` for the invocation,
//! `DescribeInvocationTasks` filtered by `invocation-id` (paged, status filtered client side:
//! there is no `task-status` filter, docs/vendors/tencent.md, §1.3) and `CancelInvocation` (≤ 100 instances).

use serde_json::{Value, json};

use super::client::{TAT, TencentClient};
use crate::model::{StopError, TaskState};
use crate::provider::{ExecutionAnswer, ExecutionInfo, ObservedTask, Scope, TaskPage};

/// `inv-` + 8 lowercase letters or digits (docs/vendors/tencent.md, §1.0).
pub fn is_invocation_id(id: &str) -> bool {
    id.strip_prefix("inv-").is_some_and(|rest| {
        rest.len() == 8
            && rest
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    })
}

fn task(entry: &Value) -> ObservedTask {
    let raw_state = entry
        .get("TaskStatus")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let state = TaskState::from_vendor(&raw_state);
    ObservedTask {
        instance_id: entry
            .get("InstanceId")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        state,
        exit_code: if state.is_terminal() {
            entry
                .pointer("/TaskResult/ExitCode")
                .and_then(Value::as_i64)
        } else {
            None
        },
        raw_state,
    }
}

impl TencentClient {
    pub(crate) async fn describe_invocation(
        &self,
        scope: Scope<'_>,
        id: &str,
    ) -> Result<ExecutionAnswer, StopError> {
        let (body, request_id) = self
            .call(
                scope,
                TAT,
                "DescribeInvocations",
                &json!({"InvocationIds": [id]}),
            )
            .await?;
        let found = body
            .get("InvocationSet")
            .and_then(Value::as_array)
            .is_some_and(|list| {
                list.iter()
                    .any(|i| i.get("InvocationId").and_then(Value::as_str) == Some(id))
            });
        // TAT invocations run once; scheduled runs come from separate invoker invocations.
        Ok((
            found.then_some(ExecutionInfo { periodic: false }),
            request_id,
        ))
    }

    pub(crate) async fn describe_invocation_tasks(
        &self,
        scope: Scope<'_>,
        id: &str,
        page: Option<&str>,
    ) -> Result<TaskPage, StopError> {
        let offset: usize = page.and_then(|p| p.parse().ok()).unwrap_or(0);
        let params = json!({
            "Filters": [{"Name": "invocation-id", "Values": [id]}],
            "Limit": 100,
            "Offset": offset,
            "HideOutput": true,
        });
        let (body, request_id) = self
            .call(scope, TAT, "DescribeInvocationTasks", &params)
            .await?;
        let tasks: Vec<ObservedTask> = body
            .get("InvocationTaskSet")
            .and_then(Value::as_array)
            .map(|list| list.iter().map(task).collect())
            .unwrap_or_default();
        let total = body.get("TotalCount").and_then(Value::as_u64).unwrap_or(0) as usize;
        let seen = offset + tasks.len();
        let next = (!tasks.is_empty() && seen < total).then(|| seen.to_string());
        Ok(TaskPage {
            tasks,
            next,
            request_id,
        })
    }

    pub(crate) async fn cancel_invocation(
        &self,
        scope: Scope<'_>,
        id: &str,
        instances: &[String],
    ) -> Result<Option<String>, StopError> {
        let mut params = json!({"InvocationId": id});
        if !instances.is_empty() {
            params["InstanceIds"] = json!(instances);
        }
        let (_, request_id) = self.call(scope, TAT, "CancelInvocation", &params).await?;
        Ok(request_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invocation_ids_are_inv_and_eight_characters() {
        assert!(is_invocation_id("inv-ib2lld37"));
        assert!(!is_invocation_id("inv-1"));
        assert!(!is_invocation_id("t-7d2a745b412b4601b2d47f6a768d0000"));
    }

    // docs/vendors/tencent.md, §1.3: TaskStatus values and TaskResult.ExitCode.
    #[test]
    fn tasks_read_state_and_exit_code_only_when_finished() {
        let done = task(
            &json!({"InstanceId": "ins-a", "TaskStatus": "FAILED", "TaskResult": {"ExitCode": 3}}),
        );
        assert_eq!((done.state, done.exit_code), (TaskState::Failed, Some(3)));
        let cancelling = task(
            &json!({"InstanceId": "ins-b", "TaskStatus": "CANCELLING", "TaskResult": {"ExitCode": 0}}),
        );
        assert_eq!(
            (cancelling.state, cancelling.exit_code),
            (TaskState::Stopping, None)
        );
        assert_eq!(
            task(&json!({"TaskStatus": "DELIVER_DELAYED"})).state,
            TaskState::Delivering
        );
    }
}
