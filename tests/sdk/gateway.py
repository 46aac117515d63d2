"""Helpers for the gateway tests: run a stopgate process, and call it the way grpcurl does,
with message types built from the server's own reflection (no generated stubs)."""

import os
import queue
import re
import subprocess
import threading
import time
from pathlib import Path

import grpc
from google.protobuf import descriptor_pool, json_format, message_factory
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)

REPO = Path(__file__).resolve().parents[2]
STOPGATE_BIN = os.environ.get("STOPGATE_BIN", str(REPO / "target" / "debug" / "stopgate"))


class Process:
    """A stopgate subcommand, its output collected line by line."""

    def __init__(self, *args, env=None):
        self.output = []
        self._lines = queue.Queue()
        full_env = dict(os.environ)
        full_env.update(env or {})
        self.proc = subprocess.Popen(
            [STOPGATE_BIN, *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
            env=full_env,
        )
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self):
        for line in self.proc.stdout:
            self.output.append(line.rstrip("\n"))
            self._lines.put(line.rstrip("\n"))
        self._lines.put(None)

    def wait_for(self, pattern, timeout=60):
        """The first match of `pattern` in the output (regex with one group)."""
        deadline = time.monotonic() + timeout
        for line in list(self.output):
            m = re.search(pattern, line)
            if m:
                return m.group(1)
        while time.monotonic() < deadline:
            try:
                line = self._lines.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                break
            if line is None:
                break
            m = re.search(pattern, line)
            if m:
                return m.group(1)
        raise AssertionError("no line matching %r; output:\n%s" % (pattern, "\n".join(self.output)))

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def sandbox():
    """`stopgate sandbox` on free ports; returns (process, gateway address, simulator URL)."""
    p = Process("sandbox", "--listen", "127.0.0.1:0", "--sim-listen", "127.0.0.1:0")
    gateway = p.wait_for(r"stopgate sandbox listening on (\S+)")
    sim = p.wait_for(r"simulator of Alibaba Cloud \+ Tencent Cloud: (http://\S+)")
    return p, gateway, sim


class Reflected:
    """Calls a server's methods with types resolved through its reflection service."""

    def __init__(self, channel):
        self.channel = channel
        self.db = ProtoReflectionDescriptorDatabase(channel)
        self.pool = descriptor_pool.DescriptorPool(self.db)

    def services(self):
        return set(self.db.get_services())

    def message_class(self, full_name):
        return message_factory.GetMessageClass(self.pool.FindMessageTypeByName(full_name))

    def server_stream(self, method, request_json, timeout=None, metadata=None):
        """Calls `package.Service/Method` with a JSON request; returns the responses as dicts."""
        service_name, method_name = method.split("/")
        method_desc = self.pool.FindServiceByName(service_name).FindMethodByName(method_name)
        request_cls = message_factory.GetMessageClass(method_desc.input_type)
        response_cls = message_factory.GetMessageClass(method_desc.output_type)
        request = json_format.Parse(request_json, request_cls())
        call = self.channel.unary_stream(
            "/" + method,
            request_serializer=request_cls.SerializeToString,
            response_deserializer=response_cls.FromString,
        )
        return [
            json_format.MessageToDict(m, preserving_proto_field_name=True)
            for m in call(request, timeout=timeout, metadata=metadata)
        ]


def results_by_id(messages):
    out = {}
    for m in messages:
        if "result" in m:
            assert m["result"]["instance_id"] not in out, "one result per instance"
            out[m["result"]["instance_id"]] = m["result"]
    return out
