//! StopInstances by selector (docs/design.md, "Selectors"):
//!
//! 1. The regions: those named, or the account's configured ones, or the vendor's list.
//! 2. Every region is read concurrently, each under its own pacing, with the vendor's tag
//!    filters, paged to the end; every instance returned is checked against every tag. A
//!    region that cannot be read is noted with its error; the others go on. Reading stops
//!    once more instances matched than expected, so memory stays bounded by the guard rail.
//! 3. The guard rail: more matches than `expect_at_most` fails the request before any stop,
//!    saying how many matched in each region.
//! 4. Every region's matches are stopped concurrently exactly as a request naming them would
//!    be, starting from the states just read.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::time::Instant;

use super::call::{Caller, Stats};
use super::ledger::RegionSummary;
use super::request::ValidStop;
use super::selector::{Regions, Selection};
use super::stop_instances::{InstanceLedger, Run};
use super::{DEFAULT_CONCURRENCY, Engine, within_deadline};
use crate::model::{ErrorKind, Provider, StopError};
use crate::provider::select::carries_all;
use crate::provider::{Adapter, Observed, Scope};

/// The region DescribeRegions is asked in when an account names none.
fn home_region(provider: Provider) -> &'static str {
    match provider {
        Provider::Alibaba => "cn-hangzhou",
        Provider::Tencent => "ap-guangzhou",
    }
}

/// What reading one region found.
struct Found {
    /// Each match with the RequestId of the page it came on.
    instances: Vec<(Observed, Option<String>)>,
    /// How many matched: those kept, or the vendor's count when reading stopped early.
    matched: usize,
    /// Reading stopped early because the guard rail was already exceeded.
    cut: bool,
}

struct RegionRead {
    region: String,
    found: Result<Found, StopError>,
}

/// The part of a selector request every region's work shares.
struct Shared<'a> {
    adapter: &'a dyn Adapter,
    request: &'a ValidStop,
    selection: &'a Selection,
    ledger: &'a InstanceLedger,
    /// Matches so far over every region.
    matched: AtomicUsize,
}

impl Shared<'_> {
    fn scope<'s>(&'s self, region: &'s str) -> Scope<'s> {
        Scope {
            region,
            credentials: self.request.credentials.as_ref(),
        }
    }

    /// Reads every page of one region.
    async fn read(&self, region: &str, caller: &Caller) -> Result<Found, StopError> {
        let scope = self.scope(region);
        let action = self.adapter.actions().describe;
        let mut found = Found {
            instances: Vec::new(),
            matched: 0,
            cut: false,
        };
        let mut page: Option<String> = None;
        loop {
            if self.ledger.is_closed() {
                return Err(StopError::local(
                    ErrorKind::Unavailable,
                    "OPERATION_INCOMPLETE",
                    "the operation was handed over before this region was read",
                ));
            }
            let answer = caller
                .run(action, || {
                    self.adapter
                        .select(scope, &self.selection.tags, page.as_deref())
                })
                .await?;
            let mut kept = 0;
            for selected in answer.instances {
                if carries_all(&selected.tags, &self.selection.tags) {
                    found
                        .instances
                        .push((selected.observed, answer.request_id.clone()));
                    kept += 1;
                }
            }
            found.matched += kept;
            let total = self.matched.fetch_add(kept, Ordering::AcqRel) + kept;
            match answer.next {
                Some(next) if total <= self.selection.expect_at_most => page = Some(next),
                Some(_) => {
                    // Over the guard rail already: the vendor's count says how far.
                    found.cut = true;
                    found.matched = found.matched.max(answer.total.unwrap_or_default() as usize);
                    found.instances.clear();
                    return Ok(found);
                }
                None => return Ok(found),
            }
        }
    }
}

impl Engine {
    /// Runs a validated selector request to its summary (or to its request-level error).
    pub async fn stop_selected(
        self: Arc<Self>,
        request: ValidStop,
        ledger: Arc<InstanceLedger>,
        deadline: Option<Instant>,
    ) {
        let deadline = Self::deadline_of(deadline, &ledger);
        let stats = Arc::new(Stats::default());
        let (engine, work_ledger, work_stats, work_deadline) = (
            self.clone(),
            ledger.clone(),
            stats.clone(),
            deadline.clone(),
        );
        let work = async move {
            engine
                .select_and_stop(request, &work_ledger, &work_stats, work_deadline)
                .await
        };
        within_deadline(&deadline, work, &ledger).await;
        ledger.finish(&stats).await;
    }

    /// A caller for one region of a selector request, counting into the request's `stats`.
    fn region_caller(
        &self,
        request: &ValidStop,
        region: &str,
        deadline: &super::deadline::Deadline,
        ledger: &InstanceLedger,
        stats: &Arc<Stats>,
    ) -> Caller {
        let mut caller = self.caller(
            request.provider,
            &request.account,
            region,
            (deadline.clone(), ledger),
        );
        caller.stats = stats.clone();
        caller
    }

    async fn select_and_stop(
        &self,
        request: ValidStop,
        ledger: &Arc<InstanceLedger>,
        stats: &Arc<Stats>,
        deadline: super::deadline::Deadline,
    ) {
        let Some(selection) = request.selection.clone() else {
            return;
        };
        let adapter = self.adapter(request.provider).expect("validated provider");
        let shared = Shared {
            adapter: adapter.as_ref(),
            request: &request,
            selection: &selection,
            ledger,
            matched: AtomicUsize::new(0),
        };
        // The regions the account may act in (empty: any).
        let allowed = &self
            .config()
            .accounts
            .get(&request.account)
            .map(|a| a.regions.clone())
            .unwrap_or_default();
        let regions = match self.regions_of(&shared, allowed, &deadline, stats).await {
            Ok(regions) => regions,
            Err(error) => return ledger.abort(error).await,
        };
        let request = &request;
        let reads = regions.iter().map(|region| {
            let shared = &shared;
            let deadline = &deadline;
            async move {
                if !allowed.is_empty() && !allowed.contains(region) {
                    let mut error = StopError::local(
                        ErrorKind::PermissionDenied,
                        "REGION_NOT_ALLOWED",
                        format!(
                            "account {:?} may only act in {allowed:?}; {region} was not searched",
                            request.account
                        ),
                    );
                    error.provider = Some(request.provider);
                    return RegionRead {
                        region: region.clone(),
                        found: Err(error),
                    };
                }
                let caller = self.region_caller(request, region, deadline, ledger, stats);
                RegionRead {
                    region: region.clone(),
                    found: shared.read(region, &caller).await,
                }
            }
        });
        let mut reads = futures::future::join_all(reads).await;
        for read in &mut reads {
            if let Err(error) = &mut read.found {
                error.region = Some(read.region.clone());
            }
        }
        let matched: usize = reads
            .iter()
            .filter_map(|r| r.found.as_ref().ok())
            .map(|f| f.matched)
            .sum();
        let refused = matched > selection.expect_at_most;
        if let Some(origin) = ledger.origin() {
            let per_region: Vec<(String, Result<usize, String>)> = reads
                .iter()
                .map(|r| {
                    let found = r.found.as_ref().map(|f| f.matched);
                    (r.region.clone(), found.map_err(|e| e.reason.clone()))
                })
                .collect();
            crate::audit::selector_resolved(
                &origin,
                &selection.tags_text(),
                selection.expect_at_most,
                &per_region,
                refused,
            );
        }
        if refused {
            return ledger
                .abort(too_many(request, &selection, &reads, matched))
                .await;
        }
        // Every match, once (an id is one instance wherever a vendor lists it).
        let mut seen = HashSet::new();
        let mut placed = HashMap::new();
        let mut ids = Vec::new();
        let mut summaries = Vec::new();
        let mut work = Vec::new();
        for read in reads {
            match read.found {
                Ok(found) => {
                    summaries.push(RegionSummary {
                        region: read.region.clone(),
                        matched: found.matched as u32,
                        error: None,
                    });
                    let mut known = HashMap::new();
                    let mut region_ids = Vec::new();
                    for (o, rid) in found.instances {
                        if !seen.insert(o.id.clone()) {
                            continue;
                        }
                        ids.push(o.id.clone());
                        placed.insert(o.id.clone(), read.region.clone());
                        if !ledger.is_done(&o.id) {
                            region_ids.push(o.id.clone());
                        }
                        known.insert(o.id.clone(), (o, rid));
                    }
                    if !region_ids.is_empty() {
                        work.push((read.region, region_ids, known));
                    }
                }
                Err(error) => summaries.push(RegionSummary {
                    region: read.region,
                    matched: 0,
                    error: Some(error),
                }),
            }
        }
        ledger.expect(ids);
        ledger.placed(placed, summaries);
        let concurrency = self
            .config()
            .provider(request.provider)
            .max_concurrency
            .unwrap_or(DEFAULT_CONCURRENCY);
        let poll = self.config().poll_interval();
        let stops = work.into_iter().map(|(region, ids, known)| {
            let mut one = request.clone();
            one.region = region;
            one.ids = ids;
            one.selection = None;
            let caller = self.region_caller(request, &one.region, &deadline, ledger, stats);
            let adapter = adapter.clone();
            async move {
                let scope = Scope {
                    region: &one.region,
                    credentials: one.credentials.as_ref(),
                };
                Run::new(adapter.as_ref(), scope, &caller, ledger, &one, poll)
                    .with_known(known)
                    .execute(concurrency)
                    .await
            }
        });
        futures::future::join_all(stops).await;
    }

    /// The regions to search: those named, the account's (`allowed`), or the vendor's list.
    async fn regions_of(
        &self,
        shared: &Shared<'_>,
        allowed: &[String],
        deadline: &super::deadline::Deadline,
        stats: &Arc<Stats>,
    ) -> Result<Vec<String>, StopError> {
        let request = shared.request;
        if let Regions::Listed(regions) = &shared.selection.regions {
            return Ok(regions.clone());
        }
        if !allowed.is_empty() {
            return Ok(allowed.to_vec());
        }
        let home = home_region(request.provider);
        let caller = self.region_caller(request, home, deadline, shared.ledger, stats);
        let adapter = shared.adapter;
        let listed = caller
            .run(adapter.actions().regions, || {
                adapter.regions(shared.scope(home))
            })
            .await
            .map_err(|e| {
                e.with_message(|m| {
                    format!("{m}; stopgate could not list the {} regions for all_regions: name them in selector.regions instead, or set the account's regions in the config", request.provider)
                })
            })?;
        Ok(listed.regions)
    }
}

/// The guard rail's refusal: how many matched, in each region.
fn too_many(
    request: &ValidStop,
    selection: &Selection,
    reads: &[RegionRead],
    matched: usize,
) -> StopError {
    let counts: Vec<String> = reads
        .iter()
        .filter_map(|r| {
            let found = r.found.as_ref().ok()?;
            let at_least = if found.cut { "at least " } else { "" };
            Some(format!("{} {at_least}{}", r.region, found.matched))
        })
        .collect();
    let unread: Vec<&str> = reads
        .iter()
        .filter(|r| r.found.is_err())
        .map(|r| r.region.as_str())
        .collect();
    let unread = if unread.is_empty() {
        String::new()
    } else {
        format!(" (not read: {})", unread.join(", "))
    };
    let mut error = StopError::local(
        ErrorKind::FailedPrecondition,
        "SELECTOR_MATCHED_TOO_MANY",
        format!(
            "the selector {} matched {matched} {} instances, more than expect_at_most {}: {}{unread}. Nothing was stopped; narrow the selector, or raise expect_at_most if that many is intended",
            selection.tags_text(),
            request.provider,
            selection.expect_at_most,
            counts.join(", "),
        ),
    );
    error.provider = Some(request.provider);
    error.details.push(("matched".into(), matched.to_string()));
    error
        .details
        .push(("expectAtMost".into(), selection.expect_at_most.to_string()));
    for read in reads {
        if let Ok(found) = &read.found {
            error.details.push((
                format!("matched.{}", read.region),
                found.matched.to_string(),
            ));
        }
    }
    error
}
