//! The simulated clouds: instances and invocations per provider × account × region, the state
//! machines' timings, and seeding (from the admin API or the demo world).

use std::collections::HashMap;
use std::time::Instant;

use rand::Rng;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::instance::{Instance, Phase};
use super::invocation::{Invocation, RepeatMode, Task, TaskPhase};
use crate::model::Provider;

/// Regions each simulated vendor knows (docs/simulator.md "Regions").
pub fn known_regions(provider: Provider) -> &'static [&'static str] {
    match provider {
        Provider::Alibaba => &[
            "cn-hangzhou",
            "cn-shanghai",
            "cn-beijing",
            "cn-shenzhen",
            "cn-hongkong",
            "ap-southeast-1",
            "us-west-1",
            "eu-central-1",
        ],
        Provider::Tencent => &[
            "ap-guangzhou",
            "ap-shanghai",
            "ap-beijing",
            "ap-hongkong",
            "ap-singapore",
            "na-siliconvalley",
            "eu-frankfurt",
        ],
    }
}

/// Delays of the state machines, in milliseconds.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct Timings {
    /// Graceful stop: Stopping → Stopped.
    pub stop_ms: u64,
    /// Forced stop: Stopping → Stopped.
    pub force_stop_ms: u64,
    /// Starting → Running.
    pub start_ms: u64,
    /// How long a guest that ignores ACPI stays Stopping before the soft stop fails.
    pub graceful_timeout_ms: u64,
    /// Command delivery: Pending → Running.
    pub deliver_ms: u64,
    /// Default run time of a command.
    pub run_ms: u64,
    /// Stopping/CANCELLING → Terminated.
    pub cancel_ms: u64,
    /// Time between runs of a periodic invocation.
    pub period_ms: u64,
}

impl Default for Timings {
    fn default() -> Self {
        Timings {
            stop_ms: 1500,
            force_stop_ms: 500,
            start_ms: 1500,
            graceful_timeout_ms: 5000,
            deliver_ms: 500,
            run_ms: 600_000,
            cancel_ms: 1000,
            period_ms: 60_000,
        }
    }
}

/// The wall-clock time of a monotonic instant, relative to `now`.
pub fn wall_clock_at(at: Instant, now: Instant) -> OffsetDateTime {
    let wall = OffsetDateTime::now_utc();
    if at <= now {
        wall - (now - at)
    } else {
        wall + (at - now)
    }
}

/// Which part of the world a call touches.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RegionKey {
    pub provider: Provider,
    pub account: String,
    pub region: String,
}

/// Everything in one provider × account × region.
#[derive(Debug, Default)]
pub struct RegionState {
    instances: Vec<Instance>,
    instance_index: HashMap<String, usize>,
    invocations: Vec<Invocation>,
    invocation_index: HashMap<String, usize>,
}

impl RegionState {
    /// The instance, advanced to `now`.
    pub fn instance(&mut self, id: &str, now: Instant) -> Option<&mut Instance> {
        let idx = *self.instance_index.get(id)?;
        let instance = &mut self.instances[idx];
        instance.advance(now);
        Some(instance)
    }

    /// Whether the instance exists.
    pub fn has_instance(&self, id: &str) -> bool {
        self.instance_index.contains_key(id)
    }

    /// All instances, advanced to `now`, in creation order.
    pub fn instances(&mut self, now: Instant) -> &mut [Instance] {
        for instance in &mut self.instances {
            instance.advance(now);
        }
        &mut self.instances
    }

    /// Adds an instance; an existing one with the same id is replaced.
    pub fn add_instance(&mut self, instance: Instance) {
        match self.instance_index.get(&instance.id) {
            Some(&idx) => self.instances[idx] = instance,
            None => {
                self.instance_index
                    .insert(instance.id.clone(), self.instances.len());
                self.instances.push(instance);
            }
        }
    }

    /// The invocation, advanced to `now`.
    pub fn invocation(&mut self, id: &str, now: Instant, run_ms: u64) -> Option<&mut Invocation> {
        let idx = *self.invocation_index.get(id)?;
        let invocation = &mut self.invocations[idx];
        invocation.advance(now, run_ms);
        Some(invocation)
    }

    /// All invocations, advanced to `now`, newest first (as the vendors list them).
    pub fn invocations(&mut self, now: Instant, run_ms: u64) -> Vec<&mut Invocation> {
        for invocation in &mut self.invocations {
            invocation.advance(now, run_ms);
        }
        self.invocations.iter_mut().rev().collect()
    }

    /// Adds an invocation.
    pub fn add_invocation(&mut self, invocation: Invocation) {
        self.invocation_index
            .insert(invocation.id.clone(), self.invocations.len());
        self.invocations.push(invocation);
    }
}

/// The whole simulated world.
#[derive(Debug, Default)]
pub struct World {
    regions: HashMap<RegionKey, RegionState>,
}

impl World {
    /// The region's state, created empty on first use.
    pub fn region(&mut self, provider: Provider, account: &str, region: &str) -> &mut RegionState {
        self.regions
            .entry(RegionKey {
                provider,
                account: account.to_string(),
                region: region.to_string(),
            })
            .or_default()
    }

    /// The region of `account` that holds instance `id` (Alibaba `StopInstance` takes no region).
    pub fn region_of_instance(
        &self,
        provider: Provider,
        account: &str,
        id: &str,
    ) -> Option<String> {
        self.regions
            .iter()
            .find(|(k, r)| k.provider == provider && k.account == account && r.has_instance(id))
            .map(|(k, _)| k.region.clone())
    }

    /// Forgets everything.
    pub fn clear(&mut self) {
        self.regions.clear();
    }
}

// === ids ===

fn random_chars(len: usize, alphabet: &[u8]) -> String {
    let mut rng = rand::rng();
    (0..len)
        .map(|_| alphabet[rng.random_range(0..alphabet.len())] as char)
        .collect()
}

const LOWER_ALNUM: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
const HEX: &[u8] = b"0123456789abcdef";

/// A new instance id in the vendor's format (`i-` + 20, `ins-` + 8).
pub fn new_instance_id(provider: Provider) -> String {
    match provider {
        Provider::Alibaba => format!("i-bp1{}", random_chars(17, LOWER_ALNUM)),
        Provider::Tencent => format!("ins-{}", random_chars(8, LOWER_ALNUM)),
    }
}

/// A new invocation id (`t-` + 32 hex, `inv-` + 8).
pub fn new_invocation_id(provider: Provider) -> String {
    match provider {
        Provider::Alibaba => format!("t-{}", random_chars(32, HEX)),
        Provider::Tencent => format!("inv-{}", random_chars(8, LOWER_ALNUM)),
    }
}

/// A new command id (`c-` + 32 hex, `cmd-` + 8).
pub fn new_command_id(provider: Provider) -> String {
    match provider {
        Provider::Alibaba => format!("c-{}", random_chars(32, HEX)),
        Provider::Tencent => format!("cmd-{}", random_chars(8, LOWER_ALNUM)),
    }
}

/// A new Tencent task id (`invt-` + 8).
pub fn new_task_id() -> String {
    format!("invt-{}", random_chars(8, LOWER_ALNUM))
}

// === seeding ===

/// An instance to add through the admin API (docs/simulator.md "InstanceSpec").
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstanceSpec {
    pub id: Option<String>,
    pub state: Option<String>,
    pub name: Option<String>,
    pub instance_type: Option<String>,
    pub zone: Option<String>,
    pub charge_type: Option<String>,
    pub local_disk: Option<bool>,
    pub network: Option<String>,
    pub lock: Option<String>,
    pub ignores_shutdown: Option<bool>,
    pub agent_online: Option<bool>,
}

impl InstanceSpec {
    /// Builds the instance, or says what is wrong with the spec.
    pub fn build(
        self,
        provider: Provider,
        region: &str,
        timings: &Timings,
        now: Instant,
    ) -> Result<Instance, String> {
        let id = self.id.unwrap_or_else(|| new_instance_id(provider));
        let mut instance = Instance::new(id, provider, region);
        if let Some(state) = self.state {
            instance.phase = Phase::from_vendor(provider, &state).ok_or_else(|| {
                format!(
                    "unknown {provider} instance state {state:?} for {}",
                    instance.id
                )
            })?;
        }
        if let Some(lock) = self.lock {
            let allowed: &[&str] = match provider {
                Provider::Alibaba => &["security", "financial"],
                Provider::Tencent => &["banning", "freezing", "isolating", "corrupted"],
            };
            if !allowed.contains(&lock.as_str()) {
                return Err(format!(
                    "unknown {provider} lock {lock:?}: use one of {allowed:?}"
                ));
            }
            instance.lock = Some(lock);
        }
        if let Some(v) = self.name {
            instance.name = v;
        }
        if let Some(v) = self.instance_type {
            // The i1 family has local disks (alibaba.md §2.1 ConfirmStop).
            instance.local_disk = v.starts_with("ecs.i1.");
            instance.instance_type = v;
        }
        if let Some(v) = self.zone {
            instance.zone = v;
        }
        if let Some(v) = self.charge_type {
            instance.charge_type = v;
        }
        if let Some(v) = self.local_disk {
            instance.local_disk = v;
        }
        if let Some(v) = self.network {
            instance.network = v;
        }
        instance.ignores_shutdown = self.ignores_shutdown.unwrap_or(false);
        instance.agent_online = self.agent_online.unwrap_or(true);
        instance.settle_seeded_phase(timings, now);
        Ok(instance)
    }
}

/// A task of a seeded invocation.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskSpec {
    pub instance_id: String,
    pub state: Option<String>,
    pub run_ms: Option<u64>,
    pub exit_code: Option<i64>,
}

/// An invocation to add through the admin API (docs/simulator.md "InvocationSpec").
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InvocationSpec {
    pub provider: String,
    pub region: String,
    pub account: Option<String>,
    pub id: Option<String>,
    pub command_name: Option<String>,
    pub repeat_mode: Option<String>,
    pub interrupt_running: Option<bool>,
    pub tasks: Vec<TaskSpec>,
}

impl InvocationSpec {
    /// Builds the invocation, or says what is wrong with the spec.
    pub fn build(
        self,
        provider: Provider,
        timings: &Timings,
        now: Instant,
    ) -> Result<Invocation, String> {
        let repeat_mode = match self.repeat_mode.as_deref() {
            None | Some("Once") => RepeatMode::Once,
            Some("Period") if provider == Provider::Alibaba => RepeatMode::Period,
            Some(other) => {
                return Err(format!(
                    "repeat_mode {other:?} is not supported for {provider}"
                ));
            }
        };
        if self.tasks.is_empty() {
            return Err("an invocation needs at least one task".to_string());
        }
        let mut tasks = Vec::with_capacity(self.tasks.len());
        for spec in self.tasks {
            let phase = match spec.state.as_deref() {
                None => TaskPhase::Running,
                Some(raw) => TaskPhase::from_vendor(provider, raw).ok_or_else(|| {
                    format!(
                        "unknown {provider} task state {raw:?} for {}",
                        spec.instance_id
                    )
                })?,
            };
            let run_ms = spec.run_ms.unwrap_or(timings.run_ms);
            tasks.push(Task::new(
                new_task_id(),
                spec.instance_id,
                phase,
                run_ms,
                spec.exit_code,
                timings,
                now,
            ));
        }
        Ok(Invocation {
            id: self.id.unwrap_or_else(|| new_invocation_id(provider)),
            command_id: new_command_id(provider),
            command_name: self
                .command_name
                .unwrap_or_else(|| "stopgate-sim-command".to_string()),
            command_type: match provider {
                Provider::Alibaba => "RunShellScript".to_string(),
                Provider::Tencent => "SHELL".to_string(),
            },
            command_content: "c2xlZXAgNjAw".to_string(),
            repeat_mode,
            interrupt_running: self.interrupt_running.unwrap_or(true),
            stopped: false,
            timeout_s: 3600,
            username: "root".to_string(),
            created_at: OffsetDateTime::now_utc(),
            tasks,
            period_ms: timings.period_ms,
        })
    }
}

/// One cloud's demo: running instances, one stopped, maybe one locked, and a ten-minute
/// command running on the first two.
struct Demo<'a> {
    provider: Provider,
    account: &'a str,
    region: &'static str,
    instance_id: fn(usize) -> String,
    count: usize,
    /// Vendor words for running and stopped.
    states: (&'static str, &'static str),
    name: &'static str,
    /// The instance (by number) with a security lock.
    locked: Option<usize>,
    execution: &'static str,
}

impl Demo<'_> {
    fn seed(&self, world: &mut World, now: Instant) {
        let timings = Timings::default();
        let region = world.region(self.provider, self.account, self.region);
        for n in 1..=self.count {
            let spec = InstanceSpec {
                id: Some((self.instance_id)(n)),
                state: Some(
                    if n == self.count - usize::from(self.locked.is_some()) {
                        self.states.1
                    } else {
                        self.states.0
                    }
                    .to_string(),
                ),
                name: Some(format!("{}-{n}", self.name)),
                lock: (Some(n) == self.locked).then(|| "security".to_string()),
                ..InstanceSpec::default()
            };
            region.add_instance(
                spec.build(self.provider, self.region, &timings, now)
                    .expect("a valid demo instance"),
            );
        }
        let invocation = InvocationSpec {
            provider: self.provider.as_str().into(),
            region: self.region.into(),
            account: None,
            id: Some(self.execution.into()),
            command_name: Some("demo-long-job".into()),
            repeat_mode: None,
            interrupt_running: None,
            tasks: (1..=2)
                .map(|n| TaskSpec {
                    instance_id: (self.instance_id)(n),
                    state: None,
                    run_ms: Some(600_000),
                    exit_code: None,
                })
                .collect(),
        };
        region.add_invocation(
            invocation
                .build(self.provider, &timings, now)
                .expect("a valid demo invocation"),
        );
    }
}

/// Seeds the demo world that `stopgate sim` and `stopgate sandbox` start with
/// (docs/simulator.md "The seeded world").
pub fn seed_demo(world: &mut World, alibaba_account: &str, tencent_account: &str, now: Instant) {
    Demo {
        provider: Provider::Alibaba,
        account: alibaba_account,
        region: "cn-hangzhou",
        instance_id: |n| format!("i-sgdemo0000000000000a{n}"),
        count: 8,
        states: ("Running", "Stopped"),
        name: "demo-web",
        locked: Some(8),
        execution: "t-sgdemo0000000000000000000000001",
    }
    .seed(world, now);
    Demo {
        provider: Provider::Tencent,
        account: tencent_account,
        region: "ap-guangzhou",
        instance_id: |n| format!("ins-sgdemo0{n}"),
        count: 7,
        states: ("RUNNING", "STOPPED"),
        name: "demo-api",
        locked: None,
        execution: "inv-sgdemo01",
    }
    .seed(world, now);
}
