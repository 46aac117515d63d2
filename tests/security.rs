//! TLS, mutual TLS and bearer-token callers, with certificates generated at test time.

mod common;

use std::path::PathBuf;

use common::*;
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use stopgate::api::pb;
use stopgate::api::pb::instance_service_client::InstanceServiceClient;
use stopgate::config::{CallerToken, Secret, TlsSettings};
use tonic::Code;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Identity};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;

/// A CA and the PEM of certificates it signs.
struct Pki {
    dir: PathBuf,
    ca_pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl Pki {
    fn new(name: &str) -> Pki {
        let dir = std::env::temp_dir().join(format!("stopgate-pki-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca_pem = params.self_signed(&key).unwrap().pem();
        Pki {
            dir,
            ca_pem,
            issuer: Issuer::new(params, key),
        }
    }

    /// (certificate PEM, key PEM) for `name`.
    fn issue(&self, name: &str) -> (String, String) {
        let key = KeyPair::generate().unwrap();
        let cert = CertificateParams::new(vec![name.to_string()])
            .unwrap()
            .signed_by(&key, &self.issuer)
            .unwrap();
        (cert.pem(), key.serialize_pem())
    }

    fn write(&self, file: &str, pem: &str) -> PathBuf {
        let path = self.dir.join(file);
        std::fs::write(&path, pem).unwrap();
        path
    }
}

fn server_tls(pki: &Pki, client_ca: Option<&Pki>) -> TlsSettings {
    let (cert, key) = pki.issue("localhost");
    TlsSettings {
        cert: pki.write("server.pem", &cert),
        key: pki.write("server.key", &key),
        client_ca: client_ca.map(|ca| ca.write("client-ca.pem", &ca.ca_pem)),
    }
}

async fn tls_channel(
    h: &Harness,
    trust: &Pki,
    identity: Option<(String, String)>,
) -> Result<Channel, tonic::transport::Error> {
    let mut tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(&trust.ca_pem))
        .domain_name("localhost");
    if let Some((cert, key)) = identity {
        tls = tls.identity(Identity::from_pem(cert, key));
    }
    Channel::from_shared(format!("https://localhost:{}", h.gateway.port()))
        .unwrap()
        .tls_config(tls)?
        .connect()
        .await
}

async fn health(channel: Channel) -> Result<i32, tonic::Status> {
    let reply = HealthClient::new(channel)
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await?;
    Ok(reply.into_inner().status)
}

#[tokio::test]
async fn tls_serves_clients_that_trust_the_ca_and_refuses_plaintext() {
    let pki = Pki::new("tls");
    let tls = server_tls(&pki, None);
    let h = Harness::start_with(move |c| c.tls = Some(tls)).await;
    let channel = tls_channel(&h, &pki, None)
        .await
        .expect("a TLS client connects");
    assert_eq!(health(channel.clone()).await.unwrap(), 1);
    let ids = TENCENT.ids(0..1);
    h.seed_running(TENCENT, &ids).await;
    let mut client = InstanceServiceClient::new(channel);
    let mut stream = client
        .stop_instances(TENCENT.request(&ids))
        .await
        .unwrap()
        .into_inner();
    assert!(stream.message().await.unwrap().is_some());
    assert!(
        health(h.channel.clone()).await.is_err(),
        "plaintext h2c is refused on a TLS listener"
    );
}

#[tokio::test]
async fn mutual_tls_requires_a_client_certificate_from_the_configured_ca() {
    let (server_pki, client_pki, stranger_pki) =
        (Pki::new("srv"), Pki::new("cli"), Pki::new("other"));
    let tls = server_tls(&server_pki, Some(&client_pki));
    let h = Harness::start_with(move |c| c.tls = Some(tls)).await;
    let good = tls_channel(&h, &server_pki, Some(client_pki.issue("client-a")))
        .await
        .expect("a client with a good certificate");
    assert_eq!(health(good).await.unwrap(), 1);
    let anonymous = match tls_channel(&h, &server_pki, None).await {
        Ok(channel) => health(channel).await.is_err(),
        Err(_) => true,
    };
    assert!(anonymous, "no client certificate: refused");
    let stranger = match tls_channel(&h, &server_pki, Some(stranger_pki.issue("client-b"))).await {
        Ok(channel) => health(channel).await.is_err(),
        Err(_) => true,
    };
    assert!(stranger, "a certificate from another CA: refused");
}

fn callers(c: &mut stopgate::config::Config) {
    c.accounts
        .insert("prod".to_string(), c.accounts["default"].clone());
    c.callers = vec![
        CallerToken {
            name: "ops".into(),
            token: Secret::new("ops-token-0123456789abcdef"),
            accounts: vec!["default".into()],
        },
        CallerToken {
            name: "admin".into(),
            token: Secret::new("admin-token-0123456789abcdef"),
            accounts: vec!["*".into()],
        },
    ];
}

fn with_token<T>(message: T, token: Option<&str>) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    if let Some(token) = token {
        request
            .metadata_mut()
            .insert("authorization", format!("Bearer {token}").parse().unwrap());
    }
    request
}

#[tokio::test]
async fn bearer_tokens_authenticate_callers_and_limit_their_accounts() {
    let h = Harness::start_with(callers).await;
    let ids = ALIBABA.ids(0..1);
    h.seed_running(ALIBABA, &ids).await;
    let request = |account: &str| pb::StopInstancesRequest {
        account: account.to_string(),
        dry_run: true,
        ..ALIBABA.request(&ids)
    };

    let missing = h
        .stop_with(with_token(request("default"), None))
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Code::Unauthenticated);
    assert!(
        missing.message().contains("authorization: Bearer"),
        "{}",
        missing.message()
    );
    let wrong = h
        .stop_with(with_token(
            request("default"),
            Some("not-a-real-token-000000"),
        ))
        .await
        .unwrap_err();
    assert_eq!(wrong.code(), Code::Unauthenticated);
    let forbidden = h
        .stop_with(with_token(
            request("prod"),
            Some("ops-token-0123456789abcdef"),
        ))
        .await
        .unwrap_err();
    assert_eq!(forbidden.code(), Code::PermissionDenied);
    assert!(
        forbidden.message().contains("prod"),
        "{}",
        forbidden.message()
    );
    // An empty account means "default", which ops was given.
    let ok = h
        .stop_with(with_token(request(""), Some("ops-token-0123456789abcdef")))
        .await
        .unwrap();
    assert_eq!(ok.outcome(&ids[0]), pb::InstanceOutcome::DryRunPassed);
    let ok = h
        .stop_with(with_token(
            request("prod"),
            Some("admin-token-0123456789abcdef"),
        ))
        .await
        .unwrap();
    assert_eq!(ok.outcome(&ids[0]), pb::InstanceOutcome::DryRunPassed);
    // Refused calls never reached a vendor: only the two allowed dry runs did.
    assert_eq!(h.calls(ALIBABA, "DescribeInstances").await.len(), 2);

    let mut commands = pb::command_service_client::CommandServiceClient::new(h.channel.clone());
    let request = pb::StopCommandExecutionRequest {
        account: "prod".into(),
        ..Default::default()
    };
    let denied = commands
        .stop_command_execution(with_token(request, Some("ops-token-0123456789abcdef")))
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);
}

#[tokio::test]
async fn health_and_reflection_stay_open_when_tokens_are_required() {
    let h = Harness::start_with(callers).await;
    assert_eq!(health(h.channel.clone()).await.unwrap(), 1);
}

#[test]
fn weak_tokens_and_unknown_accounts_are_refused_at_start() {
    let mut config = stopgate::sandbox::config("127.0.0.1:1".parse().unwrap());
    config.callers = vec![CallerToken {
        name: "x".into(),
        token: Secret::new("short"),
        accounts: vec!["default".into()],
    }];
    assert!(config.validate().unwrap_err().contains("at least 16"));
    config.callers = vec![CallerToken {
        name: "x".into(),
        token: Secret::new("long-enough-token-123"),
        accounts: vec!["nope".into()],
    }];
    assert!(config.validate().unwrap_err().contains("nope"));
}
