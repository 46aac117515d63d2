"""The client examples run as a user would run them, against `stopgate sandbox`: Python
(grpcio, stubs generated at start) and Node.js (@grpc/grpc-js, .proto loaded at run time),
stopping instances (by id, and by tags across regions) and a command execution on both clouds,
and re-attaching to the operation when the stream breaks."""

import re
import socket
import subprocess
import sys
import threading

import pytest

from gateway import REPO, sandbox
from simutil import Admin

pytestmark = pytest.mark.nosim


@pytest.fixture(scope="module")
def running_sandbox():
    """(gateway address, simulator URL) of one `stopgate sandbox`."""
    p, address, sim = sandbox()
    yield address, sim
    p.stop()


@pytest.fixture(scope="module")
def gateway(running_sandbox):
    return running_sandbox[0]


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
        assert f"{instance} {region} INSTANCE_OUTCOME_STOP_ACCEPTED" in out
        assert "summary" in out and "STOP_ACCEPTED" in out
        assert "region " not in out, "only a selector lists the regions searched"


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


class CuttingProxy:
    """A TCP proxy in front of the gateway that breaks its first connection in the middle of the
    answer, as a load balancer or a network fault would: once `cut_after` bytes came back from
    the gateway, it closes both sides. Later connections pass untouched."""

    def __init__(self, gateway, cut_after):
        host, port = gateway.rsplit(":", 1)
        self.gateway = (host, int(port))
        self.cut_after = cut_after
        self.carried = None  # the bytes the first connection carried back, once it is cut
        self.cut = threading.Event()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.address = "127.0.0.1:%d" % self.listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self):
        self.listener.close()

    def _accept(self):
        first = True
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.gateway)
            threading.Thread(target=relay, args=(client, upstream), daemon=True).start()
            if first:
                threading.Thread(target=self._relay_then_cut, args=(upstream, client),
                                 daemon=True).start()
            else:
                threading.Thread(target=relay, args=(upstream, client), daemon=True).start()
            first = False

    def _relay_then_cut(self, upstream, client):
        carried = bytearray()
        while len(carried) < self.cut_after:
            data = receive(upstream, self.cut_after - len(carried))
            if not data or not send(client, data):
                break
            carried += data
        # Recorded before the client can see the cut.
        self.carried = bytes(carried)
        self.cut.set()
        for s in (client, upstream):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()


def receive(s, most=65536):
    try:
        return s.recv(most)
    except OSError:
        return b""


def send(s, data):
    try:
        s.sendall(data)
        return True
    except OSError:
        return False


def relay(source, destination):
    """Copies one direction until it ends, then ends it on the other side too."""
    while True:
        data = receive(source)
        if not data or not send(destination, data):
            break
    try:
        destination.shutdown(socket.SHUT_WR)
    except OSError:
        pass


def data_frames(answer):
    """The payloads of the complete HTTP/2 DATA frames in a gateway's answer, joined: what the
    client could read before the cut."""
    data, at = b"", 0
    while at + 9 <= len(answer):
        length = int.from_bytes(answer[at:at + 3], "big")
        if at + 9 + length > len(answer):
            break
        if answer[at + 3] == 0:  # DATA, never padded by the gateway
            data += answer[at + 9:at + 9 + length]
        at += 9 + length
    return data


@pytest.mark.parametrize("client", ["python", "node"])
def test_the_example_re_attaches_when_the_stream_breaks_and_prints_each_instance_once(
        running_sandbox, client):
    gateway, sim = running_sandbox
    # 300 results (about 23 KB): 10,000 bytes cut the stream among them.
    prefix = {"python": "ins-py", "node": "ins-nd"}[client]
    ids = ["%s%06d" % (prefix, n) for n in range(300)]
    Admin(sim).call("POST", "/_sim/instances", {
        "provider": "tencent", "region": "ap-guangzhou", "instances": [{"id": i} for i in ids]})
    proxy = CuttingProxy(gateway, cut_after=10_000)
    try:
        code, out, err = run(CLIENTS[client] + [proxy.address, "instances", "tencent",
                                                "ap-guangzhou", *ids])
    finally:
        proxy.close()
    assert code == 0, out + err
    assert proxy.cut.is_set() and len(proxy.carried) == 10_000, \
        "the first connection was not cut mid-stream:\n" + out + err
    before_cut = data_frames(proxy.carried).count(prefix.encode())
    assert 0 < before_cut < len(ids), "the cut falls among the results: %d" % before_cut

    lines = out.splitlines()
    operation = re.fullmatch(r"operation (\S+)", lines[0])
    assert operation, out
    request_id = operation.group(1)
    assert "re-attaching to operation " + request_id in err, err
    assert any(l.startswith("re-attached to operation " + request_id) for l in lines), out
    for instance in ids:
        printed = [l for l in lines if l.split(" ", 1)[0] == instance]
        assert printed == [instance + " ap-guangzhou INSTANCE_OUTCOME_STOP_ACCEPTED "], \
            (instance, out)
    assert len([l for l in lines if l.startswith("summary ")]) == 1, out


@pytest.mark.parametrize("client", ["python", "node"])
def test_the_example_sends_the_request_id_it_is_given(gateway, client):
    instance = {"python": "ins-sgdemo05", "node": "ins-sgdemo06"}[client]
    request_id = "example-%s-given-id" % client
    command = CLIENTS[client] + [gateway, "instances", "tencent", "ap-guangzhou", instance,
                                 "--request-id", request_id]
    code, out, err = run(command)
    assert code == 0, out + err
    assert out.splitlines()[0] == "operation " + request_id, out
    # The same id again is the same operation: re-attached, the result replayed.
    code, out, err = run(command)
    assert code == 0, out + err
    assert out.splitlines()[0].startswith("re-attached to operation " + request_id), out
    assert instance + " ap-guangzhou INSTANCE_OUTCOME_STOP_ACCEPTED" in out, out


# Two regions of each cloud the sandbox's simulator serves, and well-formed ids there.
SELECT_REGIONS = {"tencent": ("ap-guangzhou", "ap-shanghai"), "alibaba": ("cn-hangzhou", "cn-shanghai")}


def example_ids(provider, prefix, count):
    """`count` ids of the provider's shape, distinct per prefix (3 lowercase letters)."""
    if provider == "tencent":
        return ["ins-%s%05d" % (prefix, n) for n in range(count)]
    return ["i-%sexample%06d" % (prefix, n) for n in range(count)]


def seed_tagged(sim, provider, region, ids, tags):
    Admin(sim).call("POST", "/_sim/instances", {
        "provider": provider, "region": region,
        "instances": [{"id": i, "tags": tags} for i in ids]})


def states(sim, provider, region):
    listed = Admin(sim).call("GET", "/_sim/instances", query={"provider": provider, "region": region})
    return {i["id"]: i["state"] for i in listed["instances"]}


@pytest.mark.parametrize("client", ["python", "node"])
@pytest.mark.parametrize("provider", ["tencent", "alibaba"])
def test_the_example_stops_instances_by_tag_across_regions(running_sandbox, client, provider):
    gateway, sim = running_sandbox
    home, other = SELECT_REGIONS[provider]
    # Tag values of this run's own: the sandbox is shared by the module's tests.
    mine = "%s-%s" % (client, provider)
    prefix = {"python": "pys", "node": "nds"}[client]
    ids = example_ids(provider, prefix, 7)
    in_home, in_other, no_team, not_mine = ids[0:3], ids[3:5], ids[5:6], ids[6:7]
    seed_tagged(sim, provider, home, in_home, {"example": mine, "team": "a"})
    seed_tagged(sim, provider, other, in_other, {"example": mine, "team": "b"})
    seed_tagged(sim, provider, home, no_team, {"example": mine})
    seed_tagged(sim, provider, home, not_mine, {"example": "someone-else", "team": "a"})

    code, out, err = run(CLIENTS[client] + [
        gateway, "select", provider, "%s,%s" % (home, other), "example=" + mine, "team",
        "--expect-at-most", "10"])
    assert code == 0, out + err
    lines = out.splitlines()
    assert re.fullmatch(r"operation \S+", lines[0]), out
    for region, wanted in ((home, in_home), (other, in_other)):
        for instance in wanted:
            printed = [l for l in lines if l.split(" ", 1)[0] == instance]
            assert len(printed) == 1, (instance, out)
            assert printed[0].startswith(
                "%s %s INSTANCE_OUTCOME_STOP_ACCEPTED" % (instance, region)), out
    for instance in no_team + not_mine:
        assert instance not in out, "%s does not carry every tag: %s" % (instance, out)
    assert [l for l in lines if l.startswith("region ")] == [
        "region %s matched=3" % home, "region %s matched=2" % other], out
    assert any(l.startswith("summary ") and "STOP_ACCEPTED" in l for l in lines), out
    left = states(sim, provider, home)
    running = {"tencent": "RUNNING", "alibaba": "Running"}[provider]
    assert left[no_team[0]] == running and left[not_mine[0]] == running


@pytest.mark.parametrize("client,provider", [("python", "alibaba"), ("node", "tencent")])
def test_the_example_reports_a_selector_matching_too_many_and_nothing_stops(
        running_sandbox, client, provider):
    gateway, sim = running_sandbox
    home, _ = SELECT_REGIONS[provider]
    mine = "%s-%s-many" % (client, provider)
    ids = example_ids(provider, {"python": "pym", "node": "ndm"}[client], 3)
    seed_tagged(sim, provider, home, ids, {"example": mine})
    code, out, err = run(CLIENTS[client] + [
        gateway, "select", provider, home, "example=" + mine, "--expect-at-most", "2"])
    assert code == 2, out + err
    assert err.startswith("stopgate: FAILED_PRECONDITION "), err
    assert "expect_at_most 2" in err and home + " 3" in err, err
    running = {"tencent": "RUNNING", "alibaba": "Running"}[provider]
    left = states(sim, provider, home)
    assert all(left[i] == running for i in ids), left


@pytest.mark.parametrize("client", ["python", "node"])
def test_the_example_refuses_a_selector_without_its_bound(gateway, client):
    code, _, err = run(CLIENTS[client] + [gateway, "select", "tencent", "ap-guangzhou", "env=dev"])
    assert code == 2, err
    assert "--expect-at-most" in err, err
