//! StopInstances by selector: tag matching, paging, the guard rail, isolated regions, dry runs.

use std::sync::Arc;

use super::fake::{self, Fake, REGIONS, SELECT, SELECT_PAGE, STOP};
use super::{config, ids, stop_request, stop_selected};
use crate::config::{Account, Config};
use crate::engine::request::ValidStop;
use crate::engine::selector::{Regions, Selection};
use crate::model::{InstanceOutcome, InstanceState};
use crate::provider::TagMatch;

fn selector(tags: &[(&str, Option<&str>)], regions: Regions, expect_at_most: usize) -> ValidStop {
    let mut request = stop_request(&[]);
    request.requested = 0;
    request.selection = Some(Selection {
        tags: tags.iter().map(|(k, v)| TagMatch::new(k, *v)).collect(),
        regions,
        expect_at_most,
    });
    request
}

fn listed(regions: &[&str]) -> Regions {
    Regions::Listed(regions.iter().map(|r| r.to_string()).collect())
}

/// Seven `env=dev,team=a` and three `env=prod` instances in r1, two `env=dev` in r2.
fn fleet(fake: &Fake) -> (Vec<String>, Vec<String>, Vec<String>) {
    let dev_team = ids("ins-a", 7);
    let prod = ids("ins-p", 3);
    let dev_r2 = ids("ins-b", 2);
    fake.tagged(&dev_team, "r1", &[("env", "dev"), ("team", "a")]);
    fake.tagged(&prod, "r1", &[("env", "prod"), ("team", "a")]);
    fake.tagged(&dev_r2, "r2", &[("env", "dev")]);
    (dev_team, prod, dev_r2)
}

fn accounts(regions: &[&str]) -> Config {
    let mut config = config();
    config.accounts.insert(
        "a".into(),
        Account {
            regions: regions.iter().map(|r| r.to_string()).collect(),
            ..Account::default()
        },
    );
    config
}

#[tokio::test(start_paused = true)]
async fn a_tag_value_selects_every_match_in_every_region_across_pages() {
    let fake = Arc::new(Fake::new(false));
    let (dev_team, prod, dev_r2) = fleet(&fake);
    let request = selector(&[("env", Some("dev"))], listed(&["r1", "r2"]), 100);
    let d = stop_selected(&fake, config(), request).await;
    assert!(d.repeated.is_empty());
    assert_eq!(d.results.len(), 9, "{d:?}");
    for id in &dev_team {
        let r = &d.results[id];
        assert_eq!(r.outcome, InstanceOutcome::StopAccepted);
        assert_eq!(r.region.as_deref(), Some("r1"));
        assert_eq!(
            r.previous.as_ref().map(|p| p.0),
            Some(InstanceState::Running)
        );
    }
    for id in &dev_r2 {
        assert_eq!(d.results[id].region.as_deref(), Some("r2"));
    }
    for id in &prod {
        assert_eq!(fake.state(id), Some(InstanceState::Running), "{id} is prod");
    }
    // Seven matches in r1 take three pages, two in r2 one.
    let reads = fake.calls_of(SELECT);
    assert_eq!(
        reads.iter().filter(|r| r[0] == "r1").count(),
        7usize.div_ceil(SELECT_PAGE)
    );
    assert_eq!(reads.iter().filter(|r| r[0] == "r2").count(), 1);
    let summary = d.summary.expect("summary");
    assert_eq!(summary.unique, 9);
    let regions: Vec<(String, u32)> = summary
        .regions
        .iter()
        .map(|r| (r.region.clone(), r.matched))
        .collect();
    assert_eq!(regions, vec![("r1".into(), 7), ("r2".into(), 2)]);
    // The selector's reads are the stops' first reads: no instance is read again.
    assert_eq!(fake.calls(fake::DESCRIBE), 0);
}

#[tokio::test(start_paused = true)]
async fn a_key_alone_and_several_tags_must_all_match() {
    let fake = Arc::new(Fake::new(false));
    let (dev_team, _, _) = fleet(&fake);
    let request = selector(
        &[("env", Some("dev")), ("team", None)],
        listed(&["r1", "r2"]),
        100,
    );
    let d = stop_selected(&fake, config(), request).await;
    let mut got: Vec<&String> = d.results.keys().collect();
    got.sort();
    let want: Vec<&String> = dev_team.iter().collect();
    assert_eq!(got, want);
}

#[tokio::test(start_paused = true)]
async fn no_match_stops_nothing_and_says_so_per_region() {
    let fake = Arc::new(Fake::new(false));
    fleet(&fake);
    let request = selector(&[("env", Some("staging"))], listed(&["r1", "r2"]), 10);
    let d = stop_selected(&fake, config(), request).await;
    assert!(d.results.is_empty());
    assert!(d.failed.is_none());
    let summary = d.summary.expect("summary");
    assert_eq!(summary.unique, 0);
    assert!(
        summary
            .regions
            .iter()
            .all(|r| r.matched == 0 && r.error.is_none())
    );
    assert_eq!(fake.calls(STOP), 0);
}

#[tokio::test(start_paused = true)]
async fn more_matches_than_expected_stop_nothing_anywhere_and_name_the_counts() {
    let fake = Arc::new(Fake::new(false));
    let (dev_team, _, dev_r2) = fleet(&fake);
    let request = selector(&[("env", Some("dev"))], listed(&["r1", "r2"]), 8);
    let d = stop_selected(&fake, config(), request).await;
    let error = d.failed.expect("the request fails");
    assert_eq!(error.reason, "SELECTOR_MATCHED_TOO_MANY");
    assert!(error.message.contains("matched 9"), "{}", error.message);
    assert!(
        error.message.contains("expect_at_most 8"),
        "{}",
        error.message
    );
    let detail = |k: &str| {
        error
            .details
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
    };
    assert_eq!(detail("matched").as_deref(), Some("9"));
    assert_eq!(detail("matched.r2").as_deref(), Some("2"));
    assert!(d.results.is_empty() && d.summary.is_none());
    assert_eq!(fake.calls(STOP), 0);
    for id in dev_team.iter().chain(&dev_r2) {
        assert_eq!(fake.state(id), Some(InstanceState::Running));
    }
}

#[tokio::test(start_paused = true)]
async fn reading_stops_once_the_guard_rail_is_exceeded() {
    let fake = Arc::new(Fake::new(false));
    let many = ids("ins-m", SELECT_PAGE * 10);
    fake.tagged(&many, "r1", &[("env", "dev")]);
    let request = selector(&[("env", Some("dev"))], listed(&["r1"]), 2);
    let d = stop_selected(&fake, config(), request).await;
    let error = d.failed.expect("the request fails");
    assert!(
        error
            .message
            .contains(&format!("r1 at least {}", many.len())),
        "the vendor's count is reported: {}",
        error.message
    );
    assert_eq!(fake.calls(SELECT), 1, "no page beyond the guard rail");
    assert_eq!(fake.calls(STOP), 0);
}

#[tokio::test(start_paused = true)]
async fn a_region_that_cannot_be_read_is_reported_and_the_others_are_stopped() {
    let fake = Arc::new(Fake::new(false));
    let (dev_team, _, dev_r2) = fleet(&fake);
    fake.fail_region("r2", fake::auth_failed());
    let request = selector(&[("env", Some("dev"))], listed(&["r1", "r2"]), 100);
    let d = stop_selected(&fake, config(), request).await;
    assert_eq!(d.results.len(), dev_team.len());
    assert!(
        d.results
            .values()
            .all(|r| r.outcome == InstanceOutcome::StopAccepted)
    );
    for id in &dev_r2 {
        assert_eq!(fake.state(id), Some(InstanceState::Running));
    }
    let summary = d.summary.expect("summary");
    let r2 = summary.regions.iter().find(|r| r.region == "r2").unwrap();
    let error = r2.error.as_ref().expect("r2's error");
    assert_eq!(error.reason, "AUTH_FAILED");
    assert_eq!(error.region.as_deref(), Some("r2"));
}

#[tokio::test(start_paused = true)]
async fn all_regions_are_the_accounts_or_else_the_vendors_list() {
    let fake = Arc::new(Fake::new(false));
    let (dev_team, _, dev_r2) = fleet(&fake);
    fake.list_regions(&["r1", "r2", "r3"]);
    let d = stop_selected(
        &fake,
        config(),
        selector(&[("env", Some("dev"))], Regions::All, 100),
    )
    .await;
    assert_eq!(d.results.len(), dev_team.len() + dev_r2.len());
    let searched: Vec<String> = d
        .summary
        .unwrap()
        .regions
        .into_iter()
        .map(|r| r.region)
        .collect();
    assert_eq!(searched, vec!["r1", "r2", "r3"]);
    assert_eq!(fake.calls(REGIONS), 1);

    let fake = Arc::new(Fake::new(false));
    let (dev_team, _, _) = fleet(&fake);
    let d = stop_selected(
        &fake,
        accounts(&["r1"]),
        selector(&[("env", Some("dev"))], Regions::All, 100),
    )
    .await;
    assert_eq!(d.results.len(), dev_team.len());
    assert_eq!(fake.calls(REGIONS), 0, "the account's regions are used");
}

#[tokio::test(start_paused = true)]
async fn a_region_the_account_may_not_act_in_is_reported_not_searched() {
    let fake = Arc::new(Fake::new(false));
    let (dev_team, _, _) = fleet(&fake);
    let d = stop_selected(
        &fake,
        accounts(&["r1"]),
        selector(&[("env", Some("dev"))], listed(&["r1", "r2"]), 100),
    )
    .await;
    assert_eq!(d.results.len(), dev_team.len());
    let summary = d.summary.unwrap();
    let r2 = summary.regions.iter().find(|r| r.region == "r2").unwrap();
    assert_eq!(r2.error.as_ref().unwrap().reason, "REGION_NOT_ALLOWED");
    assert!(fake.calls_of(SELECT).iter().all(|r| r[0] == "r1"));
}

#[tokio::test(start_paused = true)]
async fn a_dry_run_lists_what_would_be_stopped_with_each_state_and_changes_nothing() {
    // Alibaba-like: the vendor's own dry run.
    let fake = Arc::new(Fake::new(true));
    let (dev_team, _, dev_r2) = fleet(&fake);
    fake.set(&dev_team[0], InstanceState::Stopped);
    let mut request = selector(&[("env", Some("dev"))], listed(&["r1", "r2"]), 100);
    request.dry_run = true;
    let d = stop_selected(&fake, config(), request).await;
    assert_eq!(d.results.len(), dev_team.len() + dev_r2.len());
    let first = &d.results[&dev_team[0]];
    assert_eq!(first.outcome, InstanceOutcome::AlreadyStopped);
    for id in dev_team[1..].iter().chain(&dev_r2) {
        let r = &d.results[id];
        assert_eq!(r.outcome, InstanceOutcome::DryRunPassed, "{r:?}");
        assert_eq!(
            r.previous.as_ref().map(|p| p.0),
            Some(InstanceState::Running)
        );
        assert!(r.region.is_some());
        assert_eq!(fake.state(id), Some(InstanceState::Running));
    }
}

#[tokio::test(start_paused = true)]
async fn a_selector_with_wait_reports_each_instance_stopped() {
    let fake = Arc::new(Fake::new(false));
    let (dev_team, _, dev_r2) = fleet(&fake);
    let mut request = selector(&[("env", Some("dev"))], listed(&["r1", "r2"]), 100);
    request.wait = Some(std::time::Duration::from_secs(60));
    let d = stop_selected(&fake, config(), request).await;
    for id in dev_team.iter().chain(&dev_r2) {
        assert_eq!(d.results[id].outcome, InstanceOutcome::Stopped, "{id}");
    }
    assert!(d.progress > 0);
}

#[tokio::test(start_paused = true)]
async fn all_or_nothing_with_a_selector_stops_none_when_one_match_cannot_stop() {
    let fake = Arc::new(Fake::new(false));
    let (dev_team, _, _) = fleet(&fake);
    fake.set(&dev_team[2], InstanceState::Starting);
    let mut request = selector(&[("env", Some("dev")), ("team", None)], listed(&["r1"]), 10);
    request.all_or_nothing = true;
    let d = stop_selected(&fake, config(), request).await;
    assert_eq!(d.results.len(), dev_team.len());
    assert!(
        d.results
            .values()
            .all(|r| r.outcome == InstanceOutcome::Failed),
        "{d:?}"
    );
    assert_eq!(
        d.results[&dev_team[0]].error.as_ref().unwrap().reason,
        "ALL_OR_NOTHING_ABORTED"
    );
    assert_eq!(fake.calls(STOP), 0);
}
