//! One account × provider's credentials: static, or fetched from a [`Source`] and cached.

use std::sync::{Arc, Mutex};

use opentelemetry::KeyValue;
use opentelemetry::metrics::Counter;
use tokio::time::Instant;

use super::schedule::{backoff, refresh_ahead, usable_margin};
use super::{CredentialError, Fetched, Snapshot, Source};
use crate::config::Credentials;
use crate::model::Provider;

/// The credentials of one account for one provider. Cheap to share (`Arc`); every vendor call
/// asks [`Credential::current`] for what to sign with.
pub struct Credential {
    provider: Provider,
    /// `None` for static keys, which never change.
    source: Option<Arc<dyn Source>>,
    /// What [`Source::describe`] says, or `static keys`.
    name: String,
    state: Mutex<State>,
    /// Held while a refresh runs: later callers wait for it instead of starting their own.
    refreshing: tokio::sync::Mutex<()>,
    /// Counts refreshes by provider, source and outcome.
    refreshes: Option<Counter<u64>>,
}

/// What is cached, guarded by `Credential::state`.
#[derive(Default)]
struct State {
    held: Option<Held>,
    /// Refreshes that failed in a row.
    failures: u32,
    /// No refresh is tried before this (backoff after a failure).
    retry_at: Option<Instant>,
    /// Why the last refresh failed.
    last_error: Option<String>,
    /// Numbers fetches, so that a rejection names the one it is about.
    generation: u64,
}

struct Held {
    snapshot: Snapshot,
    /// When to fetch new ones; `None` for keys that do not expire.
    refresh_at: Option<Instant>,
    /// When they stop being handed out, a margin before they expire; `None` for keys that do
    /// not expire.
    usable_until: Option<Instant>,
    /// The vendor refused them: never handed out again.
    rejected: bool,
}

impl Held {
    fn fresh(&self, now: Instant) -> bool {
        !self.rejected && self.refresh_at.is_none_or(|at| now < at)
    }

    fn usable(&self, now: Instant) -> bool {
        !self.rejected && self.usable_until.is_none_or(|at| now < at)
    }
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credential")
            .field("provider", &self.provider)
            .field("source", &self.name)
            .finish_non_exhaustive()
    }
}

impl Credential {
    /// Static keys: always current, never refreshed.
    pub fn fixed(provider: Provider, credentials: Credentials) -> Credential {
        let credential = Credential::new(provider, None, "static keys".to_string(), None);
        credential.state.lock().expect("fresh lock").held = Some(Held {
            snapshot: Snapshot {
                credentials: Arc::new(credentials),
                expires_at: None,
                generation: 0,
            },
            refresh_at: None,
            usable_until: None,
            rejected: false,
        });
        credential
    }

    /// Credentials fetched from `source` on first use and refreshed ahead of expiry;
    /// `refreshes` counts each refresh.
    pub fn from_source(
        provider: Provider,
        source: Arc<dyn Source>,
        refreshes: Option<Counter<u64>>,
    ) -> Credential {
        let name = source.describe();
        Credential::new(provider, Some(source), name, refreshes)
    }

    fn new(
        provider: Provider,
        source: Option<Arc<dyn Source>>,
        name: String,
        refreshes: Option<Counter<u64>>,
    ) -> Credential {
        Credential {
            provider,
            source,
            name,
            state: Mutex::new(State::default()),
            refreshing: tokio::sync::Mutex::new(()),
            refreshes,
        }
    }

    /// Where these credentials come from, for errors and logs.
    pub fn source_name(&self) -> &str {
        &self.name
    }

    /// `text` with every value of the held credentials replaced (vendor text may echo them).
    pub fn redact(&self, text: &str) -> String {
        match &self.lock().held {
            Some(held) => crate::provider::http::redact(text, &held.snapshot.credentials),
            None => text.to_string(),
        }
    }

    /// Whether credentials that can sign a call are held now (for health).
    pub fn usable(&self) -> bool {
        let now = Instant::now();
        self.lock().held.as_ref().is_some_and(|h| h.usable(now))
    }

    /// The next moment after now when something about these credentials changes by itself:
    /// they are due for a refresh, a failed refresh may be tried again, or they stop being
    /// usable. `None` when nothing is scheduled (static keys).
    pub fn next_change(&self) -> Option<Instant> {
        let now = Instant::now();
        let state = self.lock();
        let held = state.held.as_ref().filter(|h| !h.rejected);
        [
            held.and_then(|h| h.refresh_at),
            held.and_then(|h| h.usable_until),
            state.retry_at,
        ]
        .into_iter()
        .flatten()
        .filter(|at| *at > now)
        .min()
    }

    /// The credentials to sign the next vendor call with: the cached ones while fresh, else a
    /// refresh (one at a time; other callers wait for it). If the refresh fails, the old
    /// credentials while they are still valid, else an error naming the source.
    pub async fn current(&self) -> Result<Snapshot, CredentialError> {
        if let Some(snapshot) = self.fresh() {
            return Ok(snapshot);
        }
        let _refreshing = self.refreshing.lock().await;
        // Whoever held the lock before may have refreshed already.
        if let Some(snapshot) = self.fresh() {
            return Ok(snapshot);
        }
        let Some(source) = &self.source else {
            return self.fallback();
        };
        if self.lock().retry_at.is_some_and(|at| Instant::now() < at) {
            return self.fallback();
        }
        let fetched = source.fetch().await;
        self.count(if fetched.is_ok() { "ok" } else { "failed" });
        match fetched {
            Ok(fetched) => Ok(self.store(fetched)),
            Err(reason) => {
                tracing::warn!(provider = %self.provider, source = %self.name, %reason, "credential refresh failed");
                let mut state = self.lock();
                state.failures += 1;
                state.retry_at = Some(Instant::now() + backoff(state.failures));
                state.last_error = Some(reason);
                drop(state);
                self.fallback()
            }
        }
    }

    /// Reports that the vendor refused `snapshot` as invalid or expired although it should have
    /// been valid: the next [`Credential::current`] fetches new credentials at once. Only the
    /// first report of a fetch counts; static keys cannot be refreshed and are kept.
    pub fn invalidate(&self, snapshot: &Snapshot) {
        if self.source.is_none() {
            return;
        }
        let mut state = self.lock();
        let generation = state.generation;
        if let Some(held) = state.held.as_mut()
            && snapshot.generation == generation
            && !held.rejected
        {
            held.rejected = true;
            state.retry_at = None;
        }
    }

    fn fresh(&self) -> Option<Snapshot> {
        let now = Instant::now();
        let state = self.lock();
        let held = state.held.as_ref()?;
        (held.fresh(now) && held.usable(now)).then(|| held.snapshot.clone())
    }

    fn fallback(&self) -> Result<Snapshot, CredentialError> {
        let now = Instant::now();
        let state = self.lock();
        match &state.held {
            Some(held) if held.usable(now) => Ok(held.snapshot.clone()),
            held => {
                let why = match held {
                    Some(h) if h.rejected => "the vendor refused the last credentials",
                    Some(_) => "the last credentials expired",
                    None => "none fetched yet",
                };
                let reason = match &state.last_error {
                    Some(error) => format!("{why}; the last refresh failed: {error}"),
                    None => why.to_string(),
                };
                Err(CredentialError {
                    source: format!("{} {}", self.provider, self.name),
                    reason,
                })
            }
        }
    }

    fn store(&self, fetched: Fetched) -> Snapshot {
        let now = Instant::now();
        let mut state = self.lock();
        tracing::debug!(
            provider = %self.provider,
            source = %self.name,
            lifetime_s = fetched.lifetime.map(|l| l.as_secs_f64()),
            after_failures = state.failures,
            "credentials refreshed"
        );
        state.generation += 1;
        state.failures = 0;
        state.retry_at = None;
        state.last_error = None;
        let snapshot = Snapshot {
            credentials: Arc::new(fetched.credentials),
            expires_at: fetched.lifetime.map(|l| now + l),
            generation: state.generation,
        };
        let refresh_at = fetched.lifetime.map(|lifetime| {
            let ahead = refresh_ahead(lifetime, rand::random::<f64>());
            now + lifetime.saturating_sub(ahead)
        });
        let usable_until = fetched
            .lifetime
            .map(|lifetime| now + lifetime.saturating_sub(usable_margin(lifetime)));
        state.held = Some(Held {
            snapshot: snapshot.clone(),
            refresh_at,
            usable_until,
            rejected: false,
        });
        snapshot
    }

    fn count(&self, outcome: &'static str) {
        if let Some(counter) = &self.refreshes {
            counter.add(
                1,
                &[
                    KeyValue::new("provider", self.provider.as_str()),
                    KeyValue::new("source", self.name.clone()),
                    KeyValue::new("outcome", outcome),
                ],
            );
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}
