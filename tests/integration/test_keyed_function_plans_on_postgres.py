"""The functions that look rows up by key use the indexes whatever the statistics say
(migration 0023, ``db/planner.py``): answering a message in a database whose tables were
analyzed small reads no table sequentially."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from importlib import import_module
from typing import Any

import psycopg
import pytest
from sqlalchemy import text

from switchboard.api.adapters.whatsapp_inbound import open_postgres_inbound_store
from switchboard.common.db import planner
from switchboard.common.db.base import utcnow
from switchboard.common.db.engine import get_engine
from switchboard.common.settings import Settings
from switchboard.domain.whatsapp.inbound import InboundMessage, store_inbound
from tests.support.factories import make_business, unique_phone

pytestmark = pytest.mark.integration

KEYED = (
    *import_module("switchboard.common.migrations.versions.0023_keyed_function_plans").KEYED,
    "switchboard_slot_limit",  # 0025
)
#: Functions that scan, and keep the server's defaults.
SCANNING = {"switchboard_sweep_slots"}


def test_every_function_of_ours_plans_by_key_unless_it_scans(pg: Settings) -> None:
    with get_engine().connect() as conn:
        rows = conn.execute(
            text(
                "SELECT p.proname, p.proconfig, l.lanname FROM pg_proc p "
                "JOIN pg_language l ON l.oid = p.prolang WHERE p.proname LIKE 'switchboard%'"
            )
        ).all()
    settings = {name: config for name, config, _ in rows}
    assert set(settings) == set(KEYED) | SCANNING  # a new function is placed
    for name in KEYED:
        assert {f"{key}={value}" for key, value in planner.KEYED_SETTINGS.items()} <= set(
            settings[name] or []
        ), name
    # PL/pgSQL keeps each statement's plan for the session. An SQL function that PostgreSQL
    # does not inline (a body with a subquery, a ``SET`` clause) plans it on every call:
    # ``switchboard_slot_limit`` did so, once per job started (migration 0025).
    assert {name: language for name, _, language in rows} == dict.fromkeys(settings, "plpgsql")


@pytest.fixture
def dsn(new_database: Settings) -> Iterator[str]:
    yield new_database.database_url.replace("postgresql+psycopg://", "postgresql://")


def _sequential_reads(dsn: str, sql: str, params: Sequence[Any]) -> tuple[Any, list[str]]:
    """Run one call in a transaction of its own: its row, and the tables it (or a check its
    writes fired) read sequentially."""
    with psycopg.connect(dsn) as conn:
        row = conn.execute(sql, params).fetchone()
        scanned = conn.execute(
            "SELECT relname FROM pg_stat_xact_user_tables WHERE seq_scan > 0 ORDER BY relname"
        ).fetchall()
    return row, [name for (name,) in scanned]


def test_answering_a_message_reads_no_table_sequentially(dsn: str) -> None:
    business = make_business()
    contact = unique_phone()
    message_id = store_inbound(
        business.id,
        InboundMessage("SM" + contact[1:], f"whatsapp:{contact}", business.phone_number, "Hi"),
    )
    with psycopg.connect(dsn, autocommit=True) as admin:
        admin.execute("ANALYZE")  # a handful of rows each: a scan is cheapest by the statistics
    role, now = "switchboard_app", utcnow()

    context, scanned = _sequential_reads(
        dsn,
        "SELECT * FROM switchboard_whatsapp_reply_context(%s, %s, %s, %s, %s, %s, %s, %s, %s)",
        (role, business.id, message_id, "process_whatsapp_webhook_job", 10, now, None, None, "w"),
    )
    assert context[0] == "ok"
    assert scanned == []
    stored, scanned = _sequential_reads(
        dsn,
        "SELECT * FROM switchboard_whatsapp_store_reply("
        "%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
        (
            role,
            business.id,
            message_id,
            context[1],
            "Hello",
            now,
            "sending",
            None,
            None,
            "other",
            "new",
        ),
    )
    assert stored[0] == "ok"
    assert scanned == []
    (sent,), scanned = _sequential_reads(
        dsn,
        "SELECT switchboard_whatsapp_record_send(%s, %s, %s, %s, %s, %s, %s)",
        (role, business.id, stored[1], "sent", "SM" + "1" * 32, None, now),
    )
    assert sent is True
    assert scanned == []


async def test_the_webhook_store_s_connections_plan_by_key(pg: Settings) -> None:
    """Its own statements (the number's owner, the outbox deletes) are lookups by key too."""
    store = await open_postgres_inbound_store(pg, lambda pending: None)
    try:
        async with store._pool.connection() as conn:
            for name, value in planner.KEYED_SETTINGS.items():
                cursor = await conn.execute(f"SHOW {name}")
                assert await cursor.fetchone() == (value,), name
    finally:
        await store.close()
