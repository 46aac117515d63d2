"""Alibaba Cloud Assistant through the Tea SDK (V3): RunCommand, StopInvocation,
DescribeInvocations, DescribeInvocationResults (docs/simulator.md "Commands", docs/vendors/alibaba.md 2.3,
2.6-2.8)."""

import pytest
from alibabacloud_ecs20140526 import models as m

from simutil import (ALI_REGION, ali_error, ali_invocation, ali_task_statuses, wait_value)


def seed_instances(admin, n=2, region=ALI_REGION):
    return admin.add_instances("alibaba", region, [{} for _ in range(n)])


def seed_invocation(admin, tasks, region=ALI_REGION, **spec):
    return admin.add_invocation("alibaba", region, tasks, **spec)


def run_command(client, ids, region=ALI_REGION, **kw):
    kw.setdefault("type", "RunShellScript")
    kw.setdefault("command_content", "echo hello")
    kw.setdefault("content_encoding", "PlainText")
    return client.run_command(m.RunCommandRequest(region_id=region, instance_id=list(ids), **kw))


def stop_invocation(client, invoke_id, ids=None, region=ALI_REGION):
    return client.stop_invocation(m.StopInvocationRequest(
        region_id=region, invoke_id=invoke_id, instance_id=list(ids) if ids is not None else None))


def wait_tasks(client, invoke_id, pred, timeout=5.0, desc="tasks"):
    return wait_value(lambda: ali_task_statuses(client, invoke_id), pred, timeout=timeout, desc=desc)


# ---------------------------------------------------------------------------------------------
# RunCommand + DescribeInvocations


def test_run_command_pending_then_running(admin, ali):
    ids = seed_instances(admin)
    resp = run_command(ali, ids, name="hello")
    assert resp.status_code == 200
    invoke_id = resp.body.invoke_id
    assert invoke_id and invoke_id.startswith("t-")
    assert resp.body.request_id
    first = ali_task_statuses(ali, invoke_id)
    assert set(first) == set(ids)
    assert set(first.values()) <= {"Pending", "Running"}
    wait_tasks(ali, invoke_id, lambda s: set(s.values()) == {"Running"}, desc="Running")
    inv = ali_invocation(ali, invoke_id)
    assert inv.invocation_status == "Running"
    assert inv.command_name == "hello"


def test_describe_invocations_lists_by_instance(admin, ali):
    a, b = seed_instances(admin)
    inv_a = run_command(ali, [a]).body.invoke_id
    inv_b = run_command(ali, [b]).body.invoke_id
    resp = ali.describe_invocations(m.DescribeInvocationsRequest(region_id=ALI_REGION, instance_id=a))
    got = [i.invoke_id for i in resp.body.invocations.invocation]
    assert inv_a in got and inv_b not in got


def test_describe_invocations_next_token(admin, ali):
    ids = seed_instances(admin, 1)
    created = {run_command(ali, ids).body.invoke_id for _ in range(3)}
    seen, token = [], None
    for _ in range(4):
        body = ali.describe_invocations(m.DescribeInvocationsRequest(
            region_id=ALI_REGION, max_results=2, next_token=token)).body
        items = body.invocations.invocation or []
        assert len(items) <= 2
        seen += [i.invoke_id for i in items]
        token = body.next_token
        if not token:
            break
    assert sorted(seen) == sorted(created)


def test_describe_invocations_page_size_limit(ali):
    with ali_error("InvalidParam.PageSize"):
        ali.describe_invocations(m.DescribeInvocationsRequest(region_id=ALI_REGION, page_size=51))


def test_describe_invocations_max_results_limit(ali):
    with ali_error("InvalidParameter.MaxResults"):
        ali.describe_invocations(m.DescribeInvocationsRequest(region_id=ALI_REGION, max_results=51))


# ---------------------------------------------------------------------------------------------
# StopInvocation


def test_stop_invocation_pending_becomes_cancelled(admin, ali):
    admin.timings(deliver_ms=60000)
    ids = seed_instances(admin)
    invoke_id = seed_invocation(admin, [{"instance_id": i, "state": "Pending"} for i in ids])
    assert set(ali_task_statuses(ali, invoke_id).values()) == {"Pending"}
    resp = stop_invocation(ali, invoke_id)
    assert resp.status_code == 200 and resp.body.request_id
    wait_tasks(ali, invoke_id, lambda s: set(s.values()) == {"Cancelled"}, desc="Cancelled")
    wait_value(lambda: ali_invocation(ali, invoke_id).invocation_status, lambda s: s == "Stopped",
               desc="overall Stopped")


def test_stop_invocation_running_becomes_stopping_then_terminated(admin, ali):
    admin.timings(cancel_ms=800)
    ids = seed_instances(admin)
    invoke_id = seed_invocation(admin, [{"instance_id": i} for i in ids])  # Running by default
    assert set(ali_task_statuses(ali, invoke_id).values()) == {"Running"}
    stop_invocation(ali, invoke_id)
    assert set(ali_task_statuses(ali, invoke_id).values()) == {"Stopping"}
    wait_tasks(ali, invoke_id, lambda s: set(s.values()) == {"Terminated"}, desc="Terminated")
    inv = ali_invocation(ali, invoke_id)
    assert inv.invocation_status == "Stopped"
    for t in inv.invoke_instances.invoke_instance:
        assert t.stop_time, "StopTime should be set for a manually stopped task"


def test_stop_invocation_on_run_command(admin, ali):
    ids = seed_instances(admin, 3)
    invoke_id = run_command(ali, ids).body.invoke_id
    wait_tasks(ali, invoke_id, lambda s: set(s.values()) == {"Running"}, desc="Running")
    stop_invocation(ali, invoke_id, ids=[ids[0]])
    states = wait_tasks(ali, invoke_id, lambda s: s[ids[0]] == "Terminated", desc="first Terminated")
    assert states[ids[1]] == "Running" and states[ids[2]] == "Running"


def test_stop_invocation_leaves_finished_tasks(admin, ali):
    admin.timings(deliver_ms=60000)
    a, b, c = seed_instances(admin, 3)
    invoke_id = seed_invocation(admin, [
        {"instance_id": a, "state": "Success", "exit_code": 0},
        {"instance_id": b, "state": "Running"},
        {"instance_id": c, "state": "Pending"},
    ])
    stop_invocation(ali, invoke_id)
    states = wait_tasks(ali, invoke_id, lambda s: s[b] == "Terminated", desc="b Terminated")
    assert states[a] == "Success"
    assert states[c] == "Cancelled"


def test_stop_invocation_not_interrupting_running(admin, ali):
    admin.timings(deliver_ms=60000)
    a, b = seed_instances(admin)
    invoke_id = seed_invocation(admin, [
        {"instance_id": a, "state": "Running", "run_ms": 700, "exit_code": 0},
        {"instance_id": b, "state": "Pending"},
    ], interrupt_running=False)
    stop_invocation(ali, invoke_id)
    seen = []

    def poll():
        s = ali_task_statuses(ali, invoke_id)
        seen.append(s[a])
        return s

    states = wait_value(poll, lambda s: s[a] == "Success", timeout=5, desc="a runs to completion")
    assert states[b] == "Cancelled"
    assert "Terminated" not in seen


def test_stop_invocation_unknown_invoke_id(ali):
    with ali_error("InvalidInvokeId.NotFound", 404):
        stop_invocation(ali, "t-doesnotexist0000000000000000000")


def test_stop_invocation_instance_not_in_invocation(admin, ali):
    a, b = seed_instances(admin)
    invoke_id = seed_invocation(admin, [{"instance_id": a}])
    with ali_error("InvalidInstanceId.NotFound", 404):
        stop_invocation(ali, invoke_id, ids=[b])
    assert ali_task_statuses(ali, invoke_id) == {a: "Running"}


def test_stop_invocation_too_many_instances(admin, ali):
    a = seed_instances(admin, 1)[0]
    invoke_id = seed_invocation(admin, [{"instance_id": a}])
    with ali_error("InstanceIds.ExceedLimit", 403):
        stop_invocation(ali, invoke_id, ids=[a] + ["i-fake%017d" % n for n in range(50)])
    assert ali_task_statuses(ali, invoke_id) == {a: "Running"}


def test_stop_invocation_missing_invoke_id(ali):
    with ali_error("MissingParameter.InvokeId", 400):
        ali.stop_invocation(m.StopInvocationRequest(region_id=ALI_REGION))


def test_stop_invocation_missing_region(admin, ali):
    a = seed_instances(admin, 1)[0]
    invoke_id = seed_invocation(admin, [{"instance_id": a}])
    with ali_error("MissingParameter.RegionId", 400):
        ali.stop_invocation(m.StopInvocationRequest(invoke_id=invoke_id))


# ---------------------------------------------------------------------------------------------
# DescribeInvocationResults


def results(client, invoke_id, region=ALI_REGION, **kw):
    body = client.describe_invocation_results(m.DescribeInvocationResultsRequest(
        region_id=region, invoke_id=invoke_id, **kw)).body
    items = body.invocation.invocation_results.invocation_result or []
    return {r.instance_id: r for r in items}


def test_describe_invocation_results_success_and_failed(admin, ali):
    a, b = seed_instances(admin)
    invoke_id = seed_invocation(admin, [
        {"instance_id": a, "state": "Running", "run_ms": 150, "exit_code": 0},
        {"instance_id": b, "state": "Running", "run_ms": 150, "exit_code": 3},
    ])
    got = wait_value(lambda: results(ali, invoke_id),
                     lambda r: r[a].invocation_status == "Success" and r[b].invocation_status == "Failed",
                     desc="Success/Failed")
    assert got[a].exit_code == 0
    assert got[b].exit_code == 3
    assert got[a].invoke_id == invoke_id
    assert got[a].finished_time, "FinishedTime (not FinishTime) is set on a finished result"
    inv = ali_invocation(ali, invoke_id)
    finished = {t.instance_id: t for t in inv.invoke_instances.invoke_instance}
    assert finished[a].finish_time
    assert finished[a].exit_code == 0


def test_describe_invocation_results_by_instance(admin, ali):
    a, b = seed_instances(admin)
    invoke_id = run_command(ali, [a, b]).body.invoke_id
    got = results(ali, invoke_id, instance_id=a)
    assert set(got) == {a}


def test_describe_invocation_results_paging(admin, ali):
    ids = seed_instances(admin, 3)
    invoke_id = run_command(ali, ids).body.invoke_id
    seen, token = [], None
    for _ in range(4):
        body = ali.describe_invocation_results(m.DescribeInvocationResultsRequest(
            region_id=ALI_REGION, invoke_id=invoke_id, max_results=2, next_token=token)).body
        items = body.invocation.invocation_results.invocation_result or []
        assert len(items) <= 2
        seen += [r.instance_id for r in items]
        token = body.invocation.next_token
        if not token:
            break
    assert sorted(seen) == sorted(ids)


def test_describe_invocation_results_page_size_limit(ali):
    with ali_error("InvalidParam.PageSize"):
        ali.describe_invocation_results(m.DescribeInvocationResultsRequest(region_id=ALI_REGION, page_size=51))


@pytest.mark.parametrize("region", ["cn-shanghai", "ap-southeast-1"])
def test_invocations_are_per_region(admin, ali, region):
    a = seed_instances(admin, 1, region=region)[0]
    invoke_id = run_command(ali, [a], region=region).body.invoke_id
    assert ali_invocation(ali, invoke_id, region=region) is not None
    assert ali_invocation(ali, invoke_id, region=ALI_REGION) is None


def test_stop_invocation_scheduled_becomes_cancelled(admin, ali):
    admin.timings(deliver_ms=60000)
    a = seed_instances(admin, 1)[0]
    invoke_id = seed_invocation(admin, [{"instance_id": a, "state": "Scheduled"}], repeat_mode="Period")
    inv = ali_invocation(ali, invoke_id)
    assert inv.repeat_mode == "Period"
    assert inv.invocation_status == "Scheduled"
    stop_invocation(ali, invoke_id)
    wait_tasks(ali, invoke_id, lambda s: s == {a: "Cancelled"}, desc="Cancelled")


def test_stop_periodic_invocation_stops_scheduling(admin, ali):
    a = seed_instances(admin, 1)[0]
    # one short run; a periodic invocation goes back to Scheduled after each run
    invoke_id = seed_invocation(admin, [{"instance_id": a, "run_ms": 100, "exit_code": 0}], repeat_mode="Period")
    wait_tasks(ali, invoke_id, lambda s: s == {a: "Scheduled"}, desc="back to Scheduled")
    stop_invocation(ali, invoke_id)
    wait_tasks(ali, invoke_id, lambda s: s == {a: "Cancelled"}, desc="Cancelled")
    admin.timings(deliver_ms=10)  # would re-deliver quickly if anything were still scheduled
    for _ in range(5):
        assert ali_task_statuses(ali, invoke_id) == {a: "Cancelled"}
        import time
        time.sleep(0.1)
    assert ali_invocation(ali, invoke_id).invocation_status == "Stopped"


def test_run_command_on_stopped_instance_is_aborted(admin, ali):
    # docs/vendors/alibaba.md 2.8: Aborted = failed to send (instance must be Running), ErrorCode InstanceNotRunning;
    # overall Failed when every instance failed
    stopped = admin.add_instance("alibaba", ALI_REGION, state="Stopped")
    invoke_id = run_command(ali, [stopped]).body.invoke_id
    wait_tasks(ali, invoke_id, lambda s: s == {stopped: "Aborted"}, desc="Aborted")
    inv = ali_invocation(ali, invoke_id)
    assert inv.invoke_instances.invoke_instance[0].error_code == "InstanceNotRunning"
    assert inv.invocation_status == "Failed"


def test_run_command_unknown_instance(ali):
    with ali_error("InvalidInstanceId.NotFound", 404):
        run_command(ali, ["i-doesnotexist000000000"])
