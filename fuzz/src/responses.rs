//! The vendor response parsers, driven through the real adapters: a fake vendor on a loopback
//! socket answers every call with a status, headers and body chosen by the input, and the real
//! `AlibabaClient` / `TencentClient` read it as they read Alibaba's and Tencent's answers.
//!
//! Shared by the `vendor_responses` fuzz target and `tests/prop_vendor_responses.rs`.
#![allow(dead_code)]

use std::convert::Infallible;
use std::sync::{Arc, Mutex, OnceLock};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::Value;
use stopgate::config::{Credentials, Secret};
use stopgate::credentials::Credential;
use stopgate::model::{Billing, Provider, StopError, StopMode};
use stopgate::provider::alibaba::AlibabaClient;
use stopgate::provider::tencent::TencentClient;
use stopgate::provider::{Adapter, Scope, StopAnswer, StopCall};

/// The credentials the adapters sign with; a body may quote them with these markers.
pub const KEY_ID: &str = "LTAIfuzzKeyId0001";
pub const SECRET: &str = "fuzz-vendor-secret-0001";
pub const TOKEN: &str = "fuzz-vendor-sts-token-0001";
pub const MARKERS: [(&str, &str); 3] = [("$KEYID", KEY_ID), ("$SECRET", SECRET), ("$TOKEN", TOKEN)];

/// What the fake vendor answers.
#[derive(Debug, Clone, Default)]
pub struct Answer {
    pub status: u16,
    /// Alibaba's `x-acs-retry-after` (milliseconds), as text.
    pub retry_after: Option<String>,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
}

/// Which adapter call reads the answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Describe,
    Stop,
    StopDryRun,
    StopAllOrNothing,
    DescribeExecution,
    DescribeTasks,
    DescribeTasksPage,
    StopExecution,
}

pub const OPS: [Op; 8] = [
    Op::Describe,
    Op::Stop,
    Op::StopDryRun,
    Op::StopAllOrNothing,
    Op::DescribeExecution,
    Op::DescribeTasks,
    Op::DescribeTasksPage,
    Op::StopExecution,
];

struct FakeVendor {
    runtime: tokio::runtime::Runtime,
    answer: Arc<Mutex<Answer>>,
    /// One exchange at a time: the answer slot is shared.
    exchange: Mutex<()>,
    alibaba: AlibabaClient,
    tencent: TencentClient,
}

fn vendor() -> &'static FakeVendor {
    static VENDOR: OnceLock<FakeVendor> = OnceLock::new();
    VENDOR.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("a tokio runtime");
        let answer = Arc::new(Mutex::new(Answer::default()));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a loopback port");
        listener.set_nonblocking(true).expect("nonblocking");
        let addr = listener.local_addr().expect("bound");
        let slot = answer.clone();
        runtime.spawn(async move {
            let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let _ = stream.set_nodelay(true);
                let slot = slot.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req: http::Request<hyper::body::Incoming>| {
                        let answer = slot.lock().unwrap_or_else(|p| p.into_inner()).clone();
                        async move {
                            let _ = req.into_body().collect().await;
                            Ok::<_, Infallible>(respond(&answer))
                        }
                    });
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        let endpoint = format!("http://{addr}");
        FakeVendor {
            runtime,
            answer,
            exchange: Mutex::new(()),
            alibaba: AlibabaClient::new(Some(&endpoint)).expect("endpoint"),
            tencent: TencentClient::new(Some(&endpoint)).expect("endpoint"),
        }
    })
}

fn respond(answer: &Answer) -> http::Response<Full<Bytes>> {
    let mut response = http::Response::new(Full::new(Bytes::from(answer.body.clone())));
    *response.status_mut() =
        http::StatusCode::from_u16(answer.status).unwrap_or(http::StatusCode::OK);
    let headers = response.headers_mut();
    if let Some(v) = answer
        .retry_after
        .as_deref()
        .and_then(|v| http::HeaderValue::from_str(v).ok())
    {
        headers.insert("x-acs-retry-after", v);
    }
    if let Some(v) = answer
        .content_type
        .as_deref()
        .and_then(|v| http::HeaderValue::from_str(v).ok())
    {
        headers.insert(http::header::CONTENT_TYPE, v);
    }
    response
}

/// Replaces the credential markers in a body with the credentials themselves.
pub fn with_secrets(body: &[u8]) -> Vec<u8> {
    let mut out = body.to_vec();
    for (marker, value) in MARKERS {
        out = replace(&out, marker.as_bytes(), value.as_bytes());
    }
    out
}

fn replace(haystack: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(haystack.len());
    let mut i = 0;
    while i < haystack.len() {
        if haystack[i..].starts_with(from) {
            out.extend_from_slice(to);
            i += from.len();
        } else {
            out.push(haystack[i]);
            i += 1;
        }
    }
    out
}

/// What one call returned, reduced to what the properties look at.
#[derive(Debug)]
pub enum Outcome {
    Ok { items: usize },
    Stop(StopAnswer),
    Err(StopError),
}

/// Answers one adapter call of `provider` with `answer` and checks what the adapter made of it.
pub fn check(provider: Provider, op: Op, mut answer: Answer) -> Outcome {
    answer.body = with_secrets(&answer.body);
    if matches!(answer.status, 204 | 304) {
        // HTTP forbids a body here; the server drops it.
        answer.body.clear();
    }
    let vendor = vendor();
    let _exchange = vendor.exchange.lock().unwrap_or_else(|p| p.into_inner());
    *vendor.answer.lock().unwrap_or_else(|p| p.into_inner()) = answer.clone();
    let credentials = Credential::fixed(
        provider,
        Credentials {
            access_key_id: Secret::new(KEY_ID),
            secret: Secret::new(SECRET),
            token: Some(Secret::new(TOKEN)),
        },
    );
    let (adapter, region, ids, execution): (&dyn Adapter, _, _, _) = match provider {
        Provider::Alibaba => (
            &vendor.alibaba,
            "cn-hangzhou",
            vec!["i-fuzz00000001".to_string(), "i-fuzz00000002".to_string()],
            "t-fuzz0000000000000001",
        ),
        Provider::Tencent => (
            &vendor.tencent,
            "ap-guangzhou",
            vec!["ins-fuzz0001".to_string(), "ins-fuzz0002".to_string()],
            "inv-fuzz0001",
        ),
    };
    let scope = Scope {
        region,
        credentials: &credentials,
    };
    let stop = |dry_run, all_or_nothing| StopCall {
        ids: &ids,
        mode: StopMode::Graceful,
        billing: Billing::StopCharging,
        confirm_local_disk: false,
        dry_run,
        all_or_nothing,
    };
    let outcome = vendor.runtime.block_on(async {
        let ok = |items: usize| Outcome::Ok { items };
        match op {
            Op::Describe => adapter
                .describe(scope, &ids)
                .await
                .map(|d| ok(d.instances.len())),
            Op::Stop => adapter
                .stop(scope, &stop(false, false))
                .await
                .map(Outcome::Stop),
            Op::StopDryRun => adapter
                .stop(scope, &stop(true, false))
                .await
                .map(Outcome::Stop),
            Op::StopAllOrNothing => adapter
                .stop(scope, &stop(false, true))
                .await
                .map(Outcome::Stop),
            Op::DescribeExecution => adapter
                .describe_execution(scope, execution)
                .await
                .map(|(info, _)| ok(usize::from(info.is_some()))),
            Op::DescribeTasks => adapter
                .describe_tasks(scope, execution, None)
                .await
                .map(|p| ok(p.tasks.len())),
            Op::DescribeTasksPage => adapter
                .describe_tasks(scope, execution, Some("page-2"))
                .await
                .map(|p| ok(p.tasks.len())),
            Op::StopExecution => adapter
                .stop_execution(scope, execution, &ids)
                .await
                .map(|_| ok(0)),
        }
        .unwrap_or_else(Outcome::Err)
    });
    check_outcome(provider, op, &answer, &outcome);
    outcome
}

/// The properties of what an adapter made of an answer.
fn check_outcome(provider: Provider, op: Op, answer: &Answer, outcome: &Outcome) {
    match outcome {
        Outcome::Err(error) => check_error(error, answer, "the call's error"),
        Outcome::Stop(StopAnswer::PerInstance { results, .. }) => {
            for (_, result) in results {
                if let Err(error) = result {
                    check_error(error, answer, "a per-instance error");
                }
            }
        }
        _ => {}
    }
    let dry_run_here = op == Op::StopDryRun;
    if let Some(expected_ok) = readable(provider, answer).filter(|_| !dry_run_here) {
        let ok = !matches!(outcome, Outcome::Err(_));
        assert_eq!(
            ok, expected_ok,
            "{provider} {op:?}: HTTP {} answer read as {outcome:?}",
            answer.status
        );
    }
    if let (Outcome::Ok { items }, Op::Describe) = (outcome, op) {
        let body: Value = serde_json::from_str(&String::from_utf8_lossy(&answer.body)).unwrap();
        let list = match provider {
            Provider::Alibaba => body.pointer("/Instances/Instance"),
            Provider::Tencent => body.pointer("/Response/InstanceSet"),
        };
        let expected = list.and_then(Value::as_array).map_or(0, Vec::len);
        assert_eq!(*items, expected, "one observation per listed instance");
    }
}

/// Whether the call as a whole must succeed, from the answer alone (`None`: no opinion).
fn readable(provider: Provider, answer: &Answer) -> Option<bool> {
    let body = serde_json::from_str::<Value>(&String::from_utf8_lossy(&answer.body)).ok();
    match provider {
        Provider::Alibaba if (200..300).contains(&answer.status) => {
            Some(body.is_some_and(|b| b.is_object()))
        }
        // A non-2xx Alibaba answer is an error whatever its body.
        Provider::Alibaba => Some(false),
        Provider::Tencent if answer.status != 200 => Some(false),
        Provider::Tencent => Some(
            body.and_then(|b| b.get("Response").cloned())
                .is_some_and(|r| r.get("Error").is_none()),
        ),
    }
}

/// An error never carries a credential, and one made of an unreadable answer quotes only a
/// short snippet of it.
fn check_error(error: &StopError, answer: &Answer, what: &str) {
    for (name, value) in [("key id", KEY_ID), ("secret", SECRET), ("token", TOKEN)] {
        for (field, text) in [
            ("message", Some(error.message.as_str())),
            ("vendor_message", error.vendor_message.as_deref()),
            ("vendor_code", error.vendor_code.as_deref()),
        ] {
            assert!(
                !text.unwrap_or_default().contains(value),
                "the {name} leaked into {what}'s {field}: {error:?}"
            );
        }
    }
    let unreadable = matches!(
        error.vendor_code.as_deref(),
        Some("HTTP_5XX" | "HTTP_ERROR" | "MALFORMED_RESPONSE")
    );
    if unreadable && error.reason != "DRY_RUN_PASSED" {
        let snippet = error.vendor_message.as_deref().unwrap_or_default();
        assert!(
            snippet.chars().count() <= 120,
            "snippet of {} chars",
            snippet.chars().count()
        );
        assert!(
            error.message.len() <= 2048,
            "message of {} bytes",
            error.message.len()
        );
        if answer.status >= 500 {
            assert_eq!(
                error.retry,
                stopgate::model::RetryClass::Temporary,
                "{error:?}"
            );
        }
    }
}
