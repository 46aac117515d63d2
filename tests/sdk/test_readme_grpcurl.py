"""The grpcurl commands a newcomer pastes, run as written: the README's and the ones the
sandbox prints, against `stopgate sandbox` (grpcurl resolves everything through reflection)."""

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from gateway import REPO, sandbox

pytestmark = pytest.mark.nosim
GRPCURL = str(Path(sys.executable).parent / "grpcurl")


def commands_in(text):
    """Every `grpcurl …` command, split the way a shell splits them: `\\` continues a line,
    and a newline inside quotes (the README's multi-line JSON) belongs to the argument."""
    text = re.sub(r"\\\n", " ", text)
    commands, current, quote = [], [], None
    for ch in text:
        if quote:
            quote = None if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch == "\n":
            commands.append("".join(current).strip())
            current = []
            continue
        current.append(ch)
    commands.append("".join(current).strip())
    return [c for c in commands if c.startswith("grpcurl ")]


def messages(output):
    """grpcurl prints one JSON document per stream message."""
    decoder, found, i = json.JSONDecoder(), [], 0
    while i < len(output):
        if output[i].isspace():
            i += 1
            continue
        value, i = decoder.raw_decode(output, i)
        found.append(value)
    return found


def run(command, gateway):
    command = command.replace("127.0.0.1:50051", gateway).replace("localhost:50051", gateway)
    argv = shlex.split(command)
    argv[0] = GRPCURL
    out = subprocess.run(argv, capture_output=True, text=True, timeout=60, env={**os.environ, "NO_PROXY": "*"})
    assert out.returncode == 0, f"{command}\n{out.stdout}\n{out.stderr}"
    if argv[-1] in ("list", "describe") or "/" not in argv[-1]:
        return out.stdout.split()
    return messages(out.stdout)


def test_the_readmes_grpcurl_commands_work_as_written():
    blocks = re.findall(r"```(?:sh|bash)\n(.*?)```", (REPO / "README.md").read_text(), re.S)
    commands = [c for block in blocks for c in commands_in(block)]
    assert len(commands) >= 3, commands
    p, gateway, _ = sandbox()
    try:
        for command in commands:
            output = run(command, gateway)
            assert output, command
            if "i-sgdemo0000000000000a8" in command:
                # The README says what this one prints.
                results = {m["result"]["instanceId"]: m["result"] for m in output if "result" in m}
                assert results["i-sgdemo0000000000000a1"]["outcome"] == "INSTANCE_OUTCOME_STOP_ACCEPTED"
                assert results["i-sgdemo0000000000000a7"]["outcome"] == "INSTANCE_OUTCOME_ALREADY_STOPPED"
                failed = results["i-sgdemo0000000000000a8"]
                assert failed["outcome"] == "INSTANCE_OUTCOME_FAILED"
                info = failed["error"]["details"][0]
                assert info["reason"] == "INSTANCE_LOCKED"
                assert info["metadata"]["vendorCode"] == "InstanceLockedForSecurity"
                assert "summary" in output[-1]
            if "inv-sgdemo01" in command:
                states = [m["progress"]["vendorState"] for m in output if "progress" in m]
                assert "CANCELLING" in states and "TERMINATED" in states, output
    finally:
        p.stop()


def test_the_commands_the_sandbox_prints_work_as_printed():
    p, gateway, _ = sandbox()
    try:
        commands = [line.strip() for line in p.output if line.strip().startswith("grpcurl ")]
        assert len(commands) >= 6, p.output
        for command in commands:
            output = run(command, gateway)
            assert output, command
            if command.endswith(" list"):
                assert "stopgate.v1.InstanceService" in output and "stopgate.v1.CommandService" in output
    finally:
        p.stop()
