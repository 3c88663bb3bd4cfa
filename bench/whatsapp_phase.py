"""One phase of ``bench/whatsapp_path.py``: send signed webhooks, wait for the replies at
the fake Twilio, and read what it took (answered/s, latency, CPU per message by process)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import httpx
import uvloop

from bench.http_load import Client, build_request
from bench.whatsapp import PATH, _contacts, _freeze_heap, percentile
from bench.whatsapp_cpu import CpuMeter, per_message_ms
from tests.fakes.twilio_rest import AUTH_TOKEN


def signed_messages(base_url: str, to: str, n: int) -> list[tuple[str, bytes]]:
    """``n`` (contact, raw signed request), each message from a new contact."""
    from twilio.request_validator import RequestValidator

    validator = RequestValidator(AUTH_TOKEN)
    out = []
    for _ in range(n):
        i = next(_contacts)
        contact = f"whatsapp:+1555{i:07d}"
        form = {
            "MessageSid": f"SM{i:032x}",
            "From": contact,
            "To": f"whatsapp:{to}",
            "Body": "Hi, how much is a haircut on Saturday?",
            "NumMedia": "0",
        }
        signature = validator.compute_signature(base_url + PATH, form)
        headers = {"X-Twilio-Signature": signature}
        out.append((contact, build_request(base_url + PATH, form, headers)))
    return out


async def fire(url: str, messages: list[tuple[str, bytes]], rate: float) -> dict[str, float]:
    """Send the webhooks at ``rate`` per second (0: all at once); contact → wall time sent."""
    _freeze_heap()
    client, sent, tasks = Client(url, limit=64), {}, []
    begin = time.perf_counter()
    for i, (contact, request) in enumerate(messages):
        delay = begin + i / rate - time.perf_counter() if rate else 0
        if delay > 0:
            await asyncio.sleep(delay)
        sent[contact] = time.time()
        tasks.append(asyncio.create_task(client.post(request)))
    await asyncio.gather(*tasks)
    return sent


def received(twilio_url: str, times: bool = False) -> dict[str, Any]:
    """What the fake Twilio has accepted: ``count``, and ``arrivals`` (To → time) if asked."""
    answer = httpx.get(f"{twilio_url}/bench/received", params={"times": 1} if times else {})
    value: dict[str, Any] = answer.raise_for_status().json()
    return value


def wait_until(done: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll ``done`` every 0.1 s (cheap counts: they cost the fake or PostgreSQL little)."""
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        time.sleep(0.1)


def live_jobs() -> int:
    """Jobs queued or running, every business's."""
    from sqlalchemy import func, select

    from switchboard.common.db import system_session
    from switchboard.common.models.jobs import LIVE_STATUSES, Job

    with system_session() as session:
        query = select(func.count()).where(Job.status.in_(LIVE_STATUSES))
        return int(session.execute(query).scalar_one())


def phase(
    target: str,
    messages: list[tuple[str, bytes]],
    rate: float,
    meter: CpuMeter,
    ours: tuple[str, ...],
    twilio_url: str | None,
    settle: Callable[[], None] = lambda: None,
) -> dict[str, Any]:
    """Send ``messages``, wait for every reply at Twilio (``twilio_url``; None: no replies,
    the bare endpoint), then ``settle``; the figures of the phase."""
    before = received(twilio_url)["count"] if twilio_url else 0
    meter.start()
    began = time.time()
    sent = uvloop.run(fire(target + PATH, messages, rate))
    if twilio_url:
        expected = before + len(messages)
        wait_until(
            lambda: received(twilio_url)["count"] >= expected,
            60 + len(messages),
            f"{expected - before} replies at Twilio",
        )
        settle()
    cpu = meter.stop()
    arrivals: dict[str, float] = received(twilio_url, True)["arrivals"] if twilio_url else sent
    latencies = [(arrivals[c] - at) * 1000 for c, at in sent.items() if c in arrivals]
    last = max((arrivals[c] for c in sent if c in arrivals), default=began)
    return {
        "messages": len(messages),
        "answered": len(latencies),
        "rate": rate or "burst",
        "answered_per_s": round(len(latencies) / max(last - began, 1e-9), 1),
        "latency_p50_ms": round(percentile(latencies, 0.5), 1) if twilio_url else None,
        "latency_p99_ms": round(percentile(latencies, 0.99), 1) if twilio_url else None,
        # How long the last replies took once the load stopped: a flood is answered when?
        "drained_s_after_last_sent": (
            round(last - max(sent.values(), default=began), 2) if twilio_url else None
        ),
        "cpu_s": {part: round(seconds, 3) for part, seconds in cpu.items()},
        "cpu_ms_per_message": per_message_ms(cpu, len(latencies), ours),
    }
