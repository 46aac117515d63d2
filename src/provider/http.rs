//! The HTTP client every adapter shares: one connection pool, bounded timeouts, and redaction of
//! credentials from anything a vendor echoes back.

use std::sync::Once;
use std::time::Duration;

use crate::config::Credentials;
use crate::model::{CodeClass, ErrorKind, ErrorScope, Provider, RetryClass, StopError};

static CRYPTO: Once = Once::new();

/// The largest vendor answer read: the biggest real page (100 instances of DescribeInstances)
/// is well under 1 MiB; anything larger is not an answer stopgate can use, and reading it whole
/// would let one endpoint take the gateway's memory.
pub const MAX_BODY_BYTES: usize = 4 << 20;

/// A client with the timeouts the official SDKs use (connect 5 s; the whole call 30 s).
pub fn client() -> reqwest::Client {
    client_with(Duration::from_secs(5), Duration::from_secs(30))
}

/// A client with these timeouts (STS and metadata services answer faster than the APIs).
pub fn client_with(connect: Duration, whole_call: Duration) -> reqwest::Client {
    // reqwest is built without a default crypto provider; install ring once.
    CRYPTO.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
    reqwest::Client::builder()
        .connect_timeout(connect)
        .timeout(whole_call)
        .pool_idle_timeout(Duration::from_secs(60))
        // Each call is one small request: send it at once rather than wait for an ACK.
        .tcp_nodelay(true)
        .no_proxy()
        .build()
        .expect("an HTTP client with static settings builds")
}

/// Replaces every credential value in `text` (docs/design.md: secrets never reach an error).
pub fn redact(text: &str, credentials: &Credentials) -> String {
    let mut out = text.to_string();
    for secret in credentials.secret_values() {
        out = out.replace(&secret, "[REDACTED]");
    }
    out
}

/// A transport failure: connection refused, reset, timed out.
pub fn network_error(provider: Provider, action: &str, error: &reqwest::Error) -> StopError {
    let what = if error.is_timeout() {
        "timed out"
    } else {
        "failed"
    };
    let mut err = StopError::local(
        ErrorKind::Unavailable,
        "VENDOR_UNAVAILABLE",
        format!(
            "{provider} {action}: the HTTP call {what} ({}); stopgate retries such failures",
            source_chain(error)
        ),
    );
    err.retry = RetryClass::Temporary;
    err.provider = Some(provider);
    err.vendor_code = Some("NETWORK".to_string());
    err
}

fn source_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// Reads a vendor's answer as text, refusing one over [`MAX_BODY_BYTES`] without reading the
/// rest of it.
pub async fn read_body(
    provider: Provider,
    action: &str,
    mut response: reqwest::Response,
) -> Result<String, StopError> {
    let status = response.status().as_u16();
    let too_large = |read: Option<u64>| {
        let size = match read {
            Some(n) => format!("{n} bytes"),
            None => format!("more than {MAX_BODY_BYTES} bytes"),
        };
        let class = CodeClass::new(
            ErrorKind::Unavailable,
            RetryClass::Temporary,
            ErrorScope::Request,
            "VENDOR_UNAVAILABLE",
        );
        let mut err = StopError::vendor(
            provider,
            class,
            "RESPONSE_TOO_LARGE",
            "",
            None,
            Some(status),
        );
        err.message = format!(
            "{provider} {action}: the answer (HTTP {status}) is {size}, over stopgate's limit of {MAX_BODY_BYTES} bytes, so it was not read; whether the call took effect is unknown: check the endpoint ([{provider}] endpoint) is the vendor's API"
        );
        err
    };
    if let Some(length) = response
        .content_length()
        .filter(|n| *n > MAX_BODY_BYTES as u64)
    {
        return Err(too_large(Some(length)));
    }
    let mut body = Vec::with_capacity(response.content_length().unwrap_or(0) as usize);
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| network_error(provider, action, &e))?
    {
        if body.len() + chunk.len() > MAX_BODY_BYTES {
            return Err(too_large(None));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(String::from_utf8(body)
        .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()))
}

/// A non-vendor answer: a bare 5xx from a proxy, or a body that is not the vendor's JSON.
pub fn unreadable_answer(
    provider: Provider,
    action: &str,
    status: u16,
    snippet: &str,
    credentials: &Credentials,
) -> StopError {
    let (code, retry, kind) = if status >= 500 {
        ("HTTP_5XX", RetryClass::Temporary, ErrorKind::Unavailable)
    } else if status == 200 {
        (
            "MALFORMED_RESPONSE",
            RetryClass::Temporary,
            ErrorKind::Unavailable,
        )
    } else {
        ("HTTP_ERROR", RetryClass::Permanent, ErrorKind::Internal)
    };
    let class = CodeClass::new(kind, retry, ErrorScope::Request, "VENDOR_UNAVAILABLE");
    let snippet: String = redact(snippet, credentials).chars().take(120).collect();
    let mut err = StopError::vendor(provider, class, code, &snippet, None, Some(status));
    err.message = format!(
        "{provider} {action}: HTTP {status} with a body that is not the vendor's JSON ({snippet:?})"
    );
    err
}

/// Notes the server on the current vendor-call span (see `engine::call`).
pub fn record_server(host: &str) {
    tracing::Span::current().record("server.address", host);
}

/// Notes what the vendor answered on the current vendor-call span.
pub fn record_answer(status: u16, request_id: Option<&str>, code: Option<&str>) {
    let span = tracing::Span::current();
    span.record("http.response.status_code", status);
    if let Some(id) = request_id {
        span.record("stopgate.vendor.request_id", id);
    }
    if let Some(code) = code {
        span.record("stopgate.vendor.code", code);
    }
}
