//! Benchmark of the operation journal in Redis (driven by `scripts/bench-journal`): one
//! `stopgate serve` process at a time against one simulator enforcing Tencent's published
//! rates, stopping 10,000 instances in one request, alternately with the in-process journal
//! and with the journal in Redis. Prints each run's wall time, the ratio of the medians, and the
//! Redis memory one 10,000-instance operation takes (MEMORY USAGE of its three keys).
//!
//! Usage: bench_journal SIM_URL (run by `scripts/bench-journal`, which builds the binaries)

use std::time::Instant;

use serde_json::json;
use stopgate::api::pb;

#[path = "support/sim_admin.rs"]
mod sim_admin;
// The multi-replica tests' processes: Redis, and replicas as `stopgate serve` processes.
#[allow(dead_code)]
#[path = "../tests/common/cluster.rs"]
mod cluster;
use cluster::{Redis, Replica};
use sim_admin::admin;

const REGION: &str = "ap-guangzhou";
const INSTANCES: usize = 10_000;
const RUNS: usize = 3;

async fn seed(http: &reqwest::Client, sim: &str, run: usize) -> Vec<String> {
    let ids: Vec<String> = (0..INSTANCES)
        .map(|i| format!("ins-j{run:02}{i:05}"))
        .collect();
    sim_admin::seed_running(http, sim, ("tencent", REGION), &ids).await;
    ids
}

/// Stops `ids` through `replica` with `request_id`; returns the wall time and the results.
async fn stop(replica: &Replica, ids: Vec<String>, request_id: &str) -> (f64, usize) {
    let mut client = replica.client.clone();
    let request = pb::StopInstancesRequest {
        provider: pb::Provider::Tencent as i32,
        region: REGION.into(),
        instance_ids: ids,
        request_id: request_id.to_string(),
        ..Default::default()
    };
    let started = Instant::now();
    let mut inbound = client.stop_instances(request).await.unwrap().into_inner();
    let mut results = 0;
    while let Some(message) = inbound.message().await.unwrap() {
        if let Some(pb::stop_instances_response::Event::Result(r)) = message.event {
            assert_ne!(r.outcome, pb::InstanceOutcome::Failed as i32, "{r:?}");
            results += 1;
        }
    }
    (started.elapsed().as_secs_f64(), results)
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(|a, b| a.partial_cmp(b).unwrap());
    xs[xs.len() / 2]
}

#[tokio::main]
async fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let sim = std::env::args()
        .nth(1)
        .expect("usage: bench_journal SIM_URL");
    let sim_addr = sim.trim_start_matches("http://").parse().unwrap();
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    admin(
        &http,
        &sim,
        "POST",
        "/_sim/timings",
        json!({"stop_ms": 100}),
    )
    .await;
    let redis = Redis::start().await;
    let in_process = Replica::start(sim_addr, "").await;
    let shared = Replica::start(
        sim_addr,
        &format!("[cluster]\nredis_url = \"{}\"\n", redis.url()),
    )
    .await;
    let (mut local_times, mut redis_times) = (Vec::new(), Vec::new());
    let mut last_redis_op = String::new();
    for run in 0..RUNS {
        let ids = seed(&http, &sim, run * 2).await;
        let (t, n) = stop(&in_process, ids, &uuid::Uuid::new_v4().to_string()).await;
        assert_eq!(n, INSTANCES);
        println!("run {run}: in-process journal {t:.2} s");
        local_times.push(t);
        let ids = seed(&http, &sim, run * 2 + 1).await;
        last_redis_op = uuid::Uuid::new_v4().to_string();
        let (t, n) = stop(&shared, ids, &last_redis_op).await;
        assert_eq!(n, INSTANCES);
        println!("run {run}: Redis journal      {t:.2} s");
        redis_times.push(t);
    }
    let (local, shared_median) = (median(local_times), median(redis_times));
    println!(
        "median: in-process {local:.2} s, Redis {shared_median:.2} s, ratio {:.3}",
        shared_median / local
    );
    let mut bytes = 0u64;
    for part in ["meta", "results", "phases"] {
        let key = format!("stopgate:op:{{op:{last_redis_op}}}:{part}");
        let used: Option<u64> = redis
            .query(
                redis::cmd("MEMORY")
                    .arg("USAGE")
                    .arg(&key)
                    .arg("SAMPLES")
                    .arg(0),
            )
            .await;
        println!("  {key}: {} bytes", used.unwrap_or(0));
        bytes += used.unwrap_or(0);
    }
    println!(
        "Redis memory of one {INSTANCES}-instance operation: {bytes} bytes ({:.2} MiB, {:.0} bytes per instance)",
        bytes as f64 / 1048576.0,
        bytes as f64 / INSTANCES as f64
    );
}
