"""What the scheduler emits, and how often."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Periodic:
    """A task run every ``interval_s`` by the leader; ``emits_jobs`` ones obey ENABLE_SCHEDULERS."""

    name: str
    interval_s: float
    run: Callable[[], object]
    emits_jobs: bool = True
    next_at: float = field(default=0.0)

    def due(self, now: float) -> bool:
        """True when the task should run at monotonic time ``now``."""
        return now >= self.next_at

    def done(self, now: float) -> None:
        """Schedule the next run."""
        self.next_at = now + self.interval_s
