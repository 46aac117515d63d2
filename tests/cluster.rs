//! Several gateway replicas sharing one vendor quota through a real Redis: real `stopgate
//! serve` processes, one simulator enforcing the vendor's rate limits, and a `redis-server`
//! each test starts on its own port.

mod common;

use common::cluster::{Redis, Replica};
use common::{ALIBABA, Sim, Stream, TENCENT, Vendor, collect_stop};
use serde_json::{Value, json};
use stopgate::api::pb;
use tonic_health::pb::health_check_response::ServingStatus;

/// How fast the simulator lets each cloud's stops through, and what the replicas believe:
/// Tencent's published 10/s (the default on both sides); for Alibaba, which publishes no
/// figure, the gateway's default of 20/s, set on the simulator too.
async fn vendor_limits(sim: &Sim, v: Vendor) {
    if v.provider == pb::Provider::Alibaba {
        sim.admin(
            "POST",
            "/_sim/ratelimits",
            json!({"provider": "alibaba", "per_second": 20.0}),
        )
        .await;
    }
}

fn cluster_config(redis: &str, replicas: u32) -> String {
    format!("[cluster]\nredis_url = \"{redis}\"\nreplicas = {replicas}\n")
}

/// The simulator's throttling answers to `action` calls, oldest first.
fn throttled(calls: &[Value]) -> usize {
    calls
        .iter()
        .filter(|c| {
            let outcome = c["outcome"].as_str().unwrap_or_default();
            outcome.starts_with("RequestLimitExceeded") || outcome.starts_with("Throttling")
        })
        .count()
}

/// Every instance got exactly one result, a success.
fn all_stopped(stream: &Stream, ids: &[String]) {
    for id in ids {
        let outcome = stream.outcome(id);
        assert!(
            matches!(
                outcome,
                pb::InstanceOutcome::StopAccepted | pb::InstanceOutcome::Stopped
            ),
            "{id}: {outcome:?} {:#?}",
            stream.result(id)
        );
    }
    assert_eq!(stream.results.len(), ids.len());
}

/// Starts `n` replicas with `config`.
async fn replicas(sim: &Sim, config: &str, n: usize) -> Vec<Replica> {
    let mut replicas = Vec::new();
    for _ in 0..n {
        replicas.push(Replica::start(sim.addr, config).await);
    }
    replicas
}

/// Waits until every replica reports shared pacing as `status`.
async fn all_report(replicas: &[Replica], status: ServingStatus) {
    for replica in replicas {
        replica.wait_health("stopgate.cluster", status).await;
    }
}

/// Seeds running instances `range` and stops them all through `replica`.
async fn stop_fresh(replica: &Replica, sim: &Sim, v: Vendor, range: std::ops::Range<usize>) {
    let ids = v.ids(range);
    sim.seed_running(v, &ids).await;
    let stream = collect_stop(&replica.client, tonic::Request::new(v.request(&ids)))
        .await
        .unwrap();
    all_stopped(&stream, &ids);
}

/// The pacing keys in `redis`.
async fn pace_keys(redis: &Redis) -> Vec<String> {
    redis.query(redis::cmd("KEYS").arg("stopgate:pace:*")).await
}

/// Sends one request per replica at once, `per_replica` instances each, and waits for all.
async fn stop_on_each(
    replicas: &[Replica],
    sim: &Sim,
    v: Vendor,
    per_replica: usize,
    first_id: usize,
) -> Vec<(Vec<String>, Stream)> {
    let mut requests = Vec::new();
    for (n, replica) in replicas.iter().enumerate() {
        let start = first_id + n * per_replica;
        let ids = v.ids(start..start + per_replica);
        sim.seed_running(v, &ids).await;
        requests.push((ids, replica.client.clone()));
    }
    let tasks: Vec<_> = requests
        .into_iter()
        .map(|(ids, client)| {
            tokio::spawn(async move {
                let stream = collect_stop(&client, tonic::Request::new(v.request(&ids)))
                    .await
                    .expect("the call succeeds");
                (ids, stream)
            })
        })
        .collect();
    let mut done = Vec::new();
    for task in tasks {
        done.push(task.await.unwrap());
    }
    done
}

async fn replicas_sharing_redis_stay_under_the_vendor_rate(v: Vendor, per_replica: usize) {
    let redis = Redis::start().await;
    let sim = Sim::start().await;
    vendor_limits(&sim, v).await;
    let config = cluster_config(&redis.url(), 3);
    let replicas = replicas(&sim, &config, 3).await;
    all_report(&replicas, ServingStatus::Serving).await;
    for (ids, stream) in stop_on_each(&replicas, &sim, v, per_replica, 0).await {
        all_stopped(&stream, &ids);
    }
    let stops = sim.calls(v, "StopInstances").await;
    assert!(
        stops.len() >= 3 * per_replica / 100,
        "{} stop calls",
        stops.len()
    );
    let reads = sim.calls(v, "DescribeInstances").await;
    assert_eq!(
        (throttled(&stops), throttled(&reads)),
        (0, 0),
        "three replicas sharing one Redis were throttled"
    );
    let keys = pace_keys(&redis).await;
    assert!(
        keys.contains(&format!(
            "stopgate:pace:{{default/{}/{}/StopInstances}}",
            v.name, v.region
        )),
        "the schedule lives in Redis: {keys:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_tencent_replicas_sharing_redis_are_never_throttled() {
    replicas_sharing_redis_stay_under_the_vendor_rate(TENCENT, 3000).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_alibaba_replicas_sharing_redis_are_never_throttled() {
    replicas_sharing_redis_stay_under_the_vendor_rate(ALIBABA, 2000).await
}

/// The control: the same replicas without Redis each spend the whole quota.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_without_redis_are_throttled() {
    let sim = Sim::start().await;
    let v = TENCENT;
    let replicas = replicas(&sim, "", 3).await;
    for (ids, stream) in stop_on_each(&replicas, &sim, v, 500, 0).await {
        all_stopped(&stream, &ids);
    }
    let stops = sim.calls(v, "StopInstances").await;
    assert!(
        throttled(&stops) > 0,
        "three replicas at the full rate each were never throttled"
    );
}

async fn losing_redis_falls_back_to_local_pacing_and_sharing_resumes(v: Vendor) {
    let mut redis = Redis::start().await;
    let sim = Sim::start().await;
    vendor_limits(&sim, v).await;
    let config = cluster_config(&redis.url(), 3);
    let replicas = replicas(&sim, &config, 3).await;
    all_report(&replicas, ServingStatus::Serving).await;
    let per_replica = if v.provider == pb::Provider::Tencent {
        1500
    } else {
        3000
    };
    let run = {
        let (replicas, sim) = (&replicas, &sim);
        async move { stop_on_each(replicas, sim, v, per_replica, 0).await }
    };
    let kill = async {
        // Kill Redis once the replicas have made a few stop calls through it.
        while sim.calls(v, "StopInstances").await.len() < 10 {
            tokio::task::yield_now().await;
        }
        redis.kill().await;
        all_report(&replicas, ServingStatus::NotServing).await;
    };
    let (results, ()) = tokio::join!(run, kill);
    for (ids, stream) in results {
        all_stopped(&stream, &ids);
    }
    let stops = sim.calls(v, "StopInstances").await;
    assert!(
        stops.len() >= 3 * per_replica / 100,
        "{} stop calls",
        stops.len()
    );

    // Redis returns (empty: no persistence); every replica finds it again by itself.
    let redis = Redis::start_on(redis.port).await;
    all_report(&replicas, ServingStatus::Serving).await;
    stop_fresh(&replicas[0], &sim, v, 900_000..900_100).await;
    assert!(
        !pace_keys(&redis).await.is_empty(),
        "pacing is shared through the restarted Redis again"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tencent_replicas_that_lose_redis_finish_on_local_pacing_and_share_again_when_it_returns() {
    losing_redis_falls_back_to_local_pacing_and_sharing_resumes(TENCENT).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alibaba_replicas_that_lose_redis_finish_on_local_pacing_and_share_again_when_it_returns() {
    losing_redis_falls_back_to_local_pacing_and_sharing_resumes(ALIBABA).await
}

/// A vendor that allows half of what stopgate believes: it throttles at first, and the shared
/// schedule slows down so that it stops throttling.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttling_slows_the_shared_schedule_down() {
    let redis = Redis::start().await;
    let sim = Sim::start().await;
    let v = TENCENT;
    sim.admin(
        "POST",
        "/_sim/ratelimits",
        json!({"provider": "tencent", "action": "StopInstances", "per_second": 5.0}),
    )
    .await;
    let replicas = [Replica::start(sim.addr, &cluster_config(&redis.url(), 1)).await];
    replicas[0]
        .wait_health("stopgate.cluster", ServingStatus::Serving)
        .await;
    for (ids, stream) in stop_on_each(&replicas, &sim, v, 6000, 0).await {
        all_stopped(&stream, &ids);
    }
    let stops = sim.calls(v, "StopInstances").await;
    let (first, rest) = stops.split_at(stops.len() / 2);
    assert!(
        throttled(first) > 0,
        "at twice the vendor's rate the first calls are throttled"
    );
    assert!(
        throttled(rest) <= 1,
        "after slowing down, throttling stays near zero: {} of the last {} calls",
        throttled(rest),
        rest.len()
    );
    let factor: f64 = redis
        .query(
            redis::cmd("HGET")
                .arg("stopgate:pace:{default/tencent/ap-guangzhou/StopInstances}")
                .arg("factor"),
        )
        .await;
    assert!(factor < 1.0, "the shared schedule runs slower: {factor}");
}

/// With `on_unavailable = "fail"` and no Redis, nothing reaches the vendor and every instance
/// fails with the reason and what to do.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_on_unavailable_fail_and_no_redis_nothing_is_sent_and_each_instance_says_why() {
    let nowhere = format!("redis://127.0.0.1:{}", common::cluster::free_port());
    let h = common::Harness::start_with(|c| {
        c.cluster.redis_url = Some(stopgate::config::Secret::new(nowhere));
        c.cluster.on_unavailable = stopgate::config::OnUnavailable::Fail;
    })
    .await;
    let v = TENCENT;
    let ids = v.ids(0..3);
    h.seed_running(v, &ids).await;
    let s = h.stop(v.request(&ids)).await;
    for id in &ids {
        assert_eq!(s.outcome(id), pb::InstanceOutcome::Failed);
        assert_eq!(s.reason(id), "PACING_UNAVAILABLE");
        let error = s.result(id).error.as_ref().unwrap();
        assert_eq!(error.code, tonic::Code::Unavailable as i32);
        assert!(
            error.message.contains("on_unavailable"),
            "{}",
            error.message
        );
    }
    let calls = h
        .admin("GET", "/_sim/calls?provider=tencent", Value::Null)
        .await;
    assert_eq!(calls["calls"].as_array().unwrap().len(), 0, "{calls}");
    for id in &ids {
        assert_eq!(h.state(v, id).await, v.running);
    }
}

/// A gateway started while its Redis is down serves at once on local pacing, says so in its
/// health, and shares pacing as soon as Redis comes up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_started_without_its_redis_serves_locally_and_joins_when_redis_comes_up() {
    let port = common::cluster::free_port();
    let sim = Sim::start().await;
    let replica = Replica::start(
        sim.addr,
        &cluster_config(&format!("redis://127.0.0.1:{port}"), 2),
    )
    .await;
    replica
        .wait_health("stopgate.cluster", ServingStatus::NotServing)
        .await;
    let v = TENCENT;
    stop_fresh(&replica, &sim, v, 0..10).await;

    let redis = Redis::start_on(port).await;
    replica
        .wait_health("stopgate.cluster", ServingStatus::Serving)
        .await;
    stop_fresh(&replica, &sim, v, 10..20).await;
    assert!(
        !pace_keys(&redis).await.is_empty(),
        "pacing went through Redis once it came up"
    );
}

/// The same pacing on Redis Cluster: the gateway talks to the nodes directly and the key's
/// hash tag keeps each script on one slot.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_pace_through_a_redis_cluster() {
    let cluster = common::cluster::RedisCluster::start().await;
    let sim = Sim::start().await;
    let urls: Vec<String> = cluster.urls().iter().map(|u| format!("\"{u}\"")).collect();
    let config = format!(
        "[cluster]\nredis_cluster_urls = [{}]\nreplicas = 2\n",
        urls.join(", ")
    );
    let replicas = replicas(&sim, &config, 2).await;
    all_report(&replicas, ServingStatus::Serving).await;
    let v = TENCENT;
    for (ids, stream) in stop_on_each(&replicas, &sim, v, 1000, 0).await {
        all_stopped(&stream, &ids);
    }
    assert_eq!(throttled(&sim.calls(v, "StopInstances").await), 0);
    let next: Option<String> = cluster
        .query(
            redis::cmd("HGET")
                .arg("stopgate:pace:{default/tencent/ap-guangzhou/StopInstances}")
                .arg("next"),
        )
        .await;
    assert!(next.is_some(), "the schedule lives in the cluster");
}
