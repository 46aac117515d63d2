//! Nothing secret in the logs of a real `stopgate serve` process at trace level
//! (`RUST_LOG=trace`; the HTTP stacks' own logs are always off) while its temporary credentials
//! refresh, once failing: not the long-term keys that sign AssumeRole, not the OIDC token, not a
//! secret or token the simulated STS or metadata service issued.

mod common;

use std::time::Duration;

use common::cluster::{Launch, Replica};
use common::*;
use stopgate::api::pb;

on_both_clouds!(no_secret_is_logged_at_trace_level_while_credentials_refresh);

/// Keys the simulator issues live 6 s in this test: long enough to outlast a failed refresh
/// and the second before it is tried again.
const LIFETIME: Duration = Duration::from_secs(6);

/// How many times each source has its keys refreshed before the logs are read.
const REFRESHES: usize = 3;

/// Three accounts whose `v` credentials come from an assumed role (signed with the simulator's
/// long-term keys), an OIDC role and the instance's role.
fn config(sim: &Sim, v: Vendor, arn: &str, token_file: &str) -> String {
    let url = format!("http://{}", sim.addr);
    let (id, secret) = roles::source_pair(v);
    let name = v.name;
    let provider = roles::oidc_provider(v);
    let region = v.region;
    format!(
        r#"poll_interval_ms = 50
[alibaba]
endpoint = "{url}"
[tencent]
endpoint = "{url}"
[accounts.assumed.{name}]
source = "assume_role"
role_arn = "{arn}"
duration_seconds = 900
access_key_id = "{id}"
access_key_secret = "{secret}"
sts_endpoint = "{url}"
sts_region = "{region}"
[accounts.pod.{name}]
source = "oidc"
role_arn = "{arn}"
oidc_provider_arn = "{provider}"
token_file = "{token_file}"
sts_endpoint = "{url}"
sts_region = "{region}"
[accounts.vm.{name}]
source = "instance_role"
role_name = "stopgate"
metadata_endpoint = "{url}"
"#
    )
}

async fn no_secret_is_logged_at_trace_level_while_credentials_refresh(v: Vendor) {
    let sim = Sim::start().await;
    sim.admin(
        "POST",
        "/_sim/timings",
        serde_json::json!({"stop_ms": 150, "force_stop_ms": 50}),
    )
    .await;
    let arn = roles::seed_role(&sim, v, LIFETIME).await;
    roles::seed_instance_role(&sim, v, &arn).await;
    let token = "eyJ.the-pods-oidc-token-never-logged.sig";
    roles::seed_oidc(&sim, v, &[token]).await;
    let file = roles::TokenFile::new(token);
    let replica = Replica::start_isolated(
        &config(&sim, v, &arn, &file.path()),
        Launch {
            env: Vec::new(),
            log: "trace".into(),
            echo: false,
        },
    )
    .await;

    // Stop in each account until each source had its keys issued a few times, one refresh of
    // each failing.
    let issuing = ["AssumeRole", roles::oidc_action(v), "GetRoleCredentials"];
    replica
        .wait_health(
            &format!("stopgate.provider.{}", v.name),
            tonic_health::pb::health_check_response::ServingStatus::Serving,
        )
        .await;
    for action in issuing {
        sim.fault(serde_json::json!({"provider": v.name, "action": action, "times": 1, "kind": {"http_status": 503}}))
            .await;
    }
    let started = std::time::Instant::now();
    let mut n = 0;
    loop {
        let mut issued = Vec::new();
        for action in issuing {
            issued.push(roles::answered(&sim, v, action).await.0);
        }
        if issued.iter().all(|&count| count > REFRESHES) {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "keys issued {issued:?} times for {issuing:?}"
        );
        for account in ["assumed", "pod", "vm"] {
            let id = v.id(n);
            n += 1;
            sim.seed_running(v, std::slice::from_ref(&id)).await;
            let mut request = v.request(std::slice::from_ref(&id));
            request.account = account.into();
            let s = collect_stop(&replica.client, tonic::Request::new(request))
                .await
                .unwrap();
            assert_eq!(s.outcome(&id), pb::InstanceOutcome::StopAccepted, "{s:#?}");
        }
    }

    let mut secrets = roles::issued_secrets(&sim, v).await;
    assert!(secrets.len() >= 2 * issuing.len() * REFRESHES);
    secrets.push(token.to_string());
    for (_, secret) in [roles::source_pair(ALIBABA), roles::source_pair(TENCENT)] {
        secrets.push(secret.to_string());
    }
    let lines = replica.log_lines();
    for logged in ["credentials refreshed", "credential refresh failed"] {
        assert!(
            lines.iter().any(|l| l.contains(logged)),
            "the gateway logged {logged:?}"
        );
    }
    for line in &lines {
        for secret in &secrets {
            assert!(
                !line.contains(secret.as_str()),
                "a secret ({}…) in the log line {line:?}",
                &secret[..4]
            );
        }
    }
}
