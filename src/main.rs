//! The `stopgate` binary: `sim` (the vendor emulator); the gateway commands come with it.

use std::net::SocketAddr;

use clap::{Parser, Subcommand};
use stopgate::sim::{SimConfig, Simulator, credentials};

#[derive(Parser)]
#[command(
    name = "stopgate",
    version,
    about = "One gRPC API to stop instances and commands on Alibaba Cloud and Tencent Cloud"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the emulator of the Alibaba Cloud and Tencent Cloud APIs (docs/simulator.md).
    Sim(SimArgs),
}

#[derive(clap::Args)]
struct SimArgs {
    /// Address to listen on (port 0 picks a free port; the chosen one is printed).
    #[arg(long, default_value = "127.0.0.1:8780", env = "STOPGATE_SIM_LISTEN")]
    listen: SocketAddr,
    /// Start with no instances or invocations instead of the demo world.
    #[arg(long)]
    empty: bool,
    /// Alibaba access key id the simulator accepts.
    #[arg(long, env = "STOPGATE_SIM_ALIBABA_ACCESS_KEY_ID", default_value = credentials::ALIBABA_ACCESS_KEY_ID)]
    alibaba_access_key_id: String,
    /// Alibaba access key secret the simulator accepts.
    #[arg(long, env = "STOPGATE_SIM_ALIBABA_ACCESS_KEY_SECRET", default_value = credentials::ALIBABA_ACCESS_KEY_SECRET, hide_default_value = true)]
    alibaba_access_key_secret: String,
    /// Tencent SecretId the simulator accepts.
    #[arg(long, env = "STOPGATE_SIM_TENCENT_SECRET_ID", default_value = credentials::TENCENT_SECRET_ID)]
    tencent_secret_id: String,
    /// Tencent SecretKey the simulator accepts.
    #[arg(long, env = "STOPGATE_SIM_TENCENT_SECRET_KEY", default_value = credentials::TENCENT_SECRET_KEY, hide_default_value = true)]
    tencent_secret_key: String,
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("installing a SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

async fn run_sim(args: SimArgs) -> Result<(), String> {
    let config = SimConfig {
        alibaba_key: (
            args.alibaba_access_key_id.clone(),
            args.alibaba_access_key_secret.clone(),
        ),
        tencent_key: (
            args.tencent_secret_id.clone(),
            args.tencent_secret_key.clone(),
        ),
        seed_demo: !args.empty,
    };
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|e| {
            format!(
                "cannot listen on {}: {e} (pick another address with --listen)",
                args.listen
            )
        })?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    println!("stopgate sim listening on http://{addr}");
    println!(
        "  Alibaba Cloud ECS 2014-05-26: endpoint {addr} (http), access key id {}, secret {}",
        args.alibaba_access_key_id, args.alibaba_access_key_secret
    );
    let (sts_id, sts_secret, sts_token) = credentials::ALIBABA_STS;
    println!("    STS: access key id {sts_id}, secret {sts_secret}, token {sts_token}");
    println!(
        "  Tencent Cloud CVM 2017-03-12 / TAT 2020-10-28: endpoint {addr} (http), SecretId {}, SecretKey {}",
        args.tencent_secret_id, args.tencent_secret_key
    );
    let (tmp_id, tmp_key, tmp_token) = credentials::TENCENT_TEMPORARY;
    println!("    temporary: SecretId {tmp_id}, SecretKey {tmp_key}, token {tmp_token}");
    println!(
        "  admin API: http://{addr}/_sim/ (docs/simulator.md); world: {}",
        if args.empty {
            "empty"
        } else {
            "demo (cn-hangzhou, ap-guangzhou)"
        }
    );
    Simulator::new(&config)
        .serve(listener, shutdown_signal())
        .await;
    Ok(())
}

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Sim(args) => run_sim(args).await,
    };
    if let Err(message) = result {
        eprintln!("stopgate: {message}");
        std::process::exit(1);
    }
}
