//! Request conversion and validation, on random requests: the checks of the
//! `request_validation` fuzz target (fuzz/src/request.rs), driven by proptest.

#[path = "support/prop_config.rs"]
mod prop_config;
#[path = "../fuzz/src/request.rs"]
mod request;

use prop_config::config;
use proptest::prelude::*;
use request::Verdict;
use stopgate::api::pb;

fn alibaba_id() -> impl Strategy<Value = String> {
    "i-[a-z0-9]{8,30}"
}

fn tencent_id() -> impl Strategy<Value = String> {
    "ins-[a-z0-9]{8}"
}

/// Any id-like text: well formed for either cloud, nearly so, or anything.
fn any_id() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => alibaba_id(),
        3 => tencent_id(),
        1 => "(i|ins|mi|lhins)-[a-zA-Z0-9_]{0,12}",
        1 => any::<String>(),
    ]
}

fn duration() -> impl Strategy<Value = Option<prost_types::Duration>> {
    prop::option::of(
        (any::<i64>(), any::<i32>())
            .prop_map(|(seconds, nanos)| prost_types::Duration { seconds, nanos }),
    )
}

fn wait() -> impl Strategy<Value = Option<pb::WaitOptions>> {
    prop::option::of(
        (any::<bool>(), duration()).prop_map(|(until_terminal, timeout)| pb::WaitOptions {
            until_terminal,
            timeout,
        }),
    )
}

fn region() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("cn-hangzhou".to_string()),
        Just("ap-guangzhou".to_string()),
        Just("cn-fuzzland-1".to_string()),
        "[a-z]{2}-[a-z]{3,10}(-[0-9])?",
        any::<String>(),
    ]
}

fn account() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just("default".to_string()),
        Just("ops".to_string()),
        any::<String>(),
    ]
}

fn selector() -> impl Strategy<Value = Option<pb::InstanceSelector>> {
    let tag = (
        prop_oneof![
            Just("env".to_string()),
            Just(String::new()),
            any::<String>()
        ],
        prop::option::of(prop_oneof![Just("dev".to_string()), any::<String>()]),
    )
        .prop_map(|(key, value)| pb::TagMatch { key, value });
    prop::option::of(
        (
            prop::collection::vec(tag, 0..12),
            prop::collection::vec(region(), 0..4),
            any::<bool>(),
            prop_oneof![Just(0u32), Just(5u32), Just(10_001u32), any::<u32>()],
        )
            .prop_map(|(tags, regions, all_regions, expect_at_most)| {
                pb::InstanceSelector {
                    tags,
                    regions,
                    all_regions,
                    expect_at_most,
                }
            }),
    )
}

fn any_stop() -> impl Strategy<Value = pb::StopInstancesRequest> {
    (
        (
            -1i32..=3,
            region(),
            account(),
            prop::collection::vec(any_id(), 0..12),
        ),
        (-1i32..=4, -1i32..=5, any::<[bool; 3]>(), wait(), duration()),
        selector(),
    )
        .prop_map(
            |(
                (provider, region, account, instance_ids),
                (mode, billing, flags, wait, graceful),
                selector,
            )| {
                pb::StopInstancesRequest {
                    provider,
                    region,
                    account,
                    instance_ids,
                    mode,
                    billing,
                    dry_run: flags[0],
                    all_or_nothing: flags[1],
                    confirm_local_disk_data_loss: flags[2],
                    wait,
                    graceful_timeout: graceful,
                    request_id: String::new(),
                    selector,
                }
            },
        )
}

fn any_command() -> impl Strategy<Value = pb::StopCommandExecutionRequest> {
    (
        (-1i32..=3, region(), account()),
        (
            prop_oneof!["t-[a-z0-9]{8,40}", "inv-[a-z0-9]{8}", any::<String>()],
            prop::collection::vec(any_id(), 0..12),
            any::<bool>(),
            wait(),
        ),
    )
        .prop_map(
            |((provider, region, account), (execution_id, instance_ids, dry_run, wait))| {
                pb::StopCommandExecutionRequest {
                    provider,
                    region,
                    account,
                    execution_id,
                    instance_ids,
                    dry_run,
                    wait,
                    request_id: String::new(),
                }
            },
        )
}

/// A request every check passes: a known region and well-formed ids of the same cloud.
fn valid_stop() -> impl Strategy<Value = pb::StopInstancesRequest> {
    let alibaba = prop::collection::vec(alibaba_id(), 1..20)
        .prop_map(|ids| (pb::Provider::Alibaba, "cn-hangzhou", ids));
    let tencent = prop::collection::vec(tencent_id(), 1..20)
        .prop_map(|ids| (pb::Provider::Tencent, "ap-guangzhou", ids));
    (
        prop_oneof![alibaba, tencent],
        prop_oneof![Just(""), Just("default")],
        0i32..=2,
        0i32..=3,
        prop::option::of(1i64..=3600),
    )
        .prop_map(|((provider, region, ids), account, mode, billing, wait)| {
            pb::StopInstancesRequest {
                provider: provider as i32,
                region: region.to_string(),
                account: account.to_string(),
                instance_ids: ids,
                mode,
                billing,
                wait: wait.map(|seconds| pb::WaitOptions {
                    until_terminal: true,
                    timeout: Some(prost_types::Duration { seconds, nanos: 0 }),
                }),
                ..Default::default()
            }
        })
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn any_stop_request_is_accepted_whole_or_refused_with_invalid_argument(r in any_stop()) {
        request::check_stop(r);
    }

    #[test]
    fn any_command_request_is_accepted_whole_or_refused_with_invalid_argument(r in any_command()) {
        request::check_command(r);
    }

    #[test]
    fn a_valid_stop_request_converts_and_validates(r in valid_stop()) {
        prop_assert_eq!(request::check_stop(r), Verdict::Accepted);
    }

    #[test]
    fn one_malformed_id_refuses_the_request(r in valid_stop(), at in any::<usize>(), bad in "[A-Z ]{1,20}") {
        let mut r = r;
        let at = at % r.instance_ids.len();
        r.instance_ids[at] = bad;
        prop_assert_eq!(request::check_stop(r), Verdict::Refused);
    }

    #[test]
    fn requests_survive_the_wire_and_random_bytes_are_harmless(
        r in any_stop(),
        c in any_command(),
        noise in prop::collection::vec(any::<u8>(), 0..256),
    ) {
        use prost::Message;
        request::check_bytes(&[[0u8].as_slice(), &r.encode_to_vec()].concat());
        request::check_bytes(&[[1u8].as_slice(), &c.encode_to_vec()].concat());
        request::check_bytes(&noise);
    }
}

proptest! {
    #![proptest_config(config(32))]

    // A 2 MB id must not make a 4 MB status that gRPC-core clients refuse: the one error ->
    // status mapping quotes only a prefix of any caller input.
    #[test]
    fn a_long_field_is_quoted_only_as_a_prefix(
        r in valid_stop(),
        long in "[A-Z]{300,3000}",
        which in 0usize..4,
    ) {
        let mut r = r;
        match which {
            0 => r.instance_ids[0] = long,
            1 => r.region = long,
            2 => r.account = long,
            _ => r.instance_ids = vec![long; 30],
        }
        prop_assert_eq!(request::check_stop(r), Verdict::Refused);
    }
}
