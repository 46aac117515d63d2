//! The command-line client, run as the real binary against the real gateway and simulator.

mod common;

use common::*;
use serde_json::{Value, json};

async fn stopgate(h: &Harness, args: &[&str]) -> (i32, String, String) {
    let gateway = format!("http://{}", h.gateway);
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_stopgate"))
        .args(args)
        .args(["--gateway", &gateway])
        .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
        .output()
        .await
        .expect("running stopgate");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_instances_prints_a_table_and_exits_1_when_an_instance_failed() {
    let h = Harness::start().await;
    let ids = TENCENT.ids(0..2);
    h.seed_running(TENCENT, &ids[0..1]).await;
    let (code, out, _) = stopgate(
        &h,
        &[
            "stop-instances",
            "--provider",
            "tencent",
            "--region",
            "ap-guangzhou",
            &ids[0],
            &ids[1],
        ],
    )
    .await;
    assert_eq!(code, 1, "{out}");
    assert!(out.starts_with("INSTANCE"), "{out}");
    let line = |id: &str| {
        out.lines()
            .find(|l| l.starts_with(id))
            .unwrap_or_else(|| panic!("a row for {id}: {out}"))
            .to_string()
    };
    assert!(line(&ids[0]).contains("STOP_ACCEPTED"));
    assert!(line(&ids[1]).contains("FAILED") && line(&ids[1]).contains("INSTANCE_NOT_FOUND"));
    assert!(
        out.contains("2 instance(s): FAILED 1, STOP_ACCEPTED 1"),
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_instances_json_is_one_object_per_message_and_exits_0_on_success() {
    let h = Harness::start().await;
    let ids = ALIBABA.ids(0..2);
    h.seed_running(ALIBABA, &ids).await;
    let (code, out, err) = stopgate(
        &h,
        &[
            "stop-instances",
            "--json",
            "--wait",
            "--provider",
            "alibaba",
            "--region",
            "cn-hangzhou",
            &ids[0],
            &ids[1],
        ],
    )
    .await;
    assert_eq!(code, 0, "{out}{err}");
    let messages: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let results: Vec<&Value> = messages.iter().filter_map(|m| m.get("result")).collect();
    assert_eq!(results.len(), 2);
    assert!(
        results
            .iter()
            .all(|r| r["outcome"] == "INSTANCE_OUTCOME_STOPPED"),
        "{results:?}"
    );
    assert!(
        messages.iter().any(|m| m.get("progress").is_some()),
        "transitions are printed too"
    );
    assert_eq!(messages.last().unwrap()["summary"]["unique"], 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_execution_reports_each_task_and_a_bad_request_exits_2_with_the_reason() {
    let h = Harness::start().await;
    let ids = TENCENT.ids(0..2);
    h.seed_running(TENCENT, &ids).await;
    let tasks: Vec<Value> = ids
        .iter()
        .map(|i| json!({"instance_id": i, "run_ms": 600000}))
        .collect();
    h.admin("POST", "/_sim/invocations", json!({"provider": "tencent", "region": "ap-guangzhou", "id": "inv-cli00001", "tasks": tasks})).await;
    let (code, out, _) = stopgate(
        &h,
        &[
            "stop-execution",
            "--wait",
            "--provider",
            "tencent",
            "--region",
            "ap-guangzhou",
            "inv-cli00001",
        ],
    )
    .await;
    assert_eq!(code, 0, "{out}");
    for id in &ids {
        assert!(
            out.lines()
                .any(|l| l.starts_with(id.as_str()) && l.contains("TERMINATED")),
            "{out}"
        );
    }
    let (code, _, err) = stopgate(
        &h,
        &[
            "stop-execution",
            "--provider",
            "tencent",
            "--region",
            "ap-guangzhou",
            "t-notatencentid00",
        ],
    )
    .await;
    assert_eq!(code, 2);
    assert!(
        err.contains("InvalidArgument") && err.contains("execution_id"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_terminal_a_progress_bar_is_drawn_and_then_cleared() {
    let h = Harness::start().await;
    let ids = ALIBABA.ids(0..3);
    h.seed_running(ALIBABA, &ids).await;
    // `script` (util-linux, part of every Debian) gives the client a real terminal.
    let command = format!(
        "{} stop-instances --gateway http://{} --provider alibaba --region cn-hangzhou {}",
        env!("CARGO_BIN_EXE_stopgate"),
        h.gateway,
        ids.join(" ")
    );
    let out = tokio::process::Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .output()
        .await
        .expect("running script");
    let screen = String::from_utf8_lossy(&out.stdout);
    assert!(
        screen.contains("] 3/3"),
        "the bar counts results: {screen:?}"
    );
    assert!(screen.contains("#####"), "the bar fills: {screen:?}");
    assert!(
        screen.contains("\x1b[2K"),
        "the bar line is cleared before the table: {screen:?}"
    );
    assert!(
        screen.contains("INSTANCE") && screen.contains("STOP_ACCEPTED"),
        "{screen:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_options_on_a_plaintext_address_are_refused_rather_than_ignored() {
    let h = Harness::start().await;
    let (code, _, err) = stopgate(
        &h,
        &[
            "stop-instances",
            "--ca-cert",
            "/dev/null",
            "--provider",
            "tencent",
            "--region",
            "ap-guangzhou",
            "ins-t0000001",
        ],
    )
    .await;
    assert_eq!(code, 2);
    assert!(err.contains("https://"), "{err}");
}
