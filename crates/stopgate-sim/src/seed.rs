//! Seeding the world: the instance and invocation specs of the admin API, and the demo world.

use std::collections::BTreeMap;
use std::time::Instant;

use serde::Deserialize;
use time::OffsetDateTime;

use super::ids::{new_command_id, new_instance_id, new_invocation_id, new_task_id};
use super::instance::{Instance, Phase};
use super::invocation::{Invocation, RepeatMode, Task, TaskPhase};
use super::timings::Timings;
use super::world::World;
use stopgate_vendor::Provider;

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
    /// Tags, key → value (docs/simulator.md "InstanceSpec").
    pub tags: Option<BTreeMap<String, String>>,
}

/// The most tags one instance may carry, and the longest key and value (in characters), as the
/// vendor allows them on a resource (docs/vendors/alibaba.md, docs/vendors/tencent.md
/// "Selecting instances by tag").
pub fn tag_limits(provider: Provider) -> (usize, usize, usize) {
    match provider {
        Provider::Alibaba => (20, 128, 128),
        Provider::Tencent => (50, 127, 255),
    }
}

/// Checks an instance's tags against the vendor's limits.
fn check_tags(provider: Provider, id: &str, tags: &BTreeMap<String, String>) -> Result<(), String> {
    let (most, key_len, value_len) = tag_limits(provider);
    if tags.len() > most {
        return Err(format!(
            "instance {id} has {} tags; a {provider} instance carries at most {most}",
            tags.len()
        ));
    }
    for (key, value) in tags {
        let shown: String = key.chars().take(64).collect();
        if key.is_empty() || key.chars().count() > key_len {
            return Err(format!(
                "instance {id}: tag key {shown:?} must be 1 to {key_len} characters"
            ));
        }
        if value.chars().count() > value_len {
            return Err(format!(
                "instance {id}: the value of tag {shown:?} is longer than {value_len} characters"
            ));
        }
    }
    Ok(())
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
            // The i1 family has local disks (docs/vendors/alibaba.md, §2.1 ConfirmStop).
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
        if let Some(tags) = self.tags {
            check_tags(provider, &instance.id, &tags)?;
            instance.tags = tags;
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
            task_index: Default::default(),
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
