//! Verifies Tencent TC3-HMAC-SHA256 requests over whatever headers the client signed
//! (docs/vendors/tencent.md, §4.1), with the vendor's AuthFailure codes (§3.4).

use super::body::TcError;
use crate::SimState;
use crate::server::HttpRequest;
use stopgate_vendor::Provider;
use stopgate_vendor::tencent::sign;

/// How far `X-TC-Timestamp` may be from now (docs/vendors/tencent.md, §3.1).
const MAX_SKEW_SECONDS: i64 = 5 * 60;

/// Verifies the request for `service` (`cvm`, `tat`); returns the account.
pub fn verify(state: &SimState, request: &HttpRequest, service: &str) -> Result<String, TcError> {
    let invalid = |why: &str| {
        TcError::new(
            "AuthFailure.InvalidAuthorization",
            format!("Authorization header is invalid: {why}."),
        )
    };
    let header = request
        .header("authorization")
        .ok_or_else(|| invalid("it is missing"))?;
    let auth = sign::parse_tc3_authorization(header)
        .ok_or_else(|| invalid("expected `TC3-HMAC-SHA256 Credential=<SecretId>/<Date>/<service>/tc3_request, SignedHeaders=…, Signature=…`"))?;
    let credential = state
        .credentials()
        .find(Provider::Tencent, &auth.secret_id)
        .cloned()
        .ok_or_else(|| {
            TcError::new(
                "AuthFailure.SecretIdNotFound",
                "The SecretId is not found, please ensure that your SecretId is correct.",
            )
        })?;
    if auth.service != service {
        return Err(invalid(&format!(
            "the credential scope names service `{}` but this is `{service}`",
            auth.service
        )));
    }
    for required in ["content-type", "host"] {
        if !auth.signed_headers.iter().any(|h| h == required) {
            return Err(invalid(&format!("`{required}` must be signed")));
        }
    }
    let timestamp = request
        .header("x-tc-timestamp")
        .and_then(|t| t.parse::<i64>().ok())
        .ok_or_else(|| {
            TcError::new(
                "MissingParameter",
                "The header `X-TC-Timestamp` is missing or not an integer.",
            )
        })?;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    if (now - timestamp).abs() > MAX_SKEW_SECONDS {
        return Err(TcError::new(
            "AuthFailure.SignatureExpire",
            format!(
                "Signature expired: timestamp {timestamp} differs from server time {now} by more than 5 minutes."
            ),
        ));
    }
    let payload = if request.header("x-tc-content-sha256") == Some("UNSIGNED-PAYLOAD") {
        hex::encode(<sha2::Sha256 as sha2::Digest>::digest(b"UNSIGNED-PAYLOAD"))
    } else {
        hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&request.body))
    };
    let headers: Vec<(String, String)> = auth
        .signed_headers
        .iter()
        .map(|name| (name.clone(), request.header_all(name).join(",")))
        .collect();
    let canonical_query = if request.method == http::Method::GET {
        request.query.as_str()
    } else {
        ""
    };
    let req = sign::Tc3Request {
        method: request.method.as_str(),
        canonical_query,
        headers: &headers,
        payload_sha256: &payload,
        timestamp,
        service,
    };
    if sign::tc3_signature(&req, &credential.secret) != auth.signature {
        return Err(TcError::new(
            "AuthFailure.SignatureFailure",
            "The provided credentials could not be validated. Please check your signature is correct.",
        ));
    }
    match (credential.token.as_deref(), request.header("x-tc-token")) {
        (Some(expected), Some(sent)) if expected == sent => {
            if credential.expired(time::OffsetDateTime::now_utc()) {
                return Err(TcError::new(
                    "AuthFailure.TokenFailure",
                    "The token has expired. Get new temporary credentials from STS or the instance metadata service.",
                ));
            }
        }
        (Some(_), _) => {
            return Err(TcError::new(
                "AuthFailure.TokenFailure",
                "The token is missing, invalid or expired.",
            ));
        }
        (None, _) => {}
    }
    Ok(credential.account)
}
