"""``enqueue_job`` and ``enqueue_unique``: the one way into the job system.

Both write the job's ledger row and an outbox row in the caller's unit of work (or a new one),
so the job exists exactly when the data it belongs to does. The message is published once the
transaction commits.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any, Literal

from dramatiq import Message
from sqlalchemy import select
from sqlalchemy.orm import Session

from switchboard.common.db.base import utcnow
from switchboard.common.db.tenancy import current_session, tenant_session
from switchboard.common.db.upsert import insert_ignoring_conflicts
from switchboard.common.jobs.catalog import CATALOG, ActorSpec
from switchboard.common.jobs.errors import UnknownActorError
from switchboard.common.jobs.outbox import add_to_outbox
from switchboard.common.models.jobs import LIVE_STATUSES, Job

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


def _actor_name(func: Any) -> str:
    if isinstance(func, ActorSpec):
        return func.name
    name = func if isinstance(func, str) else getattr(func, "actor_name", None)
    if not isinstance(name, str) or not name:
        raise UnknownActorError(f"func must be an actor or an actor name, got {func!r}")
    return name


#: The seed's defaults, used for actors the catalog does not describe.
SEED_TTL_S, SEED_TIMEOUT_S, SEED_RETRY = 600, 300, 3


def _spec_for(actor_name: str, func: Any) -> ActorSpec | None:
    return func if isinstance(func, ActorSpec) else CATALOG.get(actor_name)


def _check_queue(queue_name: str, actor_name: str, func: Any) -> None:
    spec = _spec_for(actor_name, func)
    declared = spec.queue if spec else getattr(func, "queue_name", None)
    if declared is None:
        raise UnknownActorError(
            f"unknown actor {actor_name!r}: add it to switchboard.common.jobs.catalog"
        )
    if declared != queue_name:
        raise UnknownActorError(
            f"actor {actor_name!r} consumes queue {declared!r}, not {queue_name!r}"
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

    def ledger_row(self) -> dict[str, Any]:
        """The job's ``jobs`` row as it is first written (status ``queued``)."""
        now = utcnow()
        return {
            "id": self.message.message_id,
            "business_id": self.business_id,
            "queue_name": self.message.queue_name,
            "actor_name": self.message.actor_name,
            "status": "queued",
            "attempts": 0,
            "deliveries": 0,
            "failures": 0,
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
    created = insert_ignoring_conflicts(
        session,
        Job.__table__,  # type: ignore[arg-type]
        job.ledger_row(),
    )
    if not created:
        existing = _existing_job_id(session, message.message_id, job.dedup_key, job.window)
        return JobRef(existing or message.message_id, message.actor_name, message.queue_name, False)
    add_to_outbox(session, job.business_id, message.message_id, message.queue_name, job.payload)
    return JobRef(message.message_id, message.actor_name, message.queue_name, True)


def prepare_job(
    queue_name: str,
    func: Any,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    *,
    business_id: int,
    run_id: int | None = None,
    job_id: str | None = None,
    ttl: int | None = None,
    timeout: int | None = None,
    retry: int | None = None,
    dedup_key: str | None = None,
    period: Period = None,
) -> PreparedJob:
    """Build and check a job without writing it (``enqueue_job`` writes what this returns).

    Raises ``UnknownActorError`` for an unknown actor or the wrong queue, ``ValueError`` for a
    bad ``business_id`` or ``period``, ``TypeError`` for arguments that are not JSON-simple.
    """
    actor_name = _actor_name(func)
    _check_queue(queue_name, actor_name, func)
    spec = _spec_for(actor_name, func)
    ttl = ttl if ttl is not None else (spec.ttl_s if spec else SEED_TTL_S)
    timeout = timeout if timeout is not None else (spec.timeout_s if spec else SEED_TIMEOUT_S)
    retry = retry if retry is not None else (spec.max_retries if spec else SEED_RETRY)
    if not isinstance(business_id, int) or isinstance(business_id, bool) or business_id <= 0:
        raise ValueError(f"business_id must be a positive integer, got {business_id!r}")
    message: Message[Any] = Message(
        queue_name=queue_name,
        actor_name=actor_name,
        args=args,
        kwargs={"business_id": business_id, **kwargs},
        options={
            "max_age": ttl * 1000,
            "time_limit": timeout * 1000,
            "max_retries": retry,
            "business_id": business_id,
            "run_id": run_id,
        },
        message_id=job_id or str(uuid.uuid4()),
        message_timestamp=int(time.time() * 1000),
    )
    try:
        payload = message.encode().decode()
    except TypeError as exc:
        raise TypeError(
            f"arguments of {actor_name} must be JSON-simple (ids, not objects): {exc}"
        ) from exc
    window = _window_key(dedup_key, period) if dedup_key is not None else None
    return PreparedJob(message, payload, business_id, run_id, dedup_key, window, retry)


def _enqueue(
    queue_name: str, func: Any, args: tuple[Any, ...], kwargs: dict[str, Any], **options: Any
) -> JobRef:
    job = prepare_job(queue_name, func, args, kwargs, **options)
    session = current_session()
    if session is not None:
        owner = session.info.get("business_id")
        if owner is not None and owner != job.business_id:
            raise PermissionError(
                f"cannot enqueue a job for business {job.business_id} "
                f"inside business {owner}'s transaction"
            )
        return _write(session, job)
    with tenant_session(job.business_id) as own:
        return _write(own, job)


def enqueue_job(
    queue_name: str,
    func: Any,
    *args: Any,
    business_id: int,
    run_id: int | None = None,
    job_id: str | None = None,
    ttl: int | None = None,
    timeout: int | None = None,
    retry: int | None = None,
    **kwargs: Any,
) -> JobRef:
    """Enqueue ``func(*args, business_id=..., **kwargs)`` on ``queue_name``.

    ``func`` is a Dramatiq actor, a catalog actor name, or an :class:`ActorSpec`.

    ``ttl`` (seconds) becomes Dramatiq's ``max_age``, ``timeout`` its ``time_limit`` and
    ``retry`` its ``max_retries`` (exponential backoff between attempts). Left out, they come
    from the actor's catalog entry, else the seed's defaults (600, 300, 3). Inside a
    :func:`~switchboard.common.db.tenant_session` the job joins that transaction; otherwise it
    gets its own. Passing an existing ``job_id`` again does not create a second job.
    """
    return _enqueue(
        queue_name,
        func,
        args,
        kwargs,
        business_id=business_id,
        run_id=run_id,
        job_id=job_id,
        ttl=ttl,
        timeout=timeout,
        retry=retry,
        dedup_key=None,
        period=None,
    )


def enqueue_unique(
    queue_name: str,
    func: Any,
    dedup_key: str,
    *args: Any,
    period: Period = None,
    **kwargs: Any,
) -> JobRef:
    """Enqueue unless a job with ``dedup_key`` exists; return the existing one if it does.

    With ``period=None`` the key is unique among live (queued or running) jobs; with a number
    of seconds, among all jobs enqueued in the same period; with :data:`FOREVER`, for good.
    A database constraint enforces it, so concurrent callers cannot both win.
    """
    if not dedup_key:
        raise ValueError("dedup_key must be a non-empty string")
    options = {
        name: kwargs.pop(name)
        for name in ("run_id", "job_id", "ttl", "timeout", "retry")
        if name in kwargs
    }
    if "business_id" not in kwargs:
        raise TypeError("enqueue_unique() missing required keyword argument: 'business_id'")
    business_id = kwargs.pop("business_id")
    return _enqueue(
        queue_name,
        func,
        args,
        kwargs,
        business_id=business_id,
        run_id=options.get("run_id"),
        job_id=options.get("job_id"),
        ttl=options.get("ttl"),
        timeout=options.get("timeout"),
        retry=options.get("retry"),
        dedup_key=dedup_key,
        period=period,
    )
