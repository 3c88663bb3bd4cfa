"""Fair share between businesses: per-business slots per queue, parked jobs, wake-ups.

Every business shares the queues, and Dramatiq knows no tenants. So before a job starts it
takes one of its business's slots in its queue (``job_slots``; the limit is the business's own,
else the deployment's, ``settings.py``). A business at its limit does not hold a worker thread:
its job is *parked* (``jobs.parked_at``; status still ``queued``) and its message acknowledged
unrun — not dead-lettered. ``enqueue`` parks a job at once when its business already holds its
limit or has parked jobs (``jobs/fair_share.py``), so a backlog enqueued at once is never in
the broker whole. When one of the business's executions ends, its slot goes to the business's
oldest parked job, which is published again with the slot reserved for it: its first delivery
starts without asking (option ``WOKEN``, ``woken_messages.py``), and another copy of the job
(the outbox relay's, the ledger's requeue) never takes that slot unless it takes over a job
whose worker died (migration 0026). So a business never has more than its limit of jobs
published or running in a queue, parked ones aside: another business's job waits behind at most
the sum of the busy businesses' limits, whatever their backlogs — round-robin between
businesses, weighted by their limits.

Every step is one call of a PostgreSQL function (migration 0022) under a transaction-level
advisory lock per (business, queue): two workers never give out the same slot, and a slot
freed while a job was being parked still wakes it. A *contended* slot (the business's last,
or others wait) is freed as its job ends, by the queue's consumer thread (``consumer.py``:
freed slots in one statement; the woken jobs of its queue run in this process,
``woken_here.py``, the others are published on its channel), so the worker thread goes on at
once; other successes free theirs in their success marks' statement, one per
batch (``ledger.py``); failures and skipped deliveries one at a time. A job the process woke
and ran itself keeps its slot until its outcome is written (no RabbitMQ delivery would bring
it back): its success's statement frees it, and holds the jobs that wakes for the queue.
About once a second each worker sweeps, from its consumer loop: slots of a worker whose
heartbeat went stale (SIGKILL, out of memory) and of finished jobs are freed, reservations not
started within ``JOB_SLOT_RESERVATION_S`` are parked again, a reserved job whose worker died
while running it gets a ``republished`` copy that takes it over (migration 0044), and any
business with parked jobs and free slots gets them.

PostgreSQL only: embedded mode (one process, SQLite) runs in arrival order. With
``JOB_FAIR_SHARE`` off, the sweep publishes whatever is still parked, in arrival order.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Sequence
from datetime import timedelta
from functools import partial
from typing import Any

import dramatiq
import psycopg
from dramatiq import Message
from dramatiq.middleware import Middleware, SkipMessage

from switchboard.common.db.base import utcnow
from switchboard.common.db.engine import get_engine
from switchboard.common.db.libpq import PreparedStatement, psycopg_sql
from switchboard.common.jobs.broker import publish_many
from switchboard.common.jobs.fair_share import defaults_json
from switchboard.common.logging import get_logger, redact
from switchboard.common.settings import Settings, get_settings
from switchboard.worker.runtime import ledger
from switchboard.worker.runtime.consumer import consumer_of
from switchboard.worker.runtime.heartbeat import worker_identity
from switchboard.worker.runtime.ledger_connections import BatchConnection, connect, execute_all
from switchboard.worker.runtime.middleware import requeue_delay_ms, send_back, skipped_as_running
from switchboard.worker.runtime.woken_here import (
    free_when_settled,
    held_first,
    held_here,
    hold_unpublished,
)
from switchboard.worker.runtime.woken_messages import (
    first_woken_delivery,
    of_woken_publication,
    retry_of_woken,
    woken_message,
)

log = get_logger("switchboard.jobs")

#: Set on the MessageProxy of a delivery that holds its job's slot (it frees it if it ends
#: without running, or failing; a success's slot is freed with its mark).
_SLOT = "switchboard_fair_slot"
#: How often (at most) a worker process sweeps stale slots and wakes parked jobs.
SWEEP_INTERVAL_S = 1.0

_TAKE = (
    "SELECT switchboard_take_slot(:job, :business, :queue, :worker, :defaults, :fresh, :message)"
)
_RELEASE = "SELECT woken_message FROM switchboard_release_slots(:jobs, :defaults)"
#: The same, as consumer threads run it (a queue's freed slots, one statement per turn): a
#: libpq prepared statement on a connection of its own (``FairShare.release_batches``).
_RELEASE_PREPARED = PreparedStatement(
    "fair_release", _RELEASE, {"jobs": "text[]", "defaults": "jsonb"}
)
_UNPARK = """
    WITH next AS (
        SELECT id FROM jobs WHERE parked_at IS NOT NULL AND status = 'queued'
        ORDER BY enqueued_at LIMIT 500 FOR UPDATE SKIP LOCKED
    )
    UPDATE jobs SET parked_at = NULL, updated_at = now() FROM next WHERE jobs.id = next.id
    RETURNING jobs.message
"""
_DEFAULTS = """
    WITH gone AS (DELETE FROM job_limit_defaults WHERE NOT (queue_name = ANY(:queues)))
    INSERT INTO job_limit_defaults (queue_name, max_running)
    SELECT * FROM unnest(CAST(:queues AS text[]), CAST(:limits AS integer[]))
    ON CONFLICT (queue_name) DO UPDATE SET max_running = excluded.max_running
"""
_SWEEP = "SELECT woken_message FROM switchboard_sweep_slots(:fresh, :reserved, :defaults)"


def enabled(settings: Settings | None = None) -> bool:
    """Fair share applies: switched on, and the ledger is PostgreSQL."""
    settings = settings or get_settings()
    return settings.job_fair_share and get_engine().dialect.name == "postgresql"


class FairShare:
    """The calls to the slot functions, on the thread's ledger connections (no connection
    of their own)."""

    def __init__(self, settings: Settings) -> None:
        self.defaults = defaults_json(settings)
        self.stale_after = timedelta(seconds=settings.worker_stale_after_s)
        self.reservation = timedelta(seconds=settings.job_slot_reservation_s)
        #: How long a retry that finds its failed attempt's slot still reserved waits.
        self.send_back_ms = requeue_delay_ms(settings.worker_stale_after_s)
        self._shared_lock = threading.Lock()
        self._shared: psycopg.Connection[Any] | None = None
        self._pid = 0
        #: Where consumer threads free slots (``ledger_connections.BatchConnection``).
        self.release_batches = BatchConnection(_RELEASE_PREPARED, durable=False)

    @staticmethod
    def run(sql: str, params: dict[str, Any]) -> list[Sequence[Any]]:
        """Run one statement on this worker thread's ledger connection (the one its starts
        go through); its rows."""
        return execute_all(sql, params, durable=False)

    def run_shared(self, sql: str, params: dict[str, Any]) -> list[Sequence[Any]]:
        """Run one statement on the process's one connection for consumer threads' other
        statements (the sweep, the defaults; freed slots have ``release_batches``), one
        statement at a time; its rows. Consumer threads are one per queue: a connection each
        would be dozens per worker process."""
        with self._shared_lock:
            for attempt in range(2):
                if self._shared is None or self._shared.closed or self._pid != os.getpid():
                    self._shared, self._pid = connect(durable=False), os.getpid()
                try:
                    cursor = self._shared.execute(psycopg_sql(sql), params)
                    return list(cursor.fetchall()) if cursor.description else []
                except psycopg.OperationalError:
                    self._shared.close()
                    if attempt:
                        raise
        return []

    def take(self, job_id: str, business_id: int, queue: str, payload: str | None) -> str:
        """``taken``, ``contended``, ``held`` (by a live execution), ``parked``, ``final``,
        or ``reserved``: the job's woken publication holds its slot and has not started, so
        this copy is not needed (migrations 0022, 0026)."""
        fresh_since = utcnow() - self.stale_after
        params = {
            "job": job_id,
            "business": business_id,
            "queue": queue,
            "worker": worker_identity(),
            "defaults": self.defaults,
            "fresh": fresh_since,
            "message": payload,
        }
        return str(self.run(_TAKE, params)[0][0])

    def release(self, job_ids: Sequence[str]) -> int:
        """Free the jobs' slots from a worker thread; publish the parked jobs that get one.
        How many woke."""
        return _publish(self.woken(job_ids, shared=False))

    def woken(self, job_ids: Sequence[str], *, shared: bool = True) -> list[Message[Any]]:
        """Free the jobs' slots; the parked jobs that got one, to publish (``_publish``).
        ``shared``: from a consumer thread (``release_batches``)."""
        if not job_ids:
            return []
        params = {"jobs": list(job_ids), "defaults": self.defaults}
        rows = self._release_batch(params) if shared else self.run(_RELEASE, params)
        return [woken_message(str(payload)) for (payload,) in rows]

    def _release_batch(self, params: dict[str, Any]) -> list[list[str | None]]:
        """The consumers' release; once more on a new connection if the server dropped it."""
        for attempt in range(2):
            try:
                return self.release_batches.run(params)
            except psycopg.OperationalError:
                if attempt:
                    raise
        return []

    def sweep(self) -> int:
        """Free dead workers' slots and stale reservations; wake what fits. How many woke."""
        now = utcnow()
        params = {
            "fresh": now - self.stale_after,
            "reserved": now - self.reservation,
            "defaults": self.defaults,
        }
        rows = self.run_shared(_SWEEP, params)
        return _publish([woken_message(payload) for (payload,) in rows])


def _publish(messages: list[Message[Any]]) -> int:
    """Publish woken jobs now (a batch in one broker transaction). One that cannot be
    published is held for this process's consumer of its queue (``woken_here.py``), or else
    keeps its reserved slot until the sweep expires it (``JOB_SLOT_RESERVATION_S``) and parks
    the job again."""
    count, error = publish_many(messages)
    if error is not None:  # the broker is down
        left = hold_unpublished(messages[count:])
        log.warning(
            "jobs.wake_publish_failed",
            held=len(messages) - count - len(left),
            waiting=len(left),
            error=_describe(error),
        )
    return count


_fair_share: tuple[Settings, FairShare] | None = None


def _instance(settings: Settings) -> FairShare:
    global _fair_share
    if _fair_share is None or _fair_share[0] is not settings:
        _fair_share = (settings, FairShare(settings))
    return _fair_share[1]


def fair_share() -> FairShare | None:
    """This process's :class:`FairShare` (made anew when the settings were read again:
    tests), or None when fair share does not apply."""
    settings = get_settings()
    return _instance(settings) if enabled(settings) else None


def publish_defaults() -> None:
    """Write the deployment's limits where SQL without settings reads them (the WhatsApp
    insert, migration 0022); none while fair share is off."""
    if get_engine().dialect.name != "postgresql":
        return
    settings = get_settings()
    limits = json.loads(defaults_json(settings)) if enabled(settings) else {}
    _instance(settings).run_shared(
        _DEFAULTS, {"queues": list(limits), "limits": [int(v) for v in limits.values()]}
    )


def unpark_all() -> int:
    """Fair share switched off: publish every parked job, in arrival order (none is left
    waiting for a slot nobody frees any more). How many were published."""
    if get_engine().dialect.name != "postgresql":
        return 0
    rows = _instance(get_settings()).run_shared(_UNPARK, {})
    return _publish([Message.decode(str(payload).encode()) for (payload,) in rows])


#: Jobs whose slot their worker thread freed as they ended (contended ones): their success
#: batch has none to free.
_freed: set[str] = set()
_freed_lock = threading.Lock()


class _SuccessRelease:
    """Frees the slots of a batch of successes in the batch's own statement (``ledger.py``)."""

    @staticmethod
    def held(job_ids: Sequence[str]) -> tuple[list[str], str] | None:
        share = fair_share()
        if share is None:
            return None
        with _freed_lock:
            held = [job_id for job_id in job_ids if job_id not in _freed]
            _freed.difference_update(job_ids)
        return held, share.defaults

    @staticmethod
    def publish(woken: list[str]) -> None:
        try:
            _publish(held_first([woken_message(payload) for payload in woken]))
        except Exception as exc:  # their reservations expire: the sweep parks them again
            log.warning("jobs.wake_publish_failed", error=_describe(exc))


ledger.slot_release = _SuccessRelease()


def _free_settled(job_id: str, queue_name: str) -> None:
    """Free an ended job's slot: by its queue's consumer thread (with others', ``free_slot``),
    else here."""
    share = fair_share()
    consumer = consumer_of(queue_name)
    if share is not None and consumer is not None and consumer.free_slot(job_id, share.woken):
        return
    _release(job_id)


def _release(job_id: str) -> None:
    share = fair_share()
    if share is None:
        return
    try:
        share.release([job_id])
    except Exception as exc:  # the sweep frees it once the job's row is final
        log.warning("jobs.slot_release_failed", job_id=job_id, error=_describe(exc))


def _describe(exc: BaseException) -> str:
    return redact(f"{type(exc).__name__}: {exc}")[:300]


class FairShareMiddleware(Middleware):
    """Takes a slot before a job starts, or parks the job; frees it when a delivery ends
    without a success mark; sweeps from the consumer loop (:meth:`tick`).

    Installed before the ledger middleware: a parked job is never started in the ledger.
    """

    def __init__(self, interval_s: float = SWEEP_INTERVAL_S) -> None:
        self.interval_s = interval_s
        self._lock = threading.Lock()
        self._next = float("inf")  # no sweep before the worker booted

    def after_worker_boot(self, broker: dramatiq.Broker, worker: Any) -> None:
        # The first sweep one interval after the boot, not on the consumers' first turn: it
        # delayed the first job (a connection and the sweep before the first message was
        # fetched), and the other workers sweep meanwhile.
        self._next = time.monotonic() + self.interval_s
        try:
            publish_defaults()
        except Exception as exc:  # the SQL enqueue parks only behind parked jobs meanwhile
            log.warning("jobs.slot_defaults_failed", error=_describe(exc))

    def before_process_message(self, broker: dramatiq.Broker, message: Any) -> None:
        share = fair_share()
        business_id = message.options.get("business_id")
        if share is None or not isinstance(business_id, int):
            return
        if first_woken_delivery(message):
            message.__dict__[_SLOT] = "contended"  # its business has others waiting
            return
        # A retry's copy counts its attempts in its options: a parked one keeps them.
        payload = message.encode().decode() if message.options.get("retries") else None
        try:
            answer = share.take(message.message_id, business_id, message.queue_name, payload)
        except Exception as exc:  # the database is away: run it as before fair share
            log.warning("jobs.slot_unavailable", job_id=message.message_id, error=_describe(exc))
            return
        if answer in ("taken", "contended"):
            message.__dict__[_SLOT] = answer
        elif answer == "parked":
            log.debug(
                "job.parked",
                job_id=message.message_id,
                actor=message.actor_name,
                business_id=business_id,
                queue=message.queue_name,
            )
            raise SkipMessage("business at its limit in this queue: parked")
        elif answer == "reserved":  # the job has not started
            if of_woken_publication(message):  # delivered again: its worker lost RabbitMQ
                message.__dict__[_SLOT] = "contended"
                return
            if retry_of_woken(message):
                # Its failed attempt ran where it woke and frees its slot just after this copy
                # was published (``consumer._settle_held``): dropped, the job would have
                # neither. Sent back, it takes a slot of its own later.
                send_back(broker, message, share.send_back_ms)
                log.info("job.retry_sent_back", job_id=message.message_id)
                raise SkipMessage("the failed attempt's reserved slot is not freed yet")
            log.info("job.copy_dropped", job_id=message.message_id, actor=message.actor_name)
            raise SkipMessage("the job's woken publication holds its reserved slot")

    def after_process_message(
        self,
        broker: dramatiq.Broker,
        message: Any,
        *,
        result: Any = None,
        exception: BaseException | None = None,
    ) -> None:
        held = message.__dict__.pop(_SLOT, None)
        if held and held_here(message):
            # Nothing would deliver this job again if its outcome were lost with the process:
            # its reservation stays until the outcome is written. A success's statement frees
            # it; a failure's is freed once settled (the sweep takes a running job over from
            # a dead worker, or expires the reservation of one still queued).
            free_when_settled(
                message, partial(_free_settled, message.message_id, message.queue_name)
            )
            return
        # A success's slot is freed with its mark, unless others wait for it: then at once
        # (RabbitMQ delivers the job again if the process dies before the mark).
        if held == "contended" or (held and exception is not None):
            job_id = message.message_id
            if exception is None:  # its success batch will not free it again
                with _freed_lock:
                    _freed.add(job_id)
            _free_settled(job_id, message.queue_name)

    def after_skip_message(self, broker: dramatiq.Broker, message: Any) -> None:
        # A job that runs keeps its slot: a woken delivery skipped beside it inherited the
        # slot of its reservation, not one of its own.
        if message.__dict__.pop(_SLOT, False) and not skipped_as_running(message):
            _release(message.message_id)

    def tick(self) -> None:
        """Sweep if ``interval_s`` has passed and no other thread is sweeping; never raises."""
        now = time.monotonic()
        if now < self._next or not self._lock.acquire(blocking=False):
            return
        try:
            if now < self._next:
                return
            self._next = now + self.interval_s
            share = fair_share()
            woken = share.sweep() if share is not None else unpark_all()
            if woken:
                log.info("jobs.parked_woken", count=woken)
        except Exception as exc:  # the next turn retries
            log.warning("jobs.slot_sweep_failed", error=_describe(exc))
        finally:
            self._lock.release()
