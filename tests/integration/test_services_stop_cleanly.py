"""Each service told to stop (SIGTERM, as ``docker stop`` and Kubernetes do; SIGINT, Ctrl-C)
stops gracefully and exits 0, saying so in one line (``common/clean_stop.py``).

Before, ``switchboard api`` and ``switchboard scheduler`` exited with status 143 on SIGTERM
(uvicorn raised the signal again once stopped, and the process died of it), and the gateway
with 130 on SIGINT, while the worker exited 0."""

from __future__ import annotations

import signal
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from switchboard.common.settings import Settings
from tests.support.processes import ServiceProcess, free_port, service_env
from tests.support.waiting import wait_for

#: Each service's command (with its port) and the line it says once stopped.
SERVICES: dict[str, tuple[Callable[[int], list[str]], str]] = {
    "api": (lambda port: ["api", "--host", "127.0.0.1", "--port", str(port)], "api.stopped"),
    "scheduler": (
        lambda port: ["scheduler", "--host", "127.0.0.1", "--port", str(port)],
        "scheduler.stopped",
    ),
    "gateway": (
        lambda port: ["gateway", "--host", "127.0.0.1", "--port", str(port)],
        "gateway.stopped",
    ),
    "worker": (
        lambda port: ["worker", "--processes", "1", "--threads", "1", "--metrics-port", str(port)],
        "worker.stopped",
    ),
}


def _answers(port: int) -> bool:
    try:
        httpx.get(f"http://127.0.0.1:{port}/health", timeout=2)
    except httpx.HTTPError:
        return False
    return True  # 200, or 503 while its broker or consumers settle: it serves


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
@pytest.mark.parametrize("service", list(SERVICES))
def test_a_stop_signal_stops_the_service_with_status_0(
    pg_rabbit: Settings, tmp_path: Path, service: str, signum: signal.Signals
) -> None:
    command, stopped_line = SERVICES[service]
    port = free_port()
    env = service_env(
        database_url=pg_rabbit.database_url,
        amqp_url=pg_rabbit.amqp_url,
        var_dir=str(tmp_path / "var"),
        log_level="INFO",
    )
    # SIGINT as from a terminal (not ignored, even if this test runs as a background job).
    process = ServiceProcess(command(port), env, tmp_path / f"{service}.log", sigint_default=True)
    try:

        def up() -> bool:
            assert process.alive, process.output()
            return _answers(port)

        wait_for(up, timeout=90, what=f"{service}'s /health")
        process.proc.send_signal(signum)  # its main process only, as docker stop does
        code = process.proc.wait(60)
    finally:
        process.stop()
    output = process.output()
    assert code == 0, output
    assert "Traceback" not in output and "error: interrupted" not in output, output
    [line] = [line for line in output.splitlines() if stopped_line in line]
    # The worker's main process leaves the signals to Dramatiq, which forwards them.
    assert f"signal={signum.name}" in line or service == "worker", line
