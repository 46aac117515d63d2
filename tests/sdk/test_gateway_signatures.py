"""The gateway's outgoing requests are signed exactly as the official SDKs sign: a capture
server records what `stopgate serve` sends, and the SDKs' own signing functions recompute each
signature from the recorded request. Permanent keys and STS/session tokens, both vendors.
The secrets never show in the gateway's output, even at trace level."""

import hashlib
import json
import threading
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace
from urllib.parse import parse_qsl

import grpc
import pytest
from alibabacloud_tea_openapi.utils import Utils
from tencentcloud.common.common_client import CommonClient
from tencentcloud.common.credential import Credential
from tencentcloud.common.http.request import RequestInternal

from gateway import Process, Reflected, results_by_id

pytestmark = pytest.mark.nosim

SECRETS = {
    "alibaba": {"access_key_id": "LTAI5tCaptureTestKey01", "access_key_secret": "ali-secret-under-test-9f3"},
    "alibaba_sts": {"access_key_id": "STS.CaptureSession01", "access_key_secret": "ali-sts-secret-under-test-77",
                    "security_token": "ali-sts-token-under-test-abc"},
    "tencent": {"secret_id": "AKIDcaptureTestSecretId000000000001", "secret_key": "tc-secret-key-under-test-12"},
    "tencent_tmp": {"secret_id": "AKIDcaptureTestTmpSecretId00000001", "secret_key": "tc-tmp-key-under-test-34",
                    "session_token": "tc-session-token-under-test-56"},
}


class Capture(BaseHTTPRequestHandler):
    records = []

    def log_message(self, *args):
        pass

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        path, _, query = self.path.partition("?")
        record = {"method": "POST", "path": path, "query": query,
                  "headers": {k.lower(): v for k, v in self.headers.items()}, "body": body}
        Capture.records.append(record)
        if "x-tc-action" in record["headers"]:
            self._tencent(record)
        else:
            self._alibaba(record)

    def _send(self, payload, content_type):
        data = json.dumps(payload).encode()
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _alibaba(self, record):
        params = dict(parse_qsl(record["query"], keep_blank_values=True))
        action = record["headers"]["x-acs-action"]
        if action == "DescribeInstances":
            ids = json.loads(params["InstanceIds"])
            out = {"Instances": {"Instance": [{"InstanceId": i, "Status": "Running"} for i in ids]}}
        else:
            ids = [v for k, v in sorted(params.items()) if k.startswith("InstanceId.")]
            out = {"InstanceResponses": {"InstanceResponse": [
                {"InstanceId": i, "Code": "200", "PreviousStatus": "Running", "CurrentStatus": "Stopping"} for i in ids]}}
        out["RequestId"] = "CAPTURED-ALI"
        self._send(out, "application/json;charset=utf-8")

    def _tencent(self, record):
        body = json.loads(record["body"])
        action = record["headers"]["x-tc-action"]
        if action == "DescribeInstances":
            out = {"InstanceSet": [{"InstanceId": i, "InstanceState": "RUNNING", "RestrictState": "NORMAL",
                                    "InstanceChargeType": "POSTPAID_BY_HOUR"} for i in body["InstanceIds"]],
                   "TotalCount": len(body["InstanceIds"])}
        else:
            out = {}
        out["RequestId"] = "captured-tc"
        self._send({"Response": out}, "application/json")


@pytest.fixture(scope="module")
def captured(tmp_path_factory):
    server = ThreadingHTTPServer(("127.0.0.1", 0), Capture)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    endpoint = "http://127.0.0.1:%d" % server.server_address[1]
    config = tmp_path_factory.mktemp("cfg") / "stopgate.toml"
    config.write_text("""
[alibaba]
endpoint = "{e}"
[tencent]
endpoint = "{e}"
[accounts.default.alibaba]
access_key_id = "{a[access_key_id]}"
access_key_secret = "{a[access_key_secret]}"
[accounts.default.tencent]
secret_id = "{t[secret_id]}"
secret_key = "{t[secret_key]}"
[accounts.temporary.alibaba]
access_key_id = "{s[access_key_id]}"
access_key_secret = "{s[access_key_secret]}"
security_token = "{s[security_token]}"
[accounts.temporary.tencent]
secret_id = "{u[secret_id]}"
secret_key = "{u[secret_key]}"
session_token = "{u[session_token]}"
""".format(e=endpoint, a=SECRETS["alibaba"], t=SECRETS["tencent"], s=SECRETS["alibaba_sts"], u=SECRETS["tencent_tmp"]))
    p = Process("serve", "--listen", "127.0.0.1:0", "--config", str(config), env={"RUST_LOG": "trace"})
    gateway = p.wait_for(r"stopgate listening on (\S+)")
    channel = grpc.insecure_channel(gateway)
    r = Reflected(channel)
    calls = [
        ("PROVIDER_ALIBABA", "cn-hangzhou", "default", ["i-bp1capture000000001", "i-bp1capture000000002"]),
        ("PROVIDER_ALIBABA", "cn-shanghai", "temporary", ["i-bp1capture000000003"]),
        ("PROVIDER_TENCENT", "ap-guangzhou", "default", ["ins-capture1", "ins-capture2"]),
        ("PROVIDER_TENCENT", "ap-shanghai", "temporary", ["ins-capture3"]),
    ]
    outcomes = {}
    for provider, region, account, ids in calls:
        request = json.dumps({"provider": provider, "region": region, "account": account, "instance_ids": ids})
        outcomes.update(results_by_id(r.server_stream("stopgate.v1.InstanceService/StopInstances", request)))
    channel.close()
    p.stop()
    server.shutdown()
    yield Capture.records, outcomes, p.output


def _alibaba_records(records):
    return [r for r in records if "x-acs-action" in r["headers"]]


def _tencent_records(records):
    return [r for r in records if "x-tc-action" in r["headers"]]


def test_every_call_was_answered_and_recorded(captured):
    records, outcomes, _ = captured
    assert len(outcomes) == 6
    assert all(o["outcome"] == "INSTANCE_OUTCOME_STOP_ACCEPTED" for o in outcomes.values()), outcomes
    # one describe and one stop per call
    assert len(_alibaba_records(records)) == 4 and len(_tencent_records(records)) == 4


def test_alibaba_v3_signatures_match_the_tea_sdk(captured):
    records, _, _ = captured
    for rec in _alibaba_records(records):
        h = rec["headers"]
        auth = h["authorization"]
        algorithm, _, rest = auth.partition(" ")
        parts = dict(p.split("=", 1) for p in rest.split(","))
        signed = parts["SignedHeaders"].split(";")
        assert {"host", "x-acs-action", "x-acs-version", "x-acs-date", "x-acs-signature-nonce",
                "x-acs-content-sha256"} <= set(signed)
        assert h["x-acs-content-sha256"] == hashlib.sha256(rec["body"]).hexdigest()
        sts = parts["Credential"].startswith("STS.")
        secrets = SECRETS["alibaba_sts" if sts else "alibaba"]
        assert parts["Credential"] == secrets["access_key_id"]
        if sts:
            assert h["x-acs-security-token"] == secrets["security_token"]
            assert "x-acs-security-token" in signed
        request = SimpleNamespace(method=rec["method"], pathname=rec["path"],
                                  query=dict(parse_qsl(rec["query"], keep_blank_values=True)),
                                  headers={name: h[name] for name in signed})
        expected = Utils.get_authorization(request, "ACS3-HMAC-SHA256", h["x-acs-content-sha256"],
                                           secrets["access_key_id"], secrets["access_key_secret"])
        assert auth == expected


def test_tencent_tc3_signatures_match_the_official_sdk(captured):
    records, _, _ = captured
    client = CommonClient("cvm", "2017-03-12", Credential("AKIDx", "x"), "ap-guangzhou")
    for rec in _tencent_records(records):
        h = rec["headers"]
        credential = h["authorization"].split("Credential=")[1].split(",")[0]
        secret_id, date, service, _ = credential.split("/")
        tmp = secret_id == SECRETS["tencent_tmp"]["secret_id"]
        secrets = SECRETS["tencent_tmp" if tmp else "tencent"]
        assert secret_id == secrets["secret_id"]
        ts = int(h["x-tc-timestamp"])
        assert date == datetime.fromtimestamp(ts, tz=timezone.utc).strftime("%Y-%m-%d"), "UTC date"
        assert service == "cvm" and h["x-tc-version"] == "2017-03-12"
        assert "SignedHeaders=content-type;host," in h["authorization"]
        if tmp:
            assert h["x-tc-token"] == secrets["session_token"]
        else:
            assert "x-tc-token" not in h
        req = RequestInternal(h["host"], "POST", "/", header={"Content-Type": h["content-type"], "Host": h["host"],
                                                              "X-TC-Timestamp": h["x-tc-timestamp"]},
                              data=rec["body"].decode())
        expected = client._get_tc3_signature(None, req, date, service, secrets["secret_key"])
        assert h["authorization"].endswith("Signature=" + expected)


def test_no_secret_reaches_the_gateways_output_even_at_trace_level(captured):
    _, _, output = captured
    text = "\n".join(output)
    assert "StopInstances" in text or "stopgate listening" in text
    for account in SECRETS.values():
        for key in ("access_key_secret", "secret_key", "security_token", "session_token"):
            if key in account:
                assert account[key] not in text, key
    assert "HMAC-SHA256 Credential=" not in text, "no Authorization header is logged"

