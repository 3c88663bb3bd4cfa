"""How a domain declares its periodic jobs; the scheduler (``services/scheduler``) runs them.

Each domain lists its schedules in its ``scheduled`` module (``SCHEDULES``), one
:class:`Schedule` each: its name, when it ticks (:class:`Cron`, :class:`Every` or
:data:`AT_START`), in whose time zone a cron expression is read (:class:`Zone`), what becomes of
ticks missed while no scheduler led (:class:`Missed`), the catalog entry each tick emits, and
which businesses get one (``targets``). The scheduler's leader emits, per tick, one job per
target through ``enqueue_unique`` with a key naming the schedule, the tick and the business,
in the same transaction that stores the tick as the schedule's last one; it never does the
job's work itself.

A domain's work that must go on while ``ENABLE_SCHEDULERS=false`` (state that would otherwise
stay wrong) is a :class:`SafetyCheck`, which the scheduler's leader runs itself.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import ColumnElement, select, true
from sqlalchemy.orm import QueryableAttribute, Session

from switchboard.common.jobs.catalog import ActorSpec
from switchboard.common.models.business import Business

_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")


@dataclass(frozen=True)
class Cron:
    """A cron expression (five fields, or six with seconds first), e.g. ``"0 3 * * *"``."""

    expression: str


@dataclass(frozen=True)
class Every:
    """Every ``seconds``, on the multiples of ``seconds`` since the Unix epoch (UTC)."""

    seconds: int

    def __post_init__(self) -> None:
        if not isinstance(self.seconds, int) or self.seconds < 1:
            raise ValueError(f"Every takes a whole number of seconds >= 1, got {self.seconds!r}")


@dataclass(frozen=True)
class AtStart:
    """Once each time a scheduler becomes the leader (a start, or a failover)."""


AT_START = AtStart()
When = Cron | Every | AtStart


class Zone(StrEnum):
    """The time zone a cron expression is read in."""

    #: In UTC, one tick for every business.
    UTC = "utc"
    #: In each business's own time zone (``businesses.timezone``): the businesses of one zone
    #: share a tick, DST included (``0 3 * * *`` is 03:00 on their wall clock all year).
    BUSINESS = "business"


class Missed(StrEnum):
    """What becomes of ticks that passed while no scheduler led (or emission failed)."""

    #: However many ticks were missed, one run is emitted, at once, for the latest of them:
    #: the daily cleanup catches up once after a day down; an hour of minute scans coalesces
    #: into one scan, not 60.
    CATCH_UP_ONCE = "catch_up_once"
    #: A tick first seen more than a minute late is dropped; the schedule goes on with its
    #: next tick (work whose moment has passed, such as a report due at a given hour).
    SKIP = "skip"


@dataclass(frozen=True)
class Tick:
    """One tick of a schedule, as its ``targets`` function sees it."""

    #: When it ticked (UTC).
    at: datetime
    #: For a :attr:`Zone.BUSINESS` schedule, the time zone whose businesses this tick is for.
    zone: str | None = None

    def scope(self, business_id: QueryableAttribute[int]) -> ColumnElement[bool]:
        """A condition keeping ``business_id`` (a column) to the businesses of this tick."""
        if self.zone is None:
            return true()
        return business_id.in_(select(Business.id).where(Business.timezone == self.zone))


#: Which businesses get a job for a tick: read in the scheduler's transaction.
Targets = Callable[[Session, Tick], Iterable[int]]


@dataclass(frozen=True)
class Schedule:
    """One periodic job of a domain: when, in whose time zone, what a missed tick becomes,
    the catalog entry it emits and for which businesses.

    ``ttl_s`` overrides the entry's expiry for the jobs this schedule emits (a scan the next
    tick repeats need not wait in a backlog). :attr:`Zone.BUSINESS` needs a :class:`Cron`.
    """

    name: str
    job: ActorSpec
    when: When
    targets: Targets
    zone: Zone = Zone.UTC
    missed: Missed = Missed.CATCH_UP_ONCE
    ttl_s: int | None = None

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise ValueError(f"schedule name {self.name!r}: lower-case letters, digits and _")
        if self.zone is Zone.BUSINESS and not isinstance(self.when, Cron):
            raise ValueError(f"schedule {self.name}: a business time zone needs a cron expression")
        if self.job.params:
            raise ValueError(
                f"schedule {self.name}: {self.job.name} needs arguments {self.job.params}; "
                "a schedule's job takes the business id only"
            )


@dataclass(frozen=True)
class SafetyCheck:
    """Work the scheduler's leader runs itself, every ``every_s`` seconds, while
    ``ENABLE_SCHEDULERS=false`` stops every periodic job."""

    name: str
    every_s: float
    run: Callable[[], object]
