"""A run's progress, derived from its items, and whether it is really active."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from switchboard.common.db.base import as_utc, utcnow
from switchboard.common.models import OutboundItem, OutboundRun

#: A running run whose heartbeat is older than this has no live owner.
HEARTBEAT_FRESH = timedelta(seconds=20)
IN_FLIGHT = ("dialing", "in_progress")
FINAL_ITEM = ("completed", "failed", "cancelled")


def unheard_dial() -> tuple[ColumnElement[bool], ...]:
    """An item dialing with no call recorded: its dial's outcome is unknown. Each pass that
    settles such a dial writes only while the item is so, so one of them does."""
    return (OutboundItem.status == "dialing", OutboundItem.call_sid.is_(None))


@dataclass(frozen=True)
class Progress:
    """Counts by item state, the calls Twilio accepted (``placed``), and the 0..1 share of
    items that reached a final state."""

    total: int
    placed: int
    in_progress: int
    completed: int
    failed: int
    cancelled: int
    progress: float
    active: bool


def _aware(moment: datetime | None) -> datetime | None:
    return None if moment is None else as_utc(moment)


def is_active(run: OutboundRun, now: datetime | None = None) -> bool:
    """True only while the run is running and its driver's heartbeat is fresh."""
    heartbeat = _aware(run.heartbeat_at)
    now = now or utcnow()
    return run.status == "running" and heartbeat is not None and now - heartbeat < HEARTBEAT_FRESH


def run_progress(session: Session, run: OutboundRun) -> Progress:
    """The run's progress: placed = calls Twilio accepted (not dials it refused or never
    answered); progress = items in a final state / total."""
    rows = session.execute(
        select(OutboundItem.status, func.count(), func.sum(OutboundItem.calls_placed))
        .where(OutboundItem.business_id == run.business_id, OutboundItem.run_id == run.id)
        .group_by(OutboundItem.status)
    ).all()
    counts = {str(status): int(count) for status, count, _ in rows}
    placed = sum(int(calls or 0) for _, _, calls in rows)
    total = sum(counts.values())
    finished = sum(counts.get(status, 0) for status in FINAL_ITEM)
    return Progress(
        total=total,
        placed=placed,
        in_progress=sum(counts.get(status, 0) for status in IN_FLIGHT),
        completed=counts.get("completed", 0),
        failed=counts.get("failed", 0),
        cancelled=counts.get("cancelled", 0),
        progress=round(finished / total, 4) if total else 1.0,
        active=is_active(run),
    )
