"""A slot reserved for a woken job stays that job's, whatever its other copies do.

A parked job woken by a freed slot is published with the slot reserved for it (a ``job_slots``
row naming no worker), and that publication's delivery starts without taking a slot
(``WOKEN``, ``worker/runtime/fair_share.py``), on the worker's fast path when it can, which
asks the ledger nothing: the reservation is the slot it runs in. Two rules let that go wrong:

- 0024's sweep freed every reservation older than ``JOB_SLOT_RESERVATION_S`` as one whose
  publisher died first, whatever its job was doing. A woken job still running after a minute
  (a recording's transcription, an analysis behind a slow AI) lost its slot, and its business
  ran one job more than its limit until it ended. Now a reservation expires only while its job
  is not running: never started (its publisher or its worker died first), it is parked again
  as before; running, it keeps its slot until it is final (the sweep frees finished jobs').
- 0022's ``switchboard_take_slot`` let any other delivery of the job claim its reservation:
  a copy the outbox relay or the ledger published again, reaching a worker before the woken
  publication, took the slot and ran the job, and the woken publication then ran it a second
  time on the fast path. Reaching it while the woken one ran, the copy claimed the slot, was
  skipped (the job runs), and freed the slot under it. Now a reservation is only claimed by a
  delivery taking the job over from a worker that died (its row ``running`` on a worker whose
  heartbeat is stale). Otherwise the answer is ``reserved`` while the job has not started (a
  delivery of the woken publication itself, redelivered, runs in the reservation; any other
  copy is dropped: the woken publication runs the job, or the sweep parks it again once the
  reservation expires), ``held`` while it runs on a live worker (the ledger sends the copy
  back for later), or ``final``.

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-05
"""

import importlib
from collections.abc import Sequence
from types import ModuleType

from alembic import op

from switchboard.common.db.planner import function_settings

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

# 0022's function with the reservation's rule first: the rest (a slot of the job's own held by
# a worker, a free slot, parking at the limit, a job taken over) is unchanged.
_FOUND = """    IF FOUND THEN
        IF v_holder IS NOT NULL"""
_RESERVED = """    IF FOUND THEN
        IF v_holder IS NULL THEN
            -- Reserved for the job's woken publication: the job's row says who runs it.
            SELECT status, worker_id INTO v_status, v_holder FROM jobs WHERE id = p_job;
            IF v_status = 'queued' THEN
                RETURN 'reserved';
            ELSIF v_status IS DISTINCT FROM 'running' THEN
                RETURN 'final';
            END IF;
        END IF;
        IF v_holder IS NOT NULL"""


def _fair_share() -> ModuleType:
    return importlib.import_module("switchboard.common.migrations.versions.0022_fair_share_slots")


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


def create_take() -> str:
    """0022's ``switchboard_take_slot``, a reservation claimed only to take its job over."""
    take: str = _fair_share()._TAKE
    if take.count(_FOUND) != 1:
        raise RuntimeError("0022's take no longer has the slot lookup this amends")
    return take.replace(_FOUND, _RESERVED)


def _create_take(sql: str) -> None:
    op.execute(sql)  # a CREATE OR REPLACE drops the function's settings (0023): given again
    op.execute(f"ALTER FUNCTION switchboard_take_slot {function_settings()}")


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(create_sweep())
        _create_take(create_take())


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_probes().CREATE_SWEEP)
        _create_take(_fair_share()._TAKE)
