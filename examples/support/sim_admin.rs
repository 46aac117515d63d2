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
