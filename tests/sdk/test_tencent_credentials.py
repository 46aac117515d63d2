"""Tencent temporary credentials from the simulator, obtained with the official libraries
(tencentcloud-sdk-python-common's STSAssumeRoleCredential, OIDCRoleArnCredential, the TKE
provider and CVMRoleCredential, and tencentcloud-sdk-python-sts), then used against the
simulated CVM API (docs/simulator.md "Temporary credentials")."""

import functools
import json

import pytest
from tencentcloud.common import credential as tcc
from tencentcloud.common.profile.client_profile import ClientProfile
from tencentcloud.common.profile.http_profile import HttpProfile

from simutil import (TC_ACCOUNT, TC_ID, TC_KEY, TC_REGION, http_request, tc_error, tc_instances,
                     wait_past)

ROLE_ARN = "qcs::cam::uin/%s:roleName/stopgate-stopper" % TC_ACCOUNT
PROVIDER_ID = "tke-oidc-stopgate"
WEB_IDENTITY_TOKEN = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6c3RvcGdhdGU6Z2F0ZXdheSJ9.c2ln"


@pytest.fixture
def plain_http(monkeypatch):
    """The credential classes build their own HttpProfile (https by default): make the module's
    HttpProfile default to http so that they can reach the simulator with a clean Host."""
    monkeypatch.setattr(tcc, "HttpProfile", functools.partial(HttpProfile, protocol="http"))


def cvm_with(sim, cred):
    from tencentcloud.cvm.v20170312.cvm_client import CvmClient

    hp = HttpProfile(protocol="http", endpoint=sim.addr, reqTimeout=10)
    return CvmClient(cred, TC_REGION, ClientProfile(httpProfile=hp, language="en-US"))


def sts_client(sim, secret_key=TC_KEY):
    from tencentcloud.sts.v20180813.sts_client import StsClient

    hp = HttpProfile(protocol="http", endpoint=sim.addr, reqTimeout=10)
    return StsClient(tcc.Credential(TC_ID, secret_key), TC_REGION,
                     ClientProfile(httpProfile=hp, language="en-US"))


def sts_assume_role(sim, duration=None, secret_key=TC_KEY, role_arn=ROLE_ARN):
    from tencentcloud.sts.v20180813 import models

    req = models.AssumeRoleRequest()
    req.RoleArn = role_arn
    req.RoleSessionName = "sdk-session"
    if duration is not None:
        req.DurationSeconds = duration
    return sts_client(sim, secret_key).AssumeRole(req)


@pytest.fixture
def instance(admin):
    return admin.add_instance("tencent", TC_REGION)


# ---------------------------------------------------------------------------------------------
# AssumeRole


def test_sts_assume_role_credential_describes_instances(sim, admin, instance, plain_http):
    admin.add_role("tencent", ROLE_ARN)
    cred = tcc.STSAssumeRoleCredential(TC_ID, TC_KEY, ROLE_ARN, "stopgate-test", 900,
                                       endpoint=sim.addr)
    secret_id, _, token = cred.get_credential_info()
    assert secret_id.startswith("AKID") and token
    assert instance in tc_instances(cvm_with(sim, cred), [instance])
    assert [c["outcome"] for c in admin.calls("tencent", action="AssumeRole")] == ["ok"]


def test_sts_assume_role_credential_with_the_scheme_in_the_endpoint(sim, admin, instance):
    # Without the HttpProfile patch the scheme goes into the endpoint, and so into the signed Host.
    admin.add_role("tencent", ROLE_ARN)
    cred = tcc.STSAssumeRoleCredential(TC_ID, TC_KEY, ROLE_ARN, "stopgate-test", 900,
                                       endpoint="http://" + sim.addr)
    assert instance in tc_instances(cvm_with(sim, cred), [instance])


def test_sts_sdk_assume_role_keys_describe_instances(sim, admin, instance):
    admin.add_role("tencent", ROLE_ARN)
    resp = sts_assume_role(sim, duration=1800)
    assert resp.RequestId
    assert isinstance(resp.ExpiredTime, int)
    assert resp.Expiration.endswith("Z")
    c = resp.Credentials
    cred = tcc.Credential(c.TmpSecretId, c.TmpSecretKey, c.Token)
    assert instance in tc_instances(cvm_with(sim, cred), [instance])


def test_sts_sdk_unknown_role_is_refused_with_role_not_found(sim, admin):
    with tc_error("ResourceNotFound.RoleNotFound"):
        sts_assume_role(sim)


def test_sts_sdk_wrong_secret_key_is_refused_with_signature_failure(sim, admin):
    admin.add_role("tencent", ROLE_ARN)
    with tc_error("AuthFailure.SignatureFailure"):
        sts_assume_role(sim, secret_key="not-the-key")


def test_sts_sdk_duration_over_the_maximum_is_refused(sim, admin):
    admin.add_role("tencent", ROLE_ARN)
    with tc_error("InvalidParameter.OverTimeError"):
        sts_assume_role(sim, duration=43201)


# ---------------------------------------------------------------------------------------------
# AssumeRoleWithWebIdentity (OIDC), explicit and through the TKE provider


def test_oidc_role_arn_credential_describes_instances(sim, admin, instance, plain_http):
    admin.add_role("tencent", ROLE_ARN)
    admin.add_oidc_provider("tencent", PROVIDER_ID, [WEB_IDENTITY_TOKEN])
    cred = tcc.OIDCRoleArnCredential(TC_REGION, PROVIDER_ID, WEB_IDENTITY_TOKEN, ROLE_ARN,
                                     "pod-session", 3600, endpoint=sim.addr)
    assert instance in tc_instances(cvm_with(sim, cred), [instance])
    assert [c["outcome"] for c in admin.calls("tencent", action="AssumeRoleWithWebIdentity")] == ["ok"]


def test_oidc_unaccepted_token_is_refused_with_web_identity_token_error(sim, admin, plain_http):
    admin.add_role("tencent", ROLE_ARN)
    admin.add_oidc_provider("tencent", PROVIDER_ID, [WEB_IDENTITY_TOKEN])
    cred = tcc.OIDCRoleArnCredential(TC_REGION, PROVIDER_ID, "eyJ.e30.other", ROLE_ARN,
                                     "pod-session", 3600, endpoint=sim.addr)
    with tc_error("InvalidParameter.WebIdentityTokenError"):
        cred.get_credential_info()


def test_tke_provider_reads_the_token_file_and_describes_instances(sim, admin, instance, plain_http,
                                                                  monkeypatch, tmp_path):
    admin.add_role("tencent", ROLE_ARN)
    admin.add_oidc_provider("tencent", PROVIDER_ID, [WEB_IDENTITY_TOKEN])
    token_file = tmp_path / "token"
    token_file.write_text(WEB_IDENTITY_TOKEN + "\n")
    monkeypatch.setenv("TKE_REGION", TC_REGION)
    monkeypatch.setenv("TKE_PROVIDER_ID", PROVIDER_ID)
    monkeypatch.setenv("TKE_WEB_IDENTITY_TOKEN_FILE", str(token_file))
    monkeypatch.setenv("TKE_ROLE_ARN", ROLE_ARN)
    monkeypatch.setattr(tcc.OIDCRoleArnCredential, "_endpoint", sim.addr)
    cred = tcc.DefaultTkeOIDCRoleArnProvider().get_credential()
    assert instance in tc_instances(cvm_with(sim, cred), [instance])


# ---------------------------------------------------------------------------------------------
# CVM role through the simulated metadata service


def test_cvm_role_credential_describes_instances(sim, admin, instance, monkeypatch):
    admin.add_role("tencent", ROLE_ARN)
    admin.set_instance_role("tencent", "StopgateCvmRole", ROLE_ARN)
    monkeypatch.setattr(tcc.CVMRoleCredential, "_role_endpoint",
                        sim.url + "/latest/meta-data/cam/security-credentials/")
    cred = tcc.CVMRoleCredential()
    assert cred.get_role_name() == "StopgateCvmRole"
    secret_id, _, token = cred.get_credential_info()
    assert secret_id and token, "CVMRoleCredential swallows errors: check the metadata calls"
    assert instance in tc_instances(cvm_with(sim, cred), [instance])


def test_cvm_metadata_without_an_instance_role_is_404(sim):
    status, _, body = http_request(sim.url + "/latest/meta-data/cam/security-credentials/")
    assert status == 404
    assert b"/_sim/instance-roles" in body


def test_an_injected_sts_error_reaches_the_sts_sdk(sim, admin):
    admin.add_role("tencent", ROLE_ARN)
    admin.fault("tencent", {"error": {"code": "InternalError.SystemError"}}, action="AssumeRole")
    with tc_error("InternalError.SystemError"):
        sts_assume_role(sim)


# ---------------------------------------------------------------------------------------------
# Expiry


def test_expired_sts_keys_are_refused_with_token_failure(sim, admin, instance):
    admin.add_role("tencent", ROLE_ARN, lifetime_seconds=2)
    resp = sts_assume_role(sim)
    c = resp.Credentials
    cvm = cvm_with(sim, tcc.Credential(c.TmpSecretId, c.TmpSecretKey, c.Token))
    assert instance in tc_instances(cvm, [instance])
    wait_past(resp.ExpiredTime)
    with tc_error("AuthFailure.TokenFailure"):
        tc_instances(cvm, [instance])


def test_expired_cvm_role_keys_are_refused_with_token_failure(sim, admin, instance):
    admin.add_role("tencent", ROLE_ARN, lifetime_seconds=2)
    admin.set_instance_role("tencent", "StopgateCvmRole", ROLE_ARN)
    _, headers, raw = http_request(sim.url + "/latest/meta-data/cam/security-credentials/StopgateCvmRole")
    assert headers["content-type"] == "application/json"
    body = json.loads(raw)
    assert body["Code"] == "Success"
    cvm = cvm_with(sim, tcc.Credential(body["TmpSecretId"], body["TmpSecretKey"], body["Token"]))
    assert instance in tc_instances(cvm, [instance])
    wait_past(body["ExpiredTime"])
    with tc_error("AuthFailure.TokenFailure"):
        tc_instances(cvm, [instance])
