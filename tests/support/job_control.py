"""A job's runtime as a running job sees it, to run domain code as a job in a test."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from switchboard.common.jobs.context import JobContext, JobControl, set_current_job


class AskedToStop(JobControl):
    """The worker's ledger, reduced to one running job; :meth:`cancel` asks it to stop."""

    def __init__(self) -> None:
        self.asked = False
        self.checks = 0

    def cancel(self) -> None:
        self.asked = True

    def record_progress(self, job_id: str, progress: float, message: str | None) -> bool:
        self.checks += 1
        return not self.asked

    def status_of(self, job_id: str) -> str | None:
        return "running"

    def cancel_requested(self, job_id: str) -> bool:
        self.checks += 1
        return self.asked

    def mark_running_due(self, job_id: str) -> int:
        return 0


@contextmanager
def running_as_job(
    business_id: int, control: JobControl, waited_for: Callable[[], bool] = lambda: False
) -> Iterator[None]:
    """Run the block as job ``test-job`` of ``business_id`` under ``control``; ``waited_for``
    says whether other jobs wait for it to make way (``jobs.others_wait``)."""
    set_current_job(
        JobContext("test-job", "test_job", business_id, 1, control, waited_for=waited_for)
    )
    try:
        yield
    finally:
        set_current_job(None)
