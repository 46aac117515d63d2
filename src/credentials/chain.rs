//! The vendors' default chains, resolved once when the gateway starts: the first link whose
//! settings are present in the environment wins.
//!
//! Alibaba: access keys (`ALIBABA_CLOUD_ACCESS_KEY_ID`, `…_SECRET`, `…_SECURITY_TOKEN`), then
//! RRSA OIDC (`ALIBABA_CLOUD_ROLE_ARN`, `ALIBABA_CLOUD_OIDC_PROVIDER_ARN`,
//! `ALIBABA_CLOUD_OIDC_TOKEN_FILE`; the STS host from `ALIBABA_CLOUD_STS_ENDPOINT` when set),
//! then the `credentials.ini` profile, then the ECS RAM role unless
//! `ALIBABA_CLOUD_ECS_METADATA_DISABLED=true`. Tencent: access keys
//! (`TENCENTCLOUD_SECRET_ID`, `…_SECRET_KEY`, `…_SESSION_TOKEN`), then the profile file, then
//! TKE OIDC (`TKE_REGION`, `TKE_PROVIDER_ID`, `TKE_WEB_IDENTITY_TOKEN_FILE`, `TKE_ROLE_ARN`),
//! then the CVM CAM role. Unlike the Tencent SDK, TKE OIDC comes before the CVM role, so that a
//! pod acts as its own role rather than its node's. The Alibaba CLI's `~/.aliyun/config.json`
//! is not read.

use crate::config::{
    CredentialSource, Credentials, DEFAULT_SESSION_NAME, DefaultChain, InstanceRole, OidcRole,
    Secret, StsSettings,
};
use crate::model::Provider;

/// The link of the default chain the environment `env` selects.
pub fn resolve(
    provider: Provider,
    chain: &DefaultChain,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<CredentialSource, String> {
    let var = |name: &str| env(name).filter(|v| !v.is_empty());
    let on = |name: &str| var(name).is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let keys = |id: &str, secret: &str, token: &str| {
        Some(CredentialSource::Static(Credentials {
            access_key_id: Secret::new(var(id)?),
            secret: Secret::new(var(secret)?),
            token: var(token).map(Secret::new),
        }))
    };
    let instance_role = |role_name: Option<String>, imds_v1: bool| {
        CredentialSource::InstanceRole(InstanceRole {
            role_name,
            metadata_endpoint: chain.metadata_endpoint.clone(),
            imds_v1,
        })
    };
    match provider {
        Provider::Alibaba => {
            if let Some(keys) = keys(
                "ALIBABA_CLOUD_ACCESS_KEY_ID",
                "ALIBABA_CLOUD_ACCESS_KEY_SECRET",
                "ALIBABA_CLOUD_SECURITY_TOKEN",
            ) {
                return Ok(keys);
            }
            if let (Some(role_arn), Some(provider), Some(token_file)) = (
                var("ALIBABA_CLOUD_ROLE_ARN"),
                var("ALIBABA_CLOUD_OIDC_PROVIDER_ARN"),
                var("ALIBABA_CLOUD_OIDC_TOKEN_FILE"),
            ) {
                return Ok(CredentialSource::Oidc(OidcRole {
                    role_arn,
                    provider,
                    token_file: token_file.into(),
                    session_name: var("ALIBABA_CLOUD_ROLE_SESSION_NAME")
                        .unwrap_or_else(|| DEFAULT_SESSION_NAME.to_string()),
                    duration_seconds: None,
                    policy: None,
                    sts: StsSettings {
                        region: chain
                            .sts
                            .region
                            .clone()
                            .or_else(|| var("ALIBABA_CLOUD_STS_REGION")),
                        vpc: chain.sts.vpc || on("ALIBABA_CLOUD_VPC_ENDPOINT_ENABLED"),
                        // ACK's RRSA webhook names the STS host it wants used.
                        endpoint: chain.sts.endpoint.clone().or_else(|| {
                            var("ALIBABA_CLOUD_STS_ENDPOINT").map(|host| {
                                if host.contains("://") {
                                    host
                                } else {
                                    format!("https://{host}")
                                }
                            })
                        }),
                    },
                }));
            }
            if let Some(profile) = super::profile::alibaba(chain, env)? {
                return Ok(profile);
            }
            if on("ALIBABA_CLOUD_ECS_METADATA_DISABLED") {
                return Err("the alibaba default chain found nothing: set ALIBABA_CLOUD_ACCESS_KEY_ID and ALIBABA_CLOUD_ACCESS_KEY_SECRET, or the RRSA variables ALIBABA_CLOUD_ROLE_ARN, ALIBABA_CLOUD_OIDC_PROVIDER_ARN and ALIBABA_CLOUD_OIDC_TOKEN_FILE; the ECS metadata service is turned off by ALIBABA_CLOUD_ECS_METADATA_DISABLED".to_string());
            }
            Ok(instance_role(
                var("ALIBABA_CLOUD_ECS_METADATA"),
                !on("ALIBABA_CLOUD_IMDSV1_DISABLED"),
            ))
        }
        Provider::Tencent => {
            if let Some(keys) = keys(
                "TENCENTCLOUD_SECRET_ID",
                "TENCENTCLOUD_SECRET_KEY",
                "TENCENTCLOUD_SESSION_TOKEN",
            ) {
                return Ok(keys);
            }
            if let Some(profile) = super::profile::tencent(env)? {
                return Ok(profile);
            }
            if let (Some(region), Some(provider), Some(token_file), Some(role_arn)) = (
                var("TKE_REGION"),
                var("TKE_PROVIDER_ID"),
                var("TKE_WEB_IDENTITY_TOKEN_FILE"),
                var("TKE_ROLE_ARN"),
            ) {
                return Ok(CredentialSource::Oidc(OidcRole {
                    role_arn,
                    provider,
                    token_file: token_file.into(),
                    session_name: DEFAULT_SESSION_NAME.to_string(),
                    duration_seconds: None,
                    policy: None,
                    sts: StsSettings {
                        region: chain.sts.region.clone().or(Some(region)),
                        vpc: false,
                        endpoint: chain.sts.endpoint.clone(),
                    },
                }));
            }
            Ok(instance_role(None, true))
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn resolve_with(provider: Provider, vars: &[(&str, &str)]) -> CredentialSource {
        let env: BTreeMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        resolve(provider, &DefaultChain::default(), &|k| env.get(k).cloned()).unwrap()
    }

    #[test]
    fn keys_come_first_then_oidc_then_the_instance_role() {
        let rrsa = [
            ("ALIBABA_CLOUD_ROLE_ARN", "acs:ram::1:role/r"),
            (
                "ALIBABA_CLOUD_OIDC_PROVIDER_ARN",
                "acs:ram::1:oidc-provider/p",
            ),
            ("ALIBABA_CLOUD_OIDC_TOKEN_FILE", "/var/run/token"),
            ("ALIBABA_CLOUD_STS_REGION", "cn-shanghai"),
            ("ALIBABA_CLOUD_VPC_ENDPOINT_ENABLED", "TRUE"),
        ];
        let CredentialSource::Oidc(role) = resolve_with(Provider::Alibaba, &rrsa) else {
            panic!()
        };
        assert_eq!(role.sts.region.as_deref(), Some("cn-shanghai"));
        assert!(role.sts.vpc);
        assert_eq!(role.sts.endpoint, None);
        let mut webhook = rrsa.to_vec();
        webhook.push((
            "ALIBABA_CLOUD_STS_ENDPOINT",
            "sts-vpc.cn-shanghai.aliyuncs.com",
        ));
        let CredentialSource::Oidc(role) = resolve_with(Provider::Alibaba, &webhook) else {
            panic!()
        };
        assert_eq!(
            role.sts.endpoint.as_deref(),
            Some("https://sts-vpc.cn-shanghai.aliyuncs.com")
        );
        let mut with_keys = rrsa.to_vec();
        with_keys.extend([
            ("ALIBABA_CLOUD_ACCESS_KEY_ID", "a"),
            ("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "b"),
        ]);
        assert_eq!(resolve_with(Provider::Alibaba, &with_keys).kind(), "static");
        let CredentialSource::InstanceRole(ecs) = resolve_with(
            Provider::Alibaba,
            &[
                ("ALIBABA_CLOUD_ECS_METADATA", "my-role"),
                ("ALIBABA_CLOUD_IMDSV1_DISABLED", "true"),
            ],
        ) else {
            panic!()
        };
        assert_eq!(ecs.role_name.as_deref(), Some("my-role"));
        assert!(!ecs.imds_v1);
    }

    #[test]
    fn tke_oidc_comes_before_the_cvm_role() {
        let tke = [
            ("TKE_REGION", "ap-guangzhou"),
            ("TKE_PROVIDER_ID", "cls-1"),
            ("TKE_WEB_IDENTITY_TOKEN_FILE", "/var/run/token"),
            ("TKE_ROLE_ARN", "qcs::cam::uin/1:roleName/r"),
        ];
        let CredentialSource::Oidc(role) = resolve_with(Provider::Tencent, &tke) else {
            panic!()
        };
        assert_eq!(role.sts.region.as_deref(), Some("ap-guangzhou"));
        assert_eq!(
            resolve_with(Provider::Tencent, &tke[..3]).kind(),
            "instance_role"
        );
    }

    #[test]
    fn an_alibaba_chain_with_nothing_and_no_metadata_says_what_to_set() {
        let error = resolve(Provider::Alibaba, &DefaultChain::default(), &|k| {
            (k == "ALIBABA_CLOUD_ECS_METADATA_DISABLED").then(|| "true".to_string())
        })
        .unwrap_err();
        assert!(error.contains("ALIBABA_CLOUD_OIDC_TOKEN_FILE"), "{error}");
    }
}
