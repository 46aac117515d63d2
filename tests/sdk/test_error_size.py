"""Errors stay small whatever the caller sent: a gRPC-core client (grpcio) that sends a 2 MB
instance id gets INVALID_ARGUMENT with a short message, not RESOURCE_EXHAUSTED from trailers
over its 16 KiB limit."""

import json

import grpc
import pytest

from gateway import Reflected, sandbox

pytestmark = pytest.mark.nosim


@pytest.fixture(scope="module")
def channel():
    p, gateway, _ = sandbox()
    channel = grpc.insecure_channel(gateway)
    yield channel
    channel.close()
    p.stop()


def test_a_two_megabyte_instance_id_is_invalid_argument_with_a_short_message(channel):
    huge = "ins-" + "x" * (2 * 1024 * 1024)
    request = json.dumps({"provider": "PROVIDER_TENCENT", "region": "ap-guangzhou", "instance_ids": [huge]})
    with pytest.raises(grpc.RpcError) as e:
        Reflected(channel).server_stream("stopgate.v1.InstanceService/StopInstances", request, timeout=30)
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT, e.value.details()
    assert "instance_ids[0]" in e.value.details()
    assert len(e.value.details()) <= 1024
    trailers = sum(len(k) + len(v) for k, v in e.value.trailing_metadata() or ())
    assert trailers < 16 * 1024, trailers
