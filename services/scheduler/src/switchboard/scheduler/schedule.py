"""Work the scheduler's leader does itself, every so many seconds of its monotonic clock."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Periodic:
    """A task the leader runs every ``interval_s``: the outbox relay, new tables' statistics,
    and the domains' safety checks (``safety``), which run only while ENABLE_SCHEDULERS=false
    (otherwise the jobs the schedules emit do that work)."""

    name: str
    interval_s: float
    run: Callable[[], object]
    safety: bool = False
    next_at: float = field(default=0.0)

    def due(self, now: float) -> bool:
        """True when the task should run at monotonic time ``now``."""
        return now >= self.next_at

    def done(self, now: float) -> None:
        """Schedule the next run."""
        self.next_at = now + self.interval_s
