"""Alibaba temporary credentials from the simulator, obtained with the official libraries
(alibabacloud-credentials' RAM role ARN, OIDC and ECS RAM role providers, and
alibabacloud-sts20150401), then used against the simulated ECS API
(docs/simulator.md "Temporary credentials")."""

import calendar
import json
import time

import pytest

from simutil import (ALI_ACCOUNT, ALI_AK, ALI_REGION, ALI_SECRET, ali_error, ali_instances,
                     http_request, wait_past)

ROLE_ARN = "acs:ram::%s:role/stopgate-stopper" % ALI_ACCOUNT
OIDC_ARN = "acs:ram::%s:oidc-provider/ack-rrsa-c0ffee" % ALI_ACCOUNT
# A JWT-shaped token (the simulator accepts what was seeded; it does not verify signatures).
OIDC_TOKEN = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6c3RvcGdhdGU6Z2F0ZXdheSIsImlzcyI6Imh0dHBzOi8vb2lkYy5leGFtcGxlIiwiYXVkIjoic3RzLmFsaXl1bmNzLmNvbSJ9.c2ln"


def expiry_seconds(expiration):
    return calendar.timegm(time.strptime(expiration, "%Y-%m-%dT%H:%M:%SZ"))


def ecs_with(sim, credential=None, key=None):
    """A Tea ECS client aimed at the simulator, with a credentials client or a static key."""
    from alibabacloud_ecs20140526.client import Client as EcsClient
    from alibabacloud_tea_openapi import models as open_api_models

    cfg = open_api_models.Config(endpoint=sim.addr, protocol="http", region_id=ALI_REGION,
                                 connect_timeout=3000, read_timeout=8000)
    if credential is not None:
        cfg.credential = credential
    else:
        cfg.access_key_id, cfg.access_key_secret, cfg.security_token = key
    return EcsClient(cfg)


def sts_client(sim, access_key_id=None, secret=None):
    from alibabacloud_sts20150401.client import Client as StsClient
    from alibabacloud_tea_openapi import models as open_api_models

    cfg = open_api_models.Config(endpoint=sim.addr, protocol="http", region_id=ALI_REGION,
                                 connect_timeout=3000, read_timeout=8000)
    if access_key_id:
        cfg.access_key_id, cfg.access_key_secret = access_key_id, secret
    return StsClient(cfg)


def ram_role_provider(sim, secret=ALI_SECRET, role_arn=ROLE_ARN, **kw):
    from alibabacloud_credentials.provider import RamRoleArnCredentialsProvider

    return RamRoleArnCredentialsProvider(access_key_id=ALI_AK, access_key_secret=secret,
                                         role_arn=role_arn, role_session_name="stopgate-test",
                                         sts_endpoint="http://" + sim.addr, **kw)


def credential_client(provider):
    from alibabacloud_credentials.client import Client as CredentialClient

    return CredentialClient(provider=provider)


@pytest.fixture
def instance(admin):
    return admin.add_instance("alibaba", ALI_REGION)


# ---------------------------------------------------------------------------------------------
# AssumeRole through alibabacloud-credentials (GET, HMAC-SHA1 in the query)


def test_ram_role_arn_provider_keys_describe_instances(sim, admin, instance):
    admin.add_role("alibaba", ROLE_ARN)
    provider = ram_role_provider(sim)
    creds = provider.get_credentials()
    assert creds.get_access_key_id().startswith("STS.")
    assert creds.get_security_token()
    assert instance in ali_instances(ecs_with(sim, credential=credential_client(provider)), [instance])
    calls = admin.calls("alibaba", action="AssumeRole")
    assert [c["outcome"] for c in calls] == ["ok"]


def test_ram_role_arn_provider_policy_with_spaces_is_signed_as_the_library_does(sim, admin, instance):
    admin.add_role("alibaba", ROLE_ARN)
    provider = ram_role_provider(sim, policy='{"Version": "1", "Statement": []}')
    assert provider.get_credentials().get_access_key_id().startswith("STS.")


def test_ram_role_arn_provider_unknown_role_is_refused_with_entity_not_exist(sim, admin):
    from alibabacloud_credentials.exceptions import CredentialException

    with pytest.raises(CredentialException) as ei:
        ram_role_provider(sim, role_arn="acs:ram::%s:role/missing" % ALI_ACCOUNT).get_credentials()
    assert "http_code: 404" in str(ei.value)
    assert "EntityNotExist.Role" in str(ei.value)


def test_ram_role_arn_provider_wrong_secret_is_refused_with_signature_does_not_match(sim, admin):
    from alibabacloud_credentials.exceptions import CredentialException

    admin.add_role("alibaba", ROLE_ARN)
    with pytest.raises(CredentialException) as ei:
        ram_role_provider(sim, secret="not-the-secret").get_credentials()
    assert "SignatureDoesNotMatch" in str(ei.value)


# ---------------------------------------------------------------------------------------------
# AssumeRole / AssumeRoleWithOIDC through alibabacloud-sts20150401 (POST, V3 or anonymous)


def test_sts_sdk_assume_role_v3_keys_describe_instances(sim, admin, instance):
    from alibabacloud_sts20150401 import models as sts_models

    admin.add_role("alibaba", ROLE_ARN)
    resp = sts_client(sim, ALI_AK, ALI_SECRET).assume_role(sts_models.AssumeRoleRequest(
        role_arn=ROLE_ARN, role_session_name="sdk-session", duration_seconds=900))
    body = resp.body
    assert body.request_id
    assert body.assumed_role_user.arn == ROLE_ARN + "/sdk-session"
    assert body.assumed_role_user.assumed_role_id.endswith(":sdk-session")
    c = body.credentials
    lifetime = expiry_seconds(c.expiration) - time.time()
    assert 800 < lifetime <= 901, "DurationSeconds=900 should give keys living 900 s, got %s" % lifetime
    key = (c.access_key_id, c.access_key_secret, c.security_token)
    assert instance in ali_instances(ecs_with(sim, key=key), [instance])


def test_sts_sdk_duration_below_the_minimum_is_refused(sim, admin):
    from alibabacloud_sts20150401 import models as sts_models

    admin.add_role("alibaba", ROLE_ARN)
    with ali_error("InvalidParameter.DurationSeconds", 400):
        sts_client(sim, ALI_AK, ALI_SECRET).assume_role(sts_models.AssumeRoleRequest(
            role_arn=ROLE_ARN, role_session_name="sdk-session", duration_seconds=60))


def test_sts_sdk_assume_role_with_oidc_keys_describe_instances(sim, admin, instance):
    from alibabacloud_sts20150401 import models as sts_models

    admin.add_role("alibaba", ROLE_ARN)
    admin.add_oidc_provider("alibaba", OIDC_ARN, [OIDC_TOKEN])
    resp = sts_client(sim).assume_role_with_oidc(sts_models.AssumeRoleWithOIDCRequest(
        role_arn=ROLE_ARN, oidcprovider_arn=OIDC_ARN, oidctoken=OIDC_TOKEN,
        role_session_name="pod-session"))
    body = resp.body
    assert body.oidctoken_info.subject == "system:serviceaccount:stopgate:gateway"
    assert body.oidctoken_info.issuer == "https://oidc.example"
    c = body.credentials
    key = (c.access_key_id, c.access_key_secret, c.security_token)
    assert instance in ali_instances(ecs_with(sim, key=key), [instance])


def test_sts_sdk_oidc_unknown_provider_is_refused_with_no_permission(sim, admin):
    from alibabacloud_sts20150401 import models as sts_models

    admin.add_role("alibaba", ROLE_ARN)
    with ali_error("AuthenticationFail.NoPermission", 401):
        sts_client(sim).assume_role_with_oidc(sts_models.AssumeRoleWithOIDCRequest(
            role_arn=ROLE_ARN, oidcprovider_arn=OIDC_ARN, oidctoken=OIDC_TOKEN,
            role_session_name="pod-session"))


# ---------------------------------------------------------------------------------------------
# AssumeRoleWithOIDC through alibabacloud-credentials (GET, anonymous, token from a file)


def test_oidc_provider_keys_describe_instances(sim, admin, instance, tmp_path):
    from alibabacloud_credentials.provider import OIDCRoleArnCredentialsProvider

    admin.add_role("alibaba", ROLE_ARN)
    admin.add_oidc_provider("alibaba", OIDC_ARN, [OIDC_TOKEN])
    token_file = tmp_path / "token"
    token_file.write_text(OIDC_TOKEN)
    provider = OIDCRoleArnCredentialsProvider(
        role_arn=ROLE_ARN, oidc_provider_arn=OIDC_ARN, oidc_token_file_path=str(token_file),
        role_session_name="pod-session", sts_endpoint="http://" + sim.addr)
    assert instance in ali_instances(ecs_with(sim, credential=credential_client(provider)), [instance])


def test_oidc_provider_unaccepted_token_is_refused(sim, admin, tmp_path):
    from alibabacloud_credentials.exceptions import CredentialException
    from alibabacloud_credentials.provider import OIDCRoleArnCredentialsProvider

    admin.add_role("alibaba", ROLE_ARN)
    admin.add_oidc_provider("alibaba", OIDC_ARN, [OIDC_TOKEN])
    token_file = tmp_path / "token"
    token_file.write_text("eyJhbGciOiJSUzI1NiJ9.e30.b3RoZXI")
    provider = OIDCRoleArnCredentialsProvider(
        role_arn=ROLE_ARN, oidc_provider_arn=OIDC_ARN, oidc_token_file_path=str(token_file),
        role_session_name="pod-session", sts_endpoint="http://" + sim.addr)
    with pytest.raises(CredentialException) as ei:
        provider.get_credentials()
    assert "http_code: 401" in str(ei.value)
    assert "AuthenticationFail.OIDCToken.Invalid" in str(ei.value)


# ---------------------------------------------------------------------------------------------
# ECS RAM role through the simulated metadata service


def ecs_ram_role_provider(sim, **kw):
    from alibabacloud_credentials.provider import EcsRamRoleCredentialsProvider

    provider = EcsRamRoleCredentialsProvider(async_update_enabled=False, **kw)
    # The metadata host is a private constant of the library (no option or variable sets it).
    provider._EcsRamRoleCredentialsProvider__metadata_service_host = sim.addr
    return provider


def test_ecs_ram_role_provider_imdsv2_keys_describe_instances(sim, admin, instance):
    admin.add_role("alibaba", ROLE_ARN)
    admin.set_instance_role("alibaba", "StopgateEcsRole", ROLE_ARN)
    provider = ecs_ram_role_provider(sim, disable_imds_v1=True)
    assert instance in ali_instances(ecs_with(sim, credential=credential_client(provider)), [instance])
    metadata = [(c["action"], c["outcome"]) for c in admin.calls("alibaba")
                if c["service"] == "metadata"]
    assert ("GetMetadataToken", "ok") in metadata
    assert ("GetRoleName", "ok") in metadata
    assert ("GetRoleCredentials", "ok") in metadata


def test_ecs_metadata_imdsv1_without_token_serves_the_role_and_its_keys(sim, admin, instance):
    admin.add_role("alibaba", ROLE_ARN)
    admin.set_instance_role("alibaba", "StopgateEcsRole", ROLE_ARN)
    base = sim.url + "/latest/meta-data/ram/security-credentials/"
    status, _, role = http_request(base)
    assert (status, role) == (200, b"StopgateEcsRole")
    status, _, raw = http_request(base + "StopgateEcsRole")
    assert status == 200
    body = json.loads(raw)
    assert body["Code"] == "Success"
    key = (body["AccessKeyId"], body["AccessKeySecret"], body["SecurityToken"])
    assert instance in ali_instances(ecs_with(sim, key=key), [instance])


def test_ecs_metadata_unknown_token_is_refused(sim, admin):
    admin.add_role("alibaba", ROLE_ARN)
    admin.set_instance_role("alibaba", "StopgateEcsRole", ROLE_ARN)
    status, _, body = http_request(sim.url + "/latest/meta-data/ram/security-credentials/",
                                   headers={"X-aliyun-ecs-metadata-token": "not-issued"})
    assert status == 401
    assert b"PUT /latest/api/token" in body


def test_ecs_metadata_token_needs_a_ttl(sim):
    status, _, body = http_request(sim.url + "/latest/api/token", method="PUT", body=b"")
    assert status == 400
    assert b"X-aliyun-ecs-metadata-token-ttl-seconds" in body


def test_ecs_ram_role_provider_falls_back_to_imdsv1_when_the_token_call_fails(sim, admin, instance):
    admin.add_role("alibaba", ROLE_ARN)
    admin.set_instance_role("alibaba", "StopgateEcsRole", ROLE_ARN)
    admin.fault("alibaba", {"http_status": 500}, action="GetMetadataToken")
    provider = ecs_ram_role_provider(sim)
    assert instance in ali_instances(ecs_with(sim, credential=credential_client(provider)), [instance])
    outcomes = [(c["action"], c["outcome"]) for c in admin.calls("alibaba") if c["service"] == "metadata"]
    assert ("GetMetadataToken", "http_500") in outcomes
    assert ("GetRoleCredentials", "ok") in outcomes


def test_ecs_ram_role_provider_with_imdsv1_disabled_fails_when_the_token_call_fails(sim, admin):
    from alibabacloud_credentials.exceptions import CredentialException

    admin.add_role("alibaba", ROLE_ARN)
    admin.set_instance_role("alibaba", "StopgateEcsRole", ROLE_ARN)
    admin.fault("alibaba", {"http_status": 500}, action="GetMetadataToken")
    with pytest.raises(CredentialException) as ei:
        ecs_ram_role_provider(sim, disable_imds_v1=True).get_credentials()
    assert "HttpCode=500" in str(ei.value)


def test_an_injected_sts_fault_reaches_the_credentials_library(sim, admin):
    from alibabacloud_credentials.exceptions import CredentialException

    admin.add_role("alibaba", ROLE_ARN)
    admin.fault("alibaba", {"http_status": 503}, action="AssumeRole")
    with pytest.raises(CredentialException) as ei:
        ram_role_provider(sim).get_credentials()
    assert "http_code: 503" in str(ei.value)


# ---------------------------------------------------------------------------------------------
# Expiry


def test_expired_sts_keys_are_refused_with_invalid_security_token_expired(sim, admin, instance):
    from alibabacloud_sts20150401 import models as sts_models

    admin.add_role("alibaba", ROLE_ARN, lifetime_seconds=2)
    c = sts_client(sim, ALI_AK, ALI_SECRET).assume_role(sts_models.AssumeRoleRequest(
        role_arn=ROLE_ARN, role_session_name="short-lived")).body.credentials
    key = (c.access_key_id, c.access_key_secret, c.security_token)
    ecs = ecs_with(sim, key=key)
    assert instance in ali_instances(ecs, [instance])
    wait_past(expiry_seconds(c.expiration))
    with ali_error("InvalidSecurityToken.Expired", 400):
        ali_instances(ecs, [instance])


def test_expired_instance_role_keys_are_refused_through_the_v2_signature_too(sim, admin, instance):
    admin.add_role("alibaba", ROLE_ARN, lifetime_seconds=2)
    admin.set_instance_role("alibaba", "StopgateEcsRole", ROLE_ARN)
    _, _, raw = http_request(sim.url + "/latest/meta-data/ram/security-credentials/StopgateEcsRole")
    body = json.loads(raw)
    from alibabacloud_ecs20140526.client import Client as EcsClient
    from alibabacloud_tea_openapi import models as open_api_models

    cfg = open_api_models.Config(endpoint=sim.addr, protocol="http", region_id=ALI_REGION,
                                 access_key_id=body["AccessKeyId"],
                                 access_key_secret=body["AccessKeySecret"],
                                 security_token=body["SecurityToken"], signature_algorithm="v2")
    ecs = EcsClient(cfg)
    assert instance in ali_instances(ecs, [instance])
    wait_past(expiry_seconds(body["Expiration"]))
    with ali_error("InvalidSecurityToken.Expired", 400):
        ali_instances(ecs, [instance])
