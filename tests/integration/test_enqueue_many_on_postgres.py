"""``enqueue_many`` on PostgreSQL: one statement (migration 0010's ``switchboard_enqueue_jobs``)
writes the rows ``enqueue`` writes, one job at a time, and the outbox publishes them."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import event, func, select

from switchboard.common.db import system_session, tenant_session
from switchboard.common.jobs import enqueue
from switchboard.common.jobs.broker import get_broker
from switchboard.common.jobs.enqueue import enqueue_many, prepare_job
from switchboard.common.models import Job, OutboxMessage
from switchboard.common.settings import Settings
from tests.support import actors
from tests.support.factories import make_business

pytestmark = pytest.mark.integration

#: Columns that differ between any two jobs, or with the moment they were written.
_OWN = {"id", "message", "enqueued_at", "updated_at", "dedup_key", "dedup_window_key"}


def _row(job_id: str) -> dict[str, Any]:
    with system_session() as session:
        return dict(session.execute(select(Job.__table__).where(Job.id == job_id)).mappings().one())


def test_a_batch_writes_what_enqueue_writes_in_one_statement(pg: Settings) -> None:
    business = make_business()
    get_broker().declare_queue(actors.NOOP.queue)
    single = enqueue(actors.NOOP, business_id=business.id)
    batch = [prepare_job(actors.NOOP, business_id=business.id, key=f"k{n}") for n in range(3)]
    taken = prepare_job(actors.NOOP, business_id=business.id, key="k1")
    with tenant_session(business.id) as session:
        statements: list[str] = []
        connection = session.connection()

        def count(*args: Any) -> None:
            statements.append(args[2])

        event.listen(connection, "before_cursor_execute", count)
        refs = enqueue_many([*batch, taken])
        event.remove(connection, "before_cursor_execute", count)

    assert len(statements) == 2  # the batch's insert, and the lookup of the taken key's holder
    assert [ref.created for ref in refs] == [True, True, True, False]
    assert refs[3].job_id == batch[1].message.message_id
    expected = {k: v for k, v in _row(single.job_id).items() if k not in _OWN}
    for job in batch:
        row = _row(job.message.message_id)
        assert {k: v for k, v in row.items() if k not in _OWN} == expected
        assert row["dedup_key"] == job.dedup_key
        assert json.loads(row["message"]) == json.loads(job.payload)
    with system_session() as session:  # published after commit: no outbox row is left
        left = select(func.count()).select_from(OutboxMessage)
        assert session.scalar(left.where(OutboxMessage.business_id == business.id)) == 0
