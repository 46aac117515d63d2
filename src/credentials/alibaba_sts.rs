//! Alibaba Cloud STS 2015-04-01: `AssumeRole` signed with a source credential (RPC signature
//! V2, HMAC-SHA1) and `AssumeRoleWithOIDC` (anonymous; the token in the query), both `GET` with
//! every parameter in the query, as the official credentials library sends them
//! (https://www.alibabacloud.com/help/en/ram/developer-reference/api-sts-2015-04-01-assumerole,
//! https://www.alibabacloud.com/help/doc-detail/327161.htm).

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use stopgate_vendor::alibaba::sign;
use time::OffsetDateTime;
use time::macros::format_description;

use super::{Credential, Fetched, Source, answer, read_token_file};
use crate::config::{AssumeRole, OidcRole, StsSettings};
use crate::provider::BoxFuture;

const VERSION: &str = "2015-04-01";
/// Alibaba's default lifetime of assumed roles.
const DEFAULT_DURATION: u64 = 3600;

/// The STS base URL: the configured endpoint, else the regional (or VPC) one, else the
/// global `sts.aliyuncs.com`.
pub fn endpoint(sts: &StsSettings) -> String {
    if let Some(endpoint) = &sts.endpoint {
        return endpoint.clone();
    }
    match &sts.region {
        Some(region) if sts.vpc => format!("https://sts-vpc.{region}.aliyuncs.com"),
        Some(region) => format!("https://sts.{region}.aliyuncs.com"),
        None => "https://sts.aliyuncs.com".to_string(),
    }
}

/// What is exchanged for credentials.
enum Exchange {
    AssumeRole {
        role: AssumeRole,
        /// The credential that signs the call.
        signer: Arc<Credential>,
    },
    Oidc(OidcRole),
}

/// One role, assumed through Alibaba STS.
pub struct AlibabaSts {
    http: reqwest::Client,
    url: reqwest::Url,
    exchange: Exchange,
}

impl AlibabaSts {
    /// `AssumeRole` signed with `signer`.
    pub fn assume_role(role: AssumeRole, signer: Arc<Credential>) -> Result<AlibabaSts, String> {
        AlibabaSts::new(&role.sts.clone(), Exchange::AssumeRole { role, signer })
    }

    /// `AssumeRoleWithOIDC`.
    pub fn oidc(role: OidcRole) -> Result<AlibabaSts, String> {
        AlibabaSts::new(&role.sts.clone(), Exchange::Oidc(role))
    }

    fn new(sts: &StsSettings, exchange: Exchange) -> Result<AlibabaSts, String> {
        let base = endpoint(sts);
        let mut url = reqwest::Url::parse(&base)
            .map_err(|e| format!("alibaba STS endpoint {base:?} is not a URL ({e})"))?;
        url.set_path("/");
        Ok(AlibabaSts {
            http: crate::provider::http::client_with(
                Duration::from_secs(5),
                Duration::from_secs(10),
            ),
            url,
            exchange,
        })
    }

    fn action(&self) -> &'static str {
        match self.exchange {
            Exchange::AssumeRole { .. } => "AssumeRole",
            Exchange::Oidc(_) => "AssumeRoleWithOIDC",
        }
    }

    /// The query of one call, signed when it is `AssumeRole`; and the values to redact.
    async fn query(&self) -> Result<(Vec<(String, String)>, Vec<String>), String> {
        let timestamp = OffsetDateTime::now_utc()
            .format(format_description!(
                "[year]-[month]-[day]T[hour]:[minute]:[second]Z"
            ))
            .unwrap_or_default();
        let pair = |k: &str, v: &str| (k.to_string(), v.to_string());
        let mut params = vec![
            pair("Action", self.action()),
            pair("Format", "JSON"),
            pair("Version", VERSION),
        ];
        match &self.exchange {
            Exchange::AssumeRole { role, signer } => {
                let snapshot = signer.current().await.map_err(|e| {
                    format!("alibaba STS AssumeRole has no source credentials to sign with ({e})")
                })?;
                let keys = &snapshot.credentials;
                let duration = role
                    .duration_seconds
                    .unwrap_or(DEFAULT_DURATION)
                    .to_string();
                params.extend([
                    pair("DurationSeconds", &duration),
                    pair("RoleArn", &role.role_arn),
                    pair("RoleSessionName", &role.session_name),
                    pair("SignatureMethod", "HMAC-SHA1"),
                    pair("SignatureVersion", "1.0"),
                    pair("Timestamp", &timestamp),
                    pair("SignatureNonce", &uuid::Uuid::new_v4().simple().to_string()),
                ]);
                params.extend(role.policy.as_deref().map(|p| pair("Policy", p)));
                params.extend(role.external_id.as_deref().map(|e| pair("ExternalId", e)));
                params.push(pair("AccessKeyId", keys.access_key_id.expose()));
                params.extend(
                    keys.token
                        .as_ref()
                        .map(|t| pair("SecurityToken", t.expose())),
                );
                sign::sign_rpc("GET", &mut params, keys.secret.expose());
                Ok((params, keys.secret_values()))
            }
            Exchange::Oidc(role) => {
                // Re-read on every exchange: the kubelet rotates it.
                let token = read_token_file(&role.token_file)?;
                let duration = role
                    .duration_seconds
                    .unwrap_or(DEFAULT_DURATION)
                    .to_string();
                params.extend([
                    pair("DurationSeconds", &duration),
                    pair("RoleArn", &role.role_arn),
                    pair("OIDCProviderArn", &role.provider),
                    pair("OIDCToken", &token),
                    pair("RoleSessionName", &role.session_name),
                    pair("Timestamp", &timestamp),
                ]);
                params.extend(role.policy.as_deref().map(|p| pair("Policy", p)));
                Ok((params, vec![token]))
            }
        }
    }
}

impl Source for AlibabaSts {
    fn describe(&self) -> String {
        match &self.exchange {
            Exchange::AssumeRole { role, .. } => format!("STS AssumeRole {}", role.role_arn),
            Exchange::Oidc(role) => format!("STS AssumeRoleWithOIDC {}", role.role_arn),
        }
    }

    fn fetch(&self) -> BoxFuture<'_, Result<Fetched, String>> {
        Box::pin(async move {
            let what = format!("alibaba STS {} at {}", self.action(), self.url);
            let (params, secrets) = self.query().await?;
            let mut url = self.url.clone();
            url.set_query(Some(&sign::encode_pairs(&params)));
            let (status, body) = answer::read(self.http.get(url), &what).await?;
            let secrets: Vec<&str> = secrets.iter().map(String::as_str).collect();
            parse(status, &body, &what).map_err(|e| answer::redact(&e, &secrets))
        })
    }
}

/// Reads an STS answer: `Credentials` on HTTP 200, else the error's `Code` and `Message`.
pub fn parse(status: u16, body: &str, what: &str) -> Result<Fetched, String> {
    let json: Option<Value> = serde_json::from_str(body).ok();
    if status != 200 {
        let field = |name: &str| {
            json.as_ref()
                .and_then(|j| j.get(name))
                .and_then(Value::as_str)
                .map(str::to_string)
        };
        return Err(match field("Code") {
            Some(code) => format!(
                "{what} answered {code} (HTTP {status}): {}{}{}",
                answer::short(&field("Message").unwrap_or_default()),
                field("RequestId")
                    .map(|id| format!(" (RequestId {id})"))
                    .unwrap_or_default(),
                hint(&code)
            ),
            None => format!(
                "{what} answered HTTP {status} with a body that is not STS's JSON ({:?})",
                answer::short(body)
            ),
        });
    }
    let credentials = json
        .as_ref()
        .and_then(|j| j.get("Credentials"))
        .ok_or_else(|| {
            format!(
                "{what}: the answer has no Credentials ({:?})",
                answer::short(body)
            )
        })?;
    answer::alibaba_keys(credentials, "the answer's Credentials have", what)
}

/// What to do about an STS error code.
fn hint(code: &str) -> &'static str {
    if code.starts_with("AuthenticationFail.OIDCToken") {
        "; check token_file holds the pod's current RRSA token and that the OIDC provider's audience and issuer match the cluster"
    } else if code.starts_with("AuthenticationFail") || code == "NoPermission" {
        "; check the role's trust policy lets this identity assume it (and, for OIDC, names the OIDC provider)"
    } else if code.starts_with("InvalidAccessKeyId") || code == "SignatureDoesNotMatch" {
        "; check the source credentials that sign AssumeRole"
    } else if code.starts_with("EntityNotExist") {
        "; check role_arn"
    } else if code.starts_with("InvalidParameter") {
        "; check role_arn, role_session_name, duration_seconds and policy"
    } else {
        ""
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expiration_in(seconds: u64) -> String {
        (OffsetDateTime::now_utc() + Duration::from_secs(seconds))
            .format(format_description!(
                "[year]-[month]-[day]T[hour]:[minute]:[second]Z"
            ))
            .unwrap()
    }

    #[test]
    fn a_documented_answer_gives_temporary_credentials() {
        let body = format!(
            r#"{{"RequestId":"REQ-2","AssumedRoleUser":{{"AssumedRoleId":"3441:sess1","Arn":"acs:ram::1234:role/test/sess1"}},
            "Credentials":{{"SecurityToken":"ali-token-2","AccessKeyId":"STS.ali2","AccessKeySecret":"ali-secret-2","Expiration":"{}"}}}}"#,
            expiration_in(3600)
        );
        let fetched = parse(200, &body, "t").unwrap();
        assert_eq!(fetched.credentials.access_key_id.expose(), "STS.ali2");
        assert_eq!(fetched.credentials.token.unwrap().expose(), "ali-token-2");
        assert!(fetched.lifetime.unwrap() > Duration::from_secs(3500));
    }

    #[test]
    fn an_error_names_the_code_the_request_and_what_to_check() {
        let body = r#"{"RequestId":"R-9","HostId":"sts.aliyuncs.com","Code":"AuthenticationFail.OIDCToken.Expired","Message":"The OIDCToken is expired."}"#;
        let error = parse(401, body, "alibaba STS AssumeRoleWithOIDC").unwrap_err();
        assert!(
            error.contains("AuthenticationFail.OIDCToken.Expired (HTTP 401)"),
            "{error}"
        );
        assert!(
            error.contains("R-9") && error.contains("token_file"),
            "{error}"
        );
        let error = parse(502, "<html>bad gateway</html>", "t").unwrap_err();
        assert!(error.contains("HTTP 502"), "{error}");
        let error = parse(200, r#"{"Credentials":{"AccessKeyId":"a"}}"#, "t").unwrap_err();
        assert!(error.contains("AccessKeySecret"), "{error}");
    }

    #[test]
    fn the_endpoint_follows_region_and_vpc() {
        let mut sts = StsSettings::default();
        assert_eq!(endpoint(&sts), "https://sts.aliyuncs.com");
        sts.region = Some("cn-hangzhou".into());
        assert_eq!(endpoint(&sts), "https://sts.cn-hangzhou.aliyuncs.com");
        sts.vpc = true;
        assert_eq!(endpoint(&sts), "https://sts-vpc.cn-hangzhou.aliyuncs.com");
        sts.endpoint = Some("http://127.0.0.1:9".into());
        assert_eq!(endpoint(&sts), "http://127.0.0.1:9");
    }
}
