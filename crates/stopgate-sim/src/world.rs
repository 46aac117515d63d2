//! The simulated clouds: instances and invocations per provider × account × region.

use std::collections::{BTreeSet, HashMap};
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

/// One way an instance can satisfy a tag condition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TagTerm {
    /// The tag `key` with exactly this value.
    Pair(String, String),
    /// The tag `key`, whatever its value.
    Key(String),
    /// Any tag whose value is this.
    Value(String),
}

impl TagTerm {
    /// Whether `instance` satisfies the term.
    pub fn matches(&self, instance: &Instance) -> bool {
        match self {
            TagTerm::Pair(key, value) => instance.tags.get(key) == Some(value),
            TagTerm::Key(key) => instance.tags.contains_key(key),
            TagTerm::Value(value) => instance.tags.values().any(|v| v == value),
        }
    }
}

/// A tag condition: satisfied by an instance that satisfies any of its terms. A query is a
/// list of clauses, all of which must hold (Alibaba `Tag.N` = one clause of one term each;
/// Tencent: one filter = one clause whose values are its terms).
pub type TagClause = Vec<TagTerm>;

/// Where the instances carrying each tag are, by position in creation order: the index that
/// keeps a tag query from walking the region.
#[derive(Debug, Default)]
struct TagIndex {
    by_pair: HashMap<(String, String), BTreeSet<usize>>,
    by_key: HashMap<String, BTreeSet<usize>>,
    by_value: HashMap<String, BTreeSet<usize>>,
}

impl TagIndex {
    fn insert(&mut self, instance: &Instance, at: usize) {
        for (key, value) in &instance.tags {
            self.by_pair
                .entry((key.clone(), value.clone()))
                .or_default()
                .insert(at);
            self.by_key.entry(key.clone()).or_default().insert(at);
            self.by_value.entry(value.clone()).or_default().insert(at);
        }
    }

    fn remove(&mut self, instance: &Instance, at: usize) {
        fn take<K: std::hash::Hash + Eq>(map: &mut HashMap<K, BTreeSet<usize>>, k: K, at: usize) {
            if let Some(set) = map.get_mut(&k) {
                set.remove(&at);
                if set.is_empty() {
                    map.remove(&k);
                }
            }
        }
        for (key, value) in &instance.tags {
            take(&mut self.by_pair, (key.clone(), value.clone()), at);
            take(&mut self.by_key, key.clone(), at);
            take(&mut self.by_value, value.clone(), at);
        }
    }

    fn positions(&self, term: &TagTerm) -> Option<&BTreeSet<usize>> {
        match term {
            TagTerm::Pair(key, value) => self.by_pair.get(&(key.clone(), value.clone())),
            TagTerm::Key(key) => self.by_key.get(key),
            TagTerm::Value(value) => self.by_value.get(value),
        }
    }
}

/// Everything in one provider × account × region.
#[derive(Debug, Default)]
pub struct RegionState {
    instances: Vec<Instance>,
    instance_index: HashMap<String, usize>,
    tag_index: TagIndex,
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
        let found = self.positions_of(ids);
        for &idx in &found {
            self.instances[idx].advance(now);
        }
        found.into_iter().map(|idx| &self.instances[idx]).collect()
    }

    /// The positions (in creation order) of the instances with these ids, each once, in
    /// creation order; unknown ids are left out.
    pub fn positions_of(&self, ids: &[String]) -> Vec<usize> {
        let mut found: Vec<usize> = ids
            .iter()
            .filter_map(|id| self.instance_index.get(id).copied())
            .collect();
        found.sort_unstable();
        found.dedup();
        found
    }

    /// The positions of every instance, in creation order.
    pub fn all_positions(&self) -> Vec<usize> {
        (0..self.instances.len()).collect()
    }

    /// The positions, in creation order, of the instances that satisfy every clause. Walks only
    /// the instances indexed under the narrowest clause, never the whole region.
    pub fn tagged(&self, clauses: &[TagClause]) -> Vec<usize> {
        let sets = |clause: &TagClause| -> Vec<&BTreeSet<usize>> {
            clause
                .iter()
                .filter_map(|term| self.tag_index.positions(term))
                .collect()
        };
        let Some(narrowest) = clauses
            .iter()
            .min_by_key(|clause| sets(clause).iter().map(|s| s.len()).sum::<usize>())
        else {
            return self.all_positions();
        };
        let mut candidates: Vec<usize> = match sets(narrowest).as_slice() {
            [] => return Vec::new(),
            [one] => one.iter().copied().collect(),
            many => {
                let mut all: Vec<usize> = many.iter().flat_map(|s| s.iter().copied()).collect();
                all.sort_unstable();
                all.dedup();
                all
            }
        };
        candidates.retain(|&at| self.satisfies(at, clauses));
        candidates
    }

    /// Whether the instance at `at` satisfies every clause.
    pub fn satisfies(&self, at: usize, clauses: &[TagClause]) -> bool {
        let instance = &self.instances[at];
        clauses
            .iter()
            .all(|clause| clause.iter().any(|term| term.matches(instance)))
    }

    /// The instance at position `at`, advanced to `now`.
    pub fn at(&mut self, at: usize, now: Instant) -> &Instance {
        let instance = &mut self.instances[at];
        instance.advance(now);
        instance
    }

    /// The instance at position `at`, as it was last advanced (for attributes that do not
    /// change with time).
    pub fn peek(&self, at: usize) -> &Instance {
        &self.instances[at]
    }

    /// All instances, advanced to `now`, in creation order.
    pub fn instances(&mut self, now: Instant) -> &mut [Instance] {
        for instance in &mut self.instances {
            instance.advance(now);
        }
        &mut self.instances
    }

    /// Adds an instance; an existing one with the same id is replaced (keeping its place in
    /// creation order).
    pub fn add_instance(&mut self, instance: Instance) {
        match self.instance_index.get(&instance.id) {
            Some(&idx) => {
                self.tag_index.remove(&self.instances[idx], idx);
                self.tag_index.insert(&instance, idx);
                self.instances[idx] = instance;
            }
            None => {
                let idx = self.instances.len();
                self.tag_index.insert(&instance, idx);
                self.instance_index.insert(instance.id.clone(), idx);
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

    fn tagged(id: &str, tags: &[(&str, &str)]) -> Instance {
        let mut instance = Instance::new(id.into(), Provider::Tencent, "ap-guangzhou");
        instance.tags = tags
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        instance
    }

    fn pair(k: &str, v: &str) -> TagTerm {
        TagTerm::Pair(k.into(), v.into())
    }

    #[test]
    fn tag_queries_and_clauses_or_terms_in_creation_order() {
        let mut region = RegionState::default();
        region.add_instance(tagged("ins-a", &[("env", "dev"), ("team", "a")]));
        region.add_instance(tagged("ins-b", &[("env", "prod"), ("team", "a")]));
        region.add_instance(tagged("ins-c", &[("env", "dev")]));
        region.add_instance(tagged("ins-d", &[]));
        let ids = |positions: Vec<usize>| -> Vec<String> {
            positions
                .into_iter()
                .map(|p| region.peek(p).id.clone())
                .collect()
        };
        assert_eq!(
            ids(region.tagged(&[vec![pair("env", "dev")]])),
            ["ins-a", "ins-c"]
        );
        assert_eq!(
            ids(region.tagged(&[vec![pair("env", "dev")], vec![TagTerm::Key("team".into())]])),
            ["ins-a"]
        );
        assert_eq!(
            ids(region.tagged(&[vec![pair("env", "prod"), pair("env", "dev")]])),
            ["ins-a", "ins-b", "ins-c"]
        );
        assert_eq!(
            ids(region.tagged(&[vec![TagTerm::Value("a".into())]])),
            ["ins-a", "ins-b"]
        );
        assert!(region.tagged(&[vec![pair("env", "staging")]]).is_empty());
        assert_eq!(region.tagged(&[]).len(), 4);
    }

    #[test]
    fn reseeding_an_instance_moves_it_in_the_tag_index_but_keeps_its_place() {
        let mut region = RegionState::default();
        region.add_instance(tagged("ins-a", &[("env", "dev")]));
        region.add_instance(tagged("ins-b", &[("env", "dev")]));
        region.add_instance(tagged("ins-a", &[("env", "prod")]));
        let dev = region.tagged(&[vec![pair("env", "dev")]]);
        assert_eq!(dev, [1]);
        assert_eq!(region.tagged(&[vec![pair("env", "prod")]]), [0]);
    }
}
