"""The job insert's one SQL definition: migration 0010's ``switchboard_enqueue_jobs``.

The rows it writes, directly or through the functions that store an inbound message, a batch of
them and the agent's reply, must be the ones ``PreparedJob.ledger_row`` describes (what the ORM
writes on SQLite), with the outbox row ``enqueue`` adds, so the two definitions cannot drift
apart. The migration goes down to the definitions it replaced and up again.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from alembic import command
from sqlalchemy import delete, select, text

from switchboard.common.db import system_session, tenant_session
from switchboard.common.db.base import utcnow
from switchboard.common.db.engine import autocommit_connection, get_engine
from switchboard.common.jobs.catalog import OUTBOUND_RUN, PROCESS_WHATSAPP_WEBHOOK
from switchboard.common.jobs.enqueue import PreparedJob, prepare_job
from switchboard.common.migrate import alembic_config
from switchboard.common.models import Job, OutboxMessage
from switchboard.common.settings import Settings, get_settings
from tests.support.factories import TestBusiness, make_business, unique_phone

pytestmark = pytest.mark.integration

_ENQUEUE = text(
    "SELECT * FROM switchboard_enqueue_jobs(:business_id, :now, :ids, :queues, :actors, "
    "CAST(:retries AS integer[]), :messages, :keys, :windows, CAST(:runs AS bigint[]))"
)
_STORE_ONE = text(
    "SELECT * FROM switchboard_store_inbound_whatsapp(:role, :business_id, :contact, :number, "
    ":sid, :body, :job_id, :queue, :actor, :retries, :payload, :now)"
)
_STORE_BATCH = text(
    "SELECT * FROM switchboard_store_inbound_whatsapp_batch(:role, :business_id, :contacts, "
    ":numbers, :sids, :bodies, :job_ids, :payloads, :queue, :actor, :retries, :now)"
)
_STORE_REPLY = text(
    "SELECT * FROM switchboard_whatsapp_store_reply(:role, :business_id, :message_id, "
    ":conversation_id, :body, :now, 'sending', NULL, NULL, 'other', 'new')"
)


def _migration(module: str) -> Any:
    return importlib.import_module(f"switchboard.common.migrations.versions.{module}")


@pytest.fixture
def business(pg: Settings) -> Iterator[TestBusiness]:
    """A business whose outbox rows are removed afterwards (the relay tests publish them all)."""
    created = make_business()
    yield created
    with system_session() as session:
        session.execute(delete(OutboxMessage).where(OutboxMessage.business_id == created.id))


def _assert_written(job: PreparedJob, now: datetime, message_id: int | None = None) -> None:
    """The job's row is ``ledger_row`` (written at ``now``; its ``message_id`` filled in, if
    given), every other column empty, and its outbox row carries the same message."""
    expected: dict[str, Any] = {column.name: None for column in Job.__table__.columns}
    expected.update(job.ledger_row(), enqueued_at=now, updated_at=now)
    # Only ledger_row's columns have Python-side defaults, which the SQL function cannot apply.
    defaulted = {column.name for column in Job.__table__.columns if column.default is not None}
    assert defaulted <= set(job.ledger_row())
    with tenant_session(job.business_id) as session:
        row = dict(
            session.execute(select(Job.__table__).where(Job.id == job.message.message_id))
            .mappings()
            .one()
        )
        outbox = session.execute(
            select(OutboxMessage).where(OutboxMessage.job_id == job.message.message_id)
        ).scalar_one()
        assert (outbox.business_id, outbox.queue_name, outbox.payload) == (
            job.business_id,
            job.message.queue_name,
            row["message"],
        )
    message, expected_message = json.loads(row.pop("message")), json.loads(expected.pop("message"))
    if message_id is not None:
        expected_message["kwargs"]["message_id"] = message_id
    assert message == expected_message
    assert row == expected


def test_the_functions_that_write_jobs_all_call_the_one_insert(pg: Settings) -> None:
    with system_session() as session:
        sources = dict(
            session.execute(
                text("SELECT proname, prosrc FROM pg_proc WHERE proname LIKE 'switchboard_%'")
            ).all()
        )
    assert "switchboard_enqueue_jobs" in sources
    writers = [name for name, source in sources.items() if "INSERT INTO jobs" in source]
    assert writers == ["switchboard_enqueue_jobs"]
    for caller in (
        "switchboard_store_inbound_whatsapp",
        "switchboard_store_inbound_whatsapp_batch",
    ):
        assert "switchboard_enqueue_jobs(" in sources[caller], caller


def test_the_insert_writes_the_ledger_row_and_ignores_a_taken_key(business: TestBusiness) -> None:
    # Every value ledger_row takes from the job: a key, its window and a run.
    job = prepare_job(
        OUTBOUND_RUN, business_id=business.id, key=f"run-{business.id}", period=3600, run_id=7
    )
    again = prepare_job(
        OUTBOUND_RUN, business_id=business.id, key=f"run-{business.id}", period=3600, run_id=7
    )
    now = utcnow()
    written = []
    for each in (job, again):
        with tenant_session(business.id) as session:
            rows = session.execute(
                _ENQUEUE,
                {
                    "business_id": business.id,
                    "now": now,
                    "ids": [each.message.message_id],
                    "queues": [each.message.queue_name],
                    "actors": [each.message.actor_name],
                    "retries": [each.max_retries],
                    "messages": [each.payload],
                    "keys": [each.dedup_key],
                    "windows": [each.window],
                    "runs": [each.run_id],
                },
            ).all()
        written.append(rows)

    assert [(job_id, payload) for job_id, _, payload in written[0]] == [
        (job.message.message_id, job.payload)
    ]
    assert written[1] == []  # the key's window is taken: nothing written, as enqueue_unique
    _assert_written(job, now)


def test_the_inbound_functions_write_the_ledger_row(business: TestBusiness) -> None:
    role, now = get_settings().db_app_role, utcnow()
    jobs = [
        prepare_job(PROCESS_WHATSAPP_WEBHOOK, business_id=business.id, message_id=0)
        for _ in range(3)
    ]
    sids = [f"SM{unique_phone()[1:]}j{n}" for n in range(3)]
    contacts = [unique_phone() for _ in range(3)]
    with autocommit_connection() as conn:
        one = conn.execute(
            _STORE_ONE,
            {
                "role": role,
                "business_id": business.id,
                "contact": contacts[0],
                "number": business.phone_number,
                "sid": sids[0],
                "body": "Hi",
                "job_id": jobs[0].message.message_id,
                "queue": jobs[0].message.queue_name,
                "actor": jobs[0].message.actor_name,
                "retries": jobs[0].max_retries,
                "payload": jobs[0].payload,
                "now": now,
            },
        ).all()[0][0]
        batch = conn.execute(
            _STORE_BATCH,
            {
                "role": role,
                "business_id": business.id,
                "contacts": contacts[1:],
                "numbers": [business.phone_number] * 2,
                "sids": sids[1:],
                "bodies": ["Hello", "Again"],
                "job_ids": [job.message.message_id for job in jobs[1:]],
                "payloads": [job.payload for job in jobs[1:]],
                "queue": jobs[1].message.queue_name,
                "actor": jobs[1].message.actor_name,
                "retries": jobs[1].max_retries,
                "now": now,
            },
        ).all()

    _assert_written(jobs[0], now, message_id=one)
    by_position = {position: message_id for position, message_id, *_ in batch}
    _assert_written(jobs[1], now, message_id=by_position[1])
    _assert_written(jobs[2], now, message_id=by_position[2])


def test_the_reply_function_queues_no_job(business: TestBusiness) -> None:
    """The reply job sends its reply and the same answer gave the lead's fields (0021)."""
    role, now = get_settings().db_app_role, utcnow()
    inbound = prepare_job(PROCESS_WHATSAPP_WEBHOOK, business_id=business.id, message_id=0)
    with autocommit_connection() as conn:
        message_id = conn.execute(
            _STORE_ONE,
            {
                "role": role,
                "business_id": business.id,
                "contact": unique_phone(),
                "number": business.phone_number,
                "sid": f"SM{unique_phone()[1:]}r",
                "body": "Hi",
                "job_id": inbound.message.message_id,
                "queue": inbound.message.queue_name,
                "actor": inbound.message.actor_name,
                "retries": inbound.max_retries,
                "payload": inbound.payload,
                "now": now,
            },
        ).all()[0][0]
        conversation_id = conn.execute(
            text("SELECT conversation_id FROM whatsapp_messages WHERE id = :id"),
            {"id": message_id},
        ).scalar_one()
        rows = conn.execute(
            _STORE_REPLY,
            {
                "role": role,
                "business_id": business.id,
                "message_id": message_id,
                "conversation_id": conversation_id,
                "body": "Hello!",
                "now": now,
            },
        ).all()

    [(state, reply_id, *_)] = rows
    assert state == "ok" and reply_id is not None
    with tenant_session(business.id) as session:
        actors = session.execute(select(Job.actor_name)).scalars().all()
    assert actors == [PROCESS_WHATSAPP_WEBHOOK.name]  # the inbound's reply job, nothing more


def test_the_migration_goes_down_to_the_definitions_it_replaced_and_up_again(
    new_database: Settings,
) -> None:
    replaced = {
        "switchboard_store_inbound_whatsapp": _migration("0003_whatsapp_inbound_function").CREATE,
        "switchboard_store_inbound_whatsapp_batch": _migration(
            "0005_whatsapp_inbound_batch_function"
        ).CREATE,
        "switchboard_whatsapp_store_reply": _migration(
            "0006_whatsapp_reply_functions"
        ).CREATE_STORE,
    }
    latest = _migration("0040_repeated_message_leaves_conversation")
    current = {  # 0022 parks a job whose business has jobs parked in its queue (fair share);
        # 0024 looks for them once per queue of the batch; 0040 leaves a repeat's conversation
        "switchboard_enqueue_jobs": _migration("0024_enqueue_probes_parked_once").CREATE_ENQUEUE,
        "switchboard_store_inbound_whatsapp": latest.STORE_INBOUND,
        "switchboard_store_inbound_whatsapp_batch": latest.STORE_INBOUND_BATCH,
        "switchboard_whatsapp_store_reply": _migration(
            "0021_reply_sent_by_its_reply_job"
        ).STORE_REPLY,
    }

    def bodies() -> dict[str, str]:
        with get_engine().connect() as conn:
            rows = conn.execute(
                text("SELECT proname, prosrc FROM pg_proc WHERE proname = ANY(:names)"),
                {"names": list(current)},
            ).all()
        return dict(rows)

    def body(create: str) -> str:
        return create.split("$fn$")[1]

    assert bodies() == {name: body(create) for name, create in current.items()}
    with get_engine().connect() as conn:
        command.downgrade(alembic_config(conn), "0009")
        conn.commit()
    assert bodies() == {name: body(create) for name, create in replaced.items()}
    with get_engine().connect() as conn:
        command.upgrade(alembic_config(conn), "head")
        conn.commit()
    assert bodies() == {name: body(create) for name, create in current.items()}
