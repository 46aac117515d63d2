"""Tencent CVM 2017-03-12 through tencentcloud-sdk-python (TC3): StopInstances,
StartInstances, DescribeInstancesStatus, DescribeInstances (also selecting by tag filters),
DescribeRegions (docs/simulator.md, docs/vendors/tencent.md 2.x and "Selecting instances by tag")."""

import json
import time

import pytest
from tencentcloud.cvm.v20170312 import models as m

from simutil import (TC_REGION, http_request, tc_describe, tc_error, tc_instances, tc_select,
                     tc_state, tc_states, tc_tags, tc_wait_state, wait_value)


def seed(admin, region=TC_REGION, **spec):
    return admin.add_instance("tencent", region, **spec)


def stop(cvm, ids, **kw):
    req = m.StopInstancesRequest()
    req.InstanceIds = list(ids)
    for k, v in kw.items():
        setattr(req, k, v)
    return cvm.StopInstances(req)


def start(cvm, ids):
    req = m.StartInstancesRequest()
    req.InstanceIds = list(ids)
    return cvm.StartInstances(req)


def latest_op(cvm, iid):
    i = tc_instances(cvm, [iid])[iid]
    return (i.LatestOperation, i.LatestOperationState, i.LatestOperationRequestId)


# ---------------------------------------------------------------------------------------------
# StopInstances success path and LatestOperation


def test_stop_instances_latest_operation(admin, cvm):
    admin.timings(stop_ms=600)
    iid = seed(admin)
    assert tc_state(cvm, iid) == "RUNNING"
    resp = stop(cvm, [iid])
    assert resp.RequestId
    inst = tc_instances(cvm, [iid])[iid]
    assert inst.InstanceState == "STOPPING"
    assert inst.LatestOperation == "StopInstances"
    assert inst.LatestOperationState == "OPERATING"
    assert inst.LatestOperationRequestId == resp.RequestId
    tc_wait_state(cvm, iid, "STOPPED")
    assert latest_op(cvm, iid) == ("StopInstances", "SUCCESS", resp.RequestId)


def test_stop_instances_batch(admin, cvm):
    ids = admin.add_instances("tencent", TC_REGION, [{} for _ in range(3)])
    stop(cvm, ids, StopType="HARD")
    wait_value(lambda: tc_states(cvm, ids), lambda s: set(s.values()) == {"STOPPED"}, desc="all STOPPED")


def test_stop_type_hard_uses_force_stop_ms(admin, cvm):
    admin.timings(stop_ms=60000, force_stop_ms=100)
    iid = seed(admin)
    stop(cvm, [iid], StopType="HARD")
    tc_wait_state(cvm, iid, "STOPPED", timeout=3)


def test_ignores_shutdown_soft_fails(admin, cvm):
    iid = seed(admin, ignores_shutdown=True)
    resp = stop(cvm, [iid], StopType="SOFT")
    assert tc_state(cvm, iid) == "STOPPING"
    final = wait_value(lambda: latest_op(cvm, iid), lambda op: op[1] != "OPERATING", timeout=4,
                       desc="operation to finish")
    assert final == ("StopInstances", "FAILED", resp.RequestId)
    assert tc_state(cvm, iid) == "RUNNING"


def test_ignores_shutdown_soft_first_is_forced(admin, cvm):
    iid = seed(admin, ignores_shutdown=True)
    resp = stop(cvm, [iid], StopType="SOFT_FIRST")
    tc_wait_state(cvm, iid, "STOPPED", timeout=4)
    assert latest_op(cvm, iid) == ("StopInstances", "SUCCESS", resp.RequestId)


def test_stop_charging_eligible(admin, cvm):
    iid = seed(admin, charge_type="POSTPAID_BY_HOUR")
    stop(cvm, [iid], StoppedMode="STOP_CHARGING")
    tc_wait_state(cvm, iid, "STOPPED")
    assert tc_instances(cvm, [iid])[iid].StopChargingMode == "STOP_CHARGING"


def test_keep_charging_default(admin, cvm):
    iid = seed(admin)
    stop(cvm, [iid])
    tc_wait_state(cvm, iid, "STOPPED")
    assert tc_instances(cvm, [iid])[iid].StopChargingMode == "KEEP_CHARGING"


@pytest.mark.parametrize("spec", [{"local_disk": True}, {"charge_type": "PREPAID"}])
def test_stop_charging_unsupported(admin, cvm, spec):
    ok = seed(admin)
    bad = seed(admin, **spec)
    with tc_error("UnsupportedOperation.StoppedModeStopCharging") as ei:
        stop(cvm, [ok, bad], StoppedMode="STOP_CHARGING")
    assert bad in ei.value.get_message()
    assert tc_states(cvm, [ok, bad]) == {ok: "RUNNING", bad: "RUNNING"}


# ---------------------------------------------------------------------------------------------
# StopInstances errors (one error for the whole request, nothing changed)


def test_stop_already_stopped(admin, cvm):
    ok = seed(admin)
    stopped = seed(admin, state="STOPPED")
    with tc_error("UnsupportedOperation.InstanceStateStopped") as ei:
        stop(cvm, [ok, stopped])
    assert stopped in ei.value.get_message()
    assert ei.value.get_request_id()
    assert tc_state(cvm, ok) == "RUNNING"
    assert tc_instances(cvm, [ok])[ok].LatestOperation != "StopInstances"


def test_stop_stopping(admin, cvm):
    admin.timings(stop_ms=5000)
    iid = seed(admin)
    stop(cvm, [iid])
    with tc_error("UnsupportedOperation.InstanceStateStopping"):
        stop(cvm, [iid])


@pytest.mark.parametrize("lock,code", [
    ("banning", "UnsupportedOperation.InstanceStateBanning"),
    ("freezing", "UnsupportedOperation.InstanceStateFreezing"),
    ("isolating", "UnsupportedOperation.InstanceStateIsolating"),
    ("corrupted", "UnsupportedOperation.InstanceStateCorrupted"),
])
def test_stop_locked(admin, cvm, lock, code):
    iid = seed(admin, lock=lock)
    with tc_error(code):
        stop(cvm, [iid])


def test_stop_unknown(admin, cvm):
    ok = seed(admin)
    with tc_error("InvalidInstanceId.NotFound") as ei:
        stop(cvm, [ok, "ins-zzzzzzzz"])
    assert "ins-zzzzzzzz" in ei.value.get_message()
    assert tc_state(cvm, ok) == "RUNNING"


@pytest.mark.parametrize("bad", ["ins-1122", "ins-ABCDEFGH", "i-abcdefgh", "ins-abcdefghi"])
def test_stop_malformed(cvm, bad):
    with tc_error("InvalidInstanceId.Malformed"):
        stop(cvm, [bad])


def test_stop_too_many(cvm):
    with tc_error("InvalidParameterValue.LimitExceeded"):
        stop(cvm, ["ins-%08d" % n for n in range(101)])


def test_stop_force_with_stop_type(admin, cvm):
    iid = seed(admin)
    with pytest.warns(DeprecationWarning):  # the SDK warns on ForceStop; still sends it
        with tc_error("InvalidParameterCombination"):
            stop(cvm, [iid], ForceStop=True, StopType="HARD")
    assert tc_state(cvm, iid) == "RUNNING"


def test_stop_force_stop_alone_forces_after_failed_soft_stop(admin, cvm):
    # ForceStop (deprecated): "force shut down after a normal shutdown fails" (docs/vendors/tencent.md 2.1)
    iid = seed(admin, ignores_shutdown=True)
    with pytest.warns(DeprecationWarning):
        resp = stop(cvm, [iid], ForceStop=True)
    assert tc_state(cvm, iid) == "STOPPING"
    tc_wait_state(cvm, iid, "STOPPED", timeout=4)
    assert latest_op(cvm, iid) == ("StopInstances", "SUCCESS", resp.RequestId)


def test_unsupported_region(tc_factory):
    cvm = tc_factory("cvm", region="ap-nowhere")
    with tc_error("UnsupportedRegion"):
        tc_states(cvm, [])


# ---------------------------------------------------------------------------------------------
# StartInstances


def test_start_instances(admin, cvm):
    admin.timings(start_ms=500)
    iid = seed(admin, state="STOPPED")
    resp = start(cvm, [iid])
    inst = tc_instances(cvm, [iid])[iid]
    assert inst.InstanceState == "STARTING"
    assert (inst.LatestOperation, inst.LatestOperationState, inst.LatestOperationRequestId) == \
        ("StartInstances", "OPERATING", resp.RequestId)
    tc_wait_state(cvm, iid, "RUNNING")
    assert latest_op(cvm, iid) == ("StartInstances", "SUCCESS", resp.RequestId)


def test_start_running_fails(admin, cvm):
    iid = seed(admin)
    with tc_error("UnsupportedOperation.InstanceStateRunning"):
        start(cvm, [iid])


# ---------------------------------------------------------------------------------------------
# DescribeInstancesStatus / DescribeInstances


def test_describe_instances_status_paging(admin, cvm):
    ids = admin.add_instances("tencent", TC_REGION, [{} for _ in range(5)])
    seen = []
    for offset in (0, 2, 4):
        req = m.DescribeInstancesStatusRequest()
        req.Offset, req.Limit = offset, 2
        resp = cvm.DescribeInstancesStatus(req)
        assert resp.TotalCount == 5
        seen += [s.InstanceId for s in resp.InstanceStatusSet]
    assert sorted(seen) == sorted(ids)


def test_describe_instances_status_limit(cvm):
    req = m.DescribeInstancesStatusRequest()
    req.Limit = 101
    with tc_error("InvalidParameterValue.LimitExceeded"):
        cvm.DescribeInstancesStatus(req)


def test_describe_malformed_id(cvm):
    with tc_error("InvalidInstanceId.Malformed"):
        tc_states(cvm, ["bogus"])


def test_describe_instances_limit(cvm):
    req = m.DescribeInstancesRequest()
    req.Limit = 101
    with tc_error("InvalidParameterValue.LimitExceeded"):
        cvm.DescribeInstances(req)


def test_describe_instances_status_unknown_omitted(admin, cvm):
    iid = seed(admin)
    assert tc_states(cvm, [iid, "ins-zzzzzzzz"]) == {iid: "RUNNING"}


def test_describe_instances_fields(admin, cvm):
    iid = seed(admin, name="web-1", instance_type="S5.MEDIUM4", zone="ap-guangzhou-3",
               charge_type="POSTPAID_BY_HOUR")
    inst = tc_instances(cvm, [iid])[iid]
    assert inst.InstanceState == "RUNNING"
    assert inst.InstanceName == "web-1"
    assert inst.InstanceType == "S5.MEDIUM4"
    assert inst.InstanceChargeType == "POSTPAID_BY_HOUR"
    assert inst.Placement.Zone == "ap-guangzhou-3"
    assert inst.StopChargingMode == "NOT_APPLICABLE"


def test_describe_instances_paging(admin, cvm):
    ids = admin.add_instances("tencent", TC_REGION, [{} for _ in range(3)])
    req = m.DescribeInstancesRequest()
    req.Offset, req.Limit = 0, 2
    first = cvm.DescribeInstances(req)
    req.Offset = 2
    second = cvm.DescribeInstances(req)
    assert first.TotalCount == 3
    got = [i.InstanceId for i in first.InstanceSet] + [i.InstanceId for i in second.InstanceSet]
    assert sorted(got) == sorted(ids)


def test_per_region_world(admin, cvm, tc_factory):
    gz = seed(admin)
    sh = seed(admin, region="ap-shanghai")
    assert set(tc_states(cvm, [gz, sh])) == {gz}
    assert set(tc_states(tc_factory("cvm", region="ap-shanghai"), [gz, sh])) == {sh}


def test_get_method(admin, tc_factory):
    iid = seed(admin)
    cvm_get = tc_factory("cvm", method="GET")
    assert tc_states(cvm_get, [iid]) == {iid: "RUNNING"}
    stop(cvm_get, [iid])
    tc_wait_state(cvm_get, iid, "STOPPED")


def test_response_wire_format(sim, admin, cvm):
    """Tencent answers HTTP 200 with Content-Type exactly application/json, errors included."""
    # a raw unsigned request: the error must still be HTTP 200 with the vendor envelope
    status, headers, body = http_request(sim.url + "/", "POST", "{}", {
        "Content-Type": "application/json", "X-TC-Action": "DescribeInstancesStatus",
        "X-TC-Version": "2017-03-12", "X-TC-Region": TC_REGION, "X-TC-Timestamp": "1700000000"})
    assert status == 200
    assert headers.get("content-type") == "application/json"
    err = json.loads(body)["Response"]
    assert err["Error"]["Code"].startswith("AuthFailure.")
    assert err["RequestId"]


# ---------------------------------------------------------------------------------------------
# Selecting by tags: DescribeInstances Filters tag:KEY, tag-key, tag-value; Offset/Limit paging


def tagged_fleet(admin):
    """dev: env=dev,team=a; prod: env=prod,team=a; lone: env=dev only; bare: no tags."""
    return {
        "dev": admin.add_tagged("tencent", TC_REGION, 3, {"env": "dev", "team": "a"}),
        "prod": admin.add_tagged("tencent", TC_REGION, 2, {"env": "prod", "team": "a"}),
        "lone": admin.add_tagged("tencent", TC_REGION, 1, {"env": "dev"}),
        "bare": admin.add_instances("tencent", TC_REGION, [{}]),
    }


def selected(cvm, filters):
    pages, totals = tc_select(cvm, filters)
    return [i for p in pages for i in p], set(totals)


@pytest.mark.parametrize("method", ["POST", "GET"])
def test_filter_by_tag_value(admin, tc_factory, method):
    cvm = tc_factory("cvm", method=method)  # GET flattens Filters.0.Values.0
    f = tagged_fleet(admin)
    got, totals = selected(cvm, [("tag:env", ["dev"])])
    assert got == f["dev"] + f["lone"]  # creation order
    assert totals == {4}
    inst = tc_describe(cvm, [("tag:env", ["dev"])], limit=1).InstanceSet[0]
    assert tc_tags(inst) == {"env": "dev", "team": "a"}


def test_values_of_one_filter_are_alternatives(admin, cvm):
    f = tagged_fleet(admin)
    assert selected(cvm, [("tag:env", ["prod", "dev"])])[0] == f["dev"] + f["prod"] + f["lone"]


def test_filter_by_tag_key_alone(admin, cvm):
    f = tagged_fleet(admin)
    assert selected(cvm, [("tag-key", ["team"])])[0] == f["dev"] + f["prod"]
    assert selected(cvm, [("tag-key", ["nope", "team"])])[0] == f["dev"] + f["prod"]


def test_filter_by_tag_value_alone(admin, cvm):
    f = tagged_fleet(admin)
    assert selected(cvm, [("tag-value", ["prod"])])[0] == f["prod"]


def test_several_filters_must_all_hold(admin, cvm):
    f = tagged_fleet(admin)
    assert selected(cvm, [("tag:env", ["dev"]), ("tag-key", ["team"])])[0] == f["dev"]
    assert selected(cvm, [("tag:env", ["dev"]), ("tag:team", ["b"])])[0] == []
    stopped = admin.add_instances("tencent", TC_REGION, [{"state": "STOPPED"}], tags={"env": "dev"})
    assert selected(cvm, [("tag:env", ["dev"]), ("instance-state", ["STOPPED"])])[0] == stopped


def test_filter_matching_nothing(admin, cvm):
    tagged_fleet(admin)
    resp = tc_describe(cvm, [("tag:env", ["staging"])], limit=100)
    assert resp.TotalCount == 0 and not resp.InstanceSet


def test_untagged_instance_has_empty_tags(admin, cvm):
    iid = admin.add_instance("tencent", TC_REGION)
    assert tc_tags(tc_instances(cvm, [iid])[iid]) == {}


def test_tag_paging_beyond_one_page_returns_each_match_once(admin, cvm):
    matches = admin.add_tagged("tencent", TC_REGION, 250, {"env": "dev"})
    admin.add_tagged("tencent", TC_REGION, 30, {"env": "prod"})
    pages, totals = tc_select(cvm, [("tag:env", ["dev"])], limit=100)
    assert [len(p) for p in pages] == [100, 100, 50]
    assert [i for p in pages for i in p] == matches
    assert set(totals) == {250}


def test_limit_defaults_to_20(admin, cvm):
    admin.add_tagged("tencent", TC_REGION, 25, {"env": "dev"})
    resp = tc_describe(cvm, [("tag:env", ["dev"])])
    assert (len(resp.InstanceSet), resp.TotalCount) == (20, 25)
    resp = tc_describe(cvm, [("tag:env", ["dev"])], offset=20)
    assert len(resp.InstanceSet) == 5


def test_five_thousand_tagged_instances_seed_and_page_quickly(admin, cvm):
    started = time.monotonic()
    matches = admin.add_tagged("tencent", TC_REGION, 5000, {"env": "dev"})
    admin.add_tagged("tencent", TC_REGION, 5000, {"env": "prod"})
    pages, _ = tc_select(cvm, [("tag:env", ["dev"])], limit=100)
    assert len(pages) == 50
    assert [i for p in pages for i in p] == matches
    assert time.monotonic() - started < 30, "seeding and paging should take seconds"


def test_filter_limits_and_errors(admin, cvm):
    ten = [("tag:k%d" % n, ["v"]) for n in range(10)]
    tc_describe(cvm, ten)  # 10 filters: the documented maximum
    with tc_error("InvalidParameterValue.LimitExceeded"):
        tc_describe(cvm, ten + [("tag:k10", ["v"])])
    tc_describe(cvm, [("tag:env", ["a", "b", "c", "d", "e"])])  # 5 values: the maximum
    with tc_error("InvalidFilterValue.LimitExceeded"):
        tc_describe(cvm, [("tag:env", ["a", "b", "c", "d", "e", "f"])])
    for limit in (0, 101):
        with tc_error("InvalidParameterValue.LimitExceeded"):
            tc_describe(cvm, [("tag:env", ["dev"])], limit=limit)
    with tc_error("InvalidParameter"):
        tc_describe(cvm, [("tag:env", ["dev"])], ids=["ins-abcdefgh"])
    with tc_error("InvalidFilter"):
        tc_describe(cvm, [("tag-name", ["dev"])])
    with tc_error("FailedOperation.IllegalTagKey"):
        tc_describe(cvm, [("tag:", ["dev"])])  # an empty key
    with tc_error("FailedOperation.IllegalTagKey"):
        tc_describe(cvm, [("tag:" + "k" * 128, ["dev"])])  # keys have at most 127 characters
    tc_describe(cvm, [("tag:" + "k" * 127, ["v" * 255])])
    with tc_error("FailedOperation.IllegalTagKey"):
        tc_describe(cvm, [("tag-key", [""])])
    with tc_error("FailedOperation.IllegalTagValue"):
        tc_describe(cvm, [("tag:env", ["v" * 256])])


def test_tags_are_per_region(admin, cvm, tc_factory):
    here = admin.add_tagged("tencent", TC_REGION, 2, {"env": "dev"})
    there = admin.add_tagged("tencent", "ap-shanghai", 3, {"env": "dev"})
    assert selected(cvm, [("tag:env", ["dev"])])[0] == here
    assert selected(tc_factory("cvm", region="ap-shanghai"), [("tag:env", ["dev"])])[0] == there


# ---------------------------------------------------------------------------------------------
# DescribeRegions


def test_describe_regions(cvm, tc_factory):
    resp = cvm.DescribeRegions(m.DescribeRegionsRequest())
    regions = {r.Region: r for r in resp.RegionSet}
    assert resp.TotalCount == len(regions)
    assert {"ap-guangzhou", "ap-shanghai", "eu-frankfurt"} <= set(regions)
    assert {r.RegionState for r in regions.values()} == {"AVAILABLE"}
    assert regions["ap-guangzhou"].RegionName == "South China (Guangzhou)"
    # Region is not required for this action
    anywhere = tc_factory("cvm", region="")
    assert anywhere.DescribeRegions(m.DescribeRegionsRequest()).TotalCount == resp.TotalCount
