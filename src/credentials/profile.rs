//! The vendors' credential profile files, for the default chains: Alibaba
//! `~/.alibabacloud/credentials.ini` (or `ALIBABA_CLOUD_CREDENTIALS_FILE`), section
//! `ALIBABA_CLOUD_PROFILE` or `default`; Tencent `~/.tencentcloud/credentials`, else
//! `/etc/tencentcloud/credentials`, section `default`.

use std::path::PathBuf;

use crate::config::{
    AssumeRole, CredentialSource, Credentials, DEFAULT_SESSION_NAME, DefaultChain, InstanceRole,
    OidcRole, Secret,
};

/// The `key = value` pairs of one INI section (keys lowercased, `#` comments dropped).
fn section(text: &str, name: &str) -> Option<Vec<(String, String)>> {
    let mut current: Option<&str> = None;
    let mut found = None;
    for line in text.lines().map(str::trim) {
        if let Some(header) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            current = Some(header.trim());
            if current == Some(name) {
                found.get_or_insert_with(Vec::new);
            }
            continue;
        }
        if current != Some(name) || line.starts_with(['#', ';']) {
            continue;
        }
        if let Some((key, value)) = line.split_once('=') {
            let value = value.split('#').next().unwrap_or_default().trim();
            found
                .get_or_insert_with(Vec::new)
                .push((key.trim().to_ascii_lowercase(), value.to_string()));
        }
    }
    found
}

fn home(env: &dyn Fn(&str) -> Option<String>) -> Option<PathBuf> {
    env("HOME").filter(|h| !h.is_empty()).map(PathBuf::from)
}

/// The Alibaba profile's source, when the file and section exist.
pub fn alibaba(
    chain: &DefaultChain,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<CredentialSource>, String> {
    let path = match env("ALIBABA_CLOUD_CREDENTIALS_FILE").filter(|p| !p.is_empty()) {
        Some(path) => PathBuf::from(path),
        None => match home(env) {
            Some(home) => home.join(".alibabacloud/credentials.ini"),
            None => return Ok(None),
        },
    };
    let Ok(text) = std::fs::read_to_string(&path) else {
        return Ok(None);
    };
    let name = env("ALIBABA_CLOUD_PROFILE")
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| "default".to_string());
    let Some(pairs) = section(&text, &name) else {
        return Ok(None);
    };
    let at = format!("{} [{name}]", path.display());
    let get = |key: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .filter(|v| !v.is_empty())
    };
    let need = |key: &str| get(key).ok_or_else(|| format!("{at}: {key} is missing"));
    let keys = || -> Result<Credentials, String> {
        Ok(Credentials {
            access_key_id: Secret::new(need("access_key_id")?),
            secret: Secret::new(need("access_key_secret")?),
            token: None,
        })
    };
    let session_name = || get("role_session_name").unwrap_or_else(|| DEFAULT_SESSION_NAME.into());
    let source = match get("type").as_deref() {
        Some("access_key") => CredentialSource::Static(keys()?),
        Some("ecs_ram_role") => CredentialSource::InstanceRole(InstanceRole {
            role_name: get("role_name"),
            metadata_endpoint: chain.metadata_endpoint.clone(),
            imds_v1: true,
        }),
        Some("ram_role_arn") => CredentialSource::AssumeRole(AssumeRole {
            role_arn: need("role_arn")?,
            session_name: session_name(),
            duration_seconds: None,
            policy: get("policy"),
            external_id: None,
            source: Box::new(CredentialSource::Static(keys()?)),
            sts: chain.sts.clone(),
        }),
        Some("oidc_role_arn") => CredentialSource::Oidc(OidcRole {
            role_arn: need("role_arn")?,
            provider: need("oidc_provider_arn")?,
            token_file: need("oidc_token_file_path")?.into(),
            session_name: session_name(),
            duration_seconds: None,
            policy: get("policy"),
            sts: chain.sts.clone(),
        }),
        other => {
            return Err(format!(
                "{at}: type {other:?} is not one stopgate reads; use access_key, ecs_ram_role, ram_role_arn or oidc_role_arn"
            ));
        }
    };
    Ok(Some(source))
}

/// The Tencent profile's keys, when a file with a `[default]` section exists.
pub fn tencent(env: &dyn Fn(&str) -> Option<String>) -> Result<Option<CredentialSource>, String> {
    let candidates = home(env)
        .map(|h| h.join(".tencentcloud/credentials"))
        .into_iter()
        .chain([PathBuf::from("/etc/tencentcloud/credentials")]);
    for path in candidates {
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        let Some(pairs) = section(&text, "default") else {
            return Err(format!("{} has no [default] section", path.display()));
        };
        let get = |key: &str| {
            pairs
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.clone())
                .filter(|v| !v.is_empty())
                .ok_or_else(|| format!("{} [default]: {key} is missing", path.display()))
        };
        return Ok(Some(CredentialSource::Static(Credentials {
            access_key_id: Secret::new(get("secret_id")?),
            secret: Secret::new(get("secret_key")?),
            token: None,
        })));
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn home_with(name: &str, file: &str, text: &str) -> PathBuf {
        let home =
            std::env::temp_dir().join(format!("stopgate-home-{}-{name}", std::process::id()));
        let path = home.join(file);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
        home
    }

    #[test]
    fn an_alibaba_profile_names_its_type() {
        let home = home_with(
            "ali",
            ".alibabacloud/credentials.ini",
            "[default]\ntype = access_key\naccess_key_id = LTAIfile # comment\naccess_key_secret = s\n[pod]\ntype = oidc_role_arn\nrole_arn = acs:ram::1:role/r\noidc_provider_arn = acs:ram::1:oidc-provider/p\noidc_token_file_path = /var/run/token\n",
        );
        let env = |profile: Option<&'static str>| {
            let home = home.display().to_string();
            move |k: &str| match k {
                "HOME" => Some(home.clone()),
                "ALIBABA_CLOUD_PROFILE" => profile.map(str::to_string),
                _ => None,
            }
        };
        let chain = DefaultChain::default();
        let keys = alibaba(&chain, &env(None)).unwrap().unwrap();
        assert_eq!(keys.as_static().unwrap().access_key_id.expose(), "LTAIfile");
        let pod = alibaba(&chain, &env(Some("pod"))).unwrap().unwrap();
        assert_eq!(pod.kind(), "oidc");
        assert!(alibaba(&chain, &env(Some("absent"))).unwrap().is_none());
        // Set but empty, like the other variables: the default section.
        let keys = alibaba(&chain, &env(Some(""))).unwrap().unwrap();
        assert_eq!(keys.as_static().unwrap().access_key_id.expose(), "LTAIfile");
    }

    #[test]
    fn a_tencent_profile_gives_its_default_keys() {
        let home = home_with(
            "tc",
            ".tencentcloud/credentials",
            "[default]\nsecret_id = AKIDfile\nsecret_key = k\n",
        );
        let home = home.display().to_string();
        let source = tencent(&|k| (k == "HOME").then(|| home.clone()))
            .unwrap()
            .unwrap();
        assert_eq!(
            source.as_static().unwrap().access_key_id.expose(),
            "AKIDfile"
        );
    }
}
