//! Where an account's credentials for one vendor come from (`[accounts.NAME.alibaba]`,
//! `[accounts.NAME.tencent]`): static keys, the vendor's default chain, `AssumeRole` from a
//! source credential, an OIDC role (Alibaba RRSA, Tencent TKE) or the instance's role from the
//! metadata service. `docs/configuration.md` "Credentials" describes each.

use std::path::PathBuf;

use serde::Deserialize;

use super::{Credentials, Secret};
use crate::model::Provider;

/// The shortest and longest temporary credentials stopgate asks STS for, in seconds: both
/// vendors refuse more than 12 hours, Alibaba less than 15 minutes.
pub const DURATION_RANGE: std::ops::RangeInclusive<u64> = 900..=43_200;

/// The session name stopgate gives assumed roles when none is configured.
pub const DEFAULT_SESSION_NAME: &str = "stopgate";

/// One account's credentials for one vendor.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "RawSource")]
pub enum CredentialSource {
    /// Long-term keys, or temporary ones with their token (refreshed by whoever wrote them).
    Static(Credentials),
    /// The vendor's default chain, resolved when the gateway starts.
    DefaultChain(DefaultChain),
    /// STS `AssumeRole` signed with a source credential.
    AssumeRole(AssumeRole),
    /// STS `AssumeRoleWithOIDC` (Alibaba) / `AssumeRoleWithWebIdentity` (Tencent) with a token
    /// file that is re-read on every exchange.
    Oidc(OidcRole),
    /// The role attached to the VM stopgate runs on, from its metadata service.
    InstanceRole(InstanceRole),
}

/// Where STS is reached.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StsSettings {
    /// Region of the STS endpoint (`sts.{region}.aliyuncs.com`; Tencent `X-TC-Region`).
    pub region: Option<String>,
    /// Alibaba: the VPC endpoint (`sts-vpc.{region}.aliyuncs.com`); needs `region`.
    pub vpc: bool,
    /// A base URL replacing the public STS endpoint (a private endpoint, the simulator).
    pub endpoint: Option<String>,
}

/// The default chain's settings; everything else comes from the environment and profile files.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DefaultChain {
    pub sts: StsSettings,
    /// A base URL replacing the vendor's metadata service.
    pub metadata_endpoint: Option<String>,
}

/// STS `AssumeRole`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssumeRole {
    /// `acs:ram::UID:role/NAME` (Alibaba) or `qcs::cam::uin/UIN:roleName/NAME` (Tencent).
    pub role_arn: String,
    pub session_name: String,
    /// Requested lifetime in seconds; `None` takes the vendor's default (Alibaba 3600, Tencent
    /// 7200).
    pub duration_seconds: Option<u64>,
    /// A policy narrowing the role's permissions (JSON).
    pub policy: Option<String>,
    /// `ExternalId`, when the role's trust policy requires one.
    pub external_id: Option<String>,
    /// The credential that signs the call.
    pub source: Box<CredentialSource>,
    pub sts: StsSettings,
}

/// STS exchange of an OIDC token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OidcRole {
    pub role_arn: String,
    /// Alibaba `OIDCProviderArn` / Tencent `ProviderId`.
    pub provider: String,
    /// The token file, re-read on every exchange (Kubernetes rotates it).
    pub token_file: PathBuf,
    pub session_name: String,
    pub duration_seconds: Option<u64>,
    pub policy: Option<String>,
    pub sts: StsSettings,
}

/// The instance's role from its metadata service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceRole {
    /// The role's name; asked of the metadata service when absent.
    pub role_name: Option<String>,
    /// A base URL replacing `http://100.100.100.200` / `http://metadata.tencentyun.com`.
    pub metadata_endpoint: Option<String>,
    /// Alibaba: fall back to IMDSv1 (no session token) when IMDSv2 fails (default true).
    pub imds_v1: bool,
}

impl CredentialSource {
    /// The source's name, for logs, metrics and errors.
    pub fn kind(&self) -> &'static str {
        match self {
            CredentialSource::Static(_) => "static",
            CredentialSource::DefaultChain(_) => "default_chain",
            CredentialSource::AssumeRole(_) => "assume_role",
            CredentialSource::Oidc(_) => "oidc",
            CredentialSource::InstanceRole(_) => "instance_role",
        }
    }

    /// The static keys, when that is what this is.
    pub fn as_static(&self) -> Option<&Credentials> {
        match self {
            CredentialSource::Static(c) => Some(c),
            _ => None,
        }
    }

    /// Checks what TOML cannot: ARNs by vendor, URLs, ranges. `at` names the table.
    pub fn validate(&self, provider: Provider, at: &str) -> Result<(), String> {
        match self {
            CredentialSource::Static(_) => Ok(()),
            CredentialSource::DefaultChain(chain) => {
                validate_sts(&chain.sts, provider, at)?;
                validate_url(chain.metadata_endpoint.as_deref(), at, "metadata_endpoint")
            }
            CredentialSource::AssumeRole(role) => {
                validate_role_arn(&role.role_arn, provider, at)?;
                validate_session(&role.session_name, at)?;
                validate_duration(role.duration_seconds, at)?;
                validate_sts(&role.sts, provider, at)?;
                role.source
                    .validate(provider, &format!("{at}.source_credentials"))
            }
            CredentialSource::Oidc(role) => {
                validate_role_arn(&role.role_arn, provider, at)?;
                validate_session(&role.session_name, at)?;
                validate_duration(role.duration_seconds, at)?;
                if provider == Provider::Alibaba && !role.provider.starts_with("acs:ram::") {
                    return Err(format!(
                        "[{at}] oidc_provider_arn {:?} is not an Alibaba OIDC provider ARN; write it like acs:ram::1234567890:oidc-provider/ack-rrsa-CLUSTER_ID",
                        role.provider
                    ));
                }
                if provider == Provider::Tencent && role.policy.is_some() {
                    return Err(format!(
                        "[{at}] policy: Tencent's AssumeRoleWithWebIdentity takes no session policy (the role's own policies apply); remove it, or narrow the role"
                    ));
                }
                if provider == Provider::Tencent && role.sts.region.is_none() {
                    return Err(format!(
                        "[{at}] sts_region is required for Tencent OIDC (the TKE cluster's region, e.g. ap-guangzhou)"
                    ));
                }
                validate_sts(&role.sts, provider, at)
            }
            CredentialSource::InstanceRole(role) => {
                if let Some(name) = &role.role_name
                    && (name.is_empty() || name.contains(['/', '?', '#', '\n']))
                {
                    return Err(format!(
                        "[{at}] role_name {name:?} is not a role name: give the bare name of the role attached to the instance"
                    ));
                }
                if provider == Provider::Tencent && !role.imds_v1 {
                    return Err(format!(
                        "[{at}] imds_v1: Tencent's metadata service has no session tokens; remove it"
                    ));
                }
                validate_url(role.metadata_endpoint.as_deref(), at, "metadata_endpoint")
            }
        }
    }
}

impl From<Credentials> for CredentialSource {
    fn from(credentials: Credentials) -> Self {
        CredentialSource::Static(credentials)
    }
}

fn validate_role_arn(arn: &str, provider: Provider, at: &str) -> Result<(), String> {
    let (prefix, example) = match provider {
        Provider::Alibaba => ("acs:ram::", "acs:ram::1234567890:role/stopgate"),
        Provider::Tencent => (
            "qcs::cam::uin/",
            "qcs::cam::uin/100000000001:roleName/stopgate",
        ),
    };
    if arn.starts_with(prefix) && arn.len() > prefix.len() {
        Ok(())
    } else {
        Err(format!(
            "[{at}] role_arn {arn:?} is not a {provider} role ARN; write it like {example}"
        ))
    }
}

fn validate_session(name: &str, at: &str) -> Result<(), String> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '@' | '-' | '_');
    if (2..=32).contains(&name.len()) && name.chars().all(allowed) {
        Ok(())
    } else {
        Err(format!(
            "[{at}] role_session_name {name:?}: use 2 to 32 letters, digits or . @ - _ (default {DEFAULT_SESSION_NAME:?})"
        ))
    }
}

fn validate_duration(seconds: Option<u64>, at: &str) -> Result<(), String> {
    match seconds {
        Some(s) if !DURATION_RANGE.contains(&s) => Err(format!(
            "[{at}] duration_seconds = {s}: give {} to {} seconds (15 minutes to 12 hours)",
            DURATION_RANGE.start(),
            DURATION_RANGE.end()
        )),
        _ => Ok(()),
    }
}

fn validate_sts(sts: &StsSettings, provider: Provider, at: &str) -> Result<(), String> {
    if sts.vpc && provider == Provider::Tencent {
        return Err(format!(
            "[{at}] sts_vpc is Alibaba's; for Tencent set sts_endpoint to a private endpoint instead"
        ));
    }
    if sts.vpc && sts.region.is_none() && sts.endpoint.is_none() {
        return Err(format!(
            "[{at}] sts_vpc needs sts_region (the VPC endpoint is regional, e.g. cn-hangzhou)"
        ));
    }
    if let Some(region) = &sts.region
        && (region.is_empty()
            || !region
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-'))
    {
        return Err(format!(
            "[{at}] sts_region {region:?} is not a region id (e.g. cn-hangzhou, ap-guangzhou)"
        ));
    }
    validate_url(sts.endpoint.as_deref(), at, "sts_endpoint")
}

fn validate_url(url: Option<&str>, at: &str, field: &str) -> Result<(), String> {
    let Some(text) = url else { return Ok(()) };
    match reqwest::Url::parse(text) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() => Ok(()),
        _ => Err(format!(
            "[{at}] {field} {text:?} must be an http:// or https:// URL with a host, like http://127.0.0.1:8780"
        )),
    }
}

/// Every field any source may have, as written; [`CredentialSource`] is built from it so that
/// a wrong combination gets an error naming the field.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawSource {
    /// `static` (the default when keys are given), `default_chain`, `assume_role`, `oidc`,
    /// `instance_role`.
    source: Option<String>,
    #[serde(alias = "secret_id")]
    access_key_id: Option<Secret>,
    #[serde(alias = "access_key_secret", alias = "secret_key")]
    secret: Option<Secret>,
    #[serde(alias = "security_token", alias = "session_token")]
    token: Option<Secret>,
    role_arn: Option<String>,
    role_session_name: Option<String>,
    duration_seconds: Option<u64>,
    policy: Option<String>,
    external_id: Option<String>,
    source_credentials: Option<Box<RawSource>>,
    #[serde(alias = "provider_id")]
    oidc_provider_arn: Option<String>,
    #[serde(alias = "oidc_token_file")]
    token_file: Option<PathBuf>,
    role_name: Option<String>,
    imds_v1: Option<bool>,
    sts_region: Option<String>,
    sts_vpc: Option<bool>,
    sts_endpoint: Option<String>,
    metadata_endpoint: Option<String>,
}

impl TryFrom<RawSource> for CredentialSource {
    type Error = String;

    fn try_from(raw: RawSource) -> Result<Self, String> {
        let kind = match raw.source.as_deref() {
            Some(kind) => kind.to_string(),
            None if raw.access_key_id.is_some() || raw.secret.is_some() => "static".to_string(),
            None => return Err("give access keys (access_key_id and access_key_secret, or secret_id and secret_key), or a source: \"default_chain\", \"assume_role\", \"oidc\" or \"instance_role\"".into()),
        };
        let mut fields = Fields::new(&kind, raw);
        let source = match kind.as_str() {
            "static" => CredentialSource::Static(fields.keys()?),
            "default_chain" => CredentialSource::DefaultChain(DefaultChain {
                sts: fields.sts(),
                metadata_endpoint: fields.raw.metadata_endpoint.take(),
            }),
            "assume_role" => {
                let source = match fields.raw.source_credentials.take() {
                    Some(inner) => CredentialSource::try_from(*inner)
                        .map_err(|e| format!("source_credentials: {e}"))?,
                    None if fields.raw.access_key_id.is_some() => CredentialSource::Static(fields.keys()?),
                    None => return Err("source = \"assume_role\" needs the credential that signs AssumeRole: access_key_id and access_key_secret beside role_arn, or a [..source_credentials] table (which may itself be a source such as \"instance_role\")".into()),
                };
                CredentialSource::AssumeRole(AssumeRole {
                    role_arn: fields.required("role_arn", |r| r.role_arn.take())?,
                    session_name: fields.session_name(),
                    duration_seconds: fields.raw.duration_seconds.take(),
                    policy: fields.raw.policy.take(),
                    external_id: fields.raw.external_id.take(),
                    source: Box::new(source),
                    sts: fields.sts(),
                })
            }
            "oidc" => CredentialSource::Oidc(OidcRole {
                role_arn: fields.required("role_arn", |r| r.role_arn.take())?,
                provider: fields.required("oidc_provider_arn (Alibaba) or provider_id (Tencent)", |r| r.oidc_provider_arn.take())?,
                token_file: fields
                    .raw
                    .token_file
                    .take()
                    .ok_or("source = \"oidc\" needs token_file (the projected service account token, e.g. /var/run/secrets/ack.alibabacloud.com/rrsa-tokens/token)")?,
                session_name: fields.session_name(),
                duration_seconds: fields.raw.duration_seconds.take(),
                policy: fields.raw.policy.take(),
                sts: fields.sts(),
            }),
            "instance_role" => CredentialSource::InstanceRole(InstanceRole {
                role_name: fields.raw.role_name.take(),
                metadata_endpoint: fields.raw.metadata_endpoint.take(),
                imds_v1: fields.raw.imds_v1.take().unwrap_or(true),
            }),
            other => return Err(format!("source = {other:?} is not a credential source; use \"static\", \"default_chain\", \"assume_role\", \"oidc\" or \"instance_role\"")),
        };
        fields.refuse_leftovers()?;
        Ok(source)
    }
}

/// A raw source being taken apart: each builder takes its fields, and whatever is left was
/// given for nothing.
struct Fields {
    kind: String,
    raw: RawSource,
}

impl Fields {
    fn new(kind: &str, raw: RawSource) -> Fields {
        Fields {
            kind: kind.to_string(),
            raw,
        }
    }

    fn keys(&mut self) -> Result<Credentials, String> {
        let (Some(access_key_id), Some(secret)) =
            (self.raw.access_key_id.take(), self.raw.secret.take())
        else {
            return Err("static keys need both access_key_id and access_key_secret (Alibaba) or secret_id and secret_key (Tencent)".into());
        };
        Ok(Credentials {
            access_key_id,
            secret,
            token: self.raw.token.take(),
        })
    }

    fn required(
        &mut self,
        name: &str,
        take: impl FnOnce(&mut RawSource) -> Option<String>,
    ) -> Result<String, String> {
        take(&mut self.raw)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| format!("source = {:?} needs {name}", self.kind))
    }

    fn session_name(&mut self) -> String {
        self.raw
            .role_session_name
            .take()
            .unwrap_or_else(|| DEFAULT_SESSION_NAME.to_string())
    }

    fn sts(&mut self) -> StsSettings {
        StsSettings {
            region: self.raw.sts_region.take(),
            vpc: self.raw.sts_vpc.take().unwrap_or(false),
            endpoint: self.raw.sts_endpoint.take(),
        }
    }

    fn refuse_leftovers(self) -> Result<(), String> {
        let r = self.raw;
        let given = [
            ("access_key_id", r.access_key_id.is_some()),
            ("access_key_secret", r.secret.is_some()),
            ("security_token", r.token.is_some()),
            ("role_arn", r.role_arn.is_some()),
            ("role_session_name", r.role_session_name.is_some()),
            ("duration_seconds", r.duration_seconds.is_some()),
            ("policy", r.policy.is_some()),
            ("external_id", r.external_id.is_some()),
            ("source_credentials", r.source_credentials.is_some()),
            ("oidc_provider_arn", r.oidc_provider_arn.is_some()),
            ("token_file", r.token_file.is_some()),
            ("role_name", r.role_name.is_some()),
            ("imds_v1", r.imds_v1.is_some()),
            ("sts_region", r.sts_region.is_some()),
            ("sts_vpc", r.sts_vpc.is_some()),
            ("sts_endpoint", r.sts_endpoint.is_some()),
            ("metadata_endpoint", r.metadata_endpoint.is_some()),
        ];
        match given.iter().find(|(_, set)| *set) {
            Some((field, _)) => Err(format!(
                "{field} has no meaning for source = {:?}; remove it",
                self.kind
            )),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(toml_text: &str) -> Result<CredentialSource, String> {
        #[derive(Deserialize)]
        struct Holder {
            alibaba: CredentialSource,
        }
        toml::from_str::<Holder>(toml_text)
            .map(|h| h.alibaba)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn keys_without_a_source_are_static_as_before() {
        let source = parse(
            "[alibaba]\naccess_key_id = \"STS.x\"\naccess_key_secret = \"s\"\nsecurity_token = \"t\"",
        )
        .unwrap();
        let keys = source.as_static().unwrap();
        assert_eq!(keys.token.as_ref().unwrap().expose(), "t");
    }

    #[test]
    fn assume_role_takes_its_signing_keys_beside_the_role() {
        let source = parse(
            r#"[alibaba]
            source = "assume_role"
            role_arn = "acs:ram::123:role/stopgate"
            access_key_id = "LTAIx"
            access_key_secret = "s"
            duration_seconds = 1800
            external_id = "ext"
            sts_region = "cn-hangzhou"
            sts_vpc = true"#,
        )
        .unwrap();
        let CredentialSource::AssumeRole(role) = &source else {
            panic!("{source:?}")
        };
        assert_eq!(role.session_name, DEFAULT_SESSION_NAME);
        assert_eq!(role.duration_seconds, Some(1800));
        assert!(role.sts.vpc);
        assert!(role.source.as_static().is_some());
        assert!(
            source
                .validate(Provider::Alibaba, "accounts.a.alibaba")
                .is_ok()
        );
    }

    #[test]
    fn assume_role_may_chain_from_another_source() {
        let source = parse(
            r#"[alibaba]
            source = "assume_role"
            role_arn = "acs:ram::123:role/stopgate"
            [alibaba.source_credentials]
            source = "instance_role"
            metadata_endpoint = "http://127.0.0.1:9"
            "#,
        )
        .unwrap();
        let CredentialSource::AssumeRole(role) = source else {
            panic!()
        };
        assert_eq!(role.source.kind(), "instance_role");
    }

    #[test]
    fn oidc_needs_its_token_file_and_says_so() {
        let error = parse(
            "[alibaba]\nsource = \"oidc\"\nrole_arn = \"acs:ram::1:role/r\"\noidc_provider_arn = \"acs:ram::1:oidc-provider/p\"",
        )
        .unwrap_err();
        assert!(error.contains("token_file"), "{error}");
    }

    #[test]
    fn a_field_that_means_nothing_for_the_source_is_refused_by_name() {
        let error =
            parse("[alibaba]\nsource = \"instance_role\"\nrole_arn = \"acs:ram::1:role/r\"")
                .unwrap_err();
        assert!(error.contains("role_arn has no meaning"), "{error}");
        let error = parse("[alibaba]\nsource = \"sts\"").unwrap_err();
        assert!(error.contains("assume_role"), "{error}");
    }

    #[test]
    fn validation_names_what_to_fix() {
        let tencent_arn = parse(
            "[alibaba]\nsource = \"assume_role\"\nrole_arn = \"acs:ram::1:role/r\"\nsecret_id = \"a\"\nsecret_key = \"b\"",
        )
        .unwrap();
        let error = tencent_arn
            .validate(Provider::Tencent, "accounts.x.tencent")
            .unwrap_err();
        assert!(error.contains("qcs::cam::uin/"), "{error}");
        let short = parse(
            "[alibaba]\nsource = \"assume_role\"\nrole_arn = \"acs:ram::1:role/r\"\naccess_key_id = \"a\"\naccess_key_secret = \"b\"\nduration_seconds = 60",
        )
        .unwrap();
        let error = short
            .validate(Provider::Alibaba, "accounts.x.alibaba")
            .unwrap_err();
        assert!(error.contains("900 to 43200"), "{error}");
        let bad_url =
            parse("[alibaba]\nsource = \"instance_role\"\nmetadata_endpoint = \"100.100.100.200\"")
                .unwrap();
        let error = bad_url
            .validate(Provider::Alibaba, "accounts.x.alibaba")
            .unwrap_err();
        assert!(error.contains("metadata_endpoint"), "{error}");
        let tencent_oidc_policy = parse(
            "[alibaba]\nsource = \"oidc\"\nrole_arn = \"qcs::cam::uin/1:roleName/r\"\noidc_provider_arn = \"cls-1\"\ntoken_file = \"/t\"\nsts_region = \"ap-guangzhou\"\npolicy = \"{}\"",
        )
        .unwrap();
        let error = tencent_oidc_policy
            .validate(Provider::Tencent, "accounts.x.tencent")
            .unwrap_err();
        assert!(error.contains("policy"), "{error}");
    }

    #[test]
    fn source_keys_never_show_in_debug_output() {
        let source = parse(
            "[alibaba]\nsource = \"assume_role\"\nrole_arn = \"acs:ram::1:role/r\"\naccess_key_id = \"LTAIvisible\"\naccess_key_secret = \"hidden-secret\"",
        )
        .unwrap();
        let printed = format!("{source:?}");
        assert!(!printed.contains("hidden-secret") && !printed.contains("LTAIvisible"));
    }
}
