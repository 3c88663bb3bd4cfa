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

import json
from collections.abc import Sequence

from sqlalchemy import text
from sqlalchemy.orm import Session

from switchboard.common.settings import Settings, get_settings

#: Where a unit of work counts the jobs it published, by (business, queue).
PUBLISHED_KEY = "fair_share_published"

# A business's limit in a queue is migration 0022's ``switchboard_slot_limit``: its own, else
# the deployment's for the queue, else the deployment's for every queue (one rule, in SQL).
_FULL = text(
    """
    SELECT (SELECT count(*) FROM job_slots WHERE business_id = :b AND queue_name = :q),
        EXISTS (SELECT 1 FROM jobs WHERE queue_name = :q AND business_id = :b
                AND parked_at IS NOT NULL AND status = 'queued'),
        switchboard_slot_limit(:b, :q, CAST(:defaults AS jsonb))
    """
)
_LIMITS = text(
    "SELECT q, switchboard_slot_limit(:b, q, CAST(:defaults AS jsonb)) "
    "FROM unnest(CAST(:queues AS text[])) AS q"
)


def defaults_json(settings: Settings) -> str:
    """The deployment's limits as the SQL functions read them: ``{"*": 8, "analysis": 4}``."""
    return json.dumps(
        {"*": settings.job_business_concurrency, **settings.business_concurrency_by_queue}
    )


def limits_in(session: Session, business_id: int, queues: Sequence[str]) -> dict[str, int]:
    """The business's limit in each of ``queues`` (PostgreSQL)."""
    params = {"b": business_id, "queues": list(queues), "defaults": defaults_json(get_settings())}
    return {str(queue): int(limit) for queue, limit in session.execute(_LIMITS, params)}


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
    params = {"b": business_id, "q": queue, "defaults": defaults_json(settings)}
    held, parked, limit = session.execute(_FULL, params).one()
    if parked or int(held) + published.get(key, 0) >= int(limit):
        return True
    published[key] = published.get(key, 0) + 1
    return False
