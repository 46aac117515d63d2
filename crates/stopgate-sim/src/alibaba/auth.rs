//! Verifies Alibaba signatures the way the vendor does (docs/vendors/alibaba.md, §3.4): V2 HMAC-SHA1 over the
//! decoded parameters, V3 ACS3-HMAC-SHA256 over exactly the headers the client listed.

use std::time::Instant;

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;

use super::params::AliError;
use crate::SimState;
use crate::credentials::Credential;
use crate::server::HttpRequest;
use stopgate_vendor::Provider;
use stopgate_vendor::alibaba::sign;

/// How far a request's timestamp may be from now (docs/vendors/alibaba.md, §1.2).
const MAX_SKEW_SECONDS: i64 = 15 * 60;

fn parse_timestamp(raw: &str) -> Option<OffsetDateTime> {
    let compact = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    time::PrimitiveDateTime::parse(raw, compact)
        .map(|t| t.assume_utc())
        .or_else(|_| OffsetDateTime::parse(raw, &Rfc3339))
        .ok()
}

fn check_timestamp(raw: Option<&str>) -> Result<(), AliError> {
    let raw = raw.ok_or_else(|| AliError::missing("Timestamp"))?;
    let at = parse_timestamp(raw).ok_or_else(|| {
        AliError::new(
            400,
            "InvalidTimeStamp.Format",
            "Specified time stamp or date value is not well formatted.",
        )
    })?;
    if (OffsetDateTime::now_utc() - at).whole_seconds().abs() > MAX_SKEW_SECONDS {
        return Err(AliError::new(
            400,
            "InvalidTimeStamp.Expired",
            "Specified time stamp or date value is expired.",
        ));
    }
    Ok(())
}

fn unknown_key() -> AliError {
    AliError::new(
        404,
        "InvalidAccessKeyId.NotFound",
        "Specified access key is not found.",
    )
}

fn incomplete(detail: &str) -> AliError {
    AliError::new(
        400,
        "IncompleteSignature",
        format!("The request signature does not conform to Aliyun standards. {detail}"),
    )
}

/// The token rules shared by V2 and V3: an STS key must bring its own token.
fn check_token(expected: Option<&str>, sent: Option<&str>) -> Result<(), AliError> {
    match (expected, sent) {
        (None, _) => Ok(()),
        (Some(_), None) => Err(AliError::new(
            400,
            "MissingSecurityToken",
            "The security token you provided is missing.",
        )),
        (Some(e), Some(s)) if e == s => Ok(()),
        (Some(_), Some(_)) => Err(AliError::new(
            400,
            "InvalidSecurityToken.MismatchWithAccessKey",
            "Specified SecurityToken mismatch with the AccessKey.",
        )),
    }
}

/// A temporary key is refused from its expiry on (docs/simulator.md "Temporary credentials").
fn check_expiry(credential: &Credential) -> Result<(), AliError> {
    if credential.expired(OffsetDateTime::now_utc()) {
        return Err(AliError::new(
            400,
            "InvalidSecurityToken.Expired",
            "Specified SecurityToken is expired. Get new temporary credentials from STS or the instance metadata service.",
        ));
    }
    Ok(())
}

fn check_nonce(state: &SimState, nonce: &str) -> Result<(), AliError> {
    if state.nonces().insert(nonce, Instant::now()) {
        Ok(())
    } else {
        Err(AliError::new(
            400,
            "SignatureNonceUsed",
            "Specified signature nonce was used already.",
        ))
    }
}

/// Verifies a V2 request; `pairs` are every decoded query and form parameter. Returns the account.
pub fn verify_v2(
    state: &SimState,
    method: &str,
    pairs: &[(String, String)],
) -> Result<String, AliError> {
    let get = |name: &str| {
        pairs
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let key_id = get("AccessKeyId").ok_or_else(|| AliError::missing("AccessKeyId"))?;
    let credential = state
        .credentials()
        .find(Provider::Alibaba, key_id)
        .cloned()
        .ok_or_else(unknown_key)?;
    let signature = get("Signature").ok_or_else(|| incomplete("Signature is missing."))?;
    if get("SignatureMethod").is_some_and(|m| m != "HMAC-SHA1") {
        return Err(incomplete("SignatureMethod must be HMAC-SHA1."));
    }
    check_timestamp(get("Timestamp"))?;
    let nonce = get("SignatureNonce").ok_or_else(|| AliError::missing("SignatureNonce"))?;
    let signed: Vec<(String, String)> = pairs
        .iter()
        .filter(|(k, _)| k != "Signature")
        .cloned()
        .collect();
    let string_to_sign = sign::rpc_string_to_sign(method, &signed);
    // alibabacloud-credentials encodes a space as `+` (Python's quote_plus) where the
    // documented encoding has `%20`: its signatures are accepted too.
    let plus_form = string_to_sign.replace("%2520", "%2B");
    if sign::rpc_signature(&string_to_sign, &credential.secret) != signature
        && sign::rpc_signature(&plus_form, &credential.secret) != signature
    {
        // aliyun-python-sdk-core splits this message on ':' (docs/vendors/alibaba.md, §7 item 7).
        return Err(AliError::new(
            400,
            "SignatureDoesNotMatch",
            format!(
                "Specified signature is not matched with our calculation. server string to sign is:{string_to_sign}"
            ),
        ));
    }
    check_token(credential.token.as_deref(), get("SecurityToken"))?;
    check_expiry(&credential)?;
    check_nonce(state, nonce)?;
    Ok(credential.account)
}

/// Headers that must be signed whenever they are present (docs/vendors/alibaba.md, §1.3).
const MUST_SIGN: [&str; 7] = [
    "host",
    "x-acs-action",
    "x-acs-version",
    "x-acs-date",
    "x-acs-signature-nonce",
    "x-acs-content-sha256",
    "x-acs-security-token",
];

/// Verifies a V3 request; `query` are the decoded query parameters. Returns the account.
pub fn verify_v3(
    state: &SimState,
    request: &HttpRequest,
    query: &[(String, String)],
) -> Result<String, AliError> {
    let header = request.header("authorization").unwrap_or_default();
    let auth = sign::parse_acs3_authorization(header)
        .ok_or_else(|| incomplete("The Authorization header is not ACS3-HMAC-SHA256 Credential=…,SignedHeaders=…,Signature=…."))?;
    let credential = state
        .credentials()
        .find(Provider::Alibaba, &auth.access_key_id)
        .cloned()
        .ok_or_else(unknown_key)?;
    if let Some(unsigned) = MUST_SIGN
        .iter()
        .find(|h| request.headers.contains_key(**h) && !auth.signed_headers.iter().any(|s| s == *h))
    {
        return Err(incomplete(&format!("Header {unsigned} must be signed.")));
    }
    check_timestamp(request.header("x-acs-date"))?;
    let nonce = request
        .header("x-acs-signature-nonce")
        .ok_or_else(|| AliError::missing("x-acs-signature-nonce"))?
        .to_string();
    let body_hash = sign::sha256_hex(&request.body);
    if let Some(claimed) = request.header("x-acs-content-sha256") {
        if claimed != body_hash {
            return Err(AliError::new(
                400,
                "SignatureDoesNotMatch",
                format!(
                    "Specified signature is not matched with our calculation. x-acs-content-sha256 does not match the body: server body hash is:{body_hash}"
                ),
            ));
        }
    }
    let mut headers = Vec::new();
    for name in &auth.signed_headers {
        for value in request.header_all(name) {
            headers.push((name.clone(), value));
        }
    }
    let req = sign::Acs3Request {
        method: request.method.as_str(),
        path: &request.path,
        query,
        headers: &headers,
        payload_sha256: &body_hash,
    };
    if sign::acs3_signature(&req, &credential.secret) != auth.signature {
        let (canonical, _) = sign::acs3_canonical_request(&req);
        let string_to_sign = format!(
            "{}\n{}",
            sign::ACS3_ALGORITHM,
            sign::sha256_hex(canonical.as_bytes())
        );
        return Err(AliError::new(
            400,
            "SignatureDoesNotMatch",
            format!(
                "Specified signature is not matched with our calculation. server string to sign is:{string_to_sign}"
            ),
        ));
    }
    check_token(
        credential.token.as_deref(),
        request.header("x-acs-security-token"),
    )?;
    check_expiry(&credential)?;
    check_nonce(state, &nonce)?;
    Ok(credential.account)
}
