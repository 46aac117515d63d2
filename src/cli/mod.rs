//! `stopgate stop-instances` and `stopgate stop-execution`: a command-line client of the
//! gateway, with a live progress bar on stderr and a final table of per-instance results (or
//! `--json`, one JSON object per stream message). Exit status: 0 when every result is a
//! success, 1 when any instance failed, 2 when the call itself failed.

mod render;

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, ValueEnum};
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Identity};

use crate::api::pb;
use render::{Progress, Row};

/// How to reach the gateway.
#[derive(Args, Clone)]
pub struct Connection {
    /// The gateway's address.
    #[arg(
        long,
        default_value = "http://127.0.0.1:50051",
        env = "STOPGATE_GATEWAY"
    )]
    pub gateway: String,
    /// Bearer token, when the gateway requires callers to authenticate. Sent only over
    /// https://, or plaintext to a loopback address, unless --allow-plaintext-token.
    #[arg(long, env = "STOPGATE_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Send --token over a plaintext http:// address that is not loopback (for a service mesh
    /// whose sidecars encrypt the hop); anyone on the path can read and reuse it.
    #[arg(long, requires = "token")]
    pub allow_plaintext_token: bool,
    /// PEM CA to trust for a TLS gateway, besides the system's (use an https:// address).
    #[arg(long)]
    pub ca_cert: Option<PathBuf>,
    /// PEM client certificate and key, for a gateway that requires mutual TLS.
    #[arg(long, requires = "client_key")]
    pub client_cert: Option<PathBuf>,
    #[arg(long, requires = "client_cert")]
    pub client_key: Option<PathBuf>,
    /// Give up after this long (e.g. 90s, 10m); the gateway answers what it knows by then.
    #[arg(long, value_parser = parse_duration)]
    pub deadline: Option<Duration>,
    /// Print one JSON object per stream message instead of the progress bar and table.
    #[arg(long)]
    pub json: bool,
    /// The operation's id (AIP-155; default: a new UUID). Run the same command with the same
    /// id to re-attach to an operation, e.g. after this client was stopped.
    #[arg(long)]
    pub request_id: Option<String>,
    /// When the stream breaks, re-attach to the operation up to this many times in a row (with
    /// backoff); a re-attached stream that carries its first message starts the count again.
    #[arg(long, default_value_t = 8)]
    pub reattach_attempts: u32,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("gateway", &self.gateway)
            .field("token", &self.token.as_ref().map(|_| "[REDACTED]"))
            .field("allow_plaintext_token", &self.allow_plaintext_token)
            .field("ca_cert", &self.ca_cert)
            .field("client_cert", &self.client_cert)
            .field("client_key", &self.client_key)
            .field("deadline", &self.deadline)
            .field("json", &self.json)
            .field("request_id", &self.request_id)
            .field("reattach_attempts", &self.reattach_attempts)
            .finish()
    }
}

/// Whether the URL's host is this machine (127.0.0.0/8, ::1, localhost).
fn is_loopback(gateway: &str) -> bool {
    let Ok(uri) = gateway.parse::<http::Uri>() else {
        return false;
    };
    let host = uri.host().unwrap_or_default();
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Refuses to send a bearer token where anyone on the path could read it.
fn check_token_transport(c: &Connection) -> Result<(), String> {
    if c.token.is_none()
        || c.gateway.starts_with("https://")
        || c.allow_plaintext_token
        || is_loopback(&c.gateway)
    {
        return Ok(());
    }
    Err(format!(
        "refusing to send --token in the clear to {:?}: use an https:// gateway address (with --ca-cert if its certificate is private), or pass --allow-plaintext-token if something else encrypts this hop (a service mesh sidecar)",
        c.gateway
    ))
}

#[derive(ValueEnum, Debug, Clone, Copy)]
pub enum CliProvider {
    Alibaba,
    Tencent,
}

#[derive(ValueEnum, Debug, Clone, Copy)]
pub enum CliMode {
    Graceful,
    Force,
    GracefulThenForce,
}

#[derive(ValueEnum, Debug, Clone, Copy)]
pub enum CliBilling {
    ProviderDefault,
    KeepCharging,
    StopCharging,
}

/// `stopgate stop-instances`.
#[derive(Args, Debug)]
pub struct StopInstancesArgs {
    #[command(flatten)]
    pub connection: Connection,
    #[arg(long, value_enum)]
    pub provider: CliProvider,
    #[arg(long)]
    pub region: String,
    /// Configured account on the gateway (default: "default").
    #[arg(long, default_value = "")]
    pub account: String,
    #[arg(long, value_enum, default_value = "graceful")]
    pub mode: CliMode,
    #[arg(long, value_enum, default_value = "provider-default")]
    pub billing: CliBilling,
    #[arg(long)]
    pub dry_run: bool,
    #[arg(long)]
    pub all_or_nothing: bool,
    #[arg(long)]
    pub confirm_local_disk_data_loss: bool,
    /// Wait until every instance is stopped (or the wait times out).
    #[arg(long)]
    pub wait: bool,
    #[arg(long, value_parser = parse_duration, requires = "wait")]
    pub wait_timeout: Option<Duration>,
    /// Instance ids.
    #[arg(required = true)]
    pub instance_ids: Vec<String>,
}

/// `stopgate stop-execution`.
#[derive(Args, Debug)]
pub struct StopExecutionArgs {
    #[command(flatten)]
    pub connection: Connection,
    #[arg(long, value_enum)]
    pub provider: CliProvider,
    #[arg(long)]
    pub region: String,
    #[arg(long, default_value = "")]
    pub account: String,
    #[arg(long)]
    pub dry_run: bool,
    #[arg(long)]
    pub wait: bool,
    #[arg(long, value_parser = parse_duration, requires = "wait")]
    pub wait_timeout: Option<Duration>,
    /// The execution: Alibaba "t-…", Tencent "inv-…".
    pub execution_id: String,
    /// Only these instances (default: every instance of the execution).
    #[arg(long = "instance")]
    pub instance_ids: Vec<String>,
}

/// `90s`, `10m`, `1h`, `1500ms` or plain seconds.
fn parse_duration(text: &str) -> Result<Duration, String> {
    let (number, unit) = text
        .find(|c: char| !c.is_ascii_digit())
        .map(|i| text.split_at(i))
        .unwrap_or((text, "s"));
    let n: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration like 90s, 10m or 1h"))?;
    match unit {
        "ms" => Ok(Duration::from_millis(n)),
        "s" => Ok(Duration::from_secs(n)),
        "m" => Ok(Duration::from_secs(n * 60)),
        "h" => Ok(Duration::from_secs(n * 3600)),
        _ => Err(format!("{text:?} has an unknown unit: use ms, s, m or h")),
    }
}

fn proto_duration(d: Duration) -> prost_types::Duration {
    prost_types::Duration {
        seconds: d.as_secs() as i64,
        nanos: d.subsec_nanos() as i32,
    }
}

fn wait(on: bool, timeout: Option<Duration>) -> Option<pb::WaitOptions> {
    on.then(|| pb::WaitOptions {
        until_terminal: true,
        timeout: timeout.map(proto_duration),
    })
}

fn provider(p: CliProvider) -> i32 {
    match p {
        CliProvider::Alibaba => pb::Provider::Alibaba as i32,
        CliProvider::Tencent => pb::Provider::Tencent as i32,
    }
}

async fn connect(c: &Connection) -> Result<Channel, String> {
    check_token_transport(c)?;
    let mut endpoint = Channel::from_shared(c.gateway.clone())
        .map_err(|e| format!("--gateway {:?}: {e}", c.gateway))?;
    let https = c.gateway.starts_with("https://");
    if !https && (c.ca_cert.is_some() || c.client_cert.is_some()) {
        // Never send a token in the clear believing the connection is encrypted.
        return Err(format!(
            "--ca-cert/--client-cert need an https:// gateway address, not {:?}",
            c.gateway
        ));
    }
    if https {
        let read =
            |p: &PathBuf| std::fs::read(p).map_err(|e| format!("cannot read {}: {e}", p.display()));
        let mut tls = ClientTlsConfig::new().with_native_roots();
        if let Some(ca) = &c.ca_cert {
            tls = tls.ca_certificate(Certificate::from_pem(read(ca)?));
        }
        if let (Some(cert), Some(key)) = (&c.client_cert, &c.client_key) {
            tls = tls.identity(Identity::from_pem(read(cert)?, read(key)?));
        }
        endpoint = endpoint.tls_config(tls).map_err(|e| format!("TLS: {e}"))?;
    }
    endpoint
        .connect()
        .await
        .map_err(|e| format!("cannot reach the gateway at {}: {e}", c.gateway))
}

fn request<T>(c: &Connection, message: T) -> Result<tonic::Request<T>, String> {
    let mut request = tonic::Request::new(message);
    if let Some(token) = &c.token {
        let value = format!("Bearer {token}")
            .parse()
            .map_err(|_| "--token has characters a header cannot carry".to_string())?;
        request.metadata_mut().insert("authorization", value);
    }
    if let Some(deadline) = c.deadline {
        request.set_timeout(deadline);
    }
    Ok(request)
}

fn rpc_failure(status: tonic::Status) -> String {
    use tonic_types::StatusExt;
    let mut text = format!("{:?}: {}", status.code(), status.message());
    if let Some(bad) = status.get_details_bad_request() {
        for v in bad.field_violations {
            text.push_str(&format!("\n  {}: {}", v.field, v.description));
        }
    }
    text
}

/// Runs `stopgate stop-instances`; returns the process exit status.
pub async fn stop_instances(args: StopInstancesArgs) -> Result<i32, String> {
    let c = &args.connection;
    let channel = connect(c).await?;
    let message = pb::StopInstancesRequest {
        provider: provider(args.provider),
        region: args.region.clone(),
        account: args.account.clone(),
        instance_ids: args.instance_ids.clone(),
        mode: match args.mode {
            CliMode::Graceful => pb::StopMode::Graceful,
            CliMode::Force => pb::StopMode::Force,
            CliMode::GracefulThenForce => pb::StopMode::GracefulThenForce,
        } as i32,
        billing: match args.billing {
            CliBilling::ProviderDefault => pb::Billing::ProviderDefault,
            CliBilling::KeepCharging => pb::Billing::KeepCharging,
            CliBilling::StopCharging => pb::Billing::StopCharging,
        } as i32,
        dry_run: args.dry_run,
        all_or_nothing: args.all_or_nothing,
        confirm_local_disk_data_loss: args.confirm_local_disk_data_loss,
        wait: wait(args.wait, args.wait_timeout),
        graceful_timeout: None,
        request_id: operation_id(c),
        selector: None,
    };
    let client = pb::instance_service_client::InstanceServiceClient::new(channel);
    let open = || {
        let mut client = client.clone();
        let message = message.clone();
        async move {
            let request = request(c, message).map_err(tonic::Status::invalid_argument)?;
            Ok(client.stop_instances(request).await?.into_inner())
        }
    };
    report(
        open,
        &message.request_id,
        args.instance_ids.len(),
        c,
        |m: pb::StopInstancesResponse| {
            use pb::stop_instances_response::Event;
            let json = render::json_instance_message(&m);
            let item = match m.event {
                Some(Event::Result(r)) => Item::Result(Row::from_instance(&r)),
                Some(Event::Progress(p)) => Item::Progress(p.instance_id, p.vendor_state),
                Some(Event::Summary(s)) => Item::Summary(s),
                Some(Event::Accepted(a)) => Item::Accepted(a),
                None => Item::Nothing,
            };
            (json, item)
        },
    )
    .await
}

/// Runs `stopgate stop-execution`; returns the process exit status.
pub async fn stop_execution(args: StopExecutionArgs) -> Result<i32, String> {
    let c = &args.connection;
    let channel = connect(c).await?;
    let message = pb::StopCommandExecutionRequest {
        provider: provider(args.provider),
        region: args.region.clone(),
        account: args.account.clone(),
        execution_id: args.execution_id.clone(),
        instance_ids: args.instance_ids.clone(),
        dry_run: args.dry_run,
        wait: wait(args.wait, args.wait_timeout),
        request_id: operation_id(c),
    };
    let client = pb::command_service_client::CommandServiceClient::new(channel);
    let open = || {
        let mut client = client.clone();
        let message = message.clone();
        async move {
            let request = request(c, message).map_err(tonic::Status::invalid_argument)?;
            Ok(client.stop_command_execution(request).await?.into_inner())
        }
    };
    report(
        open,
        &message.request_id,
        args.instance_ids.len(),
        c,
        |m: pb::StopCommandExecutionResponse| {
            use pb::stop_command_execution_response::Event;
            let json = render::json_command_message(&m);
            let item = match m.event {
                Some(Event::Result(r)) => Item::Result(Row::from_task(&r)),
                Some(Event::Progress(p)) => Item::Progress(p.instance_id, p.vendor_state),
                Some(Event::Summary(s)) => Item::Summary(s),
                Some(Event::Accepted(a)) => Item::Accepted(a),
                None => Item::Nothing,
            };
            (json, item)
        },
    )
    .await
}

/// The request id to send: the one given, or a new UUID (chosen here, so that the client can
/// re-attach even if the stream breaks before its first message).
fn operation_id(c: &Connection) -> String {
    c.request_id
        .clone()
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string())
}

/// One stream message, as the report needs it.
enum Item {
    Accepted(pb::OperationAccepted),
    Result(Row),
    Progress(String, String),
    Summary(pb::Summary),
    Nothing,
}

/// Whether a stream that ended with `status` may be re-attached to: the connection or the
/// replica went away. A refusal, the caller's own deadline or a request-level failure is
/// final.
fn may_reattach(status: &tonic::Status) -> bool {
    use tonic::Code;
    matches!(
        status.code(),
        Code::Unavailable | Code::Unknown | Code::Aborted | Code::Internal
    ) && !status.message().contains("(a bug)")
}

/// Opens the operation's stream and reads it to its end, re-attaching with backoff when it
/// breaks (each instance is reported once, however many times its result is replayed), drawing
/// progress (or printing JSON); then prints the report and returns the exit status.
async fn report<M, F, Fut>(
    open: F,
    request_id: &str,
    total: usize,
    c: &Connection,
    read: impl Fn(M) -> (serde_json::Value, Item),
) -> Result<i32, String>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<tonic::Streaming<M>, tonic::Status>>,
{
    let mut progress = Progress::new(total, c.json);
    let mut rows = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut announced = false;
    let mut summarized = false;
    let mut attempt = 0u32;
    'attach: loop {
        let broke = match open().await {
            Ok(mut stream) => loop {
                match stream.message().await {
                    Ok(Some(message)) => {
                        let (as_json, item) = read(message);
                        match item {
                            Item::Accepted(accepted) => {
                                if !announced && !c.json {
                                    eprintln!(
                                        "operation {} (re-attach with --request-id {})",
                                        accepted.request_id, accepted.request_id
                                    );
                                }
                                if c.json && !announced {
                                    println!("{as_json}");
                                }
                                announced = true;
                                attempt = 0;
                            }
                            Item::Result(row) => {
                                if seen.insert(row.instance.clone()) {
                                    if c.json {
                                        println!("{as_json}");
                                    }
                                    progress.result(&row);
                                    rows.push(row);
                                }
                            }
                            Item::Progress(instance, state) => {
                                if !seen.contains(&instance) {
                                    if c.json {
                                        println!("{as_json}");
                                    }
                                    progress.note(&instance, &state);
                                }
                            }
                            Item::Summary(summary) => {
                                // A stream that broke after its summary (before its trailers)
                                // is re-attached to and replays the summary: print it once.
                                if c.json && !summarized {
                                    println!("{as_json}");
                                }
                                summarized = true;
                                progress.summary(summary);
                            }
                            Item::Nothing => {}
                        }
                    }
                    Ok(None) => break 'attach,
                    Err(status) => break status,
                }
            },
            Err(status) => status,
        };
        attempt += 1;
        if !may_reattach(&broke) || attempt > c.reattach_attempts {
            let mut failure = rpc_failure(broke);
            if announced {
                failure.push_str(&format!(
                    "\nthe operation continues on the gateway: run the same command with --request-id {request_id} to get every result"
                ));
            }
            return Err(failure);
        }
        let pause = Duration::from_millis(250 * (1u64 << attempt.min(6)));
        eprintln!(
            "stopgate: the stream broke ({:?}: {}); re-attaching to operation {request_id} in {:.1} s (attempt {attempt} of {})",
            broke.code(),
            broke.message(),
            pause.as_secs_f64(),
            c.reattach_attempts
        );
        tokio::time::sleep(pause).await;
    }
    Ok(progress.finish(&rows))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_people_write_them() {
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("10m"), Ok(Duration::from_secs(600)));
        assert_eq!(parse_duration("1500ms"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("45"), Ok(Duration::from_secs(45)));
        assert!(parse_duration("10 minutes").is_err());
    }

    fn connection(gateway: &str, token: Option<&str>) -> Connection {
        Connection {
            gateway: gateway.to_string(),
            token: token.map(str::to_string),
            allow_plaintext_token: false,
            ca_cert: None,
            client_cert: None,
            client_key: None,
            deadline: None,
            json: false,
            request_id: None,
            reattach_attempts: 8,
        }
    }

    #[test]
    fn the_token_never_shows_in_debug_output() {
        let c = connection("https://gw.example:443", Some("s3cret-bearer-token-value"));
        let printed = format!("{c:?}");
        assert!(!printed.contains("s3cret-bearer-token-value"), "{printed}");
        assert!(printed.contains("[REDACTED]"), "{printed}");
    }

    #[test]
    fn a_token_goes_in_the_clear_only_to_loopback_or_when_allowed() {
        let token = Some("a-token-of-16-chars");
        for ok in [
            "https://gw.example:443",
            "http://127.0.0.1:50051",
            "http://127.1.2.3:50051",
            "http://[::1]:50051",
            "http://localhost:50051",
        ] {
            assert!(
                check_token_transport(&connection(ok, token)).is_ok(),
                "{ok}"
            );
        }
        let refused = check_token_transport(&connection("http://10.0.0.5:50051", token));
        assert!(refused.unwrap_err().contains("--allow-plaintext-token"));
        assert!(check_token_transport(&connection("http://gw.internal:50051", None)).is_ok());
        let mut allowed = connection("http://gw.internal:50051", token);
        allowed.allow_plaintext_token = true;
        assert!(check_token_transport(&allowed).is_ok());
    }
}
