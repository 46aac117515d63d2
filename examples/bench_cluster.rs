//! Benchmark of pacing shared by replicas (driven by `scripts/bench-cluster`): three `stopgate
//! serve` processes, one simulator enforcing Tencent's published rates and one Redis.
//!
//! 1. Shared: three concurrent StopInstances requests of 3,000 Tencent instances on one account
//!    and region, one per replica. The floor is the vendor's rate: 90 stop calls at 10/s = 9 s.
//!    Prints the wall time against the floor and the simulator's throttling answers; meanwhile
//!    times the pacing script's Redis round trip (what each vendor call waits for Redis).
//! 2. Control: the same without Redis.
//! 3. Fairness: one-instance stops sent one after another (to each replica in turn) while a
//!    10,000-instance stop runs on the same account and region; their latency against the
//!    pacing slot (100 ms).
//! 4. Throttle feedback: the simulator allows 5 stops/s where stopgate believes 10/s; the
//!    throttling answers in each third of the run.
//!
//! Usage: bench_cluster SIM_URL (run by `scripts/bench-cluster`, which builds the binaries)

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use stopgate::api::pb;
use stopgate::api::pb::instance_service_client::InstanceServiceClient;
use stopgate::config::{ClusterSettings, Secret};
use stopgate::pacing::SlotStore;
use stopgate::pacing::redis::RedisStore;
use tonic::transport::Channel;

#[path = "support/sim_admin.rs"]
mod sim_admin;
// The multi-replica tests' processes: Redis, and replicas as `stopgate serve` processes.
#[allow(dead_code)]
#[path = "../tests/common/cluster.rs"]
mod cluster;
use cluster::{Redis, Replica};
use sim_admin::admin;

const REGION: &str = "ap-guangzhou";

fn ids(from: usize, n: usize) -> Vec<String> {
    (from..from + n).map(|i| format!("ins-b{i:07}")).collect()
}

async fn seed(http: &reqwest::Client, sim: &str, ids: &[String]) {
    sim_admin::seed_running(http, sim, ("tencent", REGION), ids).await
}

/// Stops `ids` through `client`; returns (successes, failures).
async fn stop(client: &InstanceServiceClient<Channel>, ids: Vec<String>) -> (usize, usize) {
    let mut client = client.clone();
    let request = pb::StopInstancesRequest {
        provider: pb::Provider::Tencent as i32,
        region: REGION.into(),
        instance_ids: ids,
        ..Default::default()
    };
    let mut inbound = client.stop_instances(request).await.unwrap().into_inner();
    let (mut ok, mut failed) = (0, 0);
    while let Some(message) = inbound.message().await.unwrap() {
        if let Some(pb::stop_instances_response::Event::Result(r)) = message.event {
            if r.outcome == pb::InstanceOutcome::Failed as i32 {
                failed += 1;
            } else {
                ok += 1;
            }
        }
    }
    (ok, failed)
}

/// The simulator's throttling answers since the last reset of its call log.
async fn throttled(http: &reqwest::Client, sim: &str) -> (usize, usize) {
    let calls = admin(
        http,
        sim,
        "GET",
        "/_sim/calls?provider=tencent",
        Value::Null,
    )
    .await;
    let calls = calls["calls"].as_array().unwrap();
    let throttled = calls
        .iter()
        .filter(|c| {
            c["outcome"]
                .as_str()
                .is_some_and(|o| o.starts_with("RequestLimitExceeded"))
        })
        .count();
    (throttled, calls.len())
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Three concurrent 3,000-instance requests, one per replica; returns wall time.
async fn three_requests(
    replicas: &[Replica],
    http: &reqwest::Client,
    sim: &str,
    base: usize,
) -> (Duration, usize) {
    let mut batches = Vec::new();
    for n in 0..3 {
        let batch = ids(base + n * 3000, 3000);
        seed(http, sim, &batch).await;
        batches.push(batch);
    }
    admin(http, sim, "DELETE", "/_sim/calls", Value::Null).await;
    let started = Instant::now();
    let runs: Vec<_> = replicas
        .iter()
        .zip(batches)
        .map(|(r, batch)| {
            let client = r.client.clone();
            tokio::spawn(async move { stop(&client, batch).await })
        })
        .collect();
    let mut failed = 0;
    for run in runs {
        failed += run.await.unwrap().1;
    }
    (started.elapsed(), failed)
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let sim = args[1].as_str();
    let sim_addr: SocketAddr = sim.trim_start_matches("http://").parse().expect("SIM_URL");
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::builder().no_proxy().build().unwrap();

    // Redis, on a free loopback port, without persistence.
    let redis = Redis::start().await;
    let url = redis.url();
    let settings = ClusterSettings {
        redis_url: Some(Secret::new(url.clone())),
        ..ClusterSettings::default()
    };
    let probe = RedisStore::new(
        &settings,
        stopgate::telemetry::metrics().pacing_fallbacks.clone(),
    )
    .unwrap();
    assert!(probe.connect().await, "Redis answers");

    let shared_config = format!("[cluster]\nredis_url = \"{url}\"\nreplicas = 3\n");
    let mut shared = Vec::new();
    for _ in 0..3 {
        shared.push(Replica::start(sim_addr, &shared_config).await);
    }
    // The Redis round trip of the pacing script, timed beside the run on a key of its own.
    let probe_store = probe.clone();
    let timing = tokio::spawn(async move {
        let mut times = Vec::new();
        let stop_at = Instant::now() + Duration::from_secs(8);
        while Instant::now() < stop_at {
            let started = Instant::now();
            probe_store
                .take("bench/tencent/rtt/Probe", Duration::from_micros(1), None)
                .await
                .unwrap();
            times.push(started.elapsed());
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        times
    });
    let floor = Duration::from_secs(9);
    let (wall, failed) = three_requests(&shared, &http, sim, 0).await;
    let (throttles, calls) = throttled(&http, sim).await;
    let mut rtt = timing.await.unwrap();
    rtt.sort();
    println!(
        "three replicas, 3 x 3,000 Tencent instances on one account (floor: 90 stop calls at 10/s = 9 s)"
    );
    println!("                    wall s   x floor   throttled   vendor calls   FAILED");
    println!(
        "with Redis        {:8.2}  {:8.2}  {:10}  {:13}  {:7}   (goal <= 1.1x, 0 throttled)",
        wall.as_secs_f64(),
        wall.as_secs_f64() / floor.as_secs_f64(),
        throttles,
        calls,
        failed
    );
    println!(
        "Redis round trip per vendor call (pacing script): p50 {:.3} ms, p99 {:.3} ms ({} samples)",
        percentile(&rtt, 50.0).as_secs_f64() * 1000.0,
        percentile(&rtt, 99.0).as_secs_f64() * 1000.0,
        rtt.len()
    );

    // Fairness: small stops while a 10,000-instance stop runs.
    let big = ids(100_000, 10_000);
    seed(&http, sim, &big).await;
    let small = ids(200_000, 200);
    seed(&http, sim, &small).await;
    let big_client = shared[0].client.clone();
    let big_run = tokio::spawn(async move { stop(&big_client, big).await });
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut latencies = Vec::new();
    let mut small_ids = small.into_iter();
    while !big_run.is_finished() {
        let replica = &shared[latencies.len() % 3];
        let id = small_ids.next().expect("enough small instances");
        let started = Instant::now();
        let (ok, _) = stop(&replica.client, vec![id]).await;
        assert_eq!(ok, 1, "the one-instance stop succeeded");
        latencies.push(started.elapsed());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    big_run.await.unwrap();
    latencies.sort();
    println!(
        "one-instance stops during a 10,000-instance stop (same account and region, each replica in turn): p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms over {} stops (one pacing slot: 100 ms)",
        percentile(&latencies, 50.0).as_secs_f64() * 1000.0,
        percentile(&latencies, 99.0).as_secs_f64() * 1000.0,
        latencies.last().unwrap().as_secs_f64() * 1000.0,
        latencies.len()
    );

    // Throttle feedback: the vendor allows half of what stopgate believes.
    admin(
        &http,
        sim,
        "POST",
        "/_sim/ratelimits",
        json!({"provider": "tencent", "action": "StopInstances", "per_second": 5.0}),
    )
    .await;
    let half = ids(400_000, 6000);
    seed(&http, sim, &half).await;
    admin(&http, sim, "DELETE", "/_sim/calls", Value::Null).await;
    let (_, failed) = stop(&shared[1].client, half).await;
    let calls = admin(
        &http,
        sim,
        "GET",
        "/_sim/calls?provider=tencent&action=StopInstances",
        Value::Null,
    )
    .await;
    let outcomes: Vec<bool> = calls["calls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            c["outcome"]
                .as_str()
                .is_some_and(|o| o.starts_with("RequestLimitExceeded"))
        })
        .collect();
    let thirds: Vec<usize> = outcomes
        .chunks(outcomes.len().div_ceil(3))
        .map(|c| c.iter().filter(|t| **t).count())
        .collect();
    println!(
        "vendor at half the believed rate (5/s against 10/s), 6,000 instances: throttling answers by third of the {} stop calls: {:?}; FAILED {}",
        outcomes.len(),
        thirds,
        failed
    );
    admin(
        &http,
        sim,
        "POST",
        "/_sim/ratelimits",
        json!({"provider": "tencent", "action": "StopInstances", "per_second": 10.0}),
    )
    .await;
    drop(shared);

    // Control: the same three replicas without Redis.
    let mut alone = Vec::new();
    for _ in 0..3 {
        alone.push(Replica::start(sim_addr, "").await);
    }
    let (wall, failed) = three_requests(&alone, &http, sim, 300_000).await;
    let (throttles, calls) = throttled(&http, sim).await;
    println!("the same three requests on three replicas without Redis");
    println!("                    wall s   x floor   throttled   vendor calls   FAILED");
    println!(
        "without Redis     {:8.2}  {:8.2}  {:10}  {:13}  {:7}   (control)",
        wall.as_secs_f64(),
        wall.as_secs_f64() / floor.as_secs_f64(),
        throttles,
        calls,
        failed
    );
}
