"""The deployment files say what docs promise: native gRPC probes on the health service, an
appProtocol: grpc port, resource requests, a PodDisruptionBudget, a drain window longer than
stopgate's grace period, a compose file wiring gateway, simulator, Redis and collector, and the
Redis the Kubernetes replicas share their pacing through."""

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
