//! The simulator's admin API under `/_sim/` (docs/simulator.md "Admin API"): seed the world,
//! set timings and rate limits, inject faults, read the call log, reset.

use std::sync::Arc;
use std::time::Instant;

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::SimState;
use super::credentials::{Credential, MAX_CREDENTIALS};
use super::faults::FaultSpec;
use super::identity::{InstanceRole, MAX_ENTRIES, OidcProvider, Role};
use super::seed::{InstanceSpec, InvocationSpec};
use super::server::{HttpRequest, Reply};
use super::timings::Timings;
use super::world::{MAX_REGIONS, World, known_regions};
use stopgate_vendor::Provider;

fn bad_request(message: impl Into<String>) -> Reply {
    Reply::json(400, &json!({ "error": message.into() }))
}

fn parse_body<T: DeserializeOwned>(request: &HttpRequest) -> Result<T, Reply> {
    let body: &[u8] = if request.body.is_empty() {
        b"{}"
    } else {
        &request.body
    };
    serde_json::from_slice(body).map_err(|e| bad_request(format!("invalid JSON body: {e}")))
}

fn query_param(request: &HttpRequest, name: &str) -> Option<String> {
    form_urlencoded::parse(request.query.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
        .filter(|v| !v.is_empty())
}

fn parse_provider(raw: Option<&str>) -> Result<Provider, Reply> {
    let raw =
        raw.ok_or_else(|| bad_request("\"provider\" is required: \"alibaba\" or \"tencent\""))?;
    raw.parse::<Provider>().map_err(bad_request)
}

/// At most the first 64 characters of caller input, for quoting in an error.
fn short(text: &str) -> String {
    text.chars().take(64).collect()
}

fn actions(provider: Provider) -> &'static [&'static str] {
    match provider {
        Provider::Alibaba => &super::alibaba::ACTIONS,
        Provider::Tencent => &super::tencent::ACTIONS,
    }
}

fn check_region(provider: Provider, region: &str) -> Result<(), Reply> {
    if known_regions(provider).contains(&region) {
        Ok(())
    } else {
        Err(bad_request(format!(
            "unknown {provider} region {:?}: use one of {:?}",
            short(region),
            known_regions(provider)
        )))
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SeedInstances {
    provider: String,
    region: String,
    account: Option<String>,
    /// Tags every instance of the batch carries; an instance's own tags add to them and win
    /// for the same key.
    tags: Option<std::collections::BTreeMap<String, String>>,
    instances: Vec<InstanceSpec>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ResetBody {
    seed: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TimingsBody {
    stop_ms: Option<u64>,
    force_stop_ms: Option<u64>,
    start_ms: Option<u64>,
    graceful_timeout_ms: Option<u64>,
    deliver_ms: Option<u64>,
    run_ms: Option<u64>,
    cancel_ms: Option<u64>,
    period_ms: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RateLimitBody {
    provider: String,
    action: Option<String>,
    per_second: Option<f64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CredentialBody {
    provider: String,
    access_key_id: String,
    secret: String,
    token: Option<String>,
    account: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RoleBody {
    provider: String,
    arn: String,
    account: Option<String>,
    lifetime_seconds: Option<u64>,
    max_session_seconds: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OidcProviderBody {
    provider: String,
    id: String,
    tokens: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InstanceRoleBody {
    provider: String,
    role_name: String,
    role_arn: String,
}

/// The longest session any of the vendors grants (12 hours).
const MAX_SESSION_SECONDS: u64 = 43_200;

/// Serves one admin request.
pub async fn handle(state: &Arc<SimState>, request: HttpRequest) -> Reply {
    let result = match (request.method.as_str(), request.path.as_str()) {
        ("GET", "/_sim/health") => Ok(Reply::json(200, &json!({ "status": "ok" }))),
        ("POST", "/_sim/reset") => reset(state, &request),
        ("POST", "/_sim/instances") => add_instances(state, &request),
        ("GET", "/_sim/instances") => list_instances(state, &request),
        ("POST", "/_sim/invocations") => add_invocation(state, &request),
        ("GET", "/_sim/invocations") => list_invocations(state, &request),
        ("GET", "/_sim/timings") => Ok(Reply::json(200, &json!(state.timings()))),
        ("POST", "/_sim/timings") => set_timings(state, &request),
        ("POST", "/_sim/ratelimits") => set_rate_limit(state, &request),
        ("GET", "/_sim/faults") => Ok(Reply::json(
            200,
            &json!({ "faults": super::lock(&state.faults).ids() }),
        )),
        ("POST", "/_sim/faults") => add_fault(state, &request),
        ("DELETE", "/_sim/faults") => {
            super::lock(&state.faults).clear();
            Ok(Reply::json(200, &json!({})))
        }
        ("GET", "/_sim/calls") => list_calls(state, &request),
        ("DELETE", "/_sim/calls") => {
            super::lock(&state.calls).clear();
            Ok(Reply::json(200, &json!({})))
        }
        ("POST", "/_sim/credentials") => add_credential(state, &request),
        ("POST", "/_sim/roles") => add_role(state, &request),
        ("POST", "/_sim/oidc-providers") => add_oidc_provider(state, &request),
        ("POST", "/_sim/instance-roles") => set_instance_role(state, &request),
        (method, path) => Err(Reply::json(
            404,
            &json!({ "error": format!("no admin route {method} {path}; see docs/simulator.md") }),
        )),
    };
    result.unwrap_or_else(|reply| reply)
}

fn reset(state: &SimState, request: &HttpRequest) -> Result<Reply, Reply> {
    let body: ResetBody = parse_body(request)?;
    let demo = match body.seed.as_deref() {
        None | Some("empty") => false,
        Some("demo") => true,
        Some(other) => {
            return Err(bad_request(format!(
                "seed {other:?}: use \"demo\" or \"empty\""
            )));
        }
    };
    state.world().clear();
    super::lock(&state.faults).clear();
    super::lock(&state.calls).clear();
    super::lock(&state.limits).reset();
    *super::lock(&state.timings) = Timings::default();
    state.identity().clear();
    state.credentials().forget_issued();
    if demo {
        state.seed_demo();
    }
    Ok(Reply::json(
        200,
        &json!({ "seed": if demo { "demo" } else { "empty" } }),
    ))
}

fn add_instances(state: &SimState, request: &HttpRequest) -> Result<Reply, Reply> {
    let body: SeedInstances = parse_body(request)?;
    let provider = parse_provider(Some(&body.provider))?;
    check_region(provider, &body.region)?;
    let account = body
        .account
        .unwrap_or_else(|| state.credentials().default_account(provider));
    let timings = state.timings();
    let now = Instant::now();
    let batch_tags = body.tags.unwrap_or_default();
    let built = body
        .instances
        .into_iter()
        .map(|mut spec| {
            if !batch_tags.is_empty() {
                let mut tags = batch_tags.clone();
                tags.extend(spec.tags.take().unwrap_or_default());
                spec.tags = Some(tags);
            }
            spec.build(provider, &body.region, &timings, now)
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(bad_request)?;
    let ids: Vec<String> = built.iter().map(|i| i.id.clone()).collect();
    let mut world = state.world();
    check_room(&world, provider, &account, &body.region)?;
    let region = world.region(provider, &account, &body.region);
    for instance in built {
        region.add_instance(instance);
    }
    Ok(Reply::json(200, &json!({ "instances": ids })))
}

fn check_room(world: &World, provider: Provider, account: &str, region: &str) -> Result<(), Reply> {
    if world.may_seed(provider, account, region) {
        Ok(())
    } else {
        Err(bad_request(format!(
            "the simulator already holds {MAX_REGIONS} provider × account × region parts; reset it (POST /_sim/reset) before seeding account {:?}",
            short(account)
        )))
    }
}

fn scope(state: &SimState, request: &HttpRequest) -> Result<(Provider, String, String), Reply> {
    let provider = parse_provider(query_param(request, "provider").as_deref())?;
    let region = query_param(request, "region")
        .ok_or_else(|| bad_request("query parameter \"region\" is required"))?;
    check_region(provider, &region)?;
    let account = query_param(request, "account")
        .unwrap_or_else(|| state.credentials().default_account(provider));
    Ok((provider, region, account))
}

fn list_instances(state: &SimState, request: &HttpRequest) -> Result<Reply, Reply> {
    let (provider, region, account) = scope(state, request)?;
    let mut world = state.world();
    let Some(region) = world.existing_region(provider, &account, &region) else {
        return Ok(Reply::json(200, &json!({ "instances": [] })));
    };
    let instances: Vec<Value> = region
        .instances(Instant::now())
        .iter()
        .map(|i| {
            let mut v = json!(i);
            v["state"] = json!(i.phase.vendor_name(provider));
            v["stopped_mode"] = json!(i.stopped_mode.map(|m| m.vendor_name(provider)));
            v
        })
        .collect();
    Ok(Reply::json(200, &json!({ "instances": instances })))
}

fn add_invocation(state: &SimState, request: &HttpRequest) -> Result<Reply, Reply> {
    let spec: InvocationSpec = parse_body(request)?;
    let provider = parse_provider(Some(&spec.provider))?;
    check_region(provider, &spec.region)?;
    let account = spec
        .account
        .clone()
        .unwrap_or_else(|| state.credentials().default_account(provider));
    let region_name = spec.region.clone();
    let timings = state.timings();
    let invocation = spec
        .build(provider, &timings, Instant::now())
        .map_err(bad_request)?;
    let mut world = state.world();
    check_room(&world, provider, &account, &region_name)?;
    let region = world.region(provider, &account, &region_name);
    if let Some(missing) = invocation
        .tasks
        .iter()
        .find(|t| !region.has_instance(&t.instance_id))
    {
        return Err(bad_request(format!(
            "instance {} is not in {provider} {region_name} (account {account}); seed it first",
            missing.instance_id
        )));
    }
    let id = invocation.id.clone();
    region.add_invocation(invocation);
    Ok(Reply::json(200, &json!({ "id": id })))
}

fn list_invocations(state: &SimState, request: &HttpRequest) -> Result<Reply, Reply> {
    let (provider, region, account) = scope(state, request)?;
    let run_ms = state.timings().run_ms;
    let mut world = state.world();
    let Some(region) = world.existing_region(provider, &account, &region) else {
        return Ok(Reply::json(200, &json!({ "invocations": [] })));
    };
    let list: Vec<Value> = region
        .invocations(Instant::now(), run_ms)
        .into_iter()
        .map(|inv| {
            let mut v = json!(inv);
            for (task, json_task) in inv
                .tasks
                .iter()
                .zip(v["tasks"].as_array_mut().into_iter().flatten())
            {
                json_task["state"] = json!(task.phase.vendor_name(provider));
            }
            v
        })
        .collect();
    Ok(Reply::json(200, &json!({ "invocations": list })))
}

fn set_timings(state: &SimState, request: &HttpRequest) -> Result<Reply, Reply> {
    let body: TimingsBody = parse_body(request)?;
    let mut guard = super::lock(&state.timings);
    let timings = &mut *guard;
    let fields = [
        (body.stop_ms, &mut timings.stop_ms),
        (body.force_stop_ms, &mut timings.force_stop_ms),
        (body.start_ms, &mut timings.start_ms),
        (body.graceful_timeout_ms, &mut timings.graceful_timeout_ms),
        (body.deliver_ms, &mut timings.deliver_ms),
        (body.run_ms, &mut timings.run_ms),
        (body.cancel_ms, &mut timings.cancel_ms),
        (body.period_ms, &mut timings.period_ms),
    ];
    for (value, slot) in fields {
        if let Some(v) = value {
            *slot = v;
        }
    }
    Ok(Reply::json(200, &json!(*timings)))
}

fn set_rate_limit(state: &SimState, request: &HttpRequest) -> Result<Reply, Reply> {
    let body: RateLimitBody = parse_body(request)?;
    let provider = parse_provider(Some(&body.provider))?;
    if body.per_second.is_some_and(|r| r <= 0.0) {
        return Err(bad_request(
            "per_second must be positive, or null to lift the limit",
        ));
    }
    if let Some(action) = &body.action {
        let known = actions(provider);
        if !known.contains(&action.as_str()) {
            return Err(bad_request(format!(
                "unknown {provider} action {:?}: use one of {known:?}",
                short(action)
            )));
        }
    }
    super::lock(&state.limits).set(provider, body.action, body.per_second);
    Ok(Reply::json(200, &json!({})))
}

fn add_fault(state: &SimState, request: &HttpRequest) -> Result<Reply, Reply> {
    let spec: FaultSpec = parse_body(request)?;
    let provider = parse_provider(Some(&spec.provider))?;
    let id = super::lock(&state.faults)
        .add(provider, spec)
        .map_err(bad_request)?;
    Ok(Reply::json(200, &json!({ "id": id })))
}

fn list_calls(state: &SimState, request: &HttpRequest) -> Result<Reply, Reply> {
    let provider = match query_param(request, "provider") {
        Some(p) => Some(parse_provider(Some(&p))?),
        None => None,
    };
    let action = query_param(request, "action");
    let since = match query_param(request, "since") {
        Some(s) => s
            .parse::<u64>()
            .map_err(|_| bad_request("since must be a sequence number"))?,
        None => 0,
    };
    let log = super::lock(&state.calls);
    let calls = log.query(provider, action.as_deref(), since);
    Ok(Reply::json(
        200,
        &json!({ "calls": calls, "dropped": log.dropped() }),
    ))
}

fn add_credential(state: &SimState, request: &HttpRequest) -> Result<Reply, Reply> {
    let body: CredentialBody = parse_body(request)?;
    let provider = parse_provider(Some(&body.provider))?;
    if body.access_key_id.is_empty() || body.secret.is_empty() {
        return Err(bad_request("access_key_id and secret must not be empty"));
    }
    if state.credentials().len() >= MAX_CREDENTIALS {
        return Err(bad_request(format!(
            "the simulator already holds {MAX_CREDENTIALS} credentials; restart it to forget added ones"
        )));
    }
    let credential = Credential {
        provider: Some(provider),
        access_key_id: body.access_key_id,
        secret: body.secret,
        token: body.token,
        account: body.account,
        expires: None,
    };
    state.credentials().add(provider, credential);
    Ok(Reply::json(200, &json!({})))
}

fn add_role(state: &SimState, request: &HttpRequest) -> Result<Reply, Reply> {
    let body: RoleBody = parse_body(request)?;
    let provider = parse_provider(Some(&body.provider))?;
    if body.arn.is_empty() {
        return Err(bad_request("\"arn\" must not be empty"));
    }
    if body.lifetime_seconds == Some(0) {
        return Err(bad_request(
            "\"lifetime_seconds\" must be at least 1 (leave it out to use what the caller asks for)",
        ));
    }
    let default_max = match provider {
        Provider::Alibaba => 3600,
        Provider::Tencent => MAX_SESSION_SECONDS,
    };
    let max_session_seconds = body.max_session_seconds.unwrap_or(default_max);
    if !(900..=MAX_SESSION_SECONDS).contains(&max_session_seconds) {
        return Err(bad_request(format!(
            "\"max_session_seconds\" must be from 900 to {MAX_SESSION_SECONDS}"
        )));
    }
    let account = body
        .account
        .unwrap_or_else(|| state.credentials().default_account(provider));
    let role = Role {
        provider,
        arn: body.arn,
        account,
        lifetime_seconds: body.lifetime_seconds,
        max_session_seconds,
    };
    if !state.identity().add_role(role) {
        return Err(bad_request(format!(
            "the simulator already holds {MAX_ENTRIES} roles; reset it (POST /_sim/reset) first"
        )));
    }
    Ok(Reply::json(200, &json!({})))
}

fn add_oidc_provider(state: &SimState, request: &HttpRequest) -> Result<Reply, Reply> {
    let body: OidcProviderBody = parse_body(request)?;
    let provider = parse_provider(Some(&body.provider))?;
    if body.id.is_empty() {
        return Err(bad_request(
            "\"id\" must not be empty: the OIDC provider ARN (alibaba) or ProviderId (tencent)",
        ));
    }
    if body.tokens.len() > MAX_ENTRIES || body.tokens.iter().any(|t| t.trim().is_empty()) {
        return Err(bad_request(format!(
            "\"tokens\" must hold at most {MAX_ENTRIES} non-empty tokens"
        )));
    }
    let oidc = OidcProvider {
        provider,
        id: body.id,
        tokens: body.tokens,
    };
    if !state.identity().add_oidc(oidc) {
        return Err(bad_request(format!(
            "the simulator already holds {MAX_ENTRIES} OIDC providers; reset it (POST /_sim/reset) first"
        )));
    }
    Ok(Reply::json(200, &json!({})))
}

fn set_instance_role(state: &SimState, request: &HttpRequest) -> Result<Reply, Reply> {
    let body: InstanceRoleBody = parse_body(request)?;
    let provider = parse_provider(Some(&body.provider))?;
    if body.role_name.is_empty()
        || body.role_name.contains('/')
        || body.role_name.chars().any(char::is_whitespace)
    {
        return Err(bad_request(
            "\"role_name\" must be a non-empty name without '/' or whitespace",
        ));
    }
    let mut identity = state.identity();
    if identity.role(provider, &body.role_arn).is_none() {
        return Err(bad_request(format!(
            "no {provider} role {:?}: seed it first with POST /_sim/roles",
            short(&body.role_arn)
        )));
    }
    identity.set_instance_role(InstanceRole {
        provider,
        role_name: body.role_name,
        role_arn: body.role_arn,
    });
    Ok(Reply::json(200, &json!({})))
}
