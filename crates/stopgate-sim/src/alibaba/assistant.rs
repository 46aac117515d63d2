//! Simulated Cloud Assistant actions: RunCommand, StopInvocation, DescribeInvocations,
//! DescribeInvocationResults (docs/vendors/alibaba.md, §2.3, §2.6–2.8).

use base64::Engine;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::macros::format_description;

use super::Ctx;
use super::params::{AliError, Params, page_of, paginate};
use crate::ids::{new_command_id, new_invocation_id, new_task_id};
use crate::instance::Phase;
use crate::invocation::{Invocation, RepeatMode, Task, TaskPhase};
use crate::world::World;
use stopgate_vendor::Provider;

const P: Provider = Provider::Alibaba;

fn time_text(at: Option<OffsetDateTime>) -> String {
    let fmt = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    at.and_then(|t| t.format(fmt).ok()).unwrap_or_default()
}

fn invoke_not_found() -> AliError {
    AliError::new(
        404,
        "InvalidInvokeId.NotFound",
        "The specified invoke ID does not exist.",
    )
}

fn instance_not_found() -> AliError {
    AliError::new(
        404,
        "InvalidInstanceId.NotFound",
        "The specified parameter InstanceId does not exist.",
    )
}

/// `RunCommand`: creates an invocation with one task per instance.
pub fn run_command(world: &mut World, ctx: &Ctx<'_>, params: &Params) -> Result<Value, AliError> {
    let command_type = params.required("Type")?;
    if !["RunShellScript", "RunBatScript", "RunPowerShellScript"].contains(&command_type) {
        return Err(AliError::invalid("Type"));
    }
    let content = params.required("CommandContent")?;
    let content = match params.get("ContentEncoding") {
        Some("PlainText") => base64::engine::general_purpose::STANDARD.encode(content),
        _ => content.to_string(),
    };
    let ids = params.repeat_list("InstanceId")?;
    if ids.is_empty() {
        return Err(AliError::missing("InstanceId"));
    }
    if ids.len() > 100 {
        return Err(AliError::new(
            403,
            "InstanceIds.ExceedLimit",
            "The number of instance IDs exceeds the upper limit.",
        ));
    }
    let repeat_mode = match params.get("RepeatMode") {
        None | Some("Once") => RepeatMode::Once,
        Some("Period") => RepeatMode::Period,
        Some(_) => return Err(AliError::invalid("RepeatMode")),
    };
    let region = world.region(P, ctx.account, ctx.region);
    let mut tasks = Vec::with_capacity(ids.len());
    for id in &ids {
        let instance = region
            .instance(id, ctx.now)
            .ok_or_else(instance_not_found)?;
        let reachable = instance.phase == Phase::Running && instance.agent_online;
        let phase = if reachable {
            TaskPhase::Pending
        } else {
            TaskPhase::Aborted
        };
        let run_ms = ctx.timings.run_ms;
        tasks.push(Task::new(
            new_task_id(),
            id.clone(),
            phase,
            run_ms,
            None,
            &ctx.timings,
            ctx.now,
        ));
    }
    let invocation = Invocation {
        id: new_invocation_id(P),
        command_id: new_command_id(P),
        command_name: params
            .get("Name")
            .unwrap_or("stopgate-sim-command")
            .to_string(),
        command_type: command_type.to_string(),
        command_content: content,
        repeat_mode,
        interrupt_running: true,
        stopped: false,
        timeout_s: params.int("Timeout")?.unwrap_or(60).max(0) as u64,
        username: params.get("Username").unwrap_or("root").to_string(),
        created_at: OffsetDateTime::now_utc(),
        tasks,
        period_ms: ctx.timings.period_ms,
        task_index: Default::default(),
    };
    let answer = json!({"CommandId": invocation.command_id, "InvokeId": invocation.id});
    region.add_invocation(invocation);
    Ok(answer)
}

/// `StopInvocation`: ≤ 50 instances; not-started tasks are cancelled, running ones stopped,
/// finished ones untouched; a periodic invocation runs no further periods (docs/vendors/alibaba.md, §2.3).
pub fn stop_invocation(
    world: &mut World,
    ctx: &Ctx<'_>,
    params: &Params,
) -> Result<Value, AliError> {
    let invoke_id = params.required("InvokeId")?;
    let ids = params.repeat_list("InstanceId")?;
    if ids.len() > 50 {
        return Err(AliError::new(
            403,
            "InstanceIds.ExceedLimit",
            "The number of instance IDs exceeds the upper limit.",
        ));
    }
    let region = world.region(P, ctx.account, ctx.region);
    let invocation = region.invocation(invoke_id).ok_or_else(invoke_not_found)?;
    if ids.iter().any(|id| invocation.task_of(id).is_none()) {
        return Err(instance_not_found());
    }
    invocation.stop(&ids, &ctx.timings, ctx.now);
    Ok(json!({}))
}

/// The legacy per-record status of DescribeInvocationResults (`InvokeRecordStatus`).
fn record_status(phase: TaskPhase) -> &'static str {
    match phase {
        TaskPhase::Stopping => "Stopping",
        TaskPhase::Cancelled | TaskPhase::Terminated => "Stopped",
        TaskPhase::Success => "Finished",
        p if p.is_finished() => "Failed",
        _ => "Running",
    }
}

fn output(task: &Task, include: bool, plain: bool) -> String {
    if !include {
        return String::new();
    }
    if plain {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(&task.output)
            .unwrap_or_default();
        return String::from_utf8_lossy(&bytes).into_owned();
    }
    task.output.clone()
}

fn invoke_instance(task: &Task, include_output: bool, plain: bool) -> Value {
    json!({
        "InstanceId": task.instance_id,
        "InvocationStatus": task.phase.vendor_name(P),
        "InstanceInvokeStatus": if task.phase.is_finished() { "Finished" } else { "Running" },
        "ExitCode": task.exit_code,
        "ErrorCode": task.error_code,
        "ErrorInfo": task.error_info,
        "Output": output(task, include_output, plain),
        "Dropped": 0,
        "Repeats": task.repeats,
        "Timed": false,
        "CreationTime": time_text(Some(task.created_at)),
        "StartTime": time_text(task.start_time),
        "StopTime": time_text(task.stop_time),
        "FinishTime": time_text(task.end_time),
        "UpdateTime": time_text(task.end_time.or(task.start_time).or(Some(task.created_at))),
    })
}

/// `DescribeInvocations`: invocations newest first, filtered, paged with MaxResults ≤ 50.
pub fn describe_invocations(
    world: &mut World,
    ctx: &Ctx<'_>,
    params: &Params,
) -> Result<Value, AliError> {
    let invoke_id = params.get("InvokeId");
    let instance_id = params.get("InstanceId");
    let command_id = params.get("CommandId");
    let status = params.get("InvokeStatus");
    let include_output = params.bool("IncludeOutput")?.unwrap_or(false);
    let plain = params.get("ContentEncoding") == Some("PlainText");
    let region = world.region(P, ctx.account, ctx.region);
    let candidates = match invoke_id {
        Some(id) => region.invocations_named(&[id], ctx.now, ctx.timings.run_ms),
        None => region.invocations(ctx.now, ctx.timings.run_ms),
    };
    let list: Vec<Value> = candidates
        .into_iter()
        .filter(|inv| command_id.is_none_or(|id| inv.command_id == id))
        .filter(|inv| instance_id.is_none_or(|id| inv.tasks.iter().any(|t| t.instance_id == id)))
        .filter(|inv| status.is_none_or(|s| inv.alibaba_status() == s || inv.alibaba_invoke_status() == s))
        .map(|inv| {
            let tasks: Vec<Value> = inv
                .tasks
                .iter()
                .filter(|t| instance_id.is_none_or(|id| t.instance_id == id))
                .map(|t| invoke_instance(t, include_output, plain))
                .collect();
            json!({
                "InvokeId": inv.id,
                "CommandId": inv.command_id,
                "CommandName": inv.command_name,
                "CommandType": inv.command_type,
                "CommandContent": inv.command_content,
                "InvocationStatus": inv.alibaba_status(),
                "InvokeStatus": inv.alibaba_invoke_status(),
                "RepeatMode": match inv.repeat_mode { RepeatMode::Once => "Once", RepeatMode::Period => "Period" },
                "Timed": inv.repeat_mode == RepeatMode::Period,
                "Frequency": "",
                "CreationTime": time_text(Some(inv.created_at)),
                "Parameters": "{}",
                "Username": inv.username,
                "Timeout": inv.timeout_s,
                "TerminationMode": "ProcessTree",
                "InvokeInstances": {"InvokeInstance": tasks},
            })
        })
        .collect();
    let (page, mut meta) = paginate(list, params, 50, 10, false)?;
    meta.insert("Invocations".into(), json!({"Invocation": page}));
    Ok(Value::Object(meta))
}

/// `DescribeInvocationResults`: one record per instance per invocation, nested under
/// `Invocation`, with `FinishedTime` (not `FinishTime`) (docs/vendors/alibaba.md, §2.7, §7 item 17).
pub fn describe_invocation_results(
    world: &mut World,
    ctx: &Ctx<'_>,
    params: &Params,
) -> Result<Value, AliError> {
    let invoke_id = params.get("InvokeId");
    let instance_id = params.get("InstanceId");
    let command_id = params.get("CommandId");
    let record = params.get("InvokeRecordStatus");
    let plain = params.get("ContentEncoding") == Some("PlainText");
    let region = world.region(P, ctx.account, ctx.region);
    if let (Some(invoke), None, None) = (invoke_id, command_id, record) {
        // The common read (one invocation, maybe one instance): only the page is advanced and
        // rendered, so paging through 100,000 tasks costs what the pages cost.
        let Some(inv) = region.invocation(invoke) else {
            return Ok(results_answer(
                Vec::new(),
                page_of(0, params, 50, 10, false)?.1,
            ));
        };
        let named: Option<Vec<usize>> = instance_id.map(|id| inv.task_of(id).into_iter().collect());
        let total = named.as_ref().map_or(inv.tasks.len(), Vec::len);
        let (range, meta) = page_of(total, params, 50, 10, false)?;
        let mut page = Vec::with_capacity(range.len());
        for position in range {
            let idx = named.as_ref().map_or(position, |n| n[position]);
            inv.advance_task(idx, ctx.now, ctx.timings.run_ms);
            page.push(result_record(inv, &inv.tasks[idx], plain));
        }
        return Ok(results_answer(page, meta));
    }
    let mut list = Vec::new();
    for inv in region.invocations(ctx.now, ctx.timings.run_ms) {
        let inv: &Invocation = inv;
        if invoke_id.is_some_and(|id| inv.id != id)
            || command_id.is_some_and(|id| inv.command_id != id)
        {
            continue;
        }
        for task in &inv.tasks {
            if instance_id.is_some_and(|id| task.instance_id != id) {
                continue;
            }
            if record.is_some_and(|r| record_status(task.phase) != r) {
                continue;
            }
            list.push((inv, task));
        }
    }
    let (page, meta) = paginate(list, params, 50, 10, false)?;
    let page = page
        .into_iter()
        .map(|(inv, task)| result_record(inv, task, plain))
        .collect();
    Ok(results_answer(page, meta))
}

fn results_answer(page: Vec<Value>, meta: serde_json::Map<String, Value>) -> Value {
    let mut invocation = meta;
    invocation.insert(
        "InvocationResults".into(),
        json!({"InvocationResult": page}),
    );
    json!({"Invocation": invocation})
}

/// One record of DescribeInvocationResults.
fn result_record(inv: &Invocation, task: &Task, plain: bool) -> Value {
    json!({
        "CommandId": inv.command_id,
        "InvokeId": inv.id,
        "InstanceId": task.instance_id,
        "InvocationStatus": task.phase.vendor_name(P),
        "InvokeRecordStatus": record_status(task.phase),
        "ExitCode": task.exit_code,
        "ErrorCode": task.error_code,
        "ErrorInfo": task.error_info,
        "Output": output(task, true, plain),
        "Dropped": 0,
        "Repeats": task.repeats,
        "StartTime": time_text(task.start_time),
        "FinishedTime": time_text(task.end_time),
        "StopTime": time_text(task.stop_time),
        "Username": inv.username,
        "TerminationMode": "ProcessTree",
    })
}
