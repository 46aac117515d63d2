//! The one place where stopgate errors become gRPC statuses (like linkerd's single "rescue"):
//! request-level problems become the RPC's status, per-instance errors a `google.rpc.Status`
//! with `ErrorInfo` (and `RetryInfo` when the vendor said how long to wait), per AIP-193.
//!
//! Every text that leaves here is capped: messages may quote caller input (an instance id of
//! megabytes) or vendor text, and gRPC-core clients (Python, C++, Ruby) refuse response
//! trailers over 16 KiB, reporting RESOURCE_EXHAUSTED instead of the real error. The caps keep
//! `grpc-message` plus `grpc-status-details-bin` under about 10 KiB in the worst case.

use prost::Message;
use tonic::Code;
use tonic_types::pb;
use tonic_types::{ErrorDetails, StatusExt};

use crate::engine::request::InvalidRequest;
use crate::model::{ErrorKind, RetryClass, StopError};

/// The `ErrorInfo.domain` of every stopgate error.
pub const DOMAIN: &str = "stopgate";

/// The most bytes of a status message (before percent-encoding, which may triple it).
pub const MAX_MESSAGE_BYTES: usize = 1024;
/// The most bytes of one field name, field-violation description or metadata value.
pub const MAX_DETAIL_BYTES: usize = 256;
/// The most field violations listed in a `BadRequest`; the message counts the others.
pub const MAX_VIOLATIONS: usize = 10;

/// `text` cut to at most `max` bytes on character boundaries: its start and, shorter, its end
/// (where a message says what to do), with how long it was in between.
pub fn cap(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let marker = format!(" … ({} bytes in all) … ", text.len());
    let budget = max.saturating_sub(marker.len());
    let mut head = budget * 2 / 3;
    while !text.is_char_boundary(head) {
        head -= 1;
    }
    let mut tail = text.len() - (budget - head);
    while !text.is_char_boundary(tail) {
        tail += 1;
    }
    format!("{}{marker}{}", &text[..head], &text[tail..])
}

/// The gRPC code of an error kind.
pub fn code(kind: ErrorKind) -> Code {
    match kind {
        ErrorKind::InvalidArgument => Code::InvalidArgument,
        ErrorKind::NotFound => Code::NotFound,
        ErrorKind::FailedPrecondition => Code::FailedPrecondition,
        ErrorKind::Aborted => Code::Aborted,
        ErrorKind::PermissionDenied => Code::PermissionDenied,
        ErrorKind::Unauthenticated => Code::Unauthenticated,
        ErrorKind::ResourceExhausted => Code::ResourceExhausted,
        ErrorKind::Unavailable => Code::Unavailable,
        ErrorKind::DeadlineExceeded => Code::DeadlineExceeded,
        ErrorKind::Unimplemented => Code::Unimplemented,
        ErrorKind::Internal => Code::Internal,
    }
}

fn retry_name(retry: RetryClass) -> &'static str {
    match retry {
        RetryClass::Permanent => "PERMANENT",
        RetryClass::Temporary => "TEMPORARY",
        RetryClass::Persistent => "PERSISTENT",
    }
}

/// `ErrorInfo.metadata` of an error: the vendor's evidence (camelCase keys).
fn metadata(error: &StopError) -> std::collections::HashMap<String, String> {
    let mut meta = std::collections::HashMap::new();
    meta.insert("retry".to_string(), retry_name(error.retry).to_string());
    if let Some(p) = error.provider {
        meta.insert("provider".into(), p.to_string());
    }
    let optional = [
        ("vendorCode", error.vendor_code.clone()),
        ("vendorMessage", error.vendor_message.clone()),
        ("vendorRequestId", error.vendor_request_id.clone()),
        ("httpStatus", error.http_status.map(|s| s.to_string())),
        ("region", error.region.clone()),
    ];
    for (key, value) in optional {
        if let Some(value) = value.filter(|v| !v.is_empty()) {
            meta.insert(key.to_string(), cap(&value, MAX_DETAIL_BYTES));
        }
    }
    for (key, value) in &error.details {
        meta.insert(key.clone(), cap(value, MAX_DETAIL_BYTES));
    }
    meta
}

fn any<M: Message>(type_name: &str, message: &M) -> prost_types::Any {
    prost_types::Any {
        type_url: format!("type.googleapis.com/{type_name}"),
        value: message.encode_to_vec(),
    }
}

/// A per-instance error as a `google.rpc.Status`.
pub fn to_rpc_status(error: &StopError) -> pb::Status {
    let mut details = vec![any(
        "google.rpc.ErrorInfo",
        &pb::ErrorInfo {
            reason: cap(&error.reason, MAX_DETAIL_BYTES),
            domain: DOMAIN.to_string(),
            metadata: metadata(error),
        },
    )];
    if let Some(after) = error.retry_after {
        let delay = prost_types::Duration {
            seconds: after.as_secs() as i64,
            nanos: after.subsec_nanos() as i32,
        };
        details.push(any(
            "google.rpc.RetryInfo",
            &pb::RetryInfo {
                retry_delay: Some(delay),
            },
        ));
    }
    pb::Status {
        code: code(error.kind) as i32,
        message: cap(&error.message, MAX_MESSAGE_BYTES),
        details,
    }
}

/// A request refused before any vendor call: INVALID_ARGUMENT with `BadRequest`.
pub fn invalid_request(invalid: &InvalidRequest) -> tonic::Status {
    let capped = InvalidRequest {
        violations: invalid
            .violations
            .iter()
            .take(MAX_VIOLATIONS)
            .map(|v| crate::engine::request::FieldViolation {
                field: cap(&v.field, MAX_DETAIL_BYTES),
                description: cap(&v.description, MAX_DETAIL_BYTES),
            })
            .collect(),
    };
    let mut details = ErrorDetails::new();
    for v in &capped.violations {
        details.add_bad_request_violation(v.field.clone(), v.description.clone());
    }
    let mut metadata = std::collections::HashMap::new();
    let omitted = invalid.violations.len().saturating_sub(MAX_VIOLATIONS);
    if omitted > 0 {
        metadata.insert("violationsOmitted".to_string(), omitted.to_string());
    }
    details.set_error_info("INVALID_REQUEST", DOMAIN, metadata);
    let mut message = capped.summary();
    if omitted > 0 {
        message.push_str(&format!(
            " ({} violations in all; the first {MAX_VIOLATIONS} are listed)",
            invalid.violations.len()
        ));
    }
    tonic::Status::with_error_details(
        Code::InvalidArgument,
        cap(&message, MAX_MESSAGE_BYTES),
        details,
    )
}

/// Field problems found while converting a request (bad enum values, negative durations).
pub fn invalid_fields(problems: Vec<(String, String)>) -> tonic::Status {
    invalid_request(&InvalidRequest {
        violations: problems
            .into_iter()
            .map(
                |(field, description)| crate::engine::request::FieldViolation {
                    field,
                    description,
                },
            )
            .collect(),
    })
}

/// A request-level error as the RPC's status.
pub fn rpc_error(error: &StopError) -> tonic::Status {
    let mut details = ErrorDetails::new();
    details.set_error_info(
        cap(&error.reason, MAX_DETAIL_BYTES),
        DOMAIN,
        metadata(error),
    );
    if let Some(after) = error.retry_after {
        details.set_retry_info(Some(after));
    }
    tonic::Status::with_error_details(
        code(error.kind),
        cap(&error.message, MAX_MESSAGE_BYTES),
        details,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::request::FieldViolation;
    use crate::model::{CodeClass, ErrorScope, Provider};
    use std::time::Duration;

    #[test]
    fn a_vendor_error_carries_error_info_and_retry_info() {
        let class = CodeClass::new(
            ErrorKind::ResourceExhausted,
            RetryClass::Temporary,
            ErrorScope::Request,
            "THROTTLED",
        );
        let mut error = StopError::vendor(
            Provider::Alibaba,
            class,
            "Throttling.User",
            "flow control",
            Some("REQ-1".into()),
            Some(400),
        );
        error.retry_after = Some(Duration::from_millis(1500));
        let status = to_rpc_status(&error);
        assert_eq!(status.code, Code::ResourceExhausted as i32);
        let info = pb::ErrorInfo::decode(status.details[0].value.as_slice()).unwrap();
        assert_eq!(
            status.details[0].type_url,
            "type.googleapis.com/google.rpc.ErrorInfo"
        );
        assert_eq!(info.reason, "THROTTLED");
        assert_eq!(info.domain, "stopgate");
        assert_eq!(info.metadata["provider"], "alibaba");
        assert_eq!(info.metadata["vendorCode"], "Throttling.User");
        assert_eq!(info.metadata["vendorRequestId"], "REQ-1");
        assert_eq!(info.metadata["httpStatus"], "400");
        assert_eq!(info.metadata["retry"], "TEMPORARY");
        let retry = pb::RetryInfo::decode(status.details[1].value.as_slice()).unwrap();
        assert_eq!(retry.retry_delay.unwrap().nanos, 500_000_000);
    }

    #[test]
    fn an_invalid_request_lists_its_field_violations() {
        let invalid = InvalidRequest {
            violations: vec![FieldViolation {
                field: "instance_ids[0]".into(),
                description: "bad".into(),
            }],
        };
        let status = invalid_request(&invalid);
        assert_eq!(status.code(), Code::InvalidArgument);
        let bad = status.get_details_bad_request().unwrap();
        assert_eq!(bad.field_violations[0].field, "instance_ids[0]");
        assert!(status.message().contains("instance_ids[0]: bad"));
    }

    /// The bytes a status takes as HTTP/2 trailers.
    fn trailer_bytes(status: &tonic::Status) -> usize {
        let mut headers = http::HeaderMap::new();
        status.add_header(&mut headers).unwrap();
        headers
            .iter()
            .map(|(name, value)| name.as_str().len() + value.len())
            .sum()
    }

    #[test]
    fn a_huge_caller_input_is_quoted_only_as_a_prefix() {
        let huge = "é".repeat(1 << 20); // 2 MiB of two-byte characters, shared by 1000 ids
        let invalid = InvalidRequest {
            violations: (0..1000)
                .map(|i| FieldViolation {
                    field: format!("instance_ids[{i}]"),
                    description: format!("{huge} is not an instance id"),
                })
                .collect(),
        };
        let status = invalid_request(&invalid);
        assert_eq!(status.code(), Code::InvalidArgument);
        assert!(status.message().len() <= MAX_MESSAGE_BYTES);
        assert!(
            status.message().contains("bytes in all"),
            "{}",
            status.message()
        );
        assert!(status.message().contains("1000 violations"));
        let bad = status.get_details_bad_request().unwrap();
        assert_eq!(bad.field_violations.len(), MAX_VIOLATIONS);
        assert!(bad.field_violations[0].description.len() <= MAX_DETAIL_BYTES);
        assert!(
            trailer_bytes(&status) < 12 * 1024,
            "{}",
            trailer_bytes(&status)
        );

        let mut error = StopError::local(ErrorKind::InvalidArgument, "X", huge.clone());
        error.vendor_message = Some(huge.clone());
        assert!(trailer_bytes(&rpc_error(&error)) < 12 * 1024);
        let per_instance = to_rpc_status(&error);
        assert!(per_instance.message.len() <= MAX_MESSAGE_BYTES);
    }

    #[test]
    fn capping_keeps_short_text_and_cuts_on_a_character_boundary() {
        assert_eq!(cap("short", 10), "short");
        let cut = cap(
            &format!("{} is not an id (like ins-1)", "日本".repeat(100)),
            80,
        );
        assert!(cut.len() <= 80, "{cut}");
        assert!(cut.contains("(626 bytes in all)"), "{cut}");
        assert!(
            cut.starts_with("日本") && cut.ends_with("(like ins-1)"),
            "{cut}"
        );
    }
}
