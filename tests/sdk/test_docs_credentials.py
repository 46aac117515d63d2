"""Every TOML recipe in docs/configuration.md's "Credentials" section is accepted by the real
gateway (`stopgate serve --config`), so that the documented keys cannot drift from the code.
STS and metadata endpoints are pointed at a closed local port first: nothing leaves the machine."""

import json
import os
import re
import tempfile
import tomllib
from pathlib import Path

import pytest

pytestmark = pytest.mark.nosim
ROOT = Path(__file__).resolve().parents[2]
NOWHERE = "http://127.0.0.1:9"
needs_gateway = pytest.mark.skipif(
    not Path(os.environ.get("STOPGATE_BIN", ROOT / "target/debug/stopgate")).exists(),
    reason="needs a built gateway (cargo build, or STOPGATE_BIN)",
)


def recipes():
    text = (ROOT / "docs/configuration.md").read_text()
    section = text[text.index("## Credentials"):]
    return re.findall(r"```toml\n(.*?)```", section, re.S)


def offline(table):
    """The table with every credential source's endpoints replaced by a closed port."""
    out = {}
    for key, value in table.items():
        out[key] = offline(value) if isinstance(value, dict) else value
    source = table.get("source")
    if source in ("assume_role", "oidc", "default_chain"):
        out["sts_endpoint"] = NOWHERE
    if source in ("instance_role", "default_chain"):
        out["metadata_endpoint"] = NOWHERE
    return out


def dump(table, prefix=()):
    """TOML for nested tables of strings, integers and booleans."""
    scalars = [f"{k} = {json.dumps(v)}" for k, v in table.items() if not isinstance(v, dict)]
    lines = ([f"[{'.'.join(prefix)}]"] if prefix and scalars else []) + scalars
    for key, value in table.items():
        if isinstance(value, dict):
            lines.append(dump(value, prefix + (key,)))
    return "\n".join(lines)


def test_the_section_has_a_recipe_for_each_source():
    sources = set()
    for block in recipes():
        for vendor in tomllib.loads(block)["accounts"].values():
            sources |= {t.get("source") for t in vendor.values() if isinstance(t, dict)}
    assert {"default_chain", "oidc", "instance_role", "assume_role"} <= sources


@needs_gateway
@pytest.mark.parametrize("index", range(len(recipes())))
def test_the_gateway_accepts_the_recipe(index):
    from gateway import Process

    config = offline(tomllib.loads(recipes()[index]))
    with tempfile.TemporaryDirectory() as home:
        path = Path(home) / "stopgate.toml"
        path.write_text(dump(config) + "\n")
        assert tomllib.loads(path.read_text()) == config
        # The default chain finds keys (no network), and nothing of this machine's.
        env = {name: "" for name in (
            "ALIBABA_CLOUD_SECURITY_TOKEN", "ALIBABA_CLOUD_CREDENTIALS_FILE", "ALIBABA_CLOUD_PROFILE",
            "TENCENTCLOUD_SESSION_TOKEN", "STOPGATE_REDIS_URL", "OTEL_EXPORTER_OTLP_ENDPOINT",
            "STOPGATE_ALIBABA_ENDPOINT", "STOPGATE_TENCENT_ENDPOINT")}
        env.update({
            "HOME": home,
            "ALIBABA_CLOUD_ACCESS_KEY_ID": "LTAIdocs", "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "docs-secret",
            "TENCENTCLOUD_SECRET_ID": "AKIDdocs", "TENCENTCLOUD_SECRET_KEY": "docs-key",
        })
        gateway = Process("serve", "--listen", "127.0.0.1:0", "--config", str(path), env=env)
        try:
            gateway.wait_for(r"stopgate listening on (\S+)", timeout=30)
        finally:
            gateway.stop()
