//! `stopgate stop-instances` and `stopgate stop-execution`: a command-line client of the
//! gateway, with a live progress bar on stderr and a final table of per-instance results (or
//! `--json`, one JSON object per stream message). `stop-instances` names instance ids in one
//! region, or selects by `--tag` across regions (`--region A,B` or `--all-regions`, with
//! `--expect-at-most`). Exit status: 0 when every result is a success, 1 when any instance
//! failed or a region the tags were searched in could not be read, 2 when the call itself
//! failed (or the arguments were refused before any call).

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
    /// The instances' region; with --tag, the regions to search, comma-separated (e.g.
    /// cn-hangzhou,cn-shanghai).
    #[arg(long, value_name = "REGION[,REGION…]", value_delimiter = ',')]
    pub region: Vec<String>,
    /// Instead of ids: stop every instance carrying this tag, KEY=VALUE, or KEY alone for any
    /// value. Repeat it to require several (an instance must carry every one). Needs
    /// --expect-at-most, and --region or --all-regions.
    #[arg(long = "tag", value_name = "KEY[=VALUE]", value_parser = parse_tag)]
    pub tags: Vec<pb::TagMatch>,
    /// With --tag: search every region the account may act in, instead of --region.
    #[arg(long)]
    pub all_regions: bool,
    /// With --tag, required: the most instances you expect the tags to match over all the
    /// regions searched. When more match, the gateway stops nothing and says how many matched
    /// where.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub expect_at_most: Option<u32>,
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
    /// Instance ids (or --tag).
    #[arg(required_unless_present = "tags")]
    pub instance_ids: Vec<String>,
}

/// `KEY=VALUE` (the tag with that value) or `KEY` (the tag, whatever its value).
fn parse_tag(text: &str) -> Result<pb::TagMatch, String> {
    let (key, value) = match text.split_once('=') {
        Some((key, value)) => (key, Some(value.to_string())),
        None => (text, None),
    };
    if key.is_empty() {
        return Err(format!(
            "{text:?} names no tag key: use KEY=VALUE, or KEY alone for any value"
        ));
    }
    Ok(pb::TagMatch {
        key: key.to_string(),
        value,
    })
}

/// What a stop-instances request names: its region and ids, or its selector.
#[derive(Debug, PartialEq)]
struct Target {
    region: String,
    instance_ids: Vec<String>,
    selector: Option<pb::InstanceSelector>,
}

/// Reads the ids or the selector from the arguments, refusing what cannot make a request
/// before anything is sent (the gateway checks the rest).
fn target(args: &StopInstancesArgs) -> Result<Target, String> {
    let regions: Vec<String> = args.region.iter().map(|r| r.trim().to_string()).collect();
    if regions.iter().any(String::is_empty) {
        return Err(format!(
            "--region {:?} has an empty region: separate regions with single commas",
            args.region.join(",")
        ));
    }
    if args.tags.is_empty() {
        if args.all_regions {
            return Err("--all-regions goes with --tag: it says where to search for the tagged instances; instance ids take one --region".into());
        }
        if args.expect_at_most.is_some() {
            return Err(
                "--expect-at-most goes with --tag: it bounds how many instances the tags may match"
                    .into(),
            );
        }
        return match regions.as_slice() {
            [region] => Ok(Target {
                region: region.clone(),
                instance_ids: args.instance_ids.clone(),
                selector: None,
            }),
            [] => Err("--region is required: the region of the instance ids".into()),
            _ => Err(format!(
                "instance ids are in one region, not {}: run one command per region, or select by --tag across regions",
                regions.join(",")
            )),
        };
    }
    if !args.instance_ids.is_empty() {
        return Err(format!(
            "give instance ids or --tag, not both (ids: {})",
            args.instance_ids.join(" ")
        ));
    }
    let Some(expect_at_most) = args.expect_at_most else {
        return Err("--tag needs --expect-at-most N: the most instances you expect the tags to match over all the regions searched (when more match, nothing is stopped)".into());
    };
    match (args.all_regions, regions.is_empty()) {
        (true, false) => return Err("--all-regions or --region, not both".into()),
        (false, true) => {
            return Err(
                "--tag needs the regions to search: --region REGION[,REGION…] or --all-regions"
                    .into(),
            );
        }
        _ => {}
    }
    Ok(Target {
        region: String::new(),
        instance_ids: Vec::new(),
        selector: Some(pb::InstanceSelector {
            tags: args.tags.clone(),
            regions,
            all_regions: args.all_regions,
            expect_at_most,
        }),
    })
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
    let mut text = match status.get_details_error_info() {
        Some(info) if !info.reason.is_empty() => {
            format!(
                "{:?} ({}): {}",
                status.code(),
                info.reason,
                status.message()
            )
        }
        _ => format!("{:?}: {}", status.code(), status.message()),
    };
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
    let target = target(&args)?;
    let channel = connect(c).await?;
    let total = target.instance_ids.len();
    let message = pb::StopInstancesRequest {
        provider: provider(args.provider),
        region: target.region,
        account: args.account.clone(),
        instance_ids: target.instance_ids,
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
        selector: target.selector,
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
        total,
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
                                progress.expect(accepted.unique as usize);
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

    #[derive(clap::Parser)]
    struct Cli {
        #[command(flatten)]
        args: StopInstancesArgs,
    }

    fn parsed(args: &[&str]) -> Result<StopInstancesArgs, String> {
        use clap::Parser;
        let argv = ["stop-instances", "--provider", "alibaba"]
            .iter()
            .chain(args);
        Cli::try_parse_from(argv)
            .map(|c| c.args)
            .map_err(|e| e.to_string())
    }

    fn targeted(args: &[&str]) -> Result<Target, String> {
        target(&parsed(args)?)
    }

    fn tag(key: &str, value: Option<&str>) -> pb::TagMatch {
        pb::TagMatch {
            key: key.into(),
            value: value.map(str::to_string),
        }
    }

    #[test]
    fn ids_go_with_one_region() {
        let t = targeted(&["--region", "cn-hangzhou", "i-1", "i-2"]).unwrap();
        assert_eq!(t.region, "cn-hangzhou");
        assert_eq!(t.instance_ids, ["i-1", "i-2"]);
        assert_eq!(t.selector, None);
        let two = targeted(&["--region", "cn-hangzhou,cn-shanghai", "i-1"]).unwrap_err();
        assert!(two.contains("one region") && two.contains("--tag"), "{two}");
        assert!(
            targeted(&["i-1"])
                .unwrap_err()
                .contains("--region is required")
        );
        assert!(
            parsed(&["--region", "cn-hangzhou"]).is_err(),
            "ids or --tag"
        );
    }

    #[test]
    fn tags_make_a_selector_over_the_regions_given() {
        let t = targeted(&[
            "--tag",
            "env=dev",
            "--tag",
            "team",
            "--tag",
            "blank=",
            "--region",
            "cn-hangzhou,cn-shanghai",
            "--region",
            "cn-beijing",
            "--expect-at-most",
            "500",
        ])
        .unwrap();
        assert_eq!(t.region, "");
        assert!(t.instance_ids.is_empty());
        assert_eq!(
            t.selector,
            Some(pb::InstanceSelector {
                tags: vec![
                    tag("env", Some("dev")),
                    tag("team", None),
                    tag("blank", Some(""))
                ],
                regions: vec![
                    "cn-hangzhou".into(),
                    "cn-shanghai".into(),
                    "cn-beijing".into()
                ],
                all_regions: false,
                expect_at_most: 500,
            })
        );
        let all = targeted(&["--tag", "env=dev", "--all-regions", "--expect-at-most", "1"])
            .unwrap()
            .selector
            .unwrap();
        assert!(all.all_regions && all.regions.is_empty());
    }

    #[test]
    fn a_selector_without_its_bound_or_regions_is_refused_before_any_call() {
        let refused = |args: &[&str], says: &str| {
            let e = targeted(args).unwrap_err();
            assert!(e.contains(says), "{args:?}: {e}");
        };
        refused(
            &["--tag", "env=dev", "--region", "cn-hangzhou"],
            "--expect-at-most N",
        );
        refused(
            &["--tag", "env=dev", "--expect-at-most", "5"],
            "--all-regions",
        );
        refused(
            &[
                "--tag",
                "env",
                "--all-regions",
                "--region",
                "cn-hangzhou",
                "--expect-at-most",
                "5",
            ],
            "not both",
        );
        refused(
            &[
                "--tag",
                "env",
                "--region",
                "cn-hangzhou",
                "--expect-at-most",
                "5",
                "i-1",
            ],
            "ids or --tag, not both",
        );
        refused(
            &["--region", "cn-hangzhou", "--all-regions", "i-1"],
            "goes with --tag",
        );
        refused(
            &["--region", "cn-hangzhou", "--expect-at-most", "3", "i-1"],
            "goes with --tag",
        );
        refused(
            &[
                "--tag",
                "env",
                "--region",
                "cn-hangzhou,,cn-shanghai",
                "--expect-at-most",
                "5",
            ],
            "empty region",
        );
        let e = parsed(&["--tag", "=dev", "--all-regions", "--expect-at-most", "5"]).unwrap_err();
        assert!(e.contains("no tag key"), "{e}");
        let e = parsed(&["--tag", "env", "--all-regions", "--expect-at-most", "0"]).unwrap_err();
        assert!(e.contains("--expect-at-most"), "{e}");
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
