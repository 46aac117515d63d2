"""SIGTERM drains: a stream in flight when the gateway is told to stop still gets every
result and its summary, new calls are refused, and the process exits cleanly."""

import json
import signal
import threading
import time

import grpc
import pytest

from gateway import Reflected, results_by_id, sandbox

pytestmark = pytest.mark.nosim


def test_sigterm_lets_an_in_flight_stream_finish():
    p, gateway, _ = sandbox()
    try:
        channel = grpc.insecure_channel(gateway)
        r = Reflected(channel)
        ids = ["ins-sgdemo04", "ins-sgdemo05"]
        request = json.dumps({"provider": "PROVIDER_TENCENT", "region": "ap-guangzhou", "instance_ids": ids,
                              "wait": {"until_terminal": True}})
        box = {}

        def call():
            try:
                box["messages"] = r.server_stream("stopgate.v1.InstanceService/StopInstances", request, timeout=30)
            except grpc.RpcError as e:
                box["error"] = e

        r.message_class("stopgate.v1.StopInstancesRequest")  # resolve types before the signal
        t = threading.Thread(target=call)
        t.start()
        time.sleep(0.6)
        p.proc.send_signal(signal.SIGTERM)
        t.join(timeout=20)
        assert not t.is_alive()
        assert "error" not in box, box.get("error")
        results = results_by_id(box["messages"])
        assert {i: results[i]["outcome"] for i in ids} == {i: "INSTANCE_OUTCOME_STOPPED" for i in ids}
        assert "summary" in box["messages"][-1]
        assert p.proc.wait(timeout=15) == 0
        assert any("draining" in line for line in p.output), p.output
    finally:
        p.stop()
