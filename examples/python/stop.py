"""Stop instances, or a command execution, through stopgate from Python with grpcio.

    python stop.py GATEWAY instances PROVIDER REGION ID... [--request-id ID]
    python stop.py GATEWAY select PROVIDER REGION[,REGION...]|all KEY[=VALUE]... --expect-at-most N
                   [--request-id ID]
    python stop.py GATEWAY execution PROVIDER REGION EXECUTION_ID [INSTANCE...] [--request-id ID]

PROVIDER is alibaba or tencent. Stubs are generated from ../../proto with grpcio-tools into a
temporary directory at start (no generated code to keep in sync). Prints the operation id,
one line per instance (`ID REGION OUTCOME VENDOR_STATE` for instances), then the summary.
Exit status: 0 all succeeded, 1 an instance failed (or a region could not be searched), 2 the
call failed.

`select` stops by tags instead of ids: every instance carrying all the tags (KEY=VALUE, or KEY
alone for any value) in the regions listed, or in every region of the account with `all`. The
gateway reads every region first and stops nothing anywhere when more than N instances match
(FAILED_PRECONDITION, SELECTOR_MATCHED_TOO_MANY, with the count per region). The summary is
followed by one line per region searched: how many matched there, or why it could not be read.

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


def take_flag(args, name):
    """Removes `name VALUE` from args; returns VALUE ("" when it has none), or None."""
    if name not in args:
        return None
    at = args.index(name)
    value = args[at + 1] if at + 1 < len(args) else ""
    del args[at:at + 2]
    return value


def selector(instance_pb, regions, tags, expect_at_most):
    """The InstanceSelector of `select`: tags KEY=VALUE or KEY (any value), regions "A,B" or
    "all", and the most instances expected to match."""
    matches = []
    for tag in tags:
        key, has_value, value = tag.partition("=")
        # An unset value means "any value": leave the optional field out.
        matches.append(instance_pb.TagMatch(key=key, value=value) if has_value
                       else instance_pb.TagMatch(key=key))
    everywhere = regions == "all"
    return instance_pb.InstanceSelector(
        tags=matches, regions=[] if everywhere else regions.split(","),
        all_regions=everywhere, expect_at_most=expect_at_most)


def main(argv):
    args = argv[1:]
    request_id = take_flag(args, "--request-id")
    request_id = str(uuid.uuid4()) if request_id is None else request_id
    expect_at_most = take_flag(args, "--expect-at-most")
    what = args[1] if len(args) > 1 else None
    if (len(args) < 5 or what not in ("instances", "select", "execution") or not request_id
            or (what == "select") != (expect_at_most is not None)
            or (expect_at_most is not None and not expect_at_most.isdigit())):
        print(__doc__, file=sys.stderr)
        return 2
    gateway, provider, region, ids = args[0], args[2], args[3], args[4:]
    instance_pb, instance_grpc, command_pb, command_grpc = stubs()
    channel = grpc.insecure_channel(gateway)
    common = {"provider": f"PROVIDER_{provider.upper()}", "request_id": request_id}
    if what in ("instances", "select"):
        stub = instance_grpc.InstanceServiceStub(channel)
        if what == "instances":
            request = instance_pb.StopInstancesRequest(instance_ids=ids, region=region, **common)
        else:
            request = instance_pb.StopInstancesRequest(
                selector=selector(instance_pb, region, ids, int(expect_at_most)), **common)
        call = stub.StopInstances
        outcome_name = instance_pb.InstanceOutcome.Name
    else:
        stub = command_grpc.CommandServiceStub(channel)
        request = command_pb.StopCommandExecutionRequest(
            region=region, execution_id=ids[0], instance_ids=ids[1:], **common)
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
                    # Instances carry their region; a command's tasks do not.
                    where = "" if what == "execution" else f" {r.region}"
                    print(f"{r.instance_id}{where} {outcome} {r.vendor_state}{why}")
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
        # A selector's regions, in the order searched: a region that could not be read
        # (not allowed for the account, a vendor error) had nothing stopped.
        for r in summary.regions:
            if r.HasField("error"):
                failed = True
                print(f"region {r.region} error={r.error.message}")
            else:
                print(f"region {r.region} matched={r.matched}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
