"""Admin API (/_sim/...), fault injection, rate limits and the call log, observed through the
official SDKs (docs/simulator.md "Admin API", "Rate limits")."""

import datetime
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from alibabacloud_ecs20140526 import models as am
from alibabacloud_tea_openapi.exceptions import (AlibabaCloudException, ServerException,
                                                 ThrottlingException)
from aliyunsdkcore.acs_exception.exceptions import ClientException as CoreClientException
from aliyunsdkcore.acs_exception.exceptions import ServerException as CoreServerException
from aliyunsdkecs.request.v20140526.StopInstancesRequest import StopInstancesRequest as CoreStopInstances
from Tea.exceptions import UnretryableException
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
from tencentcloud.cvm.v20170312 import models as cm

from simutil import (AdminError, ALI_ACCOUNT, ALI_REGION, TC_ACCOUNT, TC_REGION, ali_error, ali_status,
                     ali_statuses, core_error, http_request, tc_error, tc_state, tc_states)


def ali_stop(client, ids, region=ALI_REGION, **kw):
    return client.stop_instances(am.StopInstancesRequest(region_id=region, instance_id=list(ids), **kw))


def ali_describe(client, region=ALI_REGION):
    return client.describe_instance_status(am.DescribeInstanceStatusRequest(region_id=region))


def tc_stop(cvm, ids, **kw):
    req = cm.StopInstancesRequest()
    req.InstanceIds = list(ids)
    for k, v in kw.items():
        setattr(req, k, v)
    return cvm.StopInstances(req)


# ---------------------------------------------------------------------------------------------
# admin basics


def test_health(sim):
    status, headers, body = http_request(sim.url + "/_sim/health")
    assert status == 200
    assert json.loads(body) == {"status": "ok"}


def test_add_and_list_instances(admin):
    ids = admin.add_instances("alibaba", ALI_REGION, [{"id": "i-sgtest0000000000000001", "state": "Stopped"}, {}])
    assert ids[0] == "i-sgtest0000000000000001"
    assert ids[1].startswith("i-") and ids[1] != ids[0]
    listed = admin.instances("alibaba", ALI_REGION)
    text = json.dumps(listed)
    assert ids[0] in text and ids[1] in text
    tc_ids = admin.add_instances("tencent", TC_REGION, [{}])
    assert tc_ids[0].startswith("ins-") and len(tc_ids[0]) == 12


def test_reset_empty_forgets_everything(admin, ali, cvm):
    iid = admin.add_instance("alibaba", ALI_REGION)
    admin.fault("alibaba", {"error": {"code": "InternalError"}}, action="DescribeInstanceStatus")
    ali.describe_instances(am.DescribeInstancesRequest(region_id=ALI_REGION))  # something in the log
    assert admin.calls()
    admin.reset("empty")
    assert admin.calls() == []  # reset clears the call log
    assert ali_statuses(ali, [iid]) == {}  # no instance, and the fault is gone


def test_reset_demo_world(admin, ali, cvm):
    admin.reset("demo")
    a = ["i-sgdemo0000000000000a%d" % n for n in range(1, 9)]
    st = ali_statuses(ali, a)
    assert st == {**{i: "Running" for i in a if not i.endswith(("a7",))}, a[6]: "Stopped"}
    from simutil import ali_instances
    locks = ali_instances(ali, [a[7]])[a[7]].operation_locks.lock_reason
    assert [l.lock_reason for l in locks] == ["security"]
    from simutil import ali_task_statuses
    assert ali_task_statuses(ali, "t-sgdemo0000000000000000000000001") == {a[0]: "Running", a[1]: "Running"}
    t = ["ins-sgdemo0%d" % n for n in range(1, 8)]
    assert tc_states(cvm, t) == {**{i: "RUNNING" for i in t[:6]}, t[6]: "STOPPED"}


def test_demo_invocation_tencent(admin, tat):
    admin.reset("demo")
    from simutil import tc_task_statuses
    assert tc_task_statuses(tat, "inv-sgdemo01") == {"ins-sgdemo01": "RUNNING", "ins-sgdemo02": "RUNNING"}


def test_invocations_listing(admin):
    iid = admin.add_instance("alibaba", ALI_REGION)
    inv = admin.add_invocation("alibaba", ALI_REGION, [{"instance_id": iid}], command_name="x")
    assert inv.startswith("t-")
    assert inv in json.dumps(admin.invocations("alibaba", ALI_REGION))
    tid = admin.add_instance("tencent", TC_REGION)
    tinv = admin.add_invocation("tencent", TC_REGION, [{"instance_id": tid}])
    assert tinv.startswith("inv-")


# ---------------------------------------------------------------------------------------------
# faults


def test_fault_error_alibaba_server(admin, ali):
    iid = admin.add_instance("alibaba", ALI_REGION)
    admin.fault("alibaba", {"error": {"code": "InternalError", "message": "boom", "http_status": 500}},
                action="StopInstances", times=1)
    with ali_error("InternalError", 500, exc_type=ServerException) as ei:
        ali_stop(ali, [iid])
    assert "boom" in ei.value.message
    assert ali_status(ali, iid) == "Running"
    ali_stop(ali, [iid])  # times=1: the next call is served normally
    assert ali_status(ali, iid) in ("Stopping", "Stopped")


def test_fault_error_alibaba_default_status_400(admin, ali):
    admin.fault("alibaba", {"error": {"code": "InvalidParameter"}}, action="DescribeInstanceStatus", times=2)
    for _ in range(2):
        with ali_error("InvalidParameter", 400):
            ali_describe(ali)
    ali_describe(ali)


def test_fault_error_only_matching_action(admin, ali):
    admin.fault("alibaba", {"error": {"code": "InternalError", "http_status": 500}}, action="StopInstances")
    ali_describe(ali)  # other action unaffected
    with ali_error("InternalError", 500):
        ali_stop(ali, ["i-doesnotexist000000000"])


def test_fault_error_instance_scoped(admin, ali):
    a = admin.add_instance("alibaba", ALI_REGION)
    b = admin.add_instance("alibaba", ALI_REGION)
    admin.fault("alibaba", {"error": {"code": "IncorrectInstanceStatus", "http_status": 403}},
                action="StopInstance", instance_id=a)
    ali.stop_instance(am.StopInstanceRequest(instance_id=b))
    with ali_error("IncorrectInstanceStatus", 403):
        ali.stop_instance(am.StopInstanceRequest(instance_id=a))
    assert ali_status(ali, a) == "Running"


def test_fault_probability_zero_never_fires(admin, ali):
    admin.fault("alibaba", {"error": {"code": "InternalError", "http_status": 500}},
                action="DescribeInstanceStatus", probability=0)
    admin.clear_calls()
    for _ in range(5):
        ali_describe(ali)
    assert [c["outcome"] for c in admin.calls(action="DescribeInstanceStatus")] == ["ok"] * 5
    admin.fault("alibaba", {"error": {"code": "InternalError", "http_status": 500}},
                action="DescribeInstanceStatus", probability=1, times=1)
    with ali_error("InternalError", 500):
        ali_describe(ali)


def test_fault_delete_clears(admin, ali):
    admin.fault("alibaba", {"error": {"code": "InternalError", "http_status": 500}})
    with ali_error("InternalError", 500):
        ali_describe(ali)
    admin.clear_faults()
    ali_describe(ali)


def test_fault_error_core_sdk(admin, core):
    admin.fault("alibaba", {"error": {"code": "ServiceUnavailable", "http_status": 503}},
                action="StopInstances", times=1)
    req = CoreStopInstances()
    req.set_InstanceIds(["i-doesnotexist000000000"])
    with core_error("ServiceUnavailable", 503):
        core.do(req)


def test_fault_error_tencent(admin, cvm):
    iid = admin.add_instance("tencent", TC_REGION)
    admin.fault("tencent", {"error": {"code": "InternalServerError", "message": "boom", "http_status": 500}},
                action="StopInstances", times=1)
    with tc_error("InternalServerError") as ei:
        tc_stop(cvm, [iid])
    assert ei.value.get_message() == "boom"
    assert ei.value.get_request_id()
    assert tc_state(cvm, iid) == "RUNNING"
    tc_stop(cvm, [iid])


def test_fault_error_tencent_instance_scoped(admin, cvm):
    a = admin.add_instance("tencent", TC_REGION)
    b = admin.add_instance("tencent", TC_REGION)
    admin.fault("tencent", {"error": {"code": "OperationDenied.InstanceOperationInProgress"}},
                action="StopInstances", instance_id=a)
    tc_stop(cvm, [b])
    with tc_error("OperationDenied.InstanceOperationInProgress"):
        tc_stop(cvm, [a])


def test_fault_http_503_alibaba_tea(admin, ali):
    admin.fault("alibaba", {"http_status": 503}, action="DescribeInstanceStatus", times=1)
    with pytest.raises((ServerException, UnretryableException)) as ei:
        ali_describe(ali)
    e = ei.value
    if isinstance(e, ServerException):
        assert e.status_code == 503
    else:  # non-JSON body: Tea fails to parse the error body
        assert "json" in str(e).lower()
    ali_describe(ali)


def test_fault_http_503_alibaba_core(admin, core):
    admin.fault("alibaba", {"http_status": 503}, action="StopInstances", times=1)
    req = CoreStopInstances()
    req.set_InstanceIds(["i-doesnotexist000000000"])
    with pytest.raises(CoreServerException) as ei:
        core.do(req)
    assert ei.value.get_http_status() == 503


def test_fault_http_503_tencent(admin, cvm):
    admin.fault("tencent", {"http_status": 503}, action="DescribeInstancesStatus", times=1)
    with tc_error("ServerNetworkError"):
        tc_states(cvm, [])
    assert tc_states(cvm, []) == {}


def test_fault_malformed_alibaba(admin, ali):
    admin.fault("alibaba", "malformed", action="DescribeInstanceStatus", times=1)
    with pytest.raises(UnretryableException) as ei:
        ali_describe(ali)
    assert not isinstance(ei.value, AlibabaCloudException)
    assert "Failed to parse the value as json" in str(ei.value)


def test_fault_malformed_alibaba_core(admin, core):
    from aliyunsdkecs.request.v20140526.DescribeInstanceStatusRequest import DescribeInstanceStatusRequest
    admin.fault("alibaba", "malformed", action="DescribeInstanceStatus", times=1)
    with pytest.raises(ValueError):  # json.JSONDecodeError: HTTP 200 with a truncated body
        core.do(DescribeInstanceStatusRequest())


def test_fault_malformed_tencent(admin, cvm):
    admin.fault("tencent", "malformed", action="DescribeInstancesStatus", times=1)
    with tc_error("JSONDecodeError"):
        tc_states(cvm, [])


def test_fault_drop_alibaba(admin, ali):
    admin.fault("alibaba", "drop", action="DescribeInstanceStatus", times=1)
    with pytest.raises(UnretryableException) as ei:
        ali_describe(ali)
    assert not isinstance(ei.value, AlibabaCloudException)
    assert "connection" in repr(ei.value.inner_exception).lower() or \
        "disconnected" in repr(ei.value.inner_exception).lower()
    ali_describe(ali)


def test_fault_drop_alibaba_core(admin, core):
    admin.fault("alibaba", "drop", action="StopInstances", times=1)
    req = CoreStopInstances()
    req.set_InstanceIds(["i-doesnotexist000000000"])
    with pytest.raises(CoreClientException) as ei:
        core.do(req)
    assert ei.value.get_error_code() == "SDK.HttpError"


def test_fault_drop_tencent(admin, cvm):
    admin.fault("tencent", "drop", action="StopInstances", times=1)
    with tc_error("ClientNetworkError"):
        tc_stop(cvm, ["ins-zzzzzzzz"])


def test_fault_latency(admin, ali, cvm):
    admin.fault("alibaba", {"latency_ms": 800}, action="DescribeInstanceStatus", times=1)
    t0 = time.monotonic()
    ali_describe(ali)
    assert time.monotonic() - t0 >= 0.75
    t0 = time.monotonic()
    ali_describe(ali)
    assert time.monotonic() - t0 < 0.75
    admin.fault("tencent", {"latency_ms": 800}, action="DescribeInstancesStatus", times=1)
    t0 = time.monotonic()
    tc_states(cvm, [])
    assert time.monotonic() - t0 >= 0.75


# ---------------------------------------------------------------------------------------------
# fault phase: "before" (default) changes nothing, "after" applies the action and loses its answer


def _last_call(admin, provider, action):
    calls = admin.calls(provider=provider, action=action)
    assert calls, "no %s %s call in the log" % (provider, action)
    return calls[-1]


def test_fault_before_is_the_default_and_changes_nothing(admin, ali, cvm):
    a = admin.add_instance("alibaba", ALI_REGION)
    t = admin.add_instance("tencent", TC_REGION)
    admin.fault("alibaba", "drop", action="StopInstances", times=1)
    admin.fault("tencent", "drop", action="StopInstances", times=1, phase="before")
    with pytest.raises(UnretryableException):
        ali_stop(ali, [a])
    with tc_error("ClientNetworkError"):
        tc_stop(cvm, [t])
    assert ali_status(ali, a) == "Running"
    assert tc_state(cvm, t) == "RUNNING"
    for provider in ("alibaba", "tencent"):
        call = _last_call(admin, provider, "StopInstances")
        assert call["outcome"] == "dropped"
        assert call["fault_phase"] == "before"
        assert call["applied"] is False
        assert "action_outcome" not in call


def test_fault_after_drop_stops_the_instance_alibaba(admin, ali):
    iid = admin.add_instance("alibaba", ALI_REGION)
    admin.fault("alibaba", "drop", action="StopInstances", times=1, phase="after")
    with pytest.raises(UnretryableException):
        ali_stop(ali, [iid])
    assert ali_status(ali, iid) in ("Stopping", "Stopped")
    call = _last_call(admin, "alibaba", "StopInstances")
    assert (call["outcome"], call["fault_phase"], call["applied"], call["action_outcome"]) == \
        ("dropped", "after", True, "ok")


def test_fault_after_http_503_stops_the_instance_tencent(admin, cvm):
    iid = admin.add_instance("tencent", TC_REGION)
    admin.fault("tencent", {"http_status": 503}, action="StopInstances", times=1, phase="after")
    with tc_error("ServerNetworkError"):
        tc_stop(cvm, [iid])
    assert tc_state(cvm, iid) in ("STOPPING", "STOPPED")
    call = _last_call(admin, "tencent", "StopInstances")
    assert (call["outcome"], call["http_status"], call["fault_phase"], call["applied"]) == \
        ("http_503", 503, "after", True)


def test_fault_after_malformed_stops_the_instance_both_clouds(admin, ali, cvm):
    a = admin.add_instance("alibaba", ALI_REGION)
    t = admin.add_instance("tencent", TC_REGION)
    admin.fault("alibaba", "malformed", action="StopInstances", times=1, phase="after")
    admin.fault("tencent", "malformed", action="StopInstances", times=1, phase="after")
    with pytest.raises(UnretryableException):
        ali_stop(ali, [a])
    with tc_error("JSONDecodeError"):
        tc_stop(cvm, [t])
    assert ali_status(ali, a) in ("Stopping", "Stopped")
    assert tc_state(cvm, t) in ("STOPPING", "STOPPED")
    assert _last_call(admin, "alibaba", "StopInstances")["applied"] is True
    assert _last_call(admin, "tencent", "StopInstances")["applied"] is True


def test_fault_after_error_replaces_a_success_alibaba(admin, ali):
    iid = admin.add_instance("alibaba", ALI_REGION)
    admin.fault("alibaba", {"error": {"code": "InternalError", "http_status": 500}},
                action="StopInstances", times=1, phase="after")
    with ali_error("InternalError", 500):
        ali_stop(ali, [iid])
    assert ali_status(ali, iid) in ("Stopping", "Stopped")
    call = _last_call(admin, "alibaba", "StopInstances")
    assert (call["outcome"], call["applied"], call["action_outcome"]) == ("InternalError", True, "ok")


def test_fault_after_a_refused_action_records_that_nothing_was_applied(admin, ali, cvm):
    a = admin.add_instance("alibaba", ALI_REGION, state="Stopped")
    t = admin.add_instance("tencent", TC_REGION, state="STOPPED")
    admin.fault("alibaba", "drop", action="StopInstances", times=1, phase="after")
    admin.fault("tencent", "drop", action="StopInstances", times=1, phase="after")
    with pytest.raises(UnretryableException):
        ali_stop(ali, [a])
    with tc_error("ClientNetworkError"):
        tc_stop(cvm, [t])
    ali_call = _last_call(admin, "alibaba", "StopInstances")
    assert (ali_call["applied"], ali_call["action_outcome"]) == (False, "IncorrectInstanceStatus")
    tc_call = _last_call(admin, "tencent", "StopInstances")
    assert (tc_call["applied"], tc_call["action_outcome"]) == (False, "UnsupportedOperation.InstanceStateStopped")


def test_fault_after_drop_cancels_the_command_alibaba(admin, ali):
    from simutil import ali_task_statuses
    iid = admin.add_instance("alibaba", ALI_REGION)
    inv = admin.add_invocation("alibaba", ALI_REGION, [{"instance_id": iid}])
    admin.fault("alibaba", "drop", action="StopInvocation", times=1, phase="after")
    with pytest.raises(UnretryableException):
        ali.stop_invocation(am.StopInvocationRequest(region_id=ALI_REGION, invoke_id=inv))
    assert ali_task_statuses(ali, inv)[iid] in ("Stopping", "Terminated")
    call = _last_call(admin, "alibaba", "StopInvocation")
    assert (call["outcome"], call["fault_phase"], call["applied"]) == ("dropped", "after", True)


def test_fault_after_http_502_cancels_the_command_tencent(admin, tat):
    from tencentcloud.tat.v20201028 import models as tm
    from simutil import tc_task_statuses
    iid = admin.add_instance("tencent", TC_REGION)
    inv = admin.add_invocation("tencent", TC_REGION, [{"instance_id": iid}])
    admin.fault("tencent", {"http_status": 502}, action="CancelInvocation", times=1, phase="after")
    req = tm.CancelInvocationRequest()
    req.InvocationId = inv
    with tc_error("ServerNetworkError"):
        tat.CancelInvocation(req)
    assert tc_task_statuses(tat, inv)[iid] in ("CANCELLING", "TERMINATED")
    call = _last_call(admin, "tencent", "CancelInvocation")
    assert (call["outcome"], call["fault_phase"], call["applied"]) == ("http_502", "after", True)


def test_fault_after_latency_applies_the_action_then_answers(admin, cvm):
    iid = admin.add_instance("tencent", TC_REGION)
    admin.fault("tencent", {"latency_ms": 300}, action="StopInstances", times=1, phase="after")
    tc_stop(cvm, [iid])
    call = _last_call(admin, "tencent", "StopInstances")
    assert (call["outcome"], call["applied"]) == ("ok", True)


@pytest.mark.parametrize("provider,code", [("alibaba", "Throttling.User"), ("alibaba", "Throttling"),
                                           ("tencent", "RequestLimitExceeded"),
                                           ("tencent", "RequestLimitExceeded.UinLimitExceeded")])
def test_fault_after_refuses_throttling(admin, provider, code):
    with pytest.raises(AdminError) as ei:
        admin.fault(provider, {"error": {"code": code}}, action="StopInstances", phase="after")
    assert ei.value.status == 400
    message = json.loads(ei.value.body)["error"]
    assert code in message and "after" in message and "before" in message
    assert admin.call("GET", "/_sim/faults")["faults"] == []
    admin.fault(provider, {"error": {"code": code}}, action="StopInstances", phase="before")


def test_fault_phase_must_be_before_or_after(admin):
    with pytest.raises(AdminError) as ei:
        admin.fault("tencent", "drop", phase="during")
    assert ei.value.status == 400
    assert "during" in ei.value.body


# ---------------------------------------------------------------------------------------------
# rate limits


def _fire(fn, n, workers=1):
    """Run fn n times; return (allowed, throttled, elapsed) where throttled are exceptions."""
    results = []
    lock = threading.Lock()

    def one(_):
        try:
            fn()
            r = None
        except Exception as e:  # noqa: BLE001
            r = e
        with lock:
            results.append(r)

    t0 = time.monotonic()
    if workers == 1:
        for i in range(n):
            one(i)
    else:
        with ThreadPoolExecutor(workers) as ex:
            list(ex.map(one, range(n)))
    return results, time.monotonic() - t0


def test_ratelimit_alibaba_tea_throttling_exception(admin, ali):
    admin.ratelimit("alibaba", 2, action="DescribeInstanceStatus")
    results, _ = _fire(lambda: ali_describe(ali), 8)
    throttled = [e for e in results if e is not None]
    assert throttled, "no call was throttled at 2/s"
    for e in throttled:
        assert isinstance(e, ThrottlingException), repr(e)
        assert e.code == "Throttling.User"
        assert e.status_code == 400
        assert isinstance(e.retry_after, int) and e.retry_after > 0
    ali.describe_instances(am.DescribeInstancesRequest(region_id=ALI_REGION))  # other action: own bucket
    ali_describe(ali, region="cn-shanghai")  # other region: own bucket


def test_ratelimit_alibaba_core_not_retried(admin, core_factory):
    from aliyunsdkecs.request.v20140526.DescribeInstanceStatusRequest import DescribeInstanceStatusRequest
    core = core_factory(auto_retry=True)  # core retries reads on "Throttling" only, not Throttling.User
    admin.ratelimit("alibaba", 1, action="DescribeInstanceStatus")
    core.do(DescribeInstanceStatusRequest())
    admin.clear_calls()
    with core_error("Throttling.User", 400):
        core.do(DescribeInstanceStatusRequest())
    assert len(admin.calls(provider="alibaba", action="DescribeInstanceStatus")) == 1


def test_ratelimit_remove_with_null(admin, ali):
    admin.ratelimit("alibaba", 1, action="DescribeInstanceStatus")
    ali_describe(ali)
    with pytest.raises(ThrottlingException):
        for _ in range(5):
            ali_describe(ali)
    admin.ratelimit("alibaba", None, action="DescribeInstanceStatus")
    for _ in range(10):
        ali_describe(ali)


def test_ratelimit_provider_wide(admin, ali):
    admin.ratelimit("alibaba", 1)
    results, _ = _fire(lambda: ali_describe(ali), 4)
    assert any(isinstance(e, ThrottlingException) for e in results)
    results, _ = _fire(lambda: ali.describe_instances(am.DescribeInstancesRequest(region_id=ALI_REGION)), 4)
    assert any(isinstance(e, ThrottlingException) for e in results)


def test_ratelimit_alibaba_default_50_per_second(admin, ali_client_factory):
    local = threading.local()

    def call():
        if not hasattr(local, "c"):
            local.c = ali_client_factory()
        ali_describe(local.c)

    results, elapsed = _fire(call, 120, workers=12)
    throttled = [e for e in results if e is not None]
    assert all(isinstance(e, ThrottlingException) and e.code == "Throttling.User" for e in throttled), throttled[:3]
    allowed = len(results) - len(throttled)
    assert allowed >= 50, "burst should allow one second's worth (50), allowed %d" % allowed
    assert allowed <= 50 + 50 * elapsed + 2, "allowed %d in %.2fs at 50/s" % (allowed, elapsed)


def test_ratelimit_tencent(admin, cvm):
    admin.ratelimit("tencent", 1, action="DescribeInstancesStatus")
    results, _ = _fire(lambda: tc_states(cvm, []), 5)
    codes = [e.get_code() for e in results if e is not None]
    assert codes and set(codes) == {"RequestLimitExceeded"}


def test_ratelimit_tencent_default_stop_instances_10_per_second(admin, cvm):
    def call():
        try:
            tc_stop(cvm, ["ins-zzzzzzzz"])
        except TencentCloudSDKException as e:
            if e.get_code() != "InvalidInstanceId.NotFound":
                raise

    results, elapsed = _fire(call, 30)
    throttled = [e for e in results if e is not None]
    assert all(isinstance(e, TencentCloudSDKException) and e.get_code() == "RequestLimitExceeded"
               for e in throttled), throttled[:3]
    allowed = len(results) - len(throttled)
    assert 10 <= allowed <= 10 + 10 * elapsed + 1, "allowed %d in %.2fs" % (allowed, elapsed)
    assert throttled


def test_ratelimit_tencent_default_describe_40_per_second(admin, tc_factory):
    local = threading.local()

    def call():
        if not hasattr(local, "c"):
            local.c = tc_factory("cvm")
        tc_states(local.c, [])

    results, elapsed = _fire(call, 90, workers=10)
    throttled = [e for e in results if e is not None]
    assert all(isinstance(e, TencentCloudSDKException) and e.get_code() == "RequestLimitExceeded"
               for e in throttled), throttled[:3]
    allowed = len(results) - len(throttled)
    assert 40 <= allowed <= 40 + 40 * elapsed + 2, "allowed %d in %.2fs" % (allowed, elapsed)


def test_ratelimit_tencent_default_tat_20_per_second(admin, tat):
    from tencentcloud.tat.v20201028 import models as tm

    results, elapsed = _fire(lambda: tat.DescribeInvocations(tm.DescribeInvocationsRequest()), 40)
    throttled = [e for e in results if e is not None]
    assert all(isinstance(e, TencentCloudSDKException) and e.get_code() == "RequestLimitExceeded"
               for e in throttled), throttled[:3]
    allowed = len(results) - len(throttled)
    assert 20 <= allowed <= 20 + 20 * elapsed + 1, "allowed %d in %.2fs" % (allowed, elapsed)


# ---------------------------------------------------------------------------------------------
# call log


def _parse_rfc3339(s):
    return datetime.datetime.fromisoformat(s.replace("Z", "+00:00"))


def test_call_log_alibaba(admin, ali, ali_v2):
    iid = admin.add_instance("alibaba", ALI_REGION)
    admin.clear_calls()
    ali_stop(ali, [iid], force_stop=True, batch_optimization="SuccessFirst")
    with ali_error("InvalidInstanceId.NotFound", 404):
        ali_v2.stop_instance(am.StopInstanceRequest(instance_id="i-doesnotexist000000000"))
    calls = admin.calls(provider="alibaba")
    assert [c["action"] for c in calls] == ["StopInstances", "StopInstance"]
    c0, c1 = calls
    assert c0["provider"] == "alibaba" and c0["service"] == "ecs"
    assert c0["region"] == ALI_REGION
    assert c0["account"] == ALI_ACCOUNT
    assert c0["outcome"] == "ok" and c0["http_status"] == 200
    p = c0["params"]
    assert p["InstanceId.1"] == iid
    assert p["ForceStop"] == "True"
    assert p["BatchOptimization"] == "SuccessFirst"
    assert c1["outcome"] == "InvalidInstanceId.NotFound" and c1["http_status"] == 404
    assert c1["params"]["InstanceId"] == "i-doesnotexist000000000"
    for key in ("Signature", "AccessKeyId", "SignatureNonce", "Timestamp", "Action", "Version",
                "Format", "SignatureMethod", "SignatureVersion"):
        assert key not in c1["params"], key
    assert c1["seq"] > c0["seq"]
    _parse_rfc3339(c0["time"])


def test_call_log_tencent(admin, cvm, tat):
    iid = admin.add_instance("tencent", TC_REGION)
    admin.clear_calls()
    tc_stop(cvm, [iid], StopType="HARD")
    with tc_error("ResourceNotFound.InvocationNotFound"):
        from tencentcloud.tat.v20201028 import models as tm
        req = tm.CancelInvocationRequest()
        req.InvocationId = "inv-zzzzzzzz"
        tat.CancelInvocation(req)
    calls = admin.calls(provider="tencent")
    assert [(c["service"], c["action"]) for c in calls] == [("cvm", "StopInstances"), ("tat", "CancelInvocation")]
    assert calls[0]["params"] == {"InstanceIds": [iid], "StopType": "HARD"}
    assert calls[0]["region"] == TC_REGION and calls[0]["account"] == TC_ACCOUNT
    assert calls[0]["outcome"] == "ok" and calls[0]["http_status"] == 200
    assert calls[1]["outcome"] == "ResourceNotFound.InvocationNotFound"
    assert calls[1]["http_status"] == 200


def test_call_log_filters_and_clear(admin, ali, cvm):
    admin.clear_calls()
    ali_describe(ali)
    tc_states(cvm, [])
    ali_describe(ali)
    all_calls = admin.calls()
    assert [c["action"] for c in all_calls] == ["DescribeInstanceStatus", "DescribeInstancesStatus",
                                                "DescribeInstanceStatus"]
    seqs = [c["seq"] for c in all_calls]
    assert seqs == sorted(seqs) and len(set(seqs)) == 3
    assert len(admin.calls(provider="tencent")) == 1
    assert len(admin.calls(action="DescribeInstanceStatus")) == 2
    # `since` is not specified further in docs/simulator.md: a seq (preferred) or an RFC 3339 time
    try:
        since = admin.calls(since=seqs[0])
    except AdminError:
        since = admin.calls(since=all_calls[0]["time"])
    assert [c["seq"] for c in since] in (seqs[1:], seqs)  # `since` may be exclusive or inclusive
    assert seqs[-1] in [c["seq"] for c in since]
    admin.clear_calls()
    assert admin.calls() == []


def test_call_log_fault_outcomes(admin, ali, cvm):
    admin.clear_calls()
    admin.fault("alibaba", "drop", action="DescribeInstanceStatus", times=1)
    admin.fault("tencent", "malformed", action="DescribeInstancesStatus", times=1)
    admin.fault("tencent", {"http_status": 503}, action="DescribeInstances", times=1)
    with pytest.raises(UnretryableException):
        ali_describe(ali)
    with tc_error("JSONDecodeError"):
        tc_states(cvm, [])
    with tc_error("ServerNetworkError"):
        cvm.DescribeInstances(cm.DescribeInstancesRequest())
    outcomes = [(c["action"], c["outcome"]) for c in admin.calls()]
    assert outcomes == [("DescribeInstanceStatus", "dropped"), ("DescribeInstancesStatus", "malformed"),
                        ("DescribeInstances", "http_503")]


def test_call_log_throttled_outcome(admin, ali):
    admin.ratelimit("alibaba", 1, action="DescribeInstanceStatus")
    admin.clear_calls()
    results, _ = _fire(lambda: ali_describe(ali), 4)
    outcomes = [c["outcome"] for c in admin.calls(action="DescribeInstanceStatus")]
    assert len(outcomes) == 4
    assert outcomes.count("Throttling.User") == sum(1 for r in results if r is not None) >= 1
