//! What the simulated credential services know (docs/simulator.md "Temporary credentials"):
//! the roles that may be assumed, the OIDC providers and the tokens each accepts, the role of
//! each vendor's simulated instance metadata service, and the Alibaba metadata (IMDSv2)
//! session tokens handed out. Temporary keys themselves live with the other keys in
//! [`crate::credentials::Credentials`], each with its expiry.

use std::collections::VecDeque;

use rand::Rng;
use rand::distr::Alphanumeric;
use time::OffsetDateTime;

use crate::credentials::Credential;
use stopgate_vendor::Provider;

/// The most roles, OIDC providers, or tokens per provider, the admin API accepts.
pub const MAX_ENTRIES: usize = 1000;

/// The most live metadata session tokens remembered; past it the oldest are forgotten.
pub const MAX_IMDS_TOKENS: usize = 10_000;

/// A role that may be assumed.
#[derive(Debug, Clone)]
pub struct Role {
    pub provider: Provider,
    /// Alibaba `acs:ram::<account>:role/<name>`, Tencent `qcs::cam::uin/<uin>:roleName/<name>`.
    pub arn: String,
    /// The account the issued keys act in.
    pub account: String,
    /// When set, every key issued for the role lives exactly this long, whatever the caller
    /// asked for: how tests see expiry without waiting an hour.
    pub lifetime_seconds: Option<u64>,
    /// The longest session a caller may ask for (Alibaba's MaxSessionDuration).
    pub max_session_seconds: u64,
}

/// An OIDC identity provider and the tokens it vouches for.
#[derive(Debug, Clone)]
pub struct OidcProvider {
    pub provider: Provider,
    /// Alibaba: the provider ARN; Tencent: the ProviderId.
    pub id: String,
    /// Tokens accepted verbatim (surrounding whitespace ignored).
    pub tokens: Vec<String>,
}

/// The role a vendor's simulated instance metadata service hands out.
#[derive(Debug, Clone)]
pub struct InstanceRole {
    pub provider: Provider,
    pub role_name: String,
    pub role_arn: String,
}

/// Everything above.
#[derive(Debug, Default)]
pub struct Identity {
    roles: Vec<Role>,
    oidc: Vec<OidcProvider>,
    instance_roles: Vec<InstanceRole>,
    imds_tokens: VecDeque<(String, OffsetDateTime)>,
}

impl Identity {
    /// Forgets everything.
    pub fn clear(&mut self) {
        *self = Identity::default();
    }

    /// Adds (or replaces, by ARN) a role; false when the table is full.
    pub fn add_role(&mut self, role: Role) -> bool {
        self.roles
            .retain(|r| !(r.provider == role.provider && r.arn == role.arn));
        if self.roles.len() >= MAX_ENTRIES {
            return false;
        }
        self.roles.push(role);
        true
    }

    /// The role with this ARN.
    pub fn role(&self, provider: Provider, arn: &str) -> Option<&Role> {
        self.roles
            .iter()
            .find(|r| r.provider == provider && r.arn == arn)
    }

    /// Adds (or replaces, by id) an OIDC provider; false when the table is full.
    pub fn add_oidc(&mut self, oidc: OidcProvider) -> bool {
        self.oidc
            .retain(|o| !(o.provider == oidc.provider && o.id == oidc.id));
        if self.oidc.len() >= MAX_ENTRIES {
            return false;
        }
        self.oidc.push(oidc);
        true
    }

    /// The OIDC provider with this id.
    pub fn oidc(&self, provider: Provider, id: &str) -> Option<&OidcProvider> {
        self.oidc
            .iter()
            .find(|o| o.provider == provider && o.id == id)
    }

    /// Sets the role of a vendor's instance metadata service.
    pub fn set_instance_role(&mut self, role: InstanceRole) {
        self.instance_roles.retain(|r| r.provider != role.provider);
        self.instance_roles.push(role);
    }

    /// The role of a vendor's instance metadata service, if one was set.
    pub fn instance_role(&self, provider: Provider) -> Option<&InstanceRole> {
        self.instance_roles.iter().find(|r| r.provider == provider)
    }

    /// A new metadata session token valid until `expires`.
    pub fn new_imds_token(&mut self, expires: OffsetDateTime) -> String {
        if self.imds_tokens.len() >= MAX_IMDS_TOKENS {
            self.imds_tokens.pop_front();
        }
        let token = random_text(48);
        self.imds_tokens.push_back((token.clone(), expires));
        token
    }

    /// Whether a metadata session token was handed out and has not expired at `now`.
    pub fn imds_token_valid(&self, token: &str, now: OffsetDateTime) -> bool {
        self.imds_tokens
            .iter()
            .any(|(t, expires)| t == token && now < *expires)
    }
}

/// `n` random letters and digits.
pub fn random_text(n: usize) -> String {
    rand::rng()
        .sample_iter(Alphanumeric)
        .take(n)
        .map(char::from)
        .collect()
}

/// A new temporary key in the vendor's style for `account`, living `lifetime_seconds` from `now`.
pub fn new_temporary_key(
    provider: Provider,
    account: &str,
    now: OffsetDateTime,
    lifetime_seconds: u64,
) -> Credential {
    let (id, secret, token) = match provider {
        Provider::Alibaba => (
            format!("STS.NT{}", random_text(24)),
            random_text(44),
            format!("CAIS{}", random_text(120)),
        ),
        Provider::Tencent => (
            format!("AKID{}", random_text(32)),
            random_text(32),
            random_text(120),
        ),
    };
    let lifetime = i64::try_from(lifetime_seconds).unwrap_or(i64::MAX);
    Credential {
        provider: Some(provider),
        access_key_id: id,
        secret,
        token: Some(token),
        account: account.to_string(),
        expires: Some(now.saturating_add(time::Duration::seconds(lifetime))),
    }
}

/// Alibaba's and Tencent's `YYYY-MM-DDThh:mm:ssZ` (whole seconds, UTC): the Alibaba
/// credentials library parses nothing else.
pub fn expiration_text(at: OffsetDateTime) -> String {
    let fmt = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    at.to_offset(time::UtcOffset::UTC)
        .format(fmt)
        .unwrap_or_default()
}

/// Whether a role session name is valid: 2 to `max` characters of `allowed`.
pub fn valid_session_name(name: &str, max: usize, allowed: &str) -> bool {
    (2..=max).contains(&name.chars().count())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || allowed.contains(c))
}

/// The claims of a JWT's payload, if it is one (nothing is verified: the token was accepted
/// because it was seeded).
pub fn jwt_claims(token: &str) -> Option<serde_json::Value> {
    use base64::Engine;
    let payload = token.trim().split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_temporary_key_is_accepted_until_its_expiry_and_refused_from_it_on() {
        let now = OffsetDateTime::now_utc();
        let key = new_temporary_key(Provider::Alibaba, "1", now, 5);
        assert!(!key.expired(now));
        assert!(!key.expired(now + time::Duration::seconds(4)));
        assert!(key.expired(now + time::Duration::seconds(5)));
    }

    #[test]
    fn expiration_text_has_whole_seconds_and_a_z() {
        let at = time::macros::datetime!(2026-11-30 10:02:36.789 UTC);
        assert_eq!(expiration_text(at), "2026-11-30T10:02:36Z");
    }

    #[test]
    fn an_imds_token_is_valid_until_it_expires() {
        let mut identity = Identity::default();
        let now = OffsetDateTime::now_utc();
        let token = identity.new_imds_token(now + time::Duration::seconds(10));
        assert!(identity.imds_token_valid(&token, now));
        assert!(!identity.imds_token_valid(&token, now + time::Duration::seconds(10)));
        assert!(!identity.imds_token_valid("other", now));
    }

    #[test]
    fn session_names_follow_the_allowed_characters_and_length() {
        assert!(valid_session_name("pod-sess.1@x_y", 64, ".@-_"));
        assert!(!valid_session_name("a", 64, ".@-_"));
        assert!(!valid_session_name("has space", 64, ".@-_"));
        assert!(!valid_session_name(&"a".repeat(65), 64, ".@-_"));
    }
}
