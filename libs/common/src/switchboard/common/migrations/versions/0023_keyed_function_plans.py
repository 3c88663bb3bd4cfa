"""The functions that look rows up by key keep one generic plan per statement, made of index
scans and nested loops only.

Each of these functions' statements is planned once per session by PL/pgSQL and kept. Planned
while a table was small or its statistics stale (a new database, a table grown since its last
``ANALYZE``, autovacuum off), the plan of a lookup by key is a sequential scan, and it then
reads the whole table on every call for as long as the connection lives: answering a WhatsApp
message read every conversation, message, lead and session stored before it, and cost more
with each one (``db/planner.py``). With the ``SET`` clauses below, their statements and the
foreign-key checks their writes fire use the indexes whatever the statistics say, and are
planned once per session, not on every call.

A later ``CREATE OR REPLACE`` of one of them drops its clauses: it gives them again
(``planner.function_settings()``); a test checks every function here has them.

``switchboard_sweep_slots`` keeps the server's defaults (migration 0022): it scans.

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-05
"""

from collections.abc import Sequence

from alembic import op

from switchboard.common.db.planner import function_settings

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KEYED = (
    "switchboard_store_inbound_whatsapp",
    "switchboard_store_inbound_whatsapp_batch",
    "switchboard_enqueue_jobs",
    "switchboard_whatsapp_reply_context",
    "switchboard_whatsapp_store_reply",
    "switchboard_whatsapp_claim_send",
    "switchboard_whatsapp_record_send",
    "switchboard_chat_for_analysis",
    "switchboard_apply_lead_fields",
    "switchboard_take_slot",
    "switchboard_wake_parked",
    "switchboard_release_slots",
)


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for name in KEYED:
            op.execute(f"ALTER FUNCTION {name} {function_settings()}")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for name in KEYED:
            op.execute(f"ALTER FUNCTION {name} RESET ALL")
