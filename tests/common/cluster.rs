//! Processes for the multi-replica tests: a Redis server of the test's own (Debian's
//! `redis-server`, no persistence, a free loopback port) and gateway replicas run as real
//! `stopgate serve` processes.

use std::net::SocketAddr;
use std::process::Stdio;
use std::time::Duration;

use stopgate::api::pb::instance_service_client::InstanceServiceClient;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tonic::transport::Channel;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A Redis server this test started; killed when dropped.
pub struct Redis {
    child: Option<Child>,
    pub port: u16,
}

impl Redis {
    pub async fn start() -> Redis {
        Redis::start_on(free_port()).await
    }

    /// Starts Redis on `port` (again, after [`Redis::kill`]) and waits until it answers.
    pub async fn start_on(port: u16) -> Redis {
        Redis::start_with(port, &[]).await
    }

    /// Starts Redis on `port` with extra server arguments (such as `--requirepass`).
    pub async fn start_with(port: u16, extra: &[&str]) -> Redis {
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--protected-mode", "no"])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect(
                "redis-server runs (apt-get install redis-server; `bash scripts/test` installs it)",
            );
        let redis = Redis {
            child: Some(child),
            port,
        };
        wait_for_ping(&redis.url()).await;
        redis
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Kills the server (SIGKILL: no goodbye to its clients).
    pub async fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().await.unwrap();
        }
    }

    /// Runs one command against this Redis.
    pub async fn query<T: redis::FromRedisValue>(&self, command: &mut redis::Cmd) -> T {
        let client = redis::Client::open(self.url()).unwrap();
        let mut c = client.get_multiplexed_async_connection().await.unwrap();
        command.query_async(&mut c).await.unwrap()
    }
}

/// A `stopgate serve` process on a free port, pointed at `sim`.
pub struct Replica {
    child: Child,
    /// Its log lines (stderr), as they were written.
    pub logs: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    pub addr: SocketAddr,
    pub client: InstanceServiceClient<Channel>,
    pub channel: Channel,
    _config: TempFile,
}

struct TempFile(std::path::PathBuf);

/// The stopgate binary: the one cargo built for the tests, or the benchmark's release build.
fn binary() -> String {
    option_env!("CARGO_BIN_EXE_stopgate")
        .map(String::from)
        .or_else(|| std::env::var("STOPGATE_BIN").ok())
        .expect("the stopgate binary (STOPGATE_BIN)")
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// How an isolated replica is started ([`Replica::start_isolated`]).
pub struct Launch {
    /// Its whole environment, besides `PATH` and a `HOME` with nothing in it: nothing of the
    /// test's own environment reaches it (tests run in parallel, and the default credential
    /// chains read the environment).
    pub env: Vec<(String, String)>,
    /// Its `RUST_LOG`.
    pub log: String,
    /// Whether its log lines are echoed in the test's output too (not for trace logs).
    pub echo: bool,
}

impl Replica {
    /// Starts a replica with this TOML configuration (credentials and endpoints of `sim` come
    /// from the environment, as an operator would set them).
    pub async fn start(sim: SocketAddr, config: &str) -> Replica {
        let sim_url = format!("http://{sim}");
        let mut command = Command::new(binary());
        command
            .env("STOPGATE_ALIBABA_ENDPOINT", &sim_url)
            .env("STOPGATE_TENCENT_ENDPOINT", &sim_url)
            .env(
                "ALIBABA_CLOUD_ACCESS_KEY_ID",
                stopgate::sim::credentials::ALIBABA_ACCESS_KEY_ID,
            )
            .env(
                "ALIBABA_CLOUD_ACCESS_KEY_SECRET",
                stopgate::sim::credentials::ALIBABA_ACCESS_KEY_SECRET,
            )
            .env(
                "TENCENTCLOUD_SECRET_ID",
                stopgate::sim::credentials::TENCENT_SECRET_ID,
            )
            .env(
                "TENCENTCLOUD_SECRET_KEY",
                stopgate::sim::credentials::TENCENT_SECRET_KEY,
            )
            .env_remove("STOPGATE_REDIS_URL")
            .env("RUST_LOG", "warn,stopgate::audit=info");
        Replica::spawn(command, config, true).await
    }

    /// Starts a replica with this TOML configuration and only the environment `launch` gives.
    pub async fn start_isolated(config: &str, launch: Launch) -> Replica {
        let home = std::env::temp_dir().join(format!("stopgate-empty-home-{}", free_port()));
        let mut command = Command::new(binary());
        command
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", home)
            .env("RUST_LOG", &launch.log)
            .envs(launch.env);
        Replica::spawn(command, config, launch.echo).await
    }

    async fn spawn(mut command: Command, config: &str, echo: bool) -> Replica {
        let path = std::env::temp_dir().join(format!(
            "stopgate-replica-{}-{}.toml",
            std::process::id(),
            free_port()
        ));
        std::fs::write(&path, config).unwrap();
        let mut child = command
            .args(["serve", "--listen", "127.0.0.1:0", "--config"])
            .arg(&path)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let logs = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let mut errors = BufReader::new(child.stderr.take().unwrap()).lines();
        let kept = logs.clone();
        tokio::spawn(async move {
            while let Ok(Some(line)) = errors.next_line().await {
                // Warnings and errors show in the test's output; the audit lines are only kept.
                if echo && !line.contains("stopgate::audit") {
                    eprintln!("[replica] {line}");
                }
                kept.lock().unwrap().push(line);
            }
        });
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let addr = loop {
            let line = lines
                .next_line()
                .await
                .unwrap()
                .expect("the replica prints where it listens");
            if let Some(addr) = line.strip_prefix("stopgate listening on ") {
                break addr.trim().parse().unwrap();
            }
        };
        // Keep reading its output so that it never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        let channel = Channel::from_shared(format!("http://{addr}"))
            .unwrap()
            .connect_lazy();
        Replica {
            child,
            logs,
            addr,
            client: InstanceServiceClient::new(channel.clone()),
            channel,
            _config: TempFile(path),
        }
    }

    /// Sends the process a signal (`TERM`, `KILL`).
    pub fn signal(&self, signal: &str) {
        let pid = self.child.id().expect("the replica runs").to_string();
        let sent = std::process::Command::new("kill")
            .args([&format!("-{signal}"), &pid])
            .status()
            .unwrap();
        assert!(sent.success(), "kill -{signal} {pid}");
    }

    /// Waits for the process to exit.
    pub async fn exited(&mut self) -> std::process::ExitStatus {
        self.child.wait().await.unwrap()
    }

    /// The log lines written so far.
    pub fn log_lines(&self) -> Vec<String> {
        self.logs.lock().unwrap().clone()
    }

    /// Waits until the health of `service` is `status` (watching it, not polling).
    pub async fn wait_health(&self, service: &str, status: ServingStatus) {
        let mut health = HealthClient::new(self.channel.clone());
        let mut watch = health
            .watch(tonic_health::pb::HealthCheckRequest {
                service: service.into(),
            })
            .await
            .unwrap()
            .into_inner();
        while let Some(answer) = watch.message().await.unwrap() {
            if answer.status == status as i32 {
                return;
            }
        }
        panic!("the health watch of {service} ended before {status:?}");
    }
}

/// A three-node Redis Cluster this test started (no replicas, no persistence); its nodes are
/// killed when dropped.
pub struct RedisCluster {
    nodes: Vec<Child>,
    pub ports: Vec<u16>,
    dir: std::path::PathBuf,
}

impl Drop for RedisCluster {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            let _ = node.start_kill();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl RedisCluster {
    pub async fn start() -> RedisCluster {
        let ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
        let dir = std::env::temp_dir().join(format!("stopgate-redis-cluster-{}", ports[0]));
        let mut nodes = Vec::new();
        for port in &ports {
            let node_dir = dir.join(port.to_string());
            std::fs::create_dir_all(&node_dir).unwrap();
            nodes.push(
                Command::new("redis-server")
                    .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                    .args([
                        "--cluster-enabled",
                        "yes",
                        "--cluster-config-file",
                        "nodes.conf",
                    ])
                    .args(["--save", "", "--appendonly", "no"])
                    .arg("--dir")
                    .arg(&node_dir)
                    .stdout(Stdio::null())
                    .kill_on_drop(true)
                    .spawn()
                    .expect("redis-server runs"),
            );
        }
        let cluster = RedisCluster { nodes, ports, dir };
        for port in &cluster.ports {
            wait_for_ping(&format!("redis://127.0.0.1:{port}")).await;
        }
        let addresses: Vec<String> = cluster
            .ports
            .iter()
            .map(|p| format!("127.0.0.1:{p}"))
            .collect();
        let created = Command::new("redis-cli")
            .arg("--cluster")
            .arg("create")
            .args(&addresses)
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .stdout(Stdio::null())
            .status()
            .await
            .expect("redis-cli runs");
        assert!(created.success(), "redis-cli --cluster create");
        // Every node must agree that all slots are served before the test starts.
        for url in cluster.urls() {
            let client = redis::Client::open(url).unwrap();
            let mut c = client.get_multiplexed_async_connection().await.unwrap();
            for attempt in 0.. {
                let info: String = redis::cmd("CLUSTER")
                    .arg("INFO")
                    .query_async(&mut c)
                    .await
                    .unwrap();
                if info.contains("cluster_state:ok") {
                    break;
                }
                assert!(attempt < 1000, "the cluster never became ready: {info}");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
        cluster
    }

    pub fn urls(&self) -> Vec<String> {
        self.ports
            .iter()
            .map(|p| format!("redis://127.0.0.1:{p}"))
            .collect()
    }

    /// Runs one command against the cluster (routed by its key).
    pub async fn query<T: redis::FromRedisValue>(&self, command: &mut redis::Cmd) -> T {
        let client = redis::cluster::ClusterClient::new(self.urls()).unwrap();
        let mut c = client.get_async_connection().await.unwrap();
        command.query_async(&mut c).await.unwrap()
    }
}

async fn wait_for_ping(url: &str) {
    let client = redis::Client::open(url).unwrap();
    for _ in 0..500 {
        if let Ok(mut c) = client.get_multiplexed_async_connection().await {
            match redis::cmd("PING").query_async::<String>(&mut c).await {
                Ok(_) => return,
                // A Redis with a password answers, and that is all this waits for.
                Err(e) if e.code() == Some("NOAUTH") => return,
                Err(_) => {}
            }
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("redis-server did not answer at {url}");
}
