"""The businesses domain's scheduled jobs: warm-ups each time a scheduler starts leading.

``warmup_agents_job`` for every business with an agent builds the prompts still missing;
``warmup_lazy_services_job`` constructs a worker process's outside-world clients, which serve
every business, so one job is enough (filed under the oldest business). A change of agent
settings warms its business up as it commits (``settings``: ``warmup_business_job``).
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from switchboard.common.jobs.catalog import WARMUP_AGENTS, WARMUP_LAZY_SERVICES
from switchboard.common.jobs.schedules import AT_START, Schedule, Tick
from switchboard.common.models import AgentSettings, Business


def businesses_with_agents(session: Session, tick: Tick) -> Iterable[int]:
    """Every business that has agent settings."""
    return session.execute(
        select(AgentSettings.business_id).where(tick.scope(AgentSettings.business_id))
    ).scalars()


def oldest_business(session: Session, tick: Tick) -> Iterable[int]:
    """The first business created, if any: the ledger files a process-wide job under it."""
    first = session.scalar(select(func.min(Business.id)).where(tick.scope(Business.id)))
    return [] if first is None else [first]


SCHEDULES = (
    Schedule("warmup_agents", WARMUP_AGENTS, when=AT_START, targets=businesses_with_agents),
    Schedule("warmup_lazy_services", WARMUP_LAZY_SERVICES, when=AT_START, targets=oldest_business),
)
