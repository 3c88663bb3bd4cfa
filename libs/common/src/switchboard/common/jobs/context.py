"""What a running job knows about itself: its id and tenant, progress and cancellation.

The runtime that runs the job (the worker's ledger) is reached through :class:`JobControl`,
so domain code can report progress and check cancellation without knowing the worker.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Protocol

from switchboard.common.jobs.errors import JobCancelled


class JobControl(Protocol):
    """What a job may ask of the runtime that runs it."""

    def record_progress(self, job_id: str, progress: float, message: str | None) -> bool:
        """Store the job's progress; False if the job was cancelled or asked to stop."""

    def status_of(self, job_id: str) -> str | None:
        """The job's status in the ledger."""

    def cancel_requested(self, job_id: str) -> bool:
        """True if the job was cancelled, or asked to stop while it runs."""

    def mark_running_due(self, job_id: str) -> int:
        """Write the running mark of a job started on the fast path; the marks written."""


def _nobody_waits() -> bool:
    return False


@dataclass(frozen=True)
class JobContext:
    """The job the current worker thread is running."""

    job_id: str
    actor_name: str
    business_id: int
    attempt: int
    #: The runtime running the job.
    control: JobControl
    #: When the job was enqueued (milliseconds since the epoch).
    enqueued_ms: int = 0
    #: ``time.monotonic()`` when this attempt started.
    started_monotonic: float = 0.0
    #: True while other jobs wait for this one to make way in its worker process (see
    #: :func:`others_wait`).
    waited_for: Callable[[], bool] = _nobody_waits

    def mark_running(self) -> None:
        """Make the ledger say ``running`` now (a fast start writes it lazily)."""
        self.control.mark_running_due(self.job_id)


_current: ContextVar[JobContext | None] = ContextVar("switchboard_job", default=None)


def current_job() -> JobContext | None:
    """The running job, or None outside a job."""
    return _current.get()


def set_current_job(job: JobContext | None) -> None:
    """Set by the runtime around each message."""
    _current.set(job)


def report_progress(progress: float, message: str | None = None) -> None:
    """Record how far the running job is (0..1); raise :class:`JobCancelled` if cancelled.

    A checkpoint, like :func:`raise_if_cancelled`: call it between the steps of a long job, where
    stopping leaves nothing half done.
    """
    if not 0.0 <= progress <= 1.0:
        raise ValueError(f"progress must be between 0 and 1, got {progress!r}")
    job = current_job()
    if job is None:
        raise RuntimeError("report_progress() called outside a job")
    if not job.control.record_progress(job.job_id, progress, message):
        raise JobCancelled(f"job {job.job_id} was cancelled")


def others_wait() -> bool:
    """True if other jobs wait for the running job to make way in its worker process.

    A job taken over from a dead worker waits to run alone, and while it waits no new job starts
    beside it; while it runs alone, the jobs delivered meanwhile wait for it (``solo.py`` in the
    worker). A long job that spends its time waiting on other jobs (an outbound driver tick
    waiting for call statuses) asks this at its idle moments and hands over to a fresh job when
    it says so, rather than holding everything back for the rest of its budget. Outside a job,
    False.
    """
    job = current_job()
    return job is not None and job.waited_for()


def raise_if_cancelled() -> None:
    """A checkpoint: raise :class:`JobCancelled` if someone cancelled the running job.

    Cancelling a running job only asks it to stop (``cancel_requested``); the job stops at its
    next checkpoint, and its ledger row says ``cancelled`` once it has. Outside a job (a test
    or a command calling the domain directly), nothing happens.
    """
    job = current_job()
    if job is not None and job.control.cancel_requested(job.job_id):
        raise JobCancelled(f"job {job.job_id} was cancelled")
