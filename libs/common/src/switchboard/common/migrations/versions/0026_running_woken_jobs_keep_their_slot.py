"""A woken job that runs past ``JOB_SLOT_RESERVATION_S`` keeps its slot.

A parked job woken by a freed slot is published with the slot reserved for it (``job_slots``
row with no worker), and its delivery starts without taking a slot again (``WOKEN``,
``worker/runtime/fair_share.py``): the reservation is the slot it runs in. 0024's sweep freed
every reservation older than ``JOB_SLOT_RESERVATION_S`` as one whose publisher died first,
whatever its job was doing. So a woken job still running after a minute (a recording's
transcription, an analysis behind a slow AI) lost its slot, and its business ran one job more
than its limit until it ended. Now a reservation expires only while its job is not running: a
woken job never started (its publisher or its worker died first) is parked again as before,
one that runs keeps its slot until it is final (the sweep's rule for finished jobs frees it).

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-05
"""

import importlib
from collections.abc import Sequence
from types import ModuleType

from alembic import op

revision: str = "0026"
down_revision: str | None = "0025"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_EXPIRED = "WHERE s.worker_id IS NULL AND s.taken_at < p_reserved_since"
# Not ``= 'queued'``: a reservation whose job row is gone expires too.
_NOT_RUNNING = (
    f"{_EXPIRED}\n                   AND (SELECT j.status FROM jobs j WHERE j.id = s.job_id)"
    " IS DISTINCT FROM 'running'"
)


def _probes() -> ModuleType:
    return importlib.import_module(
        "switchboard.common.migrations.versions.0024_enqueue_probes_parked_once"
    )


def create_sweep() -> str:
    """0024's sweep, its expiry of reservations limited to jobs that are not running."""
    sweep: str = _probes().CREATE_SWEEP
    if sweep.count(_EXPIRED) != 1:
        raise RuntimeError("0024's sweep no longer has the reservations' expiry this amends")
    return sweep.replace(_EXPIRED, _NOT_RUNNING)


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(create_sweep())


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_probes().CREATE_SWEEP)
