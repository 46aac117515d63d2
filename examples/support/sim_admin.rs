//! The simulator's admin API, for the benchmarks (`#[path]`-included by each).

use serde_json::Value;

/// One admin call; panics with the simulator's answer unless it succeeded.
pub async fn admin(
    http: &reqwest::Client,
    sim: &str,
    method: &str,
    path: &str,
    body: Value,
) -> Value {
    let url = format!("{sim}{path}");
    let req = match method {
        "GET" => http.get(url),
        "DELETE" => http.delete(url),
        _ => http.post(url).json(&body),
    };
    let response = req.send().await.expect("admin call");
    let status = response.status();
    let value: Value = response.json().await.expect("admin JSON");
    assert!(status.is_success(), "admin {path}: {status} {value}");
    value
}

/// Seeds running instances with these ids, 5,000 per admin call.
#[allow(dead_code)] // not every benchmark seeds instances this way
pub async fn seed_running(
    http: &reqwest::Client,
    sim: &str,
    (provider, region): (&str, &str),
    ids: &[String],
) {
    for chunk in ids.chunks(5000) {
        let instances: Vec<Value> = chunk
            .iter()
            .map(|id| serde_json::json!({"id": id}))
            .collect();
        admin(
            http,
            sim,
            "POST",
            "/_sim/instances",
            serde_json::json!({"provider": provider, "region": region, "instances": instances}),
        )
        .await;
    }
}
