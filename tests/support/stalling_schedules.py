"""Schedules for the scheduler's failover test (``switchboard scheduler
tests.support.stalling_schedules``): the three-second test schedule, whose first emission after
a baseline stalls half-way, inside its transaction, holding the schedule's row lock.

The first process to ask for targets creates ``STALL_MARKER`` (exclusively: only one can) and
then never returns, so the test can SIGKILL it mid-tick; every later call answers at once.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable

from sqlalchemy.orm import Session

from switchboard.common.jobs.schedules import Every, Missed, Schedule, Tick
from tests.support.actors import NOOP
from tests.support.schedules import TICK_S, every_business

#: The file the stalled process creates; its content is the tick it stalled on.
MARKER_ENV = "STALL_MARKER"


def stall_once(session: Session, tick: Tick) -> Iterable[int]:
    try:
        marker = os.open(os.environ[MARKER_ENV], os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        return every_business(session, tick)
    os.write(marker, tick.at.isoformat().encode())
    os.close(marker)
    while True:  # mid-tick until killed
        time.sleep(1)


SCHEDULES = (
    Schedule(
        "test_stalls_mid_tick",
        NOOP,
        when=Every(TICK_S),
        missed=Missed.CATCH_UP_ONCE,
        targets=stall_once,
    ),
)
