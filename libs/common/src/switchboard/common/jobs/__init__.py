"""The job system: transactional enqueue, the ledger, uniqueness, progress and cancellation.

Jobs are named by their entries in :mod:`switchboard.common.jobs.catalog`.
"""

from switchboard.common.jobs.catalog import ActorSpec
from switchboard.common.jobs.context import (
    current_job,
    others_wait,
    raise_if_cancelled,
    report_progress,
)
from switchboard.common.jobs.enqueue import FOREVER, JobRef, enqueue, enqueue_unique
from switchboard.common.jobs.errors import JobCancelled, PermanentJobError, UnknownActorError

__all__ = [
    "FOREVER",
    "ActorSpec",
    "JobCancelled",
    "JobRef",
    "PermanentJobError",
    "UnknownActorError",
    "current_job",
    "enqueue",
    "enqueue_unique",
    "others_wait",
    "raise_if_cancelled",
    "report_progress",
]
