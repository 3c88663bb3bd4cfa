"""The images' HEALTHCHECK (deploy/docker/healthcheck.py) against a real HTTP server."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[3] / "deploy" / "docker" / "healthcheck.py"


class Health(BaseHTTPRequestHandler):
    """``/health`` answers with the server's ``status``; anything else is 404."""

    def do_GET(self) -> None:
        status = self.server.status if self.path == "/health" else 404  # type: ignore[attr-defined]
        self.send_response(status)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[ThreadingHTTPServer]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Health)
    httpd.status = 200  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def probe(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, env=env, timeout=30
    )


def port_of(server: ThreadingHTTPServer) -> str:
    return str(server.server_address[1])


def test_a_healthy_service_passes(server: ThreadingHTTPServer) -> None:
    assert probe(port_of(server)).returncode == 0


def test_a_degraded_service_fails_with_its_status(server: ThreadingHTTPServer) -> None:
    server.status = 503  # type: ignore[attr-defined]
    result = probe(port_of(server))
    assert result.returncode == 1
    assert "HTTP 503" in result.stderr


def test_a_service_that_does_not_listen_fails(server: ThreadingHTTPServer) -> None:
    port = port_of(server)
    server.shutdown()
    server.server_close()
    assert probe(port, "--timeout", "2").returncode == 1


def test_the_port_variable_wins_over_the_default_port(server: ThreadingHTTPServer) -> None:
    env = {"WORKER_METRICS_PORT": port_of(server)}
    assert probe("--port-variable", "WORKER_METRICS_PORT", "1", env=env).returncode == 0
    assert probe("--port-variable", "WORKER_METRICS_PORT", port_of(server), env={}).returncode == 0
