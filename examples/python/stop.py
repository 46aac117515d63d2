"""Stop instances, or a command execution, through stopgate from Python with grpcio.

    python stop.py GATEWAY instances PROVIDER REGION ID... [--request-id ID]
    python stop.py GATEWAY execution PROVIDER REGION EXECUTION_ID [INSTANCE...] [--request-id ID]

PROVIDER is alibaba or tencent. Stubs are generated from ../../proto with grpcio-tools into a
temporary directory at start (no generated code to keep in sync). Prints the operation id,
one line per instance, then the summary. Exit status: 0 all succeeded, 1 an instance failed,
2 the call failed.

Every call is an operation named by its request_id (Google AIP-155): this example sends a new
UUID, or the ID given with --request-id. The stream's first message, OperationAccepted, names
the operation. The operation runs to its end at the gateway even when the stream breaks, so on
a broken stream (UNAVAILABLE, UNKNOWN, ABORTED, INTERNAL) the example sends the same request
with the same request_id again, with backoff: that re-attaches, and the new stream replays every
result recorded so far before the rest. Each instance is printed once. Run it again with
--request-id ID to get the results of an operation this client did not see to its end.
"""

import importlib
import sys
import tempfile
import time
import uuid
from pathlib import Path

import grpc
from grpc_tools import protoc

PROTO = Path(__file__).resolve().parents[2] / "proto"
# The stream broke (the connection or the gateway went away): worth re-attaching.
REATTACH_ON = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.UNKNOWN, grpc.StatusCode.ABORTED,
               grpc.StatusCode.INTERNAL}
REATTACH_ATTEMPTS = 5


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
    args = argv[1:]
    request_id = str(uuid.uuid4())
    if "--request-id" in args:
        at = args.index("--request-id")
        request_id = args[at + 1] if at + 1 < len(args) else ""
        del args[at:at + 2]
    if len(args) < 5 or args[1] not in ("instances", "execution") or not request_id:
        print(__doc__, file=sys.stderr)
        return 2
    gateway, what, provider, region, ids = args[0], args[1], args[2], args[3], args[4:]
    instance_pb, instance_grpc, command_pb, command_grpc = stubs()
    channel = grpc.insecure_channel(gateway)
    common = {"provider": f"PROVIDER_{provider.upper()}", "region": region,
              "request_id": request_id}
    if what == "instances":
        stub = instance_grpc.InstanceServiceStub(channel)
        request = instance_pb.StopInstancesRequest(instance_ids=ids, **common)
        call = stub.StopInstances
        outcome_name = instance_pb.InstanceOutcome.Name
    else:
        stub = command_grpc.CommandServiceStub(channel)
        request = command_pb.StopCommandExecutionRequest(
            execution_id=ids[0], instance_ids=ids[1:], **common)
        call = stub.StopCommandExecution
        outcome_name = command_pb.CommandOutcome.Name
    printed = set()  # instances already printed: a re-attached stream replays them
    failed = False
    summary = None
    for attempt in range(REATTACH_ATTEMPTS + 1):
        try:
            # The same request, the same request_id: the first time it starts the operation,
            # later it re-attaches to it.
            for message in call(request):
                if message.HasField("accepted"):
                    a = message.accepted
                    if a.reattached:
                        print(f"re-attached to operation {a.request_id} "
                              f"({a.recorded} result(s) recorded so far)")
                    else:
                        print(f"operation {a.request_id}")
                elif message.HasField("result") and message.result.instance_id not in printed:
                    r = message.result
                    printed.add(r.instance_id)
                    outcome = outcome_name(r.outcome)
                    failed |= outcome.endswith("_FAILED")
                    why = f" {r.error.message}" if r.HasField("error") else ""
                    print(f"{r.instance_id} {outcome} {r.vendor_state}{why}")
                elif message.HasField("summary"):
                    summary = message.summary
            break
        except grpc.RpcError as e:
            if e.code() not in REATTACH_ON or attempt == REATTACH_ATTEMPTS:
                print(f"stopgate: {e.code().name} {e.details()}", file=sys.stderr)
                if e.code() in REATTACH_ON:
                    print(f"the operation goes on at the gateway: run again with --request-id "
                          f"{request_id} to get every result", file=sys.stderr)
                return 2
            pause = 0.5 * 2 ** attempt
            print(f"stopgate: the stream broke ({e.code().name}); re-attaching to operation "
                  f"{request_id} in {pause:g} s", file=sys.stderr)
            time.sleep(pause)
    if summary is not None:
        print(f"summary {dict(summary.outcome_counts)} vendor_calls={summary.vendor_calls}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
