//! Fuzzer bytes → harness inputs. Strings are mostly drawn from what each side knows (regions,
//! ids, actions, parameter names) so that inputs get past the first checks, and sometimes any
//! text at all.

use arbitrary::{Arbitrary, Result, Unstructured};
use serde_json::Value;
use stopgate::api::pb;

use crate::responses::{Answer, OPS, Op};
use crate::signers::SignInput;
use crate::sim::{
    ALIBABA_ACTIONS, ALIBABA_WORDS, AliCall, RawRequest, TENCENT_ACTIONS, TENCENT_WORDS, Tamper,
    TcCall,
};

/// One of `words` three times in four, else any text.
pub fn word(u: &mut Unstructured<'_>, words: &[&str]) -> Result<String> {
    if u.ratio(1, 4)? {
        String::arbitrary(u)
    } else {
        Ok(u.choose(words)?.to_string())
    }
}

fn list(u: &mut Unstructured<'_>, words: &[&str], max: usize) -> Result<Vec<String>> {
    let n = u.int_in_range(0..=max)?;
    (0..n).map(|_| word(u, words)).collect()
}

const REGIONS: [&str; 8] = [
    "cn-hangzhou",
    "ap-guangzhou",
    "cn-fuzzland-1",
    "us-east-1",
    "ap-singapore",
    "",
    "cn--x",
    "CN-HANGZHOU",
];
const ACCOUNTS: [&str; 4] = ["", "default", "ops", "nobody"];
const IDS: [&str; 10] = [
    "i-bp1a2b3c4d5e6f7g8h9i",
    "i-sgdemo0000000000000a1",
    "ins-r8hr2upy",
    "ins-sgdemo01",
    "mi-0123456789abcdef",
    "lhins-abcdefgh",
    "i-UPPER123456",
    "ins-",
    "",
    "i-bp1a2b3c4d5e6f7g8h9i",
];
const EXECUTIONS: [&str; 5] = [
    "t-7d2a745b412b4601b2d47f6a768d0000",
    "inv-ib2lld37",
    "inv-sgdemo01",
    "t-short",
    "",
];

fn duration(u: &mut Unstructured<'_>) -> Result<Option<prost_types::Duration>> {
    if !bool::arbitrary(u)? {
        return Ok(None);
    }
    let seconds = match u.int_in_range(0..=7)? {
        0 => 0,
        1 => 1,
        2 => 600,
        3 => 3600,
        4 => 3601,
        5 => -1,
        6 => i64::MAX,
        _ => i64::arbitrary(u)?,
    };
    let nanos = match u.int_in_range(0..=3)? {
        0 => 0,
        1 => 999_999_999,
        2 => 1_000_000_000,
        _ => i32::arbitrary(u)?,
    };
    Ok(Some(prost_types::Duration { seconds, nanos }))
}

fn wait(u: &mut Unstructured<'_>) -> Result<Option<pb::WaitOptions>> {
    if !bool::arbitrary(u)? {
        return Ok(None);
    }
    Ok(Some(pb::WaitOptions {
        until_terminal: bool::arbitrary(u)?,
        timeout: duration(u)?,
    }))
}

const TAG_KEYS: [&str; 5] = ["env", "team", "", "Env", "incident"];

fn selector(u: &mut Unstructured<'_>) -> Result<Option<pb::InstanceSelector>> {
    if !bool::arbitrary(u)? {
        return Ok(None);
    }
    let n = u.int_in_range(0..=12)?;
    let tags = (0..n)
        .map(|_| {
            Ok(pb::TagMatch {
                key: word(u, &TAG_KEYS)?,
                value: if bool::arbitrary(u)? {
                    Some(word(u, &["dev", "", "prod"])?)
                } else {
                    None
                },
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Some(pb::InstanceSelector {
        tags,
        regions: list(u, &REGIONS, 4)?,
        all_regions: bool::arbitrary(u)?,
        expect_at_most: match u.int_in_range(0..=3)? {
            0 => 0,
            1 => 1,
            2 => 10_001,
            _ => u32::arbitrary(u)?,
        },
    }))
}

pub fn stop_request(u: &mut Unstructured<'_>) -> Result<pb::StopInstancesRequest> {
    Ok(pb::StopInstancesRequest {
        provider: u.int_in_range(-1..=3)?,
        region: word(u, &REGIONS)?,
        account: word(u, &ACCOUNTS)?,
        instance_ids: list(u, &IDS, 24)?,
        mode: u.int_in_range(-1..=4)?,
        billing: u.int_in_range(-1..=5)?,
        dry_run: bool::arbitrary(u)?,
        all_or_nothing: bool::arbitrary(u)?,
        confirm_local_disk_data_loss: bool::arbitrary(u)?,
        wait: wait(u)?,
        graceful_timeout: duration(u)?,
        // Checked before validation, in the service (src/api/stream.rs).
        request_id: String::new(),
        selector: selector(u)?,
    })
}

pub fn command_request(u: &mut Unstructured<'_>) -> Result<pb::StopCommandExecutionRequest> {
    Ok(pb::StopCommandExecutionRequest {
        provider: u.int_in_range(-1..=3)?,
        region: word(u, &REGIONS)?,
        account: word(u, &ACCOUNTS)?,
        execution_id: word(u, &EXECUTIONS)?,
        instance_ids: list(u, &IDS, 24)?,
        dry_run: bool::arbitrary(u)?,
        wait: wait(u)?,
        request_id: String::new(),
    })
}

/// HTTP statuses vendors and proxies answer with.
const STATUSES: [u16; 14] = [
    200, 200, 200, 200, 201, 204, 302, 400, 403, 404, 429, 500, 502, 503,
];

/// `[provider+op][status][retry-after][body…]`: a plain layout so that hand-written seeds work.
pub fn vendor_answer(data: &[u8]) -> Option<(stopgate::model::Provider, Op, Answer)> {
    let (&selector, rest) = data.split_first()?;
    let (&status, rest) = rest.split_first()?;
    let (&retry, body) = rest.split_first()?;
    let provider = if selector & 1 == 0 {
        stopgate::model::Provider::Alibaba
    } else {
        stopgate::model::Provider::Tencent
    };
    let op = OPS[usize::from(selector >> 1) % OPS.len()];
    let status = match status {
        0..=199 => STATUSES[usize::from(status) % STATUSES.len()],
        s => 200 + u16::from(s - 200) * 7,
    };
    Some((
        provider,
        op,
        Answer {
            status,
            retry_after: (retry != 0).then(|| match retry {
                1 => "-1".to_string(),
                2 => "18446744073709551616".to_string(),
                3 => "1.5".to_string(),
                r => (u64::from(r) * 97).to_string(),
            }),
            content_type: Some("application/json".to_string()),
            body: body.to_vec(),
        },
    ))
}

fn tamper(u: &mut Unstructured<'_>) -> Result<Tamper> {
    Ok(match u.int_in_range(0..=7)? {
        0 => Tamper::WrongSecret,
        1 => Tamper::Replay,
        2 => Tamper::Skew(i64::arbitrary(u)?),
        3 => Tamper::Skew(i64::from(u.int_in_range(-2000..=2000)?)),
        _ => Tamper::None,
    })
}

fn pairs(u: &mut Unstructured<'_>, words: &[&str], max: usize) -> Result<Vec<(String, String)>> {
    let n = u.int_in_range(0..=max)?;
    (0..n)
        .map(|_| Ok((word(u, words)?, word(u, words)?)))
        .collect()
}

const ALIBABA_KEYS: [&str; 16] = [
    "RegionId",
    "InstanceId",
    "InstanceId.1",
    "InstanceId.2",
    "InstanceIds",
    "InvokeId",
    "ForceStop",
    "StoppedMode",
    "ConfirmStop",
    "BatchOptimization",
    "DryRun",
    "PageNumber",
    "PageSize",
    "MaxResults",
    "NextToken",
    "InvokeStatus",
];

/// Parameters as keys the simulator reads and values it may meet, most often in a region it
/// serves, so that calls get past the region check to the actions.
fn ali_params(u: &mut Unstructured<'_>) -> Result<Vec<(String, String)>> {
    let mut params = Vec::new();
    if u.ratio(3, 4)? {
        params.push(("RegionId".to_string(), "cn-hangzhou".to_string()));
    }
    let n = u.int_in_range(0..=10)?;
    for _ in 0..n {
        params.push((word(u, &ALIBABA_KEYS)?, word(u, &ALIBABA_WORDS)?));
    }
    Ok(params)
}

pub fn ali_call(u: &mut Unstructured<'_>) -> Result<AliCall> {
    Ok(AliCall {
        v3: bool::arbitrary(u)?,
        post: bool::arbitrary(u)?,
        action: word(u, &ALIBABA_ACTIONS)?,
        version: if u.ratio(1, 8)? {
            Some(String::arbitrary(u)?)
        } else {
            None
        },
        format: match u.int_in_range(0..=3)? {
            0 => None,
            1 => Some("JSON".to_string()),
            2 => Some("xml".to_string()),
            _ => Some(String::arbitrary(u)?),
        },
        params: ali_params(u)?,
        sts: u.ratio(1, 4)?,
        tamper: tamper(u)?,
    })
}

/// A JSON value of bounded depth, with keys and strings mostly from `words`.
pub fn json(u: &mut Unstructured<'_>, words: &[&str], depth: u32) -> Result<Value> {
    let pick = if depth == 0 {
        u.int_in_range(0..=3)?
    } else {
        u.int_in_range(0..=5)?
    };
    Ok(match pick {
        0 => Value::Null,
        1 => Value::Bool(bool::arbitrary(u)?),
        2 => match u.int_in_range(0..=2)? {
            0 => Value::from(i64::arbitrary(u)?),
            1 => Value::from(u.int_in_range(-5i64..=200)?),
            _ => serde_json::Number::from_f64(f64::arbitrary(u)?)
                .map(Value::Number)
                .unwrap_or(Value::Null),
        },
        3 => Value::String(word(u, words)?),
        4 => {
            let n = u.int_in_range(0..=6)?;
            Value::Array(
                (0..n)
                    .map(|_| json(u, words, depth - 1))
                    .collect::<Result<_>>()?,
            )
        }
        _ => {
            let n = u.int_in_range(0..=6)?;
            let mut map = serde_json::Map::new();
            for _ in 0..n {
                map.insert(word(u, words)?, json(u, words, depth - 1)?);
            }
            Value::Object(map)
        }
    })
}

pub fn tc_call(u: &mut Unstructured<'_>) -> Result<TcCall> {
    let tat = bool::arbitrary(u)?;
    let mut body = serde_json::Map::new();
    for _ in 0..u.int_in_range(0..=6)? {
        body.insert(word(u, &TENCENT_WORDS)?, json(u, &TENCENT_WORDS, 3)?);
    }
    let body = if u.ratio(1, 16)? {
        json(u, &TENCENT_WORDS, 2)?
    } else {
        Value::Object(body)
    };
    Ok(TcCall {
        get: u.ratio(1, 4)?,
        tat,
        action: word(u, &TENCENT_ACTIONS)?,
        region: if u.ratio(1, 8)? {
            Some(word(u, &["ap-shanghai", "ap-nowhere", ""])?)
        } else {
            None
        },
        body,
        pairs: pairs(u, &TENCENT_WORDS, 10)?,
        temporary: u.ratio(1, 4)?,
        unsigned_payload: u.ratio(1, 8)?,
        tamper: tamper(u)?,
    })
}

const METHODS: [&str; 5] = ["GET", "POST", "DELETE", "PUT", "OPTIONS"];
const PATHS: [&str; 10] = [
    "/",
    "/_sim/health",
    "/_sim/reset",
    "/_sim/instances",
    "/_sim/invocations",
    "/_sim/timings",
    "/_sim/ratelimits",
    "/_sim/faults",
    "/_sim/calls",
    "/_sim/credentials",
];
const HEADER_NAMES: [&str; 12] = [
    "authorization",
    "content-type",
    "host",
    "x-acs-action",
    "x-acs-version",
    "x-acs-date",
    "x-acs-signature-nonce",
    "x-acs-content-sha256",
    "x-tc-action",
    "x-tc-version",
    "x-tc-timestamp",
    "x-tc-region",
];
const HEADER_VALUES: [&str; 10] = [
    "ACS3-HMAC-SHA256 Credential=LTAI5tStopgateSimulator01,SignedHeaders=host,Signature=00",
    "TC3-HMAC-SHA256 Credential=AKIDstopgateSimulator000000000000001/2026-01-01/cvm/tc3_request, SignedHeaders=content-type;host, Signature=00",
    "application/json",
    "application/x-www-form-urlencoded",
    "StopInstances",
    "DescribeInstances",
    "2014-05-26",
    "2017-03-12",
    "2020-10-28",
    "ap-guangzhou",
];
const QUERY_WORDS: [&str; 8] = [
    "InstanceIds.4000000000=x",
    "Action=StopInstances&Version=2014-05-26&Format=JSON",
    "AccessKeyId=LTAI5tStopgateSimulator01&Signature=x&SignatureNonce=n",
    "Timestamp=2026-01-01T00:00:00Z",
    "provider=alibaba&region=cn-hangzhou",
    "Filters.0.Name=instance-id&Filters.0.Values.0=ins-a",
    "a.b.0.c=1",
    "",
];
const BODY_WORDS: [&str; 5] = [
    "{\"provider\":\"alibaba\",\"region\":\"cn-hangzhou\",\"instances\":[{}]}",
    "{\"seed\":\"demo\"}",
    "{\"InstanceIds\":[\"ins-sgdemo01\"]}",
    "Action=DescribeInstances&RegionId=cn-hangzhou",
    "",
];

pub fn raw_request(u: &mut Unstructured<'_>) -> Result<RawRequest> {
    let n = u.int_in_range(0..=6)?;
    let headers = (0..n)
        .map(|_| {
            Ok((
                word(u, &HEADER_NAMES)?.into_bytes(),
                word(u, &HEADER_VALUES)?.into_bytes(),
            ))
        })
        .collect::<Result<_>>()?;
    Ok(RawRequest {
        method: word(u, &METHODS)?.into_bytes(),
        path: word(u, &PATHS)?,
        query: word(u, &QUERY_WORDS)?,
        headers,
        body: word(u, &BODY_WORDS)?.into_bytes(),
    })
}

pub fn sign_input(u: &mut Unstructured<'_>) -> Result<SignInput> {
    Ok(SignInput {
        method: word(u, &["POST", "GET", "post"])?,
        path: word(u, &["/", "", "/a b"])?,
        query: pairs(
            u,
            &["RegionId", "cn-hangzhou", "InstanceId.1", "a b", "*", "~"],
            8,
        )?,
        headers: pairs(
            u,
            &[
                "host",
                "x-acs-date",
                "X-Acs-Action",
                "content-type",
                " v ",
                "",
            ],
            8,
        )?,
        body: Vec::<u8>::arbitrary(u)?,
        key_id: word(
            u,
            &["LTAI5tStopgateSimulator01", "AKIDx", "a,b", "a/b", " a"],
        )?,
        secret: String::arbitrary(u)?,
        timestamp: i64::arbitrary(u)?,
        service: word(u, &["cvm", "tat", "c/v", ""])?,
        authorization: String::arbitrary(u)?,
        rotate: usize::arbitrary(u)?,
    })
}
