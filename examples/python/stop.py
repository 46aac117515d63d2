"""Stop instances, or a command execution, through stopgate from Python with grpcio.

    python stop.py GATEWAY instances PROVIDER REGION ID...
    python stop.py GATEWAY execution PROVIDER REGION EXECUTION_ID [INSTANCE...]

PROVIDER is alibaba or tencent. Stubs are generated from ../../proto with grpcio-tools into a
temporary directory at start (no generated code to keep in sync). Prints one line per
instance, then the summary. Exit status: 0 all succeeded, 1 an instance failed, 2 the call
failed.
"""

import importlib
import sys
import tempfile
from pathlib import Path

import grpc
from grpc_tools import protoc

PROTO = Path(__file__).resolve().parents[2] / "proto"


def stubs():
    out = tempfile.mkdtemp(prefix="stopgate-stubs-")
    include = str(Path(protoc.__file__).parent / "_proto")
    for proto in ["stopgate/v1/common.proto", "stopgate/v1/instance_service.proto",
                  "stopgate/v1/command_service.proto", "google/rpc/status.proto"]:
        if protoc.main(["protoc", f"-I{PROTO}", f"-I{include}", f"--python_out={out}",
                        f"--grpc_python_out={out}", str(PROTO / proto)]) != 0:
            raise SystemExit(f"protoc failed on {proto}")
    sys.path.insert(0, out)
    load = importlib.import_module
    return (load("stopgate.v1.instance_service_pb2"), load("stopgate.v1.instance_service_pb2_grpc"),
            load("stopgate.v1.command_service_pb2"), load("stopgate.v1.command_service_pb2_grpc"))


def main(argv):
    if len(argv) < 6 or argv[2] not in ("instances", "execution"):
        print(__doc__, file=sys.stderr)
        return 2
    gateway, what, provider, region, ids = argv[1], argv[2], argv[3], argv[4], argv[5:]
    instance_pb, instance_grpc, command_pb, command_grpc = stubs()
    channel = grpc.insecure_channel(gateway)
    common = {"provider": f"PROVIDER_{provider.upper()}", "region": region}
    if what == "instances":
        stub = instance_grpc.InstanceServiceStub(channel)
        stream = stub.StopInstances(instance_pb.StopInstancesRequest(instance_ids=ids, **common))
        outcome_name = instance_pb.InstanceOutcome.Name
    else:
        stub = command_grpc.CommandServiceStub(channel)
        stream = stub.StopCommandExecution(
            command_pb.StopCommandExecutionRequest(execution_id=ids[0], instance_ids=ids[1:], **common))
        outcome_name = command_pb.CommandOutcome.Name
    failed = False
    try:
        for message in stream:
            if message.HasField("result"):
                r = message.result
                outcome = outcome_name(r.outcome)
                failed |= outcome.endswith("_FAILED")
                why = f" {r.error.message}" if r.HasField("error") else ""
                print(f"{r.instance_id} {outcome} {r.vendor_state}{why}")
            elif message.HasField("summary"):
                counts = dict(message.summary.outcome_counts)
                print(f"summary {counts} vendor_calls={message.summary.vendor_calls}")
    except grpc.RpcError as e:
        print(f"stopgate: {e.code().name} {e.details()}", file=sys.stderr)
        return 2
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
