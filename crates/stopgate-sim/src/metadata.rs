//! The simulated instance metadata services, on the simulator's own listener
//! (docs/simulator.md "Temporary credentials"):
//! Alibaba ECS (`100.100.100.200`): `PUT /latest/api/token` (IMDSv2 session token) and
//! `GET /latest/meta-data/ram/security-credentials/[<role>]`, with or without the token;
//! Tencent CVM (`metadata.tencentyun.com`): `GET /latest/meta-data/cam/security-credentials/[<role>]`.

use serde_json::json;
use time::OffsetDateTime;

use crate::faults::{FaultKind, FaultPhase};
use crate::identity::{InstanceRole, expiration_text};
use crate::server::{HttpRequest, Reply};
use crate::{Call, SimState, new_request_id};
use stopgate_vendor::Provider;

/// Alibaba's metadata token TTL bounds, in seconds.
const IMDS_TTL_MAX: u64 = 21_600;

/// How long instance role keys live unless the role fixes a lifetime (the simulator's choice).
pub const DEFAULT_INSTANCE_KEY_SECONDS: u64 = 3600;

const ALI_ROLE_PATH: &str = "/latest/meta-data/ram/security-credentials/";
const TC_ROLE_PATH: &str = "/latest/meta-data/cam/security-credentials/";

fn text(status: u16, body: impl Into<String>) -> Reply {
    Reply::with_body(status, "text/plain", body.into())
}

fn log(state: &SimState, provider: Provider, action: &str, outcome: &str, status: u16) {
    let call = Call::new(
        provider,
        "metadata",
        action.to_string(),
        String::new(),
        serde_json::Value::Null,
        new_request_id(provider),
    );
    state.log(&call, outcome, status);
}

/// Serves one request under `/latest/`.
pub async fn handle(state: &SimState, request: HttpRequest) -> Reply {
    let method = request.method.as_str();
    let path = request.path.as_str();
    if let Some(reply) = fault(state, method, path).await {
        return reply;
    }
    if method == "PUT" && path == "/latest/api/token" {
        return alibaba_token(state, &request);
    }
    if method == "GET" {
        if let Some(rest) = path.strip_prefix(ALI_ROLE_PATH) {
            return alibaba_role(state, &request, rest);
        }
        if let Some(rest) = path.strip_prefix(TC_ROLE_PATH) {
            return tencent_role(state, rest);
        }
    }
    text(
        404,
        format!(
            "404 - Not Found: the simulator serves PUT /latest/api/token, GET {ALI_ROLE_PATH}[<role>] and GET {TC_ROLE_PATH}[<role>]"
        ),
    )
}

/// The injected fault for this request, if one strikes: faults name the actions of the call
/// log (`GetMetadataToken`, `GetRoleName`, `GetRoleCredentials`).
async fn fault(state: &SimState, method: &str, path: &str) -> Option<Reply> {
    let (provider, rest) = if method == "PUT" && path == "/latest/api/token" {
        (Provider::Alibaba, None)
    } else if let Some(rest) = path.strip_prefix(ALI_ROLE_PATH) {
        (Provider::Alibaba, Some(rest))
    } else if let Some(rest) = path.strip_prefix(TC_ROLE_PATH) {
        (Provider::Tencent, Some(rest))
    } else {
        return None;
    };
    let action = match rest {
        None => "GetMetadataToken",
        Some("") => "GetRoleName",
        Some(_) => "GetRoleCredentials",
    };
    let mut call = Call::new(
        provider,
        "metadata",
        action.to_string(),
        String::new(),
        serde_json::Value::Null,
        new_request_id(provider),
    );
    let kind = state.credential_fault(&call).await?;
    call.fault_phase = Some(FaultPhase::Before);
    Some(match kind {
        FaultKind::Error {
            code,
            message,
            http_status,
        } => {
            let status = http_status.unwrap_or(500);
            state.log(&call, &code, status);
            text(
                status,
                format!(
                    "{code}: {}",
                    message.unwrap_or_else(|| "injected fault".to_string())
                ),
            )
        }
        other => state.transport_fault(
            &call,
            other,
            ("text/plain", "{\"AccessKeyId\":\"STS.".to_string()),
        ),
    })
}

fn alibaba_token(state: &SimState, request: &HttpRequest) -> Reply {
    let ttl = request
        .header("x-aliyun-ecs-metadata-token-ttl-seconds")
        .and_then(|v| v.trim().parse::<u64>().ok())
        .filter(|ttl| (1..=IMDS_TTL_MAX).contains(ttl));
    let Some(ttl) = ttl else {
        log(
            state,
            Provider::Alibaba,
            "GetMetadataToken",
            "InvalidTTL",
            400,
        );
        return text(
            400,
            format!(
                "the header X-aliyun-ecs-metadata-token-ttl-seconds must be a whole number of seconds from 1 to {IMDS_TTL_MAX}"
            ),
        );
    };
    let expires = OffsetDateTime::now_utc() + time::Duration::seconds(ttl as i64);
    let token = state.identity().new_imds_token(expires);
    log(state, Provider::Alibaba, "GetMetadataToken", "ok", 200);
    text(200, token)
}

fn instance_role(state: &SimState, provider: Provider) -> Option<InstanceRole> {
    state.identity().instance_role(provider).cloned()
}

fn alibaba_role(state: &SimState, request: &HttpRequest, rest: &str) -> Reply {
    let action = if rest.is_empty() {
        "GetRoleName"
    } else {
        "GetRoleCredentials"
    };
    // IMDSv1 (no token) is served; a token, when sent, must be one handed out and still live.
    if let Some(token) = request.header("x-aliyun-ecs-metadata-token") {
        if !state
            .identity()
            .imds_token_valid(token, OffsetDateTime::now_utc())
        {
            log(state, Provider::Alibaba, action, "InvalidToken", 401);
            return text(
                401,
                "the X-aliyun-ecs-metadata-token is unknown or expired: get a new one with PUT /latest/api/token",
            );
        }
    }
    let Some(role) = instance_role(state, Provider::Alibaba) else {
        log(state, Provider::Alibaba, action, "NoInstanceRole", 404);
        return text(
            404,
            "no RAM role is attached to this instance: seed one with POST /_sim/instance-roles",
        );
    };
    if rest.is_empty() {
        log(state, Provider::Alibaba, action, "ok", 200);
        return text(200, role.role_name);
    }
    if rest != role.role_name {
        log(state, Provider::Alibaba, action, "RoleNotAttached", 404);
        return text(404, "404 - Not Found");
    }
    let Some(arn_role) = state
        .identity()
        .role(Provider::Alibaba, &role.role_arn)
        .cloned()
    else {
        log(state, Provider::Alibaba, action, "RoleNotFound", 404);
        return text(404, "404 - Not Found");
    };
    let key = state.issue_key(&arn_role, DEFAULT_INSTANCE_KEY_SECONDS);
    log(state, Provider::Alibaba, action, "ok", 200);
    let body = json!({
        "AccessKeyId": key.access_key_id,
        "AccessKeySecret": key.secret,
        "Expiration": key.expires.map(expiration_text),
        "SecurityToken": key.token,
        "LastUpdated": expiration_text(OffsetDateTime::now_utc()),
        "Code": "Success",
    });
    Reply::with_body(200, "text/plain", body.to_string())
}

fn tencent_role(state: &SimState, rest: &str) -> Reply {
    let action = if rest.is_empty() {
        "GetRoleName"
    } else {
        "GetRoleCredentials"
    };
    let Some(role) = instance_role(state, Provider::Tencent) else {
        log(state, Provider::Tencent, action, "NoInstanceRole", 404);
        return text(
            404,
            "no CAM role is bound to this instance: seed one with POST /_sim/instance-roles",
        );
    };
    if rest.is_empty() {
        log(state, Provider::Tencent, action, "ok", 200);
        return text(200, role.role_name);
    }
    let Some(arn_role) = (rest == role.role_name)
        .then(|| {
            state
                .identity()
                .role(Provider::Tencent, &role.role_arn)
                .cloned()
        })
        .flatten()
    else {
        log(state, Provider::Tencent, action, "RoleNotFound", 404);
        return text(404, "404 - Not Found");
    };
    let key = state.issue_key(&arn_role, DEFAULT_INSTANCE_KEY_SECONDS);
    log(state, Provider::Tencent, action, "ok", 200);
    let body = json!({
        "TmpSecretId": key.access_key_id,
        "TmpSecretKey": key.secret,
        "ExpiredTime": key.expires.map(OffsetDateTime::unix_timestamp),
        "Expiration": key.expires.map(expiration_text),
        "Token": key.token,
        "Code": "Success",
    });
    Reply::with_body(200, "application/json", body.to_string())
}
