"""Outcome marks a consumer owes before it settles deliveries, and their writing.

A worker thread leaves a job's outcome on its delivery (``consumer.owe_outcome``); the queue's
consumer collects them as :class:`Owing` records and commits them here, in its connection's
thread, before it acknowledges, retries or dead-letters the messages (``consumer.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from dramatiq.broker import MessageProxy

from switchboard.worker.runtime import ledger

# The owed mark travels on the MessageProxy (Dramatiq's per-delivery wrapper), never in
# ``message.options``, which Dramatiq encodes into any copy of the message it enqueues.
OWED = "switchboard_owed_outcome"
RETRY = "switchboard_retry_delay"
REQUEUE = "switchboard_requeue"
WRITTEN = "switchboard_on_written"


def owe_success(
    message: MessageProxy, job_id: str, *, written: Callable[[], None] | None = None
) -> None:
    """Leave the job's success mark for the consumer to commit before it acknowledges."""
    owe_outcome(message, ledger.success_outcome(job_id), written=written)


def owe_outcome(
    message: MessageProxy, outcome: dict[str, Any], *, written: Callable[[], None] | None = None
) -> None:
    """Leave the job's outcome (``ledger.success_outcome``, ``failure_outcome``,
    ``expiry_outcome``) for the consumer to commit before it settles the message: acknowledges
    it, publishes its retry (:func:`defer_retry`) or dead-letters it. ``written`` is called
    once the mark is committed, or lost (the solo gate waits for it, ``solo.py``)."""
    setattr(message, OWED, outcome)
    if written is not None:
        setattr(message, WRITTEN, written)


def defer_retry(message: Any, delay: int | None) -> bool:
    """Hold back the retry of a delivery: Dramatiq's ``Retries`` publishes the very delivery
    it retries (the MessageProxy), before the attempt's failure is recorded. The consumer
    publishes it once the failure is (``LedgerRabbitmqBroker.enqueue``). False for any other
    message: it is published at once."""
    if not isinstance(message, MessageProxy):
        return False
    setattr(message, RETRY, delay)
    return True


def requeue_instead_of_ack(message: MessageProxy) -> None:
    """Have the consumer return the message to its queue where it would acknowledge it."""
    setattr(message, REQUEUE, True)


@dataclass(frozen=True)
class Owing:
    """A delivery settled once its outcome is written (``outcome`` None: nothing to write)."""

    message: MessageProxy
    outcome: dict[str, Any] | None
    dead_letter: bool  # Dramatiq failed it: nack, not ack
    retry_delay: int | None  # Retries' copy, published before the ack (:func:`defer_retry`)
    retry: bool = False  # a retry copy is owed (its delay may be None)
    written: Callable[[], None] | None = None  # told once the mark is committed or lost


Owed = list[Owing]


def tell_written(owed: Owed) -> None:
    for item in owed:
        if item.written is not None:
            item.written()


def commit(owed: Owed) -> tuple[Owed, Owed, str]:
    """Write owed outcome marks: (written, refused, the last error, described).

    The successes in one statement, each failure in its own; if PostgreSQL refuses the
    successes' statement for something in its rows, one per mark, so a mark it will never take
    does not hold back the others. Once the database is unavailable or timed out, nothing
    more is tried in this turn: each mark would wait as long again.
    """
    marks = [item for item in owed if item.outcome is not None]
    successes = [item for item in marks if not ledger.is_failure(item.outcome or {})]
    groups = ([successes] if successes else []) + [
        [item] for item in marks if ledger.is_failure(item.outcome or {})
    ]
    written = [item for item in owed if item.outcome is None]
    refused: Owed = []
    error: BaseException | None = None
    for group in groups:
        if error is not None and ledger.database_unavailable(error):
            refused += group
            continue
        done, failed, group_error = write_group(group)
        written += done
        refused += failed
        error = group_error or error
    return written, refused, ledger.describe_error(error) if refused and error else ""


def write_group(group: Owed) -> tuple[Owed, Owed, BaseException | None]:
    """Write a group's marks in one statement, else (a row's fault) one by one."""
    try:
        ledger.mark_outcomes([item.outcome for item in group if item.outcome is not None])
        return group, [], None
    except Exception as exc:
        if len(group) == 1 or ledger.database_unavailable(exc):
            return [], group, exc
        error = exc
    written: Owed = []
    refused: Owed = []
    for item in group:
        try:
            ledger.mark_outcomes([item.outcome] if item.outcome is not None else [])
        except Exception as exc:
            refused.append(item)
            error = exc
        else:
            written.append(item)
    return written, refused, error if refused else None


def status_of(item: Owing) -> str:
    """What a refused mark would record, for the log (never the job's error)."""
    return str((item.outcome or {}).get("status", "succeeded"))
