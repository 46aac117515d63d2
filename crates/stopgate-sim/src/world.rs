//! The simulated clouds: instances and invocations per provider × account × region.

use std::collections::HashMap;
use std::time::Instant;

use super::instance::Instance;
use super::invocation::Invocation;
use stopgate_vendor::Provider;

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

/// The most provider × account × region parts the world holds. Vendor calls only reach
/// authenticated accounts and known regions; this bounds what the admin API can seed.
pub const MAX_REGIONS: usize = 4096;

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

    /// The instances with these ids (unknown ones left out, each once), advanced to `now`, in
    /// creation order. Costs what the ids cost, whatever the size of the region.
    pub fn select(&mut self, ids: &[String], now: Instant) -> Vec<&Instance> {
        let mut found: Vec<usize> = ids
            .iter()
            .filter_map(|id| self.instance_index.get(id).copied())
            .collect();
        found.sort_unstable();
        found.dedup();
        for &idx in &found {
            self.instances[idx].advance(now);
        }
        found.into_iter().map(|idx| &self.instances[idx]).collect()
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

    /// The invocation, not advanced: its callers advance the tasks they touch (a call that
    /// names 50 tasks of a 100,000-task invocation costs 50).
    pub fn invocation(&mut self, id: &str) -> Option<&mut Invocation> {
        let idx = *self.invocation_index.get(id)?;
        Some(&mut self.invocations[idx])
    }

    /// All invocations, advanced to `now`, newest first (as the vendors list them).
    pub fn invocations(&mut self, now: Instant, run_ms: u64) -> Vec<&mut Invocation> {
        for invocation in &mut self.invocations {
            invocation.advance(now, run_ms);
        }
        self.invocations.iter_mut().rev().collect()
    }

    /// The invocations with these ids (unknown ones left out), advanced to `now`, newest first.
    pub fn invocations_named(
        &mut self,
        ids: &[&str],
        now: Instant,
        run_ms: u64,
    ) -> Vec<&mut Invocation> {
        let mut found: Vec<usize> = ids
            .iter()
            .filter_map(|id| self.invocation_index.get(*id).copied())
            .collect();
        found.sort_unstable_by(|a, b| b.cmp(a));
        found.dedup();
        let mut chosen = Vec::with_capacity(found.len());
        // Walk the invocations newest first, taking the chosen positions as they come.
        let mut wanted = found.into_iter().peekable();
        for (idx, invocation) in self.invocations.iter_mut().enumerate().rev() {
            if wanted.peek() == Some(&idx) {
                wanted.next();
                invocation.advance(now, run_ms);
                chosen.push(invocation);
            }
        }
        chosen
    }

    /// Adds an invocation.
    pub fn add_invocation(&mut self, mut invocation: Invocation) {
        invocation.index_tasks();
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

    /// The region's state if anything was ever put there (reads must not create regions: their
    /// account and region come from the caller).
    pub fn existing_region(
        &mut self,
        provider: Provider,
        account: &str,
        region: &str,
    ) -> Option<&mut RegionState> {
        self.regions.get_mut(&RegionKey {
            provider,
            account: account.to_string(),
            region: region.to_string(),
        })
    }

    /// Whether seeding `account` × `region` would stay within [`MAX_REGIONS`].
    pub fn may_seed(&self, provider: Provider, account: &str, region: &str) -> bool {
        self.regions.len() < MAX_REGIONS
            || self.regions.contains_key(&RegionKey {
                provider,
                account: account.to_string(),
                region: region.to_string(),
            })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeding_stops_at_the_bound_but_known_parts_stay_open() {
        let mut world = World::default();
        for n in 0..MAX_REGIONS {
            world.region(Provider::Tencent, &n.to_string(), "ap-guangzhou");
        }
        assert!(!world.may_seed(Provider::Tencent, "one-more", "ap-guangzhou"));
        assert!(world.may_seed(Provider::Tencent, "7", "ap-guangzhou"));
        assert!(
            world
                .existing_region(Provider::Tencent, "nobody", "ap-guangzhou")
                .is_none()
        );
        assert_eq!(world.regions.len(), MAX_REGIONS);
    }

    #[test]
    fn select_finds_named_instances_once_in_creation_order() {
        let mut region = RegionState::default();
        for id in ["ins-a", "ins-b", "ins-c"] {
            region.add_instance(Instance::new(id.into(), Provider::Tencent, "ap-guangzhou"));
        }
        let ids: Vec<String> = ["ins-c", "ins-x", "ins-a", "ins-c"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let found: Vec<&str> = region
            .select(&ids, Instant::now())
            .iter()
            .map(|i| i.id.as_str())
            .collect();
        assert_eq!(found, ["ins-a", "ins-c"]);
    }
}
