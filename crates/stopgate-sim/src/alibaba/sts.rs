//! The simulated Alibaba Cloud STS, API version 2015-04-01 (docs/simulator.md "Temporary
//! credentials"): `AssumeRole`, signed V2 (everything in the query, as alibabacloud-credentials
//! sends it) or V3 (ACS3-HMAC-SHA256, as alibabacloud-sts20150401 sends it), and the anonymous
//! `AssumeRoleWithOIDC`. Answers are always JSON.

use serde_json::{Value, json};

use super::auth;
use super::params::AliError;
use crate::faults::{FaultKind, FaultPhase};
use crate::identity::{Role, expiration_text, jwt_claims, valid_session_name};
use crate::server::{HttpRequest, Reply};
use crate::{Call, SimState};
use stopgate_vendor::Provider;

/// The STS API version.
pub const VERSION: &str = "2015-04-01";

/// DurationSeconds when the caller sends none.
const DEFAULT_DURATION: u64 = 3600;
/// The shortest session STS grants.
const MIN_DURATION: u64 = 900;

fn render_error(error: &AliError, request_id: &str) -> Reply {
    let body = json!({
        "RequestId": request_id,
        "HostId": "sts.aliyuncs.com",
        "Code": error.code,
        "Message": error.message,
        "Recommend": format!("https://api.aliyun.com/troubleshoot?q={}&product=Sts&requestId={request_id}", error.code),
    });
    Reply::with_body(
        error.status,
        "application/json;charset=utf-8",
        body.to_string(),
    )
}

/// The parameters of an STS request: V3 carries them in the query, V2 in the query or a form.
struct Params<'a>(&'a [(String, String)]);

impl Params<'_> {
    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn required(&self, name: &str) -> Result<&str, AliError> {
        self.get(name)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| AliError::missing(name))
    }
}

fn role(state: &SimState, arn: &str) -> Result<Role, AliError> {
    state
        .identity()
        .role(Provider::Alibaba, arn)
        .cloned()
        .ok_or_else(|| {
            AliError::new(
                404,
                "EntityNotExist.Role",
                format!("The specified Role not exists: {arn}. Seed it with POST /_sim/roles."),
            )
        })
}

fn session_name(params: &Params<'_>) -> Result<String, AliError> {
    let name = params.required("RoleSessionName")?;
    if !valid_session_name(name, 64, ".@-_") {
        return Err(AliError::new(
            400,
            "InvalidParameter.RoleSessionName",
            "The parameter RoleSessionName is wrongly formed: use 2 to 64 letters, digits and . @ - _",
        ));
    }
    Ok(name.to_string())
}

fn duration(params: &Params<'_>, role: &Role) -> Result<u64, AliError> {
    let Some(raw) = params.get("DurationSeconds").filter(|v| !v.is_empty()) else {
        return Ok(DEFAULT_DURATION.min(role.max_session_seconds));
    };
    raw.parse::<u64>()
        .ok()
        .filter(|d| (MIN_DURATION..=role.max_session_seconds).contains(d))
        .ok_or_else(|| {
            AliError::new(
                400,
                "InvalidParameter.DurationSeconds",
                format!(
                    "The parameter DurationSeconds is out of range: use {MIN_DURATION} to {} (the role's maximum session duration).",
                    role.max_session_seconds
                ),
            )
        })
}

/// The common part of both answers.
fn credentials_body(state: &SimState, role: &Role, session: &str, seconds: u64) -> Value {
    let key = state.issue_key(role, seconds);
    json!({
        "AssumedRoleUser": {
            "AssumedRoleId": format!("3{:017}:{session}", rand::random_range(0..100_000_000_000_000_000u64)),
            "Arn": format!("{}/{session}", role.arn),
        },
        "Credentials": {
            "AccessKeyId": key.access_key_id,
            "AccessKeySecret": key.secret,
            "SecurityToken": key.token,
            "Expiration": key.expires.map(expiration_text),
        },
    })
}

fn assume_role(state: &SimState, params: &Params<'_>) -> Result<Value, AliError> {
    let role = role(state, params.required("RoleArn")?)?;
    let session = session_name(params)?;
    let seconds = duration(params, &role)?;
    Ok(credentials_body(state, &role, &session, seconds))
}

fn assume_role_with_oidc(state: &SimState, params: &Params<'_>) -> Result<Value, AliError> {
    let provider_arn = params.required("OIDCProviderArn")?;
    let token = params.get("OIDCToken").unwrap_or_default().trim();
    if token.is_empty() {
        return Err(AliError::new(
            401,
            "AuthenticationFail.OIDCToken.Invalid",
            "The OIDCToken can not empty.",
        ));
    }
    let oidc = state
        .identity()
        .oidc(Provider::Alibaba, provider_arn)
        .cloned()
        .ok_or_else(|| {
            AliError::new(
                401,
                "AuthenticationFail.NoPermission",
                format!(
                    "No such OIDC Provider registered: {provider_arn}. Seed it with POST /_sim/oidc-providers."
                ),
            )
        })?;
    if !oidc.tokens.iter().any(|t| t.trim() == token) {
        return Err(AliError::new(
            401,
            "AuthenticationFail.OIDCToken.Invalid",
            "The OIDCToken is not one this OIDC provider accepts: seed it in the provider's tokens.",
        ));
    }
    let role = role(state, params.required("RoleArn")?)?;
    let session = session_name(params)?;
    let seconds = duration(params, &role)?;
    let mut body = credentials_body(state, &role, &session, seconds);
    let claims = jwt_claims(token).unwrap_or(Value::Null);
    let audience = match &claims["aud"] {
        Value::String(one) => json!([one]),
        Value::Array(many) => json!(many),
        _ => json!([]),
    };
    body["OIDCTokenInfo"] = json!({
        "Subject": claims["sub"].as_str().unwrap_or_default(),
        "Issuer": claims["iss"].as_str().unwrap_or_default(),
        "ClientIds": audience.as_array().map(|a| a.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(",")).unwrap_or_default(),
    });
    Ok(body)
}

/// Serves one STS request. `all` are the query and form parameters, `query` the query alone.
pub(crate) async fn handle(
    state: &SimState,
    request: &HttpRequest,
    query: &[(String, String)],
    all: &[(String, String)],
    v3: bool,
    action: Option<&str>,
    request_id: &str,
) -> Reply {
    let params = Params(all);
    let mut call = Call::new(
        Provider::Alibaba,
        "sts",
        action.unwrap_or_default().to_string(),
        String::new(),
        Value::Null,
        request_id.to_string(),
    );
    call.params = json!({
        "RoleArn": params.get("RoleArn"),
        "RoleSessionName": params.get("RoleSessionName"),
        "DurationSeconds": params.get("DurationSeconds"),
        "OIDCProviderArn": params.get("OIDCProviderArn"),
    });
    if let Some(kind) = state.credential_fault(&call).await {
        call.fault_phase = Some(FaultPhase::Before);
        return match kind {
            FaultKind::Error {
                code,
                message,
                http_status,
            } => {
                let status = http_status.unwrap_or(400);
                let message = message.unwrap_or_else(|| format!("Injected fault {code}."));
                state.log(&call, &code, status);
                render_error(&AliError::new(status, &code, message), request_id)
            }
            other => state.transport_fault(
                &call,
                other,
                (
                    "application/json;charset=utf-8",
                    format!("{{\"RequestId\":\"{request_id}\",\"Creden"),
                ),
            ),
        };
    }
    let result = match action {
        Some("AssumeRole") => {
            let auth = if v3 {
                auth::verify_v3(state, request, query)
            } else {
                auth::verify_v2(state, request.method.as_str(), all)
            };
            auth.and_then(|account| {
                call.account = account;
                assume_role(state, &params)
            })
        }
        Some("AssumeRoleWithOIDC") => assume_role_with_oidc(state, &params),
        Some(other) => Err(AliError::new(
            404,
            "InvalidAction.NotFound",
            format!(
                "The action {other} is not served by the simulated STS: use AssumeRole or AssumeRoleWithOIDC."
            ),
        )),
        None => Err(AliError::missing("Action")),
    };
    match result {
        Ok(mut body) => {
            call.applied = true;
            state.log(&call, "ok", 200);
            body["RequestId"] = json!(request_id);
            Reply::with_body(200, "application/json;charset=utf-8", body.to_string())
        }
        Err(error) => {
            state.log(&call, &error.code, error.status);
            render_error(&error, request_id)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::credentials::{ALIBABA_ACCESS_KEY_ID, ALIBABA_ACCESS_KEY_SECRET};
    use crate::{SimConfig, SimState};
    use stopgate_vendor::alibaba::sign;
    use time::OffsetDateTime;

    const ARN: &str = "acs:ram::1234567890123456:role/stopper";

    fn state() -> std::sync::Arc<SimState> {
        let state = SimState::new(&SimConfig {
            seed_demo: false,
            ..SimConfig::default()
        });
        state.identity().add_role(Role {
            provider: Provider::Alibaba,
            arn: ARN.to_string(),
            account: "1234567890123456".to_string(),
            lifetime_seconds: None,
            max_session_seconds: 3600,
        });
        state
    }

    fn now_text() -> String {
        expiration_text(OffsetDateTime::now_utc())
    }

    /// An AssumeRole query as alibabacloud-credentials builds it, signed over `signed_form`
    /// of the parameters (the library's own encoding when it differs from the documented one).
    fn assume_role_pairs(policy: &str) -> Vec<(String, String)> {
        [
            ("Action", "AssumeRole"),
            ("Format", "JSON"),
            ("Version", VERSION),
            ("DurationSeconds", "1800"),
            ("RoleArn", ARN),
            ("RoleSessionName", "sess1"),
            ("SignatureMethod", "HMAC-SHA1"),
            ("SignatureVersion", "1.0"),
            ("Timestamp", &now_text()),
            ("SignatureNonce", &uuid::Uuid::new_v4().to_string()),
            ("Policy", policy),
            ("AccessKeyId", ALIBABA_ACCESS_KEY_ID),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    fn answer(state: &SimState, pairs: &[(String, String)]) -> (u16, Value) {
        let request = HttpRequest {
            method: http::Method::GET,
            path: "/".to_string(),
            query: sign::encode_pairs(pairs),
            headers: http::HeaderMap::new(),
            body: bytes::Bytes::new(),
        };
        let reply = block_on(handle(
            state,
            &request,
            pairs,
            pairs,
            false,
            Some("AssumeRole"),
            "REQ",
        ));
        let Reply::Response(response) = reply else {
            panic!("a response was expected")
        };
        let status = response.status().as_u16();
        let body = block_on(async {
            use http_body_util::BodyExt;
            response
                .into_body()
                .collect()
                .await
                .expect("full body")
                .to_bytes()
        });
        (status, serde_json::from_slice(&body).expect("JSON"))
    }

    fn block_on<F: std::future::Future>(future: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("runtime")
            .block_on(future)
    }

    #[test]
    fn assume_role_signed_with_the_documented_encoding_is_answered_with_credentials() {
        let state = state();
        let mut pairs = assume_role_pairs("{\"Version\": \"1\"}");
        sign::sign_rpc("GET", &mut pairs, ALIBABA_ACCESS_KEY_SECRET);
        let (status, body) = answer(&state, &pairs);
        assert_eq!(status, 200, "{body}");
        assert!(
            body["Credentials"]["AccessKeyId"]
                .as_str()
                .unwrap()
                .starts_with("STS.")
        );
        assert_eq!(body["AssumedRoleUser"]["Arn"], format!("{ARN}/sess1"));
    }

    #[test]
    fn assume_role_signed_with_plus_for_space_as_the_credentials_library_does_is_accepted() {
        let state = state();
        let mut pairs = assume_role_pairs("{\"Version\": \"1\"}");
        let plus_form = sign::rpc_string_to_sign("GET", &pairs).replace("%2520", "%2B");
        let signature = sign::rpc_signature(&plus_form, ALIBABA_ACCESS_KEY_SECRET);
        pairs.push(("Signature".to_string(), signature));
        let (status, body) = answer(&state, &pairs);
        assert_eq!(status, 200, "{body}");
    }

    #[test]
    fn assume_role_signed_with_another_secret_is_refused() {
        let state = state();
        let mut pairs = assume_role_pairs("{}");
        sign::sign_rpc("GET", &mut pairs, "not-the-secret");
        let (status, body) = answer(&state, &pairs);
        assert_eq!(
            (status, body["Code"].as_str()),
            (400, Some("SignatureDoesNotMatch"))
        );
    }

    #[test]
    fn an_issued_key_is_refused_once_expired() {
        let state = state();
        let mut key = crate::identity::new_temporary_key(
            Provider::Alibaba,
            "1234567890123456",
            OffsetDateTime::now_utc() - time::Duration::seconds(10),
            5,
        );
        key.account = "1234567890123456".to_string();
        let (id, secret, token) = (
            key.access_key_id.clone(),
            key.secret.clone(),
            key.token.clone().unwrap(),
        );
        state.credentials().issue(key);
        let mut pairs: Vec<(String, String)> = [
            ("AccessKeyId", id.as_str()),
            ("SecurityToken", token.as_str()),
            ("Timestamp", &now_text()),
            ("SignatureNonce", &uuid::Uuid::new_v4().to_string()),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        sign::sign_rpc("GET", &mut pairs, &secret);
        let error = auth::verify_v2(&state, "GET", &pairs).expect_err("expired");
        assert_eq!(error.code, "InvalidSecurityToken.Expired");
    }
}
