//! The Redis slot store: every replica's calls on one vendor account share one schedule per
//! key, updated atomically by a Lua script (`pace.lua`) on Redis's clock. Works with a single
//! Redis (self-run or managed, such as ApsaraDB for Redis or TencentDB for Redis) and with
//! Redis Cluster: each script touches one key, whose hash tag names it.
//!
//! Redis trouble never fails a stop by default: while Redis cannot be reached, calls are
//! paced by this process alone at the rate divided by the configured number of replicas, a
//! metric counts each such call, health reports `stopgate.cluster` NOT_SERVING, and a probe
//! reconnects in the background; shared pacing resumes when it answers.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock, Weak};
use std::time::Duration;

use opentelemetry::metrics::Counter;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::cluster_async::ClusterConnection;
use tokio::sync::watch;

use super::local::LocalStore;
use super::rules::{self, Take};
use super::{BoxFuture, SlotStore, Unavailable};
use crate::config::{ClusterSettings, OnUnavailable};

/// How often Redis is pinged (and, when it stopped answering, tried again).
const PROBE_EVERY: Duration = Duration::from_secs(1);
/// How long an idle key's schedule stays in Redis (a schedule holds nothing older than this).
const KEY_TTL: Duration = Duration::from_secs(600);

/// The Redis key of a pacing key; the braces are its hash tag (Redis Cluster slots by it).
pub fn redis_key(key: &str) -> String {
    format!("stopgate:pace:{{{key}}}")
}

#[derive(Clone)]
enum Connection {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

enum Target {
    Single(redis::Client),
    Cluster(Box<redis::cluster::ClusterClient>),
}

/// Schedules in Redis, with the in-process store as the fallback.
pub struct RedisStore {
    me: Weak<RedisStore>,
    target: Target,
    /// Where Redis is, without credentials, for messages.
    address: String,
    connection: RwLock<Option<Connection>>,
    script: redis::Script,
    local: LocalStore,
    replicas: u32,
    on_unavailable: OnUnavailable,
    timeout: Duration,
    healthy: watch::Sender<bool>,
    monitoring: AtomicBool,
    fallbacks: Counter<u64>,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("address", &self.address)
            .finish_non_exhaustive()
    }
}

impl RedisStore {
    /// A store for `settings` (which name a Redis). Connects only in [`RedisStore::connect`].
    pub fn new(
        settings: &ClusterSettings,
        fallbacks: Counter<u64>,
    ) -> Result<Arc<RedisStore>, String> {
        let (target, address) = match (&settings.redis_url, settings.redis_cluster_urls.is_empty()) {
            (Some(url), true) => {
                let client = redis::Client::open(url.expose())
                    .map_err(|e| format!("[cluster] redis_url is not a Redis URL ({}); write it like redis://:password@10.0.0.5:6379/0", e.category()))?;
                let address = client.get_connection_info().addr().to_string();
                (Target::Single(client), address)
            }
            (None, false) => {
                let urls: Vec<&str> = settings.redis_cluster_urls.iter().map(|u| u.expose()).collect();
                let client = redis::cluster::ClusterClientBuilder::new(urls)
                    .connection_timeout(settings.timeout())
                    .response_timeout(settings.timeout())
                    .retries(1)
                    .build()
                    .map_err(|e| format!("[cluster] redis_cluster_urls: {}; write each like redis://:password@10.0.0.5:6379", e.category()))?;
                (Target::Cluster(Box::new(client)), format!("Redis Cluster ({} seed nodes)", settings.redis_cluster_urls.len()))
            }
            _ => return Err("[cluster] names no Redis: set redis_url (or STOPGATE_REDIS_URL), or redis_cluster_urls for Redis Cluster".into()),
        };
        let (healthy, _) = watch::channel(false);
        Ok(Arc::new_cyclic(|me| RedisStore {
            me: me.clone(),
            target,
            address,
            connection: RwLock::new(None),
            script: redis::Script::new(include_str!("pace.lua")),
            local: LocalStore::shared_by(settings.replicas),
            replicas: settings.replicas.max(1),
            on_unavailable: settings.on_unavailable,
            timeout: settings.timeout(),
            healthy,
            monitoring: AtomicBool::new(false),
            fallbacks,
        }))
    }

    /// Whether shared pacing is in force (Redis connected and answering), as it changes.
    pub fn health(&self) -> watch::Receiver<bool> {
        self.healthy.subscribe()
    }

    /// Where Redis is, without credentials.
    pub fn address(&self) -> &str {
        &self.address
    }

    async fn open(&self) -> Result<Connection, String> {
        let connect = async {
            match &self.target {
                Target::Single(client) => {
                    let config = ConnectionManagerConfig::new()
                        .set_connection_timeout(Some(self.timeout))
                        .set_response_timeout(Some(self.timeout))
                        .set_number_of_retries(1);
                    ConnectionManager::new_with_config(client.clone(), config)
                        .await
                        .map(Connection::Single)
                }
                Target::Cluster(client) => {
                    client.get_async_connection().await.map(Connection::Cluster)
                }
            }
        };
        match tokio::time::timeout(self.timeout * 4, connect).await {
            Ok(Ok(connection)) => Ok(connection),
            Ok(Err(e)) => Err(describe(&e)),
            Err(_) => Err(format!("no connection within {:?}", self.timeout * 4)),
        }
    }

    /// Connects and checks Redis answers; on failure, paces locally and keeps trying in the
    /// background. Returns whether shared pacing is in force.
    pub async fn connect(&self) -> bool {
        let connected = match self.ping().await {
            Ok(()) => {
                tracing::info!(redis = %self.address, "pacing shared through Redis");
                self.healthy.send_replace(true);
                true
            }
            Err(error) => {
                tracing::warn!(redis = %self.address, error, replicas = self.replicas, "Redis is unavailable at start; pacing locally at the rate divided by [cluster] replicas until it answers");
                false
            }
        };
        self.monitor();
        connected
    }

    async fn ping(&self) -> Result<(), String> {
        let mut connection = match self.current() {
            Some(connection) => connection,
            None => {
                let connection = self.open().await?;
                *self.connection.write().unwrap_or_else(|p| p.into_inner()) =
                    Some(connection.clone());
                connection
            }
        };
        let ping = async {
            match &mut connection {
                Connection::Single(c) => redis::cmd("PING").query_async::<String>(c).await,
                Connection::Cluster(c) => redis::cmd("PING").query_async::<String>(c).await,
            }
        };
        match tokio::time::timeout(self.timeout, ping).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(describe(&e)),
            Err(_) => Err(format!("no answer to PING within {:?}", self.timeout)),
        }
    }

    fn current(&self) -> Option<Connection> {
        self.connection
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Redis failed: pace locally until the monitor finds it again.
    fn unavailable(&self, error: &str) {
        if self.healthy.send_replace(false) {
            tracing::warn!(redis = %self.address, error, replicas = self.replicas, "Redis is unavailable; pacing locally at the rate divided by [cluster] replicas until it answers again");
        }
    }

    /// Pings Redis every [`PROBE_EVERY`] for as long as the store lives, so that health
    /// follows Redis even while no call needs a slot, and pacing is shared again as soon as
    /// Redis answers.
    fn monitor(&self) {
        if self.monitoring.swap(true, Ordering::AcqRel) {
            return;
        }
        let me = self.me.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(PROBE_EVERY).await;
                let Some(store) = me.upgrade() else { return };
                match store.ping().await {
                    Ok(()) => {
                        if !store.healthy.send_replace(true) {
                            tracing::info!(redis = %store.address, "Redis answers again; pacing is shared again");
                        }
                    }
                    Err(error) => store.unavailable(&error),
                }
            }
        });
    }

    async fn eval(
        &self,
        key: &str,
        op: &str,
        interval: Duration,
        cutoff: Option<Duration>,
        retry_after: Option<Duration>,
    ) -> Result<Vec<i64>, String> {
        let Some(mut connection) = self.current() else {
            return Err("not connected".into());
        };
        let mut invocation = self.script.key(redis_key(key));
        invocation
            .arg(op)
            .arg(interval.as_micros() as u64)
            .arg(cutoff.map_or(-1, |c| c.as_micros() as i64))
            .arg(retry_after.map_or(0, |d| d.as_micros() as u64))
            .arg(rules::HORIZON_SLOTS)
            .arg(rules::CUT_SHARE)
            .arg(rules::MIN_CALLS)
            .arg(rules::DECREASE)
            .arg(rules::MARGIN)
            .arg(rules::MIN_FACTOR)
            .arg(rules::JUDGE_CALLS)
            .arg(rules::HELPED)
            .arg(rules::HELPED_CALLS)
            .arg(rules::UNHELPED)
            .arg(rules::JUDGE_AFTER.as_micros() as u64)
            .arg(rules::IMMUNE.as_micros() as u64)
            .arg(rules::RECOVERY_DELAY.as_micros() as u64)
            .arg(rules::RECOVERY_PER_SECOND)
            .arg(KEY_TTL.as_millis() as u64);
        let call = async {
            match &mut connection {
                Connection::Single(c) => invocation.invoke_async::<Vec<i64>>(c).await,
                Connection::Cluster(c) => invocation.invoke_async::<Vec<i64>>(c).await,
            }
        };
        match tokio::time::timeout(self.timeout, call).await {
            Ok(Ok(answer)) => Ok(answer),
            Ok(Err(e)) => Err(describe(&e)),
            Err(_) => Err(format!("no answer within {:?}", self.timeout)),
        }
    }

    /// Runs a script of another part of stopgate (the operation journal) on the same
    /// connection, allowing `patience` for the answer.
    pub async fn invoke<T: redis::FromRedisValue>(
        &self,
        invocation: &redis::ScriptInvocation<'_>,
        patience: Duration,
    ) -> Result<T, String> {
        self.on_connection(patience, async |connection| match connection {
            Connection::Single(c) => invocation.invoke_async::<T>(c).await,
            Connection::Cluster(c) => invocation.invoke_async::<T>(c).await,
        })
        .await
    }

    /// Runs one command (the operation journal's index of unfinished operations).
    pub async fn query<T: redis::FromRedisValue>(
        &self,
        command: &redis::Cmd,
        patience: Duration,
    ) -> Result<T, String> {
        self.on_connection(patience, async |connection| match connection {
            Connection::Single(c) => command.query_async::<T>(c).await,
            Connection::Cluster(c) => command.query_async::<T>(c).await,
        })
        .await
    }

    /// Runs `call` on the current connection, allowing `patience` for the answer.
    async fn on_connection<T>(
        &self,
        patience: Duration,
        call: impl AsyncFnOnce(&mut Connection) -> redis::RedisResult<T>,
    ) -> Result<T, String> {
        let Some(mut connection) = self.current() else {
            return Err(format!("Redis at {} is not connected", self.address));
        };
        match tokio::time::timeout(patience, call(&mut connection)).await {
            Ok(Ok(answer)) => Ok(answer),
            Ok(Err(e)) => Err(describe(&e)),
            Err(_) => Err(format!("no answer from Redis within {patience:?}")),
        }
    }

    fn fallback(
        &self,
        key: &str,
        interval: Duration,
        cutoff: Option<Duration>,
    ) -> Result<Take, Unavailable> {
        self.fallbacks.add(1, &[]);
        match self.on_unavailable {
            OnUnavailable::Local => Ok(self.local.take(key, interval, cutoff)),
            OnUnavailable::Fail => Err(Unavailable(format!(
                "the shared pacing store (Redis at {}) is unavailable and [cluster] on_unavailable = \"fail\", so no vendor call was sent; retry once Redis is back, or set on_unavailable = \"local\" to pace each replica on its own meanwhile",
                self.address
            ))),
        }
    }
}

/// A Redis error in words, without anything a URL might have held.
fn describe(error: &redis::RedisError) -> String {
    let kind = error.category();
    if error.is_connection_refusal() {
        format!("{kind}: connection refused")
    } else if error.is_timeout() {
        format!("{kind}: timed out")
    } else if error.is_connection_dropped() || error.is_io_error() {
        format!("{kind}: connection lost")
    } else {
        // Server errors (NOSCRIPT, BUSY, …) carry no credentials.
        let text = error.to_string();
        text.chars().take(200).collect()
    }
}

impl SlotStore for RedisStore {
    fn take<'a>(
        &'a self,
        key: &'a str,
        interval: Duration,
        cutoff: Option<Duration>,
    ) -> BoxFuture<'a, Result<Take, Unavailable>> {
        Box::pin(async move {
            if !*self.healthy.borrow() {
                return self.fallback(key, interval, cutoff);
            }
            match self.eval(key, "take", interval, cutoff, None).await {
                Ok(answer) => match answer.as_slice() {
                    [1, wait] => Ok(Take::Granted(Duration::from_micros((*wait).max(0) as u64))),
                    [0, wait] => Ok(Take::Later(Duration::from_micros((*wait).max(0) as u64))),
                    [2, _] => Ok(Take::TooLate),
                    other => {
                        self.unavailable(&format!(
                            "unexpected answer from the pacing script: {other:?}"
                        ));
                        self.fallback(key, interval, cutoff)
                    }
                },
                Err(error) => {
                    self.unavailable(&error);
                    self.fallback(key, interval, cutoff)
                }
            }
        })
    }

    fn throttled<'a>(&'a self, key: &'a str, retry_after: Option<Duration>) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            self.local.throttled(key, retry_after);
            if *self.healthy.borrow()
                && let Err(error) = self
                    .eval(key, "throttled", Duration::ZERO, None, retry_after)
                    .await
            {
                self.unavailable(&error);
            }
        })
    }
}

#[cfg(test)]
mod tests;
