//! The simulated Tencent Cloud STS, API version 2018-08-13 (docs/simulator.md "Temporary
//! credentials"): `AssumeRole` (TC3-signed with a known key) and `AssumeRoleWithWebIdentity`
//! (`Authorization: SKIP`, the OIDC token checked against a seeded provider).

use serde_json::{Value, json};
use time::OffsetDateTime;

use super::auth;
use super::body::TcError;
use super::{envelope, render_error, render_fault};
use crate::faults::FaultPhase;
use crate::identity::{Role, expiration_text, valid_session_name};
use crate::server::{HttpRequest, Reply};
use crate::{Call, SimState};
use stopgate_vendor::Provider;

/// The STS API version.
pub const VERSION: &str = "2018-08-13";

/// DurationSeconds when the caller sends none, and the most it may ask for.
const DEFAULT_DURATION: u64 = 7200;
const MAX_DURATION: u64 = 43_200;

fn text<'a>(body: &'a Value, name: &str) -> Result<&'a str, TcError> {
    body[name]
        .as_str()
        .filter(|v| !v.is_empty())
        .ok_or_else(|| TcError::missing(name))
}

fn role(state: &SimState, body: &Value) -> Result<Role, TcError> {
    let arn = text(body, "RoleArn")?;
    state
        .identity()
        .role(Provider::Tencent, arn)
        .cloned()
        .ok_or_else(|| {
            TcError::new(
                "ResourceNotFound.RoleNotFound",
                format!("The role {arn} does not exist. Seed it with POST /_sim/roles."),
            )
        })
}

fn checked_session(body: &Value) -> Result<(), TcError> {
    let name = text(body, "RoleSessionName")?;
    if !valid_session_name(name, 128, "_+=,.@-") {
        return Err(TcError::new(
            "InvalidParameter.ParamError",
            "RoleSessionName must be 2 to 128 letters, digits and _ + = , . @ -.",
        ));
    }
    Ok(())
}

fn duration(body: &Value, role: &Role) -> Result<u64, TcError> {
    let max = role.max_session_seconds.min(MAX_DURATION);
    match &body["DurationSeconds"] {
        Value::Null => Ok(DEFAULT_DURATION.min(max)),
        value => value
            .as_u64()
            .filter(|d| (1..=max).contains(d))
            .ok_or_else(|| {
                TcError::new(
                    "InvalidParameter.OverTimeError",
                    format!(
                        "DurationSeconds must be an integer from 1 to {max} (the role's maximum session duration)."
                    ),
                )
            }),
    }
}

fn issue(state: &SimState, body: &Value) -> Result<Value, TcError> {
    let role = role(state, body)?;
    checked_session(body)?;
    let seconds = duration(body, &role)?;
    let key = state.issue_key(&role, seconds);
    let expires = key.expires.unwrap_or_else(OffsetDateTime::now_utc);
    Ok(json!({
        "Credentials": {
            "Token": key.token,
            "TmpSecretId": key.access_key_id,
            "TmpSecretKey": key.secret,
        },
        "ExpiredTime": expires.unix_timestamp(),
        "Expiration": expiration_text(expires),
    }))
}

fn with_web_identity(state: &SimState, body: &Value) -> Result<Value, TcError> {
    let provider_id = text(body, "ProviderId")?;
    let token = text(body, "WebIdentityToken")?.trim();
    let oidc = state
        .identity()
        .oidc(Provider::Tencent, provider_id)
        .cloned()
        .ok_or_else(|| {
            TcError::new(
                "InvalidParameter.ParamError",
                format!(
                    "The identity provider {provider_id} does not exist. Seed it with POST /_sim/oidc-providers."
                ),
            )
        })?;
    if !oidc.tokens.iter().any(|t| t.trim() == token) {
        return Err(TcError::new(
            "InvalidParameter.WebIdentityTokenError",
            "The WebIdentityToken is not one this identity provider accepts: seed it in the provider's tokens.",
        ));
    }
    issue(state, body)
}

/// Serves one STS request.
pub(crate) async fn handle(state: &SimState, request: &HttpRequest, request_id: &str) -> Reply {
    let action = request.header("x-tc-action").unwrap_or_default();
    let mut call = Call::new(
        Provider::Tencent,
        "sts",
        action.to_string(),
        request
            .header("x-tc-region")
            .unwrap_or_default()
            .to_string(),
        Value::Null,
        request_id.to_string(),
    );
    let body = if request.body.is_empty() {
        Ok(json!({}))
    } else {
        serde_json::from_slice::<Value>(&request.body).map_err(|e| {
            TcError::new(
                "InvalidParameter",
                format!("The request body is not valid JSON: {e}."),
            )
        })
    };
    if let Ok(body) = &body {
        call.params = json!({
            "RoleArn": body["RoleArn"],
            "RoleSessionName": body["RoleSessionName"],
            "DurationSeconds": body["DurationSeconds"],
            "ProviderId": body["ProviderId"],
        });
    }
    if let Some(kind) = state.credential_fault(&call).await {
        call.fault_phase = Some(FaultPhase::Before);
        return render_fault(state, &call, kind, request_id);
    }
    let result = body.and_then(|body| {
        match action {
            "AssumeRole" => auth::verify(state, request, "sts").and_then(|account| {
                call.account = account;
                issue(state, &body)
            }),
            "AssumeRoleWithWebIdentity" => {
                if request.header("authorization") != Some("SKIP") {
                    return Err(TcError::new(
                        "AuthFailure.InvalidAuthorization",
                        "AssumeRoleWithWebIdentity is not signed: send `Authorization: SKIP`.",
                    ));
                }
                with_web_identity(state, &body)
            }
            other => Err(TcError::new(
                "InvalidAction",
                format!(
                    "The action `{other}` is not served by the simulated sts {VERSION}: use AssumeRole or AssumeRoleWithWebIdentity."
                ),
            )),
        }
    });
    match result {
        Ok(response) => {
            call.applied = true;
            state.log(&call, "ok", 200);
            envelope(response, request_id)
        }
        Err(error) => {
            state.log(&call, &error.code, 200);
            render_error(&error, request_id)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::credentials::{TENCENT_ACCOUNT, TENCENT_SECRET_ID, TENCENT_SECRET_KEY};
    use crate::{SimConfig, SimState};
    use stopgate_vendor::tencent::sign;

    const ARN: &str = "qcs::cam::uin/100000000001:roleName/stopper";

    fn state() -> std::sync::Arc<SimState> {
        let state = SimState::new(&SimConfig {
            seed_demo: false,
            ..SimConfig::default()
        });
        state.identity().add_role(Role {
            provider: Provider::Tencent,
            arn: ARN.to_string(),
            account: TENCENT_ACCOUNT.to_string(),
            lifetime_seconds: None,
            max_session_seconds: MAX_DURATION,
        });
        state
    }

    /// A POST signed with TC3 as tencentcloud-sdk-python signs it (content-type and host).
    fn signed(action: &str, service: &str, body: &str, id: &str, key: &str) -> HttpRequest {
        let timestamp = OffsetDateTime::now_utc().unix_timestamp();
        let signed_headers = vec![
            ("content-type".to_string(), "application/json".to_string()),
            ("host".to_string(), "127.0.0.1:8780".to_string()),
        ];
        let payload = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(body.as_bytes()));
        let req = sign::Tc3Request {
            method: "POST",
            canonical_query: "",
            headers: &signed_headers,
            payload_sha256: &payload,
            timestamp,
            service,
        };
        let mut headers = http::HeaderMap::new();
        for (name, value) in [
            ("content-type", "application/json".to_string()),
            ("host", "127.0.0.1:8780".to_string()),
            ("x-tc-action", action.to_string()),
            ("x-tc-timestamp", timestamp.to_string()),
            ("x-tc-region", "ap-guangzhou".to_string()),
            ("authorization", sign::tc3_authorization(&req, id, key)),
        ] {
            headers.insert(name, value.parse().expect("header value"));
        }
        HttpRequest {
            method: http::Method::POST,
            path: "/".to_string(),
            query: String::new(),
            headers,
            body: bytes::Bytes::from(body.to_string()),
        }
    }

    fn block_on<F: std::future::Future>(future: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("runtime")
            .block_on(future)
    }

    fn answer(state: &SimState, request: &HttpRequest) -> Value {
        let Reply::Response(response) = block_on(handle(state, request, "req")) else {
            panic!("a response was expected")
        };
        let body = block_on(async {
            use http_body_util::BodyExt;
            response
                .into_body()
                .collect()
                .await
                .expect("body")
                .to_bytes()
        });
        serde_json::from_slice::<Value>(&body).expect("JSON")["Response"].clone()
    }

    #[test]
    fn assume_role_signed_with_a_known_key_is_answered_with_credentials() {
        let state = state();
        let body =
            format!(r#"{{"RoleArn": "{ARN}", "RoleSessionName": "s1", "DurationSeconds": 900}}"#);
        let response = answer(
            &state,
            &signed(
                "AssumeRole",
                "sts",
                &body,
                TENCENT_SECRET_ID,
                TENCENT_SECRET_KEY,
            ),
        );
        assert!(
            response["Credentials"]["TmpSecretId"].is_string(),
            "{response}"
        );
        let lifetime = response["ExpiredTime"].as_i64().expect("integer")
            - OffsetDateTime::now_utc().unix_timestamp();
        assert!((800..=900).contains(&lifetime), "{lifetime}");
    }

    #[test]
    fn assume_role_signed_with_another_key_is_refused() {
        let state = state();
        let body = format!(r#"{{"RoleArn": "{ARN}", "RoleSessionName": "s1"}}"#);
        let response = answer(
            &state,
            &signed("AssumeRole", "sts", &body, TENCENT_SECRET_ID, "not-the-key"),
        );
        assert_eq!(response["Error"]["Code"], "AuthFailure.SignatureFailure");
    }

    #[test]
    fn an_issued_key_is_refused_with_token_failure_once_expired() {
        let state = state();
        let key = crate::identity::new_temporary_key(
            Provider::Tencent,
            TENCENT_ACCOUNT,
            OffsetDateTime::now_utc() - time::Duration::seconds(10),
            5,
        );
        state.credentials().issue(key.clone());
        let mut request = signed(
            "DescribeInstances",
            "cvm",
            "{}",
            &key.access_key_id,
            &key.secret,
        );
        request.headers.insert(
            "x-tc-token",
            key.token
                .clone()
                .expect("token")
                .parse()
                .expect("header value"),
        );
        let error = auth::verify(&state, &request, "cvm").expect_err("expired");
        assert_eq!(error.code, "AuthFailure.TokenFailure");
    }
}
