"""Schedules for the scheduler's process tests (``switchboard scheduler tests.support.schedules``):
a tick every three seconds for every business, emitting the test no-op job.

The process's in-process broker gets every queue declared, so what the scheduler emits is
published (and kept in memory) rather than left in the outbox.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from switchboard.common.jobs.broker import get_broker
from switchboard.common.jobs.catalog import queues
from switchboard.common.jobs.schedules import Every, Missed, Schedule, Tick
from switchboard.common.models import Business
from tests.support.actors import NOOP

#: Long enough that a handover (well under a second) never spans a whole interval.
TICK_S = 3


def every_business(session: Session, tick: Tick) -> Iterable[int]:
    return session.execute(select(Business.id).where(tick.scope(Business.id))).scalars()


SCHEDULES = (
    Schedule(
        "test_every_three_seconds",
        NOOP,
        when=Every(TICK_S),
        missed=Missed.CATCH_UP_ONCE,
        targets=every_business,
    ),
)

for _queue in (*queues(), NOOP.queue):
    get_broker().declare_queue(_queue)
