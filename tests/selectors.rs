//! StopInstances by selector, the real gateway against the real simulator over sockets: tag
//! matching, paging beyond one page, the guard rail, an unreadable region, dry run and wait.

mod common;

use common::cluster::Replica;
use common::*;
use serde_json::json;
use stopgate::api::pb;
use tonic::Code;

/// The vendor's second region in these tests.
fn other_region(v: Vendor) -> &'static str {
    match v.name {
        "alibaba" => "cn-shanghai",
        _ => "ap-shanghai",
    }
}

/// A region stopgate knows that the simulator does not serve: reading it fails at the vendor.
fn unserved_region(v: Vendor) -> &'static str {
    match v.name {
        "alibaba" => "cn-qingdao",
        _ => "ap-nanjing",
    }
}

/// The raw state of every instance in `region`.
async fn states_in(
    h: &Harness,
    v: Vendor,
    region: &str,
) -> std::collections::HashMap<String, String> {
    h.simulator.states_in(v, region).await
}

fn tag(key: &str, value: Option<&str>) -> pb::TagMatch {
    pb::TagMatch {
        key: key.into(),
        value: value.map(str::to_string),
    }
}

fn selecting(
    v: Vendor,
    tags: Vec<pb::TagMatch>,
    regions: &[&str],
    expect_at_most: u32,
) -> pb::StopInstancesRequest {
    pb::StopInstancesRequest {
        provider: v.provider as i32,
        selector: Some(pb::InstanceSelector {
            tags,
            regions: regions.iter().map(|r| r.to_string()).collect(),
            all_regions: false,
            expect_at_most,
        }),
        ..Default::default()
    }
}

/// `dev`: env=dev,team=a in the home region; `prod`: env=prod,team=a there; `other`:
/// env=dev in the second region.
struct Fleet {
    dev: Vec<String>,
    prod: Vec<String>,
    other: Vec<String>,
}

async fn fleet(h: &Harness, v: Vendor, dev: usize) -> Fleet {
    let fleet = Fleet {
        dev: v.ids(0..dev),
        prod: v.ids(1000..1003),
        other: v.ids(2000..2004),
    };
    h.simulator
        .seed_tagged(v, v.region, &fleet.dev, json!({"env": "dev", "team": "a"}))
        .await;
    h.simulator
        .seed_tagged(
            v,
            v.region,
            &fleet.prod,
            json!({"env": "prod", "team": "a"}),
        )
        .await;
    h.simulator
        .seed_tagged(v, other_region(v), &fleet.other, json!({"env": "dev"}))
        .await;
    fleet
}

fn regions_of(s: &Stream) -> Vec<(String, u32, bool)> {
    s.summary
        .as_ref()
        .unwrap()
        .regions
        .iter()
        .map(|r| (r.region.clone(), r.matched, r.error.is_some()))
        .collect()
}

async fn a_tag_value_stops_every_match_in_every_region_and_nothing_else(v: Vendor) {
    let h = Harness::start().await;
    let f = fleet(&h, v, 5).await;
    let s = h
        .stop(selecting(
            v,
            vec![tag("env", Some("dev"))],
            &[v.region, other_region(v)],
            20,
        ))
        .await;
    assert_eq!(s.results.len(), f.dev.len() + f.other.len(), "{s:#?}");
    for id in &f.dev {
        assert_eq!(s.outcome(id), pb::InstanceOutcome::StopAccepted);
        assert_eq!(s.result(id).region, v.region);
    }
    for id in &f.other {
        assert_eq!(s.result(id).region, other_region(v));
    }
    let home = states_in(&h, v, v.region).await;
    for id in &f.prod {
        assert_eq!(home[id], v.running, "{id} is env=prod");
    }
    assert_eq!(
        regions_of(&s),
        vec![
            (v.region.to_string(), f.dev.len() as u32, false),
            (other_region(v).to_string(), f.other.len() as u32, false)
        ]
    );
}

async fn a_key_alone_and_several_tags_must_all_match(v: Vendor) {
    let h = Harness::start().await;
    let f = fleet(&h, v, 3).await;
    // `team` alone: every instance carrying it, whatever its value.
    let s = h
        .stop(pb::StopInstancesRequest {
            dry_run: true,
            ..selecting(v, vec![tag("team", None)], &[v.region, other_region(v)], 20)
        })
        .await;
    let mut got: Vec<String> = s.results.iter().map(|r| r.instance_id.clone()).collect();
    got.sort();
    let mut want: Vec<String> = f.dev.iter().chain(&f.prod).cloned().collect();
    want.sort();
    assert_eq!(got, want);
    // env=dev and team: only the home region's dev instances.
    let s = h
        .stop(selecting(
            v,
            vec![tag("env", Some("dev")), tag("team", None)],
            &[v.region, other_region(v)],
            20,
        ))
        .await;
    let mut got: Vec<String> = s.results.iter().map(|r| r.instance_id.clone()).collect();
    got.sort();
    assert_eq!(got, f.dev);
}

async fn a_selector_matching_nothing_stops_nothing(v: Vendor) {
    let h = Harness::start().await;
    fleet(&h, v, 3).await;
    let s = h
        .stop(selecting(
            v,
            vec![tag("env", Some("staging"))],
            &[v.region],
            5,
        ))
        .await;
    assert!(s.results.is_empty());
    assert_eq!(regions_of(&s), vec![(v.region.to_string(), 0, false)]);
    assert!(h.calls(v, "StopInstances").await.is_empty());
}

async fn matches_beyond_one_page_are_all_stopped_once(v: Vendor) {
    let h = Harness::start().await;
    // 100 per page: three pages.
    let f = fleet(&h, v, 250).await;
    let s = h
        .stop(selecting(
            v,
            vec![tag("env", Some("dev"))],
            &[v.region],
            250,
        ))
        .await;
    assert_eq!(s.results.len(), 250);
    for id in &f.dev {
        assert_eq!(s.outcome(id), pb::InstanceOutcome::StopAccepted, "{id}");
    }
    let reads = h.calls(v, "DescribeInstances").await;
    assert_eq!(
        reads.len(),
        3,
        "three pages, and no second read of any instance"
    );
    assert_eq!(h.calls(v, "StopInstances").await.len(), 3, "batches of 100");
}

async fn more_matches_than_expected_send_no_stop_to_any_region(v: Vendor) {
    let h = Harness::start().await;
    let f = fleet(&h, v, 5).await;
    let status = h
        .stop_with(tonic::Request::new(selecting(
            v,
            vec![tag("env", Some("dev"))],
            &[v.region, other_region(v)],
            8,
        )))
        .await
        .expect_err("the guard rail refuses");
    assert_eq!(status.code(), Code::FailedPrecondition);
    let message = status.message();
    assert!(message.contains("matched 9"), "{message}");
    assert!(
        message.contains(&format!("{} 5", v.region))
            && message.contains(&format!("{} 4", other_region(v))),
        "counts per region: {message}"
    );
    assert!(message.contains("Nothing was stopped"), "{message}");
    let details = tonic_types::StatusExt::get_details_error_info(&status).expect("ErrorInfo");
    assert_eq!(details.reason, "SELECTOR_MATCHED_TOO_MANY");
    assert_eq!(details.metadata["matched"], "9");
    assert_eq!(details.metadata[&format!("matched.{}", v.region)], "5");
    assert!(h.calls(v, "StopInstances").await.is_empty());
    let home = states_in(&h, v, v.region).await;
    assert!(f.dev.iter().all(|id| home[id] == v.running));
}

async fn a_region_that_cannot_be_read_is_reported_and_the_others_are_stopped(v: Vendor) {
    let h = Harness::start().await;
    let f = fleet(&h, v, 3).await;
    let s = h
        .stop(selecting(
            v,
            vec![tag("env", Some("dev"))],
            &[v.region, unserved_region(v)],
            20,
        ))
        .await;
    assert_eq!(s.results.len(), f.dev.len());
    assert!(
        f.dev
            .iter()
            .all(|id| s.outcome(id) == pb::InstanceOutcome::StopAccepted)
    );
    let summary = s.summary.as_ref().unwrap();
    let failed = summary
        .regions
        .iter()
        .find(|r| r.region == unserved_region(v))
        .expect("the unreadable region is listed");
    let error = failed.error.as_ref().expect("with its error");
    assert!(!error.message.is_empty());
    assert_eq!(failed.matched, 0);
}

async fn a_dry_run_lists_each_match_with_its_state_and_changes_nothing(v: Vendor) {
    let h = Harness::start().await;
    let f = fleet(&h, v, 4).await;
    let s = h
        .stop(pb::StopInstancesRequest {
            dry_run: true,
            ..selecting(
                v,
                vec![tag("env", Some("dev"))],
                &[v.region, other_region(v)],
                20,
            )
        })
        .await;
    assert_eq!(s.results.len(), f.dev.len() + f.other.len());
    for r in &s.results {
        assert_eq!(r.outcome(), pb::InstanceOutcome::DryRunPassed, "{r:?}");
        assert_eq!(r.previous_state(), pb::InstanceState::Running);
        assert_eq!(r.vendor_previous_state, v.running);
        assert!(!r.region.is_empty());
    }
    assert!(h.calls(v, "StopInstances").await.iter().all(|c| {
        // Alibaba's own dry run is a StopInstances with DryRun=true; it changes nothing.
        c["params"]["DryRun"] == "true"
    }));
    let home = states_in(&h, v, v.region).await;
    assert!(f.dev.iter().all(|id| home[id] == v.running));
}

async fn a_selector_with_wait_reports_each_instance_stopped(v: Vendor) {
    let h = Harness::start().await;
    let f = fleet(&h, v, 3).await;
    let s = h
        .stop(pb::StopInstancesRequest {
            wait: Some(pb::WaitOptions {
                until_terminal: true,
                timeout: None,
            }),
            ..selecting(
                v,
                vec![tag("env", Some("dev"))],
                &[v.region, other_region(v)],
                20,
            )
        })
        .await;
    for id in f.dev.iter().chain(&f.other) {
        assert_eq!(s.outcome(id), pb::InstanceOutcome::Stopped, "{id}");
    }
    assert!(s.progress.iter().all(|p| !p.region.is_empty()));
    let other = states_in(&h, v, other_region(v)).await;
    assert!(f.other.iter().all(|id| other[id] == v.stopped));
}

async fn all_regions_searches_every_region_the_vendor_lists(v: Vendor) {
    let h = Harness::start().await;
    let f = fleet(&h, v, 2).await;
    let s = h
        .stop(pb::StopInstancesRequest {
            provider: v.provider as i32,
            selector: Some(pb::InstanceSelector {
                tags: vec![tag("env", Some("dev"))],
                regions: vec![],
                all_regions: true,
                expect_at_most: 20,
            }),
            ..Default::default()
        })
        .await;
    assert_eq!(s.results.len(), f.dev.len() + f.other.len());
    let searched = regions_of(&s);
    assert!(searched.len() > 2, "{searched:?}");
    assert!(
        searched.iter().all(|(_, _, failed)| !failed),
        "{searched:?}"
    );
    assert_eq!(h.calls(v, "DescribeRegions").await.len(), 1);
}

async fn a_selector_is_checked_before_any_vendor_call(v: Vendor) {
    let h = Harness::start().await;
    let status = h
        .stop_with(tonic::Request::new(pb::StopInstancesRequest {
            instance_ids: vec![v.id(1)],
            ..selecting(v, vec![tag("", Some("x"))], &[v.region], 0)
        }))
        .await
        .expect_err("refused");
    assert_eq!(status.code(), Code::InvalidArgument);
    let bad = tonic_types::StatusExt::get_details_bad_request(&status).expect("BadRequest");
    let fields: Vec<&str> = bad
        .field_violations
        .iter()
        .map(|f| f.field.as_str())
        .collect();
    assert!(fields.contains(&"instance_ids"), "{fields:?}");
    assert!(fields.contains(&"selector.tags[0].key"), "{fields:?}");
    assert!(fields.contains(&"selector.expect_at_most"), "{fields:?}");
    assert!(h.calls(v, "DescribeInstances").await.is_empty());
}

async fn re_attaching_to_a_selector_stop_replays_it_and_sends_nothing_again(v: Vendor) {
    let h = Harness::start().await;
    let f = fleet(&h, v, 3).await;
    let request = pb::StopInstancesRequest {
        request_id: "tag-stop-1".into(),
        ..selecting(
            v,
            vec![tag("env", Some("dev"))],
            &[v.region, other_region(v)],
            20,
        )
    };
    let first = h.stop(request.clone()).await;
    assert_eq!(first.results.len(), f.dev.len() + f.other.len());
    let stops = h.calls(v, "StopInstances").await.len();
    // Another instance now carries the tag: the operation's selection stays what it was.
    h.simulator
        .seed_tagged(v, v.region, &v.ids(3000..3001), json!({"env": "dev"}))
        .await;
    let again = h.stop(request).await;
    assert!(again.accepted.as_ref().unwrap().reattached);
    let ids = |s: &Stream| {
        let mut ids: Vec<(String, String)> = s
            .results
            .iter()
            .map(|r| (r.instance_id.clone(), r.region.clone()))
            .collect();
        ids.sort();
        ids
    };
    assert_eq!(ids(&again), ids(&first));
    assert_eq!(
        again.summary.as_ref().unwrap().regions,
        first.summary.as_ref().unwrap().regions
    );
    assert_eq!(h.calls(v, "StopInstances").await.len(), stops);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_names_what_a_selector_matched_in_each_region_and_where_each_stop_went() {
    let v = ALIBABA;
    let sim = Sim::start().await;
    let (home, other) = (v.ids(0..2), v.ids(10..11));
    sim.seed_tagged(v, v.region, &home, json!({"incident": "4711"}))
        .await;
    sim.seed_tagged(v, other_region(v), &other, json!({"incident": "4711"}))
        .await;
    let gateway = Replica::start(sim.addr, "poll_interval_ms = 50\n").await;
    let request = selecting(
        v,
        vec![tag("incident", Some("4711"))],
        &[v.region, other_region(v), unserved_region(v)],
        10,
    );
    let s = collect_stop(&gateway.client, tonic::Request::new(request))
        .await
        .unwrap();
    let id = s.accepted.as_ref().unwrap().request_id.clone();
    let logs = gateway.log_lines();
    let of = |event: &str| -> Vec<&String> {
        logs.iter()
            .filter(|l| {
                l.contains(&format!("audit=\"{event}\"")) || l.contains(&format!("audit={event}"))
            })
            .filter(|l| l.contains(&id))
            .collect()
    };
    let resolved = of("selector.resolved");
    assert_eq!(resolved.len(), 1, "{logs:#?}");
    let line = resolved[0];
    assert!(line.contains("incident=4711"), "{line}");
    assert!(
        line.contains(&format!("{}=2", v.region))
            && line.contains(&format!("{}=1", other_region(v))),
        "{line}"
    );
    assert!(line.contains(&format!("{}:", unserved_region(v))), "{line}");
    let calls = of("vendor.call");
    assert_eq!(calls.len(), 2, "one stop per region: {logs:#?}");
    for region in [v.region, other_region(v)] {
        assert!(
            calls.iter().any(|l| l.contains(&format!("region={region}"))
                || l.contains(&format!("region=\"{region}\""))),
            "a stop in {region}: {calls:#?}"
        );
    }
}

on_both_clouds!(
    re_attaching_to_a_selector_stop_replays_it_and_sends_nothing_again,
    a_tag_value_stops_every_match_in_every_region_and_nothing_else,
    a_key_alone_and_several_tags_must_all_match,
    a_selector_matching_nothing_stops_nothing,
    matches_beyond_one_page_are_all_stopped_once,
    more_matches_than_expected_send_no_stop_to_any_region,
    a_region_that_cannot_be_read_is_reported_and_the_others_are_stopped,
    a_dry_run_lists_each_match_with_its_state_and_changes_nothing,
    a_selector_with_wait_reports_each_instance_stopped,
    all_regions_searches_every_region_the_vendor_lists,
    a_selector_is_checked_before_any_vendor_call,
);
