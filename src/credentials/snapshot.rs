//! The credentials one vendor call is signed with.

use std::sync::Arc;

use tokio::time::Instant;

use crate::config::Credentials;

/// Credentials as they stood when a caller asked, with what is needed to report them
/// rejected ([`super::Credential::invalidate`]).
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// The keys (and token) to sign with.
    pub credentials: Arc<Credentials>,
    /// When they stop working; `None` for keys that do not expire.
    pub expires_at: Option<Instant>,
    /// Which fetch they came from; a rejection of an older one is ignored.
    pub(super) generation: u64,
}
