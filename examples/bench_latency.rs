//! Prepares the requests `scripts/bench-latency` replays with h2load, and reports its figures.
//!
//! `bench_latency prepare DIR SIM_HOST:PORT INSTANCE_ID` writes
//! - `DIR/grpc.bin`: one gRPC frame, StopInstances of INSTANCE_ID on Tencent ap-guangzhou;
//! - `DIR/direct.body` and `DIR/direct.headers`: the same DescribeInstances read the gateway
//!   makes, signed for the simulator's default Tencent key (valid for a few minutes).
//!
//! `bench_latency report GATEWAY_LOG DIRECT_LOG CPU_TICKS CALLS` prints p50/p99 of both h2load
//! log files side by side, the gateway's overhead, and its CPU time per call.
//!
//! `bench_latency client-floor SIM_HOST:PORT INSTANCE_ID CALLS` sends the same read CALLS times
//! with a bare reqwest client and prints its CPU per call: what the vendor half of a gateway
//! call costs at least on this machine.

use prost::Message;
use stopgate::api::pb;
use stopgate::provider::tencent::sign;
use stopgate::sim::credentials;

/// The DescribeInstances read the gateway makes for `id`, signed now for the simulator's
/// default Tencent key: its JSON body and its headers.
fn signed_read(sim: &str, id: &str) -> (String, Vec<(&'static str, String)>) {
    let json = serde_json::json!({"InstanceIds": [id], "Limit": 100}).to_string();
    let timestamp = time::OffsetDateTime::now_utc().unix_timestamp();
    let payload = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(json.as_bytes()));
    let signed = vec![
        ("content-type".to_string(), "application/json".to_string()),
        ("host".to_string(), sim.to_string()),
    ];
    let authorization = sign::tc3_authorization(
        &sign::Tc3Request {
            method: "POST",
            canonical_query: "",
            headers: &signed,
            payload_sha256: &payload,
            timestamp,
            service: "cvm",
        },
        credentials::TENCENT_SECRET_ID,
        credentials::TENCENT_SECRET_KEY,
    );
    let headers = vec![
        ("authorization", authorization),
        ("content-type", "application/json".into()),
        ("x-tc-action", "DescribeInstances".into()),
        ("x-tc-version", "2017-03-12".into()),
        ("x-tc-timestamp", timestamp.to_string()),
        ("x-tc-region", "ap-guangzhou".into()),
        ("x-tc-language", "en-US".into()),
    ];
    (json, headers)
}

fn prepare(dir: &str, sim: &str, id: &str) {
    let request = pb::StopInstancesRequest {
        provider: pb::Provider::Tencent as i32,
        region: "ap-guangzhou".into(),
        instance_ids: vec![id.to_string()],
        ..Default::default()
    };
    let body = request.encode_to_vec();
    let mut frame = vec![0u8];
    frame.extend_from_slice(&(body.len() as u32).to_be_bytes());
    frame.extend_from_slice(&body);
    std::fs::write(format!("{dir}/grpc.bin"), frame).expect("write grpc.bin");

    let (json, headers) = signed_read(sim, id);
    let headers: Vec<String> = headers
        .iter()
        .map(|(name, value)| format!("{name}: {value}"))
        .collect();
    std::fs::write(format!("{dir}/direct.body"), json).expect("write direct.body");
    std::fs::write(format!("{dir}/direct.headers"), headers.join("\n") + "\n")
        .expect("write direct.headers");
}

/// Request times in µs from an h2load `--log-file` (start, status, µs per line), successes
/// only.
fn times(path: &str) -> Vec<u64> {
    let text = std::fs::read_to_string(path).expect("an h2load log");
    let mut times: Vec<u64> = text
        .lines()
        .filter_map(|line| {
            let mut fields = line.split('\t');
            let _start = fields.next()?;
            let status: i32 = fields.next()?.trim().parse().ok()?;
            let micros: u64 = fields.next()?.trim().parse().ok()?;
            (status == 200).then_some(micros)
        })
        .collect();
    times.sort_unstable();
    times
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1] as f64 / 1000.0
}

fn report(gateway_log: &str, direct_log: &str, cpu_ticks: u64, calls: u64) {
    let (gateway, direct) = (times(gateway_log), times(direct_log));
    let ticks_per_second = 100.0; // USER_HZ on Linux
    let cpu_micros = cpu_ticks as f64 / ticks_per_second * 1e6 / calls as f64;
    println!("                     p50 ms    p99 ms   calls");
    for (name, t) in [
        ("direct to simulator", &direct),
        ("through gateway    ", &gateway),
    ] {
        println!(
            "{name}  {:8.3}  {:8.3}  {:6}",
            percentile(t, 50.0),
            percentile(t, 99.0),
            t.len()
        );
    }
    println!(
        "gateway overhead     {:8.3}  {:8.3}   (goal <= 0.5 ms p50, <= 2 ms p99)",
        percentile(&gateway, 50.0) - percentile(&direct, 50.0),
        percentile(&gateway, 99.0) - percentile(&direct, 99.0)
    );
    println!(
        "gateway CPU per call: {cpu_micros:.0} us ({cpu_ticks} ticks of 10 ms over {calls} calls; goal <= 100 us)"
    );
}

/// The process's CPU time so far (user + system), in µs.
fn process_cpu_micros() -> u64 {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("/proc/self/stat");
    // Fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    let ticks: u64 =
        fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime");
    ticks * 10_000 // USER_HZ = 100
}

/// A floor for the gateway's CPU per call: the same vendor read, signed the same way and its
/// answer parsed, sent by a bare reqwest client on a single-threaded runtime, with no gRPC and
/// no engine around it.
fn client_floor(sim: &str, id: &str, calls: u64) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        let client = reqwest::Client::builder()
            .tcp_nodelay(true)
            .build()
            .expect("a client");
        let url = format!("http://{sim}/");
        let read = async |n: u64| {
            for _ in 0..n {
                let (json, headers) = signed_read(sim, id);
                let mut request = client.post(&url).body(json);
                for (name, value) in headers {
                    request = request.header(name, value);
                }
                let answer = request.send().await.expect("the simulator answers");
                let body = answer.bytes().await.expect("its body");
                let parsed: serde_json::Value = serde_json::from_slice(&body).expect("JSON");
                assert!(parsed["Response"]["InstanceSet"].is_array(), "{parsed}");
            }
        };
        read(calls / 10).await;
        let before = process_cpu_micros();
        read(calls).await;
        let per_call = (process_cpu_micros() - before) / calls;
        println!("bare vendor client CPU per call: {per_call} us (reqwest alone, same read)");
    });
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("prepare") if args.len() == 5 => prepare(&args[2], &args[3], &args[4]),
        Some("report") if args.len() == 6 => report(
            &args[2],
            &args[3],
            args[4].parse().expect("CPU ticks"),
            args[5].parse().expect("calls"),
        ),
        Some("client-floor") if args.len() == 5 => {
            client_floor(&args[2], &args[3], args[4].parse().expect("calls"))
        }
        _ => {
            eprintln!(
                "usage: {0} prepare DIR SIM_HOST:PORT INSTANCE_ID\n       {0} report GATEWAY_LOG DIRECT_LOG CPU_TICKS CALLS\n       {0} client-floor SIM_HOST:PORT INSTANCE_ID CALLS",
                args[0]
            );
            std::process::exit(2);
        }
    }
}
