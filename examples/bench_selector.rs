//! Benchmark of a selector stop (driven by `scripts/bench-selector`): on each cloud, a world of
//! 20,000 running instances in 4 regions (5,000 per region), of which 1,250 per region carry
//! `env=dev` and a `team` tag; one StopInstances request per cloud selects them by
//! `env=dev` + `team` across the 4 regions with expect_at_most 5,000. The rest are decoys that
//! the vendor's filters must leave out: `env=prod` with a team, `env=dev` without one, and
//! untagged instances.
//!
//! The simulator enforces the vendors' rates: Tencent's published ones (its defaults), and for
//! Alibaba, which publishes none, the rate stopgate assumes (set with `/_sim/ratelimits`). The
//! floor is what those rates allow, computed from stopgate's own figures (each adapter's
//! `published_rate`, else `engine::DEFAULT_RATE`; its describe and stop batch sizes): every
//! region is read before anything is stopped, and the regions run in parallel, so
//!
//!   floor = max over regions (pages / DescribeInstances rate)
//!         + max over regions (stop calls / StopInstances rate)
//!
//! with pages = ceil(matches / page size) and stop calls = ceil(matches / stop batch). Prints,
//! per cloud, the wall time from the request to its summary, the floor and their ratio, the
//! read and stop phases as the simulator's call log timed them, the vendor calls and the
//! throttling answers; and checks that exactly the matches were stopped.
//!
//! Usage: bench_selector GATEWAY_ADDR SIM_URL [PER_REGION] [MATCHES_PER_REGION]

use std::collections::HashMap;
use std::time::Instant;

use serde_json::{Value, json};
use stopgate::api::pb;
use stopgate::api::pb::instance_service_client::InstanceServiceClient;
use stopgate::provider::Adapter;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

#[path = "support/sim_admin.rs"]
mod sim_admin;
use sim_admin::admin;

struct Cloud {
    provider: pb::Provider,
    name: &'static str,
    regions: [&'static str; 4],
    running: &'static str,
    adapter: Box<dyn Adapter>,
}

impl Cloud {
    /// The rate stopgate paces `action` at with no configuration.
    fn rate(&self, action: &str) -> f64 {
        self.adapter
            .published_rate(action)
            .unwrap_or(stopgate::engine::DEFAULT_RATE)
    }

    fn id(&self, region: usize, n: usize) -> String {
        match self.provider {
            pb::Provider::Alibaba => format!("i-bp1sel{region}{n:09}"),
            _ => format!("ins-s{region}{n:06}"),
        }
    }
}

/// The InstanceSpec of instance `n` of a region: the first `matches` match, the rest are
/// decoys in three equal parts (another env, no team, no tags at all).
fn spec(id: &str, n: usize, matches: usize, per_region: usize) -> Value {
    let tags = if n < matches {
        json!({"env": "dev", "team": format!("t{}", n % 7)})
    } else {
        match (n - matches) * 3 / (per_region - matches).max(1) {
            0 => json!({"env": "prod", "team": "t1"}),
            1 => json!({"env": "dev"}),
            _ => return json!({"id": id}),
        }
    };
    json!({"id": id, "tags": tags})
}

fn seconds(a: &OffsetDateTime, b: &OffsetDateTime) -> f64 {
    (*b - *a).as_seconds_f64()
}

/// (first, last) time of the calls of `action` in `region`.
fn span(calls: &[Value], action: &str, region: &str) -> Option<(OffsetDateTime, OffsetDateTime)> {
    let times: Vec<OffsetDateTime> = calls
        .iter()
        .filter(|c| c["action"] == action && c["region"] == region)
        .filter_map(|c| OffsetDateTime::parse(c["time"].as_str()?, &Rfc3339).ok())
        .collect();
    Some((*times.iter().min()?, *times.iter().max()?))
}

#[tokio::main]
async fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        eprintln!(
            "usage: {} GATEWAY_ADDR SIM_URL [PER_REGION] [MATCHES_PER_REGION]",
            args[0]
        );
        std::process::exit(2);
    }
    let (gateway, sim) = (&args[1], &args[2]);
    let per_region: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(5_000);
    let matches: usize = args.get(4).and_then(|s| s.parse().ok()).unwrap_or(1_250);
    assert!(matches <= per_region, "more matches than instances");
    let http = stopgate::provider::http::client();
    let mut client = InstanceServiceClient::connect(format!("http://{gateway}"))
        .await
        .expect("gateway");
    let clouds = [
        Cloud {
            provider: pb::Provider::Tencent,
            name: "tencent",
            regions: ["ap-guangzhou", "ap-shanghai", "ap-beijing", "ap-hongkong"],
            running: "RUNNING",
            adapter: Box::new(stopgate::provider::tencent::TencentClient::new(None).unwrap()),
        },
        Cloud {
            provider: pb::Provider::Alibaba,
            name: "alibaba",
            regions: ["cn-hangzhou", "cn-shanghai", "cn-beijing", "cn-shenzhen"],
            running: "Running",
            adapter: Box::new(stopgate::provider::alibaba::AlibabaClient::new(None).unwrap()),
        },
    ];
    println!(
        "per cloud: {} instances in 4 regions ({per_region} each), {} matching ({matches} per region), one request with expect_at_most {}",
        4 * per_region,
        4 * matches,
        4 * matches
    );
    let mut rows = Vec::new();
    for cloud in &clouds {
        admin(&http, sim, "POST", "/_sim/reset", json!({"seed": "empty"})).await;
        let (describe_rate, stop_rate) =
            (cloud.rate("DescribeInstances"), cloud.rate("StopInstances"));
        if cloud.adapter.published_rate("StopInstances").is_none() {
            // The vendor publishes no rate: the simulator enforces the one stopgate assumes.
            admin(
                &http,
                sim,
                "POST",
                "/_sim/ratelimits",
                json!({"provider": cloud.name, "per_second": stopgate::engine::DEFAULT_RATE}),
            )
            .await;
        }
        let mut matching = HashMap::new();
        for (r, region) in cloud.regions.iter().enumerate() {
            let ids: Vec<String> = (0..per_region).map(|n| cloud.id(r, n)).collect();
            for (c, chunk) in ids.chunks(5_000).enumerate() {
                let instances: Vec<Value> = chunk
                    .iter()
                    .enumerate()
                    .map(|(i, id)| spec(id, c * 5_000 + i, matches, per_region))
                    .collect();
                admin(
                    &http,
                    sim,
                    "POST",
                    "/_sim/instances",
                    json!({"provider": cloud.name, "region": region, "instances": instances}),
                )
                .await;
            }
            for id in &ids[..matches] {
                matching.insert(id.clone(), region.to_string());
            }
        }
        admin(&http, sim, "DELETE", "/_sim/calls", Value::Null).await;

        let request = pb::StopInstancesRequest {
            provider: cloud.provider as i32,
            selector: Some(pb::InstanceSelector {
                tags: vec![
                    pb::TagMatch {
                        key: "env".into(),
                        value: Some("dev".into()),
                    },
                    pb::TagMatch {
                        key: "team".into(),
                        value: None,
                    },
                ],
                regions: cloud.regions.iter().map(|r| r.to_string()).collect(),
                all_regions: false,
                expect_at_most: (4 * matches) as u32,
            }),
            ..Default::default()
        };
        let started = Instant::now();
        let mut inbound = client
            .stop_instances(request)
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", cloud.name))
            .into_inner();
        let mut results = Vec::new();
        let mut summary = None;
        while let Some(message) = inbound.message().await.expect("the stream") {
            match message.event {
                Some(pb::stop_instances_response::Event::Result(r)) => results.push(r),
                Some(pb::stop_instances_response::Event::Summary(s)) => summary = Some(s),
                _ => {}
            }
        }
        let wall = started.elapsed().as_secs_f64();
        let summary = summary.expect("a summary");

        // Exactly the matches, each in its region, each stopped; the decoys left running.
        assert_eq!(
            results.len(),
            matching.len(),
            "{}: one result per match",
            cloud.name
        );
        for r in &results {
            assert_eq!(
                matching.get(&r.instance_id),
                Some(&r.region),
                "{}: {} is a match, in its region",
                cloud.name,
                r.instance_id
            );
            assert_eq!(
                r.outcome,
                pb::InstanceOutcome::StopAccepted as i32,
                "{}: {r:?}",
                cloud.name
            );
        }
        let mut decoys_stopped = 0;
        for region in &cloud.regions {
            let listed = admin(
                &http,
                sim,
                "GET",
                &format!("/_sim/instances?provider={}&region={region}", cloud.name),
                Value::Null,
            )
            .await;
            decoys_stopped += listed["instances"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|i| {
                    !matching.contains_key(i["id"].as_str().unwrap()) && i["state"] != cloud.running
                })
                .count();
        }
        for r in &summary.regions {
            assert!(r.error.is_none(), "{}: {r:?}", cloud.name);
            assert_eq!(r.matched as usize, matches, "{}: {r:?}", cloud.name);
        }

        // The floor, from stopgate's own rates and batch sizes.
        let batches = cloud.adapter.capabilities();
        let pages = matches.div_ceil(batches.describe_batch).max(1);
        let stops = matches.div_ceil(batches.stop_batch);
        let floor_reads = pages as f64 / describe_rate;
        let floor_stops = stops as f64 / stop_rate;
        let floor = floor_reads + floor_stops;

        // The phases as the simulator saw them: from the first read to the last, then to the
        // last stop, over all regions.
        let calls = admin(&http, sim, "GET", "/_sim/calls", Value::Null).await;
        let calls = calls["calls"].as_array().cloned().unwrap_or_default();
        let spans = |action: &str| -> Vec<(OffsetDateTime, OffsetDateTime)> {
            cloud
                .regions
                .iter()
                .filter_map(|r| span(&calls, action, r))
                .collect()
        };
        let (reads, stop_spans) = (spans("DescribeInstances"), spans("StopInstances"));
        let first_read = reads.iter().map(|s| s.0).min();
        let last_read = reads.iter().map(|s| s.1).max();
        let last_stop = stop_spans.iter().map(|s| s.1).max();
        let count = |action: &str| calls.iter().filter(|c| c["action"] == action).count();
        let throttled = calls
            .iter()
            .filter(|c| {
                c["outcome"]
                    .as_str()
                    .is_some_and(|o| o.contains("Throttling") || o.contains("RequestLimitExceeded"))
            })
            .count();
        rows.push(format!(
            "{:<8} {:>7} {:>8.2} {:>8.2} {:>6.2} {:>9} {:>9} {:>7}/{:<4} {:>7}/{:<4} {:>9} {:>7}",
            cloud.name,
            results.len(),
            wall,
            floor,
            wall / floor,
            match (first_read, last_read) {
                (Some(a), Some(b)) => format!("{:.2}", seconds(&a, &b)),
                _ => "-".into(),
            },
            match (last_read, last_stop) {
                (Some(a), Some(b)) => format!("{:.2}", seconds(&a, &b)),
                _ => "-".into(),
            },
            count("DescribeInstances"),
            4 * pages,
            count("StopInstances"),
            4 * stops,
            throttled,
            decoys_stopped,
        ));
        println!(
            "{}: floor {floor:.3} s = {pages} pages of {} at {describe_rate}/s ({floor_reads:.3} s) + {stops} stop calls of {} at {stop_rate}/s ({floor_stops:.3} s), per region, regions in parallel",
            cloud.name, batches.describe_batch, batches.stop_batch
        );
    }
    println!();
    println!(
        "{:<8} {:>7} {:>8} {:>8} {:>6} {:>9} {:>9} {:>12} {:>12} {:>9} {:>7}",
        "cloud",
        "stopped",
        "wall s",
        "floor s",
        "ratio",
        "reads s",
        "stops s",
        "describes",
        "stop calls",
        "throttled",
        "decoys"
    );
    for row in rows {
        println!("{row}");
    }
    println!(
        "(reads s: first to last DescribeInstances in the simulator's log; stops s: last read to last StopInstances; describes and stop calls: made/floor's count; decoys: non-matching instances stopped, must be 0)"
    );
    println!(
        "(the floor counts a whole interval per call; the first call of each phase starts at once, so a ratio a few percent under 1 is the pacing working, not an error)"
    );
}
