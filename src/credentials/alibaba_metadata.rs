//! The ECS instance's RAM role from the metadata service: an IMDSv2 session token (`PUT
//! /latest/api/token`), the role's name, then its credentials; without the token (IMDSv1) when
//! that fails, unless IMDSv1 is turned off
//! (https://www.alibabacloud.com/help/en/ecs/user-guide/obtain-a-temporary-authorization-token).

use std::time::Duration;

use super::{Fetched, Source, answer};
use crate::config::InstanceRole;
use crate::provider::BoxFuture;

const DEFAULT_ENDPOINT: &str = "http://100.100.100.200";
const ROLES_PATH: &str = "/latest/meta-data/ram/security-credentials/";
const TOKEN_PATH: &str = "/latest/api/token";
/// The session token's lifetime asked for, in seconds (the official library's).
const TOKEN_TTL: &str = "21600";

/// The ECS instance's RAM role.
pub struct EcsRole {
    http: reqwest::Client,
    base: reqwest::Url,
    role: InstanceRole,
}

impl EcsRole {
    pub fn new(role: InstanceRole) -> Result<EcsRole, String> {
        let text = role
            .metadata_endpoint
            .as_deref()
            .unwrap_or(DEFAULT_ENDPOINT);
        let base = reqwest::Url::parse(text)
            .map_err(|e| format!("alibaba metadata endpoint {text:?} is not a URL ({e})"))?;
        Ok(EcsRole {
            // The metadata service is on the host's link: it answers at once or not at all.
            http: crate::provider::http::client_with(
                Duration::from_secs(1),
                Duration::from_secs(3),
            ),
            base,
            role,
        })
    }

    fn url(&self, path: &str) -> reqwest::Url {
        let mut url = self.base.clone();
        url.set_path(path);
        url
    }

    /// An IMDSv2 session token; `None` when the service gave none and IMDSv1 is allowed.
    async fn session_token(&self) -> Result<Option<String>, String> {
        let what = "alibaba ECS metadata token (PUT /latest/api/token)";
        let request = self
            .http
            .put(self.url(TOKEN_PATH))
            .header("X-aliyun-ecs-metadata-token-ttl-seconds", TOKEN_TTL);
        let failure = match answer::read(request, what).await {
            Ok((200, token)) if !token.trim().is_empty() => {
                return Ok(Some(token.trim().to_string()));
            }
            Ok((status, _)) => format!("{what} answered HTTP {status}"),
            Err(error) => error,
        };
        if self.role.imds_v1 {
            tracing::debug!(%failure, "IMDSv2 token refused; falling back to IMDSv1");
            Ok(None)
        } else {
            Err(format!(
                "{failure}; IMDSv1 is turned off (imds_v1 = false), so stopgate needs the session token: check the instance's metadata settings"
            ))
        }
    }

    /// A GET with the session token, once more without it if that fails and IMDSv1 is allowed.
    async fn get(&self, path: &str, token: Option<&str>, what: &str) -> Result<String, String> {
        let attempt = |token: Option<&str>| {
            let mut request = self.http.get(self.url(path));
            if let Some(token) = token {
                request = request.header("X-aliyun-ecs-metadata-token", token);
            }
            answer::read(request, what)
        };
        let first = match attempt(token).await {
            Ok((200, body)) => return Ok(body),
            Ok((status, body)) => {
                format!("{what} answered HTTP {status} ({:?})", answer::short(&body))
            }
            Err(error) => error,
        };
        if token.is_some() && self.role.imds_v1 {
            if let Ok((200, body)) = attempt(None).await {
                return Ok(body);
            }
        }
        Err(first)
    }

    async fn role_name(&self, token: Option<&str>) -> Result<String, String> {
        if let Some(name) = &self.role.role_name {
            return Ok(name.clone());
        }
        let body = self
            .get(ROLES_PATH, token, "alibaba ECS metadata role name")
            .await
            .map_err(|e| {
                format!("{e}; is a RAM role attached to this ECS instance? (or set role_name)")
            })?;
        body.lines()
            .map(str::trim)
            .find(|l| !l.is_empty())
            .map(str::to_string)
            .ok_or_else(|| {
                "alibaba ECS metadata lists no RAM role: attach one to the instance".to_string()
            })
    }
}

impl Source for EcsRole {
    fn describe(&self) -> String {
        match &self.role.role_name {
            Some(name) => format!("ECS RAM role {name}"),
            None => "ECS RAM role".to_string(),
        }
    }

    fn fetch(&self) -> BoxFuture<'_, Result<Fetched, String>> {
        Box::pin(async move {
            let token = self.session_token().await?;
            let name = self.role_name(token.as_deref()).await?;
            let what = format!("alibaba ECS metadata credentials of role {name}");
            let body = self
                .get(&format!("{ROLES_PATH}{name}"), token.as_deref(), &what)
                .await?;
            parse(&body, &what)
        })
    }
}

/// Reads the role's credentials: `Code` must be `Success`.
pub fn parse(body: &str, what: &str) -> Result<Fetched, String> {
    let json = answer::metadata_json(body, what, "check the role attached to the instance")?;
    answer::alibaba_keys(&json, "the answer has", what)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_documented_answer_gives_the_roles_credentials() {
        let expiration = (time::OffsetDateTime::now_utc() + Duration::from_secs(6 * 3600))
            .format(time::macros::format_description!(
                "[year]-[month]-[day]T[hour]:[minute]:[second]Z"
            ))
            .unwrap();
        let body = format!(
            r#"{{"AccessKeyId":"STS.ECS8","AccessKeySecret":"ecs-secret-8","Expiration":"{expiration}","SecurityToken":"ecs-token-8","LastUpdated":"2026-11-30T08:02:08Z","Code":"Success"}}"#
        );
        let fetched = parse(&body, "t").unwrap();
        assert_eq!(fetched.credentials.secret.expose(), "ecs-secret-8");
        let failed = parse(r#"{"Code":"Failed"}"#, "t").unwrap_err();
        assert!(failed.contains("Failed"), "{failed}");
    }
}
