"""The worker's outbox relay: from the worker loop's threads, throttled, first one interval
after boot."""

from __future__ import annotations

import pytest
from dramatiq import Message
from sqlalchemy import func, select

from switchboard.common.db import system_session, tenant_session
from switchboard.common.jobs import enqueue
from switchboard.common.jobs.broker import get_broker
from switchboard.common.models import OutboxMessage
from switchboard.common.settings import Settings
from switchboard.worker.runtime import outbox_relay
from switchboard.worker.runtime.outbox_relay import OutboxRelayMiddleware
from tests.support.actors import NOOP
from tests.support.clock import MonotonicClock
from tests.support.factories import make_business


def _strand(business_id: int) -> str:
    """A job whose publisher died between its commit and its publish."""
    with tenant_session(business_id) as session:
        ref = enqueue(NOOP, business_id=business_id)
        session.info.pop("outbox_pending")
    return ref.job_id


def _outbox_rows() -> int:
    with system_session() as session:
        return int(session.scalar(select(func.count()).select_from(OutboxMessage)) or 0)


def _published() -> list[Message[object]]:
    queue = get_broker().queues[NOOP.queue]
    return [Message.decode(queue.get_nowait()) for _ in range(queue.qsize())]


def test_a_booted_worker_relays_stranded_rows_at_most_once_per_interval(
    embedded: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    broker = get_broker()
    broker.declare_queue(NOOP.queue)
    business = make_business()
    first = _strand(business.id)
    clock = MonotonicClock()
    monkeypatch.setattr(outbox_relay, "time", clock)
    relay = OutboxRelayMiddleware(interval_s=3600, min_age_s=0)

    relay.tick()  # the CLI's parent process, before any worker booted: nothing
    assert _outbox_rows() == 1

    relay.after_worker_boot(broker, None)
    relay.after_skip_message(broker, None)  # the first turns after boot: the first job first
    assert _outbox_rows() == 1

    clock.now += 3600  # one interval after the boot
    relay.after_skip_message(broker, None)
    assert _outbox_rows() == 0
    [message] = _published()
    assert message.message_id == first and message.options["republished"] is True

    _strand(business.id)
    clock.now += 3599
    relay.after_process_message(broker, None)  # within the interval: not yet
    assert _outbox_rows() == 1 and _published() == []
    clock.now += 1
    relay.tick()
    assert _outbox_rows() == 0


def test_a_message_the_broker_refuses_stays_in_the_outbox_for_the_next_turn(
    embedded: Settings,
) -> None:
    business = make_business()
    _strand(business.id)  # its queue is not declared: the in-process broker refuses it
    relay = OutboxRelayMiddleware(interval_s=0, min_age_s=0)
    relay.after_worker_boot(get_broker(), None)

    relay.tick()

    assert _outbox_rows() == 1  # kept for the next turn
