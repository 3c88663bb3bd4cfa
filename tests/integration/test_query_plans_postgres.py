"""Query plans: the hot statements read only the rows they are about.

A new database has no statistics until autovacuum analyzes it (a minute after its tables start
changing), and PostgreSQL then guesses: a business's id looks as selective as a key. Cached
plans keep such guesses: the ledger's prepared statements, and PL/pgSQL's after a statement's
fifth run in a session. The worker's WhatsApp path once read, that way, all of a business's
leads to find one by phone, all of its queued jobs to mark one running, and the whole jobs
table for each batch of successes. Here the business owns a few hundred rows in each table
that no statement is about, and ``auto_explain`` reports every statement's plan with the rows
it actually read: none may read more than a handful, on a database never analyzed (the
ledger's cached plans; each function statement's first plan) and on one analyzed (every
plan PL/pgSQL keeps). What stays open: on a database never analyzed, PL/pgSQL's cached
generic plans for statements that row-level security qualifies by business can still pick
the business's index until the first ``ANALYZE`` replans them (the scheduler's, within
seconds: test_new_table_statistics.py; docs/reliability.md).
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import psycopg
import pytest
from sqlalchemy import event, text

from switchboard.common.db import system_session
from switchboard.common.db.base import utcnow
from switchboard.common.db.engine import get_engine
from switchboard.common.db.libpq import psycopg_sql
from switchboard.common.integrations.ai_text import OfflineAIText
from switchboard.common.jobs.catalog import PROCESS_WHATSAPP_WEBHOOK
from switchboard.common.jobs.context import JobContext, set_current_job
from switchboard.common.settings import Settings
from switchboard.domain.whatsapp import replies
from switchboard.domain.whatsapp.inbound import InboundMessage, store_inbound
from switchboard.domain.whatsapp.reply_context import HISTORY_LENGTH
from switchboard.worker.bootstrap import stores
from switchboard.worker.runtime import ledger, ledger_connections, ledger_statements
from tests.support.database import on_own_connection
from tests.support.factories import make_business, unique_phone
from tests.support.fast_start import renew_cancellation_knowledge

pytestmark = pytest.mark.integration

#: Rows of the business's that no statement below is about, in each table.
NOISE = 400
#: The most rows one statement may read: a conversation's history, a batch, a few locks.
MOST_ROWS_READ = HISTORY_LENGTH + 5
#: Runs of the worker's path: more than the five after which a session may cache a plan.
ROUNDS = 7
TABLES = ("leads", "whatsapp_conversations", "whatsapp_messages", "whatsapp_sessions", "jobs")
_READ = re.compile(r"\(actual rows=(\d+) loops=(\d+)\)|Rows Removed by \w+: (\d+)")


def _explain_here(conn: psycopg.Connection[Any], plans: list[str]) -> None:
    """Have this session report each statement's plan, nested ones too, as a notice."""
    conn.add_notice_handler(lambda notice: plans.append(notice.message_primary or ""))
    for setting in (
        "LOAD 'auto_explain'",
        "SET auto_explain.log_min_duration = 0",
        "SET auto_explain.log_nested_statements = on",
        "SET auto_explain.log_analyze = on",
        "SET auto_explain.log_timing = off",
        "SET auto_explain.log_level = notice",
    ):
        conn.execute(setting)


def _seed_noise(business_id: int) -> None:
    """Rows of the business's no statement is about; the tables are never analyzed."""
    with system_session() as session:
        for table in TABLES:
            session.execute(text(f"ALTER TABLE {table} SET (autovacuum_enabled = false)"))
        session.execute(
            text(
                "INSERT INTO leads (business_id, phone, status, source, created_at, updated_at) "
                "SELECT :b, '+1999' || lpad(i::text, 7, '0'), 'new', 'whatsapp', now(), now() "
                "FROM generate_series(1, :n) AS i"
            ),
            {"b": business_id, "n": NOISE},
        )
        session.execute(
            text(
                "INSERT INTO whatsapp_conversations (business_id, contact_number, "
                "business_number, created_at, updated_at) "
                "SELECT :b, '+1999' || lpad(i::text, 7, '0'), '+15550000000', now(), now() "
                "FROM generate_series(1, :n) AS i"
            ),
            {"b": business_id, "n": NOISE},
        )
        session.execute(
            text(
                "INSERT INTO whatsapp_messages (business_id, conversation_id, direction, "
                "message_sid, body, status, attempts, created_at, updated_at) "
                "SELECT :b, c.id, 'in', 'SMnoise' || c.id, 'hello', 'replied', 0, now(), now() "
                "FROM whatsapp_conversations c WHERE c.business_id = :b"
            ),
            {"b": business_id},
        )
        session.execute(
            text(
                "INSERT INTO whatsapp_sessions (business_id, conversation_id, started_at, "
                "last_activity_at, created_at, updated_at) "
                "SELECT :b, c.id, now(), now(), now(), now() "
                "FROM whatsapp_conversations c WHERE c.business_id = :b"
            ),
            {"b": business_id},
        )
        session.execute(
            text(
                "INSERT INTO jobs (id, business_id, queue_name, actor_name, status, attempts, "
                "deliveries, failures, max_retries, message, enqueued_at, updated_at) "
                "SELECT md5(i::text), :b, 'whatsapp', 'process_whatsapp_webhook_job', "
                "'queued', 0, 0, 0, 3, '{}', now(), now() FROM generate_series(1, :n) AS i"
            ),
            {"b": business_id, "n": NOISE},
        )


def _most_read(plans: list[str]) -> tuple[int, str]:
    """The most rows any one plan node read (returned or filtered out), and its plan."""
    worst, worst_plan = 0, ""
    for plan in plans:
        for returned, loops, removed in _READ.findall(plan):
            read = int(returned) * int(loops) if returned else int(removed)
            if read > worst:
                worst, worst_plan = read, plan
    return worst, worst_plan


def _scalar(sql: str, params: dict[str, Any]) -> Any:
    rows = on_own_connection(sql, params)
    return rows[0][0] if rows else None


def _answer_as_the_worker(business_id: int, phone_number: str, round_: int) -> None:
    """One message through the worker's path: its reply job fast-started, the reply with the
    lead's fields, its send's outcome (the analysis runs inside the reply's store)."""
    message_id = store_inbound(
        business_id,
        InboundMessage(f"SMplans{round_}", f"whatsapp:{unique_phone()}", phone_number, "Hi"),
    )
    assert message_id is not None
    job_id = _scalar(
        "SELECT id FROM jobs WHERE actor_name = %(actor)s "
        "AND CAST(NULLIF(message, '') AS jsonb) -> 'kwargs' ->> 'message_id' = %(m)s",
        {"actor": PROCESS_WHATSAPP_WEBHOOK.name, "m": str(message_id)},
    )
    assert ledger.start_fast(job_id)
    set_current_job(
        JobContext(job_id, PROCESS_WHATSAPP_WEBHOOK.name, business_id, attempt=1, control=ledger)
    )
    try:
        reply = replies.reply_to_inbound(business_id, message_id, OfflineAIText(), stores().replies)
        assert reply is not None  # stored claimed for its send: the job records the outcome
        stores().sends.record(business_id, reply.reply_id, "sent", f"SMsent{round_}", None)
    finally:
        set_current_job(None)
    ledger.mark_succeeded(job_id)


@pytest.mark.parametrize(
    ("analyzed", "rounds"),
    [
        # a new database: each statement's first plans are made for its values, and must
        # already be right (the first of them is what a new deployment's first minute runs on)
        (False, 1),
        # in service: PL/pgSQL plans a statement anew for its first five runs in a session,
        # then may keep one generic plan for good; the rounds after the fifth run on it
        (True, ROUNDS),
    ],
)
@pytest.mark.usefixtures("fresh")
def test_the_worker_s_whatsapp_path_reads_only_its_own_rows(
    new_database: Settings, analyzed: bool, rounds: int
) -> None:
    business = make_business()
    _seed_noise(business.id)
    if analyzed:
        _scalar("ANALYZE", {})
    renew_cancellation_knowledge(business.id)  # first deliveries may start on the fast path
    plans: list[str] = []
    engine = get_engine()
    engine.dispose()

    def explain(conn: psycopg.Connection[Any], _record: object) -> None:
        _explain_here(conn, plans)

    event.listen(engine, "connect", explain)
    try:
        for round_ in range(rounds):
            _answer_as_the_worker(business.id, business.phone_number, round_)
    finally:
        event.remove(engine, "connect", explain)
        engine.dispose()
    functions = [plan for plan in plans if "switchboard_" in plan]
    assert len(functions) >= 3 * rounds, plans  # context, store (lead fields in it), record
    assert sum("started_at = p_job_started" in plan for plan in plans) == rounds, plans
    worst, plan = _most_read(plans)
    assert worst <= MOST_ROWS_READ, plan


def test_the_ledger_s_statements_find_jobs_by_key_on_a_new_table(new_database: Settings) -> None:
    business = make_business()
    _seed_noise(business.id)
    with system_session() as session:
        ids = session.execute(text("SELECT id FROM jobs ORDER BY id LIMIT 3")).scalars().all()
    plans: list[str] = []
    conn = ledger_connections.connect(durable=True)  # the settings every ledger connection has
    try:
        _explain_here(conn, plans)
        now = utcnow()
        conn.execute(
            psycopg_sql(ledger_statements.MARK_RUNNING),
            {"ids": [ids[0]], "started": [now], "now": now, "worker": "host:1"},
        )
        conn.execute(  # a redelivery: the row and its worker's heartbeat, by key
            psycopg_sql(ledger_statements.START_AGAIN),
            {
                "id": ids[2],
                "max": 5,
                "now": now,
                "poison": "dead",
                "worker": "host:1",
                "fresh_since": now - timedelta(seconds=30),
                "running_since": now - timedelta(seconds=330),  # its time limit, then stale
                "alone": True,
            },
        )
        for statement, values in (
            (
                ledger_statements.START_MANY,
                {"ids": [ids[1]], "now": now, "worker": "host:1"},
            ),
            (
                ledger_statements.SUCCEED_MANY,
                {
                    "ids": list(ids),
                    "started": [now.isoformat()] * 3,
                    "fast": ["t", "f", "t"],
                    "now": now,
                    "since": now - timedelta(seconds=30),
                    "release": list(ids),  # their fair-share slots, freed in the statement
                    "defaults": '{"*": 4}',
                },
            ),
        ):
            statement.prepare(conn)
            statement.run(conn, values)
        conn.execute(psycopg_sql(ledger_statements.STATUS), {"id": ids[0]})
    finally:
        conn.close()
    assert len(plans) == 6, plans  # five statements and the slots' delete in the successes'
    assert not any("Seq Scan" in plan for plan in plans), plans
    worst, plan = _most_read(plans)
    assert worst <= MOST_ROWS_READ, plan
    with system_session() as session:
        statuses = session.execute(
            text("SELECT status FROM jobs WHERE id = ANY(:ids) ORDER BY id"), {"ids": list(ids)}
        ).scalars()
        assert list(statuses) == ["succeeded"] * 3
