//! Each vendor call signed with the account's current credentials: fetched just before the call,
//! and fetched anew once if the vendor says a temporary token is invalid or expired.

use std::future::Future;
use std::sync::Arc;

use crate::config::Credentials;
use crate::credentials::{Credential, CredentialError};
use crate::model::{ErrorKind, Provider, StopError};

/// Runs `send` with the current credentials. When the vendor's answer is one that `rejected`
/// recognizes as a refused token and the credentials are temporary, reports them refused and
/// sends once more with fresh ones.
pub async fn with_current<T, F, Fut>(
    provider: Provider,
    action: &str,
    credential: &Credential,
    rejected: fn(&StopError) -> bool,
    send: F,
) -> Result<T, StopError>
where
    F: Fn(Arc<Credentials>) -> Fut,
    Fut: Future<Output = Result<T, StopError>>,
{
    let snapshot = credential
        .current()
        .await
        .map_err(|e| unauthenticated(provider, action, &e))?;
    let answer = send(snapshot.credentials.clone()).await;
    let refused = matches!(&answer, Err(e) if rejected(e));
    if !refused || snapshot.expires_at.is_none() {
        return answer;
    }
    tracing::info!(%provider, action, source = credential.source_name(), "the vendor refused temporary credentials; fetching new ones once");
    credential.invalidate(&snapshot);
    let fresh = credential
        .current()
        .await
        .map_err(|e| unauthenticated(provider, action, &e))?;
    send(fresh.credentials.clone()).await
}

/// The error of a call that could not be signed: UNAUTHENTICATED, naming the source.
pub fn unauthenticated(provider: Provider, action: &str, error: &CredentialError) -> StopError {
    let mut err = StopError::local(
        ErrorKind::Unauthenticated,
        "CREDENTIALS_UNAVAILABLE",
        format!("{provider} {action} was not sent: {error}"),
    );
    err.provider = Some(provider);
    err
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use super::*;
    use crate::config::Secret;
    use crate::credentials::{Fetched, Source};
    use crate::model::{CodeClass, ErrorScope, RetryClass};
    use crate::provider::BoxFuture;

    /// Hands out `key-1`, `key-2`, … each living an hour.
    struct Counting(AtomicUsize);

    impl Source for Counting {
        fn describe(&self) -> String {
            "counting".into()
        }

        fn fetch(&self) -> BoxFuture<'_, Result<Fetched, String>> {
            let n = self.0.fetch_add(1, Ordering::SeqCst) + 1;
            Box::pin(async move {
                Ok(Fetched {
                    credentials: Credentials {
                        access_key_id: Secret::new(format!("key-{n}")),
                        secret: Secret::new("s"),
                        token: Some(Secret::new("t")),
                    },
                    lifetime: Some(Duration::from_secs(3600)),
                })
            })
        }
    }

    fn refused() -> StopError {
        let class = CodeClass::new(
            ErrorKind::Unauthenticated,
            RetryClass::Permanent,
            ErrorScope::Request,
            "CREDENTIALS_EXPIRED",
        );
        StopError::vendor(
            Provider::Alibaba,
            class,
            "InvalidSecurityToken.Expired",
            "",
            None,
            Some(400),
        )
    }

    #[tokio::test(start_paused = true)]
    async fn a_refused_token_is_replaced_and_the_call_sent_once_more() {
        let credential = Credential::from_source(
            Provider::Alibaba,
            Arc::new(Counting(AtomicUsize::new(0))),
            None,
        );
        let sent = std::sync::Mutex::new(Vec::new());
        let answer = with_current(
            Provider::Alibaba,
            "StopInstances",
            &credential,
            |e| {
                e.vendor_code
                    .as_deref()
                    .is_some_and(|c| c.starts_with("InvalidSecurityToken."))
            },
            |keys| {
                let id = keys.access_key_id.expose().to_string();
                sent.lock().unwrap().push(id.clone());
                async move {
                    if id == "key-1" {
                        Err(refused())
                    } else {
                        Ok(id)
                    }
                }
            },
        )
        .await;
        assert_eq!(answer.unwrap(), "key-2");
        assert_eq!(*sent.lock().unwrap(), ["key-1", "key-2"]);
    }

    /// Never gets credentials.
    struct Failing;

    impl Source for Failing {
        fn describe(&self) -> String {
            "STS AssumeRoleWithOIDC acs:ram::1:role/stopgate".into()
        }

        fn fetch(&self) -> BoxFuture<'_, Result<Fetched, String>> {
            Box::pin(async { Err("STS answered AuthenticationFail.NoPermission".to_string()) })
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_call_without_credentials_is_unauthenticated_and_names_the_source() {
        let credential = Credential::from_source(Provider::Alibaba, Arc::new(Failing), None);
        let calls = AtomicUsize::new(0);
        let error = with_current(
            Provider::Alibaba,
            "StopInstances",
            &credential,
            |_| true,
            |_| {
                calls.fetch_add(1, Ordering::SeqCst);
                async { Ok(()) }
            },
        )
        .await
        .unwrap_err();
        assert_eq!(calls.load(Ordering::SeqCst), 0);
        assert_eq!(error.kind, ErrorKind::Unauthenticated);
        assert_eq!(error.reason, "CREDENTIALS_UNAVAILABLE");
        assert!(
            error.message.contains("acs:ram::1:role/stopgate"),
            "{}",
            error.message
        );
        assert!(error.message.contains("NoPermission"), "{}", error.message);
    }

    #[tokio::test(start_paused = true)]
    async fn static_keys_are_not_retried() {
        let credential = Credential::fixed(
            Provider::Alibaba,
            Credentials {
                access_key_id: Secret::new("LTAI"),
                secret: Secret::new("s"),
                token: None,
            },
        );
        let calls = AtomicUsize::new(0);
        let answer: Result<(), _> = with_current(
            Provider::Alibaba,
            "StopInstances",
            &credential,
            |_| true,
            |_| {
                calls.fetch_add(1, Ordering::SeqCst);
                async { Err(refused()) }
            },
        )
        .await;
        assert!(answer.is_err());
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }
}
