"""A simulated inbound call through the running gateway, API, worker and scheduler."""

from __future__ import annotations

import json
import subprocess
import sys

import httpx
from sqlalchemy import select

from switchboard.common.db import tenant_session
from switchboard.common.models import CallLog, Lead
from tests.support import private_data
from tests.support.factories import make_business
from tests.support.processes import ROOT, free_port, service_env
from tests.support.waiting import wait_for


def _up(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def test_a_simulated_call_ends_with_a_call_log_and_a_lead(pg_rabbit, start_service) -> None:
    api_port, gateway_port = free_port(), free_port()
    urls = {
        "api_base_url": f"http://127.0.0.1:{api_port}",
        "public_base_url": f"http://127.0.0.1:{gateway_port}",
    }
    start_service("api", "--port", str(api_port), **urls)
    start_service("gateway", "--port", str(gateway_port), **urls)
    start_service("worker", "--processes", "1", "--threads", "4", **urls)
    start_service("scheduler", "--port", str(free_port()), **urls)
    for port in (api_port, gateway_port):
        wait_for(
            lambda p=port: _up(f"http://127.0.0.1:{p}/ready"), timeout=60, what=f"service on {port}"
        )
    business = make_business("Acme Dental")
    caller = "+15559871234"
    said = "Hi, my name is Dana Smith and I want to book a cleaning."
    private_data.register(caller, said, "Dana Smith")

    env = service_env(database_url=pg_rabbit.database_url, amqp_url=pg_rabbit.amqp_url, **urls)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "switchboard.cli",
            "simulate-call",
            "--to",
            business.phone_number,
            "--from",
            caller,
            "--gateway-url",
            urls["public_base_url"],
            "--json",
            "--say",
            said,
        ],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    private_data.register(*outcome["agent_said"])
    assert outcome["status"] == "completed" and outcome["agent_said"], outcome

    def call_log() -> CallLog | None:
        with tenant_session(business.id) as session:
            return session.execute(
                select(CallLog).where(
                    CallLog.business_id == business.id,
                    CallLog.call_sid == outcome["call_sid"],
                    CallLog.ended_at.is_not(None),
                )
            ).scalar_one_or_none()

    log = wait_for(call_log, timeout=60, what="the finalized call log")
    assert log.from_number == caller and log.transcript
    with tenant_session(business.id) as session:
        lead = session.execute(
            select(Lead).where(Lead.business_id == business.id, Lead.phone == caller)
        ).scalar_one_or_none()
    assert lead is not None
    assert log.lead_id == lead.id
