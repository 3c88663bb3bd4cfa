"""``enqueue`` and ``enqueue_unique``: the one way into the job system.

A job is named by its catalog entry (``enqueue(SEND_WHATSAPP_WITH_RETRY, business_id=…,
message_id=…)``): queue, actor name and limits come from the entry only. Both write the job's
ledger row and an outbox row in the caller's unit of work (or a new one), so the job exists
exactly when the data it belongs to does. The message is published once the transaction
commits; a job whose business is at its limit in the queue is parked instead, and published
when a slot frees (``fair_share.py``).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from dramatiq import Message
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from switchboard.common.db.base import utcnow
from switchboard.common.db.tenancy import collect, current_session, tenant_session
from switchboard.common.db.upsert import insert_ignoring_conflicts
from switchboard.common.jobs.catalog import CATALOG, ActorSpec
from switchboard.common.jobs.errors import UnknownActorError
from switchboard.common.jobs.fair_share import park_on_enqueue
from switchboard.common.jobs.outbox import PENDING_KEY, add_to_outbox
from switchboard.common.logging import correlation_fields
from switchboard.common.models.jobs import LIVE_STATUSES, Job
from switchboard.common.random_ids import uuid4_str

#: ``period`` value for a key that may never be enqueued again (for example an event id).
FOREVER: Literal["forever"] = "forever"
Period = int | Literal["forever"] | None


@dataclass(frozen=True)
class JobRef:
    """What the caller gets back: the job's id and whether this call created it."""

    job_id: str
    actor_name: str
    queue_name: str
    created: bool


#: The longest string an argument may be: ids and names, never texts.
MAX_TEXT = 200


def _check_spec(spec: object) -> ActorSpec:
    if not isinstance(spec, ActorSpec):
        raise TypeError(f"enqueue takes a catalog entry (ActorSpec), got {spec!r}")
    listed = CATALOG.get(spec.name)
    if listed is not None and listed is not spec and listed != spec:  # ``is``: the usual case
        raise UnknownActorError(f"{spec.name!r} differs from its entry in the catalog")
    return spec


def _check_arguments(spec: ActorSpec, params: dict[str, Any]) -> None:
    accepted = spec.accepts()
    if accepted is not None:
        unknown = sorted(set(params) - accepted)
        if unknown:
            raise TypeError(f"{spec.name} got unexpected argument(s): {', '.join(unknown)}")
        missing = [name for name in spec.params or () if name not in params]
        if missing:
            raise TypeError(f"{spec.name} is missing argument(s): {', '.join(missing)}")
    for name, value in params.items():
        if value is None or isinstance(value, int | float):
            continue
        if isinstance(value, str) and len(value) <= MAX_TEXT:
            continue
        what = (
            f"a {len(value)}-character string" if isinstance(value, str) else type(value).__name__
        )
        raise ValueError(
            f"argument {name!r} of {spec.name} must be an id or a string of at most {MAX_TEXT} "
            f"characters, got {what}: store it and pass its id"
        )


def _window_key(dedup_key: str, period: Period) -> str | None:
    if period is None:
        return None
    if period == FOREVER:
        return f"{dedup_key}|forever"
    if period <= 0:
        raise ValueError(f"period must be a positive number of seconds, got {period!r}")
    return f"{dedup_key}|{int(time.time() // period)}"


def _existing_job_id(
    session: Session, job_id: str, dedup_key: str | None, window: str | None
) -> str | None:
    query = select(Job.id)
    if window is not None:
        query = query.where(Job.dedup_window_key == window)
    elif dedup_key is not None:
        query = query.where(Job.dedup_key == dedup_key, Job.status.in_(LIVE_STATUSES))
    else:
        query = query.where(Job.id == job_id)
    return session.execute(query.limit(1)).scalar_one_or_none()


@dataclass(frozen=True)
class PreparedJob:
    """A job built and checked, not yet written: its Dramatiq message and its ledger values."""

    message: Message[Any]
    payload: str
    business_id: int
    run_id: int | None
    dedup_key: str | None
    window: str | None
    max_retries: int

    def ledger_row(self, *, parked: bool = False) -> dict[str, Any]:
        """The job's ``jobs`` row as it is first written (status ``queued``; ``parked``:
        waiting for a slot of its business, not published)."""
        now = utcnow()
        return {
            "parked_at": now if parked else None,
            "id": self.message.message_id,
            "business_id": self.business_id,
            "queue_name": self.message.queue_name,
            "actor_name": self.message.actor_name,
            "status": "queued",
            "attempts": 0,
            "deliveries": 0,
            "failures": 0,
            "cancel_requested": False,
            "max_retries": self.max_retries,
            "run_id": self.run_id,
            "dedup_key": self.dedup_key,
            "dedup_window_key": self.window,
            "message": self.payload,
            "enqueued_at": now,
            "updated_at": now,
        }


def _write(session: Session, job: PreparedJob) -> JobRef:
    message = job.message
    parked = park_on_enqueue(session, job.business_id, message.queue_name)
    created = insert_ignoring_conflicts(
        session,
        Job.__table__,  # type: ignore[arg-type]
        job.ledger_row(parked=parked),
    )
    if not created:
        existing = _existing_job_id(session, message.message_id, job.dedup_key, job.window)
        return JobRef(existing or message.message_id, message.actor_name, message.queue_name, False)
    if not parked:  # a parked job is published when its business has a free slot
        add_to_outbox(session, job.business_id, message.message_id, message.queue_name, job.payload)
    return JobRef(message.message_id, message.actor_name, message.queue_name, True)


def prepare_job(
    spec: ActorSpec,
    /,
    *,
    business_id: int,
    key: str | None = None,
    period: Period = None,
    job_id: str | None = None,
    ttl: int | None = None,
    timeout: int | None = None,
    retry: int | None = None,
    **params: Any,
) -> PreparedJob:
    """Build and check ``spec``'s job without writing it (``enqueue`` writes what this returns).

    Raises ``TypeError`` for an argument the entry does not declare (or a missing one) and for
    a value that is not JSON, ``ValueError`` for a value that is not an id or short string, a
    bad ``business_id`` or ``period``. A ``run_id`` argument also files the job under that
    outbound run in the ledger. Built while a request, a call event or a job is served, the job
    carries its ``request_id`` or ``call_sid`` in its options
    (:func:`~switchboard.common.logging.correlation_fields`).
    """
    spec = _check_spec(spec)
    _check_arguments(spec, params)
    ttl = ttl if ttl is not None else spec.ttl_s
    timeout = timeout if timeout is not None else spec.timeout_s
    retry = retry if retry is not None else spec.max_retries
    if not isinstance(business_id, int) or isinstance(business_id, bool) or business_id <= 0:
        raise ValueError(f"business_id must be a positive integer, got {business_id!r}")
    run_id = params.get("run_id")
    # Options, not arguments: the worker binds them to the job's lines (the actor never sees them).
    correlation = correlation_fields()
    message: Message[Any] = Message(
        queue_name=spec.queue,
        actor_name=spec.name,
        args=(),
        kwargs={"business_id": business_id, **params},
        options={
            # No max_age for an entry without a ttl (owed work): it never expires.
            **({"max_age": ttl * 1000} if ttl is not None else {}),
            "time_limit": timeout * 1000,
            "max_retries": retry,
            "business_id": business_id,
            "run_id": run_id,
            **correlation,
        },
        message_id=job_id or uuid4_str(),
        message_timestamp=int(time.time() * 1000),
    )
    try:
        payload = message.encode().decode()
    except TypeError as exc:
        raise TypeError(f"arguments of {spec.name} must be JSON: {exc}") from exc
    if key is not None and not key:
        raise ValueError("key must be a non-empty string")
    window = _window_key(key, period) if key is not None else None
    return PreparedJob(message, payload, business_id, run_id, key, window, retry)


def _joinable(session: Session, business_id: int) -> Session:
    owner = session.info.get("business_id")
    if owner is not None and owner != business_id:
        raise PermissionError(
            f"cannot enqueue a job for business {business_id} inside business {owner}'s transaction"
        )
    return session


def enqueue_prepared(job: PreparedJob) -> JobRef:
    """Write a job built by :func:`prepare_job`, in the current unit of work or its own."""
    session = current_session()
    if session is not None:
        return _write(_joinable(session, job.business_id), job)
    with tenant_session(job.business_id) as own:
        return _write(own, job)


# Migration 0010's one SQL definition of a job's first ledger row and its outbox row, which the
# WhatsApp paths' functions call too: a batch is one statement, its rows set-based inserts.
_ENQUEUE_JOBS = text(
    "SELECT out_job_id, out_outbox_id, out_payload FROM switchboard_enqueue_jobs("
    ":business_id, :now, CAST(:ids AS text[]), CAST(:queues AS text[]), "
    "CAST(:actors AS text[]), CAST(:retries AS integer[]), CAST(:messages AS text[]), "
    "CAST(:keys AS text[]), CAST(:windows AS text[]), CAST(:runs AS bigint[]))"
)


def _write_many(session: Session, business_id: int, jobs: Sequence[PreparedJob]) -> list[JobRef]:
    if session.get_bind().dialect.name != "postgresql":
        return [_write(session, job) for job in jobs]  # SQLite: the ORM's rows, one by one
    rows = session.execute(
        _ENQUEUE_JOBS,
        {
            "business_id": business_id,
            "now": utcnow(),
            "ids": [job.message.message_id for job in jobs],
            "queues": [job.message.queue_name for job in jobs],
            "actors": [job.message.actor_name for job in jobs],
            "retries": [job.max_retries for job in jobs],
            "messages": [job.payload for job in jobs],
            "keys": [job.dedup_key for job in jobs],
            "windows": [job.window for job in jobs],
            "runs": [job.run_id for job in jobs],
        },
    ).all()
    written = {job_id for job_id, _, _ in rows}
    published = sorted((row for row in rows if row[1] is not None), key=lambda row: row[1])
    for _, outbox_id, payload in published:  # in order; parked ones (no outbox row) wait
        collect(session, PENDING_KEY, (outbox_id, payload))
    refs: list[JobRef] = []
    for job in jobs:
        message = job.message
        created = message.message_id in written
        job_id = message.message_id
        if not created:  # its key is taken (or the id exists): the job that holds it
            job_id = _existing_job_id(session, job_id, job.dedup_key, job.window) or job_id
        refs.append(JobRef(job_id, message.actor_name, message.queue_name, created))
    return refs


def enqueue_many(jobs: Sequence[PreparedJob]) -> list[JobRef]:
    """Write one business's jobs built by :func:`prepare_job` in one statement (PostgreSQL),
    in the current unit of work or its own; their messages are published after commit.

    Each job is written as :func:`enqueue_prepared` writes it (a key or id already taken
    creates nothing and names the job that holds it), in the order given.
    """
    if not jobs:
        return []
    business_id = jobs[0].business_id
    if any(job.business_id != business_id for job in jobs):
        raise ValueError("enqueue_many writes one business's jobs at a time")
    session = current_session()
    if session is not None:
        return _write_many(_joinable(session, business_id), business_id, jobs)
    with tenant_session(business_id) as own:
        return _write_many(own, business_id, jobs)


def enqueue(
    spec: ActorSpec,
    /,
    *,
    business_id: int,
    job_id: str | None = None,
    ttl: int | None = None,
    timeout: int | None = None,
    retry: int | None = None,
    **params: Any,
) -> JobRef:
    """Enqueue ``spec``'s actor with ``business_id`` and ``params`` (ids, by keyword).

    ``ttl`` (seconds) becomes Dramatiq's ``max_age``, ``timeout`` its ``time_limit`` and
    ``retry`` its ``max_retries`` (exponential backoff between attempts); left out, they come
    from the entry (an entry without a ttl never expires). Inside a
    :func:`~switchboard.common.db.tenant_session` the job joins that transaction; otherwise it
    gets its own. Passing an existing ``job_id`` again does not create a second job. Checks as
    :func:`prepare_job`.
    """
    job = prepare_job(
        spec,
        business_id=business_id,
        job_id=job_id,
        ttl=ttl,
        timeout=timeout,
        retry=retry,
        **params,
    )
    return enqueue_prepared(job)


def enqueue_unique(
    spec: ActorSpec,
    /,
    *,
    key: str,
    business_id: int,
    period: Period = None,
    job_id: str | None = None,
    ttl: int | None = None,
    timeout: int | None = None,
    retry: int | None = None,
    **params: Any,
) -> JobRef:
    """Enqueue unless a job with ``key`` exists; return the existing one if it does.

    With ``period=None`` the key is unique among live (queued or running) jobs; with a number
    of seconds, among all jobs enqueued in the same period; with :data:`FOREVER`, for good.
    A database constraint enforces it, so concurrent callers cannot both win.
    """
    if not key:
        raise ValueError("key must be a non-empty string")
    job = prepare_job(
        spec,
        business_id=business_id,
        key=key,
        period=period,
        job_id=job_id,
        ttl=ttl,
        timeout=timeout,
        retry=retry,
        **params,
    )
    return enqueue_prepared(job)
