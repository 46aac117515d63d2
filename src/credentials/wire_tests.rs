//! The sources against a scripted endpoint: what they send, and what they make of the answer.

use std::path::PathBuf;
use std::time::Duration;

use super::Source;
use super::alibaba_metadata::EcsRole;
use super::alibaba_sts::AlibabaSts;
use super::stub::serve;
use super::tencent_sts::TencentSts;
use crate::config::{InstanceRole, OidcRole, StsSettings};

fn alibaba_expiration() -> String {
    (time::OffsetDateTime::now_utc() + Duration::from_secs(3600))
        .format(time::macros::format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second]Z"
        ))
        .unwrap()
}

fn alibaba_sts_answer(id: &str) -> (u16, String) {
    (
        200,
        format!(
            r#"{{"RequestId":"R","Credentials":{{"SecurityToken":"tok-{id}","AccessKeyId":"{id}","AccessKeySecret":"sec-{id}","Expiration":"{}"}}}}"#,
            alibaba_expiration()
        ),
    )
}

fn token_file(name: &str, content: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("stopgate-wire-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("token");
    std::fs::write(&path, content).unwrap();
    path
}

fn oidc(role_arn: &str, provider: &str, token_file: PathBuf, endpoint: &str) -> OidcRole {
    OidcRole {
        role_arn: role_arn.into(),
        provider: provider.into(),
        token_file,
        session_name: "stopgate".into(),
        duration_seconds: Some(900),
        policy: None,
        sts: StsSettings {
            region: Some("ap-guangzhou".into()),
            vpc: false,
            endpoint: Some(endpoint.into()),
        },
    }
}

#[tokio::test]
async fn alibaba_oidc_is_anonymous_and_rereads_the_rotated_token() {
    let stub = serve(vec![
        alibaba_sts_answer("STS.one"),
        alibaba_sts_answer("STS.two"),
    ])
    .await;
    let path = token_file("ali", "first-token\n");
    let source = AlibabaSts::oidc(oidc(
        "acs:ram::1:role/r",
        "acs:ram::1:oidc-provider/p",
        path.clone(),
        &stub.url,
    ))
    .unwrap();
    let first = source.fetch().await.unwrap();
    assert_eq!(first.credentials.access_key_id.expose(), "STS.one");
    std::fs::write(&path, "rotated-token").unwrap();
    source.fetch().await.unwrap();
    let received = stub.received.lock().unwrap().clone();
    assert!(
        received[0]
            .line
            .starts_with("GET /?Action=AssumeRoleWithOIDC&"),
        "{}",
        received[0].line
    );
    assert!(
        received[0].line.contains("OIDCToken=first-token&"),
        "{}",
        received[0].line
    );
    assert!(
        received[1].line.contains("OIDCToken=rotated-token&"),
        "{}",
        received[1].line
    );
    assert!(
        !received[0].line.contains("Signature"),
        "{}",
        received[0].line
    );
}

#[tokio::test]
async fn an_alibaba_sts_error_names_the_code_and_never_the_token() {
    let stub = serve(vec![(
        401,
        r#"{"RequestId":"R-7","Code":"AuthenticationFail.OIDCToken.Invalid","Message":"bad token secret-jwt-value"}"#.into(),
    )])
    .await;
    let path = token_file("ali-error", "secret-jwt-value");
    let source = AlibabaSts::oidc(oidc(
        "acs:ram::1:role/r",
        "acs:ram::1:oidc-provider/p",
        path,
        &stub.url,
    ))
    .unwrap();
    let error = source.fetch().await.unwrap_err();
    assert!(
        error.contains("AuthenticationFail.OIDCToken.Invalid (HTTP 401)"),
        "{error}"
    );
    assert!(!error.contains("secret-jwt-value"), "{error}");
}

#[tokio::test]
async fn tencent_web_identity_is_sent_with_authorization_skip() {
    let expired = time::OffsetDateTime::now_utc().unix_timestamp() + 3600;
    let stub = serve(vec![(
        200,
        format!(r#"{{"Response":{{"Credentials":{{"Token":"t","TmpSecretId":"AKIDtmp","TmpSecretKey":"k"}},"ExpiredTime":{expired},"RequestId":"r"}}}}"#),
    )])
    .await;
    let path = token_file("tc", "tke-token");
    let source =
        TencentSts::web_identity(oidc("qcs::cam::uin/1:roleName/r", "cls-1", path, &stub.url))
            .unwrap();
    let fetched = source.fetch().await.unwrap();
    assert_eq!(fetched.credentials.access_key_id.expose(), "AKIDtmp");
    let request = stub.received.lock().unwrap()[0].clone();
    assert_eq!(request.header("authorization"), Some("SKIP"));
    assert_eq!(
        request.header("x-tc-action"),
        Some("AssumeRoleWithWebIdentity")
    );
    assert_eq!(request.header("x-tc-region"), Some("ap-guangzhou"));
    let body: serde_json::Value = serde_json::from_str(&request.body).unwrap();
    assert_eq!(body["WebIdentityToken"], "tke-token");
    assert_eq!(body["ProviderId"], "cls-1");
    assert_eq!(body["DurationSeconds"], 900);
}

fn ecs_answer() -> (u16, String) {
    (
        200,
        format!(
            r#"{{"AccessKeyId":"STS.ECS","AccessKeySecret":"s","Expiration":"{}","SecurityToken":"t","LastUpdated":"x","Code":"Success"}}"#,
            alibaba_expiration()
        ),
    )
}

#[tokio::test]
async fn ecs_metadata_asks_for_a_session_token_then_the_role_then_its_credentials() {
    let stub = serve(vec![
        (200, "imds-token".into()),
        (200, "my-role".into()),
        ecs_answer(),
    ])
    .await;
    let source = EcsRole::new(InstanceRole {
        role_name: None,
        metadata_endpoint: Some(stub.url.clone()),
        imds_v1: true,
    })
    .unwrap();
    assert_eq!(
        source
            .fetch()
            .await
            .unwrap()
            .credentials
            .access_key_id
            .expose(),
        "STS.ECS"
    );
    let received = stub.received.lock().unwrap().clone();
    assert!(received[0].line.starts_with("PUT /latest/api/token "));
    assert_eq!(
        received[0].header("x-aliyun-ecs-metadata-token-ttl-seconds"),
        Some("21600")
    );
    assert!(
        received[1]
            .line
            .starts_with("GET /latest/meta-data/ram/security-credentials/ ")
    );
    assert!(
        received[2]
            .line
            .starts_with("GET /latest/meta-data/ram/security-credentials/my-role ")
    );
    assert_eq!(
        received[2].header("x-aliyun-ecs-metadata-token"),
        Some("imds-token")
    );
}

#[tokio::test]
async fn ecs_metadata_falls_back_to_imdsv1_unless_it_is_turned_off() {
    let stub = serve(vec![(404, String::new()), ecs_answer()]).await;
    let role = InstanceRole {
        role_name: Some("my-role".into()),
        metadata_endpoint: Some(stub.url.clone()),
        imds_v1: true,
    };
    EcsRole::new(role.clone()).unwrap().fetch().await.unwrap();
    let received = stub.received.lock().unwrap().clone();
    assert_eq!(received[1].header("x-aliyun-ecs-metadata-token"), None);

    let stub = serve(vec![(404, String::new())]).await;
    let strict = InstanceRole {
        metadata_endpoint: Some(stub.url.clone()),
        imds_v1: false,
        ..role
    };
    let error = EcsRole::new(strict).unwrap().fetch().await.unwrap_err();
    assert!(error.contains("IMDSv1 is turned off"), "{error}");
}

fn signer(id: &str, secret: &str) -> std::sync::Arc<super::Credential> {
    std::sync::Arc::new(super::Credential::fixed(
        crate::model::Provider::Alibaba,
        crate::config::Credentials {
            access_key_id: crate::config::Secret::new(id),
            secret: crate::config::Secret::new(secret),
            token: None,
        },
    ))
}

fn assume_role(role_arn: &str, endpoint: &str) -> crate::config::AssumeRole {
    crate::config::AssumeRole {
        role_arn: role_arn.into(),
        session_name: "stopgate".into(),
        duration_seconds: None,
        policy: Some(r#"{"Version": "1"}"#.into()),
        external_id: Some("ext-1".into()),
        source: Box::new(crate::config::CredentialSource::Static(
            crate::config::Credentials {
                access_key_id: crate::config::Secret::new("unused"),
                secret: crate::config::Secret::new("unused"),
                token: None,
            },
        )),
        sts: StsSettings {
            region: None,
            vpc: false,
            endpoint: Some(endpoint.into()),
        },
    }
}

#[tokio::test]
async fn alibaba_assume_role_is_signed_with_the_source_keys() {
    use stopgate_vendor::alibaba::sign;
    let stub = serve(vec![alibaba_sts_answer("STS.assumed")]).await;
    let source = AlibabaSts::assume_role(
        assume_role("acs:ram::1:role/r", &stub.url),
        signer("LTAIsource", "source-secret"),
    )
    .unwrap();
    source.fetch().await.unwrap();
    let request = stub.received.lock().unwrap()[0].clone();
    let path = request.line.split(' ').nth(1).unwrap();
    let url = reqwest::Url::parse(&format!("http://x{path}")).unwrap();
    let mut params: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    let at = params.iter().position(|(k, _)| k == "Signature").unwrap();
    let (_, signature) = params.remove(at);
    let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    assert_eq!(get("Action").as_deref(), Some("AssumeRole"));
    assert_eq!(get("ExternalId").as_deref(), Some("ext-1"));
    assert_eq!(get("DurationSeconds").as_deref(), Some("3600"));
    assert_eq!(get("AccessKeyId").as_deref(), Some("LTAIsource"));
    let expected = sign::rpc_signature(&sign::rpc_string_to_sign("GET", &params), "source-secret");
    assert_eq!(signature, expected);
}

#[tokio::test]
async fn tencent_assume_role_is_signed_with_tc3_for_sts() {
    use sha2::Digest;
    use stopgate_vendor::tencent::sign;
    let expired = time::OffsetDateTime::now_utc().unix_timestamp() + 7200;
    let stub = serve(vec![(
        200,
        format!(r#"{{"Response":{{"Credentials":{{"Token":"t","TmpSecretId":"AKIDtmp","TmpSecretKey":"k"}},"ExpiredTime":{expired},"RequestId":"r"}}}}"#),
    )])
    .await;
    let role = assume_role("qcs::cam::uin/1:roleName/r", &stub.url);
    let source = TencentSts::assume_role(role, signer("AKIDsource", "source-key")).unwrap();
    source.fetch().await.unwrap();
    let request = stub.received.lock().unwrap()[0].clone();
    let authorization = request.header("authorization").unwrap();
    assert!(
        authorization.starts_with("TC3-HMAC-SHA256 Credential=AKIDsource/"),
        "{authorization}"
    );
    assert!(
        authorization.contains("/sts/tc3_request"),
        "{authorization}"
    );
    let headers = vec![
        (
            "content-type".to_string(),
            request.header("content-type").unwrap().to_string(),
        ),
        (
            "host".to_string(),
            request.header("host").unwrap().to_string(),
        ),
    ];
    let payload = hex::encode(sha2::Sha256::digest(request.body.as_bytes()));
    let signed = sign::Tc3Request {
        method: "POST",
        canonical_query: "",
        headers: &headers,
        payload_sha256: &payload,
        timestamp: request.header("x-tc-timestamp").unwrap().parse().unwrap(),
        service: "sts",
    };
    assert_eq!(
        authorization,
        sign::tc3_authorization(&signed, "AKIDsource", "source-key")
    );
    assert_eq!(request.header("x-tc-region"), Some("ap-guangzhou"));
    let body: serde_json::Value = serde_json::from_str(&request.body).unwrap();
    assert_eq!(body["DurationSeconds"], 7200);
    assert_eq!(body["ExternalId"], "ext-1");
    assert_eq!(body["Policy"], "%7B%22Version%22%3A%20%221%22%7D");
}

#[tokio::test]
async fn a_provider_is_usable_once_its_instance_role_answers() {
    let expired = time::OffsetDateTime::now_utc().unix_timestamp() + 3600;
    let cvm = serve(vec![
        (200, "stopgate-role".into()),
        (
            200,
            format!(r#"{{"TmpSecretId":"AKIDcvm","TmpSecretKey":"k","ExpiredTime":{expired},"Expiration":"2026-11-30T10:00:00Z","Token":"t","Code":"Success"}}"#),
        ),
    ])
    .await;
    let ecs = serve(vec![]).await;
    let config: crate::config::Config = toml::from_str(&format!(
        "[accounts.vm.tencent]\nsource = \"instance_role\"\nmetadata_endpoint = \"{}\"\n[accounts.vm.alibaba]\nsource = \"instance_role\"\nmetadata_endpoint = \"{}\"",
        cvm.url, ecs.url
    ))
    .unwrap();
    config.validate().unwrap();
    let store = super::CredentialStore::build(&config, None, &|_| None).unwrap();
    assert!(!store.usable(crate::model::Provider::Tencent));
    store.refresh_due().await;
    assert!(store.usable(crate::model::Provider::Tencent));
    assert!(!store.usable(crate::model::Provider::Alibaba));
    let received = cvm.received.lock().unwrap().clone();
    assert!(
        received[1]
            .line
            .starts_with("GET /latest/meta-data/cam/security-credentials/stopgate-role ")
    );
    let error = store
        .get("vm", crate::model::Provider::Alibaba)
        .unwrap()
        .current()
        .await
        .unwrap_err();
    assert!(error.source.contains("ECS RAM role"), "{error}");
}
