"""What a worker process knows without asking the database: recent cancellations, its jobs.

A job delivered for the first time may start on the *fast path*, with no ledger write before
it runs, when this process's knowledge of cancellations is fresh: read less than
``FRESH_S`` ago, piggybacked on a batch of successes (``ledger.py``). Under load batches run
every few milliseconds, so nearly every first delivery starts without a round trip; an idle
process's knowledge is stale and its jobs take the checked path, one statement each.

The fast path's cost is a window: a job cancelled less than ``FRESH_S`` before a busy process
takes it can still run, as one cancelled while it runs does. Its ledger row stays
``cancelled``. A job on the fast path is recorded when it finishes; one still running after
``RUNNING_AFTER_S`` is marked ``running`` from Dramatiq's consumer loop
(``broker.LedgerRabbitmqBroker``).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import datetime

#: How old the knowledge of cancellations may be for a job to start without a check.
FRESH_S = 0.1
#: How long a fast-path job runs before its row is marked ``running``.
RUNNING_AFTER_S = 0.05
#: More recent cancellations than this and the knowledge is not kept (every start checks).
MAX_KNOWN_CANCELLATIONS = 1000


@dataclass
class FastStart:
    """A job this process started on the fast path and has not finished."""

    started_at: datetime
    started_monotonic: float
    marked_running: bool = False


class InFlight:
    """Recent cancellations and this process's fast-path jobs; safe across worker threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cancelled: frozenset[str] = frozenset()
        self._known_at = float("-inf")  # monotonic time the knowledge was read
        self._jobs: dict[str, FastStart] = {}

    def learn_cancellations(self, job_ids: list[str], *, read_at: float) -> None:
        """Store the cancellations a statement sent at ``read_at`` (monotonic) returned."""
        with self._lock:
            if read_at < self._known_at:
                return  # an older batch finished after a newer one
            if len(job_ids) > MAX_KNOWN_CANCELLATIONS:
                self._cancelled, self._known_at = frozenset(), float("-inf")
            else:
                self._cancelled, self._known_at = frozenset(job_ids), read_at

    def forget(self) -> None:
        """Drop the knowledge, as a new process starts (tests)."""
        with self._lock:
            self._cancelled, self._known_at = frozenset(), float("-inf")

    def try_fast_start(self, job_id: str, started_at: datetime) -> bool:
        """Register ``job_id`` as started if the knowledge is fresh and does not name it."""
        now = time.monotonic()
        with self._lock:
            if now - self._known_at >= FRESH_S or job_id in self._cancelled:
                return False
            if job_id in self._jobs:
                return False  # a duplicate delivery running alongside: let the ledger decide
            self._jobs[job_id] = FastStart(started_at, now)
            return True

    def finish(self, job_id: str) -> FastStart | None:
        """Forget a finished job; its fast start, or None if it started the checked way."""
        with self._lock:
            return self._jobs.pop(job_id, None)

    def due_running(self, job_id: str | None = None) -> list[tuple[str, datetime]]:
        """Claim the marks to write: jobs running past ``RUNNING_AFTER_S`` (or ``job_id`` now)."""
        now = time.monotonic()
        due: list[tuple[str, datetime]] = []
        with self._lock:
            for key, job in self._jobs.items():
                if job.marked_running:
                    continue
                overdue = job_id is None and now - job.started_monotonic >= RUNNING_AFTER_S
                if key == job_id or overdue:
                    job.marked_running = True
                    due.append((key, job.started_at))
        return due

    def unclaim(self, job_ids: list[str]) -> None:
        """The marks could not be written: claim them again next time."""
        with self._lock:
            for key in job_ids:
                if key in self._jobs:
                    self._jobs[key].marked_running = False


inflight = InFlight()
