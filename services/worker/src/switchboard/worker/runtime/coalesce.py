"""Group commit for the ledger: many worker threads' updates, one statement.

There is no background thread (only the voice gateway may start threads). The first thread to
submit becomes the leader and runs everything pending as one batch; threads that arrive
meanwhile wait and, when the leader is done, the oldest waiter leads the next batch. Under
load a batch holds several threads' updates; when idle, a batch is one update and costs no
more than writing it directly.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


def _held_lock() -> threading.Lock:
    lock = threading.Lock()
    lock.acquire()
    return lock


@dataclass(eq=False)
class Pending:
    """One submitted update and, once the batch ran, its result or error.

    ``wake`` is held from submission until the item is woken, once: because its batch ran,
    or to lead the next one. A bare lock is the cheapest thing a thread can sleep on; an
    ``Event`` is a condition variable whose ``wait`` and ``set`` are Python code.
    """

    op: str
    params: dict[str, Any]
    result: Any = None
    error: BaseException | None = None
    done: bool = False
    wake: threading.Lock = field(default_factory=_held_lock)


class Coalescer:
    """Run submitted updates in batches through ``run_batch(items)``, which fills in results.

    ``linger_s``: under load (the last batch held more than one update), a leader waits up to
    this long for ``fill`` updates before it runs its batch: fewer, larger batches. An idle
    coalescer never waits.
    """

    def __init__(
        self, run_batch: Callable[[list[Pending]], None], *, linger_s: float = 0.0, fill: int = 1
    ) -> None:
        self._run_batch = run_batch
        self._lock = threading.Lock()
        self._filled = threading.Condition(self._lock)
        self._linger_s, self._fill = linger_s, fill
        self._pending: list[Pending] = []
        self._flushing = False
        self._last_size = 0

    @property
    def waiting(self) -> int:
        """Updates submitted and not yet taken into a batch."""
        with self._lock:
            return len(self._pending)

    def submit(self, op: str, params: dict[str, Any]) -> Any:
        """Queue an update, wait until its batch ran, and return its result."""
        item = Pending(op, params)
        with self._lock:
            self._pending.append(item)
            leader = not self._flushing
            self._flushing = True
            if len(self._pending) == self._fill:
                self._filled.notify()
        if not leader:
            item.wake.acquire()  # woken once: its batch ran, or it leads the next one
            leader = not item.done
        if leader:
            self._lead(item)
        if item.error is not None:
            raise item.error
        return item.result

    def _lead(self, own: Pending) -> None:
        with self._lock:
            if self._linger_s and self._last_size > 1 and len(self._pending) < self._fill:
                self._filled.wait(self._linger_s)
            batch, self._pending = self._pending, []
            self._last_size = len(batch)
        try:
            self._run_batch(batch)
        except BaseException as exc:  # every waiter must learn of it, not only the leader
            for item in batch:
                if not item.done:
                    item.error, item.done = exc, True
        finally:
            for item in batch:
                item.done = True
                if item is not own:  # the others sleep on their lock
                    item.wake.release()
            with self._lock:
                if self._pending:
                    successor = self._pending[0]
                    successor.wake.release()
                else:
                    self._flushing = False
