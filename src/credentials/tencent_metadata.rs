//! The CVM instance's CAM role from the metadata service: the role's name, then its
//! credentials (https://www.tencentcloud.com/document/product/213/45917).

use std::time::Duration;

use serde_json::Value;

use super::{Fetched, Source, answer};
use crate::config::InstanceRole;
use crate::provider::BoxFuture;

const DEFAULT_ENDPOINT: &str = "http://metadata.tencentyun.com";
const ROLES_PATH: &str = "/latest/meta-data/cam/security-credentials/";

/// The CVM instance's CAM role.
pub struct CvmRole {
    http: reqwest::Client,
    base: reqwest::Url,
    role_name: Option<String>,
}

impl CvmRole {
    pub fn new(role: InstanceRole) -> Result<CvmRole, String> {
        let text = role
            .metadata_endpoint
            .as_deref()
            .unwrap_or(DEFAULT_ENDPOINT);
        let base = reqwest::Url::parse(text)
            .map_err(|e| format!("tencent metadata endpoint {text:?} is not a URL ({e})"))?;
        Ok(CvmRole {
            http: crate::provider::http::client_with(
                Duration::from_secs(1),
                Duration::from_secs(3),
            ),
            base,
            role_name: role.role_name,
        })
    }

    async fn get(&self, path: &str, what: &str) -> Result<String, String> {
        let mut url = self.base.clone();
        url.set_path(path);
        match answer::read(self.http.get(url), what).await? {
            (200, body) => Ok(body),
            (status, body) => Err(format!(
                "{what} answered HTTP {status} ({:?})",
                answer::short(&body)
            )),
        }
    }
}

impl Source for CvmRole {
    fn describe(&self) -> String {
        match &self.role_name {
            Some(name) => format!("CVM CAM role {name}"),
            None => "CVM CAM role".to_string(),
        }
    }

    fn fetch(&self) -> BoxFuture<'_, Result<Fetched, String>> {
        Box::pin(async move {
            let name = match &self.role_name {
                Some(name) => name.clone(),
                None => {
                    let body = self
                        .get(ROLES_PATH, "tencent CVM metadata role name")
                        .await
                        .map_err(|e| {
                            format!(
                                "{e}; is a CAM role bound to this CVM instance? (or set role_name)"
                            )
                        })?;
                    body.lines()
                        .map(str::trim)
                        .find(|l| !l.is_empty())
                        .map(str::to_string)
                        .ok_or("tencent CVM metadata lists no CAM role: bind one to the instance")?
                }
            };
            let what = format!("tencent CVM metadata credentials of role {name}");
            let body = self.get(&format!("{ROLES_PATH}{name}"), &what).await?;
            parse(&body, &what)
        })
    }
}

/// Reads the role's credentials: `Code` must be `Success`, `ExpiredTime` Unix seconds.
pub fn parse(body: &str, what: &str) -> Result<Fetched, String> {
    let json = answer::metadata_json(body, what, "check the role bound to the instance")?;
    let expired_time = json.get("ExpiredTime").and_then(Value::as_i64);
    answer::tencent_keys(&json, "the answer has", expired_time, what)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_documented_answer_gives_the_roles_credentials() {
        let expired = time::OffsetDateTime::now_utc().unix_timestamp() + 3600;
        let body = format!(
            r#"{{"TmpSecretId":"AKIDcvm","TmpSecretKey":"k","ExpiredTime":{expired},"Expiration":"2026-11-30T10:00:00Z","Token":"t","Code":"Success"}}"#
        );
        assert_eq!(
            parse(&body, "t")
                .unwrap()
                .credentials
                .access_key_id
                .expose(),
            "AKIDcvm"
        );
        assert!(parse(r#"{"Code":"Fail"}"#, "t").is_err());
    }
}
