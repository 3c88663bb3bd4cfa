"""The outbound domain's periodic jobs: runs left ``running`` by a dead driver resume or close.

A run whose last driver job is dead or failed closes as ``failed``; one whose last driver job
was cancelled is cancelled; any other resumes with a new driver job.

After any restart, no run stays ``running`` without a live owner for longer than the lease.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import select

from switchboard.common.db.base import utcnow
from switchboard.common.db.tenancy import system_session, tenant_session
from switchboard.common.jobs import enqueue_unique
from switchboard.common.jobs.catalog import OUTBOUND_RUN
from switchboard.common.models import Job, OutboundRun
from switchboard.domain.outbound.driver import close_running_run
from switchboard.domain.outbound.lease import LEASE
from switchboard.domain.outbound.runs import enqueue_driver, stop_run


def reconcile_runs() -> dict[str, int]:
    """Resume orphaned runs whose driver can still run; close those whose driver is dead."""
    now = utcnow()
    resumed = closed = 0
    with system_session() as session:
        orphans = session.execute(
            select(OutboundRun.business_id, OutboundRun.id).where(
                OutboundRun.status == "running",
                (OutboundRun.heartbeat_at.is_(None)) | (OutboundRun.heartbeat_at < now - LEASE),
            )
        ).all()
    for business_id, run_id in orphans:
        with tenant_session(business_id) as session:
            live = session.scalar(
                select(Job.id)
                .where(
                    Job.business_id == business_id,
                    Job.run_id == run_id,
                    Job.actor_name == OUTBOUND_RUN.name,
                    Job.status.in_(("queued", "running")),
                )
                .limit(1)
            )
            if (
                live is not None
                and session.scalar(select(Job.status).where(Job.id == live)) == "queued"
            ):
                continue  # its driver is waiting in the queue
            last = session.execute(
                select(Job.status, Job.last_error)
                .where(
                    Job.business_id == business_id,
                    Job.run_id == run_id,
                    Job.actor_name == OUTBOUND_RUN.name,
                )
                .order_by(Job.enqueued_at.desc())
                .limit(1)
            ).first()
            if last is not None and last.status in ("dead", "failed"):
                reason = f"driver job {last.status}: {last.last_error or 'no error recorded'}"
                close_running_run(session, business_id, run_id, "failed", reason, now)
                closed += 1
                continue
            if last is not None and last.status == "cancelled":
                # Cancelled before it ran (a running one cancels its run itself): the run is
                # cancelled, and a driver ends its calls in progress.
                stop_run(session, business_id, run_id, "cancelled: its driver job was cancelled")
                enqueue_driver(business_id, run_id)
                closed += 1
                continue
            # Unique per lease period, so a scheduler on every tick does not pile up drivers.
            bucket = int(now.timestamp() // LEASE.total_seconds())
            ref = enqueue_unique(
                OUTBOUND_RUN,
                key=f"outbound-resume:{run_id}:{bucket}",
                business_id=business_id,
                run_id=run_id,
                period=int(timedelta(days=1).total_seconds()),
            )
            resumed += int(ref.created)
    return {"resumed": resumed, "closed": closed}


# (name, interval in seconds, function): what the scheduler's leader runs for this domain.
# Runs whose driver died are resumed, or closed if their driver job is dead.
PERIODIC: tuple[tuple[str, float, Callable[[], object]], ...] = (
    ("outbound_reconcile", 5, reconcile_runs),
)
