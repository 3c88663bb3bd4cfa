"""A simulated inbound call whose agent is Gemini Live (a fake of it), through the running
gateway, API, worker and scheduler: greeting, answer, barge-in, a Live connection that runs
out mid-call, and the call log with both sides' words."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
from sqlalchemy import select

from switchboard.common.db import tenant_session
from switchboard.common.models import CallLog, Lead
from tests.fakes.gemini_live import API_KEY, FakeGeminiLive
from tests.support import private_data
from tests.support.factories import make_business
from tests.support.processes import ROOT, free_port, service_env
from tests.support.waiting import wait_for

ANSWER = (
    "Of course, we have openings on Monday morning, Wednesday afternoon "
    "and Friday at nine, which one would suit you best?"
)


@contextmanager
def serving(fake: FakeGeminiLive) -> Iterator[FakeGeminiLive]:
    """Run the fake on its own event loop in a thread, for a test whose waits block."""
    loop = asyncio.new_event_loop()
    ready, stop = threading.Event(), asyncio.Event()

    async def serve() -> None:
        async with fake.running():
            ready.set()
            await stop.wait()

    thread = threading.Thread(target=loop.run_until_complete, args=(serve(),), daemon=True)
    thread.start()
    try:
        assert ready.wait(10), "the fake Gemini Live server did not start"
        yield fake
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(10)
        loop.close()


def _up(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def test_a_gemini_call_with_a_barge_in_ends_with_both_sides_in_the_call_log(
    pg_rabbit, start_service
) -> None:
    api_port, gateway_port = free_port(), free_port()
    urls = {
        "api_base_url": f"http://127.0.0.1:{api_port}",
        "public_base_url": f"http://127.0.0.1:{gateway_port}",
    }
    gemini = FakeGeminiLive(answer_text=ANSWER)
    # The greeting is the first answer: the Live connection then runs out, and the rest of
    # the call goes over a resumed one.
    gemini.go_away_after_answers = 1
    with serving(gemini):
        start_service("api", "--port", str(api_port), **urls)
        start_service(
            "gateway",
            "--port",
            str(gateway_port),
            ai_provider="gemini",
            gemini_api_key=API_KEY,
            gemini_base_url=gemini.url,
            # google-genai trusts this file for its wss:// connection: the fake's TLS.
            ssl_cert_file=str(gemini.ca_file),
            **urls,
        )
        start_service("worker", "--processes", "1", "--threads", "4", **urls)
        start_service("scheduler", "--port", str(free_port()), **urls)
        for port in (api_port, gateway_port):
            wait_for(
                lambda p=port: _up(f"http://127.0.0.1:{p}/ready"),
                timeout=60,
                what=f"service on {port}",
            )
        business = make_business("Acme Dental")
        caller = "+15559871234"
        said = "I need a cleaning."
        private_data.register(caller)

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
                "--barge-in",
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
    private_data.register(*outcome["agent_said"], ANSWER)
    assert (outcome["status"], outcome["ended_by"]) == ("completed", "caller"), outcome
    assert outcome["clears"] >= 1 and gemini.interruptions >= 1
    # The gateway resumed the Live session once, from the handle issued after the greeting.
    assert gemini.resumed_handles == gemini.issued_handles[:1]
    assert len(gemini.setups) == 2

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
    turns = [(turn["role"], turn["text"]) for turn in log.transcript]
    assert turns[0] == ("agent", outcome["agent_said"][0])
    callers = [text for role, text in turns if role == "caller"]
    assert len(callers) == 2 and all(t.startswith("caller spoke for") for t in callers)
    # The answer talked over keeps only what was played before the caller spoke: a few
    # words marked as cut, or none; the answer to the barge-in is whole and ends the call.
    cut = [text for role, text in turns[1:-1] if role == "agent"]
    assert all(t.endswith("…") and ANSWER.startswith(t[:-1]) for t in cut), cut
    assert [role for role, _ in turns[-2:]] == ["caller", "agent"]
    assert [text for _, text in turns].count(ANSWER) == 1 and turns[-1][1] == ANSWER
    with tenant_session(business.id) as session:
        lead = session.execute(
            select(Lead).where(Lead.business_id == business.id, Lead.phone == caller)
        ).scalar_one_or_none()
    assert lead is not None and log.lead_id == lead.id
