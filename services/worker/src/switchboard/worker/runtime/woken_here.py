"""Woken jobs a worker process runs itself, without a trip through RabbitMQ.

When a job ends and frees a contended slot (``fair_share.py``), the slot goes to its
business's oldest parked job, reserved for it. That job is for the same queue, and the process
whose job just ended has a worker thread about to be free: publishing the job to RabbitMQ to
have it delivered back costs a publish, a delivery and an acknowledgement, and their round
trips in every turn of a slot (a third of a fair-share drain's throughput, docs/benchmarks.md).
So the queue's consumer *holds* such a job (:class:`HeldWakes`) and hands it to its worker
threads as a delivery of its own (:class:`WokenHere`), with no delivery tag to acknowledge.

What a held job has instead of RabbitMQ's guarantees:

- a graceful stop, or a consumer that closes, publishes what it still holds (and the worker
  publishes those of its in-memory queue, ``Worker.stop``), marked ``republished``: the copy
  asks the ledger and runs in the job's reservation;
- its reserved slot is kept until its outcome is written: a success's slot is freed in its
  mark's own statement (and the jobs that wakes for this queue are held in turn), a failure's
  once it is settled (:func:`free_when_settled`). So whenever the process dies, the job's row
  is final or its reservation is still there:
- a process killed before the job's outcome was written, its row still ``queued`` (a job
  shorter than ``inflight.RUNNING_AFTER_S`` is never marked running), leaves its slot
  reserved: the sweep parks the job again once the reservation expires
  (``JOB_SLOT_RESERVATION_S``);
- a process killed with the job's row ``running`` leaves it on a worker whose heartbeat goes
  stale: the sweep publishes a ``republished`` copy that takes the job over, at most one per
  staleness period (migration 0044);
- a failure's retry is published once its mark is written, as for a RabbitMQ delivery; if
  RabbitMQ refuses it, the job is held again and runs again (as RabbitMQ would redeliver it);
  a dead one is published to the queue's dead-letter queue.

Held jobs belong to the process's queue, not to one consumer: a consumer that reconnects finds
what the one before it could not publish as it closed.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from dramatiq import Message
from dramatiq.broker import MessageProxy

from switchboard.worker.runtime.woken_messages import reserved_for_its_attempt


class _Turn:
    """An event for pika's consumer generator that carries no delivery: the consume call
    returns ``(None, None, None)``, as at its inactivity timeout."""

    method = properties = body = None


_TURN = _Turn()


def consume_events(inner: Any) -> Any:
    """pika's events for the consume call of Dramatiq's consumer ``inner`` (its generator's
    ``pending_events``), or None if this pika has none (or the in-process broker: no channel).
    An event with no delivery appended there (:func:`turn_now`) makes the consume call return
    at once, so the consumer loop turns and takes a held job."""
    generator = getattr(getattr(inner, "channel", None), "_queue_consumer_generator", None)
    return getattr(generator, "pending_events", None)


def turn_now(events: Any) -> None:
    """Have the consume call return at once (once, however many jobs were held)."""
    if events is not None and not any(event is _TURN for event in events):
        events.append(_TURN)


def forget_turns(events: Any) -> None:
    """Take the turn events out of pika's generator before the consumer is cancelled: its
    cancel rejects every pending event as a delivery."""
    if events is not None:
        kept = [event for event in events if event is not _TURN]
        events.clear()
        events.extend(kept)


class WokenHere(MessageProxy):
    """A woken job run by the process that woke it: a delivery with no RabbitMQ tag.

    ``redelivered``: it ran here before (its retry could not be published), so it starts
    through the ledger's checks like a RabbitMQ redelivery."""

    def __init__(self, message: Message[Any], *, redelivered: bool = False) -> None:
        super().__init__(message)
        self.redelivered = redelivered
        self._tag = None


def held_here(message: Any) -> bool:
    """The delivery is a job this process woke and runs itself (no RabbitMQ tag)."""
    return isinstance(message, WokenHere)


#: Set on a held job's delivery that still holds its slot after a failure (or with no outcome
#: to write): what frees it once the delivery is settled (:func:`free_when_settled`).
_FREE_WHEN_SETTLED = "switchboard_free_when_settled"


def free_when_settled(message: Any, free: Callable[[], None]) -> None:
    """Free a held job's slot only once its delivery is settled (``fair_share.py``): until its
    outcome is written, its reservation is what brings the job back if the process dies."""
    message.__dict__[_FREE_WHEN_SETTLED] = free


def settled_slot(message: Any, *, freed: bool) -> None:
    """The held job's delivery is settled: free its slot, unless ``freed`` already (its
    success's statement did) or it owes none."""
    free = message.__dict__.pop(_FREE_WHEN_SETTLED, None)
    if free is not None and not freed:
        free()


def keep_slot(message: Any) -> None:
    """The held job is held again, to run again: its slot stays its reservation."""
    message.__dict__.pop(_FREE_WHEN_SETTLED, None)


_holder: ContextVar[Callable[[list[Message[Any]]], list[Message[Any]]] | None] = ContextVar(
    "switchboard_woken_holder", default=None
)


@contextmanager
def holding(hold: Callable[[list[Message[Any]]], list[Message[Any]]]) -> Iterator[None]:
    """While a consumer's thread writes outcome marks: the jobs their statement wakes go to
    ``hold`` (which returns those it does not hold) instead of RabbitMQ (:func:`held_first`)."""
    token = _holder.set(hold)
    try:
        yield
    finally:
        _holder.reset(token)


def held_first(messages: list[Message[Any]]) -> list[Message[Any]]:
    """Woken jobs: those the current consumer thread holds (:func:`holding`) are taken; the
    others are returned, to publish."""
    hold = _holder.get()
    return messages if hold is None or not messages else hold(messages)


def held_again(message: MessageProxy) -> WokenHere:
    """A held job to run here again, through the ledger's checks, in the slot reserved for it:
    its retry RabbitMQ refused, its mark lost with its consumer, or sent back by the ledger.
    ``Retries`` counted the failed attempt in its options: the reservation is the attempt's
    that runs next."""
    return WokenHere(reserved_for_its_attempt(message._message), redelivered=True)


def republished(message: MessageProxy | Message[Any]) -> Message[Any]:
    """The copy of a held job to publish: marked ``republished``, so its delivery asks the
    ledger whether the job runs elsewhere, and takes its reserved slot only if not."""
    inner = message._message if isinstance(message, MessageProxy) else message
    return inner.copy(options={"republished": True})


class HeldWakes:
    """The woken jobs a queue's consumer holds for its process's worker threads, in order,
    and how many it holds or runs unsettled (they count against the consumer's prefetch, as
    RabbitMQ's deliveries do: a held job waits behind no more local work than a delivery)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._jobs: deque[WokenHere] = deque()
        self._unsettled: set[str] = set()
        #: Outcomes of held jobs that ended after their consumer closed (a lost connection),
        #: for the queue's next consumer to write and settle (``owed_marks.Owing``).
        self._orphans: list[Any] = []

    def hold(self, messages: list[WokenHere]) -> None:
        with self._lock:
            self._jobs.extend(messages)
            self._unsettled.update(message.message_id for message in messages)

    def next(self) -> WokenHere | None:
        """The oldest held job, or None."""
        with self._lock:
            return self._jobs.popleft() if self._jobs else None

    def take_all(self) -> list[WokenHere]:
        """Every job still held (not handed out), to publish."""
        with self._lock:
            jobs, self._jobs = list(self._jobs), deque()
        return jobs

    def settled(self, message_id: str) -> None:
        """The job ran and was settled, or was published: it no longer counts."""
        with self._lock:
            self._unsettled.discard(message_id)

    def orphan(self, owed: list[Any]) -> None:
        """Outcomes owed by held jobs whose consumer closed: the next consumer settles them.
        A RabbitMQ delivery needs none of this (RabbitMQ delivers it again)."""
        with self._lock:
            self._orphans.extend(owed)

    def take_orphans(self) -> list[Any]:
        with self._lock:
            orphans, self._orphans = self._orphans, []
        return orphans

    def forget(self) -> None:
        """Drop what is held and counted, as a new process starts (tests)."""
        with self._lock:
            self._jobs.clear()
            self._unsettled.clear()
            self._orphans.clear()

    def unsettled(self) -> int:
        """Jobs held or handed out and not settled yet."""
        return len(self._unsettled)


_held: dict[str, HeldWakes] = {}
_held_lock = threading.Lock()


def held_wakes(queue_name: str) -> HeldWakes:
    """This process's held jobs of ``queue_name`` (shared by its successive consumers)."""
    with _held_lock:
        return _held.setdefault(queue_name, HeldWakes())


def hold_unpublished(messages: list[Message[Any]]) -> list[Message[Any]]:
    """Woken jobs RabbitMQ refused to take (it is away): those of a queue this process
    consumes are held for its consumer, which runs them once it is back, instead of waiting
    for their reservations to expire (``JOB_SLOT_RESERVATION_S``). The others, returned, wait
    for that."""
    with _held_lock:
        holders = dict(_held)
    left = []
    for message in messages:
        holder = holders.get(message.queue_name)
        if holder is None or "eta" in message.options:
            left.append(message)
        else:
            holder.hold([WokenHere(message)])
    return left
