"""The grpcurl path against `stopgate sandbox`: a plain grpcio client discovers the services
through reflection, checks health, and stops instances on both clouds with message types
built from reflection alone."""

import json

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from gateway import Reflected, results_by_id, sandbox

pytestmark = pytest.mark.nosim


@pytest.fixture(scope="module")
def running_sandbox():
    p, gateway, sim = sandbox()
    channel = grpc.insecure_channel(gateway)
    yield channel, sim, p
    channel.close()
    p.stop()


def test_reflection_lists_stopgate_health_and_reflection(running_sandbox):
    channel, _, _ = running_sandbox
    services = Reflected(channel).services()
    assert {
        "stopgate.v1.InstanceService",
        "stopgate.v1.CommandService",
        "grpc.health.v1.Health",
        "grpc.reflection.v1.ServerReflection",
        "grpc.reflection.v1alpha.ServerReflection",
    } <= services, services


def test_reflection_describes_the_contract_down_to_google_rpc_status(running_sandbox):
    channel, _, _ = running_sandbox
    r = Reflected(channel)
    result = r.pool.FindMessageTypeByName("stopgate.v1.InstanceResult")
    assert result.fields_by_name["error"].message_type.full_name == "google.rpc.Status"
    modes = r.pool.FindEnumTypeByName("stopgate.v1.StopMode")
    assert [v.name for v in modes.values] == [
        "STOP_MODE_UNSPECIFIED", "STOP_MODE_GRACEFUL", "STOP_MODE_FORCE", "STOP_MODE_GRACEFUL_THEN_FORCE"]


@pytest.mark.parametrize("service", ["", "stopgate.v1.InstanceService", "stopgate.v1.CommandService",
                                     "stopgate.provider.alibaba",
                                     "stopgate.provider.tencent"])
def test_health_reports_serving(running_sandbox, service):
    channel, _, _ = running_sandbox
    reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=service))
    assert reply.status == health_pb2.HealthCheckResponse.SERVING


def test_health_of_an_unknown_service_is_not_found(running_sandbox):
    channel, _, _ = running_sandbox
    with pytest.raises(grpc.RpcError) as e:
        health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service="nope"))
    assert e.value.code() == grpc.StatusCode.NOT_FOUND


@pytest.mark.parametrize("provider,region,running,stopped", [
    ("PROVIDER_ALIBABA", "cn-hangzhou", "i-sgdemo0000000000000a3", "i-sgdemo0000000000000a7"),
    ("PROVIDER_TENCENT", "ap-guangzhou", "ins-sgdemo03", "ins-sgdemo07"),
])
def test_the_readme_stop_works_through_reflection(running_sandbox, provider, region, running, stopped):
    channel, _, _ = running_sandbox
    request = json.dumps({"provider": provider, "region": region, "instance_ids": [running, stopped]})
    messages = Reflected(channel).server_stream("stopgate.v1.InstanceService/StopInstances", request)
    results = results_by_id(messages)
    assert results[running]["outcome"] == "INSTANCE_OUTCOME_STOP_ACCEPTED"
    assert results[stopped]["outcome"] == "INSTANCE_OUTCOME_ALREADY_STOPPED"
    assert "summary" in messages[-1]
    assert messages[-1]["summary"]["unique"] == 2


def test_a_bad_request_is_invalid_argument_with_field_violations(running_sandbox):
    channel, _, _ = running_sandbox
    request = json.dumps({"provider": "PROVIDER_TENCENT", "region": "ap-guangzhou", "instance_ids": ["i-wrongcloud1"]})
    with pytest.raises(grpc.RpcError) as e:
        Reflected(channel).server_stream("stopgate.v1.InstanceService/StopInstances", request)
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "instance_ids[0]" in e.value.details()
    assert "ins-" in e.value.details(), "the message shows what a valid id looks like"


@pytest.mark.parametrize("provider,region,execution,instances", [
    ("PROVIDER_ALIBABA", "cn-hangzhou", "t-sgdemo0000000000000000000000001", ["i-sgdemo0000000000000a1", "i-sgdemo0000000000000a2"]),
    ("PROVIDER_TENCENT", "ap-guangzhou", "inv-sgdemo01", ["ins-sgdemo01", "ins-sgdemo02"]),
])
def test_the_readme_command_stop_works_through_reflection(running_sandbox, provider, region, execution, instances):
    channel, _, _ = running_sandbox
    request = json.dumps({"provider": provider, "region": region, "execution_id": execution,
                          "wait": {"until_terminal": True}})
    messages = Reflected(channel).server_stream("stopgate.v1.CommandService/StopCommandExecution", request, timeout=30)
    results = results_by_id(messages)
    assert {i: results[i]["outcome"] for i in instances} == {i: "COMMAND_OUTCOME_TERMINATED" for i in instances}
    assert messages[-1]["summary"]["unique"] == 2


def test_an_unknown_execution_is_not_found(running_sandbox):
    channel, _, _ = running_sandbox
    request = json.dumps({"provider": "PROVIDER_TENCENT", "region": "ap-guangzhou", "execution_id": "inv-nothere1"})
    with pytest.raises(grpc.RpcError) as e:
        Reflected(channel).server_stream("stopgate.v1.CommandService/StopCommandExecution", request)
    assert e.value.code() == grpc.StatusCode.NOT_FOUND
    assert "inv-nothere1" in e.value.details()
