"""Operations: how a business's calls and jobs are doing, and which workers are alive.

``overview`` is what the dashboard's overview shows a business; ``series`` its charts (jobs per
minute by outcome, queue latency); ``queues`` and ``workers`` the console's queue and worker
pages; ``job_browser`` finds, reads and acts on a business's jobs; ``heartbeats`` reads a worker
process's last heartbeat; ``scheduled`` prunes the job ledger (a daily job per business).
"""

from switchboard.domain.operations.heartbeats import heartbeat_of
from switchboard.domain.operations.job_browser import (
    ACTIONS,
    STATES,
    BulkOutcome,
    JobDetail,
    JobFilter,
    act_on_job,
    act_on_jobs,
    discard_job,
    job_detail,
)
from switchboard.domain.operations.overview import Overview, overview
from switchboard.domain.operations.queues import QueueRow, queue_rows
from switchboard.domain.operations.series import JobSeries, job_series
from switchboard.domain.operations.workers import WorkerRow, worker_rows

__all__ = [
    "ACTIONS",
    "STATES",
    "BulkOutcome",
    "JobDetail",
    "JobFilter",
    "JobSeries",
    "Overview",
    "QueueRow",
    "WorkerRow",
    "act_on_job",
    "act_on_jobs",
    "discard_job",
    "heartbeat_of",
    "job_detail",
    "job_series",
    "overview",
    "queue_rows",
    "worker_rows",
]
