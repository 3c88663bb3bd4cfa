"""Woken jobs RabbitMQ refused are held for this process's consumer of their queue
(``woken_here.hold_unpublished``), not left to wait for their reservations to expire."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from dramatiq import Message

from switchboard.worker.runtime.woken_here import (
    WokenHere,
    held_again,
    held_wakes,
    hold_unpublished,
)
from switchboard.worker.runtime.woken_messages import WOKEN

CONSUMED = "test_held_consumed"


@pytest.fixture
def holder() -> Iterator[Any]:
    wakes = held_wakes(CONSUMED)  # as this process's consumer of the queue registers it
    wakes.forget()
    yield wakes
    wakes.forget()


def message(queue: str, **options: Any) -> Message[Any]:
    return Message(queue, "test_noop_job", (), {}, {"business_id": 1, **options}, str(uuid.uuid4()))


def test_refused_wakes_of_a_consumed_queue_are_held_for_its_consumer(holder: Any) -> None:
    mine, elsewhere, delayed = (
        message(CONSUMED),
        message("test_held_not_consumed_here"),
        message(CONSUMED, eta=1),  # delayed: for its delay queue's consumer, not this one
    )
    assert hold_unpublished([mine, elsewhere, delayed]) == [elsewhere, delayed]
    held = holder.next()
    assert isinstance(held, WokenHere) and held.message_id == mine.message_id
    assert held.redelivered is False  # its first start, in the slot reserved for it
    assert holder.next() is None and holder.unsettled() == 1


def test_a_held_job_held_again_after_a_failed_attempt_keeps_its_reservation() -> None:
    # Its retry could not be published: it runs again here, in the slot reserved when it
    # woke. ``Retries`` counted the failed attempt in its options; the reservation follows, so
    # the ledger's fair share sees the reservation's own attempt, not another copy to drop.
    woken = WokenHere(message(CONSUMED, retries=0, **{WOKEN: 0}))
    woken.options["retries"] += 1  # as ``Retries`` does before it enqueues the retry
    again = held_again(woken)
    assert isinstance(again, WokenHere) and again.redelivered is True
    assert again.message_id == woken.message_id
    assert (again.options["retries"], again.options[WOKEN]) == (1, 1)
