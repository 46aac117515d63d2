//! The `stopgate` binary: `serve` (the gateway), `sandbox` (the gateway with the simulator
//! embedded) and `sim` (the simulator alone).

use std::net::SocketAddr;

use std::path::PathBuf;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use stopgate::config::Config;
use stopgate::engine::Engine;
use stopgate::server::shutdown_signal;
#[cfg(feature = "sim")]
use stopgate::sim::{SimConfig, Simulator, credentials};

/// glibc's malloc kept the memory of a burst of streams (4x the idle RSS after 1,000
/// concurrent calls, whatever MALLOC_ARENA_MAX); mimalloc gives freed pages back to the system.
/// Its `no_thp` feature keeps it from asking for transparent huge pages, which nearly doubled
/// the idle and peak RSS (2 MiB pages for mostly empty segments).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "stopgate",
    version,
    about = "One gRPC API to stop instances and commands on Alibaba Cloud and Tencent Cloud"
)]
struct Cli {
    /// Log lines as text or JSON (JSON lines carry the request's trace_id).
    #[arg(long, global = true, default_value = "text", value_parser = ["text", "json"], env = "STOPGATE_LOG_FORMAT")]
    log_format: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway.
    Serve(ServeArgs),
    #[cfg(feature = "sim")]
    /// Run the gateway with the simulator of both clouds embedded and seeded (no configuration).
    Sandbox(SandboxArgs),
    /// Stop instances through a gateway, with a live progress bar and a table of results.
    StopInstances(stopgate::cli::StopInstancesArgs),
    /// Stop a running command execution through a gateway.
    StopExecution(stopgate::cli::StopExecutionArgs),
    #[cfg(feature = "sim")]
    /// Run the emulator of the Alibaba Cloud and Tencent Cloud APIs (docs/simulator.md).
    Sim(SimArgs),
}

#[derive(clap::Args)]
struct ServeArgs {
    /// Address to listen on for gRPC.
    #[arg(long, default_value = "127.0.0.1:50051", env = "STOPGATE_LISTEN")]
    listen: SocketAddr,
    /// TOML configuration (accounts, endpoints, limits); the vendors' credential variables
    /// and STOPGATE_ALIBABA_ENDPOINT / STOPGATE_TENCENT_ENDPOINT fill in what it leaves out.
    #[arg(long, env = "STOPGATE_CONFIG")]
    config: Option<PathBuf>,
}

#[cfg(feature = "sim")]
#[derive(clap::Args)]
struct SandboxArgs {
    /// Address to listen on for gRPC.
    #[arg(long, default_value = "127.0.0.1:50051")]
    listen: SocketAddr,
    /// Address of the embedded simulator.
    #[arg(long, default_value = "127.0.0.1:8780")]
    sim_listen: SocketAddr,
}

#[cfg(feature = "sim")]
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
    /// How many calls the call log (GET /_sim/calls) keeps; the oldest are forgotten first.
    #[arg(long, env = "STOPGATE_SIM_CALL_LOG_CAPACITY", default_value_t = stopgate::sim::calllog::DEFAULT_CAPACITY)]
    call_log_capacity: usize,
}

async fn run_serve(args: ServeArgs) -> Result<(), String> {
    let mut config = match &args.config {
        Some(path) => Config::from_file(path)?,
        None => Config::default(),
    };
    config.apply_env(|name| std::env::var(name).ok());
    if config.accounts.is_empty() {
        eprintln!(
            "stopgate: warning: no account is configured; every request will be refused until credentials are given (a config file, or ALIBABA_CLOUD_ACCESS_KEY_ID/… and TENCENTCLOUD_SECRET_ID/…)"
        );
    }
    let grace = std::time::Duration::from_secs(config.shutdown_grace_seconds);
    let engine = Arc::new(Engine::new(config)?);
    let (listener, addr) = stopgate::server::bind(args.listen, "--listen").await?;
    println!("stopgate listening on {addr}");
    stopgate::server::serve(engine, listener, shutdown_signal(), grace).await
}

#[cfg(feature = "sim")]
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
        call_log_capacity: args.call_log_capacity,
        ..SimConfig::default()
    };
    let (listener, addr) = stopgate::server::bind(args.listen, "--listen").await?;
    println!("{}", stopgate::sim::banner::banner(addr, &config));
    Simulator::new(&config)
        .serve(listener, shutdown_signal())
        .await;
    Ok(())
}

/// A client command's outcome: its own exit status, or 2 for a failed call.
fn exit_with(result: Result<i32, String>) -> Result<(), String> {
    match result {
        Ok(0) => Ok(()),
        Ok(code) => std::process::exit(code),
        Err(message) => {
            eprintln!("stopgate: {message}");
            std::process::exit(2);
        }
    }
}

#[tokio::main]
async fn main() {
    let cli = Cli::parse();
    let mut config = stopgate::telemetry::TelemetryConfig::from_env(cli.log_format == "json");
    if matches!(
        cli.command,
        Command::StopInstances(_) | Command::StopExecution(_)
    ) {
        // The client commands log, but export no telemetry of their own.
        config.traces_endpoint = None;
        config.metrics_endpoint = None;
    }
    let telemetry = match stopgate::telemetry::init(&config, std::io::stderr) {
        Ok(telemetry) => telemetry,
        Err(message) => {
            eprintln!("stopgate: {message}");
            std::process::exit(1);
        }
    };
    let result = match cli.command {
        Command::Serve(args) => run_serve(args).await,
        #[cfg(feature = "sim")]
        Command::Sandbox(args) => stopgate::sandbox::run(args.listen, args.sim_listen).await,
        #[cfg(feature = "sim")]
        Command::Sim(args) => run_sim(args).await,
        Command::StopInstances(args) => exit_with(stopgate::cli::stop_instances(args).await),
        Command::StopExecution(args) => exit_with(stopgate::cli::stop_execution(args).await),
    };
    telemetry.shutdown();
    if let Err(message) = result {
        eprintln!("stopgate: {message}");
        std::process::exit(1);
    }
}
