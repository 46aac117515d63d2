//! The signers and `Authorization` parsers both sides share, on random input: the checks of the
//! `signers` fuzz target (fuzz/src/signers.rs), driven by proptest.

#[path = "support/prop_config.rs"]
mod prop_config;
#[path = "../fuzz/src/signers.rs"]
mod signers;

use prop_config::config;
use proptest::prelude::*;
use signers::SignInput;

fn text(words: &'static [&'static str]) -> impl Strategy<Value = String> {
    prop_oneof![
        2 => prop::sample::select(words).prop_map(str::to_string),
        1 => "[A-Za-z0-9 ._~*/+=,;-]{0,16}",
        1 => any::<String>(),
    ]
}

fn pairs(words: &'static [&'static str]) -> impl Strategy<Value = Vec<(String, String)>> {
    prop::collection::vec((text(words), text(words)), 0..8)
}

fn input() -> impl Strategy<Value = SignInput> {
    (
        (
            text(&["POST", "GET"]),
            text(&["/", ""]),
            pairs(&["RegionId", "cn-hangzhou", "InstanceId.1", "a b"]),
            pairs(&["host", "x-acs-date", "X-TC-Action", "content-type", " v "]),
            prop::collection::vec(any::<u8>(), 0..64),
        ),
        (
            text(&["LTAI5tStopgateSimulator01", "AKIDexample", "a,b", "a/b"]),
            any::<String>(),
            prop_oneof![0i64..4_102_444_800, any::<i64>()],
            text(&["cvm", "tat"]),
            prop_oneof![
                text(&[
                    "ACS3-HMAC-SHA256 Credential=a,SignedHeaders=host;x-acs-date,Signature=ff",
                    "TC3-HMAC-SHA256 Credential=a/2026-01-01/cvm/tc3_request, SignedHeaders=host, Signature=ff",
                    "TC3-HMAC-SHA256 Credential=a/b/c/tc3_request/d, Signature=ff",
                    "ACS3-HMAC-SHA256 Credential",
                ]),
                "(ACS3|TC3)-HMAC-SHA256 [A-Za-z=,;/ ]{0,40}",
            ],
            any::<usize>(),
        ),
    )
        .prop_map(
            |((method, path, query, headers, body), (key_id, secret, timestamp, service, authorization, rotate))| {
                SignInput {
                    method,
                    path,
                    query,
                    headers,
                    body,
                    key_id,
                    secret,
                    timestamp,
                    service,
                    authorization,
                    rotate,
                }
            },
        )
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn signatures_parse_back_and_ignore_order_and_case(input in input()) {
        signers::check(&input);
    }

    #[test]
    fn the_authorization_parsers_take_any_text(header in any::<String>()) {
        signers::check_parsers(&header);
    }

    #[test]
    fn percent_encoding_is_rfc3986_and_reversible(value in any::<String>()) {
        signers::check_percent_encoding(&value);
    }
}
