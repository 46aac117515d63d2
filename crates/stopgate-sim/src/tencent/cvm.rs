//! Simulated CVM actions: StopInstances, StartInstances, DescribeInstancesStatus,
//! DescribeInstances (also by tag filters), DescribeRegions (docs/vendors/tencent.md, §2, §2.5).
//! One error code for the whole request, nothing changed.

use serde_json::{Value, json};

use super::body::{Body, TcError};
use super::{Ctx, time_text};
use crate::instance::{Instance, Phase, StopKind, StoppedMode};
use crate::world::{RegionState, TagClause, TagTerm, World, known_regions};
use stopgate_vendor::Provider;

const P: Provider = Provider::Tencent;

/// `ins-` + 8 lowercase letters or digits (docs/vendors/tencent.md, §2.1 `InvalidParameterValue.InstanceIdMalformed`).
pub fn is_instance_id(id: &str) -> bool {
    id.strip_prefix("ins-").is_some_and(|rest| {
        rest.len() == 8
            && rest
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    })
}

/// `UPPER_SNAKE` → `UpperCamel`, for `UnsupportedOperation.InstanceState<State>`.
fn camel(state: &str) -> String {
    state
        .split('_')
        .map(|w| {
            let lower = w.to_ascii_lowercase();
            let mut chars = lower.chars();
            chars
                .next()
                .map(|c| c.to_ascii_uppercase().to_string() + chars.as_str())
                .unwrap_or_default()
        })
        .collect()
}

fn instance_ids(body: &Body, required: bool) -> Result<Vec<String>, TcError> {
    let ids = match body.strings("InstanceIds")? {
        Some(ids) if !ids.is_empty() => ids,
        _ if required => return Err(TcError::missing("InstanceIds")),
        _ => return Ok(Vec::new()),
    };
    if ids.len() > 100 {
        return Err(TcError::new(
            "InvalidParameterValue.LimitExceeded",
            "At most 100 `InstanceIds` are allowed per request.",
        ));
    }
    if let Some(bad) = ids.iter().find(|id| !is_instance_id(id)) {
        return Err(TcError::new(
            "InvalidInstanceId.Malformed",
            format!(
                "The instance ID `{bad}` is malformed: expected `ins-xxxxxxxx` with 8 lowercase letters or digits."
            ),
        ));
    }
    let mut unique = Vec::with_capacity(ids.len());
    for id in ids {
        if !unique.contains(&id) {
            unique.push(id);
        }
    }
    Ok(unique)
}

fn check_exist(region: &RegionState, ids: &[String]) -> Result<(), TcError> {
    let missing: Vec<&String> = ids.iter().filter(|id| !region.has_instance(id)).collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(TcError::new(
            "InvalidInstanceId.NotFound",
            format!("The instances {missing:?} do not exist."),
        ))
    }
}

/// The state and lock checks of a stop or start (docs/vendors/tencent.md, §2.4 table).
fn check_state(instance: &Instance, expected: Phase) -> Result<(), TcError> {
    if let Some(lock) = &instance.lock {
        return Err(TcError::new(
            &format!("UnsupportedOperation.InstanceState{}", camel(lock)),
            format!(
                "Unsupported operation: instance `{}` is {lock}.",
                instance.id
            ),
        ));
    }
    if instance.phase == expected {
        return Ok(());
    }
    let state = instance.phase.vendor_name(P);
    let code = if instance.phase == Phase::LaunchFailed {
        "InvalidInstance.NotSupported".to_string()
    } else {
        format!("UnsupportedOperation.InstanceState{}", camel(state))
    };
    Err(TcError::new(
        &code,
        format!(
            "Unsupported operation: instance `{}` is in state `{state}`.",
            instance.id
        ),
    ))
}

/// `StopInstances` (docs/vendors/tencent.md, §2.1, §6 items 1–5).
pub fn stop_instances(world: &mut World, ctx: &Ctx<'_>, body: &Body) -> Result<Value, TcError> {
    body.only(&["InstanceIds", "ForceStop", "StopType", "StoppedMode"])?;
    let ids = instance_ids(body, true)?;
    let force_stop = body.bool("ForceStop")?;
    let stop_type = body.string("StopType")?;
    if force_stop.is_some() && stop_type.is_some() {
        return Err(TcError::new(
            "InvalidParameterCombination",
            "`ForceStop` and `StopType` cannot be set at the same time.",
        ));
    }
    let kind = match stop_type {
        None if force_stop == Some(true) => StopKind::GracefulThenForce,
        None | Some("SOFT") => StopKind::Graceful,
        Some("HARD") => StopKind::Force,
        Some("SOFT_FIRST") => StopKind::GracefulThenForce,
        Some(other) => {
            return Err(TcError::invalid_value(
                "StopType",
                &format!("`{other}` is not SOFT, HARD or SOFT_FIRST"),
            ));
        }
    };
    let mode = match body.string("StoppedMode")? {
        None | Some("KEEP_CHARGING") => StoppedMode::KeepCharging,
        Some("STOP_CHARGING") => StoppedMode::StopCharging,
        Some(other) => {
            return Err(TcError::invalid_value(
                "StoppedMode",
                &format!("`{other}` is not KEEP_CHARGING or STOP_CHARGING"),
            ));
        }
    };
    let region = world.region(P, ctx.account, ctx.region);
    check_exist(region, &ids)?;
    for id in &ids {
        let instance = region.instance(id, ctx.now).expect("exists");
        if mode == StoppedMode::StopCharging && !instance.supports_stop_charging() {
            return Err(TcError::new(
                "UnsupportedOperation.StoppedModeStopCharging",
                format!(
                    "Instance `{id}` does not support STOP_CHARGING (only pay-as-you-go instances with cloud disks do)."
                ),
            ));
        }
        check_state(instance, Phase::Running)?;
    }
    for id in &ids {
        let instance = region.instance(id, ctx.now).expect("exists");
        instance.begin_stop(
            kind,
            Some(mode),
            &ctx.timings,
            ctx.now,
            Some(("StopInstances", ctx.request_id)),
        );
    }
    Ok(json!({}))
}

/// `StartInstances`: STOPPED → STARTING → RUNNING.
pub fn start_instances(world: &mut World, ctx: &Ctx<'_>, body: &Body) -> Result<Value, TcError> {
    body.only(&["InstanceIds"])?;
    let ids = instance_ids(body, true)?;
    let region = world.region(P, ctx.account, ctx.region);
    check_exist(region, &ids)?;
    for id in &ids {
        check_state(
            region.instance(id, ctx.now).expect("exists"),
            Phase::Stopped,
        )?;
    }
    for id in &ids {
        let instance = region.instance(id, ctx.now).expect("exists");
        instance.begin_start(
            &ctx.timings,
            ctx.now,
            Some(("StartInstances", ctx.request_id)),
        );
    }
    Ok(json!({}))
}

/// The instances a describe call names (through the id index), or all of them when it names
/// none.
fn selected<'a>(
    region: &'a mut RegionState,
    ids: &[String],
    now: std::time::Instant,
) -> Vec<&'a Instance> {
    if ids.is_empty() {
        region.instances(now).iter().collect()
    } else {
        region.select(ids, now)
    }
}

/// `DescribeInstancesStatus`: unknown ids are left out (docs/vendors/tencent.md, §2.2).
pub fn describe_instances_status(
    world: &mut World,
    ctx: &Ctx<'_>,
    body: &Body,
) -> Result<Value, TcError> {
    body.only(&["InstanceIds", "Offset", "Limit"])?;
    let ids = instance_ids(body, false)?;
    let (offset, limit) = body.paging()?;
    let region = world.region(P, ctx.account, ctx.region);
    let all = selected(region, &ids, ctx.now);
    let total = all.len();
    let page: Vec<Value> = all
        .into_iter()
        .skip(offset)
        .take(limit)
        .map(|i| json!({"InstanceId": i.id, "InstanceState": i.phase.vendor_name(P)}))
        .collect();
    Ok(json!({"TotalCount": total, "InstanceStatusSet": page}))
}

fn restrict_state(instance: &Instance) -> (&'static str, &'static str) {
    match instance.lock.as_deref() {
        Some("freezing") => ("EXPIRED", "ARREAR"),
        Some("banning") | Some("isolating") => ("PROTECTIVELY_ISOLATED", "MANMADE"),
        _ => ("NORMAL", "NOTISOLATED"),
    }
}

fn describe(instance: &Instance) -> Value {
    let (restrict, isolated) = restrict_state(instance);
    let stop_charging = match (instance.phase, instance.stopped_mode) {
        (Phase::Stopped, Some(mode)) => mode.vendor_name(P),
        _ => "NOT_APPLICABLE",
    };
    let op = instance.latest_operation.as_ref();
    json!({
        "InstanceId": instance.id,
        "InstanceName": instance.name,
        "InstanceState": instance.phase.vendor_name(P),
        "InstanceType": instance.instance_type,
        "InstanceChargeType": instance.charge_type,
        "Placement": {"Zone": instance.zone, "ProjectId": 0},
        "CPU": 2,
        "Memory": 4,
        "OsName": "TencentOS Server 3.1",
        "CreatedTime": time_text(Some(instance.created_at)),
        "ExpiredTime": Value::Null,
        "Uuid": format!("sim-{}", instance.id),
        "LatestOperation": op.map(|o| o.name.clone()),
        "LatestOperationState": op.map(|o| o.state.vendor_name()),
        "LatestOperationRequestId": op.map(|o| o.request_id.clone()),
        "LatestOperationErrorMsg": op.and_then(|o| o.error.clone()),
        "StopChargingMode": stop_charging,
        "RestrictState": restrict,
        "IsolatedSource": isolated,
        "DisableApiTermination": false,
        "Tags": instance
            .tags
            .iter()
            .map(|(k, v)| json!({"Key": k, "Value": v}))
            .collect::<Vec<Value>>(),
    })
}

/// The longest tag key and value Tencent accepts, in characters (docs/vendors/tencent.md,
/// "Selecting instances by tag").
const MAX_TAG_KEY_LEN: usize = 127;
const MAX_TAG_VALUE_LEN: usize = 255;

fn illegal_tag_key(key: &str) -> TcError {
    let shown: String = key.chars().take(64).collect();
    TcError::new(
        "FailedOperation.IllegalTagKey",
        format!(
            "The tag key `{shown}` is illegal: a tag key has 1 to {MAX_TAG_KEY_LEN} characters."
        ),
    )
}

fn check_tag_key(key: &str) -> Result<(), TcError> {
    if key.is_empty() || key.chars().count() > MAX_TAG_KEY_LEN || key.chars().any(char::is_control)
    {
        return Err(illegal_tag_key(key));
    }
    Ok(())
}

fn check_tag_value(value: &str) -> Result<(), TcError> {
    if value.chars().count() > MAX_TAG_VALUE_LEN || value.chars().any(char::is_control) {
        let shown: String = value.chars().take(64).collect();
        return Err(TcError::new(
            "FailedOperation.IllegalTagValue",
            format!(
                "The tag value `{shown}` is illegal: a tag value has at most {MAX_TAG_VALUE_LEN} characters."
            ),
        ));
    }
    Ok(())
}

/// The tag filters as clauses (values of one filter are alternatives; filters all hold), and
/// the other filters as they came.
type SplitFilters = (Vec<TagClause>, Vec<(String, Vec<String>)>);

fn split_tag_filters(filters: Vec<(String, Vec<String>)>) -> Result<SplitFilters, TcError> {
    let mut clauses = Vec::new();
    let mut rest = Vec::new();
    for (name, values) in filters {
        let clause: TagClause = if let Some(key) = name.strip_prefix("tag:") {
            check_tag_key(key)?;
            values
                .iter()
                .map(|v| check_tag_value(v).map(|()| TagTerm::Pair(key.into(), v.clone())))
                .collect::<Result<_, _>>()?
        } else if name == "tag-key" {
            values
                .iter()
                .map(|k| check_tag_key(k).map(|()| TagTerm::Key(k.clone())))
                .collect::<Result<_, _>>()?
        } else if name == "tag-value" {
            values
                .iter()
                .map(|v| check_tag_value(v).map(|()| TagTerm::Value(v.clone())))
                .collect::<Result<_, _>>()?
        } else {
            rest.push((name, values));
            continue;
        };
        clauses.push(clause);
    }
    Ok((clauses, rest))
}

/// `DescribeInstances` with `InstanceIds` or `Filters` (not both): filters all hold, the
/// values of one filter are alternatives; `tag:KEY` matches the tag KEY with one of the
/// values, `tag-key` any of the keys, `tag-value` any tag with one of the values. Instances
/// come in creation order, `Offset`/`Limit` page them and `TotalCount` counts every match
/// (docs/vendors/tencent.md, §2.3 and "Selecting instances by tag").
pub fn describe_instances(world: &mut World, ctx: &Ctx<'_>, body: &Body) -> Result<Value, TcError> {
    body.only(&["InstanceIds", "Filters", "Offset", "Limit"])?;
    let ids = instance_ids(body, false)?;
    if !ids.is_empty() && body.has("Filters") {
        return Err(TcError::new(
            "InvalidParameter",
            "The parameters `InstanceIds` and `Filters` cannot be specified at the same time.",
        ));
    }
    let filters = body.filters(
        &[
            "instance-id",
            "instance-state",
            "zone",
            "instance-name",
            "instance-charge-type",
            "tag-key",
            "tag-value",
            "tag:",
        ],
        "InvalidFilter",
        "InvalidFilterValue.LimitExceeded",
    )?;
    let (clauses, filters) = split_tag_filters(filters)?;
    let (offset, limit) = body.paging()?;
    let region = world.region(P, ctx.account, ctx.region);
    let mut positions = if !ids.is_empty() {
        region.positions_of(&ids)
    } else {
        region.tagged(&clauses)
    };
    for (name, values) in &filters {
        positions.retain(|&at| {
            let i = if name == "instance-state" {
                region.at(at, ctx.now)
            } else {
                region.peek(at)
            };
            let field = match name.as_str() {
                "instance-id" => i.id.as_str(),
                "instance-state" => i.phase.vendor_name(P),
                "zone" => i.zone.as_str(),
                "instance-name" => i.name.as_str(),
                _ => i.charge_type.as_str(),
            };
            values.iter().any(|v| v == field)
        });
    }
    let total = positions.len();
    let page: Vec<Value> = positions
        .iter()
        .skip(offset)
        .take(limit)
        .map(|&at| describe(region.at(at, ctx.now)))
        .collect();
    Ok(json!({"TotalCount": total, "InstanceSet": page}))
}

/// The English names of the regions served, as `RegionName`.
fn region_name(region: &str) -> &'static str {
    match region {
        "ap-guangzhou" => "South China (Guangzhou)",
        "ap-shanghai" => "East China (Shanghai)",
        "ap-beijing" => "North China (Beijing)",
        "ap-hongkong" => "Hong Kong/Macao/Taiwan (Hong Kong, China)",
        "ap-singapore" => "Southeast Asia (Singapore)",
        "na-siliconvalley" => "West US (Silicon Valley)",
        "eu-frankfurt" => "Europe (Frankfurt)",
        _ => "",
    }
}

/// `DescribeRegions`: every region the simulator serves, `AVAILABLE`; takes no parameters and
/// needs no `Region` (docs/vendors/tencent.md, "Selecting instances by tag").
pub fn describe_regions(_world: &mut World, _ctx: &Ctx<'_>, body: &Body) -> Result<Value, TcError> {
    body.only(&[])?;
    let regions: Vec<Value> = known_regions(P)
        .iter()
        .map(|r| json!({"Region": r, "RegionName": region_name(r), "RegionState": "AVAILABLE"}))
        .collect();
    Ok(json!({"TotalCount": regions.len(), "RegionSet": regions}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_codes_are_the_documented_camel_case_names() {
        assert_eq!(camel("STOPPED"), "Stopped");
        assert_eq!(
            camel("ENTER_SERVICE_LIVE_MIGRATE"),
            "EnterServiceLiveMigrate"
        );
        assert_eq!(camel("banning"), "Banning");
    }

    #[test]
    fn instance_ids_must_be_ins_and_eight_lowercase_alphanumerics() {
        assert!(is_instance_id("ins-r8hr2upy"));
        assert!(!is_instance_id("ins-1122"));
        assert!(!is_instance_id("ins-R8HR2UPY"));
        assert!(!is_instance_id("i-r8hr2upy"));
    }
}
