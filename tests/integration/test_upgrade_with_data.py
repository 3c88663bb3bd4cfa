"""An operator's upgrade: a database written by the first release, several businesses' rows in
it, brought to head by ``switchboard migrate``; every old row is still there, and the API and
a worker of this release work on it (a job queued before the upgrade runs after it)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from alembic import command
from sqlalchemy import Connection, create_engine, inspect, text
from sqlalchemy.engine import make_url

from switchboard.common.jobs.enqueue import prepare_job
from switchboard.common.migrate import alembic_config, head_revision
from switchboard.common.settings import get_settings
from switchboard.domain.businesses.accounts import hash_api_key
from tests.support import actors, services
from tests.support.environment import configured
from tests.support.processes import ServiceProcess, free_port, service_env
from tests.support.waiting import wait_for

pytestmark = pytest.mark.integration

#: The first release: every later migration runs on its rows (0002's job indexes, 0012's
#: rewrite of outbound items, 0015's system role, 0022's fair share, 0029's numbers…).
OLD = "0001"
#: Parked events began at 0013.
PARKED = "0013"
NOW = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)
STATUSES = ("queued", "running", "succeeded", "failed", "dead", "cancelled")


@pytest.fixture
def old_database(admin_database_url: str, amqp_url: str, tmp_path: Path) -> Iterator[str]:
    url = services.create_database(admin_database_url)
    try:
        with configured(database_url=url, amqp_url=amqp_url, var_dir=str(tmp_path)):
            yield url
    finally:
        services.drop_database(admin_database_url, url)


@pytest.fixture
def login_role(admin_database_url: str, old_database: str) -> Iterator[str]:
    """The URL of a login role that owns nothing, as production's services log in with (the
    old release ran as the owner: roles began at 0015)."""
    role, password = f"sb_app_{uuid.uuid4().hex[:10]}", uuid.uuid4().hex
    with psycopg.connect(admin_database_url, autocommit=True) as conn:
        conn.execute(f"CREATE ROLE {role} LOGIN PASSWORD '{password}' NOSUPERUSER NOBYPASSRLS")
    try:
        yield make_url(old_database).set(username=role, password=password).render_as_string(False)
    finally:
        with psycopg.connect(admin_database_url, autocommit=True) as conn:
            conn.execute(
                f'DROP DATABASE IF EXISTS "{make_url(old_database).database}" WITH (FORCE)'
            )
            conn.execute(f"DROP ROLE IF EXISTS {role}")


def _migrate(conn: Connection, target: str) -> None:
    command.upgrade(alembic_config(conn), target)
    conn.commit()


def _insert(conn: Connection, table: str, **values: Any) -> int:
    columns = ", ".join(values)
    params = ", ".join(f":{name}" for name in values)
    row = conn.execute(
        text(f"INSERT INTO {table} ({columns}) VALUES ({params}) RETURNING id"), values
    )
    return row.scalar_one()


def _stamp(**values: Any) -> dict[str, Any]:
    return {"created_at": NOW, "updated_at": NOW, **values}


def _business(conn: Connection, n: int) -> dict[str, Any]:
    """One business as an old release left it: agent, key, leads, calls, a chat, an outbound
    run, a reminder, a recording, and jobs in every status (one still queued in the outbox)."""
    bid = _insert(
        conn,
        "businesses",
        **_stamp(
            name=f"Plumbing {n}",
            phone_number=f"+1555010{n:04d}",
            timezone="America/New_York",
            recording_enabled=True,
            max_call_seconds=600,
            outbound_concurrency_cap=2,
            whatsapp_concurrency=4,
        ),
    )
    _insert(
        conn,
        "agent_settings",
        **_stamp(
            business_id=bid,
            agent_name="Ava",
            greeting="Hello",
            instructions="Book jobs",
            voice="alloy",
            language="en",
            silence_timeout_s=8,
        ),
    )
    key = f"sbk_old_{uuid.uuid4().hex}"
    _insert(
        conn,
        "api_keys",
        **_stamp(business_id=bid, name="default", prefix=key[:12], key_hash=hash_api_key(key)),
    )
    leads = [
        _insert(
            conn,
            "leads",
            **_stamp(
                business_id=bid,
                phone=f"+1555020{n:02d}{i:02d}",
                name=f"Lead {i}",
                status="new",
                source="call",
            ),
        )
        for i in range(3)
    ]
    calls = []
    for i, lead in enumerate(leads):
        sid = f"CA{uuid.uuid4().hex}"
        calls.append(
            _insert(
                conn,
                "call_logs",
                **_stamp(
                    business_id=bid,
                    call_sid=sid,
                    lead_id=lead,
                    direction="inbound",
                    from_number=f"+1555020{n:02d}{i:02d}",
                    to_number=f"+1555010{n:04d}",
                    status="completed",
                    started_at=NOW,
                    ended_at=NOW + timedelta(minutes=2),
                    duration_s=120.0,
                    transcript=json.dumps([{"role": "caller", "text": "my sink leaks"}]),
                    summary="A leaking sink",
                ),
            )
        )
        _insert(
            conn,
            "call_sessions",
            **_stamp(business_id=bid, call_sid=sid, state="ended", started_at=NOW, ended_at=NOW),
        )
    _insert(
        conn,
        "recordings",
        **_stamp(
            business_id=bid,
            recording_sid=f"RE{uuid.uuid4().hex}",
            call_sid=f"CA{uuid.uuid4().hex}",
            call_log_id=calls[0],
            status="stored",
            duration_s=120.0,
        ),
    )
    chat = _insert(
        conn,
        "whatsapp_conversations",
        **_stamp(
            business_id=bid,
            lead_id=leads[0],
            contact_number=f"+1555020{n:02d}00",
            business_number=f"+1555010{n:04d}",
            last_message_at=NOW,
        ),
    )
    for direction, body in (("in", "Are you open?"), ("out", "Yes, until 6")):
        _insert(
            conn,
            "whatsapp_messages",
            **_stamp(
                business_id=bid,
                conversation_id=chat,
                direction=direction,
                message_sid=f"SM{uuid.uuid4().hex}",
                body=body,
                status="replied" if direction == "in" else "sent",
                attempts=1 if direction == "out" else 0,
            ),
        )
    _insert(
        conn,
        "whatsapp_sessions",
        **_stamp(business_id=bid, conversation_id=chat, started_at=NOW, last_activity_at=NOW),
    )
    run = _insert(
        conn,
        "outbound_runs",
        **_stamp(business_id=bid, name="November", status="completed", concurrency=2),
    )
    for i, lead in enumerate(leads):  # the first was dialled, the others were not reached
        _insert(
            conn,
            "outbound_items",
            **_stamp(
                business_id=bid,
                run_id=run,
                lead_id=lead,
                phone=f"+1555020{n:02d}{i:02d}",
                status="completed" if i == 0 else "failed",
                attempts=1,
                call_sid=f"CA{uuid.uuid4().hex}" if i == 0 else None,
            ),
        )
    _insert(
        conn,
        "reminders",
        **_stamp(
            business_id=bid, lead_id=leads[1], title="Call back", due_at=NOW, status="pending"
        ),
    )
    jobs = {}
    for status in STATUSES:
        job = prepare_job(actors.RECORD_LEAD, business_id=bid, phone=f"+1555030{n:02d}00")
        row = job.ledger_row()
        del row["parked_at"], row["cancel_requested"]  # 0012 and 0022's columns
        row.update(status=status, enqueued_at=NOW, updated_at=NOW)
        if status != "queued":
            row.update(attempts=1, deliveries=1, started_at=NOW)
        if status in ("failed", "dead"):
            row.update(failures=1, last_error="RuntimeError: boom", finished_at=NOW)
        conn.execute(
            text(f"INSERT INTO jobs ({', '.join(row)}) VALUES ({', '.join(':' + c for c in row)})"),
            row,
        )
        jobs[status] = row["id"]
    queued = jobs["queued"]
    _insert(
        conn,
        "outbox",
        job_id=queued,
        queue_name=actors.RECORD_LEAD.queue,
        payload=conn.execute(
            text("SELECT message FROM jobs WHERE id = :id"), {"id": queued}
        ).scalar_one(),
        created_at=NOW,
        business_id=bid,
    )
    return {"id": bid, "key": key, "leads": leads, "calls": calls, "run": run, "jobs": jobs}


def _snapshot(conn: Connection) -> dict[str, list[dict[str, Any]]]:
    tables = [t for t in inspect(conn).get_table_names() if t != "alembic_version"]
    return {
        table: [dict(r) for r in conn.execute(text(f"SELECT * FROM {table} ORDER BY 1")).mappings()]
        for table in tables
    }


def _same_columns(conn: Connection, before: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """The old tables' rows now, read on the columns they had before."""
    now = {}
    for table, rows in before.items():
        columns = list(rows[0]) if rows else ["1"]
        query = f"SELECT {', '.join(columns)} FROM {table} ORDER BY 1"
        now[table] = [dict(r) for r in conn.execute(text(query)).mappings()] if rows else []
    return now


def test_an_old_release_s_data_survives_the_upgrade_and_this_release_works_on_it(
    old_database: str, login_role: str, amqp_url: str, tmp_path: Path
) -> None:
    engine = create_engine(old_database)
    try:
        with engine.connect() as conn:
            _migrate(conn, OLD)
            businesses = [_business(conn, n) for n in range(3)]
            conn.commit()
            _migrate(conn, PARKED)
            _insert(
                conn,
                "parked_events",
                event_id=f"evt-{uuid.uuid4().hex}",
                event_type="call.ended",
                event_business_id=businesses[0]["id"],
                call_sid=f"CA{uuid.uuid4().hex}",
                body=b'{"type": "call.ended"}',
                error="RuntimeError: boom",
                failures=3,
                parked_at=NOW,
                failed_at=NOW,
            )
            conn.commit()
            before = _snapshot(conn)

        env = service_env(
            database_url=login_role,
            migration_database_url=old_database,
            amqp_url=amqp_url,
            var_dir=str(tmp_path),
        )
        migrate = ServiceProcess(["migrate"], {**env, "LOG_LEVEL": "INFO"}, tmp_path / "m.log")
        assert migrate.proc.wait(120) == 0, migrate.output()
        assert "migrations.applied" in migrate.output()
        role = make_url(login_role).username or ""
        grant = ServiceProcess(["db", "grant-app-role", role], env, tmp_path / "grant.log")
        assert grant.proc.wait(120) == 0, grant.output()

        with engine.connect() as conn:
            assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == (
                head_revision()
            )
            assert _same_columns(conn, before) == before
            placed = conn.execute(
                text("SELECT call_sid IS NOT NULL, calls_placed FROM outbound_items")
            ).all()
            assert sorted(set(placed)) == [(False, 0), (True, 1)]  # 0012's rewrite
    finally:
        engine.dispose()

    _the_api_lists_each_business_s_rows(env, tmp_path, businesses)
    _the_job_queued_before_the_upgrade_runs(env, tmp_path, businesses[1])


def _the_api_lists_each_business_s_rows(
    env: dict[str, str], tmp_path: Path, businesses: list[dict[str, Any]]
) -> None:
    port = free_port()
    api = ServiceProcess(
        ["api", "--port", str(port)],
        {**env, "SERVICE_ROLE": "api", "ENABLE_SCHEDULERS": "false"},
        tmp_path / "api.log",
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: _answers(f"{base}/ready"), timeout=60, what="the API to be ready")
        for business in businesses:
            headers = {"Authorization": f"Bearer {business['key']}"}

            def ids(path: str, headers: dict[str, str] = headers) -> list[int]:
                response = httpx.get(f"{base}{path}", headers=headers, timeout=10)
                assert response.status_code == 200, (path, response.text)
                return sorted(item["id"] for item in response.json()["items"])

            assert ids("/api/v1/leads") == sorted(business["leads"])
            assert ids("/api/v1/calls") == sorted(business["calls"])
            assert ids("/api/v1/outbound-runs") == [business["run"]]
            assert len(ids("/api/v1/conversations")) == 1
            jobs = httpx.get(f"{base}/api/v1/jobs", headers=headers, timeout=10).json()
            assert sorted(j["status"] for j in jobs["items"]) == sorted(STATUSES)
        admin = {"Authorization": f"Bearer {get_settings().admin_api_key}"}
        parked = httpx.get(f"{base}/api/v1/admin/parked-events", headers=admin, timeout=10)
        assert parked.status_code == 200, parked.text
        assert len(parked.json()["items"]) == 1
    finally:
        api.stop()
        print(api.output()[-4000:])  # shown by pytest only when the test failed


def _the_job_queued_before_the_upgrade_runs(
    env: dict[str, str], tmp_path: Path, business: dict[str, Any]
) -> None:
    worker = ServiceProcess(
        [
            "worker",
            "tests.support.actors",
            "--processes",
            "1",
            "--threads",
            "2",
            "--queue",
            actors.RECORD_LEAD.queue,
        ],
        env,
        tmp_path / "worker.log",
    )
    engine = create_engine(env["MIGRATION_DATABASE_URL"])
    query = text("SELECT status FROM jobs WHERE id = :id")
    try:

        def status() -> str:
            with engine.connect() as conn:
                return str(conn.execute(query, {"id": business["jobs"]["queued"]}).scalar())

        wait_for(lambda: status() == "succeeded", timeout=60, what="the old queued job to run")
        with engine.connect() as conn:
            phones = conn.execute(
                text("SELECT phone FROM leads WHERE business_id = :b AND source = 'test'"),
                {"b": business["id"]},
            ).scalars()
            assert list(phones) == ["+15550300100"]  # business 1's job
            others = conn.execute(
                text("SELECT id, status FROM jobs WHERE business_id = :b AND id <> :id"),
                {"b": business["id"], "id": business["jobs"]["queued"]},
            ).all()
        assert sorted(s for _, s in others) == sorted(set(STATUSES) - {"queued"})
    finally:
        worker.stop()
        engine.dispose()
        print(worker.output()[-4000:])


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False
