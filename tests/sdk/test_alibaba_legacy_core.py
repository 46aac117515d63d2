"""Alibaba ECS through the legacy aliyun-python-sdk-core + aliyun-python-sdk-ecs request
classes (always V2 / HMAC-SHA1, booleans as `True`, `SignatureType=` signed, RegionId added by
the client), plus raw V2 requests (no Format -> XML, form body) and the Tea SDK in V2 mode."""

import datetime
import json
import urllib.parse
import xml.etree.ElementTree as ET

from aliyunsdkecs.request.v20140526.DescribeInstanceStatusRequest import DescribeInstanceStatusRequest
from aliyunsdkecs.request.v20140526.DescribeInstancesRequest import DescribeInstancesRequest
from aliyunsdkecs.request.v20140526.DescribeInvocationResultsRequest import DescribeInvocationResultsRequest
from aliyunsdkecs.request.v20140526.DescribeInvocationsRequest import DescribeInvocationsRequest
from aliyunsdkecs.request.v20140526.RunCommandRequest import RunCommandRequest
from aliyunsdkecs.request.v20140526.StartInstancesRequest import StartInstancesRequest
from aliyunsdkecs.request.v20140526.StopInstanceRequest import StopInstanceRequest
from aliyunsdkecs.request.v20140526.StopInstancesRequest import StopInstancesRequest
from aliyunsdkecs.request.v20140526.StopInvocationRequest import StopInvocationRequest

from alibabacloud_ecs20140526 import models as tea_models
from alibabacloud_tea_openapi.utils import Utils

from simutil import (ALI_AK, ALI_REGION, ALI_SECRET, ALI_STS_AK, ALI_STS_SECRET, ali_error, core_error, http_request,
                     unique_nonce, wait_value)


def seed(admin, region=ALI_REGION, **spec):
    return admin.add_instance("alibaba", region, **spec)


def core_statuses(core, ids):
    req = DescribeInstanceStatusRequest()
    req.set_InstanceIds(list(ids))
    req.set_PageSize(50)
    body = core.do(req)
    return {s["InstanceId"]: s["Status"] for s in body["InstanceStatuses"]["InstanceStatus"]}


def core_wait(core, iid, status, timeout=5):
    return wait_value(lambda: core_statuses(core, [iid]).get(iid), lambda s: s == status,
                      timeout=timeout, desc="%s -> %s" % (iid, status))


def core_tasks(core, invoke_id):
    req = DescribeInvocationsRequest()
    req.set_InvokeId(invoke_id)
    body = core.do(req)
    invs = [i for i in body["Invocations"]["Invocation"] if i["InvokeId"] == invoke_id]
    assert len(invs) == 1
    return {t["InstanceId"]: t["InvocationStatus"] for t in invs[0]["InvokeInstances"]["InvokeInstance"]}


# ---------------------------------------------------------------------------------------------
# every action through the core SDK


def test_core_stop_instance(admin, core):
    iid = seed(admin)
    req = StopInstanceRequest()
    req.set_InstanceId(iid)
    req.set_ForceStop(False)  # sent as "False"
    body = core.do(req)
    assert body["RequestId"]
    core_wait(core, iid, "Stopped")


def test_core_stop_instance_lowercase_boolean(admin, core):
    admin.timings(stop_ms=60000, force_stop_ms=50)
    iid = seed(admin)
    req = StopInstanceRequest()
    req.set_InstanceId(iid)
    req.set_ForceStop("true")
    core.do(req)
    core_wait(core, iid, "Stopped", timeout=3)


def test_core_stop_instance_errors(admin, core):
    stopped = seed(admin, state="Stopped")
    req = StopInstanceRequest()
    req.set_InstanceId(stopped)
    with core_error("IncorrectInstanceStatus", 403):
        core.do(req)
    req = StopInstanceRequest()
    req.set_InstanceId("i-doesnotexist000000000")
    with core_error("InvalidInstanceId.NotFound", 404):
        core.do(req)
    req = StopInstanceRequest()
    req.set_InstanceId(seed(admin))
    req.set_DryRun(True)
    with core_error("DryRunOperation", 400):
        core.do(req)


def test_core_stop_instances_success_first(admin, core):
    running = seed(admin)
    stopped = seed(admin, state="Stopped")
    req = StopInstancesRequest()
    req.set_InstanceIds([running, stopped])
    req.set_BatchOptimization("SuccessFirst")
    req.set_ForceStop(True)
    body = core.do(req)
    by_id = {r["InstanceId"]: r for r in body["InstanceResponses"]["InstanceResponse"]}
    assert str(by_id[running]["Code"]) == "200"
    assert by_id[running]["PreviousStatus"] == "Running"
    assert by_id[running]["CurrentStatus"] == "Stopping"
    assert by_id[stopped]["Code"] == "IncorrectInstanceStatus"
    core_wait(core, running, "Stopped")


def test_core_stop_instances_all_together_and_dry_run(admin, core):
    ids = [seed(admin), seed(admin)]
    req = StopInstancesRequest()
    req.set_InstanceIds(ids)
    req.set_DryRun(True)
    with core_error("DRYRUN.SUCCESS", 400):
        core.do(req)
    req = StopInstancesRequest()
    req.set_InstanceIds(ids + [seed(admin, lock="financial")])
    with core_error("InstanceExpiredOrInArrears", 403):
        core.do(req)
    assert set(core_statuses(core, ids).values()) == {"Running"}


def test_core_start_instances(admin, core):
    iid = seed(admin, state="Stopped")
    req = StartInstancesRequest()
    req.set_InstanceIds([iid])
    assert core.do(req)["RequestId"]
    core_wait(core, iid, "Running")


def test_core_describe_instances(admin, core):
    iid = seed(admin, name="core-1", lock="security")
    req = DescribeInstancesRequest()
    req.set_InstanceIds(json.dumps([iid, "i-doesnotexist000000000"]))
    body = core.do(req)
    insts = body["Instances"]["Instance"]
    assert [i["InstanceId"] for i in insts] == [iid]
    assert insts[0]["Status"] == "Running"
    assert insts[0]["InstanceName"] == "core-1"
    assert [l["LockReason"] for l in insts[0]["OperationLocks"]["LockReason"]] == ["security"]
    assert body["TotalCount"] == 1


def test_core_stopped_mode_visible(admin, core):
    ok = seed(admin)
    local = seed(admin, local_disk=True)
    req = StopInstancesRequest()
    req.set_InstanceIds([ok, local])
    req.set_StoppedMode("StopCharging")
    core.do(req)
    core_wait(core, ok, "Stopped")
    core_wait(core, local, "Stopped")
    req = DescribeInstancesRequest()
    req.set_InstanceIds(json.dumps([ok, local]))
    modes = {i["InstanceId"]: i["StoppedMode"] for i in core.do(req)["Instances"]["Instance"]}
    assert modes == {ok: "StopCharging", local: "KeepCharging"}


def test_core_run_command_stop_invocation_and_results(admin, core):
    admin.timings(cancel_ms=500)
    a, b = admin.add_instances("alibaba", ALI_REGION, [{}, {}])
    req = RunCommandRequest()
    req.set_Type("RunShellScript")
    req.set_CommandContent("echo core")
    req.set_ContentEncoding("PlainText")
    req.set_InstanceIds([a, b])
    body = core.do(req)
    invoke_id = body["InvokeId"]
    assert invoke_id.startswith("t-")
    wait_value(lambda: core_tasks(core, invoke_id), lambda s: set(s.values()) == {"Running"},
               desc="Running")

    req = StopInvocationRequest()
    req.set_InvokeId(invoke_id)
    req.set_InstanceIds([a])
    assert core.do(req)["RequestId"]
    tasks = core_tasks(core, invoke_id)
    assert tasks[a] == "Stopping" and tasks[b] == "Running"
    wait_value(lambda: core_tasks(core, invoke_id), lambda s: s[a] == "Terminated", desc="Terminated")

    req = DescribeInvocationResultsRequest()
    req.set_InvokeId(invoke_id)
    body = core.do(req)
    res = {r["InstanceId"]: r for r in body["Invocation"]["InvocationResults"]["InvocationResult"]}
    assert res[a]["InvocationStatus"] == "Terminated"
    assert res[b]["InvocationStatus"] == "Running"
    assert res[a]["InvokeId"] == invoke_id


def test_core_stop_invocation_unknown(core):
    req = StopInvocationRequest()
    req.set_InvokeId("t-doesnotexist0000000000000000000")
    with core_error("InvalidInvokeId.NotFound", 404):
        core.do(req)


# ---------------------------------------------------------------------------------------------
# auth through the core SDK


def test_core_wrong_secret_is_rewritten_to_invalid_access_key_secret(core_factory):
    # aliyunsdkcore compares the server's "...string to sign is:<sts>" with its own and rewrites
    # SignatureDoesNotMatch to InvalidAccessKeySecret when they agree (docs/vendors/alibaba.md 5.3): this
    # proves the sim's StringToSign is byte-identical to the SDK's.
    core = core_factory(secret="wrong-secret")
    req = DescribeInstanceStatusRequest()
    with core_error("InvalidAccessKeySecret", 400):
        core.do(req)


def test_core_unknown_key(core_factory):
    core = core_factory(access_key_id="LTAI5tNoSuchKey000000000", secret="x")
    with core_error("InvalidAccessKeyId.NotFound", 404):
        core.do(DescribeInstanceStatusRequest())


def test_core_sts(admin, core_factory):
    iid = seed(admin)
    good = core_factory(sts=True)
    assert core_statuses(good, [iid]) == {iid: "Running"}
    bad = core_factory(access_key_id=ALI_STS_AK, secret=ALI_STS_SECRET, token="not-the-token")
    with core_error("InvalidSecurityToken.MismatchWithAccessKey", 400):
        core_statuses(bad, [iid])
    missing = core_factory(access_key_id=ALI_STS_AK, secret=ALI_STS_SECRET)
    with core_error("MissingSecurityToken", 400):
        core_statuses(missing, [iid])


def test_core_expired_timestamp(monkeypatch, core):
    from aliyunsdkcore.utils import parameter_helper

    old = (datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=20))
    monkeypatch.setattr(parameter_helper, "get_iso_8061_date", lambda: old.strftime("%Y-%m-%dT%H:%M:%SZ"))
    with core_error("InvalidTimeStamp.Expired", 400):
        core.do(DescribeInstanceStatusRequest())


def test_core_reused_nonce(monkeypatch, core):
    from aliyunsdkcore.utils import parameter_helper

    nonce = unique_nonce()
    monkeypatch.setattr(parameter_helper, "get_uuid", lambda: nonce)
    core.do(DescribeInstanceStatusRequest())
    with core_error("SignatureNonceUsed", 400):
        core.do(DescribeInstanceStatusRequest())


# ---------------------------------------------------------------------------------------------
# XML


def test_core_xml_success(admin, core):
    iid = seed(admin)
    req = DescribeInstanceStatusRequest()
    req.set_InstanceIds([iid])
    req.set_accept_format("XML")
    status, headers, body, exc = core.raw(req)
    assert exc is None and status == 200
    ct = {k.lower(): v for k, v in headers.items()}.get("content-type", "")
    assert ct.startswith("text/xml"), ct
    root = ET.fromstring(body)
    assert root.tag == "DescribeInstanceStatusResponse"
    assert root.findtext("RequestId")
    statuses = root.findall("./InstanceStatuses/InstanceStatus")
    assert [(s.findtext("InstanceId"), s.findtext("Status")) for s in statuses] == [(iid, "Running")]
    assert root.findtext("TotalCount") == "1"


def test_core_xml_lists_are_repeated_elements(admin, core):
    ids = admin.add_instances("alibaba", ALI_REGION, [{}, {}, {}])
    req = StopInstancesRequest()
    req.set_InstanceIds(ids)
    req.set_BatchOptimization("SuccessFirst")
    req.set_accept_format("XML")
    status, headers, body, exc = core.raw(req)
    assert status == 200, body
    root = ET.fromstring(body)
    assert root.tag == "StopInstancesResponse"
    items = root.findall("./InstanceResponses/InstanceResponse")
    assert sorted(i.findtext("InstanceId") for i in items) == sorted(ids)
    assert {i.findtext("Code") for i in items} == {"200"}


def test_core_xml_error(core):
    req = StopInstanceRequest()
    req.set_InstanceId("i-doesnotexist000000000")
    req.set_accept_format("XML")
    status, headers, body, exc = core.raw(req)
    assert status == 404
    ct = {k.lower(): v for k, v in headers.items()}.get("content-type")
    assert ct == "text/xml;charset=utf-8"
    root = ET.fromstring(body)
    assert root.tag == "Error"
    assert root.findtext("Code") == "InvalidInstanceId.NotFound"
    assert root.findtext("RequestId")
    assert root.findtext("HostId") is not None
    assert root.findtext("Message")


# ---------------------------------------------------------------------------------------------
# raw V2 requests (signed with the official Tea Utils.get_rpcsignature)


def _v2_params(action, extra, fmt=None, nonce=None):
    params = {
        "Action": action,
        "Version": "2014-05-26",
        "AccessKeyId": ALI_AK,
        "SignatureMethod": "HMAC-SHA1",
        "SignatureVersion": "1.0",
        "SignatureNonce": nonce or unique_nonce(),
        "Timestamp": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    if fmt is not None:
        params["Format"] = fmt
    params.update(extra)
    return params


def raw_v2(sim, method, params, in_body=False, secret=ALI_SECRET):
    signed = dict(params, Signature=Utils.get_rpcsignature(params, method, secret))
    encoded = urllib.parse.urlencode(signed, quote_via=urllib.parse.quote)
    if in_body:
        return http_request(sim.url + "/", method, encoded,
                            {"Content-Type": "application/x-www-form-urlencoded"})
    return http_request(sim.url + "/?" + encoded, method)


def test_raw_v2_get_without_format_is_xml(sim, admin):
    iid = seed(admin)
    status, headers, body = raw_v2(sim, "GET", _v2_params(
        "DescribeInstanceStatus", {"RegionId": ALI_REGION, "InstanceId.1": iid}))
    assert status == 200, body
    assert headers.get("content-type", "").startswith("text/xml")
    root = ET.fromstring(body)
    assert root.tag == "DescribeInstanceStatusResponse"
    assert root.findtext("./InstanceStatuses/InstanceStatus/InstanceId") == iid


def test_raw_v2_format_is_case_insensitive(sim, admin):
    iid = seed(admin)
    for fmt in ("json", "JSON"):
        status, headers, body = raw_v2(sim, "GET", _v2_params(
            "DescribeInstanceStatus", {"RegionId": ALI_REGION, "InstanceId.1": iid}, fmt=fmt))
        assert status == 200, body
        assert headers.get("content-type") == "application/json;charset=utf-8"
        assert json.loads(body)["InstanceStatuses"]["InstanceStatus"][0]["InstanceId"] == iid
    status, headers, body = raw_v2(sim, "GET", _v2_params(
        "DescribeInstanceStatus", {"RegionId": ALI_REGION, "InstanceId.1": iid}, fmt="xml"))
    assert status == 200 and ET.fromstring(body).tag == "DescribeInstanceStatusResponse"


def test_raw_v2_post_form_body(sim, admin):
    iid = seed(admin)
    status, headers, body = raw_v2(sim, "POST", _v2_params(
        "StopInstance", {"InstanceId": iid, "ForceStop": "true"}, fmt="JSON"), in_body=True)
    assert status == 200, body
    assert json.loads(body)["RequestId"]
    status, _, body = raw_v2(sim, "POST", _v2_params(
        "StopInstance", {"InstanceId": iid}, fmt="JSON"), in_body=True)
    assert status == 403 and json.loads(body)["Code"] == "IncorrectInstanceStatus"


def test_raw_v2_wrong_secret_message(sim):
    status, headers, body = raw_v2(sim, "GET", _v2_params(
        "DescribeInstanceStatus", {"RegionId": ALI_REGION}, fmt="JSON"), secret="wrong")
    assert status == 400
    err = json.loads(body)
    assert err["Code"] == "SignatureDoesNotMatch"
    assert "server string to sign is:" in err["Message"]
    sts = err["Message"].split("server string to sign is:", 1)[1]
    assert sts.startswith("GET&%2F&AccessKeyId%3D" + ALI_AK)
    for key in ("RequestId", "HostId", "Code", "Message", "Recommend"):
        assert key in err


# ---------------------------------------------------------------------------------------------
# Tea SDK with signature_algorithm='v2'


def test_tea_v2_stop_and_describe(admin, ali_v2):
    running = seed(admin)
    stopped = seed(admin, state="Stopped")
    resp = ali_v2.stop_instances(tea_models.StopInstancesRequest(
        region_id=ALI_REGION, instance_id=[running, stopped], batch_optimization="SuccessFirst"))
    by_id = {r.instance_id: r for r in resp.body.instance_responses.instance_response}
    assert str(by_id[running].code) == "200"
    assert by_id[stopped].code == "IncorrectInstanceStatus"
    st = wait_value(
        lambda: ali_v2.describe_instance_status(tea_models.DescribeInstanceStatusRequest(
            region_id=ALI_REGION, instance_id=[running])).body.instance_statuses.instance_status[0].status,
        lambda s: s == "Stopped", desc="Stopped via V2")
    assert st == "Stopped"


def test_tea_v2_stop_instance_and_errors(admin, ali_v2):
    iid = seed(admin)
    ali_v2.stop_instance(tea_models.StopInstanceRequest(instance_id=iid, force_stop=True))
    with ali_error("InvalidInstanceId.NotFound", 404):
        ali_v2.stop_instance(tea_models.StopInstanceRequest(instance_id="i-doesnotexist000000000"))


def test_tea_v2_wrong_secret(ali_client_factory):
    client = ali_client_factory(secret="wrong-secret", signature_algorithm="v2")
    with ali_error("SignatureDoesNotMatch", 400) as ei:
        client.describe_instance_status(tea_models.DescribeInstanceStatusRequest(region_id=ALI_REGION))
    assert "server string to sign is:" in ei.value.message


def test_tea_v2_sts(admin, ali_client_factory):
    iid = seed(admin)
    client = ali_client_factory(sts=True, signature_algorithm="v2")
    resp = client.describe_instance_status(tea_models.DescribeInstanceStatusRequest(
        region_id=ALI_REGION, instance_id=[iid]))
    assert resp.body.instance_statuses.instance_status[0].instance_id == iid
