//! The signers both sides share (`provider::alibaba::sign`, `provider::tencent::sign`): the
//! `Authorization` parsers take any text, what a signer writes parses back to what it signed,
//! and a signature does not depend on the order or case in which headers and parameters come.
//!
//! Shared by the `signers` fuzz target and `tests/prop_signers.rs`.
#![allow(dead_code)]

use stopgate::provider::alibaba::sign as ali;
use stopgate::provider::tencent::sign as tc;

/// Everything a signer looks at, and a header to parse.
#[derive(Debug, Clone, Default)]
pub struct SignInput {
    pub method: String,
    pub path: String,
    pub query: Vec<(String, String)>,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub key_id: String,
    pub secret: String,
    pub timestamp: i64,
    pub service: String,
    /// Any text, for the `Authorization` parsers.
    pub authorization: String,
    /// How far to rotate the lists for the order-invariance checks.
    pub rotate: usize,
}

/// Runs every signer check.
pub fn check(input: &SignInput) {
    check_parsers(&input.authorization);
    check_percent_encoding(&input.key_id);
    check_percent_encoding(&input.secret);
    for (k, v) in &input.query {
        check_percent_encoding(k);
        check_percent_encoding(v);
    }
    check_acs3(input);
    check_rpc(input);
    check_tc3(input);
    let _ = tc::v1_string_to_sign(&input.method, &input.service, &input.query);
    let _ = tc::v1_signature(
        &input.authorization,
        &input.secret,
        tc::V1Method::HmacSha256,
    );
}

/// The parsers take any text; what they return is well formed.
pub fn check_parsers(header: &str) {
    if let Some(auth) = ali::parse_acs3_authorization(header) {
        assert!(!auth.access_key_id.is_empty() && !auth.signature.is_empty());
        for h in &auth.signed_headers {
            assert!(!h.is_empty() && *h == h.to_ascii_lowercase(), "{h:?}");
        }
    }
    if let Some(auth) = tc::parse_tc3_authorization(header) {
        assert!(!auth.secret_id.is_empty() && !auth.signature.is_empty());
        assert!(!auth.secret_id.contains('/') && !auth.service.contains('/'));
        for h in &auth.signed_headers {
            assert!(!h.is_empty() && *h == h.to_ascii_lowercase(), "{h:?}");
        }
    }
}

/// RFC 3986 encoding keeps only unreserved characters and `%XY` with uppercase hex, and
/// decodes back to its input.
pub fn check_percent_encoding(value: &str) {
    let encoded = ali::percent_encode(value);
    let bytes = encoded.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'%' {
            let hex = &bytes[i + 1..i + 3];
            assert!(
                hex.iter()
                    .all(|h| h.is_ascii_digit() || (b'A'..=b'F').contains(h)),
                "{encoded}"
            );
            i += 3;
        } else {
            assert!(
                b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~'),
                "{encoded}"
            );
            i += 1;
        }
    }
    let decoded = percent_encoding::percent_decode_str(&encoded).decode_utf8_lossy();
    assert_eq!(decoded, value);
}

/// Headers whose names HTTP allows (no `,`, `;`, `=` or space: the `Authorization` syntax
/// relies on that).
fn http_headers(input: &SignInput) -> Vec<(String, String)> {
    input
        .headers
        .iter()
        .filter(|(n, _)| !n.is_empty() && http::HeaderName::from_bytes(n.as_bytes()).is_ok())
        .cloned()
        .collect()
}

/// Keeps the first pair of each key: with distinct keys the order cannot matter.
fn distinct<T: Clone>(pairs: &[(String, T)]) -> Vec<(String, T)> {
    let mut seen = std::collections::HashSet::new();
    pairs
        .iter()
        .filter(|(k, _)| seen.insert(k.to_ascii_lowercase()))
        .cloned()
        .collect()
}

fn rotated<T: Clone>(list: &[T], by: usize) -> Vec<T> {
    let mut out = list.to_vec();
    if !out.is_empty() {
        let by = by % out.len();
        out.rotate_left(by);
    }
    out
}

fn key_usable(id: &str, forbidden: &[char]) -> bool {
    !id.is_empty() && id.trim() == id && !id.contains(forbidden)
}

/// ACS3: the header the signer writes parses back, and order and case do not matter.
pub fn check_acs3(input: &SignInput) {
    let headers = http_headers(input);
    let payload = ali::sha256_hex(&input.body);
    let req = ali::Acs3Request {
        method: &input.method,
        path: &input.path,
        query: &input.query,
        headers: &headers,
        payload_sha256: &payload,
    };
    let signature = ali::acs3_signature(&req, &input.secret);
    let header = ali::acs3_authorization(&req, &input.key_id, &input.secret);
    if key_usable(&input.key_id, &[',']) {
        let parsed = ali::parse_acs3_authorization(&header).expect("the signer's own header");
        assert_eq!(parsed.access_key_id, input.key_id);
        assert_eq!(parsed.signature, signature);
        let mut names: Vec<String> = headers
            .iter()
            .map(|(n, _)| n.to_ascii_lowercase())
            .collect();
        names.sort();
        names.dedup();
        assert_eq!(parsed.signed_headers, names);
    }
    // Header order and name case never matter (duplicates are merged, their values sorted);
    // parameter order does not when the keys are distinct.
    let query = distinct(&input.query);
    let base = ali::Acs3Request {
        query: &query,
        ..req.clone()
    };
    let shuffled_headers: Vec<(String, String)> = rotated(&headers, input.rotate)
        .into_iter()
        .map(|(n, v)| (n.to_ascii_uppercase(), v))
        .collect();
    let shuffled_query = rotated(&query, input.rotate);
    let shuffled = ali::Acs3Request {
        query: &shuffled_query,
        headers: &shuffled_headers,
        ..req
    };
    assert_eq!(
        ali::acs3_signature(&base, &input.secret),
        ali::acs3_signature(&shuffled, &input.secret),
        "ACS3 depends on order or case"
    );
}

/// V2: parameter order does not matter when the keys are distinct.
pub fn check_rpc(input: &SignInput) {
    let query = distinct(&input.query);
    let a = ali::rpc_string_to_sign(&input.method, &query);
    let b = ali::rpc_string_to_sign(&input.method, &rotated(&query, input.rotate));
    assert_eq!(a, b, "V2 depends on parameter order");
    assert!(a.starts_with(&format!("{}&%2F&", input.method.to_ascii_uppercase())));
    let _ = ali::rpc_signature(&a, &input.secret);
}

/// TC3: the header the signer writes parses back, and header order and case do not matter.
pub fn check_tc3(input: &SignInput) {
    let headers = distinct(&http_headers(input));
    let payload = ali::sha256_hex(&input.body);
    let query = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(&input.query)
        .finish();
    let req = tc::Tc3Request {
        method: &input.method,
        canonical_query: &query,
        headers: &headers,
        payload_sha256: &payload,
        timestamp: input.timestamp,
        service: &input.service,
    };
    let signature = tc::tc3_signature(&req, &input.secret);
    let header = tc::tc3_authorization(&req, &input.key_id, &input.secret);
    if key_usable(&input.key_id, &[',', '/']) && key_usable(&input.service, &[',', '/']) {
        let parsed = tc::parse_tc3_authorization(&header).expect("the signer's own header");
        assert_eq!(parsed.secret_id, input.key_id);
        assert_eq!(parsed.service, input.service);
        assert_eq!(parsed.date, tc::utc_date(input.timestamp));
        assert_eq!(parsed.signature, signature);
        let mut names: Vec<String> = headers
            .iter()
            .map(|(n, _)| n.to_ascii_lowercase())
            .collect();
        names.sort();
        assert_eq!(parsed.signed_headers, names);
    }
    let shuffled_headers: Vec<(String, String)> = rotated(&headers, input.rotate)
        .into_iter()
        .map(|(n, v)| (n.to_ascii_uppercase(), v))
        .collect();
    let shuffled = tc::Tc3Request {
        headers: &shuffled_headers,
        ..req
    };
    assert_eq!(
        signature,
        tc::tc3_signature(&shuffled, &input.secret),
        "TC3 depends on header order or case"
    );
}
