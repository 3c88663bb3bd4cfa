"""``switchboard run`` with nothing configured: SQLite, in-process broker, every service."""

from __future__ import annotations

import re

import httpx

from tests.support.processes import ServiceProcess, free_port, service_env
from tests.support.waiting import wait_for


def test_run_comes_up_embedded_with_every_service_and_a_demo_key(tmp_path) -> None:
    ports = [free_port() for _ in range(3)]
    env = service_env(
        database_url="", amqp_url="", var_dir=str(tmp_path / "var"), log_level="WARNING"
    )
    process = ServiceProcess(
        [
            "run",
            "--api-port",
            str(ports[0]),
            "--gateway-port",
            str(ports[1]),
            "--scheduler-port",
            str(ports[2]),
        ],
        env,
        tmp_path / "run.log",
    )
    try:
        match = wait_for(
            lambda: re.search(r"API key\s+(sbk_\S+)", process.output()),
            timeout=90,
            what="the API key to be printed",
        )
        key = match.group(1)
        api = f"http://127.0.0.1:{ports[0]}"
        wait_for(lambda: _ok(f"{api}/ready"), what="the API to be ready")
        for port in ports[1:]:
            wait_for(lambda p=port: _ok(f"http://127.0.0.1:{p}/health"), what=f"port {port}")
        me = httpx.get(f"{api}/api/v1/businesses/me", headers={"Authorization": f"Bearer {key}"})
        assert me.status_code == 200 and me.json()["phone_number"] == "+15550000000"
        assert (tmp_path / "var" / "switchboard.db").exists()
    finally:
        process.stop()
    assert "Traceback" not in process.output(), process.output()


def _ok(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False
