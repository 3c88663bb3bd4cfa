"""The reply context's running mark names the worker that runs the reply job.

``switchboard_whatsapp_reply_context`` (migration 0006) marks a fast-started reply job
``running`` in the same statement that reads the reply's context, but left ``jobs.worker_id``
empty: a redelivery of that job (its worker seemed dead, or the outbox relay republished it)
could not tell the execution was still running on a live worker, and started a second one.
The function now takes the worker's identity and writes it with the mark, as the ledger's own
running marks do. Its body is 0006's with that one change.

Revision ID: 0016
Revises: 0015
Create Date: 2027-01-21
"""

import importlib.util
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CONTEXT = "switchboard_whatsapp_reply_context"
_OLD_ARGS = "text, bigint, bigint, text, integer, timestamptz, text, timestamptz"
_NEW_ARGS = f"{_OLD_ARGS}, text"


def _migration_0006() -> ModuleType:
    path = Path(__file__).with_name("0006_whatsapp_reply_functions.py")
    spec = importlib.util.spec_from_file_location("switchboard_migration_0006", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _replaced(text: str, old: str, new: str) -> str:
    assert text.count(old) == 1, old
    return text.replace(old, new)


def _context_naming_its_worker() -> str:
    body = str(_migration_0006().CREATE_CONTEXT)
    body = _replaced(
        body,
        "p_job_id text, p_job_started timestamptz\n)",
        "p_job_id text, p_job_started timestamptz,\n    p_worker text\n)",
    )
    return _replaced(
        body,
        "started_at = p_job_started, updated_at = p_now",
        "started_at = p_job_started, updated_at = p_now,\n            worker_id = p_worker",
    )


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP FUNCTION IF EXISTS {CONTEXT}({_OLD_ARGS})")
        op.execute(_context_naming_its_worker())


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP FUNCTION IF EXISTS {CONTEXT}({_NEW_ARGS})")
        op.execute(str(_migration_0006().CREATE_CONTEXT))
