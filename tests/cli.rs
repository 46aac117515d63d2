//! The command-line client, run as the real binary against the real gateway and simulator.

mod common;

use std::collections::HashMap;
use std::net::SocketAddr;

use common::*;
use prost::Message;
use serde_json::{Value, json};
use stopgate::api::pb;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

async fn stopgate(h: &Harness, args: &[&str]) -> (i32, String, String) {
    stopgate_at(&format!("http://{}", h.gateway), args).await
}

/// Runs the CLI against the gateway at `gateway`; returns (exit status, stdout, stderr).
async fn stopgate_at(gateway: &str, args: &[&str]) -> (i32, String, String) {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_stopgate"))
        .args(args)
        .args(["--gateway", gateway])
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

/// Where the proxy breaks the first connection.
#[derive(Debug, Clone, Copy)]
enum Cut {
    /// Once this many bytes came back from the gateway, most likely inside a frame.
    AfterBytes(usize),
    /// Just before the gateway's trailers (the HTTP/2 HEADERS frame that ends the stream): the
    /// client has every message, the summary included, but never learns that the call ended.
    BeforeTrailers,
}

/// A TCP proxy in front of the gateway that breaks its first connection as a load balancer or
/// a network fault would: where `at` says, it closes both sides. Later connections pass
/// untouched. The receiver gets the bytes the first connection carried back to the client.
async fn cutting_proxy(gateway: SocketAddr, at: Cut) -> (SocketAddr, oneshot::Receiver<Vec<u8>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let (carried, first) = oneshot::channel();
    tokio::spawn(async move {
        let mut carried = Some(carried);
        while let Ok((client, _)) = listener.accept().await {
            let Ok(mut upstream) = TcpStream::connect(gateway).await else {
                continue;
            };
            match carried.take() {
                Some(carried) => {
                    tokio::spawn(async move {
                        let _ = carried.send(cut(client, upstream, at).await);
                    });
                }
                None => {
                    tokio::spawn(async move {
                        let mut client = client;
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
                    });
                }
            }
        }
    });
    (address, first)
}

/// The first complete HTTP/2 frame of `bytes`: its type, flags and payload, and its length.
fn frame(bytes: &[u8]) -> Option<(u8, u8, &[u8], usize)> {
    let length = u32::from_be_bytes([0, *bytes.first()?, *bytes.get(1)?, *bytes.get(2)?]) as usize;
    let payload = bytes.get(9..9 + length)?;
    Some((bytes[3], bytes[4], payload, 9 + length))
}

/// Relays one connection until the cut, then closes both sides; returns the bytes relayed to
/// the client.
async fn cut(client: TcpStream, gateway: TcpStream, at: Cut) -> Vec<u8> {
    const HEADERS: u8 = 1;
    const END_STREAM: u8 = 0x1;
    let (mut from_client, mut to_client) = client.into_split();
    let (mut from_gateway, mut to_gateway) = gateway.into_split();
    let requests = tokio::spawn(async move {
        let _ = tokio::io::copy(&mut from_client, &mut to_gateway).await;
    });
    let mut carried = Vec::new();
    let mut unsent = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        match from_gateway.read(&mut buffer).await {
            Ok(0) | Err(_) => break,
            Ok(n) => unsent.extend_from_slice(&buffer[..n]),
        }
        // How many of the unsent bytes go through, and whether the cut comes after them.
        let (relay, cut_now) = match at {
            Cut::AfterBytes(limit) => {
                let relay = unsent.len().min(limit - carried.len());
                (relay, carried.len() + relay == limit)
            }
            Cut::BeforeTrailers => {
                let mut whole = 0;
                let mut trailers = false;
                while let Some((kind, flags, _, length)) = frame(&unsent[whole..]) {
                    trailers = kind == HEADERS && flags & END_STREAM != 0;
                    if trailers {
                        break;
                    }
                    whole += length;
                }
                (whole, trailers)
            }
        };
        if to_client.write_all(&unsent[..relay]).await.is_err() {
            break;
        }
        carried.extend(unsent.drain(..relay));
        if cut_now {
            break;
        }
    }
    requests.abort();
    let _ = requests.await;
    carried
}

/// The StopInstances messages that the complete HTTP/2 frames of a gateway's answer carried:
/// DATA frames of the one stream (the gateway does not pad), each a run of length-prefixed
/// gRPC messages. A frame the cut went through is not counted: the client never read it.
fn carried_messages(answer: &[u8]) -> Vec<pb::StopInstancesResponse> {
    const DATA: u8 = 0;
    const PADDED: u8 = 0x8;
    let mut grpc = Vec::new();
    let mut rest = answer;
    while let Some((kind, flags, payload, length)) = frame(rest) {
        if kind == DATA {
            assert_eq!(flags & PADDED, 0, "a padded DATA frame");
            grpc.extend_from_slice(payload);
        }
        rest = &rest[length..];
    }
    let mut messages = Vec::new();
    let mut rest = &grpc[..];
    while rest.len() >= 5 {
        let length = u32::from_be_bytes(rest[1..5].try_into().unwrap()) as usize;
        if rest.len() < 5 + length {
            break;
        }
        messages.push(pb::StopInstancesResponse::decode(&rest[5..5 + length]).unwrap());
        rest = &rest[5 + length..];
    }
    messages
}

/// The CLI's `--json` output, one object per line.
fn json_lines(out: &str) -> Vec<Value> {
    out.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l:?}")))
        .collect()
}

/// How many result lines name each instance.
fn results_per_instance(messages: &[Value]) -> HashMap<String, usize> {
    let mut per = HashMap::new();
    for r in messages.iter().filter_map(|m| m.get("result")) {
        *per.entry(r["instance_id"].as_str().unwrap().to_string())
            .or_default() += 1;
    }
    per
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_broken_mid_operation_is_re_attached_and_each_instance_reported_once() {
    // Tencent stops 100 instances per call; at 2 calls a second the three calls span a second.
    // The first 100 results (about 7.7 KB) arrive at once; 10,000 bytes cut the stream in the
    // second batch, while the operation goes on at the gateway.
    let h = Harness::start_with(|c| {
        c.tencent.rate_limits.insert("StopInstances".into(), 2.0);
    })
    .await;
    let ids = TENCENT.ids(0..300);
    h.seed_running(TENCENT, &ids).await;
    let (proxy, first_connection) = cutting_proxy(h.gateway, Cut::AfterBytes(10_000)).await;
    let mut args = vec![
        "stop-instances",
        "--json",
        "--provider",
        "tencent",
        "--region",
        "ap-guangzhou",
    ];
    args.extend(ids.iter().map(String::as_str));
    let (code, out, err) = stopgate_at(&format!("http://{proxy}"), &args).await;
    assert_eq!(code, 0, "{err}");

    let carried = first_connection.await.expect("the CLI connected");
    assert_eq!(
        carried.len(),
        10_000,
        "the gateway's answer ended before the cut: {err}"
    );
    let before_cut = carried_messages(&carried);
    let Some(pb::stop_instances_response::Event::Accepted(accepted)) =
        before_cut.first().and_then(|m| m.event.clone())
    else {
        panic!("the first stream began with OperationAccepted: {before_cut:?}");
    };
    let results_before_cut = before_cut
        .iter()
        .filter(|m| matches!(m.event, Some(pb::stop_instances_response::Event::Result(_))))
        .count();
    assert!(
        (1..300).contains(&results_before_cut),
        "the cut falls among the results, so that some are replayed: {results_before_cut}"
    );
    assert!(
        err.contains(&format!(
            "re-attaching to operation {}",
            accepted.request_id
        )),
        "{err}"
    );

    let messages = json_lines(&out);
    let accepted_lines: Vec<&Value> = messages.iter().filter_map(|m| m.get("accepted")).collect();
    assert_eq!(accepted_lines.len(), 1, "{out}");
    assert_eq!(
        accepted_lines[0]["request_id"],
        accepted.request_id.as_str()
    );
    assert_eq!(accepted_lines[0]["reattached"], false);
    let per_instance = results_per_instance(&messages);
    assert_eq!(per_instance.len(), ids.len(), "a result for every instance");
    for id in &ids {
        assert_eq!(per_instance.get(id), Some(&1), "one result line for {id}");
    }
    let summaries: Vec<&Value> = messages.iter().filter_map(|m| m.get("summary")).collect();
    assert_eq!(summaries.len(), 1, "{out}");
    assert_eq!(summaries[0]["unique"], 300);

    let stops = accepted_stops(&h.calls(TENCENT, "StopInstances").await, TENCENT);
    assert_eq!(stops.len(), ids.len(), "every instance was stopped");
    for id in &ids {
        assert_eq!(stops.get(id), Some(&1), "{id} in one accepted stop call");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_request_id_again_re_attaches_and_sends_no_new_stop() {
    let h = Harness::start().await;
    let ids = TENCENT.ids(0..3);
    h.seed_running(TENCENT, &ids).await;
    let mut args = vec![
        "stop-instances",
        "--json",
        "--request-id",
        "cli-test-operation-1",
        "--provider",
        "tencent",
        "--region",
        "ap-guangzhou",
    ];
    args.extend(ids.iter().map(String::as_str));

    let (code, out, err) = stopgate(&h, &args).await;
    assert_eq!(code, 0, "{out}{err}");
    let first = json_lines(&out);
    assert_eq!(first[0]["accepted"]["request_id"], "cli-test-operation-1");
    assert_eq!(first[0]["accepted"]["reattached"], false);
    let stop_calls = h.calls(TENCENT, "StopInstances").await.len();
    assert!(stop_calls > 0);

    let (code, out, err) = stopgate(&h, &args).await;
    assert_eq!(code, 0, "{out}{err}");
    let again = json_lines(&out);
    assert_eq!(again[0]["accepted"]["request_id"], "cli-test-operation-1");
    assert_eq!(again[0]["accepted"]["reattached"], true, "{out}");
    let per_instance = results_per_instance(&again);
    for id in &ids {
        assert_eq!(per_instance.get(id), Some(&1), "one result line for {id}");
    }
    let outcomes = |messages: &[Value]| -> HashMap<String, Value> {
        messages
            .iter()
            .filter_map(|m| m.get("result"))
            .map(|r| {
                (
                    r["instance_id"].as_str().unwrap().to_string(),
                    r["outcome"].clone(),
                )
            })
            .collect()
    };
    assert_eq!(outcomes(&again), outcomes(&first), "the same results");
    assert_eq!(again.last().unwrap()["summary"]["unique"], 3);
    assert_eq!(
        h.calls(TENCENT, "StopInstances").await.len(),
        stop_calls,
        "re-attaching sent no vendor stop"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_broken_after_its_summary_prints_one_summary() {
    let h = Harness::start().await;
    let ids = TENCENT.ids(0..3);
    h.seed_running(TENCENT, &ids).await;
    let (proxy, first_connection) = cutting_proxy(h.gateway, Cut::BeforeTrailers).await;
    let mut args = vec![
        "stop-instances",
        "--json",
        "--provider",
        "tencent",
        "--region",
        "ap-guangzhou",
    ];
    args.extend(ids.iter().map(String::as_str));
    let (code, out, err) = stopgate_at(&format!("http://{proxy}"), &args).await;
    assert_eq!(code, 0, "{err}");
    let carried = carried_messages(&first_connection.await.expect("the CLI connected"));
    assert!(
        carried.last().is_some_and(|m| matches!(
            m.event,
            Some(pb::stop_instances_response::Event::Summary(_))
        )),
        "the first stream carried the summary: {carried:?}"
    );
    assert!(err.contains("re-attaching to operation"), "{err}");
    let messages = json_lines(&out);
    let summaries = messages
        .iter()
        .filter(|m| m.get("summary").is_some())
        .count();
    assert_eq!(summaries, 1, "{out}");
    let per_instance = results_per_instance(&messages);
    for id in &ids {
        assert_eq!(per_instance.get(id), Some(&1), "one result line for {id}");
    }
}

/// The row of the table naming `id`.
fn row<'a>(out: &'a str, id: &str) -> &'a str {
    out.lines()
        .find(|l| l.split_whitespace().next() == Some(id))
        .unwrap_or_else(|| panic!("a row for {id}: {out}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_instances_by_tag_shows_each_region_and_what_each_region_matched() {
    let h = Harness::start().await;
    let v = ALIBABA;
    let hangzhou = v.ids(0..3);
    let shanghai = v.ids(10..12);
    let prod = v.ids(20..22);
    let no_team = v.ids(30..31);
    h.simulator
        .seed_tagged(
            v,
            "cn-hangzhou",
            &hangzhou,
            json!({"env": "dev", "team": "a"}),
        )
        .await;
    h.simulator
        .seed_tagged(
            v,
            "cn-shanghai",
            &shanghai,
            json!({"env": "dev", "team": "b"}),
        )
        .await;
    h.simulator
        .seed_tagged(v, "cn-hangzhou", &prod, json!({"env": "prod", "team": "a"}))
        .await;
    h.simulator
        .seed_tagged(v, "cn-hangzhou", &no_team, json!({"env": "dev"}))
        .await;
    // cn-qingdao is a region stopgate knows and the simulator does not serve: unreadable.
    let (code, out, err) = stopgate(
        &h,
        &[
            "stop-instances",
            "--provider",
            "alibaba",
            "--tag",
            "env=dev",
            "--tag",
            "team",
            "--region",
            "cn-hangzhou,cn-shanghai,cn-qingdao",
            "--expect-at-most",
            "500",
        ],
    )
    .await;
    assert_eq!(
        code, 1,
        "an unreadable region makes the run partial: {out}{err}"
    );
    let header: Vec<&str> = out.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(
        header,
        ["INSTANCE", "REGION", "OUTCOME", "STATE", "DETAIL"],
        "{out}"
    );
    for (ids, region) in [(&hangzhou, "cn-hangzhou"), (&shanghai, "cn-shanghai")] {
        for id in ids {
            let cells: Vec<&str> = row(&out, id).split_whitespace().collect();
            assert_eq!(cells[1..3], [region, "STOP_ACCEPTED"], "{out}");
        }
    }
    for id in prod.iter().chain(&no_team) {
        assert!(!out.contains(id.as_str()), "{id} does not match: {out}");
        assert_eq!(h.state(v, id).await, v.running);
    }
    assert!(out.contains("5 instance(s): STOP_ACCEPTED 5"), "{out}");
    let regions: Vec<&str> = out.lines().filter(|l| l.starts_with("region ")).collect();
    assert_eq!(
        regions.len(),
        3,
        "one line per region, in the order given: {out}"
    );
    assert_eq!(regions[0], "region cn-hangzhou: 3 matched");
    assert_eq!(regions[1], "region cn-shanghai: 2 matched");
    assert!(
        regions[2].starts_with("region cn-qingdao: error "),
        "{}",
        regions[2]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_instances_by_tag_as_json_carries_the_regions() {
    let h = Harness::start().await;
    let v = TENCENT;
    let guangzhou = v.ids(0..2);
    let shanghai = v.ids(10..11);
    h.simulator
        .seed_tagged(v, "ap-guangzhou", &guangzhou, json!({"env": "dev"}))
        .await;
    h.simulator
        .seed_tagged(v, "ap-shanghai", &shanghai, json!({"env": "dev"}))
        .await;
    let (code, out, err) = stopgate(
        &h,
        &[
            "stop-instances",
            "--json",
            "--provider",
            "tencent",
            "--tag",
            "env=dev",
            "--region",
            "ap-guangzhou",
            "--region",
            "ap-shanghai",
            "--expect-at-most",
            "3",
        ],
    )
    .await;
    assert_eq!(code, 0, "{out}{err}");
    let messages = json_lines(&out);
    let regions: HashMap<String, String> = messages
        .iter()
        .filter_map(|m| m.get("result"))
        .map(|r| {
            assert_eq!(r["outcome"], "INSTANCE_OUTCOME_STOP_ACCEPTED", "{r}");
            (
                r["instance_id"].as_str().unwrap().to_string(),
                r["region"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(regions.len(), 3, "{out}");
    for id in &guangzhou {
        assert_eq!(regions[id], "ap-guangzhou");
    }
    assert_eq!(regions[&shanghai[0]], "ap-shanghai");
    let summary = &messages.last().unwrap()["summary"];
    assert_eq!(
        summary["regions"],
        json!([
            {"region": "ap-guangzhou", "matched": 2, "error": null},
            {"region": "ap-shanghai", "matched": 1, "error": null},
        ]),
        "{summary}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tags_matching_more_than_expected_stop_nothing_and_exit_2_with_the_counts() {
    let h = Harness::start().await;
    let v = TENCENT;
    let ids = v.ids(0..3);
    h.simulator
        .seed_tagged(v, v.region, &ids, json!({"env": "dev"}))
        .await;
    let (code, out, err) = stopgate(
        &h,
        &[
            "stop-instances",
            "--provider",
            "tencent",
            "--tag",
            "env=dev",
            "--region",
            v.region,
            "--expect-at-most",
            "2",
        ],
    )
    .await;
    assert_eq!(code, 2, "{out}{err}");
    assert!(
        err.contains("FailedPrecondition (SELECTOR_MATCHED_TOO_MANY)")
            && err.contains("ap-guangzhou 3"),
        "{err}"
    );
    assert!(
        h.calls(v, "StopInstances").await.is_empty(),
        "nothing was stopped"
    );
    for id in &ids {
        assert_eq!(h.state(v, id).await, v.running);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_selector_missing_its_bound_or_regions_is_refused_before_any_call() {
    let h = Harness::start().await;
    let refused = [
        (
            vec!["--tag", "env=dev", "--region", "ap-guangzhou"],
            "--tag needs --expect-at-most N",
        ),
        (
            vec!["--tag", "env=dev", "--expect-at-most", "5"],
            "--region REGION[,REGION…] or --all-regions",
        ),
        (
            vec![
                "--tag",
                "env",
                "--region",
                "ap-guangzhou",
                "--expect-at-most",
                "5",
                "ins-t0000001",
            ],
            "give instance ids or --tag, not both",
        ),
        (
            vec!["--region", "ap-guangzhou,ap-shanghai", "ins-t0000001"],
            "instance ids are in one region",
        ),
    ];
    for (args, says) in refused {
        let mut argv = vec!["stop-instances", "--provider", "tencent"];
        argv.extend(&args);
        let (code, out, err) = stopgate(&h, &argv).await;
        assert_eq!(code, 2, "{args:?}: {out}{err}");
        assert!(err.contains(says), "{args:?}: {err}");
        assert!(
            !err.contains("operation "),
            "no operation was started: {err}"
        );
    }
    assert!(h.calls(TENCENT, "DescribeInstances").await.is_empty());
    assert!(h.calls(TENCENT, "StopInstances").await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn all_regions_lists_every_region_searched() {
    let h = Harness::start().await;
    let v = TENCENT;
    h.simulator
        .seed_tagged(v, "ap-guangzhou", &v.ids(0..2), json!({"env": "dev"}))
        .await;
    h.simulator
        .seed_tagged(v, "ap-shanghai", &v.ids(10..11), json!({"env": "dev"}))
        .await;
    let (code, out, err) = stopgate(
        &h,
        &[
            "stop-instances",
            "--provider",
            "tencent",
            "--tag",
            "env=dev",
            "--all-regions",
            "--expect-at-most",
            "3",
        ],
    )
    .await;
    assert_eq!(code, 0, "{out}{err}");
    let regions: Vec<&str> = out.lines().filter(|l| l.starts_with("region ")).collect();
    assert!(regions.contains(&"region ap-guangzhou: 2 matched"), "{out}");
    assert!(regions.contains(&"region ap-shanghai: 1 matched"), "{out}");
    assert!(regions.len() > 2, "every region of the account: {out}");
    for line in &regions {
        assert!(line.ends_with(" matched"), "no region failed: {out}");
    }
    assert!(out.contains("3 instance(s): STOP_ACCEPTED 3"), "{out}");
}
