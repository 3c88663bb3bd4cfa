"""The console's view of a business's job ledger: find jobs by state and actor, read one job
(its arguments with personal data and secrets masked), and act on one job or many.

Retry and cancel are the ledger's own operations (``switchboard.common.jobs.service``, the
same the API's ``/jobs`` routes call). Discarding removes a finished job from the ledger now,
as the daily retention prune would after ``JOB_RETENTION_DAYS``: it is never run again.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import delete

from switchboard.common.db.base import as_utc
from switchboard.common.db.tenancy import tenant_session
from switchboard.common.errors import ConflictError, NotFoundError
from switchboard.common.jobs import service
from switchboard.common.models.jobs import FINAL_STATUSES, Job
from switchboard.common.redaction import scrub, scrub_field, scrub_value

STATES = ("queued", "running", "succeeded", "failed", "dead", "cancelled")
#: What discard accepts: finished jobs that did not succeed (a succeeded job needs no action).
DISCARDABLE = ("failed", "dead", "cancelled")
ACTIONS = ("retry", "cancel", "discard")
MAX_BULK = 200


@dataclass(frozen=True)
class JobFilter:
    """Which jobs to list: one state and/or one actor (None: any)."""

    state: str | None = None
    actor: str | None = None


@dataclass(frozen=True)
class JobDetail:
    """One job as the detail page shows it."""

    job: Job
    #: The job's keyword arguments, masked as a log line would show them.
    arguments: dict[str, Any]
    #: The traceback the last failed execution left on the message, masked (if any).
    traceback: str | None
    #: (what happened, when), in order.
    timeline: list[tuple[str, datetime]]
    queue_latency_s: float | None
    run_time_s: float | None


def _message(raw: str) -> dict[str, Any]:
    try:
        decoded = json.loads(raw)
    except ValueError:
        return {}
    return decoded if isinstance(decoded, dict) else {}


def _seconds(earlier: datetime | None, later: datetime | None) -> float | None:
    if earlier is None or later is None:
        return None
    return round(max(0.0, (as_utc(later) - as_utc(earlier)).total_seconds()), 3)


def job_detail(business_id: int, job_id: str) -> JobDetail:
    """The business's job ``job_id`` with masked arguments, its traceback and its timeline."""
    job = service.get_job(business_id, job_id)
    message = _message(job.message)
    kwargs = message.get("kwargs")
    arguments = {
        str(name): scrub_field(str(name), value)
        for name, value in (kwargs.items() if isinstance(kwargs, dict) else ())
    }
    if message.get("args"):
        arguments["(positional)"] = scrub_value(message["args"])
    trace = job.last_traceback
    steps = [("enqueued", job.enqueued_at), ("started", job.started_at)]
    steps.append((job.status if job.status in FINAL_STATUSES else "finished", job.finished_at))
    timeline = [(label, as_utc(moment)) for label, moment in steps if moment is not None]
    return JobDetail(
        job,
        arguments,
        scrub(trace) if trace else None,
        timeline,
        _seconds(job.enqueued_at, job.started_at),
        _seconds(job.started_at, job.finished_at),
    )


def discard_job(business_id: int, job_id: str) -> None:
    """Remove a failed, dead or cancelled job from the business's ledger; it will not run."""
    owned = (Job.business_id == business_id, Job.id == job_id)
    with tenant_session(business_id) as session:
        removed = session.execute(
            delete(Job).where(*owned, Job.status.in_(DISCARDABLE)).returning(Job.id)
        ).first()
    if removed is None:
        job = service.get_job(business_id, job_id)  # raises JobNotFoundError if not ours
        raise service.JobStateError(
            f"job {job_id} is {job.status}; only failed, dead or cancelled jobs can be discarded"
        )


def _one(action: str) -> Callable[[int, str], object]:
    return {
        "retry": service.retry_job,
        "cancel": service.cancel_job,
        "discard": discard_job,
    }[action]


def act_on_job(business_id: int, action: str, job_id: str) -> None:
    """Retry, cancel or discard one of the business's jobs."""
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}")
    _one(action)(business_id, job_id)


@dataclass(frozen=True)
class BulkOutcome:
    """What a bulk action did: the jobs it acted on and, for the others, why not."""

    action: str
    done: list[str] = field(default_factory=list)
    refused: dict[str, str] = field(default_factory=dict)


def act_on_jobs(business_id: int, action: str, job_ids: Iterable[str]) -> BulkOutcome:
    """Apply ``action`` to each of the business's jobs ``job_ids`` (at most ``MAX_BULK``),
    one transaction per job, so one refusal (already finished, not found) stops no other."""
    ids = list(dict.fromkeys(job_ids))
    if len(ids) > MAX_BULK:
        raise ValueError(f"at most {MAX_BULK} jobs at a time")
    outcome = BulkOutcome(action)
    for job_id in ids:
        try:
            act_on_job(business_id, action, job_id)
        except (NotFoundError, ConflictError) as exc:
            outcome.refused[job_id] = str(exc)
        else:
            outcome.done.append(job_id)
    return outcome
