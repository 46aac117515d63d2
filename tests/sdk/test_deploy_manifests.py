"""The deployment files say what docs promise: native gRPC probes on the health service, an
appProtocol: grpc port, resource requests, a PodDisruptionBudget, a drain window longer than
stopgate's grace period, a compose file wiring gateway, simulator, Redis and collector, the
Redis the Kubernetes replicas share their pacing through, and the pod identities (ACK RRSA, TKE
OIDC) that the vendors' default chains read."""

import os
import re
import tempfile
import tomllib
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.nosim
ROOT = Path(__file__).resolve().parents[2]


def k8s():
    docs = [d for d in yaml.safe_load_all((ROOT / "deploy/kubernetes/stopgate.yaml").read_text()) if d]
    return {d["kind"]: d for d in docs}


def test_the_deployment_probes_grpc_health_natively():
    pod = k8s()["Deployment"]["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["livenessProbe"]["grpc"] == {"port": 50051, "service": ""}
    assert container["readinessProbe"]["grpc"] == {"port": 50051, "service": "stopgate.v1.InstanceService"}
    assert container["resources"]["requests"]["cpu"] and container["resources"]["requests"]["memory"]
    assert pod["terminationGracePeriodSeconds"] > 30, "longer than shutdown_grace_seconds"
    assert container["ports"][0]["containerPort"] == 50051


def test_the_service_declares_grpc_and_a_pdb_guards_availability():
    docs = k8s()
    port = docs["Service"]["spec"]["ports"][0]
    assert port["appProtocol"] == "grpc" and port["name"] == "grpc"
    assert docs["Secret"]["metadata"]["name"] == "stopgate-config", "config (tokens, keys) is a Secret"
    assert "ConfigMap" not in docs
    pdb = docs["PodDisruptionBudget"]
    assert pdb["spec"]["minAvailable"] == 1
    assert pdb["spec"]["selector"] == docs["Deployment"]["spec"]["selector"]


def test_compose_wires_the_gateway_to_the_simulator_and_the_collector():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    assert {"gateway", "sim", "otel-collector", "jaeger"} <= set(compose)
    env = compose["gateway"]["environment"]
    assert env["STOPGATE_ALIBABA_ENDPOINT"] == env["STOPGATE_TENCENT_ENDPOINT"] == "http://sim:8780"
    assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://otel-collector:4317"
    collector = yaml.safe_load((ROOT / "deploy/otel-collector.yaml").read_text())
    assert collector["receivers"]["otlp"]["protocols"]["grpc"]["endpoint"].endswith(":4317")


def test_the_production_image_has_no_simulator_and_compose_builds_one_that_has():
    dockerfile = (ROOT / "Dockerfile").read_text()
    build = next(line for line in dockerfile.splitlines() if line.startswith("RUN cargo build"))
    assert "--no-default-features" in build, "the gateway image leaves the simulator out"
    assert 'ARG FEATURES=""' in dockerfile, "nothing is added back by default"
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    assert compose["sim"]["build"]["args"]["FEATURES"] == "sim"
    assert compose["gateway"]["build"] == ".", "the gateway is the production image"


def test_compose_gives_the_gateway_a_redis_without_persistence():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    gateway, redis = compose["gateway"], compose["redis"]
    assert gateway["environment"]["STOPGATE_REDIS_URL"] == "redis://redis:6379"
    assert "redis" in gateway["depends_on"]
    assert redis["image"].split(":")[0] == "redis", "the official (Debian-based) image"
    command = redis["command"]
    assert command[0] == "redis-server"
    # Pacing schedules are worth nothing after a restart: no RDB snapshots, no AOF.
    assert command[command.index("--save") + 1] == ""
    assert command[command.index("--appendonly") + 1] == "no"
    assert "ports" not in redis, "Redis has no password here: not published on the host"


def test_the_kubernetes_replicas_share_a_redis_and_stay_ready_without_it():
    docs = k8s()
    deployment = docs["Deployment"]
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e for e in container["env"]}
    ref = env["STOPGATE_REDIS_URL"]["valueFrom"]["secretKeyRef"]
    assert ref["name"] and ref["key"], "the URL holds a password: from a Secret"
    assert ref["name"] != "stopgate-config"
    config = tomllib.loads(docs["Secret"]["stringData"]["stopgate.toml"])
    cluster = config["cluster"]
    assert cluster["replicas"] == deployment["spec"]["replicas"], "the divisor while Redis is away"
    assert not str(cluster.get("redis_url", "")).startswith("rediss://"), "this build refuses TLS"
    # A replica pacing on its own while Redis is away still serves: readiness must not follow
    # stopgate.cluster, or every replica would leave the Service at once.
    readiness = container["readinessProbe"]["grpc"]["service"]
    assert readiness == "stopgate.v1.InstanceService"
    assert container["livenessProbe"]["grpc"]["service"] == ""
    manifest = (ROOT / "deploy/kubernetes/stopgate.yaml").read_text()
    for word in ("ApsaraDB for Redis", "TencentDB for Redis", "stopgate.cluster", "stopgate.pacing.fallbacks"):
        assert word in manifest, f"the manifest's notes mention {word}"


def pod_and_container():
    pod = k8s()["Deployment"]["spec"]["template"]["spec"]
    return pod, pod["containers"][0]


def token_path_for(audience):
    """Where the container sees the service account token projected for `audience`."""
    pod, container = pod_and_container()
    for volume in pod["volumes"]:
        for source in volume.get("projected", {}).get("sources", []):
            token = source.get("serviceAccountToken")
            if token and token.get("audience") == audience:
                mount = next(m for m in container["volumeMounts"] if m["name"] == volume["name"])
                assert mount.get("readOnly") is True
                assert token["expirationSeconds"] >= 600, "the kubelet refuses shorter tokens"
                return mount["mountPath"].rstrip("/") + "/" + token["path"]
    raise AssertionError(f"no projected service account token with audience {audience}")


def pod_env():
    _, container = pod_and_container()
    return {e["name"]: e["value"] for e in container["env"] if "value" in e}


def test_the_pod_runs_as_its_own_service_account_without_an_api_token():
    docs = k8s()
    account = docs["ServiceAccount"]
    assert docs["Deployment"]["spec"]["template"]["spec"]["serviceAccountName"] == account["metadata"]["name"]
    # stopgate never calls the Kubernetes API: the projected STS tokens are all it needs.
    assert account["automountServiceAccountToken"] is False


def test_ack_rrsa_projects_the_token_where_the_alibaba_chain_reads_it():
    env = pod_env()
    assert env["ALIBABA_CLOUD_OIDC_TOKEN_FILE"] == token_path_for("sts.aliyuncs.com")
    assert env["ALIBABA_CLOUD_ROLE_ARN"].startswith("acs:ram::")
    assert re.match(r"acs:ram::\d+:oidc-provider/ack-rrsa-", env["ALIBABA_CLOUD_OIDC_PROVIDER_ARN"])
    # The VPC endpoint is regional: stopgate refuses sts_vpc without a region.
    assert env["ALIBABA_CLOUD_VPC_ENDPOINT_ENABLED"] == "true" and env["ALIBABA_CLOUD_STS_REGION"]


def test_tke_projects_the_token_where_the_tencent_chain_reads_it():
    env = pod_env()
    assert env["TKE_WEB_IDENTITY_TOKEN_FILE"] == token_path_for("sts.cloud.tencent.com")
    assert env["TKE_ROLE_ARN"].startswith("qcs::cam::uin/")
    assert env["TKE_PROVIDER_ID"] and env["TKE_REGION"], "the chain needs all four TKE variables"
    assert token_path_for("sts.cloud.tencent.com") != token_path_for("sts.aliyuncs.com")


def test_the_default_account_uses_each_vendors_default_chain():
    config = tomllib.loads(k8s()["Secret"]["stringData"]["stopgate.toml"])
    default = config["accounts"]["default"]
    # The settings a default_chain table may hold (src/config/source.rs); anything else is refused.
    allowed = {"source", "sts_region", "sts_vpc", "sts_endpoint", "metadata_endpoint"}
    for vendor in ("alibaba", "tencent"):
        assert default[vendor]["source"] == "default_chain"
        assert set(default[vendor]) <= allowed, vendor


@pytest.mark.skipif(not Path(os.environ.get("STOPGATE_BIN", ROOT / "target/debug/stopgate")).exists(),
                    reason="needs a built gateway (cargo build, or STOPGATE_BIN)")
def test_the_gateway_reads_the_manifests_config_and_pod_identity():
    """The manifest's stopgate.toml and pod environment, given to the real gateway: both chains
    pick OIDC, and each reads the token from the path the manifest projects it to."""
    from gateway import Process

    config = k8s()["Secret"]["stringData"]["stopgate.toml"]
    with tempfile.TemporaryDirectory() as home:
        path = Path(home) / "stopgate.toml"
        path.write_text(config)
        env = pod_env()
        # Nothing from this machine may win over the pod's identity: no keys, no profile files.
        for name in ("ALIBABA_CLOUD_ACCESS_KEY_ID", "ALIBABA_CLOUD_ACCESS_KEY_SECRET",
                     "ALIBABA_CLOUD_SECURITY_TOKEN", "ALIBABA_CLOUD_CREDENTIALS_FILE",
                     "ALIBABA_CLOUD_PROFILE", "TENCENTCLOUD_SECRET_ID", "TENCENTCLOUD_SECRET_KEY",
                     "TENCENTCLOUD_SESSION_TOKEN", "STOPGATE_REDIS_URL", "OTEL_EXPORTER_OTLP_ENDPOINT"):
            env[name] = ""
        env.update({"HOME": home, "RUST_LOG": "info"})
        gateway = Process("serve", "--listen", "127.0.0.1:0", "--config", str(path), env=env)
        try:
            gateway.wait_for(r"stopgate listening on (\S+)", timeout=30)
            for vendor in ("alibaba", "tencent"):
                gateway.wait_for(rf"(default credential chain resolved.*provider={vendor}.*source=\W?oidc)")
            # No token is projected on this machine: each refresh names the file it looked for,
            # before any call to STS.
            for variable in ("ALIBABA_CLOUD_OIDC_TOKEN_FILE", "TKE_WEB_IDENTITY_TOKEN_FILE"):
                gateway.wait_for("(cannot read the OIDC token file " + re.escape(env[variable]) + ")")
        finally:
            gateway.stop()
