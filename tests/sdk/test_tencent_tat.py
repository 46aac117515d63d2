"""Tencent TAT 2020-10-28 through tencentcloud-sdk-python: RunCommand, CancelInvocation,
DescribeInvocations, DescribeInvocationTasks (docs/simulator.md "Commands", docs/vendors/tencent.md 1.x)."""

import base64

import pytest
from tencentcloud.tat.v20201028 import models as m

from simutil import TC_REGION, tc_error, tc_filter, tc_task_statuses, tc_tasks, wait_value


def seed_instances(admin, n=2):
    return admin.add_instances("tencent", TC_REGION, [{} for _ in range(n)])


def seed_invocation(admin, tasks, **spec):
    return admin.add_invocation("tencent", TC_REGION, tasks, **spec)


def run_command(tat, ids, content="echo hello", name=None):
    req = m.RunCommandRequest()
    req.Content = base64.b64encode(content.encode()).decode()
    req.InstanceIds = list(ids)
    req.CommandType = "SHELL"
    if name:
        req.CommandName = name
    return tat.RunCommand(req)


def cancel(tat, invocation_id, ids=None):
    req = m.CancelInvocationRequest()
    req.InvocationId = invocation_id
    if ids is not None:
        req.InstanceIds = list(ids)
    return tat.CancelInvocation(req)


def describe_invocation(tat, invocation_id):
    req = m.DescribeInvocationsRequest()
    req.InvocationIds = [invocation_id]
    resp = tat.DescribeInvocations(req)
    assert resp.TotalCount == len(resp.InvocationSet) == 1
    return resp.InvocationSet[0]


def wait_tasks(tat, inv, pred, timeout=5.0, desc="tasks"):
    return wait_value(lambda: tc_task_statuses(tat, inv), pred, timeout=timeout, desc=desc)


# ---------------------------------------------------------------------------------------------
# RunCommand / DescribeInvocations / DescribeInvocationTasks


def test_run_command_and_describe(admin, tat):
    ids = seed_instances(admin)
    resp = run_command(tat, ids, name="hello")
    assert resp.RequestId
    inv_id = resp.InvocationId
    assert inv_id.startswith("inv-")
    assert resp.CommandId
    inv = describe_invocation(tat, inv_id)
    assert inv.InvocationId == inv_id
    assert inv.CommandId == resp.CommandId
    basic = {b.InstanceId: b for b in inv.InvocationTaskBasicInfoSet}
    assert set(basic) == set(ids)
    assert all(b.InvocationTaskId.startswith("invt-") for b in basic.values())
    assert {b.TaskStatus for b in basic.values()} <= {"PENDING", "DELIVERING", "RUNNING"}
    wait_tasks(tat, inv_id, lambda s: set(s.values()) == {"RUNNING"}, desc="RUNNING")
    assert describe_invocation(tat, inv_id).InvocationStatus == "RUNNING"
    tasks = tc_tasks(tat, inv_id)
    for iid, t in tasks.items():
        assert t.InvocationId == inv_id
        assert t.InvocationTaskId == basic[iid].InvocationTaskId
        assert t.CommandId == resp.CommandId


def test_task_runs_to_success(admin, tat):
    a, b = seed_instances(admin)
    inv = seed_invocation(admin, [{"instance_id": a, "run_ms": 150, "exit_code": 0},
                                  {"instance_id": b, "run_ms": 150, "exit_code": 2}])
    tasks = wait_value(lambda: tc_tasks(tat, inv),
                       lambda t: t[a].TaskStatus == "SUCCESS" and t[b].TaskStatus == "FAILED",
                       desc="SUCCESS/FAILED")
    assert tasks[a].TaskResult.ExitCode == 0
    assert tasks[b].TaskResult.ExitCode == 2


def test_describe_invocation_tasks_filters(admin, tat):
    a, b = seed_instances(admin)
    resp = run_command(tat, [a, b])
    inv_id = resp.InvocationId
    tasks = tc_tasks(tat, inv_id)
    task_a = tasks[a].InvocationTaskId

    def query(*filters, **kw):
        req = m.DescribeInvocationTasksRequest()
        req.Filters = list(filters)
        for k, v in kw.items():
            setattr(req, k, v)
        return tat.DescribeInvocationTasks(req)

    got = query(tc_filter("instance-id", a))
    assert [t.InstanceId for t in got.InvocationTaskSet] == [a]
    got = query(tc_filter("invocation-task-id", task_a))
    assert [t.InvocationTaskId for t in got.InvocationTaskSet] == [task_a]
    got = query(tc_filter("command-id", resp.CommandId))
    assert sorted(t.InstanceId for t in got.InvocationTaskSet) == sorted([a, b])
    req = m.DescribeInvocationTasksRequest()
    req.InvocationTaskIds = [task_a]
    assert [t.InstanceId for t in tat.DescribeInvocationTasks(req).InvocationTaskSet] == [a]
    page = query(tc_filter("invocation-id", inv_id), Limit=1, Offset=1)
    assert page.TotalCount == 2 and len(page.InvocationTaskSet) == 1


@pytest.mark.parametrize("name", ["task-status", "instance-kind"])
def test_describe_invocation_tasks_bad_filter(tat, name):
    req = m.DescribeInvocationTasksRequest()
    req.Filters = [tc_filter(name, "RUNNING")]
    with tc_error("InvalidParameterValue.InvalidFilter"):
        tat.DescribeInvocationTasks(req)


def test_describe_invocations_paging(admin, tat):
    ids = seed_instances(admin, 1)
    created = {run_command(tat, ids).InvocationId for _ in range(3)}
    seen = []
    for offset in (0, 2):
        req = m.DescribeInvocationsRequest()
        req.Offset, req.Limit = offset, 2
        resp = tat.DescribeInvocations(req)
        assert resp.TotalCount == 3
        seen += [i.InvocationId for i in resp.InvocationSet]
    assert sorted(seen) == sorted(created)


def test_describe_invocations_limit(tat):
    req = m.DescribeInvocationsRequest()
    req.Limit = 101
    with tc_error("InvalidParameterValue.LimitExceeded"):
        tat.DescribeInvocations(req)


# ---------------------------------------------------------------------------------------------
# CancelInvocation


def test_cancel_pending_becomes_cancelled(admin, tat):
    admin.timings(deliver_ms=60000)
    a, b = seed_instances(admin)
    inv = seed_invocation(admin, [{"instance_id": a, "state": "PENDING"},
                                  {"instance_id": b, "state": "PENDING"}])
    assert set(tc_task_statuses(tat, inv).values()) == {"PENDING"}
    assert cancel(tat, inv).RequestId
    wait_tasks(tat, inv, lambda s: set(s.values()) == {"CANCELLED"}, desc="CANCELLED")
    assert describe_invocation(tat, inv).InvocationStatus == "CANCELLED"


@pytest.mark.parametrize("state", ["DELIVERING", "DELIVER_DELAYED"])
def test_cancel_delivering_becomes_cancelled(admin, tat, state):
    admin.timings(deliver_ms=60000)
    a = seed_instances(admin, 1)[0]
    inv = seed_invocation(admin, [{"instance_id": a, "state": state}])
    cancel(tat, inv)
    wait_tasks(tat, inv, lambda s: s[a] == "CANCELLED", desc="CANCELLED")


def test_cancel_running_cancelling_then_terminated(admin, tat):
    admin.timings(cancel_ms=800)
    a, b = seed_instances(admin)
    inv = seed_invocation(admin, [{"instance_id": a}, {"instance_id": b}])  # RUNNING
    assert set(tc_task_statuses(tat, inv).values()) == {"RUNNING"}
    cancel(tat, inv)
    assert set(tc_task_statuses(tat, inv).values()) == {"CANCELLING"}
    assert describe_invocation(tat, inv).InvocationStatus == "CANCELLING"
    wait_tasks(tat, inv, lambda s: set(s.values()) == {"TERMINATED"}, desc="TERMINATED")


def test_cancel_subset_and_finished_untouched(admin, tat):
    admin.timings(deliver_ms=60000)
    a, b, c, d = seed_instances(admin, 4)
    inv = seed_invocation(admin, [
        {"instance_id": a, "state": "SUCCESS", "exit_code": 0},
        {"instance_id": b, "state": "RUNNING"},
        {"instance_id": c, "state": "PENDING"},
        {"instance_id": d, "state": "RUNNING"},
    ])
    cancel(tat, inv, ids=[a, b, c])
    states = wait_tasks(tat, inv, lambda s: s[b] == "TERMINATED", desc="b TERMINATED")
    assert states[a] == "SUCCESS"
    assert states[c] == "CANCELLED"
    assert states[d] == "RUNNING"


def test_cancel_run_command(admin, tat):
    ids = seed_instances(admin)
    inv = run_command(tat, ids).InvocationId
    wait_tasks(tat, inv, lambda s: set(s.values()) == {"RUNNING"}, desc="RUNNING")
    cancel(tat, inv)
    wait_tasks(tat, inv, lambda s: set(s.values()) == {"TERMINATED"}, desc="TERMINATED")


def test_cancel_unknown(tat):
    with tc_error("ResourceNotFound.InvocationNotFound"):
        cancel(tat, "inv-zzzzzzzz")


@pytest.mark.parametrize("bad", ["bogus", "inv-", "t-abcdefgh"])
def test_cancel_malformed(tat, bad):
    with tc_error("InvalidParameterValue.InvalidInvocationId"):
        cancel(tat, bad)


def test_cancel_instance_not_related(admin, tat):
    a, b, other = seed_instances(admin, 3)
    inv = seed_invocation(admin, [{"instance_id": a}, {"instance_id": b}])
    with tc_error("InvalidParameterValue.InstanceIsNotRelatedToInvocation"):
        cancel(tat, inv, ids=[a, other])
    assert tc_task_statuses(tat, inv) == {a: "RUNNING", b: "RUNNING"}  # whole call failed


def test_cancel_too_many(admin, tat):
    a = seed_instances(admin, 1)[0]
    inv = seed_invocation(admin, [{"instance_id": a}])
    with tc_error("InvalidParameterValue.LimitExceeded"):
        cancel(tat, inv, ids=[a] + ["ins-%08d" % n for n in range(100)])
    assert tc_task_statuses(tat, inv) == {a: "RUNNING"}


def test_run_command_instance_checks(admin, tat):
    stopped = admin.add_instance("tencent", TC_REGION, state="STOPPED")
    with tc_error("ResourceUnavailable.InstanceStateNotRunning"):
        run_command(tat, [stopped])
    with tc_error("ResourceNotFound.InstanceNotFound"):
        run_command(tat, ["ins-zzzzzzzz"])
    with tc_error("InvalidParameterValue.InvalidInstanceId"):
        run_command(tat, ["bogus"])
