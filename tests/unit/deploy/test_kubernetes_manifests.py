"""deploy/kubernetes/: valid against Kubernetes' and KEDA's schemas, and what they promise."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml
from sqlalchemy.engine import make_url

from switchboard.api import server as api_server
from switchboard.cli.main import app as cli
from switchboard.common.jobs.catalog import queues
from switchboard.common.settings import Settings
from switchboard.scheduler import server as scheduler_server
from switchboard.voice_gateway import server as gateway_server
from switchboard.voice_gateway.config import ENV_PREFIX, GatewaySettings
from tools.lint_deploy import load_compose
from tools.validate_kubernetes import DEPLOY, ROOT, render, validate

BASE = DEPLOY / "base"
SECRETS = {
    "DATABASE_URL",
    "MIGRATION_DATABASE_URL",
    "AMQP_URL",
    "TWILIO_ACCOUNT_SID",
    "TWILIO_AUTH_TOKEN",
    "OPENAI_API_KEY",
    "GEMINI_API_KEY",
    "ADMIN_API_KEY",
    "METRICS_TOKEN",
    "INTERNAL_API_TOKEN",
    "MEDIA_TOKEN_SECRET",
    "SESSION_SECRET",
    "VAPID_PRIVATE_KEY",
}


def _objects(kind: str, directory: Path = BASE) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in render(directory) if o["kind"] == kind}


def _container(deployment: dict[str, Any]) -> dict[str, Any]:
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return dict(container)


@pytest.fixture
def base_copy(tmp_path: Path) -> Path:
    """A copy of the base to break."""
    return Path(shutil.copytree(BASE, tmp_path / "base"))


def _edit(path: Path, change: Any) -> None:
    documents = list(yaml.safe_load_all(path.read_text()))
    for document in documents:
        change(document)
    path.write_text(yaml.safe_dump_all(documents))


def test_the_manifests_validate_as_make_lint_runs_them() -> None:
    result = subprocess.run(
        [sys.executable, "tools/validate_kubernetes.py"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "deploy/kubernetes/base:" in result.stdout
    assert "deploy/kubernetes/overlays/example:" in result.stdout


def test_a_field_kubernetes_does_not_know_fails_the_strict_schema(base_copy: Path) -> None:
    def misspell(document: dict[str, Any]) -> None:
        if document["kind"] == "Deployment":
            document["spec"]["template"]["spec"]["containers"][0]["readynessProbe"] = {}

    _edit(base_copy / "api.yaml", misspell)

    assert any("readynessProbe" in problem for problem in validate(base_copy))


def test_a_scaled_object_against_keda_s_schema(base_copy: Path) -> None:
    def break_trigger(document: dict[str, Any]) -> None:
        if document["kind"] == "ScaledObject":
            document["spec"]["triggers"][0]["metadata"]["value"] = 50  # KEDA wants strings
            document["spec"]["maxReplicaCount"] = 0

    _edit(base_copy / "autoscaling.yaml", break_trigger)

    problems = " | ".join(validate(base_copy))
    assert "ScaledObject/switchboard-worker" in problems
    assert "50 is not of type 'string'" in problems or "0 is less than" in problems


def test_a_secret_key_nobody_defines_is_reported(base_copy: Path) -> None:
    def rename_key(document: dict[str, Any]) -> None:
        if document["kind"] == "Secret" and "AMQP_URL" in document.get("stringData", {}):
            document["stringData"]["BROKER_URL"] = document["stringData"].pop("AMQP_URL")

    _edit(base_copy / "secret.yaml", rename_key)

    assert any("has no key AMQP_URL" in problem for problem in validate(base_copy))


def test_every_env_example_variable_is_set_and_secrets_are_only_in_secrets() -> None:
    example = (ROOT / ".env.example").read_text()
    variables = set(re.findall(r"^#([A-Z][A-Z0-9_]*)=", example, re.MULTILINE))
    (config,) = _objects("ConfigMap").values()
    secret_keys: set[str] = set()
    for secret in _objects("Secret").values():
        secret_keys |= set(secret.get("stringData", {})) | set(secret.get("data", {}))

    assert set(config["data"]) | secret_keys == variables
    assert secret_keys == SECRETS
    assert not set(config["data"]) & SECRETS


def test_only_the_migration_job_the_worker_and_the_scheduler_see_the_owner_s_url() -> None:
    readers = set()
    for obj in render(BASE):
        spec = obj.get("spec", {}).get("template", {}).get("spec", {})
        for container in spec.get("containers", []):
            if any(env["name"] == "MIGRATION_DATABASE_URL" for env in container.get("env", [])):
                readers.add(obj["metadata"]["name"])

    assert readers == {"switchboard-migrate", "switchboard-worker", "switchboard-scheduler"}


@pytest.mark.parametrize("service", ["api", "gateway", "worker", "scheduler"])
def test_every_service_is_probed_on_ready_and_health_and_has_a_budget(service: str) -> None:
    deployment = _objects("Deployment")[f"switchboard-{service}"]
    container = _container(deployment)

    assert container["readinessProbe"]["httpGet"]["path"] == "/ready"
    assert container["livenessProbe"]["httpGet"]["path"] == "/health"
    assert container["resources"]["requests"]
    budget = _objects("PodDisruptionBudget")[f"switchboard-{service}"]
    assert (
        budget["spec"]["selector"]["matchLabels"] == deployment["spec"]["selector"]["matchLabels"]
    )


def test_the_gateway_is_given_longer_than_its_drain_to_stop() -> None:
    gateway = _objects("Deployment")["switchboard-gateway"]
    container = _container(gateway)
    drain_s = float(
        next(e["value"] for e in container["env"] if e["name"] == "GATEWAY__DRAIN_TIMEOUT_S")
    )
    pause_s = float(container["lifecycle"]["preStop"]["exec"]["command"][-1])

    assert gateway["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] > drain_s + pause_s


#: The catalog's queues no worker is scaled for: the scheduler's few periodic jobs
#: (autoscaling.yaml). A new queue is in the ScaledObject or here, never forgotten.
UNSCALED_QUEUES = {"warmup", "prompts", "maintenance"}


def test_the_worker_scales_on_queues_the_catalog_has_and_the_gateway_on_its_calls() -> None:
    scaled = _objects("ScaledObject")
    worker_triggers = scaled["switchboard-worker"]["spec"]["triggers"]
    gateway_triggers = scaled["switchboard-gateway"]["spec"]["triggers"]

    scaled_queues = {t["metadata"]["queueName"] for t in worker_triggers}
    assert scaled_queues | UNSCALED_QUEUES == set(queues())
    assert not scaled_queues & UNSCALED_QUEUES
    assert {t["type"] for t in worker_triggers} == {"rabbitmq"}
    assert {t["metadata"]["mode"] for t in worker_triggers} == {"QueueLength"}
    (calls,) = gateway_triggers
    assert calls["type"] == "prometheus"
    assert "switchboard_gateway_active_calls" in calls["metadata"]["query"]


def test_the_overlay_runs_its_own_images_in_its_namespace() -> None:
    overlay = DEPLOY / "overlays" / "example"
    deployments = _objects("Deployment", overlay)

    for deployment in deployments.values():
        assert deployment["metadata"]["namespace"] == "switchboard"
        assert _container(deployment)["image"].startswith("registry.example.com/")
    assert _objects("ConfigMap", overlay)["switchboard-config"]["data"]["ENVIRONMENT"] == (
        "production"
    )


def _production_secrets() -> set[str]:
    """The variables production refuses to start without, by the settings' own rule: each
    ``NAME`` its problems name with nothing set, whichever AI provider is chosen (not the
    ``AI_PROVIDER=…`` that says why a key is needed)."""
    names: set[str] = set()
    for provider in ("", "openai", "gemini"):
        unset = Settings.model_construct(environment="production", ai_provider=provider)
        for problem in unset.secret_problems():
            names |= set(re.findall(r"\b[A-Z][A-Z0-9_]+\b(?!=)", problem)) & SETTINGS
    return names


SETTINGS = {name.upper() for name in Settings.model_fields}


def test_every_secret_production_requires_is_in_the_secret_not_the_config_map() -> None:
    required = _production_secrets()
    (config,) = _objects("ConfigMap").values()
    (secret,) = (s for s in _objects("Secret").values() if "DATABASE_URL" in s["stringData"])

    assert {"ADMIN_API_KEY", "VAPID_PRIVATE_KEY", "OPENAI_API_KEY"} <= required
    assert required <= set(secret["stringData"]) and required <= SECRETS
    assert not required & set(config["data"])


def _listening_port(deployment: dict[str, Any], config: dict[str, str]) -> int:
    """The port the container's process serves /health and /ready on: its ``--port`` (else
    the module's default), or the worker's ``--metrics-port`` (else WORKER_METRICS_PORT,
    the container's own env over the ConfigMap)."""
    container = _container(deployment)
    args = container.get("args", [])
    if deployment["metadata"]["name"] == "switchboard-worker":
        env = {**config, **{e["name"]: e["value"] for e in container["env"] if "value" in e}}
        option, default = "--metrics-port", env.get("WORKER_METRICS_PORT", "8003")
    else:
        option, default = "--port", str(DEFAULT_PORTS[deployment["metadata"]["name"]])
    return int(args[args.index(option) + 1]) if option in args else int(default)


DEFAULT_PORTS = {
    "switchboard-api": api_server.DEFAULT_PORT,
    "switchboard-gateway": gateway_server.DEFAULT_PORT,
    "switchboard-scheduler": scheduler_server.DEFAULT_PORT,
}


@pytest.mark.parametrize(
    "directory", [BASE, DEPLOY / "overlays" / "example"], ids=["base", "example"]
)
def test_probes_services_and_scrapes_reach_the_port_each_process_listens_on(
    directory: Path,
) -> None:
    (config,) = _objects("ConfigMap", directory).values()
    services = _objects("Service", directory)
    for name, deployment in _objects("Deployment", directory).items():
        container = _container(deployment)
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        listening = _listening_port(deployment, config["data"])
        for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
            assert ports[container[probe]["httpGet"]["port"]] == listening, (name, probe)
        (served,) = services[name]["spec"]["ports"]
        assert ports[served["targetPort"]] == listening, name
        annotations = deployment["spec"]["template"]["metadata"]["annotations"]
        assert int(annotations["prometheus.io/port"]) == listening, name


def _parse_cli(words: list[str]) -> None:
    """Parse ``switchboard <words>`` as the CLI would, running nothing: an unknown command or
    option, or a missing argument, raises a usage error (typer's click)."""
    command = typer.main.get_command(cli)
    context = command.make_context("switchboard", [], resilient_parsing=True)
    while hasattr(command, "list_commands"):  # a group: its next word names a command
        name, *words = words
        found = command.get_command(context, name)
        assert found is not None, f"switchboard has no command {name!r}"
        command = found
        context = command.make_context(name, [], parent=context, resilient_parsing=True)
    command.make_context(context.info_name, words, parent=context.parent)


def test_every_switchboard_command_the_deployments_run_exists() -> None:
    (job,) = _objects("Job").values()
    (container,) = job["spec"]["template"]["spec"]["containers"]
    assert "command" not in container  # the cli image's entrypoint: `switchboard`
    _parse_cli(container["args"])
    compose, problems = load_compose()
    assert problems == []
    migrate = compose["services"]["migrate"]
    assert "entrypoint" not in migrate  # the cli image's: `switchboard`
    _parse_cli(migrate["command"])
    # A rolled-back release starts on a newer database; `switchboard migrate` would refuse it.
    assert migrate["command"][:2] == container["args"][:2] == ["db", "grant-app-role"]


def test_the_migration_job_grants_the_role_the_services_log_in_as() -> None:
    (job,) = _objects("Job").values()
    (container,) = job["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    granted = container["args"][-1].replace("$(APP_LOGIN_ROLE)", env["APP_LOGIN_ROLE"])
    (secret,) = (s for s in _objects("Secret").values() if "DATABASE_URL" in s["stringData"])
    (owner,) = (
        s for s in _objects("Secret").values() if "MIGRATION_DATABASE_URL" in s["stringData"]
    )

    assert make_url(secret["stringData"]["DATABASE_URL"]).username == granted
    assert make_url(owner["stringData"]["MIGRATION_DATABASE_URL"]).username != granted


@pytest.mark.parametrize(
    "directory", [BASE, DEPLOY / "overlays" / "example"], ids=["base", "example"]
)
def test_every_variable_a_container_sets_is_a_setting_it_reads(directory: Path) -> None:
    # settings ignore unknown variables: a misspelt one would silently keep the default
    gateway = {ENV_PREFIX + name.upper() for name in GatewaySettings.model_fields}
    for obj in render(directory):
        spec = obj.get("spec", {}).get("template", {}).get("spec", {})
        for container in spec.get("containers", []):
            names = {e["name"] for e in container.get("env", [])}
            if obj["kind"] == "Job":
                names -= {"APP_LOGIN_ROLE"}  # the Job's own, expanded in its args
            known = SETTINGS | gateway if container["name"] == "gateway" else SETTINGS
            assert names <= known, (obj["metadata"]["name"], names - known)
