//! Tencent Cloud API 3.0 signatures: TC3-HMAC-SHA256 (what the gateway sends and the simulator
//! verifies) and the legacy v1 `HmacSHA1`/`HmacSHA256` string signature.
//!
//! Rules and worked examples: `docs/vendors/tencent.md` §4. The credential scope's date is the
//! UTC date of the timestamp (§4.1 step 2), never local time.

use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;
use sha2::{Digest, Sha256};

/// The algorithm name in the `Authorization` header and the string to sign.
pub const TC3_ALGORITHM: &str = "TC3-HMAC-SHA256";

fn hmac_sha256(key: &[u8], message: &str) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC accepts any key length");
    mac.update(message.as_bytes());
    mac.finalize().into_bytes().to_vec()
}

/// `YYYY-MM-DD` of a Unix timestamp in UTC.
pub fn utc_date(timestamp: i64) -> String {
    let date = time::OffsetDateTime::from_unix_timestamp(timestamp)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
        .date();
    format!(
        "{:04}-{:02}-{:02}",
        date.year(),
        u8::from(date.month()),
        date.day()
    )
}

/// What TC3 signs about a request.
#[derive(Debug, Clone)]
pub struct Tc3Request<'a> {
    /// `POST` or `GET`.
    pub method: &'a str,
    /// The query string after `?` as sent (GET), empty for POST.
    pub canonical_query: &'a str,
    /// The signed headers, names in any case; values are trimmed and lowercased when signed.
    pub headers: &'a [(String, String)],
    /// Lowercase hex SHA-256 of the body bytes as sent (or of `UNSIGNED-PAYLOAD`).
    pub payload_sha256: &'a str,
    /// `X-TC-Timestamp`.
    pub timestamp: i64,
    /// The product in the credential scope: `cvm`, `tat`.
    pub service: &'a str,
}

/// Returns `(canonical_request, signed_headers)` (docs/vendors/tencent.md, §4.1 step 1).
pub fn tc3_canonical_request(req: &Tc3Request<'_>) -> (String, String) {
    let mut headers: Vec<(String, String)> = req
        .headers
        .iter()
        .map(|(n, v)| (n.to_ascii_lowercase(), v.trim().to_lowercase()))
        .collect();
    headers.sort_by(|a, b| a.0.cmp(&b.0));
    let canonical_headers: String = headers.iter().map(|(n, v)| format!("{n}:{v}\n")).collect();
    let signed_headers = headers
        .iter()
        .map(|(n, _)| n.as_str())
        .collect::<Vec<_>>()
        .join(";");
    let canonical = format!(
        "{}\n/\n{}\n{canonical_headers}\n{signed_headers}\n{}",
        req.method.to_ascii_uppercase(),
        req.canonical_query,
        req.payload_sha256
    );
    (canonical, signed_headers)
}

/// The credential scope `<date>/<service>/tc3_request`.
pub fn credential_scope(timestamp: i64, service: &str) -> String {
    format!("{}/{service}/tc3_request", utc_date(timestamp))
}

/// The TC3 string to sign (§4.1 step 2).
pub fn tc3_string_to_sign(req: &Tc3Request<'_>) -> String {
    let (canonical, _) = tc3_canonical_request(req);
    format!(
        "{TC3_ALGORITHM}\n{}\n{}\n{}",
        req.timestamp,
        credential_scope(req.timestamp, req.service),
        hex::encode(Sha256::digest(canonical.as_bytes()))
    )
}

/// Lowercase hex signature: the key chain `TC3`+key → date → service → `tc3_request` (§4.1 step 3).
pub fn tc3_signature(req: &Tc3Request<'_>, secret_key: &str) -> String {
    let date = utc_date(req.timestamp);
    let k_date = hmac_sha256(format!("TC3{secret_key}").as_bytes(), &date);
    let k_service = hmac_sha256(&k_date, req.service);
    let k_signing = hmac_sha256(&k_service, "tc3_request");
    hex::encode(hmac_sha256(&k_signing, &tc3_string_to_sign(req)))
}

/// The full `Authorization` header value (§4.1 step 4).
pub fn tc3_authorization(req: &Tc3Request<'_>, secret_id: &str, secret_key: &str) -> String {
    let (_, signed_headers) = tc3_canonical_request(req);
    format!(
        "{TC3_ALGORITHM} Credential={secret_id}/{}, SignedHeaders={signed_headers}, Signature={}",
        credential_scope(req.timestamp, req.service),
        tc3_signature(req, secret_key)
    )
}

/// A parsed TC3 `Authorization` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tc3Authorization {
    /// SecretId from the credential.
    pub secret_id: String,
    /// The date in the credential scope.
    pub date: String,
    /// The service in the credential scope.
    pub service: String,
    /// Lowercase header names from `SignedHeaders=`.
    pub signed_headers: Vec<String>,
    /// The hex signature.
    pub signature: String,
}

/// Parses `TC3-HMAC-SHA256 Credential=id/date/service/tc3_request, SignedHeaders=…, Signature=…`.
pub fn parse_tc3_authorization(header: &str) -> Option<Tc3Authorization> {
    let rest = header.strip_prefix(TC3_ALGORITHM)?.trim_start();
    let (mut credential, mut signed, mut signature) = (None, None, None);
    for part in rest.split(',') {
        let (key, value) = part.trim().split_once('=')?;
        match key {
            "Credential" => credential = Some(value),
            "SignedHeaders" => signed = Some(value),
            "Signature" => signature = Some(value),
            _ => {}
        }
    }
    let mut scope = credential?.split('/');
    let (secret_id, date, service, terminator) =
        (scope.next()?, scope.next()?, scope.next()?, scope.next()?);
    if terminator != "tc3_request" || scope.next().is_some() || secret_id.is_empty() {
        return None;
    }
    Some(Tc3Authorization {
        secret_id: secret_id.to_string(),
        date: date.to_string(),
        service: service.to_string(),
        signed_headers: signed?
            .split(';')
            .filter(|h| !h.is_empty())
            .map(|h| h.to_ascii_lowercase())
            .collect(),
        signature: signature.filter(|s| !s.is_empty())?.to_string(),
    })
}

/// Legacy v1 signature methods (§4.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum V1Method {
    /// `HmacSHA1`
    HmacSha1,
    /// `HmacSHA256`
    HmacSha256,
}

/// The v1 string to sign: `METHOD` + host + `/?` + sorted raw `key=value` pairs joined by `&`,
/// with `_` in keys replaced by `.` (§4.4 step 3).
pub fn v1_string_to_sign(method: &str, host: &str, params: &[(String, String)]) -> String {
    let mut sorted: Vec<(String, &str)> = params
        .iter()
        .map(|(k, v)| (k.replace('_', "."), v.as_str()))
        .collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    let joined = sorted
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");
    format!("{}{host}/?{joined}", method.to_ascii_uppercase())
}

/// Base64 HMAC of the v1 string to sign.
pub fn v1_signature(string_to_sign: &str, secret_key: &str, method: V1Method) -> String {
    let bytes = match method {
        V1Method::HmacSha1 => {
            let mut mac = Hmac::<Sha1>::new_from_slice(secret_key.as_bytes()).expect("any key");
            mac.update(string_to_sign.as_bytes());
            mac.finalize().into_bytes().to_vec()
        }
        V1Method::HmacSha256 => hmac_sha256(secret_key.as_bytes(), string_to_sign),
    };
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE";
    const KEY: &str = "Gu5t9xGARNpq86cd98joQYCN3EXAMPLE";

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn sha256_hex(bytes: &[u8]) -> String {
        hex::encode(Sha256::digest(bytes))
    }

    #[test]
    fn credential_date_is_the_utc_date_not_local_time() {
        // docs/vendors/tencent.md, §4.1: 1551113065 is 2019-02-26 in UTC+8 but 2019-02-25 in UTC.
        assert_eq!(utc_date(1551113065), "2019-02-25");
        assert_eq!(utc_date(1700000000), "2023-11-14");
    }

    // docs/vendors/tencent.md, §4.3 (a): the official doc example, and the newer x-tc-action variant.
    #[test]
    fn tc3_reproduces_the_official_doc_example() {
        let body = br#"{"Limit": 1, "Filters": [{"Values": ["\u672a\u547d\u540d"], "Name": "instance-name"}]}"#;
        let payload = sha256_hex(body);
        assert_eq!(
            payload,
            "35e9c5b0e3ae67532d3c9f17ead6c90222632e5b1ff7f6e89887f1398934f064"
        );
        let headers = pairs(&[
            ("Content-Type", "application/json; charset=utf-8"),
            ("Host", "cvm.tencentcloudapi.com"),
        ]);
        let req = Tc3Request {
            method: "POST",
            canonical_query: "",
            headers: &headers,
            payload_sha256: &payload,
            timestamp: 1551113065,
            service: "cvm",
        };
        let (canonical, _) = tc3_canonical_request(&req);
        assert_eq!(
            sha256_hex(canonical.as_bytes()),
            "5ffe6a04c0664d6b969fab9a13bdab201d63ee709638e2749d62a09ca18d7031"
        );
        assert_eq!(
            tc3_signature(&req, KEY),
            "72e494ea809ad7a8c8f7a4507b9bddcbaa8e581f516e8da2f66e2c5a96525168"
        );

        let mut with_action = headers.clone();
        with_action.push(("X-TC-Action".into(), "DescribeInstances".into()));
        let req = Tc3Request {
            headers: &with_action,
            ..req
        };
        let (canonical, signed) = tc3_canonical_request(&req);
        assert_eq!(signed, "content-type;host;x-tc-action");
        assert!(canonical.contains("x-tc-action:describeinstances\n"));
        assert_eq!(
            sha256_hex(canonical.as_bytes()),
            "7019a55be8395899b900fb5564e4200d984910f34794a27cb3fb7d10ff6a1e84"
        );
        assert_eq!(
            tc3_signature(&req, KEY),
            "644be983de9a8a3f00db8eadaba61467c3b429e2215758ba897b738ca469fd26"
        );
    }

    // docs/vendors/tencent.md, §4.3 (b): StopInstances exactly as the Python SDK builds it.
    #[test]
    fn tc3_reproduces_the_sdk_stop_instances_example() {
        let body = br#"{"InstanceIds": ["ins-r8hr2upy", "ins-5d8a23rs"], "StopType": "SOFT_FIRST", "StoppedMode": "STOP_CHARGING"}"#;
        assert_eq!(body.len(), 107);
        let payload = sha256_hex(body);
        assert_eq!(
            payload,
            "e721ac520a440664ffbeb9b1254bb8c45b46677a1f99fb355b855bb0f0d62406"
        );
        let headers = pairs(&[
            ("Content-Type", "application/json"),
            ("Host", "cvm.tencentcloudapi.com"),
        ]);
        let req = Tc3Request {
            method: "POST",
            canonical_query: "",
            headers: &headers,
            payload_sha256: &payload,
            timestamp: 1700000000,
            service: "cvm",
        };
        let (canonical, _) = tc3_canonical_request(&req);
        assert_eq!(
            canonical,
            "POST\n/\n\ncontent-type:application/json\nhost:cvm.tencentcloudapi.com\n\ncontent-type;host\ne721ac520a440664ffbeb9b1254bb8c45b46677a1f99fb355b855bb0f0d62406"
        );
        assert_eq!(
            tc3_string_to_sign(&req),
            "TC3-HMAC-SHA256\n1700000000\n2023-11-14/cvm/tc3_request\nba14089decddaaded3cfdafc21f0c3e95b3c0fa7f3e4e42b374e1531485e71e7"
        );
        assert_eq!(
            tc3_authorization(&req, ID, KEY),
            "TC3-HMAC-SHA256 Credential=AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE/2023-11-14/cvm/tc3_request, SignedHeaders=content-type;host, Signature=a1585a428776c5546c2b7939fdf75b8b96097fe88474f9d884861618738d0328"
        );
    }

    // docs/vendors/tencent.md, §4.3 (c): TAT CancelInvocation.
    #[test]
    fn tc3_reproduces_the_tat_cancel_invocation_example() {
        let body = br#"{"InvocationId": "inv-ib2lld37", "InstanceIds": ["ins-zcewfho0"]}"#;
        let payload = sha256_hex(body);
        assert_eq!(
            payload,
            "be5e0809f700b1f5b9c68099b6da0addae4f773476fd5b36ab2fb6b79ed923b9"
        );
        let headers = pairs(&[
            ("Content-Type", "application/json"),
            ("Host", "tat.tencentcloudapi.com"),
        ]);
        let req = Tc3Request {
            method: "POST",
            canonical_query: "",
            headers: &headers,
            payload_sha256: &payload,
            timestamp: 1700000000,
            service: "tat",
        };
        let (canonical, _) = tc3_canonical_request(&req);
        assert_eq!(
            sha256_hex(canonical.as_bytes()),
            "513a09f5b301fee1faf5c6ac382a503d9d771661fb67218b1df5454bdc7dccc8"
        );
        assert_eq!(
            tc3_signature(&req, KEY),
            "4800eb9214f1f7b85ddfea40e28c3b430c34a94068056c54eeabd2bd685b3fa7"
        );
    }

    // docs/vendors/tencent.md, §4.3 (d): a local endpoint signs the host with its port.
    #[test]
    fn tc3_signs_the_host_with_its_port() {
        let body = br#"{"InstanceIds": ["ins-r8hr2upy", "ins-5d8a23rs"], "StopType": "SOFT_FIRST", "StoppedMode": "STOP_CHARGING"}"#;
        let payload = sha256_hex(body);
        let headers = pairs(&[
            ("Content-Type", "application/json"),
            ("Host", "127.0.0.1:8080"),
        ]);
        let req = Tc3Request {
            method: "POST",
            canonical_query: "",
            headers: &headers,
            payload_sha256: &payload,
            timestamp: 1700000000,
            service: "cvm",
        };
        let (canonical, _) = tc3_canonical_request(&req);
        assert!(canonical.contains("host:127.0.0.1:8080\n"));
        assert_eq!(
            sha256_hex(canonical.as_bytes()),
            "423ba55423627cb10cc5aa128d3179cbc67a498fd0634ad8b57e011ca9558cf1"
        );
        assert_eq!(
            tc3_signature(&req, KEY),
            "d393d434f1438a8e4633bb653622647ef5cec972f9ba94fc5f4cdb58f6aa4aec"
        );
    }

    // docs/vendors/tencent.md, §4.4: the v1 doc example and the SDK's StopInstances in v1.
    #[test]
    fn v1_reproduces_the_doc_and_sdk_examples() {
        let doc = pairs(&[
            ("Action", "DescribeInstances"),
            ("InstanceIds.0", "ins-09dx96dg"),
            ("Limit", "20"),
            ("Nonce", "11886"),
            ("Offset", "0"),
            ("Region", "ap-guangzhou"),
            ("SecretId", ID),
            ("Timestamp", "1465185768"),
            ("Version", "2017-03-12"),
        ]);
        let sts = v1_string_to_sign("GET", "cvm.tencentcloudapi.com", &doc);
        assert_eq!(
            sts,
            "GETcvm.tencentcloudapi.com/?Action=DescribeInstances&InstanceIds.0=ins-09dx96dg&Limit=20&Nonce=11886&Offset=0&Region=ap-guangzhou&SecretId=AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE&Timestamp=1465185768&Version=2017-03-12"
        );
        assert_eq!(
            v1_signature(&sts, KEY, V1Method::HmacSha1),
            "EliP9YW3pW28FpsEdkXt/+WcGeI="
        );

        let sdk = pairs(&[
            ("Action", "StopInstances"),
            ("InstanceIds.0", "ins-r8hr2upy"),
            ("InstanceIds.1", "ins-5d8a23rs"),
            ("Language", "zh-CN"),
            ("Nonce", "11886"),
            ("Region", "ap-guangzhou"),
            ("RequestClient", "SDK_PYTHON_3.1.178"),
            ("SecretId", ID),
            ("SignatureMethod", "HmacSHA256"),
            ("StopType", "SOFT_FIRST"),
            ("StoppedMode", "STOP_CHARGING"),
            ("Timestamp", "1700000000"),
            ("Version", "2017-03-12"),
        ]);
        let sts = v1_string_to_sign("POST", "cvm.tencentcloudapi.com", &sdk);
        assert_eq!(
            sts,
            "POSTcvm.tencentcloudapi.com/?Action=StopInstances&InstanceIds.0=ins-r8hr2upy&InstanceIds.1=ins-5d8a23rs&Language=zh-CN&Nonce=11886&Region=ap-guangzhou&RequestClient=SDK_PYTHON_3.1.178&SecretId=AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE&SignatureMethod=HmacSHA256&StopType=SOFT_FIRST&StoppedMode=STOP_CHARGING&Timestamp=1700000000&Version=2017-03-12"
        );
        assert_eq!(
            v1_signature(&sts, KEY, V1Method::HmacSha256),
            "apY2Ib0bm1iuSNvzp0pMg2x1Wn/wMlrv68I1ZNFlUeM="
        );
    }

    #[test]
    fn authorization_header_round_trips_through_the_parser() {
        let parsed = parse_tc3_authorization(
            "TC3-HMAC-SHA256 Credential=AKID1/2023-11-14/cvm/tc3_request, SignedHeaders=content-type;host, Signature=abc",
        )
        .unwrap();
        assert_eq!(parsed.secret_id, "AKID1");
        assert_eq!(parsed.date, "2023-11-14");
        assert_eq!(parsed.service, "cvm");
        assert_eq!(parsed.signed_headers, vec!["content-type", "host"]);
        assert!(
            parse_tc3_authorization("TC3-HMAC-SHA256 Credential=AKID1/2023-11-14/cvm").is_none()
        );
    }
}
