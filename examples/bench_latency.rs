//! Prepares the requests `scripts/bench-latency` replays with h2load, and reports its figures.
//!
//! `bench_latency prepare DIR SIM_HOST:PORT INSTANCE_ID` writes
//! - `DIR/grpc.bin`: one gRPC frame, StopInstances of INSTANCE_ID on Tencent ap-guangzhou;
//! - `DIR/direct.body` and `DIR/direct.headers`: the same DescribeInstances read the gateway
//!   makes, signed for the simulator's default Tencent key (valid for a few minutes).
//!
//! `bench_latency report GATEWAY_LOG DIRECT_LOG CPU_TICKS CALLS` prints p50/p99 of both h2load
//! log files side by side, the gateway's overhead, and its CPU time per call.

use prost::Message;
use stopgate::api::pb;
use stopgate::provider::tencent::sign;
use stopgate::sim::credentials;

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
    let headers = [
        format!("authorization: {authorization}"),
        "content-type: application/json".into(),
        "x-tc-action: DescribeInstances".into(),
        "x-tc-version: 2017-03-12".into(),
        format!("x-tc-timestamp: {timestamp}"),
        "x-tc-region: ap-guangzhou".into(),
        "x-tc-language: en-US".into(),
    ];
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
        _ => {
            eprintln!(
                "usage: {0} prepare DIR SIM_HOST:PORT INSTANCE_ID\n       {0} report GATEWAY_LOG DIRECT_LOG CPU_TICKS CALLS",
                args[0]
            );
            std::process::exit(2);
        }
    }
}
