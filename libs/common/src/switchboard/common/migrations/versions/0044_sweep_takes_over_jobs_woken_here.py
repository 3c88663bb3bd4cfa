"""The sweep publishes a copy of a woken job whose worker died while running it.

A worker process now runs the jobs its own slots wake for its queue itself, without
publishing them to RabbitMQ (``worker/runtime/woken_here.py``). Such a job has no RabbitMQ
delivery: if its process is killed while it runs, nothing delivers it again. Its row stays
``running`` on a worker whose heartbeat goes stale, and its reserved slot (a ``job_slots`` row
naming no worker) is kept while its job runs (0026), so its business would hold that slot for
good.

Now the sweep returns, besides the parked jobs it wakes, a copy of each such job: its slot is
a reservation at least one staleness period old, its row ``running`` on a worker whose
heartbeat is stale. The copy is marked ``republished`` (its delivery takes the ledger's checked
path) and the reservation's ``taken_at`` is set to now, so at most one copy goes out per
staleness period: the copy's delivery claims the reservation (0026's rule for a job taken over
from a dead worker) and the ledger hands it the job, counting the dead execution. A job
delivered through RabbitMQ and killed the same way is redelivered by RabbitMQ first, which
claims the reservation; a copy that comes too finds the job held or final and is dropped.

Revision ID: 0044
Revises: 0043
Create Date: 2026-12-07
"""

import importlib
from collections.abc import Sequence
from types import ModuleType

from alembic import op

revision: str = "0044"
down_revision: str | None = "0043"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BEGIN = """BEGIN
    FOR v_job IN DELETE FROM job_slots s"""
# The reservation's own ``worker_id IS NULL`` and ``taken_at`` are rechecked on the row a
# concurrent sweep or take changed: two sweeps never publish two copies, and a reservation a
# delivery claimed meanwhile (it names a worker) is left to it.
_TAKE_OVER = """BEGIN
    RETURN QUERY
    WITH lost AS (
        UPDATE job_slots s SET taken_at = now()
        FROM jobs j
        WHERE j.id = s.job_id AND s.worker_id IS NULL AND s.taken_at < p_fresh_since
            AND j.status NOT IN ('queued', 'succeeded', 'failed', 'dead', 'cancelled')
            AND j.message <> ''
            AND NOT EXISTS (SELECT 1 FROM worker_heartbeats h
                            WHERE h.id = j.worker_id AND h.beat_at > p_fresh_since)
        RETURNING s.job_id, j.message
    )
    SELECT CAST(lost.job_id AS text),
           CAST(jsonb_set(CAST(lost.message AS jsonb), '{options,republished}', 'true') AS text)
    FROM lost;
    FOR v_job IN DELETE FROM job_slots s"""


def _reservations() -> ModuleType:
    return importlib.import_module(
        "switchboard.common.migrations.versions.0026_reserved_slots_stay_the_woken_job_s"
    )


def create_sweep() -> str:
    """0026's sweep, taking over the running jobs of lost reservations first."""
    sweep: str = _reservations().create_sweep()
    if sweep.count(_BEGIN) != 1:
        raise RuntimeError("0026's sweep no longer starts with the reservations' expiry")
    return sweep.replace(_BEGIN, _TAKE_OVER)


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(create_sweep())


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_reservations().create_sweep())
