//! Alibaba Cloud request signatures: ACS3-HMAC-SHA256 ("V3", what the gateway sends) and the
//! legacy RPC HMAC-SHA1 ("V2", which older official SDKs still send and the simulator accepts).
//!
//! One implementation serves both directions: the gateway's client builds the canonical form of
//! what it is about to send, the simulator rebuilds it from what it received. Rules and worked
//! examples: `docs/vendors/alibaba.md` §3.

use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;
use sha2::{Digest, Sha256};

/// The algorithm name in the `Authorization` header and the string to sign.
pub const ACS3_ALGORITHM: &str = "ACS3-HMAC-SHA256";

/// SHA-256 of an empty body, the value of `x-acs-content-sha256` for RPC calls.
pub const EMPTY_PAYLOAD_SHA256: &str =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// RFC 3986 encoding as Alibaba signs it: `A-Z a-z 0-9 - _ . ~` stay, everything else is `%XY`
/// with uppercase hex, one per UTF-8 byte (space is `%20`, `*` is `%2A`; docs/vendors/alibaba.md, §3.1 step 3).
pub fn percent_encode(value: &str) -> String {
    percent_encoding::utf8_percent_encode(value, UNRESERVED).to_string()
}

/// Every byte but RFC 3986's unreserved characters is encoded.
const UNRESERVED: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Lowercase hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Parameters as a query string or form body: percent-encoded `name=value` pairs joined by
/// `&`, in the order given.
pub fn encode_pairs<'a>(params: impl IntoIterator<Item = &'a (String, String)>) -> String {
    params
        .into_iter()
        .map(|(k, v)| format!("{}={}", percent_encode(k), percent_encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

// === V2: RPC HMAC-SHA1 ===

/// The V2 string to sign: `METHOD&%2F&` + encode(sorted, encoded `name=value` pairs joined by `&`).
/// `params` are the decoded parameters, `Signature` excluded, empty values included
/// (aliyun-python-sdk-core signs `SignatureType=`).
pub fn rpc_string_to_sign(method: &str, params: &[(String, String)]) -> String {
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    let canonical = encode_pairs(sorted);
    format!(
        "{}&%2F&{}",
        method.to_ascii_uppercase(),
        percent_encode(&canonical)
    )
}

/// Signs `params` (the decoded parameters of a V2 call sent with `method`) by appending
/// their `Signature`.
pub fn sign_rpc(method: &str, params: &mut Vec<(String, String)>, secret: &str) {
    let signature = rpc_signature(&rpc_string_to_sign(method, params), secret);
    params.push(("Signature".to_string(), signature));
}

/// Base64 HMAC-SHA1 of the string to sign, keyed with `secret + "&"`.
pub fn rpc_signature(string_to_sign: &str, secret: &str) -> String {
    let mut mac = Hmac::<Sha1>::new_from_slice(format!("{secret}&").as_bytes())
        .expect("HMAC accepts any key length");
    mac.update(string_to_sign.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

// === V3: ACS3-HMAC-SHA256 ===

/// What V3 signs about a request.
#[derive(Debug, Clone)]
pub struct Acs3Request<'a> {
    /// HTTP method, uppercase.
    pub method: &'a str,
    /// Request path; empty means `/`.
    pub path: &'a str,
    /// Decoded query parameters, any order.
    pub query: &'a [(String, String)],
    /// The headers to sign (any case, any order; duplicates are merged).
    pub headers: &'a [(String, String)],
    /// Lowercase hex SHA-256 of the body (`x-acs-content-sha256`).
    pub payload_sha256: &'a str,
}

/// Returns `(canonical_request, signed_headers)` (docs/vendors/alibaba.md, §3.2 steps 1–6). Query keys are not
/// encoded, values are RFC 3986-encoded, as the Tea SDK's `get_canonical_query_string` does.
pub fn acs3_canonical_request(req: &Acs3Request<'_>) -> (String, String) {
    let mut query: Vec<&(String, String)> = req.query.iter().collect();
    query.sort_by(|a, b| a.0.cmp(&b.0));
    let canonical_query = query
        .iter()
        .map(|(k, v)| format!("{k}={}", percent_encode(v)))
        .collect::<Vec<_>>()
        .join("&");

    let mut headers: Vec<(String, Vec<String>)> = Vec::new();
    for (name, value) in req.headers {
        let name = name.to_ascii_lowercase();
        let value = value.trim().to_string();
        match headers.iter_mut().find(|(n, _)| *n == name) {
            Some((_, values)) => values.push(value),
            None => headers.push((name, vec![value])),
        }
    }
    headers.sort_by(|a, b| a.0.cmp(&b.0));
    let mut canonical_headers = String::new();
    for (name, values) in &mut headers {
        values.sort();
        canonical_headers.push_str(&format!("{name}:{}\n", values.join(",")));
    }
    let signed_headers = headers
        .iter()
        .map(|(n, _)| n.as_str())
        .collect::<Vec<_>>()
        .join(";");

    let path = if req.path.is_empty() { "/" } else { req.path };
    let canonical = format!(
        "{}\n{path}\n{canonical_query}\n{canonical_headers}\n{signed_headers}\n{}",
        req.method, req.payload_sha256
    );
    (canonical, signed_headers)
}

/// Lowercase hex signature of a V3 request.
pub fn acs3_signature(req: &Acs3Request<'_>, secret: &str) -> String {
    let (canonical, _) = acs3_canonical_request(req);
    let string_to_sign = format!("{ACS3_ALGORITHM}\n{}", sha256_hex(canonical.as_bytes()));
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(string_to_sign.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// The full `Authorization` header value for a V3 request.
pub fn acs3_authorization(req: &Acs3Request<'_>, access_key_id: &str, secret: &str) -> String {
    let (_, signed_headers) = acs3_canonical_request(req);
    format!(
        "{ACS3_ALGORITHM} Credential={access_key_id},SignedHeaders={signed_headers},Signature={}",
        acs3_signature(req, secret)
    )
}

/// A parsed V3 `Authorization` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Acs3Authorization {
    /// The access key id from `Credential=`.
    pub access_key_id: String,
    /// Lowercase header names from `SignedHeaders=`, in the order given.
    pub signed_headers: Vec<String>,
    /// The hex signature.
    pub signature: String,
}

/// Parses `ACS3-HMAC-SHA256 Credential=…,SignedHeaders=…,Signature=…`; `None` when malformed.
pub fn parse_acs3_authorization(header: &str) -> Option<Acs3Authorization> {
    let rest = header.strip_prefix(ACS3_ALGORITHM)?.trim_start();
    let (mut credential, mut signed, mut signature) = (None, None, None);
    for part in rest.split(',') {
        let (key, value) = part.trim().split_once('=')?;
        match key {
            "Credential" => credential = Some(value.to_string()),
            "SignedHeaders" => signed = Some(value.to_string()),
            "Signature" => signature = Some(value.to_string()),
            _ => {}
        }
    }
    let signed_headers: Vec<String> = signed?
        .split(';')
        .filter(|h| !h.is_empty())
        .map(|h| h.to_ascii_lowercase())
        .collect();
    Some(Acs3Authorization {
        access_key_id: credential.filter(|c| !c.is_empty())?,
        signed_headers,
        signature: signature.filter(|s| !s.is_empty())?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn percent_encoding_follows_rfc3986_with_uppercase_hex() {
        assert_eq!(
            percent_encode("a b*c~d/e+f:g'(h)!"),
            "a%20b%2Ac~d%2Fe%2Bf%3Ag%27%28h%29%21"
        );
        assert_eq!(percent_encode("中"), "%E4%B8%AD");
        assert_eq!(percent_encode("A-z_0.9~"), "A-z_0.9~");
    }

    // docs/vendors/alibaba.md, §3.1 A1: the official doc vector.
    #[test]
    fn v2_reproduces_the_official_doc_vector_a1() {
        let params = pairs(&[
            ("AccessKeyId", "testid"),
            ("Action", "DescribeRegions"),
            ("Format", "XML"),
            ("SignatureMethod", "HMAC-SHA1"),
            ("SignatureNonce", "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf"),
            ("SignatureVersion", "1.0"),
            ("Timestamp", "2016-02-23T12:46:24Z"),
            ("Version", "2014-05-26"),
        ]);
        let sts = rpc_string_to_sign("GET", &params);
        assert_eq!(
            sts,
            "GET&%2F&AccessKeyId%3Dtestid%26Action%3DDescribeRegions%26Format%3DXML%26SignatureMethod%3DHMAC-SHA1%26SignatureNonce%3D3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf%26SignatureVersion%3D1.0%26Timestamp%3D2016-02-23T12%253A46%253A24Z%26Version%3D2014-05-26"
        );
        assert_eq!(
            rpc_signature(&sts, "testsecret"),
            "OLeaidS1JvxuMvnyHOwuJ+uX5qY="
        );
    }

    // docs/vendors/alibaba.md, §3.1 A2.
    #[test]
    fn v2_reproduces_vector_a2() {
        let params = pairs(&[
            ("Action", "DescribeDedicatedHosts"),
            ("Format", "JSON"),
            ("RegionId", "cn-beijing"),
            ("SignatureMethod", "HMAC-SHA1"),
            ("SignatureNonce", "edb2b34af0af9a6d14deaf7c1a5315eb"),
            ("SignatureVersion", "1.0"),
            ("Timestamp", "2023-03-13T08:34:30Z"),
            ("Version", "2014-05-26"),
            ("AccessKeyId", "testid"),
        ]);
        let sts = rpc_string_to_sign("GET", &params);
        assert_eq!(
            rpc_signature(&sts, "testsecret"),
            "9NaGiOspFP5UPcwX8Iwt2YJXXuk="
        );
    }

    fn a3_params() -> Vec<(String, String)> {
        pairs(&[
            ("AccessKeyId", "testid"),
            ("Action", "StopInstances"),
            ("BatchOptimization", "SuccessFirst"),
            ("Format", "JSON"),
            ("ForceStop", "true"),
            ("InstanceId.1", "i-bp1aaaaaaaaaaaaaaaaa"),
            ("InstanceId.2", "i-bp1bbbbbbbbbbbbbbbbb"),
            ("RegionId", "cn-hangzhou"),
            ("SignatureMethod", "HMAC-SHA1"),
            ("SignatureNonce", "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf"),
            ("SignatureVersion", "1.0"),
            ("StoppedMode", "StopCharging"),
            ("Timestamp", "2024-01-01T12:00:00Z"),
            ("Version", "2014-05-26"),
        ])
    }

    // docs/vendors/alibaba.md, §3.1 A3: StopInstances over POST and GET, and with the core SDK's SignatureType=.
    #[test]
    fn v2_reproduces_vector_a3_stop_instances() {
        let params = a3_params();
        let sts = rpc_string_to_sign("POST", &params);
        assert_eq!(
            sts,
            "POST&%2F&AccessKeyId%3Dtestid%26Action%3DStopInstances%26BatchOptimization%3DSuccessFirst%26ForceStop%3Dtrue%26Format%3DJSON%26InstanceId.1%3Di-bp1aaaaaaaaaaaaaaaaa%26InstanceId.2%3Di-bp1bbbbbbbbbbbbbbbbb%26RegionId%3Dcn-hangzhou%26SignatureMethod%3DHMAC-SHA1%26SignatureNonce%3D3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf%26SignatureVersion%3D1.0%26StoppedMode%3DStopCharging%26Timestamp%3D2024-01-01T12%253A00%253A00Z%26Version%3D2014-05-26"
        );
        assert_eq!(
            rpc_signature(&sts, "testsecret"),
            "DbsAcDZHrc0XoWc8YZ6vnlbevfA="
        );
        let get = rpc_string_to_sign("GET", &params);
        assert_eq!(
            rpc_signature(&get, "testsecret"),
            "q53AomQqq9LXW1lsM0ZoiRtcI9o="
        );

        let mut with_type = params.clone();
        with_type.push(("SignatureType".into(), String::new()));
        let sts = rpc_string_to_sign("POST", &with_type);
        assert_eq!(
            rpc_signature(&sts, "testsecret"),
            "Aoxn58F7d2FEgDbjd9F0IlPiCp0="
        );
    }

    // docs/vendors/alibaba.md, §3.1 A3, last paragraph: what the Tea client itself sends in V2 mode.
    #[test]
    fn v2_reproduces_the_tea_client_wire_signature() {
        let mut params = a3_params();
        for (k, v) in &mut params {
            match k.as_str() {
                "Format" => *v = "json".into(),
                "ForceStop" => *v = "True".into(),
                _ => {}
            }
        }
        let sts = rpc_string_to_sign("POST", &params);
        assert_eq!(
            rpc_signature(&sts, "testsecret"),
            "8KTiMVtYPltURI5sZ7G5D1r10r0="
        );
    }

    // docs/vendors/alibaba.md, §3.1 A4: encoding edge cases inside a value.
    #[test]
    fn v2_reproduces_vector_a4_encoding_edge_cases() {
        let params = pairs(&[
            ("Action", "DescribeInstances"),
            ("Format", "JSON"),
            ("RegionId", "cn-hangzhou"),
            ("SignatureMethod", "HMAC-SHA1"),
            ("SignatureNonce", "n1"),
            ("SignatureVersion", "1.0"),
            ("Timestamp", "2024-01-01T12:00:00Z"),
            ("Version", "2014-05-26"),
            ("AccessKeyId", "testid"),
            ("InstanceName", "a b*c~d/e+f:g'(h)!中"),
        ]);
        let sts = rpc_string_to_sign("GET", &params);
        assert!(sts.contains(
            "InstanceName%3Da%2520b%252Ac~d%252Fe%252Bf%253Ag%2527%2528h%2529%2521%25E4%25B8%25AD"
        ));
        assert_eq!(
            rpc_signature(&sts, "testsecret"),
            "Ek6CD+cfWGQBAtskxHhWp20YW+s="
        );
    }

    fn b1_headers(date: &str, nonce: &str) -> Vec<(String, String)> {
        pairs(&[
            ("host", "ecs.cn-shanghai.aliyuncs.com"),
            ("x-acs-action", "RunInstances"),
            ("x-acs-version", "2014-05-26"),
            ("x-acs-date", date),
            ("x-acs-signature-nonce", nonce),
            ("x-acs-content-sha256", EMPTY_PAYLOAD_SHA256),
        ])
    }

    // docs/vendors/alibaba.md, §3.2 B1: the official V3 doc vector.
    #[test]
    fn v3_reproduces_the_official_doc_vector_b1() {
        let query = pairs(&[
            (
                "ImageId",
                "win2019_1809_x64_dtc_zh-cn_40G_alibase_20230811.vhd",
            ),
            ("RegionId", "cn-shanghai"),
        ]);
        let headers = b1_headers("2023-10-26T10:22:32Z", "3156853299f313e23d1673dc12e1703d");
        let req = Acs3Request {
            method: "POST",
            path: "/",
            query: &query,
            headers: &headers,
            payload_sha256: EMPTY_PAYLOAD_SHA256,
        };
        let (canonical, _) = acs3_canonical_request(&req);
        assert_eq!(
            sha256_hex(canonical.as_bytes()),
            "7ea06492da5221eba5297e897ce16e55f964061054b7695beedaac1145b1e259"
        );
        assert_eq!(
            acs3_authorization(&req, "YourAccessKeyId", "YourAccessKeySecret"),
            "ACS3-HMAC-SHA256 Credential=YourAccessKeyId,SignedHeaders=host;x-acs-action;x-acs-content-sha256;x-acs-date;x-acs-signature-nonce;x-acs-version,Signature=06563a9e1b43f5dfe96b81484da74bceab24a1d853912eee15083a6f0f3283c0"
        );
    }

    // docs/vendors/alibaba.md, §3.2 B2.
    #[test]
    fn v3_reproduces_vector_b2() {
        let query = pairs(&[
            (
                "ImageId",
                "win2019_1809_x64_dtc_zh-cn_40G_alibase_20230811.vhd",
            ),
            ("RegionId", "cn-shanghai"),
        ]);
        let headers = b1_headers("2023-10-26T09:01:01Z", "d410180a5abf7fe235dd9b74aca91fc0");
        let req = Acs3Request {
            method: "POST",
            path: "/",
            query: &query,
            headers: &headers,
            payload_sha256: EMPTY_PAYLOAD_SHA256,
        };
        assert_eq!(
            acs3_signature(&req, "YourAccessKeySecret"),
            "e521358f7776c97df52e6b2891a8bc73026794a071b50c3323388c4e0df64804"
        );
    }

    fn b3_query() -> Vec<(String, String)> {
        pairs(&[
            ("BatchOptimization", "SuccessFirst"),
            ("ForceStop", "true"),
            ("InstanceId.1", "i-bp1aaaaaaaaaaaaaaaaa"),
            ("InstanceId.2", "i-bp1bbbbbbbbbbbbbbbbb"),
            ("RegionId", "cn-hangzhou"),
            ("StoppedMode", "StopCharging"),
        ])
    }

    fn b3_headers() -> Vec<(String, String)> {
        pairs(&[
            ("host", "ecs.cn-hangzhou.aliyuncs.com"),
            ("x-acs-action", "StopInstances"),
            ("x-acs-version", "2014-05-26"),
            ("x-acs-date", "2024-01-01T12:00:00Z"),
            ("x-acs-signature-nonce", "d410180a5abf7fe235dd9b74aca91fc0"),
            ("x-acs-content-sha256", EMPTY_PAYLOAD_SHA256),
        ])
    }

    // docs/vendors/alibaba.md, §3.2 B3: StopInstances, with and without STS.
    #[test]
    fn v3_reproduces_vector_b3_stop_instances() {
        let (query, headers) = (b3_query(), b3_headers());
        let req = Acs3Request {
            method: "POST",
            path: "/",
            query: &query,
            headers: &headers,
            payload_sha256: EMPTY_PAYLOAD_SHA256,
        };
        let (canonical, _) = acs3_canonical_request(&req);
        assert_eq!(
            canonical,
            "POST\n/\nBatchOptimization=SuccessFirst&ForceStop=true&InstanceId.1=i-bp1aaaaaaaaaaaaaaaaa&InstanceId.2=i-bp1bbbbbbbbbbbbbbbbb&RegionId=cn-hangzhou&StoppedMode=StopCharging\nhost:ecs.cn-hangzhou.aliyuncs.com\nx-acs-action:StopInstances\nx-acs-content-sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\nx-acs-date:2024-01-01T12:00:00Z\nx-acs-signature-nonce:d410180a5abf7fe235dd9b74aca91fc0\nx-acs-version:2014-05-26\n\nhost;x-acs-action;x-acs-content-sha256;x-acs-date;x-acs-signature-nonce;x-acs-version\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            sha256_hex(canonical.as_bytes()),
            "0f9d2eb3762ebc45c349d764264bc4322e1b4080304cdc12b542ead42ac5c328"
        );
        assert_eq!(
            acs3_authorization(&req, "testid", "testsecret"),
            "ACS3-HMAC-SHA256 Credential=testid,SignedHeaders=host;x-acs-action;x-acs-content-sha256;x-acs-date;x-acs-signature-nonce;x-acs-version,Signature=6265009ad479ad84db99d4d3355523c008c8294ddd749358d8baf906fe825eb5"
        );

        let mut sts_headers = headers.clone();
        sts_headers.push(("x-acs-accesskey-id".into(), "STS.testid".into()));
        sts_headers.push(("x-acs-security-token".into(), "sts-token-value".into()));
        let sts_req = Acs3Request {
            headers: &sts_headers,
            ..req
        };
        let (_, signed) = acs3_canonical_request(&sts_req);
        assert_eq!(
            signed,
            "host;x-acs-accesskey-id;x-acs-action;x-acs-content-sha256;x-acs-date;x-acs-security-token;x-acs-signature-nonce;x-acs-version"
        );
        assert_eq!(
            acs3_signature(&sts_req, "testsecret"),
            "4ab94697feb715fa3f37582a8efe5f9a63feb70e18d9e4152b6c7c05af27d427"
        );
    }

    #[test]
    fn authorization_header_round_trips_through_the_parser() {
        let parsed = parse_acs3_authorization(
            "ACS3-HMAC-SHA256 Credential=testid,SignedHeaders=host;x-acs-date,Signature=abc",
        )
        .unwrap();
        assert_eq!(parsed.access_key_id, "testid");
        assert_eq!(parsed.signed_headers, vec!["host", "x-acs-date"]);
        assert_eq!(parsed.signature, "abc");
        assert!(parse_acs3_authorization("TC3-HMAC-SHA256 Credential=x").is_none());
        assert!(parse_acs3_authorization("ACS3-HMAC-SHA256 Credential=,Signature=").is_none());
    }
}
