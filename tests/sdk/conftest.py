"""Fixtures for the SDK fidelity suite of `stopgate sim`.

The simulator is started once per session (`stopgate sim --listen 127.0.0.1:0 --empty`);
every test starts from an empty world (`POST /_sim/reset`) with fast timings.

Clients are built with the OFFICIAL vendor SDKs:
  * alibabacloud-ecs20140526 (Tea, V3 ACS3-HMAC-SHA256 by default, V2 with
    signature_algorithm='v2')
  * aliyun-python-sdk-core + aliyun-python-sdk-ecs (legacy, always V2 HMAC-SHA1)
  * tencentcloud-sdk-python cvm / tat (TC3-HMAC-SHA256)
  * credential libraries against the simulated STS and metadata services:
    alibabacloud-credentials, alibabacloud-sts20150401, tencentcloud-sdk-python-common's
    credential classes, tencentcloud-sdk-python-sts (test_*_credentials.py)

Run (from the repo root, after `cargo build`):
    python -m venv /tmp/sdkvenv && /tmp/sdkvenv/bin/pip install -r tests/sdk/requirements.txt
    /tmp/sdkvenv/bin/python -m pytest tests/sdk -q
STOPGATE_BIN overrides the binary (default <repo>/target/debug/stopgate).
"""

import json
import os
import queue
import subprocess
import threading
import time
from pathlib import Path

import pytest

# Tencent SDK proxy gotcha (docs/vendors/tencent.md 5.4): it passes HTTP(S)_PROXY explicitly to requests,
# bypassing NO_PROXY. Remove every proxy variable before any client is built.
for _var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
    os.environ.pop(_var, None)

from simutil import (ALI_AK, ALI_REGION, ALI_SECRET, ALI_STS_AK, ALI_STS_SECRET, ALI_STS_TOKEN,
                     FAST_TIMINGS, TC_ID, TC_KEY, TC_REGION, TC_TMP_ID, TC_TMP_KEY, TC_TOKEN,
                     Admin)

REPO = Path(__file__).resolve().parents[2]
STOPGATE_BIN = os.environ.get("STOPGATE_BIN", str(REPO / "target" / "debug" / "stopgate"))
LISTEN_PREFIX = "stopgate sim listening on http://"


def pytest_configure(config):
    config.addinivalue_line("markers", "nosim: the test does not need the simulator")


# --------------------------------------------------------------------------------------------
# simulator process


class SimProcess:
    def __init__(self, binary):
        self.output = []  # every stdout/stderr line, for diagnostics
        self._lines = queue.Queue()
        self.proc = subprocess.Popen(
            [binary, "sim", "--listen", "127.0.0.1:0", "--empty"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
        )
        self._reader = threading.Thread(target=self._drain, daemon=True)
        self._reader.start()
        self.addr = self._wait_for_listen_line(timeout=30)
        self.url = "http://" + self.addr

    def _drain(self):
        for line in self.proc.stdout:
            line = line.rstrip("\n")
            self.output.append(line)
            self._lines.put(line)
        self._lines.put(None)

    def _wait_for_listen_line(self, timeout):
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                self.stop()
                raise RuntimeError("sim did not print its listen line in time; output:\n"
                                   + "\n".join(self.output[-50:]))
            try:
                line = self._lines.get(timeout=left)
            except queue.Empty:
                continue
            if line is None:
                raise RuntimeError("sim exited (rc=%s) before listening; output:\n%s"
                                   % (self.proc.wait(), "\n".join(self.output[-50:])))
            if line.startswith(LISTEN_PREFIX):
                return line[len(LISTEN_PREFIX):].strip().rstrip("/")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass


@pytest.fixture(scope="session")
def sim():
    if not os.path.exists(STOPGATE_BIN):
        pytest.fail("simulator binary not found: %s (set STOPGATE_BIN)" % STOPGATE_BIN)
    proc = SimProcess(STOPGATE_BIN)
    yield proc
    proc.stop()


# --------------------------------------------------------------------------------------------
# admin API


@pytest.fixture(scope="session")
def admin(sim):
    return Admin(sim.url)


@pytest.fixture(autouse=True)
def _fresh_world(request):
    if request.node.get_closest_marker("nosim"):
        yield
        return
    adm = request.getfixturevalue("admin")
    adm.reset("empty")
    adm.timings(**FAST_TIMINGS)
    yield


# --------------------------------------------------------------------------------------------
# Alibaba Tea client (alibabacloud-ecs20140526)


@pytest.fixture
def ali_client_factory(sim):
    from alibabacloud_ecs20140526.client import Client as EcsClient
    from alibabacloud_tea_openapi import models as open_api_models

    def make(access_key_id=ALI_AK, secret=ALI_SECRET, token=None, sts=False,
             signature_algorithm=None, region_id=ALI_REGION):
        if sts:
            access_key_id, secret, token = ALI_STS_AK, ALI_STS_SECRET, ALI_STS_TOKEN
        cfg = open_api_models.Config(
            access_key_id=access_key_id,
            access_key_secret=secret,
            endpoint=sim.addr,
            protocol="http",
            region_id=region_id,
            connect_timeout=3000,
            read_timeout=8000,
        )
        if token:
            cfg.security_token = token
        if signature_algorithm:
            cfg.signature_algorithm = signature_algorithm
        return EcsClient(cfg)

    return make


@pytest.fixture
def ali(ali_client_factory):
    """Tea ECS client, V3 signature, permanent key."""
    return ali_client_factory()


@pytest.fixture
def ali_v2(ali_client_factory):
    """Tea ECS client, V2 (HMAC-SHA1) signature, permanent key."""
    return ali_client_factory(signature_algorithm="v2")


# --------------------------------------------------------------------------------------------
# Alibaba legacy core SDK (aliyun-python-sdk-core + aliyun-python-sdk-ecs)


class CoreClient:
    """AcsClient wrapper that aims every request at the simulator (docs/vendors/alibaba.md 6)."""

    def __init__(self, acs, addr):
        self.acs = acs
        self.addr = addr

    def _aim(self, req):
        req.set_endpoint(self.addr)
        req.set_protocol_type("http")
        return req

    def do(self, req):
        """do_action_with_exception -> parsed JSON (raises ServerException/ClientException)."""
        return json.loads(self.acs.do_action_with_exception(self._aim(req)))

    def raw(self, req):
        """Keeps the request's accept format; returns (status, headers, body bytes, exception)."""
        return self.acs._implementation_of_do_action(self._aim(req))


@pytest.fixture
def core_factory(sim):
    from aliyunsdkcore.client import AcsClient

    def make(access_key_id=ALI_AK, secret=ALI_SECRET, token=None, sts=False,
             region_id=ALI_REGION, auto_retry=False):
        if sts:
            access_key_id, secret, token = ALI_STS_AK, ALI_STS_SECRET, ALI_STS_TOKEN
        if token:
            from aliyunsdkcore.auth.credentials import StsTokenCredential
            acs = AcsClient(region_id=region_id, credential=StsTokenCredential(access_key_id, secret, token),
                            auto_retry=auto_retry, connect_timeout=3, timeout=8)
        else:
            acs = AcsClient(access_key_id, secret, region_id, auto_retry=auto_retry,
                            connect_timeout=3, timeout=8)
        return CoreClient(acs, sim.addr)

    return make


@pytest.fixture
def core(core_factory):
    return core_factory()


# --------------------------------------------------------------------------------------------
# Tencent (tencentcloud-sdk-python)


@pytest.fixture
def tc_factory(sim):
    from tencentcloud.common.credential import Credential
    from tencentcloud.common.profile.client_profile import ClientProfile
    from tencentcloud.common.profile.http_profile import HttpProfile
    from tencentcloud.cvm.v20170312.cvm_client import CvmClient
    from tencentcloud.tat.v20201028.tat_client import TatClient

    def make(kind="cvm", secret_id=TC_ID, secret_key=TC_KEY, token=None, temporary=False,
             region=TC_REGION, method="POST"):
        if temporary:
            secret_id, secret_key, token = TC_TMP_ID, TC_TMP_KEY, TC_TOKEN
        hp = HttpProfile(protocol="http", endpoint=sim.addr, reqMethod=method, reqTimeout=10)
        cp = ClientProfile(httpProfile=hp, language="en-US")  # no retryer: NoopRetryer
        cred = Credential(secret_id, secret_key, token) if token else Credential(secret_id, secret_key)
        cls = {"cvm": CvmClient, "tat": TatClient}[kind]
        return cls(cred, region, cp)

    return make


@pytest.fixture
def cvm(tc_factory):
    return tc_factory("cvm")


@pytest.fixture
def tat(tc_factory):
    return tc_factory("tat")
