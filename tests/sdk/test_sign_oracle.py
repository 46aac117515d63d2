"""The signature oracle reproduces the worked examples of docs/vendors/*.md.

Runs sign_oracle.py as a subprocess (the way other tests / the Rust side use it) on the
published vectors; does not need the simulator.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.nosim

ORACLE = Path(__file__).with_name("sign_oracle.py")
EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

A1_PARAMS = {
    "AccessKeyId": "testid",
    "Action": "DescribeRegions",
    "Format": "XML",
    "SignatureMethod": "HMAC-SHA1",
    "SignatureNonce": "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf",
    "SignatureVersion": "1.0",
    "Timestamp": "2016-02-23T12:46:24Z",
    "Version": "2014-05-26",
}
A1_STS = (
    "GET&%2F&AccessKeyId%3Dtestid%26Action%3DDescribeRegions%26Format%3DXML%26SignatureMethod"
    "%3DHMAC-SHA1%26SignatureNonce%3D3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf%26SignatureVersion%3D1.0"
    "%26Timestamp%3D2016-02-23T12%253A46%253A24Z%26Version%3D2014-05-26"
)

A2_PARAMS = {
    "Action": "DescribeDedicatedHosts",
    "Format": "JSON",
    "RegionId": "cn-beijing",
    "SignatureMethod": "HMAC-SHA1",
    "SignatureNonce": "edb2b34af0af9a6d14deaf7c1a5315eb",
    "SignatureVersion": "1.0",
    "Timestamp": "2023-03-13T08:34:30Z",
    "Version": "2014-05-26",
    "AccessKeyId": "testid",
}

A3_PARAMS = {
    "AccessKeyId": "testid",
    "Action": "StopInstances",
    "BatchOptimization": "SuccessFirst",
    "Format": "JSON",
    "ForceStop": "true",
    "InstanceId.1": "i-bp1aaaaaaaaaaaaaaaaa",
    "InstanceId.2": "i-bp1bbbbbbbbbbbbbbbbb",
    "RegionId": "cn-hangzhou",
    "SignatureMethod": "HMAC-SHA1",
    "SignatureNonce": "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf",
    "SignatureVersion": "1.0",
    "StoppedMode": "StopCharging",
    "Timestamp": "2024-01-01T12:00:00Z",
    "Version": "2014-05-26",
}
A3_STS = (
    "POST&%2F&AccessKeyId%3Dtestid%26Action%3DStopInstances%26BatchOptimization%3DSuccessFirst"
    "%26ForceStop%3Dtrue%26Format%3DJSON%26InstanceId.1%3Di-bp1aaaaaaaaaaaaaaaaa%26InstanceId.2"
    "%3Di-bp1bbbbbbbbbbbbbbbbb%26RegionId%3Dcn-hangzhou%26SignatureMethod%3DHMAC-SHA1"
    "%26SignatureNonce%3D3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf%26SignatureVersion%3D1.0"
    "%26StoppedMode%3DStopCharging%26Timestamp%3D2024-01-01T12%253A00%253A00Z%26Version%3D2014-05-26"
)
# What the Tea client itself sends in V2 mode (Format=json, ForceStop=True).
A3_TEA_WIRE = {
    "Action": "StopInstances",
    "Format": "json",
    "Version": "2014-05-26",
    "Timestamp": "2024-01-01T12:00:00Z",
    "SignatureNonce": "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf",
    "BatchOptimization": "SuccessFirst",
    "ForceStop": "True",
    "InstanceId.1": "i-bp1aaaaaaaaaaaaaaaaa",
    "InstanceId.2": "i-bp1bbbbbbbbbbbbbbbbb",
    "RegionId": "cn-hangzhou",
    "StoppedMode": "StopCharging",
    "SignatureMethod": "HMAC-SHA1",
    "SignatureVersion": "1.0",
    "AccessKeyId": "testid",
}

A4_PARAMS = {
    "Action": "DescribeInstances",
    "Format": "JSON",
    "RegionId": "cn-hangzhou",
    "SignatureMethod": "HMAC-SHA1",
    "SignatureNonce": "n1",
    "SignatureVersion": "1.0",
    "Timestamp": "2024-01-01T12:00:00Z",
    "Version": "2014-05-26",
    "AccessKeyId": "testid",
    "InstanceName": "a b*c~d/e+f:g'(h)!中",
}
A4_SEGMENT = "InstanceName%3Da%2520b%252Ac~d%252Fe%252Bf%253Ag%2527%2528h%2529%2521%25E4%25B8%25AD"

B1_HEADERS = {
    "host": "ecs.cn-shanghai.aliyuncs.com",
    "x-acs-action": "RunInstances",
    "x-acs-version": "2014-05-26",
    "x-acs-date": "2023-10-26T10:22:32Z",
    "x-acs-signature-nonce": "3156853299f313e23d1673dc12e1703d",
    "x-acs-content-sha256": EMPTY_SHA256,
}
B1_QUERY = {"ImageId": "win2019_1809_x64_dtc_zh-cn_40G_alibase_20230811.vhd", "RegionId": "cn-shanghai"}
B1_AUTH = (
    "ACS3-HMAC-SHA256 Credential=YourAccessKeyId,SignedHeaders=host;x-acs-action;"
    "x-acs-content-sha256;x-acs-date;x-acs-signature-nonce;x-acs-version,"
    "Signature=06563a9e1b43f5dfe96b81484da74bceab24a1d853912eee15083a6f0f3283c0"
)

B3_HEADERS = {
    "host": "ecs.cn-hangzhou.aliyuncs.com",
    "x-acs-action": "StopInstances",
    "x-acs-version": "2014-05-26",
    "x-acs-date": "2024-01-01T12:00:00Z",
    "x-acs-signature-nonce": "d410180a5abf7fe235dd9b74aca91fc0",
    "x-acs-content-sha256": EMPTY_SHA256,
}
B3_QUERY = {
    "BatchOptimization": "SuccessFirst",
    "ForceStop": "true",
    "InstanceId.1": "i-bp1aaaaaaaaaaaaaaaaa",
    "InstanceId.2": "i-bp1bbbbbbbbbbbbbbbbb",
    "RegionId": "cn-hangzhou",
    "StoppedMode": "StopCharging",
}
B3_AUTH = (
    "ACS3-HMAC-SHA256 Credential=testid,SignedHeaders=host;x-acs-action;x-acs-content-sha256;"
    "x-acs-date;x-acs-signature-nonce;x-acs-version,"
    "Signature=6265009ad479ad84db99d4d3355523c008c8294ddd749358d8baf906fe825eb5"
)
B3_STS_AUTH = (
    "ACS3-HMAC-SHA256 Credential=STS.testid,SignedHeaders=host;x-acs-accesskey-id;x-acs-action;"
    "x-acs-content-sha256;x-acs-date;x-acs-security-token;x-acs-signature-nonce;x-acs-version,"
    "Signature=4ab94697feb715fa3f37582a8efe5f9a63feb70e18d9e4152b6c7c05af27d427"
)

TC_ID = "AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE"
TC_KEY = "Gu5t9xGARNpq86cd98joQYCN3EXAMPLE"
TC_A_BODY = r'{"Limit": 1, "Filters": [{"Values": ["\u672a\u547d\u540d"], "Name": "instance-name"}]}'
TC_B_BODY = '{"InstanceIds": ["ins-r8hr2upy", "ins-5d8a23rs"], "StopType": "SOFT_FIRST", "StoppedMode": "STOP_CHARGING"}'
TC_C_BODY = '{"InvocationId": "inv-ib2lld37", "InstanceIds": ["ins-zcewfho0"]}'

# (case, expected subset of the result)
VECTORS = [
    ("A1 tea", {"kind": "alibaba_v2", "method": "GET", "params": A1_PARAMS, "secret": "testsecret"},
     {"signature": "OLeaidS1JvxuMvnyHOwuJ+uX5qY="}),
    ("A1 core", {"kind": "alibaba_v2_core", "method": "GET", "params": A1_PARAMS, "secret": "testsecret"},
     {"signature": "OLeaidS1JvxuMvnyHOwuJ+uX5qY=", "string_to_sign": A1_STS}),
    ("A2 tea", {"kind": "alibaba_v2", "method": "GET", "params": A2_PARAMS, "secret": "testsecret"},
     {"signature": "9NaGiOspFP5UPcwX8Iwt2YJXXuk="}),
    ("A3 tea POST", {"kind": "alibaba_v2", "method": "POST", "params": A3_PARAMS, "secret": "testsecret"},
     {"signature": "DbsAcDZHrc0XoWc8YZ6vnlbevfA="}),
    ("A3 tea GET", {"kind": "alibaba_v2", "method": "GET", "params": A3_PARAMS, "secret": "testsecret"},
     {"signature": "q53AomQqq9LXW1lsM0ZoiRtcI9o="}),
    ("A3 core POST", {"kind": "alibaba_v2_core", "method": "POST", "params": A3_PARAMS, "secret": "testsecret"},
     {"signature": "DbsAcDZHrc0XoWc8YZ6vnlbevfA=", "string_to_sign": A3_STS}),
    ("A3 core GET", {"kind": "alibaba_v2_core", "method": "GET", "params": A3_PARAMS, "secret": "testsecret"},
     {"signature": "q53AomQqq9LXW1lsM0ZoiRtcI9o="}),
    ("A3 core SignatureType=", {"kind": "alibaba_v2_core", "method": "POST",
                                "params": dict(A3_PARAMS, SignatureType=""), "secret": "testsecret"},
     {"signature": "Aoxn58F7d2FEgDbjd9F0IlPiCp0="}),
    ("A3 tea SignatureType=", {"kind": "alibaba_v2", "method": "POST",
                               "params": dict(A3_PARAMS, SignatureType=""), "secret": "testsecret"},
     {"signature": "Aoxn58F7d2FEgDbjd9F0IlPiCp0="}),
    ("A3 tea wire", {"kind": "alibaba_v2", "method": "POST", "params": A3_TEA_WIRE, "secret": "testsecret"},
     {"signature": "8KTiMVtYPltURI5sZ7G5D1r10r0="}),
    ("A4 tea", {"kind": "alibaba_v2", "method": "GET", "params": A4_PARAMS, "secret": "testsecret"},
     {"signature": "Ek6CD+cfWGQBAtskxHhWp20YW+s="}),
    ("A4 core", {"kind": "alibaba_v2_core", "method": "GET", "params": A4_PARAMS, "secret": "testsecret"},
     {"signature": "Ek6CD+cfWGQBAtskxHhWp20YW+s="}),
    ("B1", {"kind": "alibaba_v3", "method": "POST", "path": "/", "query": B1_QUERY, "headers": B1_HEADERS,
            "payload_hash": EMPTY_SHA256, "access_key_id": "YourAccessKeyId", "secret": "YourAccessKeySecret"},
     {"authorization": B1_AUTH}),
    ("B2", {"kind": "alibaba_v3", "method": "POST", "path": "/", "query": B1_QUERY,
            "headers": dict(B1_HEADERS, **{"x-acs-date": "2023-10-26T09:01:01Z",
                                           "x-acs-signature-nonce": "d410180a5abf7fe235dd9b74aca91fc0"}),
            "payload_hash": EMPTY_SHA256, "access_key_id": "YourAccessKeyId", "secret": "YourAccessKeySecret"},
     {"authorization": B1_AUTH.replace(
         "06563a9e1b43f5dfe96b81484da74bceab24a1d853912eee15083a6f0f3283c0",
         "e521358f7776c97df52e6b2891a8bc73026794a071b50c3323388c4e0df64804")}),
    ("B3", {"kind": "alibaba_v3", "method": "POST", "path": "/", "query": B3_QUERY, "headers": B3_HEADERS,
            "payload_hash": EMPTY_SHA256, "access_key_id": "testid", "secret": "testsecret"},
     {"authorization": B3_AUTH}),
    ("B3 STS", {"kind": "alibaba_v3", "method": "POST", "path": "/", "query": B3_QUERY,
                "headers": dict(B3_HEADERS, **{"x-acs-accesskey-id": "STS.testid",
                                               "x-acs-security-token": "sts-token-value"}),
                "payload_hash": EMPTY_SHA256, "access_key_id": "STS.testid", "secret": "testsecret"},
     {"authorization": B3_STS_AUTH}),
    ("TC3 (a)", {"kind": "tencent_tc3", "method": "POST", "host": "cvm.tencentcloudapi.com",
                 "content_type": "application/json; charset=utf-8", "timestamp": 1551113065,
                 "service": "cvm", "body": TC_A_BODY, "secret_key": TC_KEY},
     {"signature": "72e494ea809ad7a8c8f7a4507b9bddcbaa8e581f516e8da2f66e2c5a96525168", "date": "2019-02-25"}),
    ("TC3 (b)", {"kind": "tencent_tc3", "method": "POST", "host": "cvm.tencentcloudapi.com",
                 "content_type": "application/json", "timestamp": 1700000000,
                 "service": "cvm", "body": TC_B_BODY, "secret_key": TC_KEY},
     {"signature": "a1585a428776c5546c2b7939fdf75b8b96097fe88474f9d884861618738d0328", "date": "2023-11-14"}),
    ("TC3 (c) tat", {"kind": "tencent_tc3", "method": "POST", "host": "tat.tencentcloudapi.com",
                     "content_type": "application/json", "timestamp": 1700000000,
                     "service": "tat", "body": TC_C_BODY, "secret_key": TC_KEY},
     {"signature": "4800eb9214f1f7b85ddfea40e28c3b430c34a94068056c54eeabd2bd685b3fa7"}),
    ("TC3 (d) local host", {"kind": "tencent_tc3", "method": "POST", "host": "127.0.0.1:8080",
                            "content_type": "application/json", "timestamp": 1700000000,
                            "service": "cvm", "body": TC_B_BODY, "secret_key": TC_KEY},
     {"signature": "d393d434f1438a8e4633bb653622647ef5cec972f9ba94fc5f4cdb58f6aa4aec"}),
]


@pytest.fixture(scope="module")
def oracle_results(tmp_path_factory):
    path = tmp_path_factory.mktemp("oracle") / "cases.json"
    path.write_text(json.dumps([case for _, case, _ in VECTORS], ensure_ascii=False), encoding="utf-8")
    out = subprocess.run([sys.executable, str(ORACLE), str(path)], capture_output=True, timeout=60)
    assert out.returncode == 0, out.stderr.decode()
    results = json.loads(out.stdout)
    assert len(results) == len(VECTORS)
    return results


@pytest.mark.parametrize("idx", range(len(VECTORS)), ids=[name for name, _, _ in VECTORS])
def test_vector(oracle_results, idx):
    _, _, expected = VECTORS[idx]
    got = oracle_results[idx]
    assert "error" not in got, got
    for key, value in expected.items():
        assert got[key] == value, (key, got)


def test_a4_encoding_segment(oracle_results):
    got = oracle_results[[n for n, _, _ in VECTORS].index("A4 core")]
    assert A4_SEGMENT in got["string_to_sign"]


def test_bad_case_reports_error_without_aborting(tmp_path):
    path = tmp_path / "cases.json"
    path.write_text(json.dumps([{"kind": "nope"}, {"kind": "alibaba_v2", "method": "POST",
                                                   "params": {"A": "1"}, "secret": "s"}]))
    out = subprocess.run([sys.executable, str(ORACLE), str(path)], capture_output=True, timeout=60)
    assert out.returncode == 0, out.stderr.decode()
    results = json.loads(out.stdout)
    assert "error" in results[0]
    assert "signature" in results[1]
