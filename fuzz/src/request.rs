//! Request conversion (proto → model) and validation, run exactly as the gRPC services run them:
//! `convert::stop_request` / `convert::command_request`, then `Engine::validate_*`, and a refusal
//! rendered by `status::invalid_fields` / `status::invalid_request`.
//!
//! Shared by the `request_validation` fuzz target and `tests/prop_request.rs`.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::OnceLock;

use prost::Message;
use stopgate::api::{convert, pb, status};
use stopgate::config::{Account, Config, CredentialSource, Credentials, Secret};
use stopgate::engine::Engine;
use tonic_types::StatusExt;

/// The longest piece of one caller-supplied field an error may quote.
pub const ECHO_LIMIT: usize = 256;
/// The most bytes a refusal may put in its trailers (`grpc-message` plus the encoded details):
/// gRPC-core clients refuse trailers over 16 KiB.
pub const TRAILER_LIMIT: usize = 12 * 1024;

/// An engine whose config has a `default` account for both clouds and an `ops` account limited
/// to one region of each, so that every branch of the target checks is reachable.
pub fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        let creds = |id: &str, secret: &str| -> CredentialSource {
            Credentials {
                access_key_id: Secret::new(id),
                secret: Secret::new(secret),
                token: None,
            }
            .into()
        };
        let mut accounts = BTreeMap::new();
        accounts.insert(
            "default".to_string(),
            Account {
                alibaba: Some(creds("LTAIfuzzdefault", "fuzz-alibaba-secret")),
                tencent: Some(creds("AKIDfuzzdefault", "fuzz-tencent-secret")),
                regions: Vec::new(),
            },
        );
        accounts.insert(
            "ops".to_string(),
            Account {
                alibaba: Some(creds("LTAIfuzzops", "fuzz-alibaba-ops-secret")),
                tencent: None,
                regions: vec!["cn-hangzhou".to_string(), "ap-guangzhou".to_string()],
            },
        );
        let mut config = Config {
            accounts,
            ..Config::default()
        };
        config.alibaba.regions.push("cn-fuzzland-1".to_string());
        Engine::new(config).expect("a static config is valid")
    })
}

/// Decodes `data` as one of the two requests (the first byte chooses) and checks it.
pub fn check_bytes(data: &[u8]) {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    if which % 2 == 0 {
        if let Ok(request) = pb::StopInstancesRequest::decode(rest) {
            check_stop(request);
        }
    } else if let Ok(request) = pb::StopCommandExecutionRequest::decode(rest) {
        check_command(request);
    }
}

/// What a check concluded, for tests that want to know which way a request went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Accepted,
    Refused,
}

/// Converts and validates a StopInstances request; asserts the properties of either answer.
pub fn check_stop(request: pb::StopInstancesRequest) -> Verdict {
    let engine = engine();
    let fields = CallerFields::of_stop(&request);
    let converted = convert::stop_request(request.clone()).map_err(status::invalid_fields);
    let valid = converted.and_then(|c| {
        engine
            .validate_stop(c)
            .map_err(|invalid| status::invalid_request(&invalid))
    });
    match valid {
        Ok(valid) => {
            let adapter = engine.adapter(valid.provider).expect("validated provider");
            assert_eq!(convert::provider(request.provider), Some(valid.provider));
            assert_eq!(valid.requested, request.instance_ids.len());
            assert!(!valid.ids.is_empty(), "a stop names at least one instance");
            assert!(valid.ids.len() <= engine.config().max_instances_per_request);
            assert!(!valid.region.is_empty());
            let mut seen = std::collections::HashSet::new();
            for id in &valid.ids {
                assert!(seen.insert(id), "ids are distinct: {id:?} twice");
                assert!(
                    request.instance_ids.contains(id),
                    "ids come from the request"
                );
                assert!(
                    adapter.valid_instance_id(id),
                    "{id:?} passed as an instance id"
                );
            }
            for id in &request.instance_ids {
                assert!(seen.contains(id), "every requested id is kept: {id:?}");
            }
            assert!(
                !valid.dry_run || valid.wait.is_none(),
                "dry run with a wait"
            );
            Verdict::Accepted
        }
        Err(refusal) => {
            check_refusal(&refusal, &fields);
            Verdict::Refused
        }
    }
}

/// Converts and validates a StopCommandExecution request; asserts the properties of either answer.
pub fn check_command(request: pb::StopCommandExecutionRequest) -> Verdict {
    let engine = engine();
    let fields = CallerFields::of_command(&request);
    let converted = convert::command_request(request.clone()).map_err(status::invalid_fields);
    let valid = converted.and_then(|c| {
        engine
            .validate_command(c)
            .map_err(|invalid| status::invalid_request(&invalid))
    });
    match valid {
        Ok(valid) => {
            let adapter = engine.adapter(valid.provider).expect("validated provider");
            assert_eq!(valid.requested, request.instance_ids.len());
            assert!(adapter.valid_execution_id(&valid.execution_id));
            for id in &valid.ids {
                assert!(
                    adapter.valid_command_target(id),
                    "{id:?} passed as a target"
                );
            }
            Verdict::Accepted
        }
        Err(refusal) => {
            check_refusal(&refusal, &fields);
            Verdict::Refused
        }
    }
}

/// The strings a caller chose, to look for in what the refusal quotes.
#[derive(Debug, Default)]
pub struct CallerFields(Vec<String>);

impl CallerFields {
    fn of_stop(r: &pb::StopInstancesRequest) -> CallerFields {
        let mut all = vec![r.region.clone(), r.account.clone()];
        all.extend(r.instance_ids.iter().cloned());
        CallerFields(all)
    }

    fn of_command(r: &pb::StopCommandExecutionRequest) -> CallerFields {
        let mut all = vec![r.region.clone(), r.account.clone(), r.execution_id.clone()];
        all.extend(r.instance_ids.iter().cloned());
        CallerFields(all)
    }
}

/// A refusal is INVALID_ARGUMENT with a `BadRequest` naming at least one field and says so in
/// its message; then [`check_echo`].
pub fn check_refusal(refusal: &tonic::Status, fields: &CallerFields) {
    assert_eq!(refusal.code(), tonic::Code::InvalidArgument, "{refusal:?}");
    assert!(
        refusal.message().starts_with("invalid request: "),
        "{:?}",
        refusal.message()
    );
    let bad = refusal
        .get_details_bad_request()
        .expect("a refusal carries google.rpc.BadRequest");
    assert!(!bad.field_violations.is_empty(), "a refusal names a field");
    for v in &bad.field_violations {
        assert!(!v.field.is_empty() && !v.description.is_empty(), "{v:?}");
    }
    check_echo(refusal, fields);
}

/// Any caller-supplied field appears in the refusal at most as a short prefix, and the whole
/// refusal fits in the trailers every gRPC client accepts.
pub fn check_echo(refusal: &tonic::Status, fields: &CallerFields) {
    let size = refusal.message().len() + refusal.details().len();
    assert!(
        size <= TRAILER_LIMIT,
        "the refusal's trailers hold {size} bytes (message {} bytes); at most {TRAILER_LIMIT}",
        refusal.message().len()
    );
    let mut texts = vec![refusal.message().to_string()];
    if let Some(bad) = refusal.get_details_bad_request() {
        texts.extend(bad.field_violations.into_iter().map(|v| v.description));
    }
    for field in &fields.0 {
        // The first ECHO_LIMIT + 1 characters of the field must not appear, quoted raw or
        // Debug-escaped (escaping a prefix yields a prefix of the escaped field; escapes make a
        // short field's quote longer, which is no echo of a long field).
        let Some(cut) = field.char_indices().map(|(i, _)| i).nth(ECHO_LIMIT + 1) else {
            continue;
        };
        let prefix = &field[..cut];
        let escaped = format!("{prefix:?}");
        let escaped = &escaped[1..escaped.len() - 1];
        for probe in [prefix, escaped] {
            for text in &texts {
                assert!(
                    !text.contains(probe),
                    "a refusal quotes more than {ECHO_LIMIT} characters of a {}-byte field",
                    field.len()
                );
            }
        }
    }
}
