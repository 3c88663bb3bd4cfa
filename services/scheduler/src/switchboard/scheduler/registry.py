"""What the scheduler runs: every domain's declared schedules and safety checks."""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from switchboard.common.jobs.schedules import SafetyCheck, Schedule
from switchboard.domain.businesses import scheduled as businesses_scheduled
from switchboard.domain.calls import scheduled as calls_scheduled
from switchboard.domain.notifications import scheduled as notifications_scheduled
from switchboard.domain.operations import scheduled as operations_scheduled
from switchboard.domain.outbound import scheduled as outbound_scheduled
from switchboard.domain.whatsapp import scheduled as whatsapp_scheduled
from switchboard.scheduler.timetable import validate

#: Each domain declares its schedules in its ``scheduled`` module.
DOMAIN_SCHEDULES: tuple[Schedule, ...] = (
    *businesses_scheduled.SCHEDULES,
    *calls_scheduled.SCHEDULES,
    *notifications_scheduled.SCHEDULES,
    *whatsapp_scheduled.SCHEDULES,
    *outbound_scheduled.SCHEDULES,
    *operations_scheduled.SCHEDULES,
)
DOMAIN_SAFETY_CHECKS: tuple[SafetyCheck, ...] = (
    *calls_scheduled.SAFETY_CHECKS,
    *outbound_scheduled.SAFETY_CHECKS,
)


@dataclass(frozen=True)
class Registry:
    """The schedules and safety checks one scheduler runs."""

    schedules: tuple[Schedule, ...]
    safety_checks: tuple[SafetyCheck, ...]

    def __post_init__(self) -> None:
        names = [s.name for s in self.schedules] + [c.name for c in self.safety_checks]
        twice = sorted({name for name in names if names.count(name) > 1})
        if twice:
            raise ValueError(f"schedules declared twice: {', '.join(twice)}")
        for schedule in self.schedules:
            validate(schedule)

    def only(self, names: Iterable[str]) -> Registry:
        """The same registry keeping only the schedules named (tests)."""
        wanted = set(names)
        return Registry(tuple(s for s in self.schedules if s.name in wanted), self.safety_checks)


def collect(modules: Sequence[str] = ()) -> Registry:
    """The domains' schedules and safety checks, plus those of ``modules`` (``SCHEDULES``,
    ``SAFETY_CHECKS``), e.g. test schedules given to ``switchboard scheduler``."""
    schedules, checks = list(DOMAIN_SCHEDULES), list(DOMAIN_SAFETY_CHECKS)
    for name in modules:
        module = importlib.import_module(name)
        schedules.extend(getattr(module, "SCHEDULES", ()))
        checks.extend(getattr(module, "SAFETY_CHECKS", ()))
    return Registry(tuple(schedules), tuple(checks))
