"""``python -m switchboard.<service>``: how each service's image starts it, without the
``switchboard`` command (which the service images do not install)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.processes import free_port
from tests.support.waiting import wait_for

MODULES = [
    "switchboard.api",
    "switchboard.voice_gateway",
    "switchboard.worker",
    "switchboard.scheduler",
]
HEALTHCHECK = Path(__file__).resolve().parents[3] / "deploy" / "docker" / "healthcheck.py"
SECRETS = ("ADMIN_API_KEY", "INTERNAL_API_TOKEN", "MEDIA_TOKEN_SECRET", "SESSION_SECRET")


def run_module(
    module: str, *args: str, env: dict[str, str], cwd: Path
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("module", MODULES)
def test_each_service_module_describes_its_options(module: str, tmp_path: Path) -> None:
    result = run_module(module, "--help", env=dict(os.environ), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert f"python -m {module}" in result.stdout


@pytest.mark.parametrize("module", MODULES)
def test_each_service_module_refuses_development_secrets_in_production(
    module: str, tmp_path: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if k not in SECRETS}
    result = run_module(module, env={**env, "ENVIRONMENT": "production"}, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.startswith(f"python -m {module}: refusing to start")
    assert "  ADMIN_API_KEY: not set" in result.stderr


def test_the_api_module_serves_health_until_sigterm(tmp_path: Path) -> None:
    port = str(free_port())
    env = {**os.environ, "VAR_DIR": str(tmp_path / "var"), "DATABASE_URL": "", "AMQP_URL": ""}
    env["ENVIRONMENT"] = "development"
    log = tmp_path / "api.log"
    server = subprocess.Popen(
        [sys.executable, "-m", "switchboard.api", "--host", "127.0.0.1", "--port", port],
        env=env,
        cwd=tmp_path,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    try:

        def healthy() -> bool:
            assert server.poll() is None, log.read_text()
            probe = subprocess.run([sys.executable, str(HEALTHCHECK), port], capture_output=True)
            return probe.returncode == 0

        wait_for(healthy, timeout=60, interval=0.2, what="the API's /health")
        server.send_signal(signal.SIGTERM)
        # uvicorn shuts down gracefully; the process exits 0 (it used to die of the signal
        # uvicorn raised again once stopped: 143), saying so (``common/clean_stop.py``).
        assert server.wait(timeout=30) == 0, log.read_text()
        assert "Traceback" not in log.read_text()
        assert "api.stopped" in log.read_text()
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()


@pytest.mark.parametrize(
    "command",
    [["-m", "switchboard.voice_gateway"], ["-m", "switchboard.cli", "gateway"]],
    ids=["module", "cli"],
)
def test_the_gateway_on_its_own_refuses_to_start_without_a_broker(
    command: list[str], tmp_path: Path
) -> None:
    # Its call events would go to its own in-process bus, which nothing reads: every call
    # would end with no call log, and the events would pile up in its memory.
    env = {**os.environ, "VAR_DIR": str(tmp_path / "var"), "AMQP_URL": ""}
    env["ENVIRONMENT"] = "development"
    port = str(free_port())
    result = subprocess.run(
        [sys.executable, *command, "--host", "127.0.0.1", "--port", port],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2, result.stderr
    assert "AMQP_URL is empty" in result.stderr and "switchboard run" in result.stderr


#: Nothing listens on port 1: every connection is refused at once, as while PostgreSQL is down.
NOWHERE = "postgresql://postgres:not-shown@127.0.0.1:1/switchboard"


@pytest.mark.parametrize(
    "args",
    [["switchboard.worker", "--metrics-port", "0"], ["switchboard.scheduler", "--port", "0"]],
    ids=["worker", "scheduler"],
)
def test_a_service_that_migrates_at_start_refuses_an_unreachable_database_in_one_line(
    args: list[str], tmp_path: Path
) -> None:
    env = {**os.environ, "VAR_DIR": str(tmp_path / "var"), "DATABASE_URL": NOWHERE}
    env.update(ENVIRONMENT="development", AMQP_URL="", MIGRATION_DATABASE_URL="")
    result = run_module(*args, env=env, cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    assert result.stderr.startswith(
        f"python -m {args[0]}: refusing to start: the database is unavailable: connection "
        'failed: connection to server at "127.0.0.1", port 1 failed'
    ), result.stderr
    assert result.stderr.count("\n") == 1 and "not-shown" not in result.stderr
