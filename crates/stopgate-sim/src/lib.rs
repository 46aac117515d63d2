//! `stopgate sim`: a faithful emulator of the Alibaba Cloud ECS and Tencent Cloud CVM/TAT HTTP
//! APIs, with an admin API to seed it, inject faults and read the calls it received.
//! Contract: `docs/simulator.md`.

pub mod admin;
pub mod alibaba;
pub mod banner;
pub mod calllog;
pub mod credentials;
pub mod faults;
pub mod identity;
pub mod ids;
pub mod instance;
pub mod invocation;
pub mod metadata;
pub mod ratelimit;
pub mod seed;
pub mod server;
pub mod tencent;
pub mod timings;
pub mod world;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use time::OffsetDateTime;
use tokio::net::TcpListener;

use calllog::{CallLog, CallRecord};
use credentials::{Credentials, NonceCache};
use faults::{FaultKind, FaultPhase, Faults};
use ratelimit::{Admission, RateLimits};
use server::{HttpRequest, Reply};
use stopgate_vendor::Provider;
use timings::Timings;
use world::World;

/// How to start a simulator.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Alibaba's permanent access key id and secret.
    pub alibaba_key: (String, String),
    /// Tencent's permanent SecretId and SecretKey.
    pub tencent_key: (String, String),
    /// Start with the demo world.
    pub seed_demo: bool,
    /// The largest request body served; larger ones get the vendor's "too large" error before
    /// the rest of the body is read.
    pub max_body_bytes: usize,
    /// How many calls the call log keeps (the oldest are forgotten first).
    pub call_log_capacity: usize,
}

/// Default of [`SimConfig::max_body_bytes`]: far above any request the vendors' APIs define
/// (100 instance ids), far below what would hurt a process that embeds the simulator.
pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;

/// The body limit of the admin API.
pub const ADMIN_MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            alibaba_key: (
                credentials::ALIBABA_ACCESS_KEY_ID.to_string(),
                credentials::ALIBABA_ACCESS_KEY_SECRET.to_string(),
            ),
            tencent_key: (
                credentials::TENCENT_SECRET_ID.to_string(),
                credentials::TENCENT_SECRET_KEY.to_string(),
            ),
            seed_demo: true,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            call_log_capacity: calllog::DEFAULT_CAPACITY,
        }
    }
}

/// Everything the simulator knows. Each part has its own lock, held only briefly.
#[derive(Debug)]
pub struct SimState {
    world: Mutex<World>,
    timings: Mutex<Timings>,
    credentials: Mutex<Credentials>,
    identity: Mutex<identity::Identity>,
    nonces: Mutex<NonceCache>,
    limits: Mutex<RateLimits>,
    faults: Mutex<Faults>,
    calls: Mutex<CallLog>,
    max_body_bytes: usize,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl SimState {
    /// A simulator state from a config.
    pub fn new(config: &SimConfig) -> Arc<SimState> {
        let credentials = Credentials::with_defaults(
            (&config.alibaba_key.0, &config.alibaba_key.1),
            (&config.tencent_key.0, &config.tencent_key.1),
        );
        let state = Arc::new(SimState {
            world: Mutex::new(World::default()),
            timings: Mutex::new(Timings::default()),
            credentials: Mutex::new(credentials),
            identity: Mutex::new(identity::Identity::default()),
            nonces: Mutex::new(NonceCache::default()),
            limits: Mutex::new(RateLimits::default()),
            faults: Mutex::new(Faults::default()),
            calls: Mutex::new(CallLog::new(config.call_log_capacity)),
            max_body_bytes: config.max_body_bytes,
        });
        if config.seed_demo {
            state.seed_demo();
        }
        state
    }

    fn seed_demo(&self) {
        let creds = lock(&self.credentials);
        let (ali, tc) = (
            creds.default_account(Provider::Alibaba),
            creds.default_account(Provider::Tencent),
        );
        drop(creds);
        seed::seed_demo(&mut lock(&self.world), &ali, &tc, Instant::now());
    }

    /// The body limit of a request to `path`: the admin API seeds whole worlds in one call
    /// (an invocation on 100,000 instances), so it gets [`ADMIN_MAX_BODY_BYTES`].
    pub(crate) fn max_body_bytes(&self, path: &str) -> usize {
        if path.starts_with("/_sim") {
            ADMIN_MAX_BODY_BYTES.max(self.max_body_bytes)
        } else {
            self.max_body_bytes
        }
    }

    pub(crate) fn world(&self) -> MutexGuard<'_, World> {
        lock(&self.world)
    }

    pub(crate) fn timings(&self) -> Timings {
        *lock(&self.timings)
    }

    pub(crate) fn credentials(&self) -> MutexGuard<'_, Credentials> {
        lock(&self.credentials)
    }

    pub(crate) fn identity(&self) -> MutexGuard<'_, identity::Identity> {
        lock(&self.identity)
    }

    /// Issues a temporary key for `role`: it lives the role's fixed lifetime if it has one,
    /// else `requested_seconds`, and is accepted by the vendor APIs until then.
    pub(crate) fn issue_key(
        &self,
        role: &identity::Role,
        requested_seconds: u64,
    ) -> credentials::Credential {
        let lifetime = role.lifetime_seconds.unwrap_or(requested_seconds);
        let key = identity::new_temporary_key(
            role.provider,
            &role.account,
            OffsetDateTime::now_utc(),
            lifetime,
        );
        self.credentials().issue(key.clone());
        key
    }

    pub(crate) fn nonces(&self) -> MutexGuard<'_, NonceCache> {
        lock(&self.nonces)
    }

    /// Lets a vendor call through the faults and the rate limit, logging the outcome when the
    /// call ends here. `mentions` tells whether the parameters name an instance.
    pub(crate) async fn gate(&self, call: &Call, mentions: &(dyn Fn(&str) -> bool + Sync)) -> Gate {
        let plan =
            lock(&self.faults).plan(FaultPhase::Before, call.provider, &call.action, mentions);
        if plan.latency_ms > 0 {
            tokio::time::sleep(Duration::from_millis(plan.latency_ms)).await;
        }
        if let Some(kind) = plan.outcome {
            return Gate::Fault(kind);
        }
        let admission = lock(&self.limits).admit(
            call.provider,
            &call.account,
            &call.region,
            &call.action,
            Instant::now(),
        );
        match admission {
            Admission::Allowed => Gate::Proceed,
            Admission::Throttled {
                per_second,
                retry_after_ms,
            } => Gate::Throttled {
                per_second,
                retry_after_ms,
            },
        }
    }

    /// Runs the faults of phase "before" for a call to a credential service (STS, instance
    /// metadata): waits their latency and returns the fault that replaces the answer, if any.
    /// Rate limits do not apply to these services.
    pub(crate) async fn credential_fault(&self, call: &Call) -> Option<FaultKind> {
        let plan = lock(&self.faults).plan(
            FaultPhase::Before,
            call.provider,
            &call.action,
            &|_: &str| false,
        );
        if plan.latency_ms > 0 {
            tokio::time::sleep(Duration::from_millis(plan.latency_ms)).await;
        }
        plan.outcome
    }

    /// Runs the faults of phase "after" once the action has run: waits their latency, and
    /// returns the fault that replaces the real answer, if any.
    pub(crate) async fn after_action(
        &self,
        call: &Call,
        mentions: &(dyn Fn(&str) -> bool + Sync),
    ) -> Option<FaultKind> {
        let plan =
            lock(&self.faults).plan(FaultPhase::After, call.provider, &call.action, mentions);
        if plan.latency_ms > 0 {
            tokio::time::sleep(Duration::from_millis(plan.latency_ms)).await;
        }
        plan.outcome
    }

    /// The answer to an injected fault that looks the same from either vendor, logged: a bare
    /// HTTP status, a dropped connection, or a cut-off body (`truncated`: its content type and
    /// the start of the vendor's own answer). Vendor errors are each vendor's own to render.
    pub(crate) fn transport_fault(
        &self,
        call: &Call,
        kind: FaultKind,
        truncated: (&'static str, String),
    ) -> Reply {
        match kind {
            FaultKind::HttpStatus(status) => {
                self.log(call, &format!("http_{status}"), status);
                Reply::with_body(
                    status,
                    "text/html",
                    format!("<html><body><h1>{status}</h1>upstream unavailable</body></html>"),
                )
            }
            FaultKind::Drop => {
                self.log(call, "dropped", 0);
                Reply::Drop
            }
            FaultKind::Malformed => {
                self.log(call, "malformed", 200);
                Reply::with_body(200, truncated.0, truncated.1)
            }
            FaultKind::Error { .. } => unreachable!("each vendor renders its own errors"),
            FaultKind::LatencyMs(_) => unreachable!("latency never replaces the answer"),
        }
    }

    /// Appends to the call log.
    pub(crate) fn log(&self, call: &Call, outcome: &str, http_status: u16) {
        self.log_with_retry_after(call, outcome, http_status, None);
    }

    /// Appends to the call log, with the retry-after a throttling answer carried.
    pub(crate) fn log_with_retry_after(
        &self,
        call: &Call,
        outcome: &str,
        http_status: u16,
        retry_after_ms: Option<u64>,
    ) {
        lock(&self.calls).push(CallRecord {
            retry_after_ms,
            seq: 0,
            time: OffsetDateTime::now_utc(),
            provider: call.provider,
            service: call.service.to_string(),
            action: call.action.clone(),
            region: call.region.clone(),
            account: call.account.clone(),
            params: call.params.clone(),
            outcome: outcome.to_string(),
            http_status,
            applied: call.applied,
            fault_phase: call.fault_phase.map(FaultPhase::as_str),
            action_outcome: call.action_outcome.clone(),
        });
    }
}

/// One vendor call being served.
#[derive(Debug, Clone)]
pub struct Call {
    pub provider: Provider,
    /// `ecs`, `cvm` or `tat`.
    pub service: &'static str,
    pub action: String,
    pub region: String,
    /// Empty until authenticated.
    pub account: String,
    /// Business parameters, for the call log.
    pub params: serde_json::Value,
    pub request_id: String,
    /// The action ran and succeeded (whatever answer was then sent).
    pub applied: bool,
    /// The phase of the fault that decided the answer, if one did.
    pub fault_phase: Option<FaultPhase>,
    /// With a fault after the action: what the action itself answered (`ok` or its error code).
    pub action_outcome: Option<String>,
}

impl Call {
    /// A call being served, not yet authenticated or applied.
    pub(crate) fn new(
        provider: Provider,
        service: &'static str,
        action: String,
        region: String,
        params: serde_json::Value,
        request_id: String,
    ) -> Call {
        Call {
            provider,
            service,
            action,
            region,
            account: String::new(),
            params,
            request_id,
            applied: false,
            fault_phase: None,
            action_outcome: None,
        }
    }
}

/// What `SimState::gate` decided.
#[derive(Debug)]
pub enum Gate {
    Proceed,
    Fault(FaultKind),
    Throttled {
        per_second: f64,
        retry_after_ms: u64,
    },
}

/// Sends a request to the vendor or admin handler it is for (docs/simulator.md, routing table).
pub async fn route(state: &Arc<SimState>, request: HttpRequest) -> Reply {
    if request.path.starts_with("/_sim") {
        return admin::handle(state, request).await;
    }
    if request.path.starts_with("/latest/") {
        return metadata::handle(state, request).await;
    }
    if request.headers.contains_key("x-tc-action") {
        return tencent::handle(state, request).await;
    }
    alibaba::handle(state, request).await
}

/// Answers a request whose body is over the limit, in the style of the API it was for.
pub(crate) fn too_large(state: &SimState, request: &HttpRequest) -> Reply {
    let limit = state.max_body_bytes(&request.path);
    if request.path.starts_with("/_sim") {
        return Reply::json(
            413,
            &serde_json::json!({ "error": format!("the request body is over the simulator's limit of {limit} bytes") }),
        );
    }
    if request.headers.contains_key("x-tc-action") {
        return tencent::too_large(state, request, limit);
    }
    alibaba::too_large(state, request, limit)
}

/// A running simulator.
pub struct Simulator {
    state: Arc<SimState>,
}

impl Simulator {
    /// A simulator with this configuration.
    pub fn new(config: &SimConfig) -> Simulator {
        Simulator {
            state: SimState::new(config),
        }
    }

    /// Serves on an already bound listener until `shutdown` resolves.
    pub async fn serve(self, listener: TcpListener, shutdown: impl Future<Output = ()>) {
        server::serve(listener, self.state, shutdown).await
    }

    /// Binds `addr` and serves in the background; returns the bound address.
    pub async fn spawn(self, addr: SocketAddr) -> std::io::Result<SocketAddr> {
        let listener = TcpListener::bind(addr).await?;
        let local = listener.local_addr()?;
        tokio::spawn(self.serve(listener, std::future::pending()));
        Ok(local)
    }
}

/// A fresh request id in the vendor's style (Alibaba uppercase UUID, Tencent lowercase).
pub(crate) fn new_request_id(provider: Provider) -> String {
    let id = uuid::Uuid::new_v4().to_string();
    match provider {
        Provider::Alibaba => id.to_uppercase(),
        Provider::Tencent => id,
    }
}

/// Whether any string inside a JSON value equals `needle`.
pub(crate) fn json_mentions(value: &serde_json::Value, needle: &str) -> bool {
    match value {
        serde_json::Value::String(s) => s == needle,
        serde_json::Value::Array(items) => items.iter().any(|v| json_mentions(v, needle)),
        serde_json::Value::Object(map) => map.values().any(|v| json_mentions(v, needle)),
        _ => false,
    }
}
