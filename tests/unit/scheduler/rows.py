"""Rows the schedules look for, a scheduler on a fake clock, and what it emitted."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select, update

from switchboard.common.db import system_session, tenant_session
from switchboard.common.db.base import as_utc
from switchboard.common.jobs.schedules import Schedule
from switchboard.common.models import (
    Business,
    Job,
    Lead,
    OutboundItem,
    OutboundRun,
    Recording,
    Reminder,
    ScheduleTick,
    WhatsAppConversation,
    WhatsAppSession,
)
from switchboard.common.settings import Settings
from switchboard.domain.businesses.accounts import create_business
from switchboard.scheduler.clock import FakeClock
from switchboard.scheduler.loop import Scheduler
from switchboard.scheduler.registry import DOMAIN_SCHEDULES, Registry
from tests.support.factories import unique_phone

LONG_AGO = datetime(2020, 1, 1, tzinfo=UTC)
_sids = itertools.count(1)


def business_in(zone: str = "UTC") -> int:
    business, _ = create_business(f"Business in {zone}", unique_phone(), timezone=zone)
    return business.id


def move_business(business_id: int, zone: str) -> None:
    with system_session() as session:
        session.execute(update(Business).where(Business.id == business_id).values(timezone=zone))


def _add(business_id: int, row: Any) -> Any:
    with tenant_session(business_id) as session:
        session.add(row)
        session.flush()
        return row


def old_recording(business_id: int) -> None:
    sid = next(_sids)
    _add(
        business_id,
        Recording(
            business_id=business_id,
            recording_sid=f"RE{sid:032d}",
            call_sid=f"CA{sid:032d}",
            created_at=LONG_AGO,
        ),
    )


def due_reminder(business_id: int) -> None:
    _add(business_id, Reminder(business_id=business_id, title="Call back", due_at=LONG_AGO))


def idle_session(business_id: int) -> None:
    chat = _add(
        business_id,
        WhatsAppConversation(
            business_id=business_id, contact_number=unique_phone(), business_number="+15550000000"
        ),
    )
    _add(
        business_id,
        WhatsAppSession(
            business_id=business_id,
            conversation_id=chat.id,
            started_at=LONG_AGO,
            last_activity_at=LONG_AGO,
        ),
    )


def orphaned_run(business_id: int) -> int:
    """A run left ``running`` by a driver that stopped renewing its lease long ago."""
    run = _add(
        business_id,
        OutboundRun(
            business_id=business_id,
            name="Check-ups",
            status="running",
            started_at=LONG_AGO,
            heartbeat_at=LONG_AGO,
        ),
    )
    return int(run.id)


def ended_run_in_flight(
    business_id: int, finished_at: datetime, status: str = "cancelled", item: str = "dialing"
) -> int:
    """A run that ended ``status`` at ``finished_at`` with an item ``item`` (by default a dial
    still waiting for Twilio)."""
    run = _add(
        business_id,
        OutboundRun(
            business_id=business_id,
            name="Check-ups",
            status=status,
            started_at=LONG_AGO,
            finished_at=finished_at,
        ),
    )
    lead = _add(business_id, Lead(business_id=business_id, name="Ann", phone=unique_phone()))
    _add(
        business_id,
        OutboundItem(
            business_id=business_id,
            run_id=run.id,
            lead_id=lead.id,
            phone=lead.phone,
            status=item,
        ),
    )
    return int(run.id)


def scheduler_for(
    settings: Settings,
    clock: FakeClock,
    *names: str,
    extra: tuple[Schedule, ...] = (),
    **options: Any,
) -> Scheduler:
    """A scheduler running only the domain schedules named (and ``extra``), no platform
    tasks unless given."""
    chosen = tuple(s for s in DOMAIN_SCHEDULES if s.name in names)
    assert len(chosen) == len(names), names
    options.setdefault("tasks", [])
    return Scheduler(settings, Registry(chosen + extra, ()), clock=clock, **options)


def emitted(actor: str) -> list[tuple[datetime, int]]:
    """``(tick, business)`` of every job of ``actor`` a schedule emitted, in tick order."""
    with system_session() as session:
        keys = session.execute(
            select(Job.dedup_key).where(Job.actor_name == actor, Job.dedup_key.like("schedule:%"))
        ).scalars()
        found = []
        for key in keys:
            tick, business_id = key.split(":", 2)[2].rsplit(":", 1)
            found.append((datetime.fromisoformat(tick), int(business_id)))
    return sorted(found)


def emitted_jobs(actor: str) -> list[Job]:
    with system_session() as session:
        return list(session.execute(select(Job).where(Job.actor_name == actor)).scalars())


def kwargs_of(job: Job) -> dict[str, Any]:
    return dict(json.loads(job.message)["kwargs"])


def stored_ticks() -> dict[tuple[str, str], datetime | None]:
    with system_session() as session:
        rows = session.execute(select(ScheduleTick)).scalars()
        return {
            (r.schedule, r.zone): as_utc(r.last_tick_at) if r.last_tick_at else None for r in rows
        }


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


SECOND = timedelta(seconds=1)
