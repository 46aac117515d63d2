//! Temporary credentials in the simulator for the credential tests: roles whose keys live
//! seconds, OIDC providers with their token files, instance roles, and the gateway's sources
//! for them.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::{Value, json};
use stopgate::config::{CredentialSource, Credentials, Secret, StsSettings};
use stopgate::sim::credentials as keys;

use super::{Sim, Vendor};

/// The vendor's default account (the one its instances are seeded in).
pub fn account(v: Vendor) -> &'static str {
    match v.name {
        "alibaba" => keys::ALIBABA_ACCOUNT,
        _ => keys::TENCENT_ACCOUNT,
    }
}

/// The simulator's long-term key id and secret of the vendor.
pub fn source_pair(v: Vendor) -> (&'static str, &'static str) {
    match v.name {
        "alibaba" => (keys::ALIBABA_ACCESS_KEY_ID, keys::ALIBABA_ACCESS_KEY_SECRET),
        _ => (keys::TENCENT_SECRET_ID, keys::TENCENT_SECRET_KEY),
    }
}

/// The simulator's long-term keys of the vendor, as the source that signs AssumeRole.
pub fn source_keys(v: Vendor) -> CredentialSource {
    let (id, secret) = source_pair(v);
    CredentialSource::Static(Credentials {
        access_key_id: Secret::new(id),
        secret: Secret::new(secret),
        token: None,
    })
}

/// The ARN of the role `name` in the vendor's default account.
pub fn role_arn(v: Vendor, name: &str) -> String {
    match v.name {
        "alibaba" => format!("acs:ram::{}:role/{name}", account(v)),
        _ => format!("qcs::cam::uin/{}:roleName/{name}", account(v)),
    }
}

/// Seeds the role `stopgate` of the vendor's default account, whose keys live `lifetime`.
pub async fn seed_role(sim: &Sim, v: Vendor, lifetime: Duration) -> String {
    let arn = role_arn(v, "stopgate");
    sim.admin(
        "POST",
        "/_sim/roles",
        json!({"provider": v.name, "arn": arn, "lifetime_seconds": lifetime.as_secs()}),
    )
    .await;
    arn
}

/// Makes `role_arn` the role the vendor's metadata service serves, as `stopgate`.
pub async fn seed_instance_role(sim: &Sim, v: Vendor, role_arn: &str) {
    sim.admin(
        "POST",
        "/_sim/instance-roles",
        json!({"provider": v.name, "role_name": "stopgate", "role_arn": role_arn}),
    )
    .await;
}

/// The OIDC provider id of the tests: an ACK RRSA provider ARN, or a TKE cluster id.
pub fn oidc_provider(v: Vendor) -> String {
    match v.name {
        "alibaba" => format!("acs:ram::{}:oidc-provider/ack-rrsa-test", account(v)),
        _ => "cls-test0001".to_string(),
    }
}

/// Seeds (or replaces) the OIDC provider of the tests, accepting only `tokens`.
pub async fn seed_oidc(sim: &Sim, v: Vendor, tokens: &[&str]) {
    sim.admin(
        "POST",
        "/_sim/oidc-providers",
        json!({"provider": v.name, "id": oidc_provider(v), "tokens": tokens}),
    )
    .await;
}

/// A token file holding `token`, removed when dropped.
pub struct TokenFile(pub PathBuf);

impl TokenFile {
    pub fn new(token: &str) -> TokenFile {
        let path = std::env::temp_dir().join(format!("stopgate-oidc-{}", uuid::Uuid::new_v4()));
        std::fs::write(&path, token).unwrap();
        TokenFile(path)
    }

    /// Replaces the token as the kubelet does: a new file renamed over the old one.
    pub fn rotate(&self, token: &str) {
        let next = self.0.with_extension("next");
        std::fs::write(&next, token).unwrap();
        std::fs::rename(&next, &self.0).unwrap();
    }

    pub fn path(&self) -> String {
        self.0.display().to_string()
    }
}

impl Drop for TokenFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// STS settings pointing at the simulator.
pub fn sts(sim: &Sim, v: Vendor) -> StsSettings {
    StsSettings {
        region: Some(v.region.into()),
        vpc: false,
        endpoint: Some(format!("http://{}", sim.addr)),
    }
}

/// AssumeRole of `arn`, signed with the simulator's long-term keys.
pub fn assume_role(sim: &Sim, v: Vendor, arn: &str) -> CredentialSource {
    CredentialSource::AssumeRole(stopgate::config::AssumeRole {
        role_arn: arn.to_string(),
        session_name: "stopgate-test".into(),
        duration_seconds: Some(900),
        policy: None,
        external_id: None,
        source: Box::new(source_keys(v)),
        sts: sts(sim, v),
    })
}

/// The OIDC role `arn` with the token in `token_file`.
pub fn oidc_role(sim: &Sim, v: Vendor, arn: &str, token_file: &TokenFile) -> CredentialSource {
    CredentialSource::Oidc(stopgate::config::OidcRole {
        role_arn: arn.to_string(),
        provider: oidc_provider(v),
        token_file: token_file.0.clone(),
        session_name: "stopgate-test".into(),
        duration_seconds: Some(900),
        policy: None,
        sts: sts(sim, v),
    })
}

/// The STS action that exchanges an OIDC token.
pub fn oidc_action(v: Vendor) -> &'static str {
    match v.name {
        "alibaba" => "AssumeRoleWithOIDC",
        _ => "AssumeRoleWithWebIdentity",
    }
}

/// The configuration adjustment that gives the `default` account its `v` credentials from
/// `source`.
pub fn with_source(
    v: Vendor,
    source: CredentialSource,
) -> impl FnOnce(&mut stopgate::config::Config) {
    move |c| {
        let account = c.accounts.get_mut("default").unwrap();
        match v.name {
            "alibaba" => account.alibaba = Some(source),
            _ => account.tencent = Some(source),
        }
    }
}

/// How many calls of `action` the simulator answered `ok`, and how many it refused.
pub async fn answered(sim: &Sim, v: Vendor, action: &str) -> (usize, usize) {
    let calls = sim.calls(v, action).await;
    let ok = calls.iter().filter(|c| c["outcome"] == "ok").count();
    (ok, calls.len() - ok)
}

/// The vendor calls (instances and commands) the simulator refused.
pub async fn refused_vendor_calls(sim: &Sim, v: Vendor) -> Vec<Value> {
    let mut refused = Vec::new();
    for action in ["StopInstances", "DescribeInstances"] {
        refused.extend(
            sim.calls(v, action)
                .await
                .into_iter()
                .filter(|c| c["outcome"] != "ok"),
        );
    }
    refused
}

/// Every secret the simulator issued for the vendor so far (GET /_sim/issued-credentials):
/// secrets and tokens, not the key ids.
pub async fn issued_secrets(sim: &Sim, v: Vendor) -> Vec<String> {
    let listed = sim
        .admin(
            "GET",
            &format!("/_sim/issued-credentials?provider={}", v.name),
            Value::Null,
        )
        .await;
    let mut secrets = Vec::new();
    for key in listed["credentials"].as_array().unwrap() {
        for field in ["secret", "token"] {
            if let Some(s) = key[field].as_str() {
                secrets.push(s.to_string());
            }
        }
    }
    secrets
}
