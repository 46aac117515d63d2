"""Constants and helpers shared by the SDK fidelity tests (no fixtures here)."""

import contextlib
import json
import urllib.parse
import time
import urllib.error
import urllib.request
import uuid

# Credentials, docs/simulator.md "Credentials".
ALI_AK = "LTAI5tStopgateSimulator01"
ALI_SECRET = "stopgate-sim-alibaba-secret"
ALI_STS_AK = "STS.StopgateSimulator01"
ALI_STS_SECRET = "stopgate-sim-alibaba-sts-secret"
ALI_STS_TOKEN = "stopgate-sim-alibaba-sts-token"
ALI_ACCOUNT = "1234567890123456"
TC_ID = "AKIDstopgateSimulator000000000000001"
TC_KEY = "stopgateSimTencentSecretKey0000001"
TC_TMP_ID = "AKIDstopgateSimulatorTmp000000000001"
TC_TMP_KEY = "stopgateSimTencentTmpSecretKey0001"
TC_TOKEN = "stopgate-sim-tencent-session-token"
TC_ACCOUNT = "100000000001"

ALI_REGION = "cn-hangzhou"
TC_REGION = "ap-guangzhou"

FAST_TIMINGS = {
    "stop_ms": 200,
    "force_stop_ms": 50,
    "start_ms": 200,
    "deliver_ms": 100,
    "cancel_ms": 200,
    "graceful_timeout_ms": 400,
}


_NO_PROXY_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def http_request(url, method="GET", body=None, headers=None, timeout=10):
    """Plain HTTP call; returns (status, headers(dict, lowercased), raw body bytes)."""
    data = body if isinstance(body, (bytes, type(None))) else body.encode("utf-8")
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with _NO_PROXY_OPENER.open(req, timeout=timeout) as resp:
            return resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, {k.lower(): v for k, v in e.headers.items()}, e.read()


class AdminError(Exception):
    def __init__(self, status, body):
        super().__init__("admin call failed: HTTP %s %s" % (status, body))
        self.status = status
        self.body = body


class Admin:
    def __init__(self, base):
        self.base = base

    def call(self, method, path, body=None, query=None):
        url = self.base + path
        if query:
            url += "?" + urllib.parse.urlencode({k: v for k, v in query.items() if v is not None})
        payload = None if body is None else json.dumps(body)
        headers = {"Content-Type": "application/json"} if payload is not None else {}
        status, _, raw = http_request(url, method, payload, headers)
        if status >= 300:
            raise AdminError(status, raw.decode("utf-8", "replace"))
        if not raw.strip():
            return None
        return json.loads(raw)

    def health(self):
        return self.call("GET", "/_sim/health")

    def reset(self, seed="empty"):
        return self.call("POST", "/_sim/reset", {"seed": seed})

    def timings(self, **timings):
        return self.call("POST", "/_sim/timings", timings)

    def add_instances(self, provider, region, instances, account=None, tags=None):
        """Seeds `instances` (InstanceSpecs); `tags` are carried by every one of them."""
        body = {"provider": provider, "region": region, "instances": instances}
        if account is not None:
            body["account"] = account
        if tags is not None:
            body["tags"] = tags
        return self.call("POST", "/_sim/instances", body)["instances"]

    def add_tagged(self, provider, region, count, tags):
        """Seeds `count` running instances carrying `tags`; returns their ids."""
        return self.add_instances(provider, region, [{} for _ in range(count)], tags=tags)

    def add_instance(self, provider, region, **spec):
        account = spec.pop("account", None)
        return self.add_instances(provider, region, [spec], account=account)[0]

    def instances(self, provider, region, account=None):
        return self.call("GET", "/_sim/instances",
                         query={"provider": provider, "region": region, "account": account})

    def add_invocation(self, provider, region, tasks, account=None, **spec):
        body = dict(spec, provider=provider, region=region, tasks=tasks)
        if account is not None:
            body["account"] = account
        return self.call("POST", "/_sim/invocations", body)["id"]

    def invocations(self, provider, region, account=None):
        return self.call("GET", "/_sim/invocations",
                         query={"provider": provider, "region": region, "account": account})

    def ratelimit(self, provider, per_second, action=None):
        body = {"provider": provider, "per_second": per_second}
        if action is not None:
            body["action"] = action
        return self.call("POST", "/_sim/ratelimits", body)

    def fault(self, provider, kind, action=None, **extra):
        body = dict(extra, provider=provider, kind=kind)
        if action is not None:
            body["action"] = action
        return self.call("POST", "/_sim/faults", body)["id"]

    def clear_faults(self):
        return self.call("DELETE", "/_sim/faults")

    def calls(self, provider=None, action=None, since=None):
        got = self.call("GET", "/_sim/calls",
                        query={"provider": provider, "action": action, "since": since})
        if isinstance(got, dict):  # tolerate {"calls": [...]} as well as a bare array
            got = got.get("calls", got.get("entries", []))
        return got

    def clear_calls(self):
        return self.call("DELETE", "/_sim/calls")

    def add_role(self, provider, arn, lifetime_seconds=None, **extra):
        body = dict(extra, provider=provider, arn=arn)
        if lifetime_seconds is not None:
            body["lifetime_seconds"] = lifetime_seconds
        return self.call("POST", "/_sim/roles", body)

    def add_oidc_provider(self, provider, id, tokens):
        return self.call("POST", "/_sim/oidc-providers", {"provider": provider, "id": id, "tokens": tokens})

    def set_instance_role(self, provider, role_name, role_arn):
        return self.call("POST", "/_sim/instance-roles",
                         {"provider": provider, "role_name": role_name, "role_arn": role_arn})

    def add_credential(self, provider, access_key_id, secret, account, token=None):
        body = {"provider": provider, "access_key_id": access_key_id, "secret": secret,
                "account": account}
        if token is not None:
            body["token"] = token
        return self.call("POST", "/_sim/credentials", body)


# --------------------------------------------------------------------------------------------
# polling


def wait_past(expiration_unix_seconds):
    """Waits until the wall clock has passed a credential's expiry (the event a test of expiry
    waits for), checking now and then."""
    while time.time() < expiration_unix_seconds + 1:
        time.sleep(0.2)


def wait_until(fn, timeout=5.0, interval=0.05, desc="condition"):
    """Call fn() until it returns a truthy value; return it. Fails after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        last = fn()
        if last:
            return last
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %.1fs waiting for %s (last: %r)" % (timeout, desc, last))
        time.sleep(interval)


def wait_value(fn, pred, timeout=5.0, interval=0.05, desc="value"):
    """Poll fn() until pred(value); return the value. On timeout the error lists every distinct
    value seen (in order), which shows the state machine's path."""
    deadline = time.monotonic() + timeout
    seen = []
    while True:
        value = fn()
        if not seen or seen[-1] != value:
            seen.append(value)
        if pred(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %.1fs waiting for %s; saw %r" % (timeout, desc, seen))
        time.sleep(interval)


def unique_nonce():
    return uuid.uuid4().hex




# --------------------------------------------------------------------------------------------
# Alibaba (Tea SDK) read helpers


def ali_statuses(client, ids, region=ALI_REGION):
    """DescribeInstanceStatus for `ids` -> {instance_id: Status}."""
    from alibabacloud_ecs20140526 import models as m

    resp = client.describe_instance_status(
        m.DescribeInstanceStatusRequest(region_id=region, instance_id=list(ids), page_size=50))
    items = resp.body.instance_statuses.instance_status if resp.body.instance_statuses else []
    return {s.instance_id: s.status for s in (items or [])}


def ali_status(client, instance_id, region=ALI_REGION):
    return ali_statuses(client, [instance_id], region).get(instance_id)


def ali_wait_status(client, instance_id, status, region=ALI_REGION, timeout=5.0):
    return wait_value(lambda: ali_status(client, instance_id, region), lambda s: s == status,
                      timeout=timeout, desc="%s to be %s" % (instance_id, status))


def ali_instances(client, ids, region=ALI_REGION):
    """DescribeInstances with InstanceIds (JSON array string) -> {instance_id: Instance model}."""
    import json as _json
    from alibabacloud_ecs20140526 import models as m

    resp = client.describe_instances(
        m.DescribeInstancesRequest(region_id=region, instance_ids=_json.dumps(list(ids)), max_results=100))
    items = resp.body.instances.instance if resp.body.instances else []
    return {i.instance_id: i for i in (items or [])}


def ali_tag_request(tags, region=ALI_REGION, **kw):
    """DescribeInstancesRequest selecting by `tags`: a list of (key, value or None)."""
    from alibabacloud_ecs20140526 import models as m

    tag = [m.DescribeInstancesRequestTag(key=k, value=v) for k, v in tags]
    return m.DescribeInstancesRequest(region_id=region, tag=tag, **kw)


def ali_select(client, tags, region=ALI_REGION, max_results=100):
    """Every page of DescribeInstances by `tags` -> (pages: list of id lists, last body)."""
    pages, token, body = [], None, None
    while True:
        body = client.describe_instances(ali_tag_request(
            tags, region, max_results=max_results, next_token=token)).body
        items = body.instances.instance if body.instances else []
        pages.append([i.instance_id for i in (items or [])])
        token = body.next_token
        if not token:
            return pages, body
        assert len(pages) < 1000, "paging does not end"


def ali_tags(instance):
    """An Alibaba Instance model's tags -> {key: value}."""
    if instance.tags is None or not instance.tags.tag:
        return {}
    return {t.tag_key: t.tag_value for t in instance.tags.tag}


def ali_invocation(client, invoke_id, region=ALI_REGION):
    """DescribeInvocations InvokeId=… -> the Invocation model (or None)."""
    from alibabacloud_ecs20140526 import models as m

    resp = client.describe_invocations(m.DescribeInvocationsRequest(region_id=region, invoke_id=invoke_id))
    items = resp.body.invocations.invocation if resp.body.invocations else []
    items = [i for i in (items or []) if i.invoke_id == invoke_id]
    return items[0] if items else None


def ali_task_statuses(client, invoke_id, region=ALI_REGION):
    """{instance_id: per-instance InvocationStatus} from DescribeInvocations."""
    inv = ali_invocation(client, invoke_id, region)
    if inv is None or inv.invoke_instances is None:
        return {}
    return {t.instance_id: t.invocation_status for t in (inv.invoke_instances.invoke_instance or [])}


# --------------------------------------------------------------------------------------------
# Tencent read helpers


def tc_states(cvm, ids):
    """DescribeInstancesStatus -> {InstanceId: InstanceState}."""
    from tencentcloud.cvm.v20170312 import models as m

    req = m.DescribeInstancesStatusRequest()
    req.InstanceIds = list(ids)
    req.Limit = 100
    resp = cvm.DescribeInstancesStatus(req)
    return {s.InstanceId: s.InstanceState for s in (resp.InstanceStatusSet or [])}


def tc_state(cvm, instance_id):
    return tc_states(cvm, [instance_id]).get(instance_id)


def tc_instances(cvm, ids):
    """DescribeInstances -> {InstanceId: Instance model}."""
    from tencentcloud.cvm.v20170312 import models as m

    req = m.DescribeInstancesRequest()
    req.InstanceIds = list(ids)
    req.Limit = 100
    resp = cvm.DescribeInstances(req)
    return {i.InstanceId: i for i in (resp.InstanceSet or [])}


def tc_cvm_filter(name, *values):
    from tencentcloud.cvm.v20170312 import models as m

    f = m.Filter()
    f.Name = name
    f.Values = list(values)
    return f


def tc_describe(cvm, filters=None, offset=None, limit=None, ids=None):
    """DescribeInstances with Filters (a list of (name, [values])), Offset, Limit."""
    from tencentcloud.cvm.v20170312 import models as m

    req = m.DescribeInstancesRequest()
    if filters is not None:
        req.Filters = [tc_cvm_filter(name, *values) for name, values in filters]
    if ids is not None:
        req.InstanceIds = list(ids)
    req.Offset, req.Limit = offset, limit
    return cvm.DescribeInstances(req)


def tc_select(cvm, filters, limit=100):
    """Every page of DescribeInstances by `filters` -> (pages: list of id lists, TotalCounts)."""
    pages, totals, offset = [], [], 0
    while True:
        resp = tc_describe(cvm, filters, offset=offset, limit=limit)
        ids = [i.InstanceId for i in (resp.InstanceSet or [])]
        totals.append(resp.TotalCount)
        if not ids:
            return pages, totals
        pages.append(ids)
        offset += len(ids)
        if offset >= resp.TotalCount:
            return pages, totals
        assert len(pages) < 1000, "paging does not end"


def tc_tags(instance):
    """A Tencent Instance model's tags -> {key: value}."""
    return {t.Key: t.Value for t in (instance.Tags or [])}


def tc_wait_state(cvm, instance_id, state, timeout=5.0):
    return wait_value(lambda: tc_state(cvm, instance_id), lambda s: s == state,
                      timeout=timeout, desc="%s to be %s" % (instance_id, state))


def tc_tasks(tat, invocation_id):
    """DescribeInvocationTasks filter invocation-id -> {InstanceId: InvocationTask}."""
    from tencentcloud.tat.v20201028 import models as m

    req = m.DescribeInvocationTasksRequest()
    f = m.Filter()
    f.Name = "invocation-id"
    f.Values = [invocation_id]
    req.Filters = [f]
    req.Limit = 100
    resp = tat.DescribeInvocationTasks(req)
    return {t.InstanceId: t for t in (resp.InvocationTaskSet or [])}


def tc_task_statuses(tat, invocation_id):
    return {k: t.TaskStatus for k, t in tc_tasks(tat, invocation_id).items()}


def tc_filter(name, *values):
    from tencentcloud.tat.v20201028 import models as m

    f = m.Filter()
    f.Name = name
    f.Values = list(values)
    return f


# --------------------------------------------------------------------------------------------
# error assertions


@contextlib.contextmanager
def ali_error(code, status=None, exc_type=None):
    """Expect the Tea SDK to raise an AlibabaCloudException with exactly `code` (and HTTP
    `status`, and exception class `exc_type` when given)."""
    import pytest
    from alibabacloud_tea_openapi.exceptions import AlibabaCloudException, ClientException, ServerException

    with pytest.raises(AlibabaCloudException) as ei:
        yield ei
    e = ei.value
    assert e.code == code, "expected code %r, got %r (status %r, message %r)" % (code, e.code, e.status_code, e.message)
    if status is not None:
        assert e.status_code == status, "code %s: expected HTTP %s, got %s" % (code, status, e.status_code)
    if exc_type is None and status is not None:
        exc_type = ClientException if 400 <= status < 500 else ServerException
    if exc_type is not None:
        assert type(e) is exc_type, "expected %s, got %s" % (exc_type.__name__, type(e).__name__)


@contextlib.contextmanager
def core_error(code, status=None):
    """Expect aliyun-python-sdk-core to raise ServerException/ClientException with `code`."""
    import pytest
    from aliyunsdkcore.acs_exception.exceptions import ClientException, ServerException

    with pytest.raises((ServerException, ClientException)) as ei:
        yield ei
    e = ei.value
    assert e.get_error_code() == code, "expected %r, got %r: %s" % (code, e.get_error_code(), e.get_error_msg())
    if status is not None:
        assert isinstance(e, ServerException)
        assert e.get_http_status() == status, "code %s: expected HTTP %s, got %s" % (code, status, e.get_http_status())


@contextlib.contextmanager
def tc_error(code):
    """Expect the Tencent SDK to raise TencentCloudSDKException with exactly `code`."""
    import pytest
    from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException

    with pytest.raises(TencentCloudSDKException) as ei:
        yield ei
    e = ei.value
    assert e.get_code() == code, "expected %r, got %r: %s" % (code, e.get_code(), e.get_message())
