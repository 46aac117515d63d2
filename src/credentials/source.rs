//! What fetches temporary credentials: an STS exchange or a metadata service.

use std::time::Duration;

use crate::config::Credentials;
use crate::provider::BoxFuture;

/// Credentials as a source fetched them.
#[derive(Debug, Clone)]
pub struct Fetched {
    pub credentials: Credentials,
    /// How long they stay valid from now (the vendor's expiry minus the wall clock);
    /// `None` when they do not expire.
    pub lifetime: Option<Duration>,
}

/// One way of getting temporary credentials. A fetch error is a message that says what failed
/// and what to do, and never holds a secret.
pub trait Source: Send + Sync + 'static {
    /// What this is, for errors, logs and metrics (e.g. `alibaba oidc acs:ram::1:role/r`);
    /// never a secret.
    fn describe(&self) -> String;

    /// Fetches fresh credentials.
    fn fetch(&self) -> BoxFuture<'_, Result<Fetched, String>>;
}
