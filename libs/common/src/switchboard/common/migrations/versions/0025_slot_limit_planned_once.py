"""``switchboard_slot_limit`` plans its statement once per session, not on every call.

Migration 0022 wrote it in SQL, for PostgreSQL to inline into its callers. PostgreSQL never
inlines a function whose body has subqueries, and an SQL function that is not inlined plans its
statement anew on every call. It is called for every job started (``switchboard_take_slot``),
every batch enqueued and every wake of parked jobs: 1,050 plans in 1,050 calls while 1,000
WhatsApp messages were answered, 0.075 ms each (``pg_stat_statements`` with
``track_planning``). As PL/pgSQL its statement is planned once per session and kept (18 plans
in the same run), under the settings of the functions that look rows up by key (0023,
``db/planner.py``), like every other function of ours. PostgreSQL's CPU per job in
``bench/jobs.py`` went from 0.216–0.218 ms to 0.184–0.197 ms.

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-05
"""

import importlib
from collections.abc import Sequence

from alembic import op

from switchboard.common.db.planner import function_settings

revision: str = "0025"
down_revision: str | None = "0024"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The same limit as 0022's: the business's own for the queue, else the deployment's for the
# queue or for all queues (``p_defaults``, or as the workers last wrote them when NULL).
CREATE_LIMIT = f"""
CREATE OR REPLACE FUNCTION switchboard_slot_limit(p_business bigint, p_queue text,
                                                  p_defaults jsonb)
RETURNS integer LANGUAGE plpgsql STABLE {function_settings()} AS $fn$
BEGIN
    RETURN COALESCE(
        (SELECT (job_concurrency ->> p_queue)::integer FROM businesses WHERE id = p_business),
        (p_defaults ->> p_queue)::integer,
        (p_defaults ->> '*')::integer,
        (SELECT d.max_running FROM job_limit_defaults d WHERE d.queue_name = p_queue),
        (SELECT d.max_running FROM job_limit_defaults d WHERE d.queue_name = '*'));
END
$fn$
"""


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(CREATE_LIMIT)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        fair_share = importlib.import_module(
            "switchboard.common.migrations.versions.0022_fair_share_slots"
        )
        op.execute(fair_share._LIMIT)
        op.execute("ALTER FUNCTION switchboard_slot_limit(bigint, text, jsonb) RESET ALL")
