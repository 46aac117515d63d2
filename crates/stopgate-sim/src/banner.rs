//! What `stopgate sim` prints at start: the listen line tests parse, and the credentials it
//! accepts. The built-in credentials are public (they are in the docs), so they are printed
//! for copy and paste; a secret the operator chose is never printed.

use std::net::SocketAddr;

use super::SimConfig;
use super::credentials;

/// A secret as the banner shows it: the public default in clear, anything else withheld with
/// where it came from.
fn shown(value: &str, default: &str, flag: &str, env: &str) -> String {
    if value == default {
        value.to_string()
    } else {
        format!("(not shown: set by {flag} or {env})")
    }
}

/// The start-up text of `stopgate sim` listening on `addr`.
pub fn banner(addr: SocketAddr, config: &SimConfig) -> String {
    let (ali_id, ali_secret) = &config.alibaba_key;
    let ali_secret = shown(
        ali_secret,
        credentials::ALIBABA_ACCESS_KEY_SECRET,
        "--alibaba-access-key-secret",
        "STOPGATE_SIM_ALIBABA_ACCESS_KEY_SECRET",
    );
    let (tc_id, tc_key) = &config.tencent_key;
    let tc_key = shown(
        tc_key,
        credentials::TENCENT_SECRET_KEY,
        "--tencent-secret-key",
        "STOPGATE_SIM_TENCENT_SECRET_KEY",
    );
    let (sts_id, sts_secret, sts_token) = credentials::ALIBABA_STS;
    let (tmp_id, tmp_key, tmp_token) = credentials::TENCENT_TEMPORARY;
    let world = if config.seed_demo {
        "demo (cn-hangzhou, ap-guangzhou)"
    } else {
        "empty"
    };
    format!(
        "stopgate sim listening on http://{addr}
  Alibaba Cloud ECS 2014-05-26: endpoint {addr} (http), access key id {ali_id}, secret {ali_secret}
    STS: access key id {sts_id}, secret {sts_secret}, token {sts_token}
  Tencent Cloud CVM 2017-03-12 / TAT 2020-10-28: endpoint {addr} (http), SecretId {tc_id}, SecretKey {tc_key}
    temporary: SecretId {tmp_id}, SecretKey {tmp_key}, token {tmp_token}
  admin API: http://{addr}/_sim/ (docs/simulator.md); world: {world}"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr() -> SocketAddr {
        "127.0.0.1:8780".parse().unwrap()
    }

    #[test]
    fn the_public_default_secrets_are_printed_for_copy_and_paste() {
        let text = banner(addr(), &SimConfig::default());
        assert!(text.starts_with("stopgate sim listening on http://127.0.0.1:8780\n"));
        assert!(text.contains(credentials::ALIBABA_ACCESS_KEY_SECRET));
        assert!(text.contains(credentials::TENCENT_SECRET_KEY));
    }

    #[test]
    fn a_chosen_secret_is_never_printed() {
        let config = SimConfig {
            alibaba_key: ("LTAIchosen".into(), "ali-chosen-secret-1".into()),
            tencent_key: ("AKIDchosen".into(), "tc-chosen-secret-2".into()),
            ..SimConfig::default()
        };
        let text = banner(addr(), &config);
        assert!(!text.contains("ali-chosen-secret-1"), "{text}");
        assert!(!text.contains("tc-chosen-secret-2"), "{text}");
        assert!(text.contains("LTAIchosen") && text.contains("AKIDchosen"));
        assert!(text.contains("STOPGATE_SIM_ALIBABA_ACCESS_KEY_SECRET"));
        assert!(text.contains("STOPGATE_SIM_TENCENT_SECRET_KEY"));
    }
}
