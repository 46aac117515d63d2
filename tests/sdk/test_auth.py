"""Authentication as the vendors do it (docs/simulator.md "Authentication"), through the
official SDKs: Tea V3 and V2, Tencent TC3 (POST and GET). The core SDK variants live in
test_alibaba_legacy_core.py."""

import datetime
import json
import time
import types

import pytest
from alibabacloud_ecs20140526 import models as am
from alibabacloud_tea_openapi.utils import Utils
from tencentcloud.common import abstract_client

from simutil import (ALI_AK, ALI_REGION, ALI_STS_AK, ALI_STS_SECRET, ALI_STS_TOKEN,
                     TC_REGION, TC_TMP_ID, TC_TMP_KEY, ali_error, http_request, tc_error,
                     tc_states, unique_nonce)

ALGOS = [None, "v2"]  # Tea default (V3 ACS3-HMAC-SHA256) and legacy V2 (HMAC-SHA1)
ALGO_IDS = ["v3", "v2"]


def describe(client, ids=()):
    return client.describe_instance_status(am.DescribeInstanceStatusRequest(
        region_id=ALI_REGION, instance_id=list(ids) or None))


def utc_stamp(delta_minutes):
    t = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(minutes=delta_minutes)
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


# ---------------------------------------------------------------------------------------------
# Alibaba through the Tea SDK


@pytest.mark.parametrize("algo", ALGOS, ids=ALGO_IDS)
def test_ali_good_key(admin, ali_client_factory, algo):
    iid = admin.add_instance("alibaba", ALI_REGION)
    body = describe(ali_client_factory(signature_algorithm=algo), [iid]).body
    assert [(s.instance_id, s.status) for s in body.instance_statuses.instance_status] == [(iid, "Running")]


@pytest.mark.parametrize("algo", ALGOS, ids=ALGO_IDS)
def test_ali_wrong_secret(ali_client_factory, algo):
    client = ali_client_factory(secret="not-the-secret", signature_algorithm=algo)
    with ali_error("SignatureDoesNotMatch", 400) as ei:
        describe(client)
    assert "server string to sign is:" in ei.value.message


def test_ali_v3_wrong_secret_string_to_sign(ali_client_factory):
    client = ali_client_factory(secret="not-the-secret")
    with ali_error("SignatureDoesNotMatch", 400) as ei:
        describe(client)
    sts = ei.value.data["Message"].split("server string to sign is:", 1)[1]
    assert sts.startswith("ACS3-HMAC-SHA256\n"), sts


@pytest.mark.parametrize("algo", ALGOS, ids=ALGO_IDS)
def test_ali_unknown_key(ali_client_factory, algo):
    client = ali_client_factory(access_key_id="LTAI5tNoSuchKey000000000", secret="x", signature_algorithm=algo)
    with ali_error("InvalidAccessKeyId.NotFound", 404):
        describe(client)


@pytest.mark.parametrize("algo", ALGOS, ids=ALGO_IDS)
def test_ali_sts_good(admin, ali_client_factory, algo):
    iid = admin.add_instance("alibaba", ALI_REGION)
    client = ali_client_factory(sts=True, signature_algorithm=algo)
    assert describe(client, [iid]).body.instance_statuses.instance_status[0].instance_id == iid


@pytest.mark.parametrize("algo", ALGOS, ids=ALGO_IDS)
def test_ali_sts_missing_token(ali_client_factory, algo):
    client = ali_client_factory(access_key_id=ALI_STS_AK, secret=ALI_STS_SECRET, signature_algorithm=algo)
    with ali_error("MissingSecurityToken", 400):
        describe(client)


@pytest.mark.parametrize("algo", ALGOS, ids=ALGO_IDS)
def test_ali_sts_wrong_token(ali_client_factory, algo):
    client = ali_client_factory(access_key_id=ALI_STS_AK, secret=ALI_STS_SECRET,
                                token=ALI_STS_TOKEN + "-other", signature_algorithm=algo)
    with ali_error("InvalidSecurityToken.MismatchWithAccessKey", 400):
        describe(client)


def test_ali_sts_account_sees_same_world(admin, ali_client_factory):
    iid = admin.add_instance("alibaba", ALI_REGION)
    client = ali_client_factory(sts=True)
    client.stop_instance(am.StopInstanceRequest(instance_id=iid, force_stop=True))
    perm = ali_client_factory()
    assert describe(perm, [iid]).body.instance_statuses.instance_status[0].status in ("Stopping", "Stopped")


@pytest.mark.parametrize("algo", ALGOS, ids=ALGO_IDS)
@pytest.mark.parametrize("delta", [-20, 20], ids=["past", "future"])
def test_ali_expired_timestamp(monkeypatch, ali_client_factory, algo, delta):
    monkeypatch.setattr(Utils, "get_timestamp", staticmethod(lambda: utc_stamp(delta)))
    with ali_error("InvalidTimeStamp.Expired", 400):
        describe(ali_client_factory(signature_algorithm=algo))


@pytest.mark.parametrize("algo", ALGOS, ids=ALGO_IDS)
def test_ali_timestamp_within_window(monkeypatch, admin, ali_client_factory, algo):
    iid = admin.add_instance("alibaba", ALI_REGION)
    monkeypatch.setattr(Utils, "get_timestamp", staticmethod(lambda: utc_stamp(-10)))
    body = describe(ali_client_factory(signature_algorithm=algo), [iid]).body
    assert body.instance_statuses.instance_status[0].instance_id == iid


@pytest.mark.parametrize("algo", ALGOS, ids=ALGO_IDS)
def test_ali_reused_nonce(monkeypatch, ali_client_factory, algo):
    nonce = unique_nonce()
    monkeypatch.setattr(Utils, "get_nonce", staticmethod(lambda: nonce))
    client = ali_client_factory(signature_algorithm=algo)
    describe(client)
    with ali_error("SignatureNonceUsed", 400):
        describe(client)


def _ali_error_code(headers, body):
    """Code of an Alibaba error body, JSON or XML."""
    if headers.get("content-type", "").startswith("text/xml"):
        import xml.etree.ElementTree as ET
        return ET.fromstring(body).findtext("Code")
    return json.loads(body)["Code"]


def test_ali_missing_authorization(sim):
    # V3-style request (x-acs-action header, no Action query) with no Authorization header
    status, headers, body = http_request(sim.url + "/?RegionId=cn-hangzhou", "POST", b"", {
        "x-acs-action": "DescribeInstanceStatus", "x-acs-version": "2014-05-26",
        "x-acs-date": utc_stamp(0), "x-acs-signature-nonce": unique_nonce(),
        "x-acs-content-sha256": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"})
    assert status == 400, body
    assert _ali_error_code(headers, body) == "IncompleteSignature", body
    assert headers.get("content-type") == "application/json;charset=utf-8"


def test_ali_garbled_authorization(sim):
    status, _, body = http_request(sim.url + "/?RegionId=cn-hangzhou", "POST", b"", {
        "x-acs-action": "DescribeInstanceStatus", "x-acs-version": "2014-05-26",
        "x-acs-date": utc_stamp(0), "x-acs-signature-nonce": unique_nonce(),
        "x-acs-content-sha256": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "Authorization": "ACS3-HMAC-SHA256 garbage"})
    assert status == 400, body
    assert json.loads(body)["Code"] == "IncompleteSignature"


def test_ali_v2_missing_signature(sim):
    params = "Action=DescribeInstanceStatus&Version=2014-05-26&Format=JSON&RegionId=cn-hangzhou" \
             "&AccessKeyId=%s&SignatureMethod=HMAC-SHA1&SignatureVersion=1.0&SignatureNonce=%s" \
             "&Timestamp=%s" % (ALI_AK, unique_nonce(), utc_stamp(0).replace(":", "%3A"))
    status, _, body = http_request(sim.url + "/?" + params, "GET")
    assert status == 400, body
    assert json.loads(body)["Code"] == "IncompleteSignature"


def test_ali_added_credential(admin, ali_client_factory):
    admin.add_credential("alibaba", "LTAI5tAddedAtRuntime0001", "added-secret", "1234567890123456")
    iid = admin.add_instance("alibaba", ALI_REGION)
    client = ali_client_factory(access_key_id="LTAI5tAddedAtRuntime0001", secret="added-secret")
    assert describe(client, [iid]).body.instance_statuses.instance_status[0].instance_id == iid


def test_ali_added_sts_credential(admin, ali_client_factory):
    admin.add_credential("alibaba", "STS.AddedAtRuntime0001", "added-sts-secret", "1234567890123456",
                         token="added-sts-token")
    client = ali_client_factory(access_key_id="STS.AddedAtRuntime0001", secret="added-sts-secret",
                                token="added-sts-token")
    describe(client)
    bad = ali_client_factory(access_key_id="STS.AddedAtRuntime0001", secret="added-sts-secret",
                             token=ALI_STS_TOKEN)
    with ali_error("InvalidSecurityToken.MismatchWithAccessKey", 400):
        describe(bad)


def test_ali_auth_failures_are_logged(admin, ali_client_factory):
    admin.clear_calls()
    with ali_error("SignatureDoesNotMatch", 400):
        describe(ali_client_factory(secret="nope"))
    calls = admin.calls(provider="alibaba")
    assert len(calls) == 1
    c = calls[0]
    assert c["action"] == "DescribeInstanceStatus"
    assert c["outcome"] == "SignatureDoesNotMatch"
    assert c["http_status"] == 400
    assert not c.get("account")


# ---------------------------------------------------------------------------------------------
# Tencent


def patch_tc_time(monkeypatch, offset_seconds):
    fake = types.SimpleNamespace(time=lambda: time.time() + offset_seconds)
    monkeypatch.setattr(abstract_client, "time", fake)


@pytest.mark.parametrize("method", ["POST", "GET"])
def test_tc_good_key(admin, tc_factory, method):
    iid = admin.add_instance("tencent", TC_REGION)
    assert tc_states(tc_factory("cvm", method=method), [iid]) == {iid: "RUNNING"}


@pytest.mark.parametrize("method", ["POST", "GET"])
def test_tc_wrong_key(tc_factory, method):
    with tc_error("AuthFailure.SignatureFailure") as ei:
        tc_states(tc_factory("cvm", secret_key="not-the-key", method=method), [])
    assert ei.value.get_request_id()


@pytest.mark.parametrize("kind", ["cvm", "tat"])
def test_tc_unknown_id(tc_factory, kind):
    client = tc_factory(kind, secret_id="AKIDnoSuchKey00000000000000000000001", secret_key="x")
    with tc_error("AuthFailure.SecretIdNotFound"):
        if kind == "cvm":
            tc_states(client, [])
        else:
            from tencentcloud.tat.v20201028 import models as tm
            client.DescribeInvocations(tm.DescribeInvocationsRequest())


def test_tc_temporary_good(admin, tc_factory):
    iid = admin.add_instance("tencent", TC_REGION)
    assert tc_states(tc_factory("cvm", temporary=True), [iid]) == {iid: "RUNNING"}


def test_tc_temporary_without_token(tc_factory):
    with tc_error("AuthFailure.TokenFailure"):
        tc_states(tc_factory("cvm", secret_id=TC_TMP_ID, secret_key=TC_TMP_KEY), [])


def test_tc_temporary_wrong_token(tc_factory):
    with tc_error("AuthFailure.TokenFailure"):
        tc_states(tc_factory("cvm", secret_id=TC_TMP_ID, secret_key=TC_TMP_KEY, token="wrong-token"), [])


@pytest.mark.parametrize("offset", [-400, 400], ids=["past", "future"])
def test_tc_expired_timestamp(monkeypatch, tc_factory, offset):
    patch_tc_time(monkeypatch, offset)
    with tc_error("AuthFailure.SignatureExpire"):
        tc_states(tc_factory("cvm"), [])


def test_tc_timestamp_within_window(monkeypatch, admin, tc_factory):
    iid = admin.add_instance("tencent", TC_REGION)
    patch_tc_time(monkeypatch, -200)
    assert tc_states(tc_factory("cvm"), [iid]) == {iid: "RUNNING"}


def test_tc_missing_authorization(sim):
    status, headers, body = http_request(sim.url + "/", "POST", "{}", {
        "Content-Type": "application/json", "X-TC-Action": "DescribeInstancesStatus",
        "X-TC-Version": "2017-03-12", "X-TC-Region": TC_REGION,
        "X-TC-Timestamp": str(int(time.time()))})
    assert status == 200
    assert headers.get("content-type") == "application/json"
    assert json.loads(body)["Response"]["Error"]["Code"] == "AuthFailure.InvalidAuthorization"


def test_tc_garbled_authorization(sim):
    status, headers, body = http_request(sim.url + "/", "POST", "{}", {
        "Content-Type": "application/json", "X-TC-Action": "DescribeInstancesStatus",
        "X-TC-Version": "2017-03-12", "X-TC-Region": TC_REGION,
        "X-TC-Timestamp": str(int(time.time())), "Authorization": "TC3-HMAC-SHA256 nonsense"})
    assert status == 200
    assert json.loads(body)["Response"]["Error"]["Code"] == "AuthFailure.InvalidAuthorization"


def test_tc_added_credential_other_account(admin, tc_factory):
    admin.add_credential("tencent", "AKIDotherAccount00000000000000000001", "otherKey", "100000000099")
    mine = admin.add_instance("tencent", TC_REGION)
    theirs = admin.add_instance("tencent", TC_REGION, account="100000000099")
    other = tc_factory("cvm", secret_id="AKIDotherAccount00000000000000000001", secret_key="otherKey")
    assert set(tc_states(other, [mine, theirs])) == {theirs}
    assert set(tc_states(tc_factory("cvm"), [mine, theirs])) == {mine}


def test_tc_auth_failures_are_logged(admin, tc_factory):
    admin.clear_calls()
    with tc_error("AuthFailure.SignatureFailure"):
        tc_states(tc_factory("cvm", secret_key="nope"), [])
    calls = admin.calls(provider="tencent")
    assert len(calls) == 1
    assert calls[0]["action"] == "DescribeInstancesStatus"
    assert calls[0]["outcome"] == "AuthFailure.SignatureFailure"
    assert not calls[0].get("account")
