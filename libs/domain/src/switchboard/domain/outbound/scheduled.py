"""The outbound domain's periodic jobs: runs left ``running`` by a dead driver resume or close,
and ended runs' calls in flight are settled.

Every 15 seconds each business with such a run gets an ``outbound_reconcile_job``, which goes
through the business's runs whose heartbeat is older than the lease: a run whose last driver
job is dead or failed closes as ``failed`` (its items never dialed cancelled); one whose last
driver job was cancelled is cancelled; any other resumes with a new driver job. After any
restart, no run stays ``running`` without a live owner for longer than the lease plus one
tick. The same job then enqueues a driver job for each of the business's runs that ended
(``closing.ENDED``) with items still in flight, however long ago, which settles them
(``closing.py``: a dial of unknown outcome looked up at Twilio, a cancelled run's call found
ended, a failed run's quiet call asked of Twilio), one per run and lease period: no item of
an ended run stays in flight for good. Those runs are found from the items in flight
(``closing.ended_runs_in_flight``), so no pass reads every run ever ended.

While ``ENABLE_SCHEDULERS=false`` no reconcile job is emitted; the scheduler's leader runs the
safety checks itself (:func:`close_abandoned_runs`): it closes and cancels as above and
enqueues the settling driver jobs, but resumes nothing, so no call is placed for a run no
driver holds, a run whose driver is gone does not show ``running`` for ever, and a cancel
still ends the calls in progress.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, select, union
from sqlalchemy.orm import Session

from switchboard.common.db.base import utcnow
from switchboard.common.db.inline import inline
from switchboard.common.db.tenancy import system_session, tenant_session
from switchboard.common.jobs import enqueue_unique
from switchboard.common.jobs.catalog import OUTBOUND_RECONCILE, OUTBOUND_RUN
from switchboard.common.jobs.schedules import Every, Missed, SafetyCheck, Schedule, Tick
from switchboard.common.models import Job, OutboundItem, OutboundRun
from switchboard.domain.outbound.closing import ended_runs_in_flight
from switchboard.domain.outbound.driver import close_running_run
from switchboard.domain.outbound.lease import LEASE
from switchboard.domain.outbound.runs import stop_run


@dataclass
class Reconciled:
    """What one pass over a business's orphaned runs did."""

    resumed: int = 0
    closed: int = 0
    waiting: int = 0
    #: Ended runs with calls in flight a driver job was enqueued for, to settle them.
    settling: int = 0


def _orphaned(now: datetime) -> ColumnElement[bool]:
    """Running, and no driver has renewed the lease for longer than the lease."""
    stale = OutboundRun.heartbeat_at.is_(None) | (OutboundRun.heartbeat_at < now - LEASE)
    # Written into the statement (``db/inline.py``): a plan sees the few runs running.
    return (OutboundRun.status == inline("running", "running")) & stale


def businesses_to_reconcile(session: Session, tick: Tick) -> Iterable[int]:
    """The businesses with a run left ``running`` by a driver that stopped renewing its lease,
    or an ended run whose calls are still in flight."""
    orphaned = select(OutboundRun.business_id).where(_orphaned(tick.at))
    settling = ended_runs_in_flight().with_only_columns(OutboundItem.business_id)
    return session.execute(union(orphaned, settling)).scalars()


def _reconcile_run(
    session: Session, business_id: int, run_id: int, now: datetime, *, resume: bool
) -> str:
    drivers = (
        Job.business_id == business_id,
        Job.run_id == run_id,
        Job.actor_name == OUTBOUND_RUN.name,
    )
    if session.scalar(select(Job.id).where(*drivers, Job.status == "queued").limit(1)):
        return "waiting"  # its driver is waiting in the queue
    last = session.execute(
        select(Job.status, Job.last_error).where(*drivers).order_by(Job.enqueued_at.desc()).limit(1)
    ).first()
    if last is not None and last.status in ("dead", "failed"):
        reason = f"driver job {last.status}: {last.last_error or 'no error recorded'}"
        close_running_run(session, business_id, run_id, "failed", reason, now)
        return "closed"
    if last is not None and last.status == "cancelled":
        # Cancelled before it ran (a running one cancels its run itself): the run is
        # cancelled, and its calls in progress are ended by the settling pass below.
        stop_run(session, business_id, run_id, "cancelled: its driver job was cancelled")
        return "closed"
    if not resume:
        return "waiting"
    return "resumed" if _enqueue_driver_once(business_id, run_id, now, "resume") else "waiting"


def _enqueue_driver_once(business_id: int, run_id: int, now: datetime, why: str) -> bool:
    """Enqueue the run's driver job unless this lease period's is already queued (reconcile
    jobs close together do not pile up drivers); whether it was enqueued."""
    bucket = int(now.timestamp() // LEASE.total_seconds())
    ref = enqueue_unique(
        OUTBOUND_RUN,
        key=f"outbound-{why}:{run_id}:{bucket}",
        business_id=business_id,
        run_id=run_id,
        period=int(timedelta(days=1).total_seconds()),
    )
    return ref.created


def reconcile_runs(
    business_id: int, *, resume: bool = True, now: datetime | None = None
) -> Reconciled:
    """Resume the business's orphaned runs whose driver can still run (unless ``resume`` is
    False); close those whose driver is dead or was cancelled; have the calls in flight of its
    ended runs settled."""
    now = now or utcnow()
    done = Reconciled()
    with tenant_session(business_id) as session:
        run_ids = list(
            session.execute(
                select(OutboundRun.id).where(OutboundRun.business_id == business_id, _orphaned(now))
            ).scalars()
        )
    for run_id in run_ids:
        with tenant_session(business_id) as session:
            outcome = _reconcile_run(session, business_id, run_id, now, resume=resume)
        done.resumed += outcome == "resumed"
        done.closed += outcome == "closed"
        done.waiting += outcome == "waiting"
    with tenant_session(business_id) as session:
        # After the closes above, so that a run just closed is settled in this pass.
        ended = list(
            session.execute(
                ended_runs_in_flight()
                .with_only_columns(OutboundItem.run_id)
                .where(OutboundItem.business_id == business_id)
            ).scalars()
        )
        for run_id in ended:
            done.settling += _enqueue_driver_once(business_id, run_id, now, "settle")
    return done


def close_abandoned_runs(now: datetime | None = None) -> int:
    """The safety checks: close every business's orphaned runs whose driver is dead or was
    cancelled, resuming none, and have ended runs' calls in flight settled; how many runs were
    closed."""
    now = now or utcnow()
    with system_session() as session:
        business_ids = list(businesses_to_reconcile(session, Tick(now)))
    return sum(reconcile_runs(b, resume=False, now=now).closed for b in business_ids)


SCHEDULES = (
    Schedule(
        "outbound_reconcile",
        OUTBOUND_RECONCILE,
        when=Every(15),
        missed=Missed.CATCH_UP_ONCE,
        targets=businesses_to_reconcile,
    ),
)
SAFETY_CHECKS = (SafetyCheck("outbound_abandoned_runs", 15, close_abandoned_runs),)
