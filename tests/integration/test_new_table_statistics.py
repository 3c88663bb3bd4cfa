"""A new database's tables get statistics within seconds (the scheduler's bookkeeping)."""

from __future__ import annotations

import pytest

from switchboard.common.db.statistics import analyze_new_tables
from switchboard.common.settings import Settings
from tests.support.database import on_own_connection
from tests.support.factories import make_business
from tests.support.waiting import wait_for

pytestmark = pytest.mark.integration


def _changes(table: str) -> int:
    rows = on_own_connection(
        "SELECT n_mod_since_analyze FROM pg_stat_user_tables WHERE relname = %(t)s", {"t": table}
    )
    return int(rows[0][0])


def _analyzed(table: str) -> bool:
    rows = on_own_connection(
        "SELECT last_analyze IS NOT NULL FROM pg_stat_user_tables WHERE relname = %(t)s",
        {"t": table},
    )
    return bool(rows[0][0])


def test_a_new_table_that_filled_up_is_analyzed_once(new_database: Settings) -> None:
    business = make_business()
    on_own_connection(
        "INSERT INTO jobs (id, queue_name, actor_name, status, attempts, deliveries, failures, "
        "max_retries, message, enqueued_at, updated_at, business_id) "
        "SELECT md5(i::text), 'q', 'a', 'succeeded', 1, 1, 0, 0, '{}', now(), now(), %(b)s "
        "FROM generate_series(1, 600) AS i",
        {"b": business.id},
    )
    wait_for(lambda: _changes("jobs") >= 600, what="the inserts in the table's statistics")
    assert not _analyzed("jobs")

    assert analyze_new_tables(min_changes=500) == ["jobs"]  # the business's tables: a row each
    assert _analyzed("jobs")
    assert not _analyzed("businesses")
    assert analyze_new_tables(min_changes=500) == []  # once: autovacuum's from then on
