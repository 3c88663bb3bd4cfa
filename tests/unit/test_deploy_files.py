"""The Dockerfile and compose file, checked statically (no Docker engine runs here).

The images: one target per service in deploy/docker/Dockerfile, each installing only its
workspace member and that member's workspace dependencies, as a numeric non-root user, with a
health check on the port it serves. The compose file: each service on its own image, waiting
for the one-shot migration, with defaults that start the stack with no .env.
"""

from __future__ import annotations

import fnmatch
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest

from switchboard.common.settings import Settings
from switchboard.voice_gateway.config import ENV_PREFIX, GatewaySettings
from tools.lint_deploy import load_compose

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "deploy" / "docker" / "Dockerfile"
#: Each service's image target, its workspace member, its module and the port of its /health.
SERVICES = {
    "api": ("services/api", "switchboard.api", 8000),
    "voice-gateway": ("services/voice-gateway", "switchboard.voice_gateway", 8001),
    "worker": ("services/worker", "switchboard.worker", 8003),
    "scheduler": ("services/scheduler", "switchboard.scheduler", 8002),
}
#: The compose service that runs each image target.
COMPOSE_NAME = {
    "api": "api",
    "voice-gateway": "gateway",
    "worker": "worker",
    "scheduler": "scheduler",
}


def stages() -> dict[str, list[str]]:
    """The Dockerfile's stages by name, each as its instructions (continuation lines joined)."""
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE.read_text())
    found: dict[str, list[str]] = {}
    current: list[str] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if match := re.match(r"FROM \S+ AS (\S+)$", line):
            current = found.setdefault(match[1], [])
        current.append(line)
    return found


def member(path: str) -> dict[str, Any]:
    return tomllib.loads((ROOT / path / "pyproject.toml").read_text())


def workspace_members() -> dict[str, str]:
    """Each workspace member's package name and folder."""
    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["uv"]["workspace"]
    folders = [p for pattern in patterns["members"] for p in sorted(ROOT.glob(pattern))]
    return {
        member(str(f.relative_to(ROOT)))["project"]["name"]: str(f.relative_to(ROOT))
        for f in folders
    }


def workspace_closure(path: str) -> set[str]:
    """The member at ``path`` and the workspace members it depends on, as folders."""
    folders = workspace_members()
    todo, seen = [path], set()
    while todo:
        folder = todo.pop()
        seen.add(folder)
        sources = member(folder).get("tool", {}).get("uv", {}).get("sources", {})
        todo += [folders[name] for name, src in sources.items() if src.get("workspace")]
    return seen


def dockerignored(path: str) -> bool:
    """Whether .dockerignore keeps ``path`` out of the build context (Docker's matching: ``*``
    stays within one segment, a pattern also excludes what is under what it names)."""
    parts = Path(path).parts
    for pattern in (ROOT / ".dockerignore").read_text().splitlines():
        pattern = pattern.strip()
        if not pattern or pattern.startswith(("#", "!")):
            continue
        if pattern.startswith("**/"):
            if any(fnmatch.fnmatchcase(part, pattern[3:]) for part in parts):
                return True
            continue
        segments = pattern.split("/")
        if len(parts) >= len(segments) and all(
            fnmatch.fnmatchcase(part, segment)
            for part, segment in zip(parts[: len(segments)], segments, strict=True)
        ):
            return True
    return False


def test_every_copy_source_exists_and_is_in_the_build_context() -> None:
    copies = [line for lines in stages().values() for line in lines if line.startswith("COPY ")]
    sources = [
        word
        for line in copies
        if "--from=" not in line
        for word in line.split()[1:-1]
        if not word.startswith("--")
    ]
    assert sources
    for source in sources:
        assert (ROOT / source).exists(), source
        assert not dockerignored(source), f"{source} is excluded by .dockerignore"


def test_the_shared_workspace_stage_copies_every_member_manifest_and_the_lock() -> None:
    workspace = " ".join(stages()["workspace"])
    assert "COPY pyproject.toml uv.lock" in workspace
    for folder in workspace_members().values():
        assert f"COPY {folder}/pyproject.toml {folder}/" in workspace


@pytest.mark.parametrize("target", [*SERVICES, "cli"])
def test_each_image_caches_its_dependencies_then_installs_only_its_member(target: str) -> None:
    folder = SERVICES[target][0] if target in SERVICES else "apps/cli"
    package = member(folder)["project"]["name"]
    build = stages()[f"{target}-build"]
    assert build[0] == f"FROM workspace AS {target}-build"
    syncs = [line for line in build if line.startswith("RUN ")]
    assert len(syncs) == 2 and all("--mount=type=cache,target=/root/.cache/uv" in s for s in syncs)
    flags = f"uv sync --locked --no-dev --no-editable --no-install-workspace --package {package}"
    assert syncs[0].endswith(flags)
    assert syncs[1].endswith(f"uv sync --locked --no-dev --no-editable --package {package}")
    copied = [line.split()[1] for line in build if line.startswith("COPY ")]
    # The sources come after the dependency layer, and only those the member installs.
    assert build.index(syncs[0]) < min(build.index(f"COPY {c} {c}") for c in copied)
    expected = workspace_closure(folder) if target in SERVICES else {"libs", "services", "apps"}
    assert set(copied) == expected


@pytest.mark.parametrize("target", SERVICES)
def test_each_service_image_runs_its_own_module_unprivileged_with_a_healthcheck(
    target: str,
) -> None:
    folder, module, port = SERVICES[target]
    image = stages()[target]
    assert image[0] == f"FROM runtime AS {target}"
    assert f"COPY --from={target}-build /app/.venv /app/.venv" in image
    assert "USER 10001:10001" in image  # numeric: Kubernetes' runAsNonRoot can check it
    assert f"EXPOSE {port}" in image
    [healthcheck] = [line for line in image if line.startswith("HEALTHCHECK")]
    assert re.search(rf'CMD \["switchboard-healthcheck", .*"{port}"\]$', healthcheck)
    assert f'ENTRYPOINT ["python", "-m", "{module}"]' in image
    assert (ROOT / folder / "src" / Path(*module.split(".")) / "__main__.py").is_file()
    assert "STOPSIGNAL SIGTERM" in stages()["runtime"]


def test_the_old_single_image_is_gone() -> None:
    assert not (ROOT / "deploy" / "Dockerfile").exists()


# --- docker-compose.yml ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    document, problems = load_compose()
    assert problems == []
    return document


def env_example_defaults() -> dict[str, str]:
    """``#NAME=default`` lines of .env.example, by name."""
    lines = (ROOT / ".env.example").read_text().splitlines()
    matches = map(re.compile(r"^#([A-Z][A-Z0-9_]*)=(.*)$").match, lines)
    return {m[1]: m[2] for m in matches if m}


#: Defaults compose must set otherwise: .env.example's empty value means API_BASE_URL, which in
#: compose is the API's address inside the network, not the one signed requests come to.
COMPOSE_OWN_DEFAULTS = {"API_PUBLIC_BASE_URL": "http://127.0.0.1:8000"}


def test_every_default_in_compose_is_the_one_of_env_example() -> None:
    example = {**env_example_defaults(), **COMPOSE_OWN_DEFAULTS}
    text = (ROOT / "docker-compose.yml").read_text()
    checked = 0
    for name, default in re.findall(r"\$\{([A-Z0-9_]+):-([^}]*)\}", text):
        if name in example:
            assert default == example[name], name
            checked += 1
    assert checked >= 15


def test_each_service_runs_from_its_own_image_target(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for target, name in COMPOSE_NAME.items():
        assert services[name]["build"]["target"] == target
        assert services[name]["build"]["dockerfile"] == "deploy/docker/Dockerfile"
    assert services["migrate"]["build"]["target"] == "cli"
    # grant-app-role migrates first (tests/unit/deploy: a rolled-back tag still starts).
    assert services["migrate"]["command"][:2] == ["db", "grant-app-role"]


def test_every_service_waits_for_the_one_shot_migration(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert services["migrate"]["restart"] == "no"
    for name in COMPOSE_NAME.values():
        depends = services[name]["depends_on"]
        assert depends["migrate"]["condition"] == "service_completed_successfully"
        assert depends["postgres"]["condition"] == "service_healthy"
        assert depends["rabbitmq"]["condition"] == "service_healthy"


def test_every_long_running_service_probes_its_own_health(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert services["rabbitmq"]["image"] == "rabbitmq:3-management"
    for name in ("postgres", "rabbitmq"):
        assert services[name]["healthcheck"]["test"][0] == "CMD"
    for target, name in COMPOSE_NAME.items():
        test = services[name]["healthcheck"]["test"]
        assert test[:2] == ["CMD", "switchboard-healthcheck"]
        assert test[-1] == str(SERVICES[target][2])


def test_the_worker_scales_with_no_fixed_name_or_host_port(compose: dict[str, Any]) -> None:
    worker = compose["services"]["worker"]
    assert "ports" not in worker
    assert all("container_name" not in s for s in compose["services"].values())


@pytest.mark.parametrize(
    ("service", "variable"), [("gateway", "PUBLIC_BASE_URL"), ("api", "API_PUBLIC_BASE_URL")]
)
def test_the_public_urls_signed_for_are_the_published_ports(
    compose: dict[str, Any], service: str, variable: str
) -> None:
    [published] = compose["services"][service]["ports"]
    host_port = published.split(":")[0]
    assert compose["services"][service]["environment"][variable] == f"http://127.0.0.1:{host_port}"


def test_services_log_in_as_a_role_that_owns_nothing(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name in COMPOSE_NAME.values():
        assert services[name]["environment"]["DATABASE_URL"].startswith(
            "postgresql://switchboard_login:"
        )
    owner = "postgresql://switchboard:"
    assert services["migrate"]["environment"]["MIGRATION_DATABASE_URL"].startswith(owner)
    assert services["migrate"]["command"] == ["db", "grant-app-role", "switchboard_login"]
    # The API and the gateway never migrate: they do not get the owner's password.
    for name in ("api", "gateway"):
        assert "MIGRATION_DATABASE_URL" not in services[name]["environment"]


def test_compose_sets_only_settings_the_services_read(compose: dict[str, Any]) -> None:
    known = {name.upper() for name in Settings.model_fields}
    gateway_only = {ENV_PREFIX + name.upper() for name in GatewaySettings.model_fields}
    for name in (*COMPOSE_NAME.values(), "migrate"):
        allowed = known | gateway_only if name == "gateway" else known
        assert set(compose["services"][name]["environment"]) <= allowed, name


@pytest.mark.parametrize("name", [*COMPOSE_NAME.values(), "migrate"])
def test_the_defaults_start_in_development_and_production_refuses_them(
    compose: dict[str, Any], name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in compose["services"][name]["environment"].items():
        monkeypatch.setenv(key, value)
    settings = Settings(_env_file=None)
    assert settings.environment == "development"
    assert settings.database_url.startswith("postgresql://")
    monkeypatch.setenv("ENVIRONMENT", "production")
    with pytest.raises(ValueError, match="ADMIN_API_KEY"):
        Settings(_env_file=None)
