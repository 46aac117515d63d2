//! Benchmark: stop N instances (default 10,000) on each cloud in one StopInstances request.
//! Reports wall time against the floor set by the vendor's rate limit, the throttling errors
//! the simulator returned, and the gateway process's peak RSS. Driven by `scripts/bench`,
//! which starts `stopgate sim` and `stopgate serve` as separate release processes.
//!
//! Usage: bench_stop_instances GATEWAY_ADDR SIM_URL GATEWAY_PID [N]

use std::time::Instant;

use serde_json::{Value, json};
use stopgate::api::pb;
use stopgate::api::pb::instance_service_client::InstanceServiceClient;

async fn admin(http: &reqwest::Client, sim: &str, method: &str, path: &str, body: Value) -> Value {
    let url = format!("{sim}{path}");
    let req = match method {
        "GET" => http.get(url),
        "DELETE" => http.delete(url),
        _ => http.post(url).json(&body),
    };
    req.send()
        .await
        .expect("admin call")
        .json()
        .await
        .expect("admin JSON")
}

fn peak_rss_kib(pid: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 4 {
        eprintln!("usage: {} GATEWAY_ADDR SIM_URL GATEWAY_PID [N]", args[0]);
        std::process::exit(2);
    }
    let (gateway, sim, pid) = (&args[1], &args[2], &args[3]);
    let n: usize = args.get(4).and_then(|s| s.parse().ok()).unwrap_or(10_000);
    let http = stopgate::provider::http::client();
    let mut client = InstanceServiceClient::connect(format!("http://{gateway}"))
        .await
        .expect("gateway");
    println!(
        "instances per request: {n}; gateway pid {pid}; RSS before: {:?} KiB",
        peak_rss_kib(pid)
    );
    for (provider, name, region, floor_rate) in [
        (pb::Provider::Tencent, "tencent", "ap-guangzhou", 10.0),
        (
            pb::Provider::Alibaba,
            "alibaba",
            "cn-hangzhou",
            stopgate::engine::DEFAULT_RATE,
        ),
    ] {
        admin(&http, sim, "POST", "/_sim/reset", json!({"seed": "empty"})).await;
        let ids: Vec<String> = (0..n)
            .map(|i| match provider {
                pb::Provider::Alibaba => format!("i-bp1bench{i:010}"),
                _ => format!("ins-b{i:07}"),
            })
            .collect();
        for chunk in ids.chunks(1000) {
            let specs: Vec<Value> = chunk.iter().map(|id| json!({"id": id})).collect();
            admin(
                &http,
                sim,
                "POST",
                "/_sim/instances",
                json!({"provider": name, "region": region, "instances": specs}),
            )
            .await;
        }
        admin(&http, sim, "DELETE", "/_sim/calls", Value::Null).await;
        let request = pb::StopInstancesRequest {
            provider: provider as i32,
            region: region.to_string(),
            instance_ids: ids.clone(),
            ..Default::default()
        };
        let started = Instant::now();
        let mut stream = client
            .stop_instances(request)
            .await
            .expect("StopInstances")
            .into_inner();
        let mut results = 0usize;
        let mut summary = None;
        while let Some(message) = stream.message().await.expect("stream") {
            match message.event {
                Some(pb::stop_instances_response::Event::Result(_)) => results += 1,
                Some(pb::stop_instances_response::Event::Summary(s)) => summary = Some(s),
                _ => {}
            }
        }
        let wall = started.elapsed();
        let calls = admin(
            &http,
            sim,
            "GET",
            &format!("/_sim/calls?provider={name}"),
            Value::Null,
        )
        .await;
        let calls = calls["calls"].as_array().cloned().unwrap_or_default();
        let count = |action: &str| calls.iter().filter(|c| c["action"] == action).count();
        let throttled = calls
            .iter()
            .filter(|c| {
                matches!(
                    c["outcome"].as_str(),
                    Some("Throttling.User" | "RequestLimitExceeded")
                )
            })
            .count();
        let stop_calls = count("StopInstances");
        let floor = stop_calls as f64 / floor_rate;
        let summary = summary.expect("a summary");
        println!(
            "{name}: {results} results in {:.2} s; StopInstances calls {stop_calls} (floor {floor:.1} s at {floor_rate}/s), DescribeInstances calls {}; throttling errors from the simulator: {throttled}; outcomes {:?}; gateway retries {}",
            wall.as_secs_f64(),
            count("DescribeInstances"),
            summary.outcome_counts,
            summary.retries,
        );
    }
    println!(
        "gateway peak RSS (VmHWM): {} KiB",
        peak_rss_kib(pid)
            .map(|k| k.to_string())
            .unwrap_or_else(|| "unavailable".into())
    );
}
