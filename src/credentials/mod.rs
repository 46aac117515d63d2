//! Vendor credentials that may expire, and where they come from (`docs/configuration.md`
//! "Credentials").
//!
//! - [`Credential`] (`cache`): one account × provider's credentials: static keys, or temporary
//!   ones cached and refreshed ahead of expiry, one refresh at a time, the old ones used while
//!   still valid if a refresh fails.
//! - [`Source`] (`source`): what fetches temporary credentials; [`Snapshot`] (`snapshot`): the
//!   credentials one vendor call is signed with; [`CredentialError`] (`error`).
//! - `schedule`: when to refresh (ahead of expiry, scaled to the lifetime, with jitter), how
//!   close to expiry keys stop being handed out, and how long to back off.
//! - `token_file`: the OIDC token, re-read on every exchange.
//! - The sources: `alibaba_sts` (AssumeRole, AssumeRoleWithOIDC), `alibaba_metadata` (ECS RAM
//!   role), `tencent_sts` (AssumeRole, AssumeRoleWithWebIdentity), `tencent_metadata` (CVM CAM
//!   role), `chain` (the vendors' default chains) and `profile` (their profile files);
//!   `answer`: reading what they answer.
//! - [`CredentialStore`] (`store`): every configured account × provider's credential.

mod alibaba_metadata;
mod alibaba_sts;
mod answer;
mod cache;
mod chain;
mod error;
mod profile;
mod schedule;
mod snapshot;
mod source;
mod store;
mod tencent_metadata;
mod tencent_sts;
mod token_file;

pub use cache::Credential;
pub use error::CredentialError;
pub use snapshot::Snapshot;
pub use source::{Fetched, Source};
pub use store::{CredentialStore, KEEP_INTERVAL, MIN_KEEP_PAUSE};
pub use token_file::read_token_file;
#[cfg(test)]
mod stub;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod wire_tests;
