"""The Dockerfile and compose file, checked statically (no Docker engine runs here)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml

from switchboard.common.settings import Settings
from switchboard.voice_gateway.config import ENV_PREFIX, GatewaySettings

ROOT = Path(__file__).resolve().parents[2]


def test_every_dockerfile_copy_source_exists() -> None:
    dockerfile = (ROOT / "deploy" / "Dockerfile").read_text()
    sources = [
        s for line in re.findall(r"^COPY (.+)$", dockerfile, re.M) for s in line.split()[:-1]
    ]
    assert sources
    for source in sources:
        assert (ROOT / source).exists(), source


def test_the_image_installs_every_workspace_member() -> None:
    dockerfile = (ROOT / "deploy" / "Dockerfile").read_text()
    members = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["uv"]["workspace"][
        "members"
    ]
    for pattern in members:
        for member in ROOT.glob(pattern):
            assert f"{member.relative_to(ROOT)}/pyproject.toml" in dockerfile


def test_compose_runs_each_service_with_its_role_and_only_known_settings() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"postgres", "rabbitmq", "api", "gateway", "worker", "scheduler"} <= set(services)
    known = {name.upper() for name in Settings.model_fields}
    gateway_only = {ENV_PREFIX + name.upper() for name in GatewaySettings.model_fields}
    for role in ("api", "gateway", "worker", "scheduler"):
        service = services[role]
        assert service["command"][0] == role
        assert service["environment"]["SERVICE_ROLE"] == role
        assert set(service["environment"]) <= (known | gateway_only if role == "gateway" else known)
        assert service["depends_on"]["postgres"]["condition"] == "service_healthy"
