"""Tenant-facing job operations: list, get, cancel, retry."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from dramatiq import Message
from sqlalchemy import and_, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from switchboard.common.db.base import utcnow
from switchboard.common.db.tenancy import tenant_session
from switchboard.common.errors import ConflictError, NotFoundError
from switchboard.common.jobs.catalog import ActorSpec
from switchboard.common.jobs.outbox import add_to_outbox
from switchboard.common.models.jobs import FINAL_STATUSES, LIVE_STATUSES, Job


class JobNotFoundError(NotFoundError):
    """No such job for this business."""


class JobStateError(ConflictError):
    """The job is not in a state that allows the operation."""


@dataclass(frozen=True)
class JobPage:
    """One page of jobs, newest first, and the cursor of the next page."""

    items: list[Job]
    next_cursor: tuple[datetime, str] | None


def list_jobs(
    business_id: int,
    *,
    status: str | None = None,
    actor: str | None = None,
    id_prefix: str | None = None,
    limit: int = 50,
    after: tuple[datetime, str] | None = None,
) -> JobPage:
    """This business's jobs, newest first, keyset-paginated on (enqueued_at, id).

    ``id_prefix`` keeps the jobs whose id starts with it (so an operator can type a few
    characters of an id).
    """
    query = select(Job).where(Job.business_id == business_id)
    if status is not None:
        query = query.where(Job.status == status)
    if actor is not None:
        query = query.where(Job.actor_name == actor)
    if id_prefix is not None:
        # Ids are lowercase UUIDs; SQLite's LIKE ignores case and PostgreSQL's does not,
        # so the prefix is lowered to mean the same on both.
        query = query.where(Job.id.startswith(id_prefix.lower(), autoescape=True))
    if after is not None:
        at, job_id = after
        query = query.where(or_(Job.enqueued_at < at, and_(Job.enqueued_at == at, Job.id < job_id)))
    query = query.order_by(Job.enqueued_at.desc(), Job.id.desc()).limit(limit + 1)
    with tenant_session(business_id) as session:
        rows = list(session.execute(query).scalars())
    more = len(rows) > limit
    items = rows[:limit]
    return JobPage(items, (items[-1].enqueued_at, items[-1].id) if more and items else None)


def get_job(business_id: int, job_id: str) -> Job:
    """One job of this business."""
    with tenant_session(business_id) as session:
        job = session.execute(
            select(Job).where(Job.business_id == business_id, Job.id == job_id)
        ).scalar_one_or_none()
    if job is None:
        raise JobNotFoundError(f"job {job_id} not found")
    return job


def cancel_job(business_id: int, job_id: str) -> Job:
    """Cancel a queued job at once; ask a running one to stop.

    A queued job's row says ``cancelled`` and the worker skips its message. A running job's row
    stays ``running`` with ``cancel_requested`` set: the job stops at its next checkpoint
    (``report_progress`` or ``raise_if_cancelled``), and the worker writes ``cancelled`` once it
    has stopped. A job with no checkpoint left runs to its end and says so (``succeeded``).

    A job started on a worker's fast path is still ``queued`` in the ledger for up to
    ``inflight.RUNNING_AFTER_S`` (0.05 s); cancelled then, its row says ``cancelled`` at once and
    the job stops at its first checkpoint. A busy worker may also start a job up to
    ``inflight.FRESH_S`` (0.1 s) after it was cancelled; its row stays ``cancelled``.
    """
    now = utcnow()
    owned = (Job.business_id == business_id, Job.id == job_id)
    with tenant_session(business_id) as session:
        changed = (
            session.execute(
                update(Job)
                .where(*owned, Job.status == "queued")
                .values(status="cancelled", finished_at=now, updated_at=now)
                .returning(Job.id)
            ).first()
            or session.execute(
                update(Job)
                .where(*owned, Job.status == "running")
                .values(cancel_requested=True, updated_at=now)
                .returning(Job.id)
            ).first()
        )
    job = get_job(business_id, job_id)
    if changed is None:
        raise JobStateError(f"job {job_id} is already {job.status} and cannot be cancelled")
    return job


#: What a retry re-opens besides the job: ``hook(session, business_id, the job's arguments)``.
RetryHook = Callable[[Session, int, Mapping[str, Any]], None]
_retry_hooks: dict[str, RetryHook] = {}


def on_retry(spec: ActorSpec, hook: RetryHook) -> None:
    """Run ``hook`` in the transaction that queues a retried ``spec`` job again.

    The domain that owns the job's effect registers it (a dead WhatsApp send re-opens its
    failed message, so the retry sends it instead of finding it settled).
    """
    _retry_hooks[spec.name] = hook


_KEY_HELD = (
    "job {job_id} cannot be retried while {holder} holds its dedup key (it does the same "
    "work): retry it once that job has ended, or cancel that one first"
)


def _refuse_if_key_is_held(session: Session, job: Job) -> None:
    """A job's dedup key is unique among live jobs: while another holds it (the scheduler
    enqueued the same work again), queueing this one again is refused, not a constraint's
    error."""
    if job.dedup_key is None:
        return
    holder = session.execute(
        select(Job.id, Job.status).where(
            Job.business_id == job.business_id,
            Job.dedup_key == job.dedup_key,
            Job.status.in_(LIVE_STATUSES),
            Job.id != job.id,
        )
    ).first()
    if holder is not None:
        raise JobStateError(
            _KEY_HELD.format(job_id=job.id, holder=f"job {holder.id} ({holder.status})")
        )


def retry_job(business_id: int, job_id: str) -> Job:
    """Queue a dead, failed or cancelled job again, with fresh attempts and a new timestamp."""
    with tenant_session(business_id) as session:
        job = session.execute(
            select(Job).where(Job.business_id == business_id, Job.id == job_id).with_for_update()
        ).scalar_one_or_none()
        if job is None:
            raise JobNotFoundError(f"job {job_id} not found")
        if job.status not in FINAL_STATUSES or job.status == "succeeded":
            raise JobStateError(
                f"job {job_id} is {job.status}; only dead, failed or cancelled jobs can be retried"
            )
        _refuse_if_key_is_held(session, job)
        message = Message.decode(job.message.encode())
        options = {
            k: v
            for k, v in message.options.items()
            if not k.startswith("_")
            and k not in ("retries", "traceback", "eta", "requeue_timestamp")
        }
        # Message.copy merges options, so build the clean set on the copy itself.
        fresh = message.copy(message_timestamp=int(time.time() * 1000))
        fresh.options.clear()
        fresh.options.update(options)
        payload = fresh.encode().decode()
        job.status, job.deliveries, job.failures = "queued", 0, 0
        job.cancel_requested = False
        job.worker_id = None  # no execution runs until its next start
        # Queued again now: the queue's age counts from here, not from the first enqueue.
        job.enqueued_at = job.updated_at = utcnow()
        job.finished_at, job.message = None, payload
        if job.dedup_key is not None:
            job.dedup_window_key = None
        try:
            session.flush()
        except IntegrityError as exc:  # a job with its key was enqueued meanwhile
            raise JobStateError(_KEY_HELD.format(job_id=job_id, holder="another live job")) from exc
        hook = _retry_hooks.get(job.actor_name)
        if hook is not None:
            hook(session, business_id, message.kwargs)
        add_to_outbox(session, business_id, job.id, job.queue_name, payload)
    return get_job(business_id, job_id)
