//! Benchmark: does the simulator's work per call stay independent of the size of its world?
//! For a small and a large world (default 10,000 and 100,000 instances) it replays, straight to
//! an in-process simulator with every rate limit lifted, the vendor calls a gateway makes to
//! stop every instance and every task of a command on it: stops in batches of 100 (Alibaba
//! StopInvocation: 50) and reads of the same batches (task results: pages of 50 / 100). The
//! number of calls grows with the world, so linear work shows as a ratio of about
//! large / small (10x); a scan per call shows as its square (100x).
//!
//! Usage: cargo run --release --example bench_sim_scale [SMALL] [LARGE] [WORKLOAD...]
//! (WORKLOAD: alibaba-instances tencent-instances alibaba-command tencent-command; default all)

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use stopgate::provider::alibaba::sign as ali_sign;
use stopgate::provider::tencent::sign as tc_sign;
use stopgate::sim::credentials::{
    ALIBABA_ACCESS_KEY_ID, ALIBABA_ACCESS_KEY_SECRET, TENCENT_SECRET_ID, TENCENT_SECRET_KEY,
};
use stopgate::sim::{SimConfig, Simulator};

const ALI_REGION: &str = "cn-hangzhou";
const TC_REGION: &str = "ap-guangzhou";

struct Sim {
    addr: SocketAddr,
    http: reqwest::Client,
}

impl Sim {
    async fn admin(&self, method: &str, path: &str, body: Value) -> Value {
        let url = format!("http://{}{path}", self.addr);
        let request = match method {
            "GET" => self.http.get(url),
            "DELETE" => self.http.delete(url),
            _ => self.http.post(url).json(&body),
        };
        let response = request.send().await.expect("admin call");
        let status = response.status();
        let value: Value = response.json().await.expect("admin JSON");
        assert!(
            status.is_success(),
            "admin {method} {path}: {status} {value}"
        );
        value
    }

    /// A signed Alibaba V2 POST (form body, JSON answer); panics on an error answer.
    async fn alibaba(&self, action: &str, business: &[(String, String)]) -> Value {
        let timestamp = time::OffsetDateTime::now_utc()
            .format(time::macros::format_description!(
                "[year]-[month]-[day]T[hour]:[minute]:[second]Z"
            ))
            .expect("a timestamp");
        let mut params: Vec<(String, String)> = [
            ("Action", action),
            ("Version", "2014-05-26"),
            ("Format", "JSON"),
            ("AccessKeyId", ALIBABA_ACCESS_KEY_ID),
            ("SignatureMethod", "HMAC-SHA1"),
            ("SignatureVersion", "1.0"),
            ("Timestamp", timestamp.as_str()),
            ("RegionId", ALI_REGION),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .chain(business.iter().cloned())
        .collect();
        params.push(("SignatureNonce".into(), uuid::Uuid::new_v4().to_string()));
        ali_sign::sign_rpc("POST", &mut params, ALIBABA_ACCESS_KEY_SECRET);
        let form = ali_sign::encode_pairs(&params);
        let response = self
            .http
            .post(format!("http://{}/", self.addr))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(form)
            .send()
            .await
            .expect("alibaba call");
        let status = response.status();
        let value: Value = response.json().await.expect("alibaba JSON");
        assert!(status.is_success(), "{action}: {status} {value}");
        value
    }

    /// A signed Tencent TC3 POST; panics on an error answer.
    async fn tencent(&self, service: &str, action: &str, body: &Value) -> Value {
        let version = if service == "cvm" {
            "2017-03-12"
        } else {
            "2020-10-28"
        };
        let host = self.addr.to_string();
        let payload = body.to_string();
        let timestamp = time::OffsetDateTime::now_utc().unix_timestamp();
        let headers = vec![
            ("content-type".to_string(), "application/json".to_string()),
            ("host".to_string(), host.clone()),
        ];
        let payload_sha256 = ali_sign::sha256_hex(payload.as_bytes());
        let req = tc_sign::Tc3Request {
            method: "POST",
            canonical_query: "",
            headers: &headers,
            payload_sha256: &payload_sha256,
            timestamp,
            service,
        };
        let authorization = tc_sign::tc3_authorization(&req, TENCENT_SECRET_ID, TENCENT_SECRET_KEY);
        let value: Value = self
            .http
            .post(format!("http://{host}/"))
            .header("Content-Type", "application/json")
            .header("Authorization", authorization)
            .header("X-TC-Action", action)
            .header("X-TC-Version", version)
            .header("X-TC-Region", TC_REGION)
            .header("X-TC-Timestamp", timestamp.to_string())
            .body(payload)
            .send()
            .await
            .expect("tencent call")
            .json()
            .await
            .expect("tencent JSON");
        assert!(value["Response"]["Error"].is_null(), "{action}: {value}");
        value
    }

    async fn seed(&self, provider: &str, region: &str, ids: &[String]) {
        self.admin("POST", "/_sim/reset", json!({"seed": "empty"}))
            .await;
        self.admin(
            "POST",
            "/_sim/ratelimits",
            json!({"provider": provider, "per_second": null}),
        )
        .await;
        for chunk in ids.chunks(1000) {
            let specs: Vec<Value> = chunk.iter().map(|id| json!({"id": id})).collect();
            self.admin(
                "POST",
                "/_sim/instances",
                json!({"provider": provider, "region": region, "instances": specs}),
            )
            .await;
        }
    }

    async fn seed_invocation(&self, provider: &str, region: &str, ids: &[String], id: &str) {
        let tasks: Vec<Value> = ids.iter().map(|i| json!({"instance_id": i})).collect();
        self.admin(
            "POST",
            "/_sim/invocations",
            json!({"provider": provider, "region": region, "id": id, "tasks": tasks}),
        )
        .await;
    }
}

fn alibaba_ids(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("i-bp1scale{i:011}")).collect()
}

fn tencent_ids(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("ins-s{i:07}")).collect()
}

fn repeat_list(name: &str, ids: &[String]) -> Vec<(String, String)> {
    ids.iter()
        .enumerate()
        .map(|(i, id)| (format!("{name}.{}", i + 1), id.clone()))
        .collect()
}

/// Stops every instance in batches of 100, then reads them back in the same batches.
async fn alibaba_instances(sim: &Sim, n: usize) -> (Duration, usize) {
    let ids = alibaba_ids(n);
    sim.seed("alibaba", ALI_REGION, &ids).await;
    let started = Instant::now();
    let mut calls = 0;
    for batch in ids.chunks(100) {
        let mut params = repeat_list("InstanceId", batch);
        params.push(("BatchOptimization".into(), "SuccessFirst".into()));
        sim.alibaba("StopInstances", &params).await;
        calls += 1;
    }
    for batch in ids.chunks(100) {
        let list = serde_json::to_string(batch).expect("ids as JSON");
        let params = vec![
            ("InstanceIds".to_string(), list),
            ("MaxResults".to_string(), "100".to_string()),
        ];
        let answer = sim.alibaba("DescribeInstances", &params).await;
        assert_eq!(
            answer["Instances"]["Instance"].as_array().map(Vec::len),
            Some(batch.len())
        );
        calls += 1;
    }
    (started.elapsed(), calls)
}

async fn tencent_instances(sim: &Sim, n: usize) -> (Duration, usize) {
    let ids = tencent_ids(n);
    sim.seed("tencent", TC_REGION, &ids).await;
    let started = Instant::now();
    let mut calls = 0;
    for batch in ids.chunks(100) {
        sim.tencent(
            "cvm",
            "StopInstances",
            &json!({"InstanceIds": batch, "StopType": "SOFT"}),
        )
        .await;
        calls += 1;
    }
    for batch in ids.chunks(100) {
        let answer = sim
            .tencent(
                "cvm",
                "DescribeInstances",
                &json!({"InstanceIds": batch, "Limit": 100}),
            )
            .await;
        assert_eq!(
            answer["Response"]["InstanceSet"].as_array().map(Vec::len),
            Some(batch.len())
        );
        calls += 1;
    }
    (started.elapsed(), calls)
}

/// Stops every task of one invocation in batches of 50, then pages through its results.
async fn alibaba_command(sim: &Sim, n: usize) -> (Duration, usize) {
    let ids = alibaba_ids(n);
    sim.seed("alibaba", ALI_REGION, &ids).await;
    let invoke = "t-bench00000000000000000000000001";
    sim.seed_invocation("alibaba", ALI_REGION, &ids, invoke)
        .await;
    let started = Instant::now();
    let mut calls = 0;
    for batch in ids.chunks(50) {
        let mut params = repeat_list("InstanceId", batch);
        params.push(("InvokeId".into(), invoke.into()));
        sim.alibaba("StopInvocation", &params).await;
        calls += 1;
    }
    let mut token = String::new();
    let mut seen = 0;
    loop {
        let mut params = vec![
            ("InvokeId".to_string(), invoke.to_string()),
            ("MaxResults".to_string(), "50".to_string()),
        ];
        if !token.is_empty() {
            params.push(("NextToken".into(), token.clone()));
        }
        let answer = sim.alibaba("DescribeInvocationResults", &params).await;
        calls += 1;
        let page = &answer["Invocation"]["InvocationResults"]["InvocationResult"];
        seen += page.as_array().map(Vec::len).unwrap_or(0);
        token = answer["Invocation"]["NextToken"]
            .as_str()
            .unwrap_or("")
            .to_string();
        if token.is_empty() {
            break;
        }
    }
    assert_eq!(seen, n);
    (started.elapsed(), calls)
}

async fn tencent_command(sim: &Sim, n: usize) -> (Duration, usize) {
    let ids = tencent_ids(n);
    sim.seed("tencent", TC_REGION, &ids).await;
    let invocation = "inv-bench001";
    sim.seed_invocation("tencent", TC_REGION, &ids, invocation)
        .await;
    let started = Instant::now();
    let mut calls = 0;
    for batch in ids.chunks(100) {
        sim.tencent(
            "tat",
            "CancelInvocation",
            &json!({"InvocationId": invocation, "InstanceIds": batch}),
        )
        .await;
        calls += 1;
    }
    let mut seen = 0;
    for offset in (0..n).step_by(100) {
        let answer = sim
            .tencent(
                "tat",
                "DescribeInvocationTasks",
                &json!({"Filters": [{"Name": "invocation-id", "Values": [invocation]}], "Offset": offset, "Limit": 100}),
            )
            .await;
        seen += answer["Response"]["InvocationTaskSet"]
            .as_array()
            .map(Vec::len)
            .unwrap_or(0);
        calls += 1;
    }
    assert_eq!(seen, n);
    (started.elapsed(), calls)
}

async fn run(sim: &Sim, workload: &str, n: usize) -> (Duration, usize) {
    match workload {
        "alibaba-instances" => alibaba_instances(sim, n).await,
        "tencent-instances" => tencent_instances(sim, n).await,
        "alibaba-command" => alibaba_command(sim, n).await,
        "tencent-command" => tencent_command(sim, n).await,
        other => panic!("unknown workload {other}"),
    }
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let small: usize = args.first().and_then(|s| s.parse().ok()).unwrap_or(10_000);
    let large: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(100_000);
    let mut workloads: Vec<&str> = args.iter().skip(2).map(String::as_str).collect();
    if workloads.is_empty() {
        workloads = vec![
            "alibaba-instances",
            "tencent-instances",
            "alibaba-command",
            "tencent-command",
        ];
    }
    let addr = Simulator::new(&SimConfig {
        seed_demo: false,
        ..SimConfig::default()
    })
    .spawn("127.0.0.1:0".parse().expect("an address"))
    .await
    .expect("the simulator starts");
    let sim = Sim {
        addr,
        http: stopgate::provider::http::client(),
    };
    println!("simulator work per world size, every rate limit lifted, calls sent one at a time");
    println!(
        "{:<20} {:>22} {:>22} {:>8} {:>10}",
        "workload",
        format!("{small} instances"),
        format!("{large} instances"),
        "ratio",
        "per call"
    );
    for workload in workloads {
        let (t_small, calls_small) = run(&sim, workload, small).await;
        let (t_large, calls_large) = run(&sim, workload, large).await;
        let per_call = |t: Duration, calls: usize| t.as_secs_f64() * 1e6 / calls as f64;
        println!(
            "{:<20} {:>22} {:>22} {:>7.1}x {:>10}",
            workload,
            format!("{:.2} s ({calls_small} calls)", t_small.as_secs_f64()),
            format!("{:.2} s ({calls_large} calls)", t_large.as_secs_f64()),
            t_large.as_secs_f64() / t_small.as_secs_f64(),
            format!(
                "{:.0}/{:.0} us",
                per_call(t_small, calls_small),
                per_call(t_large, calls_large)
            ),
        );
    }
}
