"""The RabbitMQ consumer under Dramatiq's worker: ledger marks from the consumer's own thread.

Dramatiq runs one consumer thread per queue, which owns the queue's AMQP connection, and
worker threads that run the actors and then hand each message back to be acknowledged. This
consumer does two things in the consumer thread, so worker threads never wait for them:

* each time the consumer loop turns, it marks fast-path jobs that have run for a moment as
  ``running`` (``inflight.py``), and beats the process's heartbeat when one is due
  (``heartbeat.py``). The loop turns per delivery and at least every worker timeout (1 s) when
  idle, so a long job shows ``running`` soon after it starts, and a process busy with long
  jobs still beats.
* a job whose actor returned is acknowledged only once its success is committed to the
  ledger. The worker thread leaves the mark owed on the message (:func:`owe_success`) and
  goes on to its next job; the connection's thread writes every owed mark in one statement
  and then acknowledges those messages. While PostgreSQL refuses, the marks are tried again
  every ``RETRY_S`` and the messages stay unacknowledged: a worker that dies meanwhile has
  them redelivered, so RabbitMQ never drops a message whose success the ledger has not
  recorded (one redelivered after the commit is skipped, its row being final). At most
  ``prefetch`` messages are unacknowledged per consumer, so the owed marks are bounded.
* fair share (``fair_share.py``): a slot whose business has jobs waiting for it is handed
  here as its job ends (:meth:`LedgerConsumer.free_slot`); the connection's thread frees the
  handed slots in one statement and publishes the jobs they wake on its own channel.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from functools import partial
from typing import Any

import pika
from dramatiq.broker import Consumer, MessageProxy

from switchboard.common.logging import get_logger
from switchboard.worker.runtime import ledger

log = get_logger(__name__)

#: Seconds between attempts to write owed success marks while PostgreSQL refuses them.
RETRY_S = 1.0
# The owed mark travels on the MessageProxy (Dramatiq's per-delivery wrapper), never in
# ``message.options``, which Dramatiq encodes into any copy of the message it enqueues.
_OWED = "switchboard_owed_success"
_REQUEUE = "switchboard_requeue"


def owe_success(message: MessageProxy, job_id: str) -> None:
    """Leave the job's success mark for the consumer to commit before it acknowledges."""
    setattr(message, _OWED, ledger.success_outcome(job_id))


def requeue_instead_of_ack(message: MessageProxy) -> None:
    """Have the consumer return the message to its queue where it would acknowledge it."""
    setattr(message, _REQUEUE, True)


_Owed = list[tuple[MessageProxy, dict[str, Any]]]


def _commit(owed: _Owed) -> tuple[_Owed, _Owed, str]:
    """Write owed success marks: (written, refused, the last error, described).

    One statement for all; if PostgreSQL refuses it for something in its rows, one per mark,
    so a mark it will never take does not hold back the others. Not when the database is
    unavailable or timed out: each mark would wait as long again.
    """
    if not owed:
        return [], [], ""
    try:
        ledger.mark_succeeded_many([outcome for _, outcome in owed])
        return owed, [], ""
    except Exception as exc:
        if len(owed) == 1 or ledger.database_unavailable(exc):
            return [], owed, ledger.describe_error(exc)
        error = exc
    written: _Owed = []
    refused: _Owed = []
    for item in owed:
        try:
            ledger.mark_succeeded_many([item[1]])
        except Exception as exc:
            refused.append(item)
            error = exc
        else:
            written.append(item)
    return written, refused, ledger.describe_error(error) if refused else ""


#: Each queue's consumer in this process, for the fair share's hand-over of freed slots.
_consumers: dict[str, LedgerConsumer] = {}


def consumer_of(queue_name: str) -> LedgerConsumer | None:
    """This process's RabbitMQ consumer of ``queue_name``, if it has one."""
    return _consumers.get(queue_name)


class LedgerConsumer(Consumer):
    """Wraps Dramatiq's RabbitMQ consumer (``inner``); see the module's docstring."""

    def __init__(
        self, inner: Any, beat: Callable[[], None] | None = None, queue_name: str | None = None
    ) -> None:
        self._inner = inner
        self._beat = beat
        self._lock = threading.Lock()
        self._owed: _Owed = []
        self._freed: list[str] = []
        if queue_name is not None and hasattr(inner, "connection"):
            _consumers[queue_name] = self

    def free_slot(self, job_id: str, release: Callable[[list[str]], list[Any]]) -> bool:
        """Hand a job's slot to this consumer's thread to free (``fair_share.py``): with
        others' in one statement, the woken jobs published on its channel, so the worker
        thread goes on at once. False if it cannot take it (the caller frees it itself)."""
        with self._lock:
            first = not self._freed
            self._freed.append(job_id)
        if not first:
            return True  # a write is already scheduled and will take this one too
        try:
            self._inner.connection.add_callback_threadsafe(partial(self._free_slots, release))
        except Exception:
            with self._lock:
                self._freed.remove(job_id)
            return False
        return True

    def _free_slots(self, release: Callable[[list[str]], list[Any]]) -> None:
        """In the connection's thread: free the handed-over slots, publish the woken jobs."""
        with self._lock:
            job_ids, self._freed = self._freed, []
        try:
            woken = release(job_ids)
            channel = self._inner.channel
            for message in woken:
                channel._impl.basic_publish(
                    exchange="",
                    routing_key=message.queue_name,
                    body=message.encode(),
                    properties=pika.BasicProperties(
                        delivery_mode=2, priority=message.options.get("broker_priority")
                    ),
                )
            if woken:
                channel._flush_output()
        except Exception as exc:  # the sweep frees finished jobs' slots and expires the rest
            log.warning("jobs.slot_release_failed", jobs=len(job_ids), error=str(exc)[:300])

    def __next__(self) -> MessageProxy | None:
        try:
            ledger.mark_running_due()
        except Exception as exc:  # the marks are claimed again on the next turn
            log.warning("jobs.running_marks_failed", error=ledger.describe_error(exc))
        if self._beat is not None:
            self._beat()  # throttled; never raises
        message: MessageProxy | None = next(self._inner)
        return message

    def ack(self, message: MessageProxy) -> None:
        """Called by a worker thread; a message that owes its success mark waits for it."""
        if message.__dict__.pop(_REQUEUE, False):
            self._requeue_now(message)
            return
        outcome = message.__dict__.pop(_OWED, None)
        if outcome is None:
            self._inner.ack(message)
            return
        with self._lock:
            first = not self._owed
            self._owed.append((message, outcome))
        if first:  # otherwise a write is already scheduled and will take this one too
            try:
                self._inner.connection.add_callback_threadsafe(self._write_owed)
            except Exception as exc:  # the connection died: close() writes the marks
                log.warning("jobs.success_marks_deferred", error=ledger.describe_error(exc))

    def _take_owed(self) -> _Owed:
        with self._lock:
            owed, self._owed = self._owed, []
        return owed

    def _write_owed(self) -> None:
        """In the connection's thread: commit the owed marks, then acknowledge the messages."""
        written, refused, error = _commit(self._take_owed())
        if refused:
            log.warning(
                "jobs.success_marks_failed",
                job_ids=[outcome["id"] for _, outcome in refused][:10],
                jobs=len(refused),
                retry_in_s=RETRY_S,
                error=error,
            )
            with self._lock:
                self._owed[:0] = refused  # new ones that arrived meanwhile wait for the retry
            self._inner.connection.call_later(RETRY_S, self._write_owed)
        self._ack_all([message for message, _ in written])

    def _ack_all(self, messages: list[MessageProxy]) -> None:
        """Acknowledge ``messages`` from the connection's thread, sent in one write.

        pika's ``BlockingChannel.basic_ack`` flushes the socket on every call (a poll and a
        send per message: a tenth of the worker's CPU per job); queued on the underlying
        channel, a batch's acks go out together. Dramatiq's consumer keeps the tags it may
        still acknowledge in ``known_tags``, so a tag from before a reconnect is never sent.
        An AMQP error ends this turn of the consumer loop, which reconnects; the messages not
        acknowledged are redelivered and skipped, their rows being final.
        """
        if not messages:
            return
        inner = self._inner
        for message in messages:
            tag = message._tag
            if tag in inner.known_tags:
                inner.known_tags.remove(tag)
                inner.channel._impl.basic_ack(delivery_tag=tag)
        inner.channel._flush_output()

    def _requeue_now(self, message: MessageProxy) -> None:
        """Return the message to the head of its queue (RabbitMQ marks it redelivered)."""
        inner = self._inner
        if message._tag in inner.known_tags:
            inner.known_tags.remove(message._tag)
            nack = partial(inner.channel.basic_nack, message._tag, requeue=True)
            inner.connection.add_callback_threadsafe(nack)

    def nack(self, message: MessageProxy) -> None:
        self._inner.nack(message)

    def requeue(self, messages: Iterable[MessageProxy]) -> None:
        self._inner.requeue(messages)

    def close(self) -> None:
        """Write what is still owed, acknowledge it if the connection still can, and close.

        A mark that cannot be written now is lost with this consumer: RabbitMQ redelivers
        its message, which runs again (the ledger row is still ``running`` or ``queued``).
        """
        written, refused, error = _commit(self._take_owed())
        if refused:
            log.error("jobs.success_marks_lost", jobs=len(refused), error=error)
        try:
            self._ack_all([message for message, _ in written])
        except Exception as exc:  # redelivered later, then skipped as already final
            log.warning("jobs.ack_failed", error=ledger.describe_error(exc))
        self._inner.close()
