//! The one error of a credential that cannot be had.

use std::fmt;

/// No usable credentials: the source named, the reason, never a secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialError {
    /// The source, as [`super::Source::describe`] says.
    pub source: String,
    /// Why the last fetch failed, or why the held credentials cannot be used.
    pub reason: String,
}

impl fmt::Display for CredentialError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "no usable credentials from {}: {}",
            self.source, self.reason
        )
    }
}

impl std::error::Error for CredentialError {}
