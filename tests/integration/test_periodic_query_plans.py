"""The scheduler's periodic queries read only what is due or open, on a database in service
for a year.

Every 15 seconds to once a day the scheduler asks which businesses have work (its schedules'
targets), and each job it emits reads that business's due rows. The tables they read keep
every row ever finished: sent reminders, closed WhatsApp sessions, ended runs and their items.
Each query must find the few rows it is about through an index, whatever the statistics say
(a new database has none; an analyzed one may look small), and as a pooled connection runs
it once it is prepared: with one generic plan, for any values of its parameters. Here each
table holds ``OLD`` rows no query is about and a few that are, and the most rows any node of
the plan read (returned, or filtered out) must stay near the latter.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import psycopg.sql
import pytest
from sqlalchemy import event, text
from sqlalchemy.orm import Session

from switchboard.common.db import system_session
from switchboard.common.db.base import utcnow
from switchboard.common.db.engine import get_engine
from switchboard.common.jobs.schedules import Targets, Tick
from switchboard.common.settings import Settings
from switchboard.domain.calls import scheduled as calls_scheduled
from switchboard.domain.calls.recordings import RETENTION
from switchboard.domain.notifications import scheduled as notifications_scheduled
from switchboard.domain.notifications.push import send_due_reminders
from switchboard.domain.operations import scheduled as operations_scheduled
from switchboard.domain.outbound import scheduled as outbound_scheduled
from switchboard.domain.whatsapp import scheduled as whatsapp_scheduled
from switchboard.domain.whatsapp.sessions import IDLE_AFTER, idle_session_ids
from tests.support.backlog import add_jobs
from tests.support.factories import make_business

pytestmark = pytest.mark.integration

#: Rows of each table no periodic query is about: a year's finished work, in miniature.
OLD = 50_000
#: The most rows one plan node may read: the few rows due, and some slack.
MOST_ROWS_READ = 50


def _rows_read(plan: dict[str, Any]) -> int:
    """The most rows any node of ``plan`` read: returned over its loops, or filtered out."""
    here = int(plan.get("Actual Rows", 0)) * int(plan.get("Actual Loops", 1))
    removed = int(plan.get("Rows Removed by Filter", 0))
    removed += int(plan.get("Rows Removed by Index Recheck", 0))
    return max([here + removed, *(_rows_read(child) for child in plan.get("Plans", []))])


def _statements(run: Callable[[], object]) -> list[tuple[str, dict[str, Any]]]:
    """The reads and deletes ``run`` sends to the database, as it sends them."""
    seen: list[tuple[str, dict[str, Any]]] = []

    def record(_conn: object, _cursor: object, sql: str, params: Any, *_: object) -> None:
        if sql.lstrip().upper().startswith(("SELECT", "DELETE")):
            seen.append((sql, dict(params or {})))

    engine = get_engine()
    event.listen(engine, "before_cursor_execute", record)
    try:
        run()
    finally:
        event.remove(engine, "before_cursor_execute", record)
    return seen


def _targets(targets: Targets, tick: Tick) -> Callable[[], object]:
    """The scheduler's read of ``targets`` for ``tick``."""

    def run() -> object:
        with system_session() as session:
            return list(targets(session, tick))

    return run


def _nodes(plan: dict[str, Any], depth: int = 0) -> str:
    """The plan, one node a line: what it read, and the rows it returned and filtered out."""
    where = plan.get("Index Name") or plan.get("Relation Name") or ""
    line = (
        f"{'  ' * depth}{plan['Node Type']} {where} rows={plan.get('Actual Rows')}"
        f" loops={plan.get('Actual Loops')} removed={plan.get('Rows Removed by Filter', 0)}"
    )
    return "\n".join([line, *(_nodes(child, depth + 1) for child in plan.get("Plans", []))])


def _generic_plan(sql: str, params: dict[str, Any]) -> tuple[dict[str, Any], list[Any]]:
    """Run ``sql`` as a prepared statement with one generic plan, for any values of its
    parameters: that plan, run, and the rows it returned."""
    names: list[str] = []

    def number(match: re.Match[str]) -> str:
        names.append(match.group(1))
        return f"${len(names)}"

    prepared = re.sub(r"%\((\w+)\)s", number, sql)
    with system_session() as session:
        session.execute(text("SET LOCAL plan_cache_mode = force_generic_plan"))
        connection = session.connection()
        connection.exec_driver_sql(f"PREPARE periodic AS {prepared}".replace("%%", "%"))
        driver = connection.connection.driver_connection
        arguments = ", ".join(psycopg.sql.Literal(params[name]).as_string(driver) for name in names)
        call = f"EXECUTE periodic({arguments})" if arguments else "EXECUTE periodic"
        rows = list(connection.exec_driver_sql(call.replace("%", "%%")).all())
        explain = connection.exec_driver_sql(
            f"EXPLAIN (ANALYZE, FORMAT JSON) {call}".replace("%", "%%")
        ).scalar()
        connection.exec_driver_sql("DEALLOCATE periodic")
    document = explain if isinstance(explain, list) else json.loads(str(explain))
    return document[0]["Plan"], rows


def _seed(sql: str, **params: object) -> None:
    with system_session() as session:
        session.execute(text(sql), params)


def _prepare(tables: tuple[str, ...], analyzed: bool) -> None:
    """No autovacuum behind the test's back; statistics only if ``analyzed``."""
    with system_session() as session:
        for table in tables:
            session.execute(text(f"ALTER TABLE {table} SET (autovacuum_enabled = false)"))
    for table in tables if analyzed else ():
        _seed(f"ANALYZE {table}")


def _assert_reads_only_what_is_due(run: Callable[[], object]) -> set[int]:
    """Each statement ``run`` sends reads no more than the rows due; the first column of the
    rows they returned (the businesses, for targets)."""
    statements = _statements(run)
    assert statements, "nothing was read"
    found: set[int] = set()
    for sql, params in statements:
        plan, rows = _generic_plan(sql, params)
        assert _rows_read(plan) <= MOST_ROWS_READ, f"{sql}\n{_nodes(plan)}"
        found |= {row[0] for row in rows}
    return found


ANALYZED = pytest.mark.parametrize("analyzed", [False, True], ids=["new", "analyzed"])


@ANALYZED
def test_the_reconciler_reads_the_running_runs_and_the_items_in_flight_only(
    new_database: Settings, analyzed: bool
) -> None:
    """Every 15 seconds: the runs left running, and the ended runs with items in flight,
    however long ago they ended (one whose settling never ran, a year ago, included); not
    the thousands of runs ended before, nor their settled items."""
    old, orphaned, ended, forgotten = (
        make_business(),
        make_business(),
        make_business(),
        make_business(),
    )
    now = utcnow()
    _seed(
        "INSERT INTO outbound_runs (business_id, name, status, concurrency, started_at, "
        "finished_at, created_at, updated_at) "
        "SELECT :b, 'old', (ARRAY['completed', 'failed', 'cancelled'])[1 + i % 3], 1, "
        ":long_ago, :long_ago + i * interval '1 second', :long_ago, :long_ago "
        "FROM generate_series(1, :n) AS i",
        b=old.id,
        n=OLD // 5,
        long_ago=now - timedelta(days=400),
    )
    _seed(
        "INSERT INTO outbound_items (business_id, run_id, phone, status, attempts, "
        "created_at, updated_at) "
        "SELECT r.business_id, r.id, '+1999' || lpad(i::text, 7, '0'), "
        "(ARRAY['completed', 'failed', 'cancelled'])[1 + i % 3], 1, r.created_at, r.created_at "
        "FROM outbound_runs r, generate_series(1, 5) AS i WHERE r.business_id = :b",
        b=old.id,
    )
    _seed(
        "INSERT INTO outbound_runs (business_id, name, status, concurrency, heartbeat_at, "
        "started_at, finished_at, created_at, updated_at) VALUES "
        "(:orphaned, 'orphaned', 'running', 1, :stale, :stale, NULL, :stale, :stale), "
        "(:ended, 'ended', 'failed', 1, :recent, :recent, :recent, :recent, :recent), "
        "(:forgotten, 'forgotten', 'cancelled', 1, :long_ago, :long_ago, :long_ago, "
        ":long_ago, :long_ago)",
        orphaned=orphaned.id,
        ended=ended.id,
        forgotten=forgotten.id,
        stale=now - timedelta(hours=1),
        recent=now - timedelta(hours=2),
        long_ago=now - timedelta(days=400),
    )
    _seed(
        "INSERT INTO outbound_items (business_id, run_id, phone, status, attempts, "
        "created_at, updated_at) SELECT business_id, id, '+15550000001', "
        "CASE WHEN business_id = :ended THEN 'in_progress' ELSE 'dialing' END, 1, "
        "created_at, created_at FROM outbound_runs "
        "WHERE business_id IN (:orphaned, :ended, :forgotten)",
        orphaned=orphaned.id,
        ended=ended.id,
        forgotten=forgotten.id,
    )
    _prepare(("outbound_runs", "outbound_items"), analyzed)

    targets = outbound_scheduled.businesses_to_reconcile
    assert _assert_reads_only_what_is_due(_targets(targets, Tick(now))) == {
        orphaned.id,
        ended.id,
        forgotten.id,
    }
    if analyzed:
        # The reconcile job of a business with a year of runs: none orphaned, none to
        # settle. Analyzed only: without statistics the planner takes the business's index
        # as selective as ``running``'s and ANDs the two (its entries read, not its rows).
        _assert_reads_only_what_is_due(
            lambda: outbound_scheduled.reconcile_runs(old.id, resume=False, now=now)
        )


@ANALYZED
def test_the_reminders_sweep_reads_the_pending_reminders_due_only(
    new_database: Settings, analyzed: bool
) -> None:
    """Every minute: the reminders pending and due, not the ones sent over the year."""
    sent, due = make_business(), make_business()
    now = utcnow()
    _seed(
        "INSERT INTO reminders (business_id, title, due_at, status, sent_at, created_at, "
        "updated_at) SELECT :b, 'call back', :at - i * interval '10 minutes', 'sent', "
        ":at - i * interval '10 minutes', :at, :at FROM generate_series(1, :n) AS i",
        b=sent.id,
        n=OLD,
        at=now,
    )
    _seed(
        "INSERT INTO reminders (business_id, title, due_at, status, created_at, updated_at) "
        "VALUES (:due, 'now', :past, 'pending', :past, :past), "
        "(:sent, 'later', :future, 'pending', :past, :past)",
        due=due.id,
        sent=sent.id,
        past=now - timedelta(minutes=1),
        future=now + timedelta(days=1),
    )
    _prepare(("reminders",), analyzed)

    targets = notifications_scheduled.businesses_with_due_reminders
    assert _assert_reads_only_what_is_due(_targets(targets, Tick(now))) == {due.id}
    if analyzed:  # without statistics, the business's index is ANDed in (as the reconciler's)
        # The reminders job of the business with a year of reminders sent: none due.
        sent_now: list[int] = []
        _assert_reads_only_what_is_due(lambda: sent_now.append(send_due_reminders(sent.id, now)))
        assert sent_now == [0]


@ANALYZED
def test_the_whatsapp_sweep_reads_the_open_idle_sessions_only(
    new_database: Settings, analyzed: bool
) -> None:
    """Every minute: the open sessions idle for 15 minutes, not the ones closed with their
    summary over the year (one per burst of conversation)."""
    closed, idle = make_business(), make_business()
    now = utcnow()
    _seed(
        "INSERT INTO whatsapp_conversations (business_id, contact_number, business_number, "
        "created_at, updated_at) VALUES (:closed, '+19990000001', '+15550000000', :at, :at), "
        "(:idle, '+19990000002', '+15550000000', :at, :at)",
        closed=closed.id,
        idle=idle.id,
        at=now,
    )
    _seed(
        "INSERT INTO whatsapp_sessions (business_id, conversation_id, started_at, "
        "last_activity_at, closed_at, summary, created_at, updated_at) "
        "SELECT c.business_id, c.id, :at - i * interval '1 hour', :at - i * interval '1 hour', "
        ":at - i * interval '1 hour' + interval '15 minutes', 'done', :at, :at "
        "FROM whatsapp_conversations c, generate_series(1, :n) AS i WHERE c.business_id = :b",
        b=closed.id,
        n=OLD,
        at=now,
    )
    _seed(
        "INSERT INTO whatsapp_sessions (business_id, conversation_id, started_at, "
        "last_activity_at, created_at, updated_at) "
        "SELECT c.business_id, c.id, :at, :at, :at, :at FROM whatsapp_conversations c",
        at=now - timedelta(minutes=20),
    )
    _seed(  # the closed business's open session is still active: not idle
        "UPDATE whatsapp_sessions SET last_activity_at = :at "
        "WHERE business_id = :b AND closed_at IS NULL",
        b=closed.id,
        at=now,
    )
    _prepare(("whatsapp_sessions",), analyzed)

    targets = whatsapp_scheduled.businesses_with_idle_sessions
    assert _assert_reads_only_what_is_due(_targets(targets, Tick(now))) == {idle.id}

    def idle_sessions(session: Session, tick: Tick) -> list[int]:  # the sweep job's read
        found = idle_session_ids(session, tick.at - IDLE_AFTER, business_id=idle.id)
        return [business_id for business_id, _ in found]

    assert _assert_reads_only_what_is_due(_targets(idle_sessions, Tick(now))) == {idle.id}


def test_the_recordings_cleanup_reads_the_expired_recordings_only(new_database: Settings) -> None:
    """Once a day in each time zone: the recordings past their retention, not the week's
    recordings kept (the table holds up to ``RETENTION`` of them). Analyzed only: a generic
    plan guesses a third of any table for ``created_at < $1``, and without statistics a
    scan of a table is cheaper than reading a third of it through an index; a table holding
    a week of recordings has statistics (autovacuum analyzes it as it fills)."""
    kept, expired = make_business(), make_business()
    now = utcnow()
    _seed(
        "INSERT INTO recordings (business_id, recording_sid, call_sid, status, created_at, "
        "updated_at) SELECT :b, 'RE' || lpad(i::text, 32, '0'), 'CA' || lpad(i::text, 32, '0'), "
        "'completed', :at - (i % 6000) * interval '1 minute', :at "
        "FROM generate_series(1, :n) AS i",
        b=kept.id,
        n=OLD,
        at=now,
    )
    _seed(
        "INSERT INTO recordings (business_id, recording_sid, call_sid, status, created_at, "
        "updated_at) VALUES (:b, 'REold', 'CAold', 'completed', :at, :at)",
        b=expired.id,
        at=now - RETENTION - timedelta(hours=1),
    )
    _prepare(("recordings",), analyzed=True)
    with system_session() as session:
        zone = session.execute(
            text("SELECT timezone FROM businesses WHERE id = :b"), {"b": expired.id}
        ).scalar_one()

    targets = calls_scheduled.businesses_with_expired_recordings
    assert _assert_reads_only_what_is_due(_targets(targets, Tick(now, zone))) == {expired.id}


@ANALYZED
def test_the_job_ledger_s_retention_reads_the_jobs_past_it_only(
    new_database: Settings, analyzed: bool
) -> None:
    """Once a day, for each business: the jobs finished more than ``JOB_RETENTION_DAYS`` ago,
    through the ``(business_id, status, enqueued_at)`` index, not the fortnight's kept."""
    business = make_business()
    now = utcnow()
    dsn = new_database.database_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn, autocommit=True) as admin:
        add_jobs(admin, business.id, OLD, "succeeded")
        admin.execute(
            "UPDATE jobs SET enqueued_at = %(old)s, updated_at = %(old)s WHERE id IN "
            "(SELECT id FROM jobs WHERE business_id = %(b)s ORDER BY id LIMIT 5)",
            {"old": now - timedelta(days=30), "b": business.id},
        )
    _prepare(("jobs",), analyzed)

    removed: list[int] = []
    _assert_reads_only_what_is_due(
        lambda: removed.append(operations_scheduled.prune_business_jobs(business.id, now))
    )
    assert removed == [5]
