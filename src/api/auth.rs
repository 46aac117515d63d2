//! Caller authentication: bearer tokens from configuration, each allowed a set of accounts.
//! A missing or unknown token is UNAUTHENTICATED; a known caller asking for an account it was
//! not given is PERMISSION_DENIED. Tokens are compared as SHA-256 digests and never logged.

use std::sync::Arc;

use sha2::{Digest, Sha256};
use tonic::{Request, Status};

use crate::config::{CallerToken, DEFAULT_ACCOUNT};

/// An authenticated caller, attached to the request.
#[derive(Debug, Clone)]
pub struct Caller {
    pub name: String,
    accounts: Vec<String>,
}

/// The configured callers.
#[derive(Clone, Default)]
pub struct Callers {
    tokens: Arc<Vec<([u8; 32], Caller)>>,
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

impl Callers {
    pub fn new(tokens: &[CallerToken]) -> Callers {
        let tokens = tokens
            .iter()
            .map(|t| {
                (
                    digest(t.token.expose()),
                    Caller {
                        name: t.name.clone(),
                        accounts: t.accounts.clone(),
                    },
                )
            })
            .collect();
        Callers {
            tokens: Arc::new(tokens),
        }
    }

    /// Whether callers must authenticate.
    pub fn required(&self) -> bool {
        !self.tokens.is_empty()
    }

    /// The tonic interceptor: attaches the [`Caller`] or refuses the call.
    pub fn check(&self, mut request: Request<()>) -> Result<Request<()>, Status> {
        if !self.required() {
            return Ok(request);
        }
        let header = request
            .metadata()
            .get("authorization")
            .and_then(|v| v.to_str().ok());
        let Some(token) = header.and_then(|h| {
            h.strip_prefix("Bearer ")
                .or_else(|| h.strip_prefix("bearer "))
        }) else {
            return Err(Status::unauthenticated(
                "no bearer token: send the metadata `authorization: Bearer <token>`",
            ));
        };
        let presented = digest(token.trim());
        match self.tokens.iter().find(|(d, _)| *d == presented) {
            Some((_, caller)) => {
                request.extensions_mut().insert(caller.clone());
                Ok(request)
            }
            None => Err(Status::unauthenticated(
                "the bearer token is not valid: check the token you were given",
            )),
        }
    }
}

/// Refuses a request for an account its caller was not given.
pub fn authorize<T>(request: &Request<T>, account: &str) -> Result<(), Status> {
    let Some(caller) = request.extensions().get::<Caller>() else {
        return Ok(());
    };
    let account = if account.is_empty() {
        DEFAULT_ACCOUNT
    } else {
        account
    };
    if caller.accounts.iter().any(|a| a == "*" || a == account) {
        Ok(())
    } else {
        tracing::warn!(caller = %caller.name, account, "caller asked for an account it was not given");
        Err(Status::permission_denied(format!(
            "caller {:?} may not use account {account:?} (allowed: {:?})",
            caller.name, caller.accounts
        )))
    }
}

/// Who is asking, for the operation's record and the audit log: the token's name, else the
/// subject of the mTLS client certificate, else "anonymous" (no authentication configured).
pub fn identity<T>(request: &Request<T>) -> String {
    if let Some(caller) = request.extensions().get::<Caller>() {
        return format!("token:{}", caller.name);
    }
    let subject = request.peer_certs().and_then(|certs| {
        let first = certs.first()?;
        let (_, cert) = x509_parser::parse_x509_certificate(first.as_ref()).ok()?;
        Some(cert.subject().to_string())
    });
    match subject {
        Some(subject) => format!("mtls:{subject}"),
        None => "anonymous".to_string(),
    }
}
