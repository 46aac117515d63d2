//! Signed calls to Tencent Cloud API 3.0 (JSON POST, TC3-HMAC-SHA256), and the parsing of its
//! envelopes: errors come inside HTTP 200 as `Response.Error` (docs/vendors/tencent.md, §3).

use serde_json::Value;

use super::{errors, sign};
use crate::config::Credentials;
use crate::model::{Provider, StopError};
use crate::provider::http::{self, redact};
use crate::provider::{Scope, signing};

const P: Provider = Provider::Tencent;

/// A Tencent product: its credential-scope service and API version.
#[derive(Debug, Clone, Copy)]
pub struct Product {
    pub service: &'static str,
    pub version: &'static str,
}

/// CVM 2017-03-12.
pub const CVM: Product = Product {
    service: "cvm",
    version: "2017-03-12",
};
/// TAT 2020-10-28.
pub const TAT: Product = Product {
    service: "tat",
    version: "2020-10-28",
};

/// The public endpoint of a product in a region: the nearest-region host, except finance
/// zones, which must use their own host (docs/vendors/tencent.md, §2).
pub fn public_endpoint(service: &str, region: &str) -> String {
    if region.ends_with("-fsi") {
        format!("https://{service}.{region}.tencentcloudapi.com/")
    } else {
        format!("https://{service}.tencentcloudapi.com/")
    }
}

/// A Tencent client: one per gateway, shared by every account and region.
#[derive(Debug, Clone)]
pub struct TencentClient {
    http: reqwest::Client,
    endpoint: Option<reqwest::Url>,
}

impl TencentClient {
    /// A client; `endpoint` overrides `https://<service>.tencentcloudapi.com`.
    pub fn new(endpoint: Option<&str>) -> Result<TencentClient, String> {
        let endpoint = endpoint
            .map(|e| reqwest::Url::parse(e).map_err(|err| format!("tencent endpoint {e:?}: {err}")))
            .transpose()?;
        Ok(TencentClient {
            http: http::client(),
            endpoint,
        })
    }

    /// One call signed with the account's current credentials (fetched anew once if the
    /// vendor refuses a temporary token). Returns `Response` (without `Error`) and its RequestId.
    pub(crate) async fn call(
        &self,
        scope: Scope<'_>,
        product: Product,
        action: &str,
        params: &Value,
    ) -> Result<(Value, Option<String>), StopError> {
        signing::with_current(
            P,
            action,
            scope.credentials,
            errors::rejects_credentials,
            |creds| async move {
                self.send(scope.region, &creds, product, action, params)
                    .await
            },
        )
        .await
    }

    /// One call signed with `creds`.
    async fn send(
        &self,
        region: &str,
        creds: &Credentials,
        product: Product,
        action: &str,
        params: &Value,
    ) -> Result<(Value, Option<String>), StopError> {
        let mut url = match &self.endpoint {
            Some(url) => url.clone(),
            None => {
                reqwest::Url::parse(&public_endpoint(product.service, region)).map_err(|e| {
                    StopError::local(
                        crate::model::ErrorKind::InvalidArgument,
                        "REGION_NOT_FOUND",
                        format!("no endpoint for region {region:?}: {e}"),
                    )
                })?
            }
        };
        url.set_path("/");
        let host = match url.port() {
            Some(port) => format!("{}:{port}", url.host_str().unwrap_or_default()),
            None => url.host_str().unwrap_or_default().to_string(),
        };
        http::record_server(&host);
        let body = params.to_string();
        let timestamp = time::OffsetDateTime::now_utc().unix_timestamp();
        let payload = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(body.as_bytes()));
        let signed_headers = vec![
            ("content-type".to_string(), "application/json".to_string()),
            ("host".to_string(), host),
        ];
        let request = sign::Tc3Request {
            method: "POST",
            canonical_query: "",
            headers: &signed_headers,
            payload_sha256: &payload,
            timestamp,
            service: product.service,
        };
        let authorization = sign::tc3_authorization(
            &request,
            creds.access_key_id.expose(),
            creds.secret.expose(),
        );
        let mut builder = self
            .http
            .post(url)
            .header("authorization", authorization)
            .header("content-type", "application/json")
            .header("x-tc-action", action)
            .header("x-tc-version", product.version)
            .header("x-tc-timestamp", timestamp.to_string())
            .header("x-tc-region", region)
            // English messages: the SDKs default to Chinese (docs/vendors/tencent.md, §6 item 11).
            .header("x-tc-language", "en-US");
        if let Some(token) = &creds.token {
            builder = builder.header("x-tc-token", token.expose());
        }
        let response = builder
            .body(body)
            .send()
            .await
            .map_err(|e| http::network_error(P, action, &e))?;
        let status = response.status().as_u16();
        let text = http::read_body(P, action, response).await?;
        if status != 200 {
            http::record_answer(status, None, None);
        }
        // Anything but 200 is a transport failure, never a vendor code (docs/vendors/tencent.md, §3.3).
        if status != 200 {
            return Err(http::unreadable_answer(P, action, status, &text, creds));
        }
        let Some(mut response) = serde_json::from_str::<Value>(&text)
            .ok()
            .and_then(|mut v| v.get_mut("Response").map(Value::take))
        else {
            return Err(http::unreadable_answer(P, action, status, &text, creds));
        };
        let request_id = response
            .get("RequestId")
            .and_then(Value::as_str)
            .map(str::to_string);
        let code = response
            .pointer("/Error/Code")
            .and_then(Value::as_str)
            .map(str::to_string);
        http::record_answer(status, request_id.as_deref(), code.as_deref());
        let Some(error) = response.get_mut("Error").map(Value::take) else {
            return Ok((response, request_id));
        };
        // A vendor's code never holds a secret, but whatever answered may not be the vendor.
        let code = &redact(
            error
                .get("Code")
                .and_then(Value::as_str)
                .unwrap_or("InternalError"),
            creds,
        );
        let message = redact(
            error
                .get("Message")
                .and_then(Value::as_str)
                .unwrap_or_default(),
            creds,
        );
        let class = errors::classify(code, &message);
        let mut err = StopError::vendor(P, class, code, &message, request_id, Some(status));
        err.message = format!("tencent {action} answered {code}: {message}");
        Err(err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finance_zones_use_their_own_host() {
        assert_eq!(
            public_endpoint("cvm", "ap-guangzhou"),
            "https://cvm.tencentcloudapi.com/"
        );
        assert_eq!(
            public_endpoint("tat", "ap-shanghai-fsi"),
            "https://tat.ap-shanghai-fsi.tencentcloudapi.com/"
        );
    }
}
