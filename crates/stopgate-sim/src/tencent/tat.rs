//! Simulated TAT actions: RunCommand, CancelInvocation, DescribeInvocations,
//! DescribeInvocationTasks (docs/vendors/tencent.md, §1).

use base64::Engine;
use serde_json::{Value, json};
use time::OffsetDateTime;

use super::body::{Body, TcError};
use super::cvm::is_instance_id;
use super::{Ctx, time_text};
use crate::ids::{new_command_id, new_invocation_id, new_task_id};
use crate::instance::Phase;
use crate::invocation::{Invocation, RepeatMode, Task, TaskPhase};
use crate::world::World;
use stopgate_vendor::Provider;

const P: Provider = Provider::Tencent;

fn is_invocation_id(id: &str) -> bool {
    id.strip_prefix("inv-").is_some_and(|rest| {
        rest.len() == 8
            && rest
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    })
}

fn instance_list(body: &Body, required: bool) -> Result<Vec<String>, TcError> {
    let ids = body.strings("InstanceIds")?.unwrap_or_default();
    if required && ids.is_empty() {
        return Err(TcError::missing("InstanceIds"));
    }
    if ids.len() > 100 {
        return Err(TcError::new(
            "InvalidParameterValue.LimitExceeded",
            "At most 100 `InstanceIds` are allowed per request.",
        ));
    }
    if let Some(bad) = ids.iter().find(|id| !is_instance_id(id)) {
        return Err(TcError::new(
            "InvalidParameterValue.InvalidInstanceId",
            format!("The instance ID `{bad}` is invalid."),
        ));
    }
    Ok(ids)
}

/// `RunCommand`: one task per instance; the instances must be RUNNING with the agent online.
pub fn run_command(world: &mut World, ctx: &Ctx<'_>, body: &Body) -> Result<Value, TcError> {
    let content = body
        .string("Content")?
        .ok_or_else(|| TcError::missing("Content"))?;
    if base64::engine::general_purpose::STANDARD
        .decode(content)
        .is_err()
    {
        return Err(TcError::new(
            "InvalidParameterValue.InvalidContent",
            "`Content` must be Base64-encoded.",
        ));
    }
    let ids = instance_list(body, true)?;
    let command_type = body.string("CommandType")?.unwrap_or("SHELL");
    if !["SHELL", "POWERSHELL", "BAT"].contains(&command_type) {
        return Err(TcError::invalid_value(
            "CommandType",
            "use SHELL, POWERSHELL or BAT",
        ));
    }
    let region = world.region(P, ctx.account, ctx.region);
    for id in &ids {
        let instance = region.instance(id, ctx.now).ok_or_else(|| {
            TcError::new(
                "ResourceNotFound.InstanceNotFound",
                format!("The instance `{id}` does not exist."),
            )
        })?;
        if instance.phase != Phase::Running {
            return Err(TcError::new(
                "ResourceUnavailable.InstanceStateNotRunning",
                format!("The instance `{id}` is not RUNNING."),
            ));
        }
        if !instance.agent_online {
            return Err(TcError::new(
                "ResourceUnavailable.AgentStatusNotOnline",
                format!("The TAT agent on `{id}` is not online."),
            ));
        }
    }
    let tasks = ids
        .iter()
        .map(|id| {
            Task::new(
                new_task_id(),
                id.clone(),
                TaskPhase::Pending,
                ctx.timings.run_ms,
                None,
                &ctx.timings,
                ctx.now,
            )
        })
        .collect();
    let invocation = Invocation {
        id: new_invocation_id(P),
        command_id: new_command_id(P),
        command_name: body
            .string("CommandName")?
            .unwrap_or("stopgate-sim-command")
            .to_string(),
        command_type: command_type.to_string(),
        command_content: content.to_string(),
        repeat_mode: RepeatMode::Once,
        interrupt_running: true,
        stopped: false,
        timeout_s: body.int("Timeout")?.unwrap_or(60).max(0) as u64,
        username: body.string("Username")?.unwrap_or("root").to_string(),
        created_at: OffsetDateTime::now_utc(),
        tasks,
        period_ms: ctx.timings.period_ms,
        task_index: Default::default(),
    };
    let answer = json!({"CommandId": invocation.command_id, "InvocationId": invocation.id});
    region.add_invocation(invocation);
    Ok(answer)
}

/// `CancelInvocation`: not yet delivered → CANCELLED, RUNNING → CANCELLING → TERMINATED; an
/// instance outside the invocation fails the whole call (docs/vendors/tencent.md, §1.1).
pub fn cancel_invocation(world: &mut World, ctx: &Ctx<'_>, body: &Body) -> Result<Value, TcError> {
    body.only(&["InvocationId", "InstanceIds"])?;
    let id = body
        .string("InvocationId")?
        .ok_or_else(|| TcError::missing("InvocationId"))?;
    if !is_invocation_id(id) {
        return Err(TcError::new(
            "InvalidParameterValue.InvalidInvocationId",
            format!("The invocation ID `{id}` is invalid."),
        ));
    }
    let ids = instance_list(body, false)?;
    let region = world.region(P, ctx.account, ctx.region);
    let invocation = region.invocation(id).ok_or_else(|| {
        TcError::new(
            "ResourceNotFound.InvocationNotFound",
            format!("The invocation `{id}` does not exist."),
        )
    })?;
    if let Some(stranger) = ids.iter().find(|i| invocation.task_of(i).is_none()) {
        return Err(TcError::new(
            "InvalidParameterValue.InstanceIsNotRelatedToInvocation",
            format!("The instance `{stranger}` has no task in invocation `{id}`."),
        ));
    }
    invocation.stop(&ids, &ctx.timings, ctx.now);
    Ok(json!({}))
}

fn invocation_json(inv: &Invocation) -> Value {
    let tasks: Vec<Value> = inv
        .tasks
        .iter()
        .map(|t| json!({"InvocationTaskId": t.task_id, "TaskStatus": t.phase.vendor_name(P), "InstanceId": t.instance_id}))
        .collect();
    let start = inv.tasks.iter().filter_map(|t| t.start_time).min();
    let finished = inv.tasks.iter().all(|t| t.phase.is_finished());
    let end = if finished {
        inv.tasks.iter().filter_map(|t| t.end_time).max()
    } else {
        None
    };
    json!({
        "InvocationId": inv.id,
        "CommandId": inv.command_id,
        "CommandName": inv.command_name,
        "InvocationStatus": inv.tencent_status(),
        "InvocationTaskBasicInfoSet": tasks,
        "Description": "",
        "StartTime": time_text(start.or(Some(inv.created_at))),
        "EndTime": time_text(end),
        "CreatedTime": time_text(Some(inv.created_at)),
        "UpdatedTime": time_text(end.or(start).or(Some(inv.created_at))),
        "Parameters": "{}",
        "DefaultParameters": "{}",
        "InstanceKind": "CVM",
        "Username": inv.username,
        "InvocationSource": "USER",
        "CommandContent": inv.command_content,
        "CommandType": inv.command_type,
        "Timeout": inv.timeout_s,
        "WorkingDirectory": "",
        "OutputCOSBucketUrl": "",
        "OutputCOSKeyPrefix": "",
    })
}

/// `DescribeInvocations`: `InvocationIds` or `Filters`, not both (docs/vendors/tencent.md, §1.2).
pub fn describe_invocations(
    world: &mut World,
    ctx: &Ctx<'_>,
    body: &Body,
) -> Result<Value, TcError> {
    body.only(&["InvocationIds", "Filters", "Limit", "Offset"])?;
    let ids = body.strings("InvocationIds")?.unwrap_or_default();
    if !ids.is_empty() && body.has("Filters") {
        return Err(TcError::new(
            "InvalidParameter.ConflictParameter",
            "`InvocationIds` and `Filters` cannot be combined.",
        ));
    }
    if ids.len() > 100 {
        return Err(TcError::new(
            "InvalidParameterValue.LimitExceeded",
            "At most 100 `InvocationIds` are allowed.",
        ));
    }
    if let Some(bad) = ids.iter().find(|i| !is_invocation_id(i)) {
        return Err(TcError::new(
            "InvalidParameterValue.InvalidInvocationId",
            format!("The invocation ID `{bad}` is invalid."),
        ));
    }
    let filters = body.filters(
        &[
            "invocation-id",
            "command-id",
            "command-created-by",
            "instance-kind",
        ],
        "InvalidParameterValue.InvalidFilter",
        "LimitExceeded.FilterValueExceeded",
    )?;
    let (offset, limit) = body.paging()?;
    let region = world.region(P, ctx.account, ctx.region);
    let candidates = if ids.is_empty() {
        region.invocations(ctx.now, ctx.timings.run_ms)
    } else {
        let named: Vec<&str> = ids.iter().map(String::as_str).collect();
        region.invocations_named(&named, ctx.now, ctx.timings.run_ms)
    };
    let all: Vec<&Invocation> = candidates
        .into_iter()
        .map(|inv| &*inv)
        .filter(|inv| {
            filters.iter().all(|(name, values)| {
                let field = match name.as_str() {
                    "invocation-id" => inv.id.as_str(),
                    "command-id" => inv.command_id.as_str(),
                    "command-created-by" => "USER",
                    _ => "CVM",
                };
                values.iter().any(|v| v == field)
            })
        })
        .collect();
    let total = all.len();
    let page: Vec<Value> = all
        .into_iter()
        .skip(offset)
        .take(limit)
        .map(invocation_json)
        .collect();
    Ok(json!({"TotalCount": total, "InvocationSet": page}))
}

/// One task of DescribeInvocationTasks.
fn task_json(inv: &Invocation, task: &Task, hide_output: bool) -> Value {
    json!({
        "InvocationId": inv.id,
        "InvocationTaskId": task.task_id,
        "CommandId": inv.command_id,
        "TaskStatus": task.phase.vendor_name(P),
        "InstanceId": task.instance_id,
        "TaskResult": {
            "ExitCode": task.exit_code.unwrap_or(0),
            "Output": if hide_output { String::new() } else { task.output.clone() },
            "ExecStartTime": time_text(task.start_time),
            "ExecEndTime": time_text(task.end_time),
            "Dropped": 0,
            "OutputUrl": "",
            "OutputUploadCOSErrorInfo": "",
        },
        "StartTime": time_text(task.start_time),
        "EndTime": time_text(task.end_time),
        "CreatedTime": time_text(Some(task.created_at)),
        "UpdatedTime": time_text(task.end_time.or(task.start_time).or(Some(task.created_at))),
        "CommandDocument": {
            "Content": inv.command_content,
            "CommandType": inv.command_type,
            "Timeout": inv.timeout_s,
            "WorkingDirectory": "",
            "Username": inv.username,
            "OutputCOSBucketUrl": "",
            "OutputCOSKeyPrefix": "",
        },
        "ErrorInfo": task.error_info,
        "InvocationSource": "USER",
        "CommandName": inv.command_name,
    })
}

/// `DescribeInvocationTasks`: filters `invocation-id`, `invocation-task-id`, `instance-id`,
/// `command-id` only; output hidden unless `HideOutput=false` (docs/vendors/tencent.md, §1.3).
pub fn describe_invocation_tasks(
    world: &mut World,
    ctx: &Ctx<'_>,
    body: &Body,
) -> Result<Value, TcError> {
    body.only(&[
        "InvocationTaskIds",
        "Filters",
        "Limit",
        "Offset",
        "HideOutput",
    ])?;
    let task_ids = body.strings("InvocationTaskIds")?.unwrap_or_default();
    if !task_ids.is_empty() && body.has("Filters") {
        return Err(TcError::new(
            "InvalidParameter.ConflictParameter",
            "`InvocationTaskIds` and `Filters` cannot be combined.",
        ));
    }
    let filters = body.filters(
        &[
            "invocation-id",
            "invocation-task-id",
            "instance-id",
            "command-id",
        ],
        "InvalidParameterValue.InvalidFilter",
        "LimitExceeded.FilterValueExceeded",
    )?;
    let hide_output = body.bool("HideOutput")?.unwrap_or(true);
    let (offset, limit) = body.paging()?;
    let region = world.region(P, ctx.account, ctx.region);
    if let ([], [(name, values)]) = (&task_ids[..], &filters[..]) {
        if name == "invocation-id" && values.len() == 1 {
            // The common read (the tasks of one invocation, a page at a time): only the page is
            // advanced and rendered, so paging through 100,000 tasks costs what the pages cost.
            let Some(inv) = region.invocation(&values[0]) else {
                return Ok(json!({"TotalCount": 0, "InvocationTaskSet": []}));
            };
            let total = inv.tasks.len();
            let mut page = Vec::new();
            for idx in offset.min(total)..offset.saturating_add(limit).min(total) {
                inv.advance_task(idx, ctx.now, ctx.timings.run_ms);
                page.push(task_json(inv, &inv.tasks[idx], hide_output));
            }
            return Ok(json!({"TotalCount": total, "InvocationTaskSet": page}));
        }
    }
    let mut all = Vec::new();
    for inv in region.invocations(ctx.now, ctx.timings.run_ms) {
        let inv: &Invocation = inv;
        for task in &inv.tasks {
            if !task_ids.is_empty() && !task_ids.contains(&task.task_id) {
                continue;
            }
            let keep = filters.iter().all(|(name, values)| {
                let field = match name.as_str() {
                    "invocation-id" => inv.id.as_str(),
                    "invocation-task-id" => task.task_id.as_str(),
                    "instance-id" => task.instance_id.as_str(),
                    _ => inv.command_id.as_str(),
                };
                values.iter().any(|v| v == field)
            });
            if keep {
                all.push((inv, task));
            }
        }
    }
    let total = all.len();
    let page: Vec<Value> = all
        .into_iter()
        .skip(offset)
        .take(limit)
        .map(|(inv, task)| task_json(inv, task, hide_output))
        .collect();
    Ok(json!({"TotalCount": total, "InvocationTaskSet": page}))
}
