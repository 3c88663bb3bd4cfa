"""The job system: transactional enqueue, the ledger, uniqueness, progress and cancellation."""

from switchboard.common.jobs.context import current_job, raise_if_cancelled, report_progress
from switchboard.common.jobs.enqueue import FOREVER, JobRef, enqueue_job, enqueue_unique
from switchboard.common.jobs.errors import JobCancelled, PermanentJobError, UnknownActorError

__all__ = [
    "FOREVER",
    "JobCancelled",
    "JobRef",
    "PermanentJobError",
    "UnknownActorError",
    "current_job",
    "enqueue_job",
    "enqueue_unique",
    "raise_if_cancelled",
    "report_progress",
]
