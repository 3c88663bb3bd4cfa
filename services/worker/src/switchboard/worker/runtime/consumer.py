"""The RabbitMQ consumer under Dramatiq's worker: ledger marks from the consumer's own thread.

Dramatiq runs one consumer thread per queue, which owns the queue's AMQP connection, and
worker threads that run the actors and then hand each message back to be acknowledged. This
consumer does two things in the consumer thread, so worker threads never wait for them:

* each time the consumer loop turns, it marks fast-path jobs that have run for a moment as
  ``running`` (``inflight.py``), and beats the process's heartbeat when one is due
  (``heartbeat.py``). The loop turns per delivery and at least every worker timeout (1 s) when
  idle, so a long job shows ``running`` soon after it starts, and a process busy with long
  jobs still beats.
* a job's delivery is settled only once its outcome is committed to the ledger, whatever
  the outcome: acknowledged (success), its retry published and then acknowledged (a failed
  attempt: Dramatiq's ``Retries`` copy is held back until then, ``owed_marks.defer_retry``), or
  dead-lettered (a permanent failure, retries exhausted, expired). The worker thread leaves
  the mark owed on the message (``owed_marks.owe_outcome``) and goes on to its next job; the
  connection's thread writes the owed successes in one statement (each failure in its own)
  and then settles those messages. While PostgreSQL refuses, the marks are tried again every
  ``RETRY_S`` and the messages stay unacknowledged: a worker that dies meanwhile has them
  redelivered, so RabbitMQ never drops, retries or dead-letters a message whose outcome the
  ledger has not recorded (one redelivered after the commit is skipped, its row being final,
  or started as the retry, its row being queued). At most ``prefetch`` messages are
  unacknowledged per consumer, so the owed marks are bounded.
* fair share (``fair_share.py``): a slot whose business has jobs waiting for it is handed
  here as its job ends (:meth:`LedgerConsumer.free_slot`); the connection's thread frees the
  handed slots in one statement. The jobs they wake for this queue are held and handed to this
  process's worker threads (``woken_here.py``); those of other queues are published on its
  channel.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from functools import partial
from typing import Any

import pika
from dramatiq.broker import Consumer, MessageProxy
from dramatiq.common import xq_name
from dramatiq.errors import ConnectionClosed

from switchboard.common.logging import get_logger
from switchboard.worker.runtime import ledger
from switchboard.worker.runtime.owed_marks import (
    OWED,
    REQUEUE,
    RETRY,
    WRITTEN,
    Owed,
    Owing,
    commit,
    status_of,
    tell_written,
)
from switchboard.worker.runtime.woken_here import (
    HeldWakes,
    WokenHere,
    consume_events,
    forget_turns,
    held_again,
    held_here,
    held_wakes,
    holding,
    keep_slot,
    republished,
    settled_slot,
    turn_now,
)

log = get_logger(__name__)

#: Seconds between attempts to write owed outcome marks while PostgreSQL refuses them.
RETRY_S = 1.0


#: Each queue's consumer in this process, for the fair share's hand-over of freed slots.
_consumers: dict[str, LedgerConsumer] = {}


def consumer_of(queue_name: str) -> LedgerConsumer | None:
    """This process's RabbitMQ consumer of ``queue_name``, if it has one."""
    return _consumers.get(queue_name)


class LedgerConsumer(Consumer):
    """Wraps Dramatiq's RabbitMQ consumer (``inner``); see the module's docstring."""

    def __init__(
        self,
        inner: Any,
        beat: Callable[[], None] | None = None,
        queue_name: str | None = None,
        publish: Callable[[MessageProxy, int | None], Any] | None = None,
        prefetch: int = 1,
    ) -> None:
        self._inner = inner
        self._prefetch = prefetch
        self._beat = beat
        #: Publishes a held-back retry (the broker's own ``enqueue``, not holding it back).
        self._publish = publish
        self._lock = threading.Lock()
        self._owed: Owed = []
        self._closed = False
        self._freed: list[str] = []
        self._queue_name = queue_name
        #: The woken jobs of this queue this process runs itself (``woken_here.py``).
        self._held: HeldWakes | None = None
        if queue_name is not None and hasattr(inner, "connection"):
            _consumers[queue_name] = self
            self._held = held_wakes(queue_name)

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
        """In the connection's thread: free the handed-over slots; hold the woken jobs of this
        queue for this process's threads, publish the others."""
        with self._lock:
            job_ids, self._freed = self._freed, []
        try:
            self._publish_on_channel(self._hold_woken(release(job_ids)))
        except Exception as exc:  # the sweep frees finished jobs' slots and expires the rest
            log.warning("jobs.slot_release_failed", jobs=len(job_ids), error=str(exc)[:300])

    def _hold_woken(self, woken: list[Any]) -> list[Any]:
        """Hold the woken jobs this process may run itself (:meth:`_may_hold`); the others, to
        publish."""
        elsewhere = []
        for message in woken:
            if self._may_hold(message):
                self._hold([WokenHere(message)])
            else:
                elsewhere.append(message)
        return elsewhere

    def _may_hold(self, message: Any) -> bool:
        """A woken job this consumer may hand to its own threads: of its queue, not delayed,
        and within its prefetch, counting RabbitMQ's unacknowledged deliveries and the held
        jobs not settled (else it waits in RabbitMQ, for any process)."""
        return (
            self._held is not None
            and message.queue_name == self._queue_name
            and "eta" not in message.options
            and len(self._inner.known_tags) + self._held.unsettled() < self._prefetch
            and consume_events(self._inner) is not None
        )

    def _publish_on_channel(self, messages: Iterable[Any], queue: str | None = None) -> None:
        """Publish on this consumer's channel (to each message's queue, or ``queue``), in the
        connection's thread, sent in one write."""
        channel = self._inner.channel
        sent = False
        for message in messages:
            channel._impl.basic_publish(
                exchange="",
                routing_key=queue or message.queue_name,
                body=message.encode(),
                properties=pika.BasicProperties(
                    delivery_mode=2, priority=message.options.get("broker_priority")
                ),
            )
            sent = True
        if sent:
            channel._flush_output()

    def __next__(self) -> MessageProxy | None:
        try:
            ledger.mark_running_due()
        except Exception as exc:  # the marks are claimed again on the next turn
            log.warning("jobs.running_marks_failed", error=ledger.describe_error(exc))
        if self._beat is not None:
            self._beat()  # throttled; never raises
        self._adopt_orphans()
        held = self._held.next() if self._held is not None else None
        if held is not None:
            return held
        message: MessageProxy | None = next(self._inner)
        if message is None and self._held is not None:
            return self._held.next()  # woken while waiting (:meth:`_hold`)
        return message

    def ack(self, message: MessageProxy) -> None:
        """Called by a worker thread; a message that owes its outcome mark waits for it."""
        if message.__dict__.pop(REQUEUE, False):
            keep_slot(message)
            self._requeue_now(message)
            self._written_now(message)
            return
        if self._owe(message, dead_letter=False):
            return
        if held_here(message) and self._held is not None:
            self._held.settled(message.message_id)  # nothing to acknowledge
            settled_slot(message, freed=False)
        else:
            self._inner.ack(message)

    def nack(self, message: MessageProxy) -> None:
        """Called by a worker thread for a message Dramatiq failed (dead-lettered): once its
        outcome mark is written."""
        if self._owe(message, dead_letter=True):
            return
        if held_here(message):
            settle = partial(self._settle_held, Owing(message, None, True, None))
            try:
                self._inner.connection.add_callback_threadsafe(settle)
            except Exception as exc:  # Dramatiq tries again, through the next consumer
                raise ConnectionClosed(exc) from None  # type: ignore[no-untyped-call]
        else:
            self._inner.nack(message)

    def _owe(self, message: MessageProxy, *, dead_letter: bool) -> bool:
        """Leave the message to be settled once its owed mark is written; False if it owes
        none (settle it now)."""
        outcome = message.__dict__.pop(OWED, None)
        retry = RETRY in message.__dict__
        delay = message.__dict__.pop(RETRY, None)
        if outcome is None and not retry:
            self._written_now(message)
            return False
        written = message.__dict__.pop(WRITTEN, None)
        owing = Owing(message, outcome, dead_letter, delay, retry, written)
        with self._lock:
            if self._closed and self._held is not None and held_here(message):
                self._held.orphan([owing])  # this consumer is gone: the next one settles it
                return True
            first = not self._owed
            self._owed.append(owing)
        if first:  # otherwise a write is already scheduled and will take this one too
            try:
                self._inner.connection.add_callback_threadsafe(self._write_owed)
            except Exception as exc:  # the connection died: close() writes the marks
                log.warning("jobs.success_marks_deferred", error=ledger.describe_error(exc))
        return True

    def _adopt_orphans(self) -> None:
        """In the connection's thread: write and settle the outcomes of held jobs that ended
        after the consumer before this one closed (``HeldWakes.orphan``)."""
        orphans = self._held.take_orphans() if self._held is not None else []
        if orphans:
            with self._lock:
                self._owed.extend(orphans)
            self._write_owed()

    @staticmethod
    def _written_now(message: MessageProxy) -> None:
        """The message owes no mark after all (it is settled at once)."""
        written = message.__dict__.pop(WRITTEN, None)
        if written is not None:
            written()

    def _take_owed(self) -> Owed:
        with self._lock:
            owed, self._owed = self._owed, []
        return owed

    def _write_owed(self) -> None:
        """In the connection's thread: commit the owed marks, then settle the messages. The
        jobs the successes' statement wakes for this queue are held here."""
        with holding(self._hold_woken):
            written, refused, error = commit(self._take_owed())
        tell_written(written)
        if refused:
            log.warning(
                "jobs.success_marks_failed",
                job_ids=[item.message.message_id for item in refused][:10],
                jobs=len(refused),
                outcomes=sorted({status_of(item) for item in refused}),
                retry_in_s=RETRY_S,
                error=error,
            )
            with self._lock:
                self._owed[:0] = refused  # new ones that arrived meanwhile wait for the retry
            self._inner.connection.call_later(RETRY_S, self._write_owed)
        self._settle(written)

    def _settle(self, owed: Owed) -> None:
        """Settle messages whose marks are written, from the connection's thread, sent in one
        write: publish a held-back retry, then acknowledge; or dead-letter.

        pika's ``BlockingChannel.basic_ack`` flushes the socket on every call (a poll and a
        send per message: a tenth of the worker's CPU per job); queued on the underlying
        channel, a batch's acks go out together. Dramatiq's consumer keeps the tags it may
        still acknowledge in ``known_tags``, so a tag from before a reconnect is never sent
        (nor its retry published: the delivery comes again and starts the queued job). An AMQP
        error ends this turn of the consumer loop, which reconnects; the messages not settled
        are redelivered and skipped, their rows being final (or started, if queued again).
        """
        if not owed:
            return
        inner = self._inner
        for item in owed:  # first: nothing else brings them back if the channel fails below
            if held_here(item.message):
                self._settle_held(item)
        for item in owed:
            if held_here(item.message):
                continue
            tag = item.message._tag
            if tag not in inner.known_tags:
                continue
            inner.known_tags.remove(tag)
            if item.retry and not self._publish_retry(item):
                # Its row says queued: the delivery itself comes back, and runs as the retry.
                inner.channel._impl.basic_nack(delivery_tag=tag, requeue=True)
            elif item.dead_letter:
                inner.channel._impl.basic_nack(delivery_tag=tag, requeue=False)
            else:
                inner.channel._impl.basic_ack(delivery_tag=tag)
        inner.channel._flush_output()

    def _settle_held(self, item: Owing) -> None:
        """Settle a job this process woke and ran (``woken_here.py``): nothing to acknowledge;
        its retry published (if RabbitMQ refuses it, the job is held again and runs again
        here, as RabbitMQ would redeliver it); a dead one published to the dead-letter queue,
        where RabbitMQ would have moved its delivery. Its slot is freed then, unless its
        success's statement freed it (``woken_here.free_when_settled``)."""
        message = item.message
        if self._held is not None:
            self._held.settled(message.message_id)
        if item.retry and not self._publish_retry(item):
            keep_slot(message)
            self._hold([held_again(message)])
            return
        if item.dead_letter:
            try:
                self._publish_on_channel([message._message], queue=xq_name(message.queue_name))
            except Exception as exc:  # the ledger keeps the dead job and its message
                log.warning(
                    "job.dead_letter_copy_lost",
                    job_id=message.message_id,
                    error=ledger.describe_error(exc),
                )
        success = item.outcome is not None and not ledger.is_failure(item.outcome)
        settled_slot(message, freed=success)

    def _hold(self, messages: list[WokenHere]) -> None:
        """Hold jobs for this process's threads (from the connection's thread) and have the
        consumer loop turn at once to take them (else it takes them at its next turn, within
        a second, or the queue's next consumer does)."""
        if self._held is None:
            self._publish_on_channel(republished(message) for message in messages)
            return
        self._held.hold(messages)
        turn_now(consume_events(self._inner))

    def _publish_held(self, messages: list[WokenHere]) -> None:
        """Publish held jobs the process will not run, marked ``republished`` (their copies ask
        the ledger and run in their reservations). Kept for the queue's next consumer if this
        connection cannot (a consumer closed by a lost connection)."""
        if not messages:
            return
        try:
            self._publish_on_channel(republished(message) for message in messages)
        except Exception as exc:
            log.warning(
                "jobs.held_publish_failed", jobs=len(messages), error=ledger.describe_error(exc)
            )
            if self._held is not None:
                self._held.hold(messages)
            return
        if self._held is not None:
            for message in messages:
                self._held.settled(message.message_id)

    def _publish_retry(self, item: Owing) -> bool:
        """Publish the retry Dramatiq's ``Retries`` asked for; False if RabbitMQ refused it."""
        try:
            if self._publish is None:  # only a broker that holds retries back gives one
                raise RuntimeError("this consumer cannot publish retries")
            self._publish(item.message, item.retry_delay)
        except Exception as exc:
            log.warning(
                "job.retry_publish_failed",
                job_id=item.message.message_id,
                error=ledger.describe_error(exc),
            )
            return False
        return True

    def _requeue_now(self, message: MessageProxy) -> None:
        """Return the message to the head of its queue (RabbitMQ marks it redelivered); one
        this process woke is held again, to start through the ledger's checks."""
        inner = self._inner
        if held_here(message):
            again = held_again(message)
            try:
                inner.connection.add_callback_threadsafe(partial(self._hold, [again]))
            except Exception:  # the connection is gone: the queue's next consumer takes it
                if self._held is not None:
                    self._held.hold([again])
            return
        if message._tag in inner.known_tags:
            inner.known_tags.remove(message._tag)
            nack = partial(inner.channel.basic_nack, message._tag, requeue=True)
            inner.connection.add_callback_threadsafe(nack)

    def requeue(self, messages: Iterable[MessageProxy]) -> None:
        """The worker stops with these not run: RabbitMQ's deliveries come back when the
        connection closes; the jobs this process woke are published."""
        messages = list(messages)
        self._publish_held([message for message in messages if isinstance(message, WokenHere)])
        self._inner.requeue([message for message in messages if not held_here(message)])

    def close(self) -> None:
        """Write what is still owed, settle it if the connection still can, and close.

        A mark that cannot be written now is lost with this consumer: RabbitMQ redelivers
        its message, which runs again (the ledger row is still ``running`` or ``queued``; a
        ``running`` row is taken over once its worker is dead or its actor's time limit
        has passed, ``ledger.mark_started``). A job this process woke has no delivery to
        come back: it is held again, to run again through the ledger's checks, and published
        below with the rest of what is held (or kept for the queue's next consumer).
        """
        with self._lock:
            self._closed = True  # a held job's outcome owed from now on goes to the next one
        written, refused, error = commit(self._take_owed())
        tell_written(written + refused)
        if refused:
            log.error("jobs.success_marks_lost", jobs=len(refused), error=error)
            if self._held is not None:
                self._held.hold(
                    [held_again(item.message) for item in refused if held_here(item.message)]
                )
        try:
            self._settle(written)
        except Exception as exc:  # redelivered later, then skipped as already final
            log.warning("jobs.ack_failed", error=ledger.describe_error(exc))
        if self._held is not None:
            self._publish_held(self._held.take_all())
        forget_turns(consume_events(self._inner))
        self._inner.close()
