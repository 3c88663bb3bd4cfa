"""The calls domain's periodic jobs: recordings past their retention are removed at 03:00 on
each business's own clock, once a day (DST included); every minute, each business with a call
no event has ended that cannot still be live gets ``end_stale_calls_job`` (``stale.py``), and
while ``ENABLE_SCHEDULERS=false`` the scheduler's leader ends them itself (a safety check)."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from switchboard.common.jobs.catalog import CLEANUP_OLD_RECORDINGS, END_STALE_CALLS
from switchboard.common.jobs.schedules import (
    Cron,
    Every,
    Missed,
    SafetyCheck,
    Schedule,
    Tick,
    Zone,
)
from switchboard.common.models import Recording
from switchboard.domain.calls.recordings import RETENTION
from switchboard.domain.calls.stale import businesses_with_stale_calls, end_every_stale_call


def businesses_with_expired_recordings(session: Session, tick: Tick) -> Iterable[int]:
    """The businesses of the tick's time zone that keep a recording past its retention."""
    return session.execute(
        select(Recording.business_id)
        .where(Recording.created_at < tick.at - RETENTION, tick.scope(Recording.business_id))
        .distinct()
    ).scalars()


SCHEDULES = (
    Schedule(
        "recording_cleanup",
        CLEANUP_OLD_RECORDINGS,
        when=Cron("0 3 * * *"),
        zone=Zone.BUSINESS,
        missed=Missed.CATCH_UP_ONCE,
        targets=businesses_with_expired_recordings,
    ),
    Schedule(
        "stale_calls",
        END_STALE_CALLS,
        when=Every(60),
        missed=Missed.CATCH_UP_ONCE,
        targets=businesses_with_stale_calls,
    ),
)
SAFETY_CHECKS = (SafetyCheck("calls_left_open", 60, end_every_stale_call),)
