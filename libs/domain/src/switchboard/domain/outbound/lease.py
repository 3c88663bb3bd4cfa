"""A run's lease: which driver tick may place its calls, renewed with a heartbeat.

Renewing the lease updates the run's row, so it also takes the row's lock for the rest of the
transaction: a cancel (``runs.cancel_run`` locks the row) waits for the dial under way, or is
seen by the next renewal.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update
from sqlalchemy.orm import Session

from switchboard.common.db.base import utcnow
from switchboard.common.db.tenancy import tenant_session
from switchboard.common.models import OutboundRun

LEASE = timedelta(seconds=15)


def renew_lease(session: Session, business_id: int, run_id: int, owner: str) -> bool:
    """Extend ``owner``'s lease in ``session``; False if the run stopped or the lease is lost."""
    now = utcnow()
    row = session.execute(
        update(OutboundRun)
        .where(
            OutboundRun.business_id == business_id,
            OutboundRun.id == run_id,
            OutboundRun.status == "running",
            OutboundRun.lease_owner == owner,
        )
        .values(heartbeat_at=now, lease_expires_at=now + LEASE)
        .returning(OutboundRun.id)
    ).first()
    return row is not None


def acquire_lease(business_id: int, run_id: int, owner: str) -> bool:
    """Take the run's lease if it is free, expired, or already ours."""
    now = utcnow()
    with tenant_session(business_id) as session:
        row = session.execute(
            update(OutboundRun)
            .where(
                OutboundRun.business_id == business_id,
                OutboundRun.id == run_id,
                OutboundRun.status == "running",
                (OutboundRun.lease_owner.is_(None))
                | (OutboundRun.lease_expires_at < now)
                | (OutboundRun.lease_owner == owner),
            )
            .values(lease_owner=owner, lease_expires_at=now + LEASE, heartbeat_at=now)
            .returning(OutboundRun.id)
        ).first()
        return row is not None


def release_lease(business_id: int, run_id: int, owner: str) -> None:
    """Let the next tick take over at once."""
    with tenant_session(business_id) as session:
        session.execute(
            update(OutboundRun)
            .where(
                OutboundRun.business_id == business_id,
                OutboundRun.id == run_id,
                OutboundRun.lease_owner == owner,
            )
            .values(lease_owner=None, lease_expires_at=None)
        )
