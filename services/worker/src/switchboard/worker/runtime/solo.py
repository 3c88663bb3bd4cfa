"""A job taken over from a worker that died runs alone in its process.

When a worker dies, every job it was running is redelivered, and the ledger cannot tell which
of them killed it. If they all started again side by side, a poison job would take the
innocent ones down with it at every delivery until they reached the unfinished-executions cap
too. So a job whose earlier execution died unfinished runs *solo*: it waits until the jobs
running beside it in this process have finished, and no other job starts here until it is
done. Another death during a solo run is then its own. Other processes keep running.

:class:`SoloGate` is a readers–writer lock with writer preference: ordinary jobs share it, a
solo job holds it alone, and a waiting solo job stops new ordinary jobs from starting (else a
busy queue would keep it waiting for ever). A long job that waits on other jobs would hold them
all back for its whole run under that rule, so :meth:`SoloGate.others_waiting` tells a running
job that someone waits for it to make way (``jobs.others_wait``).

A job that has left the gate may still owe its outcome mark: the RabbitMQ consumer commits it
a moment later (``consumer.py``). A death before that commit counts the job as unfinished, as
if it had died too; so a solo job, once alone, also waits until the outcomes owed by the jobs
that ran before it are written (:meth:`SoloGate.owing`), at most ``unwritten_wait_s``: a mark
that never comes (its consumer lost it with its connection) holds nobody back for longer.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from enum import Enum

#: Seconds a solo job waits, at most, for the outcome marks owed by the jobs before it.
UNWRITTEN_WAIT_S = 5.0


class Hold(Enum):
    SHARED = "shared"
    SOLO = "solo"


class SoloGate:
    """Shared by ordinary jobs, held alone by a job taken over from a dead worker."""

    def __init__(self, *, unwritten_wait_s: float = UNWRITTEN_WAIT_S) -> None:
        self._changed = threading.Condition(threading.Lock())
        self._shared = 0
        self._solo = False
        self._solo_waiting = 0
        self._shared_waiting = 0
        self._unwritten: set[int] = set()
        self._tickets = itertools.count()
        self.unwritten_wait_s = unwritten_wait_s

    def enter_shared(self) -> Hold:
        """Wait while a solo job runs or waits to run, then join the ordinary jobs."""
        with self._changed:
            self._shared_waiting += 1
            try:
                self._changed.wait_for(lambda: not self._solo and not self._solo_waiting)
            finally:
                self._shared_waiting -= 1
            self._shared += 1
        return Hold.SHARED

    def enter_solo(self, held: Hold | None = None) -> Hold:
        """Wait until nothing else runs here, then run alone; ``held`` is given up first."""
        with self._changed:
            if held is Hold.SHARED:
                self._shared -= 1
                self._changed.notify_all()
            self._solo_waiting += 1
            try:
                self._changed.wait_for(lambda: not self._solo and self._shared == 0)
            finally:
                self._solo_waiting -= 1
            self._solo = True
            # Alone now: nothing new can owe a mark, so the owed ones only get written.
            if not self._changed.wait_for(lambda: not self._unwritten, self.unwritten_wait_s):
                self._unwritten.clear()  # lost with their consumer: not waited for again
        return Hold.SOLO

    def owing(self) -> Callable[[], None]:
        """A job about to leave owes its outcome mark: call the answer once it is written (or
        lost). Called before :meth:`leave`, so a solo job alone at last still sees it."""
        ticket = next(self._tickets)
        with self._changed:
            self._unwritten.add(ticket)

        def written() -> None:
            with self._changed:
                self._unwritten.discard(ticket)
                self._changed.notify_all()

        return written

    @property
    def unwritten(self) -> int:
        """Outcome marks owed by jobs that left, not yet written."""
        return len(self._unwritten)

    def leave(self, held: Hold) -> None:
        with self._changed:
            if held is Hold.SOLO:
                self._solo = False
            else:
                self._shared -= 1
            self._changed.notify_all()

    def others_waiting(self, held: Hold) -> bool:
        """True if a job waits for the holder of ``held`` to leave: a solo job waiting for the
        ordinary ones, or ordinary jobs waiting for the one running solo."""
        if held is Hold.SOLO:
            return self._shared_waiting > 0 or self._solo_waiting > 0
        return self._solo_waiting > 0

    @property
    def running_solo(self) -> bool:
        return self._solo
