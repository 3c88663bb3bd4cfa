"""The transactional outbox: messages written with the caller's data, published after commit.

A rolled-back transaction leaves no row, so nothing is published. After commit the rows are
published with confirms and deleted. Whatever is still there (the process died in between,
or the broker was down) is republished by :func:`relay_outbox`, which every long-running
process runs every ``OUTBOX_RELAY_INTERVAL_S`` on rows older than ``OUTBOX_RELAY_MIN_AGE_S``:
the scheduler, each worker process (``worker/runtime/outbox_relay.py``) and the API (its
asynchronous twin, ``jobs/async_outbox.py``). So whichever of them is alive publishes the
rows once the broker is back. Relays lock the rows they take (``SKIP LOCKED``), and so does
the writer publishing its own rows after commit, so no row is published by two of them; a
row is published twice only when its writer died between publishing and deleting it (or
cannot tell whether the broker took it), and then the relay marks the copy ``republished``
for the worker's ledger to check.

Importing this module registers :func:`hand_over_committed` as the sessions' after-commit step
for the outbox (``db/tenancy.py``): whoever can add to the outbox has registered it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from dramatiq import Message
from sqlalchemy import bindparam, delete, insert, select
from sqlalchemy.orm import Session

from switchboard.common.broker_outage import (
    broker_reachable,
    broker_unreachable,
    is_connection_error,
)
from switchboard.common.db.base import utcnow
from switchboard.common.db.engine import get_engine
from switchboard.common.db.tenancy import after_commit, collect
from switchboard.common.jobs.broker import publish_many
from switchboard.common.logging import get_logger, redact
from switchboard.common.models.jobs import OutboxMessage

log = get_logger(__name__)

PendingMessage = tuple[int, str]
#: Where a session keeps the messages it added, until it commits.
PENDING_KEY = "outbox_pending"
_INSERT = insert(OutboxMessage).returning(OutboxMessage.id)
#: The writer's own rows, built once (a worker publishes after nearly every job it runs):
#: taken unless a relay holds them, and deleted once published.
_OWN_ROWS = OutboxMessage.id.in_(bindparam("ids", expanding=True))
_TAKE_OWN = select(OutboxMessage.id).where(_OWN_ROWS).with_for_update(skip_locked=True)
_DELETE_OWN = delete(OutboxMessage).where(_OWN_ROWS)
#: A relay's rows (every long-running process relays once a second, mostly finding none).
_TAKE_STALE = (
    select(OutboxMessage.id, OutboxMessage.payload)
    .where(OutboxMessage.created_at <= bindparam("cutoff"))
    .order_by(OutboxMessage.id)
    .limit(bindparam("batch_size"))
    .with_for_update(skip_locked=True)
)


def add_to_outbox(
    session: Session, business_id: int, job_id: str, queue_name: str, payload: str
) -> None:
    """Write a message in the caller's transaction; it is published once that commits."""
    outbox_id = session.execute(
        _INSERT,
        {
            "business_id": business_id,
            "job_id": job_id,
            "queue_name": queue_name,
            "payload": payload,
            "created_at": utcnow(),
        },
    ).scalar_one()
    collect(session, PENDING_KEY, (outbox_id, payload))


def mark_republished(payload: str) -> str:
    """The message marked as one that may have been published before (its publisher died, or
    was slow, before it deleted the row): the worker checks its ledger row before running
    it, never taking the fast path (``worker/runtime/inflight.py``)."""
    message = Message.decode(payload.encode())
    return message.copy(options={**message.options, "republished": True}).encode().decode()


def _publish(pending: list[PendingMessage], *, republish: bool = False) -> list[int]:
    """Publish in order, a batch in one broker transaction; the ids published (``republish``:
    each message marked by :func:`mark_republished`)."""
    messages = []
    for _, payload in pending:
        message = Message.decode(payload.encode())
        if republish:
            message = message.copy(options={**message.options, "republished": True})
        messages.append(message)
    count, error = publish_many(messages)
    if count:
        broker_reachable()
    if error is not None and is_connection_error(error):
        # Out of reach: one line per outage and interval, not one per relay turn (every
        # second); the relay tries again meanwhile (``broker_outage.py``).
        broker_unreachable(f"{type(error).__name__}: {error}")
    elif error is not None:  # the relay will try again
        log.warning(
            "outbox.publish_failed",
            outbox_id=pending[count][0],
            remaining=len(pending) - count,
            error=redact(f"{type(error).__name__}: {error}"),
        )
    return [outbox_id for outbox_id, _ in pending[:count]]


def publish_after_commit(pending: list[PendingMessage]) -> int:
    """Publish messages whose transaction just committed; return how many went out.

    The rows are locked while they are published and deleted (``SKIP LOCKED``, as relays take
    them): a relay never publishes a row its writer is publishing, however slow the writer,
    and the writer leaves alone a row a relay has taken. A message published twice could
    start twice, the first copy on the worker's fast path being invisible in the ledger.
    """
    ids = [outbox_id for outbox_id, _ in pending]
    # One Core transaction on prebuilt statements: the ORM session and a statement built per
    # call were a fifth of a WhatsApp reply job's CPU.
    with get_engine().begin() as conn:
        mine = set(conn.scalars(_TAKE_OWN, {"ids": ids}))
        published = _publish([row for row in pending if row[0] in mine])
        if published:
            conn.execute(_DELETE_OWN, {"ids": published})
    return len(published)


#: Where committed messages go: published in this thread (None), or handed to a publisher on
#: an event loop (the API installs one; see ``jobs/async_outbox.py``).
_sink: Callable[[list[PendingMessage]], object] | None = None


def set_outbox_sink(sink: Callable[[list[PendingMessage]], object] | None) -> None:
    """Route committed outbox messages to ``sink`` (None: publish synchronously after commit)."""
    global _sink
    _sink = sink


def hand_over_committed(pending: list[PendingMessage]) -> None:
    """Publish outbox rows whose transaction has committed (through the sink, if one is set)."""
    if _sink is not None:
        _sink(pending)
        return
    publish_after_commit(pending)


after_commit(PENDING_KEY, hand_over_committed)


def relay_outbox(*, min_age_s: float = 2.0, batch_size: int = 500) -> int:
    """Publish outbox rows older than ``min_age_s`` that nobody else is publishing."""
    cutoff = utcnow() - timedelta(seconds=min_age_s)
    with get_engine().begin() as conn:
        rows = conn.execute(_TAKE_STALE, {"cutoff": cutoff, "batch_size": batch_size}).all()
        if not rows:
            return 0
        published = _publish([(row.id, row.payload) for row in rows], republish=True)
        if published:
            conn.execute(_DELETE_OWN, {"ids": published})
    if published:
        log.info("outbox.relayed", count=len(published))
    return len(published)
