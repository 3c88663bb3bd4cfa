"""The outbound runs the dashboard shows a live progress bar for: only really active ones.

A run is active while its status is ``running`` and its driver's heartbeat is fresh (see
:func:`switchboard.domain.outbound.progress.is_active`); a run whose owner died shows no
"ghost" bar even before the reconciler closes it. Counts come from ``outbound_items`` statuses,
as :func:`~switchboard.domain.outbound.progress.run_progress` maps them:

- ``pending``: not dialed yet (counts toward ``total`` only);
- ``dialing`` / ``in_progress``: ``in_progress``;
- ``completed``: ``completed``;
- ``failed`` (busy, no answer and errors end there, the Twilio status kept in
  ``last_call_status``): ``failed``; ``cancelled``: finished without a call;
- ``placed``: items Twilio accepted a call for; ``progress``: finished items / total.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from switchboard.common.db.base import utcnow
from switchboard.common.db.tenancy import tenant_session
from switchboard.common.models import OutboundRun
from switchboard.domain.outbound.progress import HEARTBEAT_FRESH, is_active, run_progress


@dataclass(frozen=True)
class ActiveRun:
    """One active run and its counts, as the dashboard's progress bar draws it."""

    id: int
    name: str
    status: str
    total: int
    placed: int
    in_progress: int
    completed: int
    failed: int
    progress: float
    active: bool
    started_at: datetime | None

    def as_json(self) -> dict[str, Any]:
        """JSON-ready form (times as ISO 8601)."""
        data = asdict(self)
        data["started_at"] = self.started_at.isoformat() if self.started_at else None
        return data


def active_runs(business_id: int, now: datetime | None = None) -> list[ActiveRun]:
    """This business's runs that are running with a fresh heartbeat, oldest first."""
    now = now or utcnow()
    with tenant_session(business_id) as session:
        runs = session.execute(
            select(OutboundRun)
            .where(
                OutboundRun.business_id == business_id,
                OutboundRun.status == "running",
                OutboundRun.heartbeat_at >= now - HEARTBEAT_FRESH,
            )
            .order_by(OutboundRun.id)
        ).scalars()
        found = []
        for run in runs:
            if not is_active(run, now):
                continue
            p = run_progress(session, run)
            found.append(
                ActiveRun(
                    id=run.id,
                    name=run.name,
                    status=run.status,
                    total=p.total,
                    placed=p.placed,
                    in_progress=p.in_progress,
                    completed=p.completed,
                    failed=p.failed,
                    progress=p.progress,
                    active=True,
                    started_at=run.started_at,
                )
            )
        return found
