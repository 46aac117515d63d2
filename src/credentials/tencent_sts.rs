//! Tencent Cloud STS 2018-08-13: `AssumeRole` signed with TC3-HMAC-SHA256 by a source
//! credential, and `AssumeRoleWithWebIdentity` (TKE OIDC) sent with `Authorization: SKIP`; both
//! a JSON `POST /` whose errors come inside HTTP 200
//! (https://www.tencentcloud.com/document/product/1150/49454,
//! https://www.tencentcloud.com/document/product/1150/49456).

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use sha2::Digest;
use stopgate_vendor::tencent::sign;

use super::{Credential, Fetched, Source, answer, read_token_file};
use crate::config::{AssumeRole, OidcRole, StsSettings};
use crate::provider::BoxFuture;

const VERSION: &str = "2018-08-13";
const DEFAULT_ENDPOINT: &str = "https://sts.tencentcloudapi.com";
/// The region the official SDK sends AssumeRole to when none is given.
const DEFAULT_REGION: &str = "ap-guangzhou";
/// Tencent's default lifetime of assumed roles.
const DEFAULT_DURATION: u64 = 7200;

enum Exchange {
    AssumeRole {
        role: AssumeRole,
        signer: Arc<Credential>,
    },
    WebIdentity(OidcRole),
}

/// One role, assumed through Tencent STS.
pub struct TencentSts {
    http: reqwest::Client,
    url: reqwest::Url,
    region: String,
    exchange: Exchange,
}

impl TencentSts {
    pub fn assume_role(role: AssumeRole, signer: Arc<Credential>) -> Result<TencentSts, String> {
        TencentSts::new(&role.sts.clone(), Exchange::AssumeRole { role, signer })
    }

    pub fn web_identity(role: OidcRole) -> Result<TencentSts, String> {
        TencentSts::new(&role.sts.clone(), Exchange::WebIdentity(role))
    }

    fn new(sts: &StsSettings, exchange: Exchange) -> Result<TencentSts, String> {
        let base = sts.endpoint.as_deref().unwrap_or(DEFAULT_ENDPOINT);
        let mut url = reqwest::Url::parse(base)
            .map_err(|e| format!("tencent STS endpoint {base:?} is not a URL ({e})"))?;
        url.set_path("/");
        Ok(TencentSts {
            http: crate::provider::http::client_with(
                Duration::from_secs(5),
                Duration::from_secs(10),
            ),
            url,
            region: sts
                .region
                .clone()
                .unwrap_or_else(|| DEFAULT_REGION.to_string()),
            exchange,
        })
    }

    fn action(&self) -> &'static str {
        match self.exchange {
            Exchange::AssumeRole { .. } => "AssumeRole",
            Exchange::WebIdentity(_) => "AssumeRoleWithWebIdentity",
        }
    }

    fn host(&self) -> String {
        match self.url.port() {
            Some(port) => format!("{}:{port}", self.url.host_str().unwrap_or_default()),
            None => self.url.host_str().unwrap_or_default().to_string(),
        }
    }

    /// The request, signed or marked `SKIP`, and the values to redact from errors.
    async fn request(&self) -> Result<(reqwest::RequestBuilder, Vec<String>), String> {
        let timestamp = time::OffsetDateTime::now_utc().unix_timestamp();
        let (body, authorization, token, secrets) = match &self.exchange {
            Exchange::AssumeRole { role, signer } => {
                let snapshot = signer.current().await.map_err(|e| {
                    format!("tencent STS AssumeRole has no source credentials to sign with ({e})")
                })?;
                let keys = &snapshot.credentials;
                let mut body = json!({
                    "RoleArn": role.role_arn,
                    "RoleSessionName": role.session_name,
                    "DurationSeconds": role.duration_seconds.unwrap_or(DEFAULT_DURATION),
                });
                if let Some(policy) = &role.policy {
                    // Tencent's AssumeRole takes the policy URL-encoded.
                    body["Policy"] = json!(stopgate_vendor::alibaba::sign::percent_encode(policy));
                }
                if let Some(external_id) = &role.external_id {
                    body["ExternalId"] = json!(external_id);
                }
                let body = body.to_string();
                let payload = hex::encode(sha2::Sha256::digest(body.as_bytes()));
                let headers = vec![
                    ("content-type".to_string(), "application/json".to_string()),
                    ("host".to_string(), self.host()),
                ];
                let signed = sign::Tc3Request {
                    method: "POST",
                    canonical_query: "",
                    headers: &headers,
                    payload_sha256: &payload,
                    timestamp,
                    service: "sts",
                };
                let authorization = sign::tc3_authorization(
                    &signed,
                    keys.access_key_id.expose(),
                    keys.secret.expose(),
                );
                let token = keys.token.as_ref().map(|t| t.expose().to_string());
                (body, authorization, token, keys.secret_values())
            }
            Exchange::WebIdentity(role) => {
                // Re-read on every exchange: the kubelet rotates it.
                let token = read_token_file(&role.token_file)?;
                let body = json!({
                    "ProviderId": role.provider,
                    "WebIdentityToken": token,
                    "RoleArn": role.role_arn,
                    "RoleSessionName": role.session_name,
                    "DurationSeconds": role.duration_seconds.unwrap_or(DEFAULT_DURATION),
                })
                .to_string();
                (body, "SKIP".to_string(), None, vec![token])
            }
        };
        let mut request = self
            .http
            .post(self.url.clone())
            .header("authorization", authorization)
            .header("content-type", "application/json")
            .header("x-tc-action", self.action())
            .header("x-tc-version", VERSION)
            .header("x-tc-timestamp", timestamp.to_string())
            .header("x-tc-region", &self.region)
            .header("x-tc-language", "en-US")
            .body(body);
        if let Some(token) = token {
            request = request.header("x-tc-token", token);
        }
        Ok((request, secrets))
    }
}

impl Source for TencentSts {
    fn describe(&self) -> String {
        match &self.exchange {
            Exchange::AssumeRole { role, .. } => format!("STS AssumeRole {}", role.role_arn),
            Exchange::WebIdentity(role) => {
                format!("STS AssumeRoleWithWebIdentity {}", role.role_arn)
            }
        }
    }

    fn fetch(&self) -> BoxFuture<'_, Result<Fetched, String>> {
        Box::pin(async move {
            let what = format!("tencent STS {} at {}", self.action(), self.url);
            let (request, secrets) = self.request().await?;
            let (status, body) = answer::read(request, &what).await?;
            let secrets: Vec<&str> = secrets.iter().map(String::as_str).collect();
            parse(status, &body, &what).map_err(|e| answer::redact(&e, &secrets))
        })
    }
}

/// Reads an STS answer: `Response.Credentials` and `Response.ExpiredTime`, or
/// `Response.Error`.
pub fn parse(status: u16, body: &str, what: &str) -> Result<Fetched, String> {
    let response = serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|mut j| j.get_mut("Response").map(Value::take));
    let Some(response) = response.filter(|_| status == 200) else {
        return Err(format!(
            "{what} answered HTTP {status} with a body that is not STS's JSON ({:?})",
            answer::short(body)
        ));
    };
    if let Some(error) = response.get("Error") {
        let text = |v: Option<&Value>| v.and_then(Value::as_str).unwrap_or_default().to_string();
        let code = text(error.get("Code"));
        return Err(format!(
            "{what} answered {code}: {} (RequestId {}){}",
            answer::short(&text(error.get("Message"))),
            text(response.get("RequestId")),
            hint(&code)
        ));
    }
    let credentials = response
        .get("Credentials")
        .ok_or_else(|| format!("{what}: the answer has no Credentials"))?;
    let expired_time = response.get("ExpiredTime").and_then(Value::as_i64);
    answer::tencent_keys(
        credentials,
        "the answer's Credentials have",
        expired_time,
        what,
    )
}

fn hint(code: &str) -> &'static str {
    if code == "InvalidParameter.WebIdentityTokenError" {
        "; check token_file holds the pod's current token and provider_id names the cluster's OIDC provider"
    } else if code.starts_with("AuthFailure") {
        "; check the source credentials that sign AssumeRole"
    } else if code == "ResourceNotFound.RoleNotFound" {
        "; check role_arn"
    } else if code == "UnauthorizedOperation" {
        "; check the role's trust policy lets this identity assume it"
    } else if code == "FailedOperation.TempKeyNotAllowed" {
        "; Tencent refuses temporary source credentials here: sign AssumeRole with a long-term key"
    } else {
        ""
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_documented_answer_gives_temporary_credentials() {
        let expired = time::OffsetDateTime::now_utc().unix_timestamp() + 7200;
        let body = format!(
            r#"{{"Response":{{"Credentials":{{"Token":"tok","TmpSecretId":"AKIDtmp","TmpSecretKey":"key"}},"ExpiredTime":{expired},"Expiration":"2026-11-30T10:02:36Z","RequestId":"r"}}}}"#
        );
        let fetched = parse(200, &body, "t").unwrap();
        assert_eq!(fetched.credentials.access_key_id.expose(), "AKIDtmp");
        assert!(fetched.lifetime.unwrap() > Duration::from_secs(7100));
    }

    #[test]
    fn an_error_inside_http_200_names_its_code_and_what_to_check() {
        let body = r#"{"Response":{"Error":{"Code":"ResourceNotFound.RoleNotFound","Message":"role not exist"},"RequestId":"R-1"}}"#;
        let error = parse(200, body, "tencent STS AssumeRole").unwrap_err();
        assert!(
            error.contains("ResourceNotFound.RoleNotFound") && error.contains("R-1"),
            "{error}"
        );
        assert!(error.contains("role_arn"), "{error}");
        assert!(parse(500, "oops", "t").unwrap_err().contains("HTTP 500"));
    }
}
