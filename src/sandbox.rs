//! `stopgate sandbox`: the gateway with the simulator embedded and seeded with demo instances
//! and running commands on both clouds. Zero configuration; prints ready-to-paste commands.

use std::net::SocketAddr;
use std::sync::Arc;

use crate::config::{Account, Config, Credentials, DEFAULT_ACCOUNT, Secret};
use crate::engine::Engine;
use crate::sim::{SimConfig, Simulator, credentials};

/// The configuration the sandbox gateway runs with: the simulator's default credentials as the
/// `default` account, both endpoints pointing at the simulator.
pub fn config(sim: SocketAddr) -> Config {
    let endpoint = format!("http://{sim}");
    let mut config = Config {
        poll_interval_ms: 500,
        ..Config::default()
    };
    config.alibaba.endpoint = Some(endpoint.clone());
    config.tencent.endpoint = Some(endpoint);
    config.accounts.insert(
        DEFAULT_ACCOUNT.to_string(),
        Account {
            alibaba: Some(
                Credentials {
                    access_key_id: Secret::new(credentials::ALIBABA_ACCESS_KEY_ID),
                    secret: Secret::new(credentials::ALIBABA_ACCESS_KEY_SECRET),
                    token: None,
                }
                .into(),
            ),
            tencent: Some(
                Credentials {
                    access_key_id: Secret::new(credentials::TENCENT_SECRET_ID),
                    secret: Secret::new(credentials::TENCENT_SECRET_KEY),
                    token: None,
                }
                .into(),
            ),
            regions: Vec::new(),
        },
    );
    config
}

/// The banner with commands to try.
pub fn banner(gateway: SocketAddr, sim: SocketAddr) -> String {
    let g = gateway;
    format!(
        r#"stopgate sandbox listening on {g} (gRPC, plaintext)
  simulator of Alibaba Cloud + Tencent Cloud: http://{sim} (admin API: http://{sim}/_sim/, see docs/simulator.md)
  demo: Alibaba cn-hangzhou i-sgdemo0000000000000a1..a8 (a7 stopped, a8 security-locked);
        Tencent ap-guangzhou ins-sgdemo01..07 (07 stopped); running commands t-sgdemo0000000000000000000000001, inv-sgdemo01

Try (grpcurl needs no proto files: reflection is on):
  grpcurl -plaintext {g} list
  grpcurl -plaintext -d '{{"provider":"PROVIDER_ALIBABA","region":"cn-hangzhou","instance_ids":["i-sgdemo0000000000000a1","i-sgdemo0000000000000a7","i-sgdemo0000000000000a8"]}}' {g} stopgate.v1.InstanceService/StopInstances
  grpcurl -plaintext -d '{{"provider":"PROVIDER_TENCENT","region":"ap-guangzhou","instance_ids":["ins-sgdemo01","ins-sgdemo02","ins-sgdemo07"],"wait":{{"until_terminal":true}}}}' {g} stopgate.v1.InstanceService/StopInstances
  grpcurl -plaintext -d '{{"provider":"PROVIDER_TENCENT","region":"ap-guangzhou","instance_ids":["ins-sgdemo03"],"dry_run":true}}' {g} stopgate.v1.InstanceService/StopInstances
  grpcurl -plaintext -d '{{"provider":"PROVIDER_ALIBABA","region":"cn-hangzhou","execution_id":"t-sgdemo0000000000000000000000001","wait":{{"until_terminal":true}}}}' {g} stopgate.v1.CommandService/StopCommandExecution
  grpcurl -plaintext -d '{{"provider":"PROVIDER_TENCENT","region":"ap-guangzhou","execution_id":"inv-sgdemo01","instance_ids":["ins-sgdemo01"]}}' {g} stopgate.v1.CommandService/StopCommandExecution
  grpcurl -plaintext -d '{{"service":"stopgate.provider.tencent"}}' {g} grpc.health.v1.Health/Check
Reset the demo world: curl -X POST -d '{{"seed":"demo"}}' http://{sim}/_sim/reset"#
    )
}

/// Runs the sandbox until SIGINT/SIGTERM.
pub async fn run(listen: SocketAddr, sim_listen: SocketAddr) -> Result<(), String> {
    let sim_addr = Simulator::new(&SimConfig::default())
        .spawn(sim_listen)
        .await
        .map_err(|e| {
            format!(
                "cannot start the simulator on {sim_listen}: {e} (choose another with --sim-listen)"
            )
        })?;
    let engine = Arc::new(Engine::new(config(sim_addr))?);
    let (listener, gateway) = crate::server::bind(listen, "--listen").await?;
    println!("{}", banner(gateway, sim_addr));
    crate::server::serve(
        engine,
        listener,
        crate::server::shutdown_signal(),
        std::time::Duration::from_secs(10),
    )
    .await
}
