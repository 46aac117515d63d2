"""Tencent CVM 2017-03-12 through tencentcloud-sdk-python (TC3): StopInstances,
StartInstances, DescribeInstancesStatus, DescribeInstances (docs/simulator.md, docs/vendors/tencent.md 2.x)."""

import json

import pytest
from tencentcloud.cvm.v20170312 import models as m

from simutil import (TC_REGION, http_request, tc_error, tc_instances, tc_state, tc_states,
                     tc_wait_state, wait_value)


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
