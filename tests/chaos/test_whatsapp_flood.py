"""Chaos (2): signed WhatsApp webhooks while the worker is SIGKILLed every few seconds and
RabbitMQ is stopped and started once → every message answered exactly once (replies counted
per customer at the fake Twilio), with the scheduler running and without it."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from sqlalchemy import update

from switchboard.common.db import tenant_session
from switchboard.common.models import Business
from tests.chaos.stack import Stack, rabbitmq_away, scale
from tests.chaos.whatsapp import (
    Flood,
    exactly_once,
    fake_twilio,
    inbound_messages,
    statuses,
    wait_answered,
)
from tests.support.factories import make_business

MESSAGES = scale(40, 300)
RATE = scale(10.0, 20.0)  # the flood lasts 4 s (short) or 15 s (full)
#: (seconds into the flood, what happens); RabbitMQ is away between "stop" and "start".
TIMELINE = scale(
    [(1.0, "kill"), (2.0, "rabbit stop"), (4.5, "rabbit start")],
    [(2.0, "kill"), (6.0, "kill"), (7.0, "rabbit stop"), (10.0, "kill"), (13.0, "rabbit start")],
)


def at(start: float, seconds: float) -> None:
    delay = start + seconds - time.monotonic()
    if delay > 0:
        time.sleep(delay)


def run_timeline(start: float, kill_worker: Callable[[], None]) -> int:
    """The timeline's damage; RabbitMQ is started again whatever happens. The kills made."""
    kills = 0
    events = iter(TIMELINE)
    for seconds, what in events:
        at(start, seconds)
        if what == "kill":
            kill_worker()
            kills += 1
        elif what == "rabbit stop":
            with rabbitmq_away():
                for later, inside in events:  # the events while RabbitMQ is away
                    at(start, later)
                    if inside == "rabbit start":
                        break
                    kill_worker()
                    kills += 1
    return kills


@pytest.mark.timeout(scale(240, 900))
@pytest.mark.parametrize("with_scheduler", [True, False], ids=["scheduler", "no-scheduler"])
def test_every_whatsapp_message_is_answered_exactly_once(
    stack: Stack, report, with_scheduler: bool
) -> None:
    business = make_business("Chaos Salon")
    with tenant_session(business.id) as session:  # as bench/whatsapp.py: 8 replies at once
        session.execute(
            update(Business).where(Business.id == business.id).values(whatsapp_concurrency=8)
        )
    with fake_twilio() as (twilio, twilio_env):
        stack.env.update(twilio_env)
        _, api_url = stack.api(wait=False)
        if with_scheduler:
            stack.scheduler(wait=False)
        worker = stack.supervised_worker()
        stack.ready()
        messages = inbound_messages(business.phone_number, MESSAGES)
        flood = Flood(api_url, messages, RATE).start()
        kills = run_timeline(time.monotonic(), worker.kill)
        answers = flood.join()
        contacts = [message.contact for message in messages]
        wait_answered(twilio, contacts, timeout=scale(90, 240))
        stack.wait_settled(business.id, timeout=scale(60, 180))
        once, never, twice, _ = exactly_once(twilio, contacts)
        jobs = stack.jobs_by_status(business.id)

    variant = "whatsapp-flood" if with_scheduler else "whatsapp-flood-no-scheduler"
    report(
        variant,
        f"{MESSAGES} webhooks ({dict(statuses(answers))}), {kills} worker kills, RabbitMQ"
        f" stopped once: {once} answered once, {never} never, {twice} more than once"
        f" (ledger {dict(jobs)}; other worker exits {worker.exits})",
    )
    assert statuses(answers) == {"200": MESSAGES}
    assert (never, twice) == (0, 0)
    assert set(jobs) == {"succeeded"}
