//! The simulator's request parsing and signature verification, through its one HTTP entry point
//! (`stopgate::sim::route`) on a fresh simulator per input:
//! - signed calls: requests built and signed with the gateway's own signers
//!   (`provider::{alibaba,tencent}::sign`), so that they get past authentication and reach the
//!   parameter parsing and the action handlers; then tampered with in known ways;
//! - raw calls: any method, path, query, headers and body.
//!
//! Shared by the `sim_alibaba`, `sim_tencent` and `sim_raw` fuzz targets and
//! `tests/prop_simulator.rs`.
#![allow(dead_code)]

use std::cell::RefCell;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use http_body_util::BodyExt;
use serde_json::Value;
use stopgate::provider::alibaba::sign as ali_sign;
use stopgate::provider::tencent::sign as tc_sign;
use stopgate::sim::alibaba::params::COMMON;
use stopgate::sim::credentials as keys;
use stopgate::sim::server::{HttpRequest, Reply};
use stopgate::sim::{SimConfig, SimState};

const HOST: &str = "127.0.0.1:8780";
/// How far a timestamp may be from now: Alibaba 15 minutes, Tencent 5.
const ALIBABA_SKEW: i64 = 15 * 60;
const TENCENT_SKEW: i64 = 5 * 60;
/// Seconds of slack either side of a skew limit, for the time a check takes.
const SLACK: i64 = 5;

/// How a signed request is spoiled before it is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tamper {
    /// Sent as signed.
    None,
    /// Signed with a secret the simulator does not have for that key.
    WrongSecret,
    /// Sent twice.
    Replay,
    /// Timestamped this many seconds away from now.
    Skew(i64),
}

/// What the simulator answered.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub content_type: String,
    pub body: Vec<u8>,
    pub retry_after: Option<String>,
}

impl Answer {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

thread_local! {
    static RUNTIME: RefCell<Option<tokio::runtime::Runtime>> = const { RefCell::new(None) };
}

/// A fresh simulator, seeded with the demo world.
pub fn fresh() -> Arc<SimState> {
    SimState::new(&SimConfig::default())
}

/// Serves one request on `state`. The clock is paused, so an injected latency costs nothing.
pub fn serve(state: &Arc<SimState>, request: HttpRequest) -> Option<Answer> {
    RUNTIME.with(|cell| {
        let mut cell = cell.borrow_mut();
        let runtime = cell.get_or_insert_with(|| {
            tokio::runtime::Builder::new_current_thread()
                .enable_time()
                .start_paused(true)
                .build()
                .expect("a tokio runtime")
        });
        runtime.block_on(async {
            match stopgate::sim::route(state, request).await {
                Reply::Drop => None,
                Reply::Response(response) => {
                    let response = *response;
                    let status = response.status().as_u16();
                    let header = |name: &str| {
                        response
                            .headers()
                            .get(name)
                            .and_then(|v| v.to_str().ok())
                            .map(str::to_string)
                    };
                    let content_type = header("content-type").unwrap_or_default();
                    let retry_after = header("x-acs-retry-after");
                    let body = response
                        .into_body()
                        .collect()
                        .await
                        .map(|b| b.to_bytes().to_vec())
                        .unwrap_or_default();
                    Some(Answer {
                        status,
                        content_type,
                        body,
                        retry_after,
                    })
                }
            }
        })
    })
}

fn nonce() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!("fuzz-nonce-{}", NEXT.fetch_add(1, Ordering::Relaxed))
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

fn skew(tamper: Tamper) -> i64 {
    match tamper {
        // Within ±10 years, so that every timestamp formats.
        Tamper::Skew(s) => s.clamp(-315_360_000, 315_360_000),
        _ => 0,
    }
}

fn header_map(headers: &[(String, String)]) -> Option<http::HeaderMap> {
    let mut map = http::HeaderMap::new();
    for (name, value) in headers {
        let name = http::HeaderName::from_bytes(name.as_bytes()).ok()?;
        let value = http::HeaderValue::from_str(value).ok()?;
        // `to_str` is what the simulator reads headers with: only visible ASCII survives it.
        value.to_str().ok()?;
        map.append(name, value);
    }
    Some(map)
}

// === Alibaba ===

/// The actions the simulator serves, and ids it knows (its demo world), to steer inputs.
pub const ALIBABA_ACTIONS: [&str; 10] = [
    "DescribeRegions",
    "StopInstance",
    "StopInstances",
    "StartInstances",
    "DescribeInstanceStatus",
    "DescribeInstances",
    "RunCommand",
    "StopInvocation",
    "DescribeInvocations",
    "DescribeInvocationResults",
];
pub const ALIBABA_WORDS: [&str; 28] = [
    "Tag.1.Key",
    "Tag.1.Value",
    "Tag.21.Key",
    "env",
    "dev",
    "RegionId",
    "cn-hangzhou",
    "InstanceId",
    "InstanceId.1",
    "InstanceIds",
    "i-sgdemo0000000000000a1",
    "[\"i-sgdemo0000000000000a2\"]",
    "InvokeId",
    "t-sgdemo0000000000000000000000001",
    "ForceStop",
    "StoppedMode",
    "BatchOptimization",
    "DryRun",
    "PageNumber",
    "PageSize",
    "MaxResults",
    "NextToken",
    "sgnt-10",
    "0",
    "-1",
    "100",
    "9223372036854775807",
    "18446744073709551616",
];

/// One Alibaba RPC call, signed as an SDK would sign it.
#[derive(Debug, Clone)]
pub struct AliCall {
    /// ACS3-HMAC-SHA256 in headers (what the gateway sends) or V2 HMAC-SHA1 in parameters.
    pub v3: bool,
    pub post: bool,
    pub action: String,
    /// `None` sends the served version.
    pub version: Option<String>,
    /// V2's `Format` parameter.
    pub format: Option<String>,
    pub params: Vec<(String, String)>,
    /// Sign with the STS key, which must bring its token.
    pub sts: bool,
    pub tamper: Tamper,
}

fn ali_date(at: i64) -> String {
    let at = time::OffsetDateTime::from_unix_timestamp(at).expect("within ten years of now");
    at.format(time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second]Z"
    ))
    .expect("a date formats")
}

/// Builds the signed request; `None` when the input cannot be sent as HTTP (a header value that
/// is not visible ASCII).
pub fn alibaba_request(call: &AliCall, nonce: &str) -> Option<HttpRequest> {
    let (id, secret, token) = if call.sts {
        (
            keys::ALIBABA_STS.0,
            keys::ALIBABA_STS.1,
            Some(keys::ALIBABA_STS.2),
        )
    } else {
        (
            keys::ALIBABA_ACCESS_KEY_ID,
            keys::ALIBABA_ACCESS_KEY_SECRET,
            None,
        )
    };
    let secret = if call.tamper == Tamper::WrongSecret {
        "not-the-secret"
    } else {
        secret
    };
    let date = ali_date(now() + skew(call.tamper));
    let version = call
        .version
        .clone()
        .unwrap_or_else(|| "2014-05-26".to_string());
    let method = if call.post { "POST" } else { "GET" };
    let business: Vec<(String, String)> = call
        .params
        .iter()
        .filter(|(k, _)| !COMMON.contains(&k.as_str()))
        .cloned()
        .collect();
    if call.v3 {
        let mut headers = vec![
            ("host".to_string(), HOST.to_string()),
            ("x-acs-action".to_string(), call.action.clone()),
            ("x-acs-version".to_string(), version),
            ("x-acs-date".to_string(), date),
            ("x-acs-signature-nonce".to_string(), nonce.to_string()),
            (
                "x-acs-content-sha256".to_string(),
                ali_sign::EMPTY_PAYLOAD_SHA256.to_string(),
            ),
            ("accept".to_string(), "application/json".to_string()),
        ];
        if let Some(token) = token {
            headers.push(("x-acs-accesskey-id".to_string(), id.to_string()));
            headers.push(("x-acs-security-token".to_string(), token.to_string()));
        }
        let signed = ali_sign::Acs3Request {
            method,
            path: "/",
            query: &business,
            headers: &headers,
            payload_sha256: ali_sign::EMPTY_PAYLOAD_SHA256,
        };
        let authorization = ali_sign::acs3_authorization(&signed, id, secret);
        headers.push(("authorization".to_string(), authorization));
        return Some(HttpRequest {
            method: http::Method::from_bytes(method.as_bytes()).ok()?,
            path: "/".to_string(),
            query: ali_sign::encode_pairs(&business),
            headers: header_map(&headers)?,
            body: bytes::Bytes::new(),
        });
    }
    let mut pairs = vec![
        ("AccessKeyId".to_string(), id.to_string()),
        ("Action".to_string(), call.action.clone()),
        ("SignatureMethod".to_string(), "HMAC-SHA1".to_string()),
        ("SignatureNonce".to_string(), nonce.to_string()),
        ("SignatureVersion".to_string(), "1.0".to_string()),
        ("Timestamp".to_string(), date),
        ("Version".to_string(), version),
    ];
    if let Some(format) = &call.format {
        pairs.push(("Format".to_string(), format.clone()));
    }
    if let Some(token) = token {
        pairs.push(("SecurityToken".to_string(), token.to_string()));
    }
    pairs.extend(business);
    ali_sign::sign_rpc(method, &mut pairs, secret);
    let encoded = ali_sign::encode_pairs(&pairs);
    let mut headers = vec![("host".to_string(), HOST.to_string())];
    let (query, body) = if call.post {
        headers.push((
            "content-type".to_string(),
            "application/x-www-form-urlencoded".to_string(),
        ));
        (String::new(), encoded.into_bytes())
    } else {
        (encoded, Vec::new())
    };
    Some(HttpRequest {
        method: http::Method::from_bytes(method.as_bytes()).ok()?,
        path: "/".to_string(),
        query,
        headers: header_map(&headers)?,
        body: body.into(),
    })
}

/// The codes with which Alibaba refuses a request's authentication.
fn is_alibaba_auth_failure(code: &str) -> bool {
    [
        "IncompleteSignature",
        "SignatureDoesNotMatch",
        "SignatureNonceUsed",
        "InvalidAccessKeyId",
        "InvalidTimeStamp",
        "MissingSecurityToken",
        "InvalidSecurityToken",
        "MissingParameter.AccessKeyId",
        "MissingParameter.Timestamp",
        "MissingParameter.SignatureNonce",
        "MissingParameter.x-acs-signature-nonce",
    ]
    .iter()
    .any(|c| code.starts_with(c))
}

/// The `Code` of an Alibaba answer (JSON or XML), after checking that the answer is well formed.
pub fn alibaba_answer(answer: &Answer, root: Option<&str>) -> Option<String> {
    assert!(
        answer.status < 500,
        "HTTP {} without a fault: {}",
        answer.status,
        answer.text()
    );
    if answer.content_type.starts_with("text/xml") {
        let text = std::str::from_utf8(&answer.body).expect("XML answers are UTF-8");
        let doc = roxmltree::Document::parse(text)
            .unwrap_or_else(|e| panic!("the XML answer is not well formed ({e}): {text}"));
        let top = doc.root_element();
        let child = |name: &str| {
            top.children()
                .find(|n| n.has_tag_name(name))
                .map(|n| n.text().unwrap_or_default().to_string())
        };
        assert!(child("RequestId").is_some(), "no RequestId: {text}");
        if answer.status == 200 {
            if let Some(root) = root {
                assert_eq!(top.tag_name().name(), format!("{root}Response"));
            }
            None
        } else {
            assert_eq!(top.tag_name().name(), "Error", "{text}");
            Some(child("Code").expect("an error has a Code"))
        }
    } else if answer.content_type.starts_with("application/json") {
        let body: Value = serde_json::from_slice(&answer.body).expect("JSON answers parse");
        assert!(
            body.get("RequestId").is_some_and(Value::is_string),
            "{body}"
        );
        if answer.status == 200 {
            None
        } else {
            assert!(body.get("Message").is_some_and(Value::is_string), "{body}");
            Some(
                body.get("Code")
                    .and_then(Value::as_str)
                    .expect("an error has a Code")
                    .to_string(),
            )
        }
    } else {
        panic!("unexpected content type {:?}", answer.content_type);
    }
}

/// Sends a signed Alibaba call and checks the signature properties and the answer's shape.
pub fn check_alibaba(call: &AliCall) {
    let state = fresh();
    let nonce = nonce();
    let Some(request) = alibaba_request(call, &nonce) else {
        return;
    };
    let answer = serve(&state, request).expect("no fault drops the connection");
    let wants_json = call.v3
        || call
            .format
            .as_deref()
            .is_some_and(|f| f.eq_ignore_ascii_case("json"));
    let is_json = answer.content_type.starts_with("application/json");
    assert_eq!(is_json, wants_json, "format {:?}", call.format);
    let code = alibaba_answer(&answer, Some(call.action.as_str()));
    let code = code.as_deref().unwrap_or("");
    match call.tamper {
        Tamper::None => assert!(
            !is_alibaba_auth_failure(code),
            "a correctly signed call was refused with {code}: {}",
            answer.text()
        ),
        Tamper::WrongSecret => assert_eq!(code, "SignatureDoesNotMatch", "{}", answer.text()),
        Tamper::Replay => {
            assert!(!is_alibaba_auth_failure(code), "{}", answer.text());
            let again = alibaba_request(call, &nonce).expect("built once already");
            let second = serve(&state, again).expect("an answer");
            let code = alibaba_answer(&second, Some(call.action.as_str()));
            assert_eq!(
                code.as_deref(),
                Some("SignatureNonceUsed"),
                "{}",
                second.text()
            );
        }
        Tamper::Skew(_) => {
            let s = skew(call.tamper).abs();
            if s > ALIBABA_SKEW + SLACK {
                assert_eq!(code, "InvalidTimeStamp.Expired", "{}", answer.text());
            } else if s < ALIBABA_SKEW - SLACK {
                assert!(!is_alibaba_auth_failure(code), "{}", answer.text());
            }
        }
    }
}

// === Tencent ===

pub const TENCENT_ACTIONS: [&str; 9] = [
    "DescribeRegions",
    "StopInstances",
    "StartInstances",
    "DescribeInstancesStatus",
    "DescribeInstances",
    "RunCommand",
    "CancelInvocation",
    "DescribeInvocations",
    "DescribeInvocationTasks",
];
pub const TENCENT_WORDS: [&str; 23] = [
    "tag:env",
    "tag-key",
    "tag-value",
    "dev",
    "InstanceIds",
    "ins-sgdemo01",
    "ins-sgdemo02",
    "InvocationId",
    "inv-sgdemo01",
    "StopType",
    "SOFT_FIRST",
    "StoppedMode",
    "STOP_CHARGING",
    "Filters",
    "Name",
    "Values",
    "Offset",
    "Limit",
    "0",
    "-1",
    "100",
    "9223372036854775807",
    "4000000000",
];

/// One Tencent API 3.0 call, signed with TC3-HMAC-SHA256.
#[derive(Debug, Clone)]
pub struct TcCall {
    /// GET with flattened query parameters, or POST with a JSON body.
    pub get: bool,
    /// TAT (2020-10-28) or CVM (2017-03-12).
    pub tat: bool,
    pub action: String,
    /// `None` sends ap-guangzhou.
    pub region: Option<String>,
    /// The POST body.
    pub body: Value,
    /// The GET parameters.
    pub pairs: Vec<(String, String)>,
    /// Sign with the temporary key, which must bring its token.
    pub temporary: bool,
    /// Send `X-TC-Content-SHA256: UNSIGNED-PAYLOAD`.
    pub unsigned_payload: bool,
    pub tamper: Tamper,
}

pub fn tencent_request(call: &TcCall) -> Option<HttpRequest> {
    let (id, secret, token) = if call.temporary {
        (
            keys::TENCENT_TEMPORARY.0,
            keys::TENCENT_TEMPORARY.1,
            Some(keys::TENCENT_TEMPORARY.2),
        )
    } else {
        (keys::TENCENT_SECRET_ID, keys::TENCENT_SECRET_KEY, None)
    };
    let secret = if call.tamper == Tamper::WrongSecret {
        "not-the-secret-key"
    } else {
        secret
    };
    let (service, version) = if call.tat {
        ("tat", "2020-10-28")
    } else {
        ("cvm", "2017-03-12")
    };
    let timestamp = now() + skew(call.tamper);
    let (method, query, body, content_type) = if call.get {
        let query = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(&call.pairs)
            .finish();
        (
            "GET",
            query,
            Vec::new(),
            "application/x-www-form-urlencoded",
        )
    } else {
        (
            "POST",
            String::new(),
            call.body.to_string().into_bytes(),
            "application/json",
        )
    };
    let payload = if call.unsigned_payload {
        ali_sign::sha256_hex(b"UNSIGNED-PAYLOAD")
    } else {
        ali_sign::sha256_hex(&body)
    };
    let signed = vec![
        ("content-type".to_string(), content_type.to_string()),
        ("host".to_string(), HOST.to_string()),
    ];
    let request = tc_sign::Tc3Request {
        method,
        canonical_query: &query,
        headers: &signed,
        payload_sha256: &payload,
        timestamp,
        service,
    };
    let mut headers = signed.clone();
    headers.extend([
        (
            "authorization".to_string(),
            tc_sign::tc3_authorization(&request, id, secret),
        ),
        ("x-tc-action".to_string(), call.action.clone()),
        ("x-tc-version".to_string(), version.to_string()),
        ("x-tc-timestamp".to_string(), timestamp.to_string()),
        (
            "x-tc-region".to_string(),
            call.region.clone().unwrap_or_else(|| "ap-guangzhou".into()),
        ),
    ]);
    if call.unsigned_payload {
        headers.push(("x-tc-content-sha256".to_string(), "UNSIGNED-PAYLOAD".into()));
    }
    if let Some(token) = token {
        headers.push(("x-tc-token".to_string(), token.to_string()));
    }
    Some(HttpRequest {
        method: http::Method::from_bytes(method.as_bytes()).ok()?,
        path: "/".to_string(),
        query,
        headers: header_map(&headers)?,
        body: body.into(),
    })
}

/// The error code of a Tencent answer, after checking its envelope: always HTTP 200 with
/// `Content-Type: application/json` and `{"Response": {"RequestId": …}}`.
pub fn tencent_answer(answer: &Answer) -> Option<String> {
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert_eq!(answer.content_type, "application/json");
    let body: Value = serde_json::from_slice(&answer.body).expect("JSON answers parse");
    let response = body.get("Response").expect("a Response envelope");
    assert!(
        response.get("RequestId").is_some_and(Value::is_string),
        "{body}"
    );
    let error = response.get("Error")?;
    assert!(error.get("Message").is_some_and(Value::is_string), "{body}");
    Some(
        error
            .get("Code")
            .and_then(Value::as_str)
            .expect("an error has a Code")
            .to_string(),
    )
}

/// Sends a signed Tencent call and checks the signature properties and the envelope.
pub fn check_tencent(call: &TcCall) {
    let state = fresh();
    let Some(request) = tencent_request(call) else {
        return;
    };
    let answer = serve(&state, request).expect("no fault drops the connection");
    let code = tencent_answer(&answer).unwrap_or_default();
    let auth_failure = code.starts_with("AuthFailure");
    match call.tamper {
        Tamper::None | Tamper::Replay => {
            assert!(
                !auth_failure,
                "a correctly signed call was refused: {}",
                answer.text()
            );
        }
        Tamper::WrongSecret => {
            assert_eq!(code, "AuthFailure.SignatureFailure", "{}", answer.text())
        }
        Tamper::Skew(_) => {
            let s = skew(call.tamper).abs();
            if s > TENCENT_SKEW + SLACK {
                assert_eq!(code, "AuthFailure.SignatureExpire", "{}", answer.text());
            } else if s < TENCENT_SKEW - SLACK {
                assert!(!auth_failure, "{}", answer.text());
            }
        }
    }
}

// === Raw ===

/// Any request at all.
#[derive(Debug, Clone, Default)]
pub struct RawRequest {
    pub method: Vec<u8>,
    pub path: String,
    pub query: String,
    pub headers: Vec<(Vec<u8>, Vec<u8>)>,
    pub body: Vec<u8>,
}

/// Serves a raw request: it may be refused, but it gets a well-formed answer of its vendor.
pub fn check_raw(raw: &RawRequest) {
    let mut headers = http::HeaderMap::new();
    for (name, value) in &raw.headers {
        if let (Ok(n), Ok(v)) = (
            http::HeaderName::from_bytes(name),
            http::HeaderValue::from_bytes(value),
        ) {
            headers.append(n, v);
        }
    }
    let method = http::Method::from_bytes(&raw.method).unwrap_or(http::Method::GET);
    let path = if raw.path.starts_with('/') {
        raw.path.clone()
    } else {
        format!("/{}", raw.path)
    };
    let admin = path.starts_with("/_sim");
    let tencent = !admin && headers.contains_key("x-tc-action");
    let request = HttpRequest {
        method,
        path,
        query: raw.query.clone(),
        headers,
        body: raw.body.clone().into(),
    };
    let state = fresh();
    let Some(answer) = serve(&state, request) else {
        panic!("a connection was dropped without a fault");
    };
    if admin {
        assert!(
            answer.status < 500,
            "admin HTTP {}: {}",
            answer.status,
            answer.text()
        );
    } else if tencent {
        tencent_answer(&answer);
    } else {
        alibaba_answer(&answer, None);
    }
}
