//! Benchmark: stop N instances (default 10,000) on each cloud in one StopInstances request,
//! first with no fault, then with each kind of vendor fault at probability 0.2 in turn (a bare
//! 503, a dropped connection, a truncated body, throttling), then all four at 0.2 each. The
//! 503, drop and truncated-body faults strike half before the vendor acts and half after it
//! (the stop applied, its answer lost). Prints one table: the share of instances the simulator
//! has stopping or stopped, FAILED results (and how many carry the vendor's evidence), false
//! successes and false failures (checked against the simulator's state), retries, and wall
//! time against the fault-free run. Driven by `scripts/bench`, which starts `stopgate sim` and
//! `stopgate serve` as separate release processes.
//!
//! Usage: bench_stop_instances GATEWAY_ADDR SIM_URL GATEWAY_PID [N]

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use stopgate::api::pb;
use stopgate::api::pb::instance_service_client::InstanceServiceClient;

#[path = "support/sim_admin.rs"]
mod sim_admin;
use sim_admin::admin;

fn peak_rss_kib(pid: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// The faults of one scenario for `provider`: (kind, phase, probability).
fn faults(scenario: &str, provider: &str) -> Vec<(Value, &'static str, f64)> {
    let throttling = match provider {
        "alibaba" => json!({"error": {"code": "Throttling.User", "http_status": 400}}),
        _ => json!({"error": {"code": "RequestLimitExceeded"}}),
    };
    // Half before the action, half after it: p = 0.1 each makes about 0.19 in all.
    let split = |kind: Value| vec![(kind.clone(), "before", 0.1), (kind, "after", 0.1)];
    match scenario {
        "503" => split(json!({"http_status": 503})),
        "drop" => split(json!("drop")),
        "malformed" => split(json!("malformed")),
        "throttling" => vec![(throttling, "before", 0.2)],
        "all" => vec![
            (json!({"http_status": 503}), "before", 0.2),
            (json!("drop"), "after", 0.2),
            (json!("malformed"), "after", 0.2),
            (throttling, "before", 0.2),
        ],
        _ => vec![],
    }
}

struct Row {
    scenario: &'static str,
    cloud: &'static str,
    stopped: usize,
    failed: usize,
    failed_with_evidence: usize,
    false_successes: usize,
    false_failures: usize,
    retries: u32,
    vendor_calls: u32,
    wall: Duration,
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
    let mut rows = Vec::new();
    // STOPGATE_BENCH_SCENARIOS=none,throttling runs only those (the ratios need "none").
    let only = std::env::var("STOPGATE_BENCH_SCENARIOS").ok();
    for scenario in ["none", "503", "drop", "malformed", "throttling", "all"] {
        if only
            .as_deref()
            .is_some_and(|only| !only.split(',').any(|s| s == scenario))
        {
            continue;
        }
        for (provider, name, region, running) in [
            (pb::Provider::Tencent, "tencent", "ap-guangzhou", "RUNNING"),
            (pb::Provider::Alibaba, "alibaba", "cn-hangzhou", "Running"),
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
            for (kind, phase, probability) in faults(scenario, name) {
                admin(
                    &http,
                    sim,
                    "POST",
                    "/_sim/faults",
                    json!({"provider": name, "probability": probability, "phase": phase, "kind": kind}),
                )
                .await;
            }
            let mut request = tonic::Request::new(pb::StopInstancesRequest {
                provider: provider as i32,
                region: region.to_string(),
                instance_ids: ids.clone(),
                ..Default::default()
            });
            request.set_timeout(Duration::from_secs(900));
            let started = Instant::now();
            let mut stream = client
                .stop_instances(request)
                .await
                .expect("StopInstances")
                .into_inner();
            let mut results = HashMap::new();
            let mut summary = None;
            while let Some(message) = stream.message().await.expect("stream") {
                match message.event {
                    Some(pb::stop_instances_response::Event::Result(r)) => {
                        results.insert(r.instance_id.clone(), r);
                    }
                    Some(pb::stop_instances_response::Event::Summary(s)) => summary = Some(s),
                    _ => {}
                }
            }
            let wall = started.elapsed();
            admin(&http, sim, "DELETE", "/_sim/faults", Value::Null).await;
            let world = admin(
                &http,
                sim,
                "GET",
                &format!("/_sim/instances?provider={name}&region={region}"),
                Value::Null,
            )
            .await;
            let states: HashMap<String, String> = world["instances"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| {
                    (
                        i["id"].as_str().unwrap().to_string(),
                        i["state"].as_str().unwrap().to_string(),
                    )
                })
                .collect();
            let summary = summary.expect("a summary");
            assert_eq!(results.len(), n, "one result per instance");
            let mut row = Row {
                scenario,
                cloud: name,
                stopped: 0,
                failed: 0,
                failed_with_evidence: 0,
                false_successes: 0,
                false_failures: 0,
                retries: summary.retries,
                vendor_calls: summary.vendor_calls,
                wall,
            };
            for id in &ids {
                let touched = states.get(id).is_some_and(|s| s != running);
                row.stopped += touched as usize;
                let r = &results[id];
                if r.outcome == pb::InstanceOutcome::Failed as i32 {
                    row.failed += 1;
                    row.false_failures += touched as usize;
                    let evidence = r.error.as_ref().is_some_and(|e| {
                        !e.message.is_empty()
                            && e.details
                                .iter()
                                .any(|d| d.type_url.ends_with("google.rpc.ErrorInfo"))
                    });
                    row.failed_with_evidence += evidence as usize;
                } else if !touched {
                    row.false_successes += 1;
                }
            }
            rows.push(row);
        }
    }
    println!();
    println!(
        "| faults (p each) | cloud   | stopped  | FAILED (with evidence) | false successes | false failures | retries | vendor calls | wall (s) | × fault-free |"
    );
    println!(
        "|-----------------|---------|----------|------------------------|-----------------|----------------|---------|--------------|----------|--------------|"
    );
    for row in &rows {
        let base = rows
            .iter()
            .find(|r| r.scenario == "none" && r.cloud == row.cloud)
            .map(|r| r.wall.as_secs_f64())
            .unwrap_or(f64::NAN);
        println!(
            "| {:<15} | {:<7} | {:>7.2}% | {:>10} ({:>5})       | {:>15} | {:>14} | {:>7} | {:>12} | {:>8.2} | {:>12.2} |",
            if row.scenario == "none" {
                "none"
            } else {
                row.scenario
            },
            row.cloud,
            100.0 * row.stopped as f64 / n as f64,
            row.failed,
            row.failed_with_evidence,
            row.false_successes,
            row.false_failures,
            row.retries,
            row.vendor_calls,
            row.wall.as_secs_f64(),
            row.wall.as_secs_f64() / base,
        );
    }
    println!(
        "gateway peak RSS (VmHWM): {} KiB",
        peak_rss_kib(pid)
            .map(|k| k.to_string())
            .unwrap_or_else(|| "unavailable".into())
    );
}
