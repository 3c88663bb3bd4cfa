"""Fair share at enqueue: a business at its limit in a queue has its new job parked at once.

The worker's fair share (``worker/runtime/fair_share.py``) lets at most a business's limit of
its jobs execute at once in a queue, and parks the others in the ledger until a slot frees.
A backlog enqueued at once (10,000 leads to analyse) would still be published whole and then
parked one delivery at a time, ahead of every other business's jobs in the queue; so
``enqueue`` parks a job itself when its business already holds its limit of slots in the
queue, or has parked jobs there (they go first), counting the jobs this transaction
published. The count is read without a lock: a few too many may be published (the worker
parks them) and a job parked just as the last slot frees waits for the worker's sweep.

PostgreSQL only, and only with ``JOB_FAIR_SHARE`` on.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session

from switchboard.common.settings import Settings, get_settings

#: Where a unit of work counts the jobs it published, by (business, queue).
PUBLISHED_KEY = "fair_share_published"

_FULL = text(
    """
    SELECT (SELECT count(*) FROM job_slots WHERE business_id = :b AND queue_name = :q),
        EXISTS (SELECT 1 FROM jobs WHERE queue_name = :q AND business_id = :b
                AND parked_at IS NOT NULL AND status = 'queued'),
        (SELECT job_concurrency FROM businesses WHERE id = :b)
    """
)


def limit_of(settings: Settings, own: dict[str, int] | None, queue: str) -> int:
    """A business's limit in ``queue``: its own, else the deployment's for the queue or all."""
    for limits in (own or {}, settings.business_concurrency_by_queue):
        if limits.get(queue):
            return int(limits[queue])
    return settings.job_business_concurrency


def park_on_enqueue(session: Session, business_id: int, queue: str) -> bool:
    """Whether a job enqueued now in ``session`` should be parked rather than published;
    a job to publish is counted against the business's slots for the rest of the unit of
    work."""
    settings = get_settings()
    bind = session.get_bind()
    if not settings.job_fair_share or bind.dialect.name != "postgresql":
        return False
    published: dict[tuple[int, str], int] = session.info.setdefault(PUBLISHED_KEY, {})
    key = (business_id, queue)
    held, parked, own = session.execute(_FULL, {"b": business_id, "q": queue}).one()
    if parked or int(held) + published.get(key, 0) >= limit_of(settings, own, queue):
        return True
    published[key] = published.get(key, 0) + 1
    return False
