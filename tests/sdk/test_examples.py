"""The client examples run as a user would run them, against `stopgate sandbox`: Python
(grpcio, stubs generated at start) and Node.js (@grpc/grpc-js, .proto loaded at run time),
stopping instances and a command execution on both clouds."""

import subprocess
import sys

import pytest

from gateway import REPO, sandbox

pytestmark = pytest.mark.nosim


@pytest.fixture(scope="module")
def gateway():
    p, address, _ = sandbox()
    yield address
    p.stop()


def run(command):
    out = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=120)
    return out.returncode, out.stdout, out.stderr


CLIENTS = {
    "python": [sys.executable, "examples/python/stop.py"],
    "node": ["node", "examples/node/stop.js"],
}


@pytest.mark.parametrize("client", ["python", "node"])
def test_the_example_stops_instances_on_both_clouds(gateway, client):
    cases = {
        "python": [("alibaba", "cn-hangzhou", "i-sgdemo0000000000000a3"), ("tencent", "ap-guangzhou", "ins-sgdemo03")],
        "node": [("alibaba", "cn-hangzhou", "i-sgdemo0000000000000a4"), ("tencent", "ap-guangzhou", "ins-sgdemo04")],
    }[client]
    for provider, region, instance in cases:
        code, out, err = run(CLIENTS[client] + [gateway, "instances", provider, region, instance])
        assert code == 0, out + err
        assert f"{instance} INSTANCE_OUTCOME_STOP_ACCEPTED" in out
        assert "summary" in out and "STOP_ACCEPTED" in out


@pytest.mark.parametrize("client,provider,region,execution,instance", [
    ("python", "alibaba", "cn-hangzhou", "t-sgdemo0000000000000000000000001", "i-sgdemo0000000000000a1"),
    ("node", "tencent", "ap-guangzhou", "inv-sgdemo01", "ins-sgdemo01"),
])
def test_the_example_stops_a_command_execution(gateway, client, provider, region, execution, instance):
    code, out, err = run(CLIENTS[client] + [gateway, "execution", provider, region, execution, instance])
    assert code == 0, out + err
    assert f"{instance} COMMAND_OUTCOME_STOP_REQUESTED" in out


@pytest.mark.parametrize("client", ["python", "node"])
def test_the_example_reports_a_refused_call_with_exit_status_2(gateway, client):
    code, _, err = run(CLIENTS[client] + [gateway, "instances", "tencent", "ap-guangzhou", "not-an-id"])
    assert code == 2, err
    # Both print `stopgate: CODE_NAME message`; the message names the field and the bad value.
    assert err.startswith("stopgate: INVALID_ARGUMENT "), err
    assert "instance_ids[0]" in err and "not-an-id" in err, err
