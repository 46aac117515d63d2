//! The default credential chain of a real `stopgate serve` process whose environment selects a
//! link, against the simulator over sockets: the pod's OIDC role (ACK RRSA, TKE) from its
//! variables, else the instance's role from the metadata service; either keeps stopping across
//! three key lifetimes without a refused call.

mod common;

use std::time::Duration;

use common::cluster::{Launch, Replica};
use common::*;
use stopgate::api::pb;

on_both_clouds!(
    the_default_chain_picks_the_oidc_role_from_the_environment_and_keeps_stopping,
    the_default_chain_falls_back_to_the_instance_role_and_keeps_stopping,
);

/// Keys the simulator issues live 3 s in these tests.
const LIFETIME: Duration = Duration::from_secs(3);

/// A configuration whose `default` account takes the vendor's default chain, with the
/// metadata service at the simulator, and STS too unless the environment names it
/// (`sts_from_env`).
fn config(sim: &Sim, v: Vendor, sts_from_env: bool) -> String {
    let url = format!("http://{}", sim.addr);
    let sts = if sts_from_env {
        String::new()
    } else {
        format!("sts_endpoint = \"{url}\"\n")
    };
    format!(
        "poll_interval_ms = 50\n\
         [alibaba]\nendpoint = \"{url}\"\n\
         [tencent]\nendpoint = \"{url}\"\n\
         [accounts.default.{name}]\nsource = \"default_chain\"\n\
         {sts}metadata_endpoint = \"{url}\"\n",
        name = v.name
    )
}

/// Starts a gateway with the default chain and only `env`, checks it resolved the `link` it was
/// meant to, and stops one fresh instance after another for more than three key lifetimes:
/// every stop succeeds, keys were issued (`issued` calls) again and again, none was refused,
/// and neither was a vendor call.
async fn keeps_stopping(
    sim: &Sim,
    v: Vendor,
    env: Vec<(String, String)>,
    link: &str,
    issued: &str,
) {
    sim.admin(
        "POST",
        "/_sim/timings",
        serde_json::json!({"stop_ms": 150, "force_stop_ms": 50}),
    )
    .await;
    let sts_from_env = env.iter().any(|(k, _)| k == "ALIBABA_CLOUD_STS_ENDPOINT");
    let replica = Replica::start_isolated(
        &config(sim, v, sts_from_env),
        Launch {
            env,
            log: "warn,stopgate=info".into(),
            echo: true,
        },
    )
    .await;
    let started = std::time::Instant::now();
    let mut n = 0;
    while started.elapsed() < LIFETIME * 3 + LIFETIME / 2 {
        let id = v.id(n);
        sim.seed_running(v, std::slice::from_ref(&id)).await;
        let s = collect_stop(
            &replica.client,
            tonic::Request::new(v.request(std::slice::from_ref(&id))),
        )
        .await
        .unwrap();
        assert_eq!(s.outcome(&id), pb::InstanceOutcome::StopAccepted, "{s:#?}");
        n += 1;
    }
    let resolved = replica
        .log_lines()
        .into_iter()
        .find(|l| l.contains("default credential chain resolved"))
        .expect("the gateway logs the link it resolved");
    assert!(
        resolved.contains(&format!("source=\"{link}\""))
            || resolved.contains(&format!("source={link}")),
        "{resolved}"
    );
    let (fetched, failed) = roles::answered(sim, v, issued).await;
    assert_eq!(failed, 0, "no {issued} call failed");
    assert!(
        fetched >= 4,
        "{fetched} {issued} calls over three lifetimes"
    );
    let refused = roles::refused_vendor_calls(sim, v).await;
    assert!(
        refused.is_empty(),
        "no vendor call was refused: {refused:#?}"
    );
}

fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

async fn the_default_chain_picks_the_oidc_role_from_the_environment_and_keeps_stopping(v: Vendor) {
    let sim = Sim::start().await;
    let arn = roles::seed_role(&sim, v, LIFETIME).await;
    let token = "eyJ.pod-identity-token.sig";
    roles::seed_oidc(&sim, v, &[token]).await;
    let file = roles::TokenFile::new(token);
    let provider = roles::oidc_provider(v);
    let path = file.path();
    let sts = format!("http://{}", sim.addr);
    let env = match v.name {
        // STS where ACK's RRSA webhook says, as it does from its version 0.4.0.
        "alibaba" => vars(&[
            ("ALIBABA_CLOUD_ROLE_ARN", &arn),
            ("ALIBABA_CLOUD_OIDC_PROVIDER_ARN", &provider),
            ("ALIBABA_CLOUD_OIDC_TOKEN_FILE", &path),
            ("ALIBABA_CLOUD_STS_ENDPOINT", &sts),
        ]),
        _ => vars(&[
            ("TKE_REGION", v.region),
            ("TKE_PROVIDER_ID", &provider),
            ("TKE_WEB_IDENTITY_TOKEN_FILE", &path),
            ("TKE_ROLE_ARN", &arn),
        ]),
    };
    keeps_stopping(&sim, v, env, "oidc", roles::oidc_action(v)).await;
}

async fn the_default_chain_falls_back_to_the_instance_role_and_keeps_stopping(v: Vendor) {
    let sim = Sim::start().await;
    let arn = roles::seed_role(&sim, v, LIFETIME).await;
    roles::seed_instance_role(&sim, v, &arn).await;
    keeps_stopping(&sim, v, Vec::new(), "instance_role", "GetRoleCredentials").await;
}
