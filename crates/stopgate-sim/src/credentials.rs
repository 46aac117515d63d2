//! The access keys the simulator accepts, the account each belongs to, and the Alibaba nonce
//! cache that rejects replays (docs/simulator.md "Credentials").

use std::collections::{HashSet, VecDeque};
use std::time::{Duration, Instant};

use time::OffsetDateTime;

use stopgate_vendor::Provider;

/// Default Alibaba access key id.
pub const ALIBABA_ACCESS_KEY_ID: &str = "LTAI5tStopgateSimulator01";
/// Default Alibaba access key secret.
pub const ALIBABA_ACCESS_KEY_SECRET: &str = "stopgate-sim-alibaba-secret";
/// Default Alibaba STS key id, secret and token.
pub const ALIBABA_STS: (&str, &str, &str) = (
    "STS.StopgateSimulator01",
    "stopgate-sim-alibaba-sts-secret",
    "stopgate-sim-alibaba-sts-token",
);
/// Default Alibaba account id.
pub const ALIBABA_ACCOUNT: &str = "1234567890123456";
/// Default Tencent SecretId.
pub const TENCENT_SECRET_ID: &str = "AKIDstopgateSimulator000000000000001";
/// Default Tencent SecretKey.
pub const TENCENT_SECRET_KEY: &str = "stopgateSimTencentSecretKey0000001";
/// Default Tencent temporary SecretId, SecretKey and token.
pub const TENCENT_TEMPORARY: (&str, &str, &str) = (
    "AKIDstopgateSimulatorTmp000000000001",
    "stopgateSimTencentTmpSecretKey0001",
    "stopgate-sim-tencent-session-token",
);
/// Default Tencent account (uin).
pub const TENCENT_ACCOUNT: &str = "100000000001";

/// One access key.
#[derive(Clone)]
pub struct Credential {
    pub provider: Option<Provider>,
    pub access_key_id: String,
    pub secret: String,
    /// STS / session token the key must come with, if it is temporary.
    pub token: Option<String>,
    pub account: String,
    /// When a key issued by the simulated STS or metadata service stops being accepted;
    /// `None` for keys that never expire.
    pub expires: Option<OffsetDateTime>,
}

impl Credential {
    /// Whether the key has expired at `now`.
    pub fn expired(&self, now: OffsetDateTime) -> bool {
        self.expires.is_some_and(|at| now >= at)
    }
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credential")
            .field("provider", &self.provider)
            .field("access_key_id", &self.access_key_id)
            .field("account", &self.account)
            .field("expires", &self.expires)
            .finish_non_exhaustive()
    }
}

/// The most keys the admin API may add up to: each key's account is a part of the world a
/// vendor call can create, so the keys bound the world.
pub const MAX_CREDENTIALS: usize = 1000;

/// The most temporary keys the simulator remembers having issued. Past it the oldest are
/// forgotten (and then refused as unknown), which keeps memory bounded however often a client
/// refreshes.
pub const MAX_ISSUED: usize = 10_000;

/// Every accepted key.
#[derive(Debug, Default)]
pub struct Credentials {
    keys: Vec<Credential>,
    /// Temporary keys issued by the simulated STS and metadata services, oldest first.
    issued: VecDeque<Credential>,
}

impl Credentials {
    /// The defaults, with the permanent pairs replaced by the given ones.
    pub fn with_defaults(alibaba: (&str, &str), tencent: (&str, &str)) -> Self {
        let mut creds = Credentials::default();
        let mut add = |provider, id: &str, secret: &str, token: Option<&str>, account: &str| {
            creds.add(
                provider,
                Credential {
                    provider: Some(provider),
                    access_key_id: id.to_string(),
                    secret: secret.to_string(),
                    token: token.map(str::to_string),
                    account: account.to_string(),
                    expires: None,
                },
            )
        };
        add(
            Provider::Alibaba,
            alibaba.0,
            alibaba.1,
            None,
            ALIBABA_ACCOUNT,
        );
        add(
            Provider::Alibaba,
            ALIBABA_STS.0,
            ALIBABA_STS.1,
            Some(ALIBABA_STS.2),
            ALIBABA_ACCOUNT,
        );
        add(
            Provider::Tencent,
            tencent.0,
            tencent.1,
            None,
            TENCENT_ACCOUNT,
        );
        let tmp = TENCENT_TEMPORARY;
        add(
            Provider::Tencent,
            tmp.0,
            tmp.1,
            Some(tmp.2),
            TENCENT_ACCOUNT,
        );
        creds
    }

    /// Adds (or replaces) a key.
    pub fn add(&mut self, provider: Provider, mut credential: Credential) {
        credential.provider = Some(provider);
        self.keys.retain(|k| {
            !(k.provider == Some(provider) && k.access_key_id == credential.access_key_id)
        });
        self.keys.push(credential);
    }

    /// Remembers a temporary key the simulator issued.
    pub fn issue(&mut self, credential: Credential) {
        if self.issued.len() >= MAX_ISSUED {
            self.issued.pop_front();
        }
        self.issued.push_back(credential);
    }

    /// The temporary keys issued for `provider` that are still remembered, oldest first.
    pub fn issued(&self, provider: Provider) -> impl Iterator<Item = &Credential> {
        self.issued
            .iter()
            .filter(move |k| k.provider == Some(provider))
    }

    /// Forgets every issued temporary key.
    pub fn forget_issued(&mut self) {
        self.issued.clear();
    }

    /// How many keys there are (issued temporary keys not counted).
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether there is no key at all.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The key with this id.
    pub fn find(&self, provider: Provider, access_key_id: &str) -> Option<&Credential> {
        self.keys
            .iter()
            .chain(self.issued.iter().rev())
            .find(|k| k.provider == Some(provider) && k.access_key_id == access_key_id)
    }

    /// The account of the first permanent key of a provider (the default account).
    pub fn default_account(&self, provider: Provider) -> String {
        self.keys
            .iter()
            .find(|k| k.provider == Some(provider) && k.token.is_none())
            .map(|k| k.account.clone())
            .unwrap_or_default()
    }
}

/// Nonces seen in the last 15 minutes (docs/vendors/alibaba.md, §4 `SignatureNonceUsed`), oldest first, so
/// that forgetting expired ones costs nothing per request.
#[derive(Debug, Default)]
pub struct NonceCache {
    seen: HashSet<String>,
    order: VecDeque<(Instant, String)>,
}

/// How long a nonce is remembered: the same window as the timestamp check.
pub const NONCE_WINDOW: Duration = Duration::from_secs(15 * 60);

/// The most nonces remembered. Past it the oldest are forgotten early: a replay of one of them
/// would pass, which a simulator can afford and which keeps its memory bounded under any load.
pub const MAX_NONCES: usize = 200_000;

impl NonceCache {
    /// Records the nonce; false when it was already used within the window.
    pub fn insert(&mut self, nonce: &str, now: Instant) -> bool {
        while let Some((at, _)) = self.order.front() {
            if now.duration_since(*at) < NONCE_WINDOW && self.order.len() < MAX_NONCES {
                break;
            }
            let (_, old) = self.order.pop_front().expect("checked");
            self.seen.remove(&old);
        }
        if self.seen.contains(nonce) {
            return false;
        }
        self.seen.insert(nonce.to_string());
        self.order.push_back((now, nonce.to_string()));
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_nonce_is_refused_within_the_window_and_accepted_after_it() {
        let mut cache = NonceCache::default();
        let now = Instant::now();
        assert!(cache.insert("n1", now));
        assert!(!cache.insert("n1", now + Duration::from_secs(60)));
        assert!(cache.insert("n1", now + NONCE_WINDOW + Duration::from_secs(1)));
    }

    #[test]
    fn the_cache_never_holds_more_than_its_bound() {
        let mut cache = NonceCache::default();
        let now = Instant::now();
        for n in 0..MAX_NONCES + 10 {
            assert!(cache.insert(&n.to_string(), now));
        }
        assert_eq!(cache.order.len(), MAX_NONCES);
        assert_eq!(cache.seen.len(), MAX_NONCES);
        assert!(!cache.insert(&(MAX_NONCES + 9).to_string(), now));
    }
}
