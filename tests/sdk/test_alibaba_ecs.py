"""Alibaba ECS instance actions through the Tea SDK (alibabacloud-ecs20140526, V3 signature).

Covers StopInstance, StopInstances, StartInstances, DescribeInstanceStatus, DescribeInstances
(also selecting by tags), DescribeRegions and the behaviours listed in docs/simulator.md
"Actions" (checked against docs/vendors/alibaba.md 2.x and "Selecting instances by tag").
"""

import json

import pytest
from alibabacloud_ecs20140526 import models as m

from simutil import (ALI_REGION, AdminError, ali_error, ali_instances, ali_select, ali_status,
                     ali_statuses, ali_tag_request, ali_tags, ali_wait_status, wait_value)

STOPPED_MSG = "Status of the specified instance is Stopped but the expected status is in (Running)."


def seed(admin, region=ALI_REGION, **spec):
    return admin.add_instance("alibaba", region, **spec)


# ---------------------------------------------------------------------------------------------
# StopInstance (single)


def test_stop_instance_goes_stopping_then_stopped(admin, ali):
    iid = seed(admin)
    assert ali_status(ali, iid) == "Running"
    resp = ali.stop_instance(m.StopInstanceRequest(instance_id=iid))
    assert resp.status_code == 200
    assert resp.body.request_id
    assert ali_status(ali, iid) in ("Stopping", "Stopped")
    ali_wait_status(ali, iid, "Stopped", timeout=5)


def test_stop_instance_shows_stopping_for_stop_ms(admin, ali):
    admin.timings(stop_ms=1500)
    iid = seed(admin)
    ali.stop_instance(m.StopInstanceRequest(instance_id=iid))
    assert ali_status(ali, iid) == "Stopping"
    ali_wait_status(ali, iid, "Stopped", timeout=6)


def test_stop_instance_force_uses_force_stop_ms(admin, ali):
    admin.timings(stop_ms=60000, force_stop_ms=100)
    iid = seed(admin)
    ali.stop_instance(m.StopInstanceRequest(instance_id=iid, force_stop=True))
    ali_wait_status(ali, iid, "Stopped", timeout=3)


def test_stop_instance_needs_no_region_id(admin, ali_client_factory):
    # the instance lives in cn-shanghai; the client is configured for cn-hangzhou and the Tea
    # SDK sends no RegionId for StopInstance (docs/vendors/alibaba.md 2.1).
    iid = seed(admin, region="cn-shanghai")
    client = ali_client_factory(region_id="cn-hangzhou")
    client.stop_instance(m.StopInstanceRequest(instance_id=iid))
    ali_wait_status(client, iid, "Stopped", region="cn-shanghai")


def test_stop_instance_unknown_id(ali):
    with ali_error("InvalidInstanceId.NotFound", 404):
        ali.stop_instance(m.StopInstanceRequest(instance_id="i-doesnotexist000000000"))


def test_stop_instance_already_stopped(admin, ali):
    iid = seed(admin, state="Stopped")
    with ali_error("IncorrectInstanceStatus", 403) as ei:
        ali.stop_instance(m.StopInstanceRequest(instance_id=iid))
    assert STOPPED_MSG in ei.value.message


def test_stop_instance_dry_run(admin, ali):
    iid = seed(admin)
    with ali_error("DryRunOperation", 400):
        ali.stop_instance(m.StopInstanceRequest(instance_id=iid, dry_run=True))
    assert ali_status(ali, iid) == "Running"


def test_stop_instance_dry_run_reports_real_error(admin, ali):
    iid = seed(admin, state="Stopped")
    with ali_error("IncorrectInstanceStatus", 403):
        ali.stop_instance(m.StopInstanceRequest(instance_id=iid, dry_run=True))


@pytest.mark.parametrize("lock,code", [("security", "InstanceLockedForSecurity"),
                                       ("financial", "InstanceExpiredOrInArrears")])
def test_stop_instance_locked(admin, ali, lock, code):
    iid = seed(admin, lock=lock)
    with ali_error(code, 403):
        ali.stop_instance(m.StopInstanceRequest(instance_id=iid))
    assert ali_status(ali, iid) == "Running"


def test_stop_instance_i1_needs_confirm_stop(admin, ali):
    iid = seed(admin, instance_type="ecs.i1.xlarge", local_disk=True)
    with ali_error("InstanceType.ParameterMismatch", 403):
        ali.stop_instance(m.StopInstanceRequest(instance_id=iid))
    with ali_error("InstanceType.ParameterMismatch", 403):
        ali.stop_instance(m.StopInstanceRequest(instance_id=iid, confirm_stop=False))
    assert ali_status(ali, iid) == "Running"
    ali.stop_instance(m.StopInstanceRequest(instance_id=iid, confirm_stop=True))
    ali_wait_status(ali, iid, "Stopped")


def test_confirm_stop_ignored_for_other_families(admin, ali):
    iid = seed(admin, instance_type="ecs.g7.large")
    ali.stop_instance(m.StopInstanceRequest(instance_id=iid))
    ali_wait_status(ali, iid, "Stopped")


def test_ignores_shutdown_returns_to_running(admin, ali):
    iid = seed(admin, ignores_shutdown=True)
    ali.stop_instance(m.StopInstanceRequest(instance_id=iid))
    assert ali_status(ali, iid) == "Stopping"
    # graceful_timeout_ms=400: stays Stopping, then back to Running, never Stopped
    seen = []

    def status():
        s = ali_status(ali, iid)
        seen.append(s)
        return s

    wait_value(status, lambda s: s == "Running", timeout=4, desc="back to Running")
    assert "Stopped" not in seen


def test_ignores_shutdown_force_stop_works(admin, ali):
    iid = seed(admin, ignores_shutdown=True)
    ali.stop_instance(m.StopInstanceRequest(instance_id=iid, force_stop=True))
    ali_wait_status(ali, iid, "Stopped", timeout=3)


# ---------------------------------------------------------------------------------------------
# StopInstances (batch)


def stop_instances(client, ids, region=ALI_REGION, **kw):
    return client.stop_instances(m.StopInstancesRequest(region_id=region, instance_id=list(ids), **kw))


def test_stop_instances_all_together_success(admin, ali):
    ids = [seed(admin) for _ in range(3)]
    resp = stop_instances(ali, ids)
    assert resp.status_code == 200 and resp.body.request_id
    for iid in ids:
        ali_wait_status(ali, iid, "Stopped")


def test_stop_instances_all_together_fails_whole_call(admin, ali):
    running = seed(admin)
    stopped = seed(admin, state="Stopped")
    with ali_error("IncorrectInstanceStatus", 403) as ei:
        stop_instances(ali, [running, stopped])
    assert STOPPED_MSG in ei.value.message
    assert ali_status(ali, running) == "Running"  # nothing changed


def test_stop_instances_all_together_first_failing_instance_wins(admin, ali):
    running = seed(admin)
    locked = seed(admin, lock="security")
    stopped = seed(admin, state="Stopped")
    with ali_error("InstanceLockedForSecurity", 403):
        stop_instances(ali, [running, locked, stopped])
    with ali_error("IncorrectInstanceStatus", 403):
        stop_instances(ali, [running, stopped, locked])
    assert ali_status(ali, running) == "Running"


def test_stop_instances_all_together_unknown_id(admin, ali):
    running = seed(admin)
    with ali_error("InvalidInstanceId.NotFound", 404):
        stop_instances(ali, [running, "i-doesnotexist000000000"], batch_optimization="AllTogether")
    assert ali_status(ali, running) == "Running"


def test_stop_instances_success_first_per_instance_codes(admin, ali):
    running = seed(admin)
    stopped = seed(admin, state="Stopped")
    locked = seed(admin, lock="security")
    unknown = "i-doesnotexist000000000"
    resp = stop_instances(ali, [running, stopped, locked, unknown], batch_optimization="SuccessFirst")
    assert resp.status_code == 200
    items = resp.body.instance_responses.instance_response
    by_id = {r.instance_id: r for r in items}
    assert set(by_id) == {running, stopped, locked, unknown}
    assert str(by_id[running].code) == "200"
    assert by_id[running].previous_status == "Running"
    assert by_id[running].current_status == "Stopping"
    assert by_id[stopped].code == "IncorrectInstanceStatus"
    assert by_id[stopped].previous_status == "Stopped"
    assert by_id[locked].code == "InstanceLockedForSecurity"
    assert by_id[unknown].code == "InvalidInstanceId.NotFound"
    ali_wait_status(ali, running, "Stopped")
    assert ali_status(ali, locked) == "Running"


def test_stop_instances_missing_region(admin, ali):
    iid = seed(admin)
    with ali_error("MissingParameter.RegionId", 400):
        ali.stop_instances(m.StopInstancesRequest(instance_id=[iid]))


def test_stop_instances_no_ids(ali):
    with ali_error("InvalidInstanceId.NotFound", 403):
        stop_instances(ali, [])


def test_stop_instances_too_many_ids(admin, ali):
    ids = ["i-fake%017d" % n for n in range(101)]
    with ali_error("InvalidParameter.TooManyInstanceIds", 403):
        stop_instances(ali, ids)


def test_stop_instances_hundred_ids_is_allowed(admin, ali):
    ids = admin.add_instances("alibaba", ALI_REGION, [{} for _ in range(100)])
    stop_instances(ali, ids, force_stop=True)
    for chunk in (ids[:50], ids[50:]):
        got = ali_statuses(ali, chunk)
        assert set(got) == set(chunk)
        assert set(got.values()) <= {"Stopping", "Stopped"}


def test_stop_instances_dry_run_success(admin, ali):
    ids = [seed(admin), seed(admin)]
    with ali_error("DRYRUN.SUCCESS", 400):
        stop_instances(ali, ids, dry_run=True)
    assert set(ali_statuses(ali, ids).values()) == {"Running"}


def test_stop_instances_dry_run_reports_failure(admin, ali):
    ids = [seed(admin), seed(admin, state="Stopped")]
    with ali_error("IncorrectInstanceStatus", 403):
        stop_instances(ali, ids, dry_run=True)


def test_stop_instances_dry_run_success_first_always_dryrun_success(admin, ali):
    ids = [seed(admin), seed(admin, state="Stopped"), "i-doesnotexist000000000"]
    with ali_error("DRYRUN.SUCCESS", 400):
        stop_instances(ali, ids, dry_run=True, batch_optimization="SuccessFirst")
    assert ali_status(ali, ids[0]) == "Running"


@pytest.mark.parametrize("spec,expected_mode", [
    ({}, "StopCharging"),
    ({"local_disk": True}, "KeepCharging"),
    ({"charge_type": "PrePaid"}, "KeepCharging"),
    ({"network": "classic"}, "KeepCharging"),
])
def test_stop_charging_silent_fallback(admin, ali, spec, expected_mode):
    iid = seed(admin, charge_type=spec.get("charge_type", "PostPaid"),
               **{k: v for k, v in spec.items() if k != "charge_type"})
    stop_instances(ali, [iid], stopped_mode="StopCharging")  # never an error
    ali_wait_status(ali, iid, "Stopped")
    assert ali_instances(ali, [iid])[iid].stopped_mode == expected_mode


def test_keep_charging_mode(admin, ali):
    iid = seed(admin)
    ali.stop_instance(m.StopInstanceRequest(instance_id=iid, stopped_mode="KeepCharging"))
    ali_wait_status(ali, iid, "Stopped")
    assert ali_instances(ali, [iid])[iid].stopped_mode == "KeepCharging"


def test_invalid_region(ali):
    with ali_error("InvalidRegionId.NotFound", 404):
        stop_instances(ali, ["i-doesnotexist000000000"], region="xx-nowhere-1")


# ---------------------------------------------------------------------------------------------
# StartInstances


def test_start_instances(admin, ali):
    iid = seed(admin, state="Stopped")
    resp = ali.start_instances(m.StartInstancesRequest(region_id=ALI_REGION, instance_id=[iid]))
    assert resp.status_code == 200 and resp.body.request_id
    assert ali_status(ali, iid) in ("Starting", "Running")
    ali_wait_status(ali, iid, "Running")


def test_start_instances_success_first(admin, ali):
    stopped = seed(admin, state="Stopped")
    running = seed(admin)
    resp = ali.start_instances(m.StartInstancesRequest(
        region_id=ALI_REGION, instance_id=[stopped, running], batch_optimization="SuccessFirst"))
    by_id = {r.instance_id: r for r in resp.body.instance_responses.instance_response}
    assert str(by_id[stopped].code) == "200"
    assert by_id[stopped].previous_status == "Stopped"
    assert by_id[stopped].current_status == "Starting"
    assert by_id[running].code == "IncorrectInstanceStatus"
    ali_wait_status(ali, stopped, "Running")


def test_start_running_instance_is_incorrect_status(admin, ali):
    iid = seed(admin)
    with ali_error("IncorrectInstanceStatus", 403):
        ali.start_instances(m.StartInstancesRequest(region_id=ALI_REGION, instance_id=[iid]))


def test_stop_start_round_trip(admin, ali):
    iid = seed(admin)
    ali.stop_instance(m.StopInstanceRequest(instance_id=iid))
    ali_wait_status(ali, iid, "Stopped")
    ali.start_instances(m.StartInstancesRequest(region_id=ALI_REGION, instance_id=[iid]))
    ali_wait_status(ali, iid, "Running")
    ali.stop_instance(m.StopInstanceRequest(instance_id=iid, force_stop=True))
    ali_wait_status(ali, iid, "Stopped")


# ---------------------------------------------------------------------------------------------
# DescribeInstanceStatus / DescribeInstances


def test_describe_instance_status_paging(admin, ali):
    ids = admin.add_instances("alibaba", ALI_REGION, [{} for _ in range(5)])
    seen = []
    for page in (1, 2, 3):
        resp = ali.describe_instance_status(m.DescribeInstanceStatusRequest(
            region_id=ALI_REGION, page_size=2, page_number=page))
        body = resp.body
        assert body.total_count == 5
        assert body.page_size == 2 and body.page_number == page
        seen += [s.instance_id for s in body.instance_statuses.instance_status]
    assert sorted(seen) == sorted(ids)


def test_describe_instance_status_page_size_limit(admin, ali):
    with ali_error("InvalidParam.PageSize"):
        ali.describe_instance_status(m.DescribeInstanceStatusRequest(region_id=ALI_REGION, page_size=51))
    ali.describe_instance_status(m.DescribeInstanceStatusRequest(region_id=ALI_REGION, page_size=50))


def test_describe_instance_status_omits_unknown_ids(admin, ali):
    iid = seed(admin)
    got = ali_statuses(ali, [iid, "i-doesnotexist000000000"])
    assert got == {iid: "Running"}


def test_describe_instance_status_is_per_region(admin, ali):
    hz = seed(admin)
    sh = seed(admin, region="cn-shanghai")
    assert set(ali_statuses(ali, [hz, sh], region=ALI_REGION)) == {hz}
    assert set(ali_statuses(ali, [hz, sh], region="cn-shanghai")) == {sh}


def test_describe_instances_fields(admin, ali):
    plain = seed(admin, name="web-1", instance_type="ecs.g7.large", zone="cn-hangzhou-h")
    locked = seed(admin, lock="security")
    stopped = seed(admin, state="Stopped")
    got = ali_instances(ali, [plain, locked, stopped, "i-doesnotexist000000000"])
    assert set(got) == {plain, locked, stopped}
    p = got[plain]
    assert p.status == "Running"
    assert p.region_id == ALI_REGION
    assert p.instance_name == "web-1"
    assert p.instance_type == "ecs.g7.large"
    assert p.zone_id == "cn-hangzhou-h"
    assert got[stopped].status == "Stopped"
    reasons = [lr.lock_reason for lr in got[locked].operation_locks.lock_reason]
    assert reasons == ["security"]
    assert not (p.operation_locks and p.operation_locks.lock_reason)
    assert p.stopped_mode == "Not-applicable"  # docs/vendors/alibaba.md 2.5: only meaningful once stopped


def test_describe_instances_status_filter(admin, ali):
    running = seed(admin)
    stopped = seed(admin, state="Stopped")
    resp = ali.describe_instances(m.DescribeInstancesRequest(region_id=ALI_REGION, status="Stopped"))
    ids = [i.instance_id for i in resp.body.instances.instance]
    assert stopped in ids and running not in ids


def test_describe_instances_next_token_paging(admin, ali):
    ids = admin.add_instances("alibaba", ALI_REGION, [{} for _ in range(12)])
    seen, token = [], None
    for _ in range(5):
        resp = ali.describe_instances(m.DescribeInstancesRequest(
            region_id=ALI_REGION, max_results=10, next_token=token))
        seen += [i.instance_id for i in resp.body.instances.instance]
        token = resp.body.next_token
        if not token:
            break
    assert sorted(seen) == sorted(ids)


def test_describe_instances_max_results_below_10_means_10(admin, ali):
    # docs/vendors/alibaba.md 2.5: MaxResults <10 or unset -> 10
    admin.add_instances("alibaba", ALI_REGION, [{} for _ in range(12)])
    resp = ali.describe_instances(m.DescribeInstancesRequest(region_id=ALI_REGION, max_results=5))
    assert len(resp.body.instances.instance) == 10
    assert resp.body.next_token
    resp = ali.describe_instances(m.DescribeInstancesRequest(region_id=ALI_REGION))
    assert len(resp.body.instances.instance) == 10


def test_describe_instances_max_results_above_100_is_clamped(admin, ali):
    # docs/vendors/alibaba.md 2.5: MaxResults >100 -> 100 (clamped, not an error)
    admin.add_instances("alibaba", ALI_REGION, [{} for _ in range(101)])
    resp = ali.describe_instances(m.DescribeInstancesRequest(region_id=ALI_REGION, max_results=101))
    assert len(resp.body.instances.instance) == 100
    assert resp.body.total_count == 101


def test_stop_instances_i1_without_confirm_stop(admin, ali):
    # StopInstances has no ConfirmStop parameter: an i1 instance fails per instance
    i1 = seed(admin, instance_type="ecs.i1.xlarge", local_disk=True)
    ok = seed(admin)
    resp = stop_instances(ali, [i1, ok], batch_optimization="SuccessFirst")
    by_id = {r.instance_id: r for r in resp.body.instance_responses.instance_response}
    assert by_id[i1].code == "InstanceType.ParameterMismatch"
    assert str(by_id[ok].code) == "200"
    with ali_error("InstanceType.ParameterMismatch", 403):
        stop_instances(ali, [i1])


def test_describe_instances_dry_run(admin, ali):
    with ali_error("DryRunOperation", 400):
        ali.describe_instances(m.DescribeInstancesRequest(region_id=ALI_REGION, dry_run=True))


def test_accounts_are_isolated(admin, ali, ali_client_factory):
    admin.add_credential("alibaba", "LTAI5tOtherAccount000001", "other-secret", "9999999999999999")
    other = ali_client_factory(access_key_id="LTAI5tOtherAccount000001", secret="other-secret")
    mine = seed(admin)
    theirs = admin.add_instance("alibaba", ALI_REGION, account="9999999999999999")
    assert set(ali_statuses(ali, [mine, theirs])) == {mine}
    assert set(ali_statuses(other, [mine, theirs])) == {theirs}
    with ali_error("InvalidInstanceId.NotFound", 404):
        other.stop_instance(m.StopInstanceRequest(instance_id=mine))
    other.stop_instance(m.StopInstanceRequest(instance_id=theirs))
    ali_wait_status(other, theirs, "Stopped")
    assert ali_status(ali, mine) == "Running"


# ---------------------------------------------------------------------------------------------
# Selecting by tags: DescribeInstances Tag.N.Key / Tag.N.Value, MaxResults + NextToken


def tagged_fleet(admin):
    """dev: env=dev,team=a; prod: env=prod,team=a; lone: env=dev only; bare: no tags."""
    return {
        "dev": admin.add_tagged("alibaba", ALI_REGION, 3, {"env": "dev", "team": "a"}),
        "prod": admin.add_tagged("alibaba", ALI_REGION, 2, {"env": "prod", "team": "a"}),
        "lone": admin.add_tagged("alibaba", ALI_REGION, 1, {"env": "dev"}),
        "bare": admin.add_instances("alibaba", ALI_REGION, [{}]),
    }


@pytest.mark.parametrize("client", ["ali", "ali_v2"])
def test_describe_instances_by_tag_value(admin, request, client):
    ecs = request.getfixturevalue(client)  # V3 and V2 signatures send the same Tag.N.*
    f = tagged_fleet(admin)
    pages, body = ali_select(ecs, [("env", "dev")])
    assert pages == [f["dev"] + f["lone"]]  # creation order
    assert body.total_count == 4
    assert body.next_token == ""
    inst = ali_instances(ecs, f["dev"][:1])[f["dev"][0]]
    assert ali_tags(inst) == {"env": "dev", "team": "a"}


def test_describe_instances_by_tag_key_alone_matches_any_value(admin, ali):
    f = tagged_fleet(admin)
    pages, body = ali_select(ali, [("team", None)])
    assert pages == [f["dev"] + f["prod"]]
    assert body.total_count == 5


def test_describe_instances_by_several_tags_needs_all(admin, ali):
    f = tagged_fleet(admin)
    pages, _ = ali_select(ali, [("env", "dev"), ("team", None)])
    assert pages == [f["dev"]]
    pages, _ = ali_select(ali, [("env", "dev"), ("team", "b")])
    assert pages == [[]]


def test_describe_instances_by_tag_matching_nothing(admin, ali):
    tagged_fleet(admin)
    pages, body = ali_select(ali, [("env", "staging")])
    assert pages == [[]]
    assert body.total_count == 0 and body.next_token == ""


def test_describe_instances_by_tag_with_instance_ids_and_status(admin, ali):
    f = tagged_fleet(admin)
    stopped = admin.add_instances("alibaba", ALI_REGION, [{"state": "Stopped"}], tags={"env": "dev"})
    ids = f["dev"][:2] + f["prod"] + stopped
    resp = ali.describe_instances(ali_tag_request(
        [("env", "dev")], instance_ids=json.dumps(ids), max_results=100))
    assert [i.instance_id for i in resp.body.instances.instance] == f["dev"][:2] + stopped
    resp = ali.describe_instances(ali_tag_request([("env", "dev")], status="Stopped"))
    assert [i.instance_id for i in resp.body.instances.instance] == stopped


def test_describe_instances_untagged_answer_is_unchanged(admin, ali):
    iid = seed(admin)
    inst = ali_instances(ali, [iid])[iid]
    assert inst.tags is None  # no Tags member for an instance without tags


def test_tag_paging_beyond_one_page_returns_each_match_once(admin, ali):
    matches = admin.add_tagged("alibaba", ALI_REGION, 250, {"env": "dev"})
    admin.add_tagged("alibaba", ALI_REGION, 30, {"env": "prod"})
    pages, body = ali_select(ali, [("env", "dev")], max_results=100)
    assert [len(p) for p in pages] == [100, 100, 50]
    assert [i for p in pages for i in p] == matches
    assert body.total_count == 250


def test_tag_paging_stays_consistent_while_instances_are_added(admin, ali):
    first = admin.add_tagged("alibaba", ALI_REGION, 25, {"env": "dev"})
    resp = ali.describe_instances(ali_tag_request([("env", "dev")], max_results=10))
    seen = [i.instance_id for i in resp.body.instances.instance]
    later = admin.add_tagged("alibaba", ALI_REGION, 5, {"env": "dev"})
    token = resp.body.next_token
    while token:
        resp = ali.describe_instances(ali_tag_request([("env", "dev")], max_results=10,
                                                      next_token=token))
        seen += [i.instance_id for i in resp.body.instances.instance]
        token = resp.body.next_token
    assert seen == first + later  # nothing repeated, nothing skipped


def test_tag_paging_with_page_number_and_size(admin, ali):
    matches = admin.add_tagged("alibaba", ALI_REGION, 25, {"env": "dev"})
    got = []
    for number in (1, 2, 3):
        resp = ali.describe_instances(ali_tag_request([("env", "dev")], page_number=number,
                                                      page_size=10))
        assert (resp.body.page_number, resp.body.page_size, resp.body.total_count) == (number, 10, 25)
        got += [i.instance_id for i in resp.body.instances.instance]
    assert got == matches


def test_tag_limits_and_errors(admin, ali):
    admin.add_tagged("alibaba", ALI_REGION, 1, {"k1": "v"})
    twenty = [("k%d" % n, "v") for n in range(1, 21)]
    ali.describe_instances(ali_tag_request(twenty))  # 20 tags: the documented maximum
    with ali_error("InvalidTagCount", 400):
        ali.describe_instances(ali_tag_request(twenty + [("k21", "v")]))
    with ali_error("InvalidTag.Mismatch", 400):
        ali.describe_instances(ali_tag_request([(None, "dev")]))
    with ali_error("InvalidTagKey.Malformed", 400):
        ali.describe_instances(ali_tag_request([("k" * 129, "v")]))
    with ali_error("InvalidTagValue.Malformed", 400):
        ali.describe_instances(ali_tag_request([("env", "v" * 129)]))
    with ali_error("InvalidParameter.NextToken", 400):
        ali.describe_instances(ali_tag_request([("env", "dev")], next_token="not-a-token"))


def test_tag_max_results_is_clamped_not_refused(admin, ali):
    admin.add_tagged("alibaba", ALI_REGION, 120, {"env": "dev"})
    resp = ali.describe_instances(ali_tag_request([("env", "dev")], max_results=500))
    assert len(resp.body.instances.instance) == 100
    assert resp.body.next_token
    resp = ali.describe_instances(ali_tag_request([("env", "dev")], max_results=1))
    assert len(resp.body.instances.instance) == 10


def test_tags_are_per_region(admin, ali, ali_client_factory):
    here = admin.add_tagged("alibaba", ALI_REGION, 2, {"env": "dev"})
    there = admin.add_tagged("alibaba", "cn-shanghai", 3, {"env": "dev"})
    assert ali_select(ali, [("env", "dev")])[0] == [here]
    sh = ali_client_factory(region_id="cn-shanghai")
    assert ali_select(sh, [("env", "dev")], region="cn-shanghai")[0] == [there]


def test_admin_lists_and_checks_tags(admin):
    iid = admin.add_instances("alibaba", ALI_REGION, [{"tags": {"team": "b"}}],
                              tags={"env": "dev", "team": "a"})[0]
    listed = {i["id"]: i for i in admin.instances("alibaba", ALI_REGION)["instances"]}
    assert listed[iid]["tags"] == {"env": "dev", "team": "b"}  # the instance's own tag wins
    with pytest.raises(AdminError) as ei:
        admin.add_instances("alibaba", ALI_REGION, [{"tags": {"": "x"}}])
    assert ei.value.status == 400
    with pytest.raises(AdminError):
        admin.add_instances("alibaba", ALI_REGION, [{"tags": {"k%d" % n: "v" for n in range(21)}}])


# ---------------------------------------------------------------------------------------------
# DescribeRegions


def test_describe_regions(ali):
    body = ali.describe_regions(m.DescribeRegionsRequest()).body
    regions = {r.region_id: r for r in body.regions.region}
    assert {"cn-hangzhou", "cn-shanghai", "ap-southeast-1"} <= set(regions)
    assert {r.status for r in regions.values()} == {"available"}
    assert regions["cn-shanghai"].region_endpoint == "ecs.cn-shanghai.aliyuncs.com"
    assert regions["cn-hangzhou"].local_name == "华东1（杭州）"  # AcceptLanguage defaults to zh-CN
    english = ali.describe_regions(m.DescribeRegionsRequest(accept_language="en-US")).body
    assert {r.region_id: r.local_name for r in english.regions.region}["cn-hangzhou"] == \
        "China (Hangzhou)"


def test_describe_regions_over_v2(ali_v2):
    body = ali_v2.describe_regions(m.DescribeRegionsRequest()).body
    assert "cn-hangzhou" in [r.region_id for r in body.regions.region]
