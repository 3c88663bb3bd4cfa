"""The ledger's fast path in tests: its knowledge of cancellations kept fresh, and renewed."""

from __future__ import annotations

from switchboard.common.jobs import enqueue
from switchboard.worker.runtime import ledger
from tests.support.actors import NOOP


def renew_cancellation_knowledge(business_id: int) -> None:
    """Run one job the checked way: its success batch reads the recent cancellations, which
    lets this process start first deliveries on the fast path (``jobs/inflight.py``)."""
    job_id = enqueue(NOOP, business_id=business_id).job_id
    assert ledger.mark_started(job_id, max_unfinished=3) is not None
    ledger.mark_succeeded(job_id)
