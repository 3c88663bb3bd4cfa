"""Sandbox telephony in the embedded mode: ``switchboard run`` with no Twilio at all.

An outbound run's calls are answered by the sandbox's simulated callee through the real
gateway path (status callbacks, TwiML webhook, Media Stream) and end with call logs; an
inbound WhatsApp message sent by ``switchboard simulate-whatsapp`` is stored and the agent's
reply lands in the sandbox inbox.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from tests.support.processes import ROOT, ServiceProcess, free_port, service_env
from tests.support.waiting import wait_for

CUSTOMER = "+15557650101"


@dataclass
class RunningSystem:
    api: str
    key: str
    env: dict[str, str]
    process: ServiceProcess

    def get(self, path: str, **params: object) -> object:
        response = httpx.get(
            self.api + path, params=params, headers={"Authorization": f"Bearer {self.key}"}
        )
        assert response.status_code == 200, response.text
        return response.json()

    def post(self, path: str, body: object | None = None) -> dict[str, object]:
        response = httpx.post(
            self.api + path, json=body, headers={"Authorization": f"Bearer {self.key}"}
        )
        assert response.status_code in (200, 201), response.text
        return dict(response.json())


@pytest.fixture(scope="module")
def embedded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningSystem]:
    directory = tmp_path_factory.mktemp("sandbox")
    api_port, gateway_port, scheduler_port = free_port(), free_port(), free_port()
    api = f"http://127.0.0.1:{api_port}"
    env = service_env(
        database_url="",
        amqp_url="",
        var_dir=str(directory / "var"),
        log_level="WARNING",
        telephony="",  # the default: the sandbox, since the mode is embedded
        api_base_url=api,
        public_base_url=f"http://127.0.0.1:{gateway_port}",
    )
    env.pop("SWITCHBOARD_API_KEY", None)
    process = ServiceProcess(
        [
            "run",
            "--api-port",
            str(api_port),
            "--gateway-port",
            str(gateway_port),
            "--scheduler-port",
            str(scheduler_port),
        ],
        env,
        directory / "run.log",
    )
    try:
        match = wait_for(
            lambda: re.search(r"API key\s+(sbk_\S+)", process.output()),
            timeout=90,
            what="the API key to be printed",
        )
        wait_for(lambda: _ok(f"{api}/ready"), timeout=60, what="the API to be ready")
        wait_for(
            lambda: _ok(f"http://127.0.0.1:{gateway_port}/health"), what="the gateway to be up"
        )
        yield RunningSystem(api, match.group(1), env, process)
    finally:
        process.stop()
        print(process.output()[-6000:])  # shown by pytest only when a test failed
    assert "Traceback" not in process.output()


def test_an_outbound_run_completes_with_calls_answered_by_the_sandbox(
    embedded: RunningSystem,
) -> None:
    leads = [
        embedded.post("/api/v1/leads", {"phone": phone, "name": name})
        for phone, name in (("+15557650001", "Ada"), ("+15557650002", "Grace"))
    ]
    run = embedded.post(
        "/api/v1/outbound-runs",
        {"name": "Sandbox check-ups", "lead_ids": [lead["id"] for lead in leads], "concurrency": 2},
    )
    embedded.post(f"/api/v1/outbound-runs/{run['id']}/start")

    finished = wait_for(
        lambda: _finished(embedded.get(f"/api/v1/outbound-runs/{run['id']}")),
        timeout=120,
        interval=0.5,
        what="the run to finish",
    )

    assert finished["status"] == "completed", finished
    assert (finished["completed"], finished["failed"], finished["placed"]) == (2, 0, 2), finished
    items = embedded.get(f"/api/v1/outbound-runs/{run['id']}/items")["items"]  # type: ignore[index]
    sids = {item["call_sid"] for item in items}
    calls = wait_for(
        lambda: _calls_of(embedded, sids), timeout=60, interval=0.5, what="the call logs"
    )
    assert {call["direction"] for call in calls} == {"outbound"}, calls


def test_a_simulated_whatsapp_message_is_stored_and_answered_in_the_sandbox_inbox(
    embedded: RunningSystem,
) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "switchboard.cli",
            "simulate-whatsapp",
            "--from",
            CUSTOMER,
            "--body",
            "Hi, are you open on Saturday?",
            "--api-url",
            embedded.api,
            "--api-key",
            embedded.key,
            "--wait",
            "60",
            "--json",
        ],
        env=embedded.env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode == 0, result.stderr
    outcome = json.loads(result.stdout)
    assert outcome["status"] == 200
    assert outcome["reply"]["to"] == CUSTOMER and outcome["reply"]["body"]
    conversations = embedded.get("/api/v1/conversations")["items"]  # type: ignore[index]
    thread = next(c for c in conversations if c["contact_number"] == CUSTOMER)
    messages = embedded.get(f"/api/v1/conversations/{thread['id']}/messages")["items"]  # type: ignore[index]
    assert [m["direction"] for m in messages if m["direction"] == "in"] == ["in"]
    assert any(m["direction"] == "out" and m["status"] == "sent" for m in messages), messages


def _finished(run: object) -> dict[str, object] | None:
    assert isinstance(run, dict)
    return run if run["status"] in ("completed", "failed", "cancelled") else None


def _calls_of(system: RunningSystem, sids: set[str]) -> list[dict[str, object]] | None:
    calls = system.get("/api/v1/calls")["items"]  # type: ignore[index]
    ours = [call for call in calls if call["call_sid"] in sids and call.get("ended_at")]
    return ours if len(ours) == len(sids) else None


def _ok(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False
