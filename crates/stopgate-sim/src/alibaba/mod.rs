//! The simulated Alibaba Cloud ECS RPC endpoint (API version 2014-05-26): parses V2 and V3
//! requests, authenticates them, runs them through faults and throttling, dispatches the action
//! and renders JSON or XML.

mod assistant;
mod auth;
mod ecs;
pub mod params;
pub mod sts;
mod xml;

use std::sync::Arc;
use std::time::Instant;

use serde_json::{Value, json};

use super::faults::{FaultKind, FaultPhase};
use super::server::{HttpRequest, Reply};
use super::timings::Timings;
use super::world::{World, known_regions};
use super::{Call, Gate, SimState, new_request_id};
use params::{AliError, Params};
use stopgate_vendor::Provider;

/// The only API version served.
pub const VERSION: &str = "2014-05-26";

/// What an action handler gets besides the world and its parameters.
pub(crate) struct Ctx<'a> {
    pub account: &'a str,
    pub region: &'a str,
    pub timings: Timings,
    pub now: Instant,
}

type Handler = fn(&mut World, &Ctx<'_>, &Params) -> Result<Value, AliError>;

/// Every action served.
pub const ACTIONS: [&str; 10] = [
    "StopInstance",
    "StopInstances",
    "StartInstances",
    "DescribeInstanceStatus",
    "DescribeInstances",
    "DescribeRegions",
    "RunCommand",
    "StopInvocation",
    "DescribeInvocations",
    "DescribeInvocationResults",
];

fn handler(action: &str) -> Option<(Handler, bool)> {
    // (handler, whether RegionId is required: StopInstance has none, docs/vendors/alibaba.md, §2.1)
    Some(match action {
        "StopInstance" => (ecs::stop_instance as Handler, false),
        "StopInstances" => (ecs::stop_instances, true),
        "StartInstances" => (ecs::start_instances, true),
        "DescribeInstanceStatus" => (ecs::describe_instance_status, true),
        "DescribeInstances" => (ecs::describe_instances, true),
        "DescribeRegions" => (ecs::describe_regions, false),
        "RunCommand" => (assistant::run_command, true),
        "StopInvocation" => (assistant::stop_invocation, true),
        "DescribeInvocations" => (assistant::describe_invocations, true),
        "DescribeInvocationResults" => (assistant::describe_invocation_results, true),
        _ => return None,
    })
}

fn decode_pairs(raw: &[u8]) -> Vec<(String, String)> {
    form_urlencoded::parse(raw)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// How to render the answer.
#[derive(Clone, Copy, PartialEq)]
enum Format {
    Json,
    Xml,
}

fn render_error(error: &AliError, request_id: &str, format: Format) -> Reply {
    let body = json!({
        "RequestId": request_id,
        "HostId": "ecs.aliyuncs.com",
        "Code": error.code,
        "Message": error.message,
        "Recommend": format!("https://api.aliyun.com/troubleshoot?q={}&product=Ecs&requestId={request_id}", error.code),
    });
    let mut reply = match format {
        Format::Json => Reply::with_body(
            error.status,
            "application/json;charset=utf-8",
            body.to_string(),
        ),
        Format::Xml => Reply::with_body(
            error.status,
            "text/xml;charset=utf-8",
            xml::to_xml("Error", &body),
        ),
    };
    if let (Some(ms), Reply::Response(response)) = (error.retry_after_ms, &mut reply) {
        response
            .headers_mut()
            .insert("x-acs-retry-after", ms.into());
    }
    reply
}

fn render_success(action: &str, mut body: Value, request_id: &str, format: Format) -> Reply {
    body["RequestId"] = json!(request_id);
    match format {
        Format::Json => Reply::with_body(200, "application/json;charset=utf-8", body.to_string()),
        Format::Xml => Reply::with_body(
            200,
            "text/xml;charset=utf-8",
            xml::to_xml(&format!("{action}Response"), &body),
        ),
    }
}

/// Serves one Alibaba request.
pub async fn handle(state: &Arc<SimState>, request: HttpRequest) -> Reply {
    let request_id = new_request_id(Provider::Alibaba);
    let query = decode_pairs(request.query.as_bytes());
    let is_form = request
        .header("content-type")
        .is_some_and(|c| c.starts_with("application/x-www-form-urlencoded"));
    let mut all = query.clone();
    if is_form {
        all.extend(decode_pairs(&request.body));
    }
    let get = |name: &str| {
        all.iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    // V3 carries the action in a header; a V3-shaped request without a usable Authorization
    // is an incomplete V3 signature, not a V2 request (docs/vendors/alibaba.md, §1.3).
    let v3 = request
        .header("authorization")
        .is_some_and(|a| a.starts_with("ACS3-"))
        || (request.headers.contains_key("x-acs-action") && get("Signature").is_none());
    let (action, version) = if v3 {
        (
            request.header("x-acs-action").map(str::to_string),
            request.header("x-acs-version").map(str::to_string),
        )
    } else {
        (get("Action"), get("Version"))
    };
    // V2 answers in XML unless it asks for JSON (docs/vendors/alibaba.md, §1.2 Format default xml).
    let format = match (v3, get("Format")) {
        (true, _) => Format::Json,
        (false, Some(f)) if f.eq_ignore_ascii_case("json") => Format::Json,
        _ => Format::Xml,
    };
    if version.as_deref() == Some(sts::VERSION) {
        return sts::handle(
            state,
            &request,
            &query,
            &all,
            v3,
            action.as_deref(),
            &request_id,
        )
        .await;
    }
    let params = Params::from_pairs(&all);
    let mut call = Call::new(
        Provider::Alibaba,
        "ecs",
        action.clone().unwrap_or_default(),
        params.get("RegionId").unwrap_or_default().to_string(),
        params.to_json(),
        request_id.clone(),
    );
    let fail = |call: &Call, error: AliError| {
        state.log(call, &error.code, error.status);
        render_error(&error, &request_id, format)
    };

    let auth = if v3 {
        auth::verify_v3(state, &request, &query)
    } else {
        auth::verify_v2(state, request.method.as_str(), &all)
    };
    call.account = match auth {
        Ok(account) => account,
        Err(error) => return fail(&call, error),
    };
    let Some(action) = action else {
        return fail(&call, AliError::missing("Action"));
    };
    if version.as_deref() != Some(VERSION) {
        return fail(
            &call,
            AliError::new(
                400,
                "InvalidParameter",
                "The specified parameter \"Action or Version\" is not valid.",
            ),
        );
    }
    let Some((handler, needs_region)) = handler(&action) else {
        return fail(
            &call,
            AliError::new(403, "InvalidAction", "Specified action is not valid."),
        );
    };
    if needs_region || !call.region.is_empty() {
        if call.region.is_empty() {
            return fail(&call, AliError::missing("RegionId"));
        }
        if !known_regions(Provider::Alibaba).contains(&call.region.as_str()) {
            return fail(
                &call,
                AliError::new(
                    404,
                    "InvalidRegionId.NotFound",
                    "The specified RegionId does not exist.",
                ),
            );
        }
    }

    match state.gate(&call, &|id| params.mentions(id)).await {
        Gate::Proceed => {}
        Gate::Throttled { retry_after_ms, .. } => {
            let mut error = AliError::new(
                400,
                "Throttling.User",
                "Request was denied due to user flow control.",
            );
            error.retry_after_ms = Some(retry_after_ms);
            state.log_with_retry_after(&call, &error.code, error.status, error.retry_after_ms);
            return render_error(&error, &request_id, format);
        }
        Gate::Fault(kind) => {
            call.fault_phase = Some(FaultPhase::Before);
            return render_fault(state, &call, kind, &request_id, format);
        }
    }

    let ctx = Ctx {
        account: &call.account,
        region: &call.region,
        timings: state.timings(),
        now: Instant::now(),
    };
    let result = handler(&mut state.world(), &ctx, &params);
    call.applied = result.is_ok();
    if let Some(kind) = state.after_action(&call, &|id| params.mentions(id)).await {
        call.fault_phase = Some(FaultPhase::After);
        call.action_outcome = Some(match &result {
            Ok(_) => "ok".to_string(),
            Err(error) => error.code.clone(),
        });
        return render_fault(state, &call, kind, &request_id, format);
    }
    match result {
        Ok(body) => {
            state.log(&call, "ok", 200);
            render_success(&action, body, &request_id, format)
        }
        Err(error) => fail(&call, error),
    }
}

/// Answers a request whose body is over the simulator's limit (HTTP 413; Alibaba documents no
/// code for this, so the code is the simulator's choice).
pub(crate) fn too_large(state: &SimState, request: &HttpRequest, limit: usize) -> Reply {
    let request_id = new_request_id(Provider::Alibaba);
    let query = decode_pairs(request.query.as_bytes());
    let get = |name: &str| {
        query
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let v3 = request.headers.contains_key("x-acs-action");
    let action = match v3 {
        true => request.header("x-acs-action").map(str::to_string),
        false => get("Action"),
    };
    let format = match (v3, get("Format")) {
        (true, _) => Format::Json,
        (false, Some(f)) if f.eq_ignore_ascii_case("json") => Format::Json,
        _ => Format::Xml,
    };
    let call = Call::new(
        Provider::Alibaba,
        "ecs",
        action.unwrap_or_default(),
        get("RegionId").unwrap_or_default(),
        Value::Null,
        request_id.clone(),
    );
    let error = AliError::new(
        413,
        "RequestEntityTooLarge",
        format!("The request body is larger than the limit of {limit} bytes."),
    );
    state.log(&call, &error.code, error.status);
    render_error(&error, &request_id, format)
}

fn render_fault(
    state: &SimState,
    call: &Call,
    kind: FaultKind,
    request_id: &str,
    format: Format,
) -> Reply {
    match kind {
        FaultKind::Error {
            code,
            message,
            http_status,
        } => {
            let status = http_status.unwrap_or(400);
            let message = message.unwrap_or_else(|| format!("Injected fault {code}."));
            let error = AliError::new(status, &code, message);
            state.log(call, &code, status);
            render_error(&error, request_id, format)
        }
        other => state.transport_fault(
            call,
            other,
            (
                "application/json;charset=utf-8",
                format!("{{\"RequestId\":\"{request_id}\",\"Instan"),
            ),
        ),
    }
}
