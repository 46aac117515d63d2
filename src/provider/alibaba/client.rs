//! Signed calls to Alibaba Cloud ECS (RPC style, V3 ACS3-HMAC-SHA256, parameters in the query,
//! empty body), and the parsing of its answers and error envelopes (docs/vendors/alibaba.md, §1).

use serde_json::Value;
use time::OffsetDateTime;
use time::macros::format_description;

use super::{errors, sign};
use crate::config::Credentials;
use crate::model::{Provider, StopError};
use crate::provider::http::{self, redact};
use crate::provider::{Scope, signing};

const P: Provider = Provider::Alibaba;
const VERSION: &str = "2014-05-26";

/// An ECS client: one per gateway, shared by every account and region.
#[derive(Debug, Clone)]
pub struct AlibabaClient {
    http: reqwest::Client,
    /// Replaces the regional endpoint (private endpoint, simulator).
    endpoint: Option<reqwest::Url>,
}

/// The public endpoint of a region (docs/vendors/alibaba.md, §1.1: cn-hangzhou is the exception).
pub fn regional_endpoint(region: &str) -> String {
    match region {
        "cn-hangzhou" => "https://ecs-cn-hangzhou.aliyuncs.com/".to_string(),
        _ => format!("https://ecs.{region}.aliyuncs.com/"),
    }
}

impl AlibabaClient {
    /// A client; `endpoint` overrides the regional endpoints.
    pub fn new(endpoint: Option<&str>) -> Result<AlibabaClient, String> {
        let endpoint = endpoint
            .map(|e| reqwest::Url::parse(e).map_err(|err| format!("alibaba endpoint {e:?}: {err}")))
            .transpose()?;
        Ok(AlibabaClient {
            http: http::client(),
            endpoint,
        })
    }

    /// One call signed with the account's current credentials (fetched anew once if the
    /// vendor refuses a temporary token). Returns the answer's JSON and its RequestId.
    pub(crate) async fn call(
        &self,
        scope: Scope<'_>,
        action: &str,
        params: &[(String, String)],
    ) -> Result<(Value, Option<String>), StopError> {
        signing::with_current(
            P,
            action,
            scope.credentials,
            errors::rejects_credentials,
            |creds| async move { self.send(scope.region, &creds, action, params).await },
        )
        .await
    }

    /// One call signed with `creds`.
    async fn send(
        &self,
        region: &str,
        creds: &Credentials,
        action: &str,
        params: &[(String, String)],
    ) -> Result<(Value, Option<String>), StopError> {
        let mut url = match &self.endpoint {
            Some(url) => url.clone(),
            None => reqwest::Url::parse(&regional_endpoint(region)).map_err(|e| {
                StopError::local(
                    crate::model::ErrorKind::InvalidArgument,
                    "REGION_NOT_FOUND",
                    format!("no endpoint for region {region:?}: {e}"),
                )
            })?,
        };
        url.set_path("/");
        let query = sign::encode_pairs(params);
        url.set_query(if query.is_empty() { None } else { Some(&query) });
        let host = match url.port() {
            Some(port) => format!("{}:{port}", url.host_str().unwrap_or_default()),
            None => url.host_str().unwrap_or_default().to_string(),
        };
        http::record_server(&host);
        let date = OffsetDateTime::now_utc()
            .format(format_description!(
                "[year]-[month]-[day]T[hour]:[minute]:[second]Z"
            ))
            .unwrap_or_default();
        let mut headers: Vec<(String, String)> = vec![
            ("host".into(), host),
            ("x-acs-action".into(), action.into()),
            ("x-acs-version".into(), VERSION.into()),
            ("x-acs-date".into(), date),
            (
                "x-acs-signature-nonce".into(),
                uuid::Uuid::new_v4().simple().to_string(),
            ),
            (
                "x-acs-content-sha256".into(),
                sign::EMPTY_PAYLOAD_SHA256.into(),
            ),
            ("accept".into(), "application/json".into()),
        ];
        if let Some(token) = &creds.token {
            // STS: both headers are signed (docs/vendors/alibaba.md, §3.2).
            headers.push((
                "x-acs-accesskey-id".into(),
                creds.access_key_id.expose().into(),
            ));
            headers.push(("x-acs-security-token".into(), token.expose().into()));
        }
        let signed = sign::Acs3Request {
            method: "POST",
            path: "/",
            query: params,
            headers: &headers,
            payload_sha256: sign::EMPTY_PAYLOAD_SHA256,
        };
        let authorization =
            sign::acs3_authorization(&signed, creds.access_key_id.expose(), creds.secret.expose());
        let mut request = self
            .http
            .post(url)
            .header("authorization", authorization)
            .header("content-length", "0");
        for (name, value) in &headers {
            if name != "host" {
                request = request.header(name.as_str(), value.as_str());
            }
        }
        let response = request
            .send()
            .await
            .map_err(|e| http::network_error(P, action, &e))?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get("x-acs-retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok())
            .filter(|ms| *ms > 0);
        let text = http::read_body(P, action, response).await?;
        let body: Option<Value> = serde_json::from_str(&text).ok();
        let request_id = body
            .as_ref()
            .and_then(|b| b.get("RequestId").or_else(|| b.get("requestId")))
            .and_then(Value::as_str)
            .map(str::to_string);
        let code = body
            .as_ref()
            .and_then(|b| b.get("Code").or_else(|| b.get("code")))
            .and_then(Value::as_str)
            .map(str::to_string);
        http::record_answer(status, request_id.as_deref(), code.as_deref());
        if (200..300).contains(&status) {
            return match body {
                Some(body) if body.is_object() => Ok((body, request_id)),
                _ => Err(http::unreadable_answer(P, action, status, &text, creds)),
            };
        }
        let code = body
            .as_ref()
            .and_then(|b| b.get("Code").or_else(|| b.get("code")))
            .and_then(Value::as_str);
        let Some(code) = code else {
            return Err(http::unreadable_answer(P, action, status, &text, creds));
        };
        // A vendor's code never holds a secret, but whatever answered may not be the vendor.
        let code = &redact(code, creds);
        let message = body
            .as_ref()
            .and_then(|b| b.get("Message").or_else(|| b.get("message")))
            .and_then(Value::as_str)
            .unwrap_or_default();
        let message = redact(message, creds);
        let class = errors::classify(code, &message);
        let mut error = StopError::vendor(P, class, code, &message, request_id, Some(status));
        error.message = format!("alibaba {action} answered {code} (HTTP {status}): {message}");
        error.retry_after = retry_after.map(std::time::Duration::from_millis);
        Err(error)
    }
}
