//! The vendor response parsers, on random answers from a fake vendor on loopback: the checks of
//! the `vendor_responses` fuzz target (fuzz/src/responses.rs), driven by proptest.

#[path = "support/prop_config.rs"]
mod prop_config;
#[path = "../fuzz/src/responses.rs"]
mod responses;

use prop_config::config;
use proptest::prelude::*;
use responses::{Answer, OPS, Op, Outcome};
use serde_json::{Value, json};
use stopgate::model::Provider;
use stopgate::provider::StopAnswer;

fn provider() -> impl Strategy<Value = Provider> {
    prop_oneof![Just(Provider::Alibaba), Just(Provider::Tencent)]
}

fn op() -> impl Strategy<Value = Op> {
    prop::sample::select(OPS.to_vec())
}

fn status() -> impl Strategy<Value = u16> {
    prop_oneof![
        4 => Just(200u16),
        1 => prop::sample::select(vec![201u16, 302, 400, 403, 404, 429, 500, 502, 503]),
        1 => 200u16..600,
    ]
}

/// Words the parsers look for, and some they do not.
fn word() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "RequestId",
            "Code",
            "Message",
            "Instances",
            "Instance",
            "InstanceId",
            "Status",
            "Running",
            "Stopped",
            "STOPPED",
            "StoppedMode",
            "StopCharging",
            "OperationLocks",
            "LockReason",
            "InstanceResponses",
            "InstanceResponse",
            "200",
            "Response",
            "Error",
            "InstanceSet",
            "InstanceState",
            "RestrictState",
            "LatestOperation",
            "LatestOperationState",
            "FAILED",
            "Invocations",
            "Invocation",
            "InvokeId",
            "InvocationResults",
            "InvocationResult",
            "InvocationStatus",
            "ExitCode",
            "NextToken",
            "InvocationSet",
            "InvocationTaskSet",
            "TaskStatus",
            "RepeatMode",
            "Period",
        ])
        .prop_map(str::to_string),
        any::<String>(),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        word().prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 32, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::from),
            prop::collection::btree_map(word(), inner, 0..5)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Answers shaped like the vendors' (with random leaves), random JSON, and random bytes.
fn body() -> impl Strategy<Value = Vec<u8>> {
    let entry = prop::collection::btree_map(word(), json_value(), 0..6)
        .prop_map(|m| Value::Object(m.into_iter().collect()));
    let entries = prop::collection::vec(entry, 0..4);
    let shaped = (entries, word(), json_value()).prop_map(|(list, id, extra)| {
        let list = Value::from(list);
        json!({
            "RequestId": id,
            "Instances": {"Instance": list.clone()},
            "InstanceResponses": {"InstanceResponse": list.clone()},
            "Invocations": {"Invocation": list.clone()},
            "Invocation": {"InvocationResults": {"InvocationResult": list.clone()}, "NextToken": extra},
            "Response": {"RequestId": id, "InstanceSet": list.clone(), "InvocationSet": list.clone(),
                "InvocationTaskSet": list},
        })
    });
    prop_oneof![
        3 => shaped.prop_map(|v| v.to_string().into_bytes()),
        2 => json_value().prop_map(|v| v.to_string().into_bytes()),
        1 => prop::collection::vec(any::<u8>(), 0..200),
    ]
}

fn answer(status: u16, body: Vec<u8>) -> Answer {
    Answer {
        status,
        retry_after: None,
        content_type: Some("application/json".to_string()),
        body,
    }
}

proptest! {
    #![proptest_config(config(160))]

    #[test]
    fn any_answer_is_read_or_refused_without_panic_or_leak(
        p in provider(),
        op in op(),
        status in status(),
        body in body(),
        retry in prop::option::of(prop_oneof![Just("-1".to_string()), "[0-9]{1,25}", any::<String>()]),
    ) {
        let mut a = answer(status, body);
        a.retry_after = retry;
        responses::check(p, op, a);
    }

    #[test]
    fn a_vendor_error_envelope_is_an_error_with_its_code_and_no_secret(
        p in provider(),
        op in op(),
        code in "[A-Za-z.]{1,30}",
        secret in prop::sample::select(vec!["$SECRET", "$KEYID", "$TOKEN"]),
        status in prop::sample::select(vec![400u16, 403, 404]),
    ) {
        let message = format!("bad key {secret} (echoed)");
        let body = match p {
            Provider::Alibaba => json!({"RequestId": "R", "Code": code, "Message": message}),
            Provider::Tencent => json!({"Response": {"RequestId": "R", "Error": {"Code": code, "Message": message}}}),
        };
        let status = if p == Provider::Tencent { 200 } else { status };
        let outcome = responses::check(p, op, answer(status, body.to_string().into_bytes()));
        // Every call fails; a Tencent dry run fails before any call (Tencent has none).
        let Outcome::Err(e) = outcome else { panic!("{outcome:?}") };
        if !(p == Provider::Tencent && op == Op::StopDryRun) {
            prop_assert_eq!(e.vendor_code.as_deref(), Some(code.as_str()));
        }
    }
}

proptest! {
    #![proptest_config(config(16))]

    // Alibaba answers per instance: each instance's own Message is redacted like the call's.
    #[test]
    fn a_secret_in_a_per_instance_message_is_redacted(
        secret in prop::sample::select(vec!["$SECRET", "$KEYID", "$TOKEN"]),
    ) {
        let body = json!({"RequestId": "R", "InstanceResponses": {"InstanceResponse": [
            {"InstanceId": "i-fuzz00000001", "Code": "IncorrectInstanceStatus", "Message": format!("key {secret}")},
        ]}});
        let outcome = responses::check(Provider::Alibaba, Op::Stop, answer(200, body.to_string().into_bytes()));
        let is_per_instance = matches!(outcome, Outcome::Stop(StopAnswer::PerInstance { .. }));
        prop_assert!(is_per_instance);
    }

    // Found by the vendor_responses fuzz target: whatever answers may echo a credential in
    // its `Code`, which the error quotes in its message and keeps as vendorCode.
    #[test]
    fn a_secret_in_a_vendor_code_is_redacted(
        p in provider(),
        secret in prop::sample::select(vec!["$SECRET", "$KEYID", "$TOKEN"]),
    ) {
        let code = format!("InvalidAccessKeyId.NotFound:{secret}");
        let body = match p {
            Provider::Alibaba => json!({"RequestId": "R", "Code": code, "Message": "not found"}),
            Provider::Tencent => json!({"Response": {"RequestId": "R", "Error": {"Code": code, "Message": "not found"}}}),
        };
        let status = if p == Provider::Tencent { 200 } else { 403 };
        let outcome = responses::check(p, Op::Describe, answer(status, body.to_string().into_bytes()));
        prop_assert!(matches!(outcome, Outcome::Err(_)));
    }
}
