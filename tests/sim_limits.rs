//! The simulator under hostile input: every bound on memory holds before authentication, and
//! `stopgate sim` never prints a secret it was given. Each test runs a real simulator on a
//! loopback socket and talks to it over raw HTTP.

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::{Value, json};
use stopgate::provider::alibaba::sign as ali_sign;
use stopgate::provider::tencent::sign as tc_sign;
use stopgate::sim::credentials::{
    ALIBABA_ACCESS_KEY_ID, ALIBABA_ACCESS_KEY_SECRET, TENCENT_SECRET_ID, TENCENT_SECRET_KEY,
};
use stopgate::sim::{SimConfig, Simulator};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn start(config: SimConfig) -> SocketAddr {
    Simulator::new(&SimConfig {
        seed_demo: false,
        ..config
    })
    .spawn("127.0.0.1:0".parse().unwrap())
    .await
    .unwrap()
}

thread_local! {
    // One pool per test (each test runs on its own thread and runtime).
    static CLIENT: reqwest::Client = stopgate::provider::http::client();
}

fn http() -> reqwest::Client {
    CLIENT.with(reqwest::Client::clone)
}

async fn admin(sim: SocketAddr, method: &str, path: &str, body: Value) -> (u16, Value) {
    let url = format!("http://{sim}{path}");
    let request = match method {
        "GET" => http().get(url),
        _ => http().post(url).json(&body),
    };
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

async fn calls(sim: SocketAddr) -> Value {
    admin(sim, "GET", "/_sim/calls", Value::Null).await.1
}

/// Sends `head` (request line and headers, no body) and reads the whole answer; the server
/// must answer without waiting for the body the headers announce.
async fn answer_to_head(sim: SocketAddr, head: &str) -> String {
    let mut stream = TcpStream::connect(sim).await.unwrap();
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf))
            .await
            .expect("the simulator answers without waiting for the announced body")
            .unwrap_or(0);
        if n == 0 {
            break;
        }
        answer.extend_from_slice(&buf[..n]);
        if answer.windows(4).any(|w| w == b"\r\n\r\n") && answer.ends_with(b"}") {
            break;
        }
    }
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test]
async fn a_body_announced_over_the_limit_is_refused_before_it_is_read() {
    let sim = start(SimConfig::default()).await;
    let huge = 1024 * 1024 * 1024;
    let tencent = answer_to_head(
        sim,
        &format!(
            "POST / HTTP/1.1\r\nHost: {sim}\r\nX-TC-Action: StopInstances\r\nX-TC-Version: 2017-03-12\r\nX-TC-Region: ap-guangzhou\r\nContent-Type: application/json\r\nContent-Length: {huge}\r\n\r\n"
        ),
    )
    .await;
    assert!(tencent.starts_with("HTTP/1.1 200"), "{tencent}");
    assert!(
        tencent.contains("\"RequestSizeLimitExceeded\""),
        "{tencent}"
    );
    let alibaba = answer_to_head(
        sim,
        &format!(
            "POST /?Action=StopInstances&Format=JSON HTTP/1.1\r\nHost: {sim}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {huge}\r\n\r\n"
        ),
    )
    .await;
    assert!(alibaba.starts_with("HTTP/1.1 413"), "{alibaba}");
    assert!(alibaba.contains("\"RequestEntityTooLarge\""), "{alibaba}");
    let admin_answer = answer_to_head(
        sim,
        &format!(
            "POST /_sim/instances HTTP/1.1\r\nHost: {sim}\r\nContent-Type: application/json\r\nContent-Length: {huge}\r\n\r\n"
        ),
    )
    .await;
    assert!(admin_answer.starts_with("HTTP/1.1 413"), "{admin_answer}");
    let logged: Vec<(String, String)> = calls(sim).await["calls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["action"].as_str().unwrap().to_string(),
                c["outcome"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        logged,
        [
            ("StopInstances".into(), "RequestSizeLimitExceeded".into()),
            ("StopInstances".into(), "RequestEntityTooLarge".into())
        ]
    );
}

#[tokio::test]
async fn a_chunked_body_is_cut_off_at_the_limit() {
    let sim = start(SimConfig {
        max_body_bytes: 64 * 1024,
        ..SimConfig::default()
    })
    .await;
    let mut stream = TcpStream::connect(sim).await.unwrap();
    let head = format!(
        "POST / HTTP/1.1\r\nHost: {sim}\r\nX-TC-Action: DescribeInstances\r\nX-TC-Version: 2017-03-12\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let chunk = format!("4000\r\n{}\r\n", "x".repeat(16 * 1024));
    // 1 MiB in 16 KiB chunks, no length announced: the server must stop at 64 KiB. Once it
    // has answered and closed, writing fails, which is expected.
    for _ in 0..64 {
        if stream.write_all(chunk.as_bytes()).await.is_err() {
            break;
        }
    }
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer)).await;
    let log = calls(sim).await;
    assert_eq!(
        log["calls"][0]["outcome"], "RequestSizeLimitExceeded",
        "{log}"
    );
    let (status, _) = admin(sim, "GET", "/_sim/health", Value::Null).await;
    assert_eq!(status, 200);
}

fn now_unix() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// A signed Tencent TC3 GET with the query given as is.
async fn tencent_get(sim: SocketAddr, action: &str, query: &str) -> Value {
    let host = sim.to_string();
    let timestamp = now_unix();
    let headers = vec![
        (
            "content-type".to_string(),
            "application/x-www-form-urlencoded".to_string(),
        ),
        ("host".to_string(), host.clone()),
    ];
    let payload = ali_sign::sha256_hex(b"");
    let req = tc_sign::Tc3Request {
        method: "GET",
        canonical_query: query,
        headers: &headers,
        payload_sha256: &payload,
        timestamp,
        service: "cvm",
    };
    let authorization = tc_sign::tc3_authorization(&req, TENCENT_SECRET_ID, TENCENT_SECRET_KEY);
    http()
        .get(format!("http://{host}/?{query}"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .header("Authorization", authorization)
        .header("X-TC-Action", action)
        .header("X-TC-Version", "2017-03-12")
        .header("X-TC-Region", "ap-guangzhou")
        .header("X-TC-Timestamp", timestamp.to_string())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// A signed Alibaba V2 GET (JSON answer) with these business parameters.
async fn alibaba_get(sim: SocketAddr, action: &str, business: &[(&str, &str)]) -> (u16, Value) {
    let timestamp = time::OffsetDateTime::now_utc()
        .format(time::macros::format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second]Z"
        ))
        .unwrap();
    let mut params: Vec<(String, String)> = [
        ("Action", action),
        ("Version", "2014-05-26"),
        ("Format", "JSON"),
        ("AccessKeyId", ALIBABA_ACCESS_KEY_ID),
        ("SignatureMethod", "HMAC-SHA1"),
        ("SignatureVersion", "1.0"),
        ("Timestamp", timestamp.as_str()),
        ("RegionId", "cn-hangzhou"),
    ]
    .iter()
    .chain(business.iter())
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    params.push(("SignatureNonce".into(), uuid::Uuid::new_v4().to_string()));
    ali_sign::sign_rpc("GET", &mut params, ALIBABA_ACCESS_KEY_SECRET);
    let query = ali_sign::encode_pairs(&params);
    let response = http()
        .get(format!("http://{sim}/?{query}"))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

#[tokio::test]
async fn a_huge_list_index_in_a_tencent_query_is_refused() {
    let sim = start(SimConfig::default()).await;
    let answer = tencent_get(
        sim,
        "DescribeInstances",
        "InstanceIds.4000000000=ins-aaaaaaaa",
    )
    .await;
    assert_eq!(
        answer["Response"]["Error"]["Code"], "InvalidParameter",
        "{answer}"
    );
    let message = answer["Response"]["Error"]["Message"].as_str().unwrap();
    assert!(
        message.contains("4000000000") && message.contains("999"),
        "{message}"
    );
    // Indexes within the cap still work, sparse or not.
    let answer = tencent_get(
        sim,
        "DescribeInstances",
        "InstanceIds.0=ins-aaaaaaaa&InstanceIds.999=ins-bbbbbbbb",
    )
    .await;
    assert_eq!(answer["Response"]["TotalCount"], 0, "{answer}");
}

#[tokio::test]
async fn a_huge_repeat_list_index_in_an_alibaba_query_is_refused() {
    let sim = start(SimConfig::default()).await;
    let (status, answer) = alibaba_get(
        sim,
        "DescribeInstanceStatus",
        &[("InstanceId.4000000000", "i-bp1aaaaaaaaaaaaaaaaa")],
    )
    .await;
    assert_eq!(
        (status, &answer["Code"]),
        (400, &json!("InvalidParameter")),
        "{answer}"
    );
    assert!(
        answer["Message"]
            .as_str()
            .unwrap()
            .contains("InstanceId.4000000000")
    );
}

#[tokio::test]
async fn a_page_number_far_past_the_end_is_an_empty_page() {
    let sim = start(SimConfig::default()).await;
    admin(
        sim,
        "POST",
        "/_sim/instances",
        json!({"provider": "alibaba", "region": "cn-hangzhou", "instances": [{}]}),
    )
    .await;
    let huge = i64::MAX.to_string();
    let (status, answer) = alibaba_get(
        sim,
        "DescribeInstanceStatus",
        &[("PageNumber", &huge), ("PageSize", "50")],
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["TotalCount"], 1);
    assert_eq!(answer["InstanceStatuses"]["InstanceStatus"], json!([]));
}

#[tokio::test]
async fn the_call_log_keeps_only_its_capacity() {
    let sim = start(SimConfig {
        call_log_capacity: 5,
        ..SimConfig::default()
    })
    .await;
    for _ in 0..8 {
        // Unauthenticated calls are logged too.
        http()
            .post(format!("http://{sim}/"))
            .header("X-TC-Action", "DescribeInstances")
            .header("X-TC-Version", "2017-03-12")
            .body("{}")
            .send()
            .await
            .unwrap();
    }
    let log = calls(sim).await;
    let seqs: Vec<u64> = log["calls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs, [4, 5, 6, 7, 8]);
    assert_eq!(log["dropped"], 3);
}

#[tokio::test]
async fn the_admin_api_refuses_unknown_rate_limit_actions_and_quotes_them_short() {
    let sim = start(SimConfig::default()).await;
    let long = "X".repeat(10_000);
    let (status, answer) = admin(
        sim,
        "POST",
        "/_sim/ratelimits",
        json!({"provider": "tencent", "action": long, "per_second": 1}),
    )
    .await;
    assert_eq!(status, 400);
    let error = answer["error"].as_str().unwrap();
    assert!(
        error.contains("StopInstances") && error.len() < 600,
        "{error}"
    );
    let (status, _) = admin(
        sim,
        "POST",
        "/_sim/ratelimits",
        json!({"provider": "tencent", "action": "StopInstances", "per_second": 1}),
    )
    .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn reading_an_unknown_account_creates_nothing_and_credentials_are_bounded() {
    let sim = start(SimConfig::default()).await;
    let (status, answer) = admin(
        sim,
        "GET",
        "/_sim/instances?provider=tencent&region=ap-guangzhou&account=nobody",
        Value::Null,
    )
    .await;
    assert_eq!((status, answer), (200, json!({"instances": []})));
    let mut refused = None;
    for n in 0..1100 {
        let (status, answer) = admin(
            sim,
            "POST",
            "/_sim/credentials",
            json!({"provider": "tencent", "access_key_id": format!("AKIDextra{n}"), "secret": "s", "account": format!("acct{n}")}),
        )
        .await;
        if status != 200 {
            refused = Some((n, status, answer));
            break;
        }
    }
    let (n, status, answer) = refused.expect("the credentials are bounded");
    assert_eq!(status, 400, "{answer}");
    assert!(n <= stopgate::sim::credentials::MAX_CREDENTIALS, "{n}");
}

/// `stopgate sim` with secrets from the environment prints the ids but never the secrets.
#[tokio::test]
async fn stopgate_sim_never_prints_a_secret_it_was_given() {
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_stopgate"))
        .args(["sim", "--listen", "127.0.0.1:0", "--empty"])
        .env("STOPGATE_SIM_ALIBABA_ACCESS_KEY_ID", "LTAIoperatorChosen01")
        .env(
            "STOPGATE_SIM_ALIBABA_ACCESS_KEY_SECRET",
            "operator-alibaba-secret-7f3a",
        )
        .env("STOPGATE_SIM_TENCENT_SECRET_ID", "AKIDoperatorChosen01")
        .env(
            "STOPGATE_SIM_TENCENT_SECRET_KEY",
            "operator-tencent-secret-9c1d",
        )
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut text = String::new();
    let mut buf = [0u8; 4096];
    while !text.contains("admin API") {
        let n = tokio::time::timeout(Duration::from_secs(30), stdout.read(&mut buf))
            .await
            .expect("the banner in time")
            .unwrap();
        assert!(n > 0, "stdout closed early: {text}");
        text.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    child.kill().await.unwrap();
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .await
        .unwrap();
    let all = format!("{text}{stderr}");
    assert!(text.contains("LTAIoperatorChosen01") && text.contains("AKIDoperatorChosen01"));
    assert!(!all.contains("operator-alibaba-secret-7f3a"), "{all}");
    assert!(!all.contains("operator-tencent-secret-9c1d"), "{all}");
    assert!(text.contains("not shown"), "{text}");
}
