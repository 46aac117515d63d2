//! Simulated ECS instance actions: StopInstance, StopInstances, StartInstances,
//! DescribeInstanceStatus, DescribeInstances (also by tags), DescribeRegions
//! (docs/vendors/alibaba.md, §2.1, §2.2, §2.4, §2.5, §2.9).

use serde_json::{Value, json};
use time::macros::format_description;

use super::Ctx;
use super::params::{AliError, Params, page_of_keyed, paginate};
use crate::instance::{Instance, Phase, StopKind, StoppedMode};
use crate::world::{RegionState, TagClause, TagTerm, World, known_regions};
use stopgate_vendor::Provider;

const P: Provider = Provider::Alibaba;

fn not_found() -> AliError {
    AliError::new(
        404,
        "InvalidInstanceId.NotFound",
        "The specified InstanceId does not exist.",
    )
}

fn check_ids(ids: &[String]) -> Result<(), AliError> {
    if ids.is_empty() {
        return Err(AliError::new(
            403,
            "InvalidInstanceId.NotFound",
            "InstanceId should not be null.",
        ));
    }
    if ids.len() > 100 {
        return Err(AliError::new(
            403,
            "InvalidParameter.TooManyInstanceIds",
            "Instance ids cannot be more than 100.",
        ));
    }
    let malformed = |id: &String| {
        id.len() > 64
            || !id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    if ids.iter().any(malformed) {
        return Err(AliError::new(
            403,
            "Abs.InvalidInstanceIds.MalFormed",
            "The specified instanceIds is not valid.",
        ));
    }
    Ok(())
}

/// The per-instance checks a stop or start makes, in the vendor's order.
fn check_instance(
    instance: Option<&Instance>,
    expected: Phase,
    confirm_stop: bool,
) -> Result<(), AliError> {
    let instance = instance.ok_or_else(not_found)?;
    match instance.lock.as_deref() {
        Some("security") => {
            return Err(AliError::new(
                403,
                "InstanceLockedForSecurity",
                "The specified operation is denied as your instance is locked for security reasons.",
            ));
        }
        Some(_) => {
            return Err(AliError::new(
                403,
                "InstanceExpiredOrInArrears",
                "The specified operation is denied as your prepay instance is expired (prepay mode) or in arrears (afterpay mode).",
            ));
        }
        None => {}
    }
    if instance.phase != expected {
        // The observed real message (docs/vendors/alibaba.md, §2.1, cb-spider #461).
        return Err(AliError::new(
            403,
            "IncorrectInstanceStatus",
            format!(
                "The specified instance is in an incorrect status for the requested action; Status of the specified instance is {} but the expected status is in ({}).",
                instance.phase.vendor_name(P),
                expected.vendor_name(P)
            ),
        ));
    }
    // ConfirmStop is required for the i1 local-disk family (docs/vendors/alibaba.md, §2.1, §7 item 14).
    if expected == Phase::Running && instance.instance_type.starts_with("ecs.i1.") && !confirm_stop
    {
        return Err(AliError::new(
            403,
            "InstanceType.ParameterMismatch",
            "The input parameter ConfirmStop must be true when an instance have localstorage.",
        ));
    }
    Ok(())
}

struct StopOptions {
    kind: StopKind,
    mode: Option<StoppedMode>,
    confirm: bool,
    dry_run: bool,
}

fn stop_options(params: &Params) -> Result<StopOptions, AliError> {
    let kind = if params.bool("ForceStop")?.unwrap_or(false) {
        StopKind::Force
    } else {
        StopKind::Graceful
    };
    let mode = match params.get("StoppedMode") {
        None => None,
        Some("StopCharging") => Some(StoppedMode::StopCharging),
        Some("KeepCharging") => Some(StoppedMode::KeepCharging),
        Some(_) => return Err(AliError::invalid("StoppedMode")),
    };
    Ok(StopOptions {
        kind,
        mode,
        confirm: params.bool("ConfirmStop")?.unwrap_or(false),
        dry_run: params.bool("DryRun")?.unwrap_or(false),
    })
}

/// `StopInstance`: one instance, no RegionId; DryRun success is `DryRunOperation`.
pub fn stop_instance(world: &mut World, ctx: &Ctx<'_>, params: &Params) -> Result<Value, AliError> {
    let id = params.get("InstanceId").ok_or_else(|| {
        AliError::new(
            403,
            "InvalidInstanceId.NotFound",
            "InstanceId should not be null.",
        )
    })?;
    let options = stop_options(params)?;
    let region = world
        .region_of_instance(P, ctx.account, id)
        .ok_or_else(not_found)?;
    let region = world.region(P, ctx.account, &region);
    let instance = region.instance(id, ctx.now);
    check_instance(instance.as_deref(), Phase::Running, options.confirm)?;
    if options.dry_run {
        return Err(AliError::new(
            400,
            "DryRunOperation",
            "Request validation has been passed with DryRun flag set.",
        ));
    }
    let instance = region.instance(id, ctx.now).expect("checked above");
    instance.begin_stop(options.kind, options.mode, &ctx.timings, ctx.now, None);
    Ok(json!({}))
}

fn batch_mode(params: &Params) -> Result<bool, AliError> {
    match params.get("BatchOptimization") {
        None | Some("AllTogether") => Ok(false),
        Some("SuccessFirst") => Ok(true),
        Some(_) => Err(AliError::invalid("BatchOptimization")),
    }
}

fn instance_response(
    id: &str,
    result: &Result<(), AliError>,
    previous: &str,
    current: &str,
) -> Value {
    match result {
        Ok(()) => {
            json!({"Code": "200", "Message": "success", "InstanceId": id, "PreviousStatus": previous, "CurrentStatus": current})
        }
        Err(e) => {
            json!({"Code": e.code, "Message": e.message, "InstanceId": id, "PreviousStatus": previous, "CurrentStatus": previous})
        }
    }
}

/// Runs a batch stop or start: AllTogether checks everything and changes nothing on any error;
/// SuccessFirst answers each instance on its own (docs/vendors/alibaba.md, §2.2, §7 item 11).
fn run_batch(
    world: &mut World,
    ctx: &Ctx<'_>,
    params: &Params,
    expected: Phase,
    confirm: bool,
    apply: &dyn Fn(&mut Instance),
) -> Result<Value, AliError> {
    let ids = params.repeat_list("InstanceId")?;
    check_ids(&ids)?;
    let success_first = batch_mode(params)?;
    let dry_run = params.bool("DryRun")?.unwrap_or(false);
    let dry_run_success = || {
        AliError::new(
            400,
            "DRYRUN.SUCCESS",
            "This request is a dryrun request with successful result.",
        )
    };
    if dry_run && success_first {
        // With SuccessFirst, a dry run only ever answers DRYRUN.SUCCESS (docs/vendors/alibaba.md, §7 item 10).
        return Err(dry_run_success());
    }
    let region = world.region(P, ctx.account, ctx.region);
    let mut responses = Vec::with_capacity(ids.len());
    if !success_first {
        for id in &ids {
            check_instance(region.instance(id, ctx.now).as_deref(), expected, confirm)?;
        }
        if dry_run {
            return Err(dry_run_success());
        }
    }
    for id in &ids {
        let instance = region.instance(id, ctx.now);
        let previous = instance
            .as_ref()
            .map(|i| i.phase.vendor_name(P))
            .unwrap_or("");
        let result = check_instance(instance.as_deref(), expected, confirm);
        let current = match (result.is_ok(), region.instance(id, ctx.now)) {
            (true, Some(instance)) => {
                apply(instance);
                instance.phase.vendor_name(P)
            }
            _ => previous,
        };
        responses.push(instance_response(id, &result, previous, current));
    }
    Ok(json!({"InstanceResponses": {"InstanceResponse": responses}}))
}

/// `StopInstances` (docs/vendors/alibaba.md, §2.2).
pub fn stop_instances(
    world: &mut World,
    ctx: &Ctx<'_>,
    params: &Params,
) -> Result<Value, AliError> {
    let options = stop_options(params)?;
    let apply =
        |i: &mut Instance| i.begin_stop(options.kind, options.mode, &ctx.timings, ctx.now, None);
    run_batch(world, ctx, params, Phase::Running, options.confirm, &apply)
}

/// `StartInstances`: the sister of StopInstances, Stopped → Starting → Running.
pub fn start_instances(
    world: &mut World,
    ctx: &Ctx<'_>,
    params: &Params,
) -> Result<Value, AliError> {
    let apply = |i: &mut Instance| i.begin_start(&ctx.timings, ctx.now, None);
    run_batch(world, ctx, params, Phase::Stopped, true, &apply)
}

/// The instances a describe call names (through the id index), or all of them.
fn selected<'a>(
    region: &'a mut RegionState,
    ids: Option<&[String]>,
    now: std::time::Instant,
) -> Vec<&'a Instance> {
    match ids {
        None => region.instances(now).iter().collect(),
        Some(ids) => region.select(ids, now),
    }
}

/// `DescribeInstanceStatus`: unknown ids are silently left out; PageSize ≤ 50 (docs/vendors/alibaba.md, §2.4).
pub fn describe_instance_status(
    world: &mut World,
    ctx: &Ctx<'_>,
    params: &Params,
) -> Result<Value, AliError> {
    let ids = params.repeat_list("InstanceId")?;
    if ids.len() > 100 {
        return Err(AliError::new(
            403,
            "InvalidParameter.TooManyInstanceIds",
            "Instance ids cannot be more than 100.",
        ));
    }
    let zone = params.get("ZoneId");
    let region = world.region(P, ctx.account, ctx.region);
    let list: Vec<&Instance> = selected(region, (!ids.is_empty()).then_some(&ids[..]), ctx.now)
        .into_iter()
        .filter(|i| zone.is_none_or(|z| i.zone == z))
        .collect();
    let (page, mut meta) = paginate(list, params, 50, 10, false)?;
    let page: Vec<Value> = page
        .into_iter()
        .map(|i| json!({"InstanceId": i.id, "Status": i.phase.vendor_name(P)}))
        .collect();
    meta.insert("InstanceStatuses".into(), json!({"InstanceStatus": page}));
    Ok(Value::Object(meta))
}

fn lock_message(reason: &str) -> &'static str {
    match reason {
        "security" => "The instance is locked for security reasons.",
        _ => {
            "The instance is locked because the account is in arrears or the subscription expired."
        }
    }
}

fn describe(instance: &Instance, region: &str) -> Value {
    let minute = format_description!("[year]-[month]-[day]T[hour]:[minute]Z");
    let locks: Vec<Value> = instance
        .lock
        .iter()
        .map(|r| json!({"LockReason": r, "LockMsg": lock_message(r)}))
        .collect();
    let stopped_mode = match (instance.phase, instance.stopped_mode) {
        (Phase::Stopped | Phase::Stopping, Some(mode)) => mode.vendor_name(P),
        _ => "Not-applicable",
    };
    let mut answer = json!({
        "InstanceId": instance.id,
        "InstanceName": instance.name,
        "HostName": instance.name,
        "Description": "",
        "Status": instance.phase.vendor_name(P),
        "StoppedMode": stopped_mode,
        "RegionId": region,
        "ZoneId": instance.zone,
        "InstanceType": instance.instance_type,
        "InstanceTypeFamily": instance.instance_type.rsplit_once('.').map(|(f, _)| f).unwrap_or(""),
        "InstanceChargeType": instance.charge_type,
        "InstanceNetworkType": instance.network,
        "OSType": "linux",
        "Cpu": 2,
        "Memory": 8192,
        "DeletionProtection": false,
        "CreationTime": instance.created_at.format(minute).unwrap_or_default(),
        "ExpiredTime": "2099-12-31T15:59Z",
        "OperationLocks": {"LockReason": locks},
    });
    if !instance.tags.is_empty() {
        let tags: Vec<Value> = instance
            .tags
            .iter()
            .map(|(k, v)| json!({"TagKey": k, "TagValue": v}))
            .collect();
        answer["Tags"] = json!({ "Tag": tags });
    }
    answer
}

/// `DescribeInstances`: `InstanceIds` is a JSON array string, unknown ids are left out, DryRun
/// success is `DryRunOperation` (docs/vendors/alibaba.md, §2.5); `Tag.N.Key`/`Tag.N.Value`
/// select by tags, all of which must match, a key alone matching any value. The answer lists
/// instances in creation order; a `NextToken` names the next instance, so paging neither
/// repeats nor skips one (docs/vendors/alibaba.md, "Selecting instances by tag").
pub fn describe_instances(
    world: &mut World,
    ctx: &Ctx<'_>,
    params: &Params,
) -> Result<Value, AliError> {
    let ids = params.json_list("InstanceIds")?;
    if ids.as_ref().is_some_and(|ids| ids.len() > 100) {
        return Err(AliError::new(
            400,
            "InvalidInstanceIds.ValueNotSupported",
            "The specified parameter InstanceIds exceeds the upper limit of 100.",
        ));
    }
    let clauses: Vec<TagClause> = params
        .tags()?
        .into_iter()
        .map(|(key, value)| {
            vec![match value {
                Some(value) => TagTerm::Pair(key, value),
                None => TagTerm::Key(key),
            }]
        })
        .collect();
    let status = match params.get("Status") {
        None => None,
        Some(s) => Some(Phase::from_vendor(P, s).ok_or_else(|| {
            AliError::new(
                404,
                "InvalidStatus.NotFound",
                "The specified Status is not found",
            )
        })?),
    };
    if params.bool("DryRun")?.unwrap_or(false) {
        return Err(AliError::new(
            400,
            "DryRunOperation",
            "Request validation has been passed with DryRun flag set.",
        ));
    }
    let zone = params.get("ZoneId");
    let region = world.region(P, ctx.account, ctx.region);
    let mut positions = match &ids {
        Some(ids) => {
            let mut named = region.positions_of(ids);
            named.retain(|&at| region.satisfies(at, &clauses));
            named
        }
        None if !clauses.is_empty() => region.tagged(&clauses),
        None => region.all_positions(),
    };
    if let Some(zone) = zone {
        positions.retain(|&at| region.peek(at).zone == zone);
    }
    if let Some(status) = status {
        positions.retain(|&at| region.at(at, ctx.now).phase == status);
    }
    let (range, mut meta) = page_of_keyed(&positions, params, 100, 10, true)?;
    let page: Vec<Value> = positions[range]
        .iter()
        .map(|&at| describe(region.at(at, ctx.now), ctx.region))
        .collect();
    meta.insert("Instances".into(), json!({"Instance": page}));
    Ok(Value::Object(meta))
}

/// The regions' names in Chinese and English, for `LocalName`.
fn local_names(region: &str) -> (&'static str, &'static str) {
    match region {
        "cn-hangzhou" => ("华东1（杭州）", "China (Hangzhou)"),
        "cn-shanghai" => ("华东2（上海）", "China (Shanghai)"),
        "cn-beijing" => ("华北2（北京）", "China (Beijing)"),
        "cn-shenzhen" => ("华南1（深圳）", "China (Shenzhen)"),
        "cn-hongkong" => ("中国香港", "China (Hong Kong)"),
        "ap-southeast-1" => ("新加坡", "Singapore"),
        "us-west-1" => ("美国（硅谷）", "US (Silicon Valley)"),
        "eu-central-1" => ("德国（法兰克福）", "Germany (Frankfurt)"),
        _ => ("", ""),
    }
}

/// `DescribeRegions`: every region the simulator serves, `available`; `LocalName` in Chinese
/// unless `AcceptLanguage` asks for another language (docs/vendors/alibaba.md, "Selecting
/// instances by tag").
pub fn describe_regions(
    _world: &mut World,
    _ctx: &Ctx<'_>,
    params: &Params,
) -> Result<Value, AliError> {
    let chinese = match params.get("AcceptLanguage") {
        None => true,
        Some(lang) => lang.to_ascii_lowercase().starts_with("zh"),
    };
    let regions: Vec<Value> = known_regions(P)
        .iter()
        .map(|region| {
            let (zh, en) = local_names(region);
            json!({
                "RegionId": region,
                "LocalName": if chinese { zh } else { en },
                "RegionEndpoint": format!("ecs.{region}.aliyuncs.com"),
                "Status": "available",
            })
        })
        .collect();
    Ok(json!({"Regions": {"Region": regions}}))
}
