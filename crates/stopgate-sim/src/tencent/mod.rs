//! The simulated Tencent Cloud API 3.0 endpoint: CVM 2017-03-12 and TAT 2020-10-28, chosen by
//! `X-TC-Version`. Every answer is HTTP 200 with `Content-Type: application/json` exactly
//! (docs/vendors/tencent.md, §3.3: the Python SDK ignores errors under any other content type).

mod auth;
pub mod body;
mod cvm;
pub mod sts;
mod tat;

use std::sync::Arc;
use std::time::Instant;

use serde_json::{Value, json};
use time::OffsetDateTime;
use time::macros::format_description;

use super::faults::{FaultKind, FaultPhase};
use super::server::{HttpRequest, Reply};
use super::timings::Timings;
use super::world::{World, known_regions};
use super::{Call, Gate, SimState, json_mentions, new_request_id};
use body::{Body, TcError};
use stopgate_vendor::Provider;

/// What an action handler gets besides the world and its body.
pub(crate) struct Ctx<'a> {
    pub account: &'a str,
    pub region: &'a str,
    pub request_id: &'a str,
    pub timings: Timings,
    pub now: Instant,
}

type Handler = fn(&mut World, &Ctx<'_>, &Body) -> Result<Value, TcError>;

/// Every action served (CVM, then TAT).
pub const ACTIONS: [&str; 9] = [
    "StopInstances",
    "StartInstances",
    "DescribeInstancesStatus",
    "DescribeInstances",
    "DescribeRegions",
    "RunCommand",
    "CancelInvocation",
    "DescribeInvocations",
    "DescribeInvocationTasks",
];

fn handler(service: &str, action: &str) -> Option<Handler> {
    Some(match (service, action) {
        ("cvm", "StopInstances") => cvm::stop_instances as Handler,
        ("cvm", "StartInstances") => cvm::start_instances,
        ("cvm", "DescribeInstancesStatus") => cvm::describe_instances_status,
        ("cvm", "DescribeInstances") => cvm::describe_instances,
        ("cvm", "DescribeRegions") => cvm::describe_regions,
        ("tat", "RunCommand") => tat::run_command,
        ("tat", "CancelInvocation") => tat::cancel_invocation,
        ("tat", "DescribeInvocations") => tat::describe_invocations,
        ("tat", "DescribeInvocationTasks") => tat::describe_invocation_tasks,
        _ => return None,
    })
}

/// Tencent's `YYYY-MM-DDThh:mm:ssZ`.
pub(crate) fn time_text(at: Option<OffsetDateTime>) -> Value {
    let fmt = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    at.and_then(|t| t.format(fmt).ok())
        .map(Value::String)
        .unwrap_or(Value::Null)
}

fn envelope(mut response: Value, request_id: &str) -> Reply {
    response["RequestId"] = json!(request_id);
    Reply::with_body(
        200,
        "application/json",
        json!({ "Response": response }).to_string(),
    )
}

fn render_error(error: &TcError, request_id: &str) -> Reply {
    envelope(
        json!({"Error": {"Code": error.code, "Message": error.message}}),
        request_id,
    )
}

/// Serves one Tencent request.
pub async fn handle(state: &Arc<SimState>, request: HttpRequest) -> Reply {
    let request_id = new_request_id(Provider::Tencent);
    let action = request
        .header("x-tc-action")
        .unwrap_or_default()
        .to_string();
    let version = request
        .header("x-tc-version")
        .unwrap_or_default()
        .to_string();
    if version == sts::VERSION {
        return sts::handle(state, &request, &request_id).await;
    }
    let service = match version.as_str() {
        "2017-03-12" => "cvm",
        "2020-10-28" => "tat",
        _ => "",
    };
    let raw_params = if request.method == http::Method::GET {
        let pairs: Vec<(String, String)> = form_urlencoded::parse(request.query.as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        body::unflatten(&pairs)
    } else if request.body.is_empty() {
        Ok(json!({}))
    } else {
        serde_json::from_slice::<Value>(&request.body).map_err(|e| {
            TcError::new(
                "InvalidParameter",
                format!("The request body is not valid JSON: {e}."),
            )
        })
    };
    let mut call = Call::new(
        Provider::Tencent,
        if service.is_empty() {
            "unknown"
        } else {
            service
        },
        action.clone(),
        request
            .header("x-tc-region")
            .unwrap_or_default()
            .to_string(),
        raw_params.clone().unwrap_or(Value::Null),
        request_id.clone(),
    );
    let fail = |call: &Call, error: TcError| {
        state.log(call, &error.code, 200);
        render_error(&error, &request_id)
    };

    if service.is_empty() {
        return fail(
            &call,
            TcError::new(
                "NoSuchVersion",
                format!(
                    "The API version `{version}` does not exist: use 2017-03-12 (cvm) or 2020-10-28 (tat)."
                ),
            ),
        );
    }
    call.account = match auth::verify(state, &request, service) {
        Ok(account) => account,
        Err(error) => return fail(&call, error),
    };
    let Some(handler) = handler(service, &action) else {
        return fail(
            &call,
            TcError::new(
                "InvalidAction",
                format!("The action `{action}` does not exist in {service} {version}."),
            ),
        );
    };
    // DescribeRegions needs no region (docs/vendors/tencent.md, "Selecting instances by tag").
    let region_optional = (service, action.as_str()) == ("cvm", "DescribeRegions");
    if call.region.is_empty() && !region_optional {
        return fail(
            &call,
            TcError::new(
                "MissingParameter",
                "The parameter `Region` (header X-TC-Region) is missing.",
            ),
        );
    }
    if !call.region.is_empty() && !known_regions(Provider::Tencent).contains(&call.region.as_str())
    {
        return fail(
            &call,
            TcError::new(
                "UnsupportedRegion",
                format!("The API does not support the region `{}`.", call.region),
            ),
        );
    }
    let body = match raw_params.and_then(Body::from_value) {
        Ok(body) => body,
        Err(error) => return fail(&call, error),
    };

    let params = call.params.clone();
    match state.gate(&call, &|id| json_mentions(&params, id)).await {
        Gate::Proceed => {}
        Gate::Throttled { per_second, .. } => {
            return fail(
                &call,
                TcError::new(
                    "RequestLimitExceeded",
                    format!(
                        "Your requests exceed the frequency limit `{per_second}` per second for `{action}`. Please reduce the frequency of calls."
                    ),
                ),
            );
        }
        Gate::Fault(kind) => {
            call.fault_phase = Some(FaultPhase::Before);
            return render_fault(state, &call, kind, &request_id);
        }
    }

    let ctx = Ctx {
        account: &call.account,
        region: &call.region,
        request_id: &request_id,
        timings: state.timings(),
        now: Instant::now(),
    };
    let result = handler(&mut state.world(), &ctx, &body);
    call.applied = result.is_ok();
    if let Some(kind) = state
        .after_action(&call, &|id| json_mentions(&params, id))
        .await
    {
        call.fault_phase = Some(FaultPhase::After);
        call.action_outcome = Some(match &result {
            Ok(_) => "ok".to_string(),
            Err(error) => error.code.clone(),
        });
        return render_fault(state, &call, kind, &request_id);
    }
    match result {
        Ok(response) => {
            state.log(&call, "ok", 200);
            envelope(response, &request_id)
        }
        Err(error) => fail(&call, error),
    }
}

/// Answers a request whose body is over the simulator's limit with Tencent's common error
/// `RequestSizeLimitExceeded`.
pub(crate) fn too_large(state: &SimState, request: &HttpRequest, limit: usize) -> Reply {
    let request_id = new_request_id(Provider::Tencent);
    let service = match request.header("x-tc-version") {
        Some("2017-03-12") => "cvm",
        Some("2020-10-28") => "tat",
        _ => "unknown",
    };
    let call = Call::new(
        Provider::Tencent,
        service,
        request
            .header("x-tc-action")
            .unwrap_or_default()
            .to_string(),
        request
            .header("x-tc-region")
            .unwrap_or_default()
            .to_string(),
        Value::Null,
        request_id.clone(),
    );
    let error = TcError::new(
        "RequestSizeLimitExceeded",
        format!("The request body is larger than the limit of {limit} bytes."),
    );
    state.log(&call, &error.code, 200);
    render_error(&error, &request_id)
}

fn render_fault(state: &SimState, call: &Call, kind: FaultKind, request_id: &str) -> Reply {
    match kind {
        FaultKind::Error { code, message, .. } => {
            state.log(call, &code, 200);
            let message = message.unwrap_or_else(|| format!("Injected fault {code}."));
            render_error(&TcError::new(&code, message), request_id)
        }
        other => state.transport_fault(
            call,
            other,
            (
                "application/json",
                format!("{{\"Response\": {{\"RequestId\": \"{request_id}\", \"Instan"),
            ),
        ),
    }
}
