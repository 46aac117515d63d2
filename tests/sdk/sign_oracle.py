#!/usr/bin/env python3
"""Signature oracle backed by the OFFICIAL vendor SDK signing functions.

Usage: python sign_oracle.py CASES.json > RESULTS.json

CASES.json is a JSON array; each element is one case, the output is a JSON array of
results in the same order. Supported kinds:

  {"kind": "alibaba_v2", "method": "POST", "params": {...}, "secret": "..."}
      -> {"signature": ...}   alibabacloud_tea_openapi.utils.Utils.get_rpcsignature

  {"kind": "alibaba_v2_core", "method": "POST", "params": {...}, "secret": "..."}
      -> {"string_to_sign": ..., "signature": ...}
         aliyunsdkcore.auth.composer.rpc_signature_composer (private
         __compose_string_to_sign / __get_signature)

  {"kind": "alibaba_v3", "method": "POST", "path": "/", "query": {...}, "headers": {...},
   "payload_hash": "<hex>", "access_key_id": "...", "secret": "..."}
      -> {"authorization": ...}   Utils.get_authorization(req, "ACS3-HMAC-SHA256", ...)
         ("payload_hash" defaults to the SHA-256 of the empty body; "sign_type" may override
         the algorithm name)

  {"kind": "tencent_tc3", "method": "POST", "host": "...", "content_type": "...",
   "timestamp": 1700000000, "service": "cvm", "body": "<string>", "secret_key": "..."}
      -> {"signature": ..., "date": "YYYY-MM-DD"}
         tencentcloud AbstractClient._get_tc3_signature on a CommonClient + RequestInternal
         (for "method": "GET" pass the query string as "query"; the body is then ignored)

A case that fails yields {"error": "<ExceptionType>: <message>"} instead of aborting the run.
"""

import hashlib
import json
import sys
import types
from datetime import datetime, timezone


def _alibaba_v2(case):
    from alibabacloud_tea_openapi.utils import Utils

    params = {k: (None if v is None else str(v)) for k, v in case["params"].items()}
    return {"signature": Utils.get_rpcsignature(params, case.get("method", "POST"), case["secret"])}


def _alibaba_v2_core(case):
    from aliyunsdkcore.auth.composer import rpc_signature_composer as composer

    compose = getattr(composer, "__compose_string_to_sign")
    sign = getattr(composer, "__get_signature")
    params = {k: str(v) for k, v in case["params"].items()}
    sts = compose(case.get("method", "POST"), params)
    return {"string_to_sign": sts, "signature": sign(sts, case["secret"])}


def _alibaba_v3(case):
    from alibabacloud_tea_openapi.utils import Utils

    req = types.SimpleNamespace(
        method=case.get("method", "POST"),
        pathname=case.get("path", "/"),
        query={k: str(v) for k, v in (case.get("query") or {}).items()},
        headers=dict(case.get("headers") or {}),
    )
    payload = case.get("payload_hash") or hashlib.sha256(b"").hexdigest()
    sign_type = case.get("sign_type", "ACS3-HMAC-SHA256")
    auth = Utils.get_authorization(req, sign_type, payload, case["access_key_id"], case["secret"])
    return {"authorization": auth}


def _tencent_tc3(case):
    from tencentcloud.common.common_client import CommonClient
    from tencentcloud.common.credential import Credential
    from tencentcloud.common.http.request import RequestInternal

    service = case.get("service", "cvm")
    version = case.get("version", "2017-03-12")
    client = CommonClient(service, version, Credential("AKIDoracle", "oracle-key"), "ap-guangzhou")
    method = case.get("method", "POST").upper()
    ts = int(case["timestamp"])
    header = {
        "Content-Type": case["content_type"],
        "Host": case["host"],
        "X-TC-Timestamp": str(ts),
    }
    data = case.get("query", "") if method == "GET" else case.get("body", "")
    req = RequestInternal(case["host"], method, "/", header=header, data=data)
    date = datetime.fromtimestamp(ts, tz=timezone.utc).strftime("%Y-%m-%d")
    sig = client._get_tc3_signature(None, req, date, service, case["secret_key"])
    return {"signature": sig, "date": date}


KINDS = {
    "alibaba_v2": _alibaba_v2,
    "alibaba_v2_core": _alibaba_v2_core,
    "alibaba_v3": _alibaba_v3,
    "tencent_tc3": _tencent_tc3,
}


def compute(case):
    fn = KINDS.get(case.get("kind"))
    if fn is None:
        return {"error": "UnknownKind: %r" % (case.get("kind"),)}
    try:
        return fn(case)
    except Exception as e:  # report per case, keep going
        return {"error": "%s: %s" % (type(e).__name__, e)}


def main(argv):
    if len(argv) != 2:
        sys.stderr.write("usage: sign_oracle.py CASES.json\n")
        return 2
    with open(argv[1], "r", encoding="utf-8") as f:
        cases = json.load(f)
    if not isinstance(cases, list):
        sys.stderr.write("cases file must hold a JSON array\n")
        return 2
    json.dump([compute(c) for c in cases], sys.stdout, ensure_ascii=False)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
