"""Erasure requests racing for real on PostgreSQL: identical requests at the same instant
start one erasure, and every other answers it as a repeat (the number's lock, then migration
0031's one unfinished erasure per number)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest
from sqlalchemy import func, select

from switchboard.common.db import system_session
from switchboard.common.models import Erasure, Job
from switchboard.common.settings import Settings
from tests.support.factories import make_business, unique_phone
from tests.support.waiting import wait_for
from tests.unit.api.rows import auth

pytestmark = pytest.mark.integration
WAIT_S = 30
RACERS = 8


def test_identical_requests_at_the_same_instant_start_one_erasure(client, pg: Settings) -> None:
    business = make_business()
    phone = unique_phone()
    headers = auth(business.api_key)
    dsn = pg.database_url.replace("postgresql+psycopg://", "postgresql://")

    with (
        psycopg.connect(dsn) as holder,
        psycopg.connect(dsn, autocommit=True) as watcher,
        ThreadPoolExecutor(RACERS) as pool,
    ):
        # Reads go on, inserts wait: the first request to take the number's lock finds no
        # unfinished erasure and queues its insert behind the table's lock; the others wait
        # for the number's lock, as if they had all arrived at the same instant.
        holder.execute("LOCK TABLE erasures IN SHARE MODE")
        racing = [
            pool.submit(client.post, "/api/v1/erasures", json={"phone": phone}, headers=headers)
            for _ in range(RACERS)
        ]

        def waiting(statement: str) -> int:
            query = (
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                " AND wait_event_type = 'Lock' AND query LIKE %s"
            )
            row = watcher.execute(query, (statement,)).fetchone()
            return int(row[0]) if row else 0

        def all_wait() -> bool:
            inserting = waiting("INSERT INTO erasures%")
            return (inserting, waiting("SELECT pg_advisory_xact_lock%")) == (1, RACERS - 1)

        try:
            wait_for(all_wait, timeout=WAIT_S, what="one insert and the others' number lock")
        finally:
            holder.rollback()  # else a failed wait leaves every request hanging on the lock
        answers = [future.result(timeout=WAIT_S) for future in racing]

    assert [answer.status_code for answer in answers] == [202] * RACERS
    bodies = [answer.json() for answer in answers]
    assert len({body["id"] for body in bodies}) == 1, bodies
    assert sorted(body["repeated"] for body in bodies) == [False] + [True] * (RACERS - 1)
    with system_session() as session:
        erasures = session.scalar(
            select(func.count()).select_from(Erasure).where(Erasure.business_id == business.id)
        )
        jobs = session.scalar(
            select(func.count())
            .select_from(Job)
            .where(Job.business_id == business.id, Job.actor_name == "erase_person_job")
        )
    assert (erasures, jobs) == (1, 1)
