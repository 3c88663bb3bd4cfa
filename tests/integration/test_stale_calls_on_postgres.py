"""On PostgreSQL, the stale-call sweep ends the calls a dead gateway left ``in-progress``: only
those quiet past their business's longest call plus the grace, or whose outbound item Twilio
already ended; only the business's own; once; and a real end arriving later still wins. The
last test runs the job in a ``switchboard worker`` process over RabbitMQ."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import timedelta

import psycopg.sql
import pytest
from sqlalchemy import func, select, text, update
from sqlalchemy.dialects import postgresql

from switchboard.common.db import system_session, tenant_session
from switchboard.common.db.base import utcnow
from switchboard.common.jobs import enqueue
from switchboard.common.jobs.broker import get_broker
from switchboard.common.jobs.catalog import END_STALE_CALLS, OUTBOUND_CALL_STATUS
from switchboard.common.jobs.schedules import Tick
from switchboard.common.jobs.service import get_job
from switchboard.common.models import Business, CallLog, Job
from switchboard.common.models.jobs import FINAL_STATUSES
from switchboard.common.settings import Settings
from switchboard.domain.calls.followups import enqueue_follow_ups
from switchboard.domain.calls.stale import (
    businesses_with_stale_calls,
    end_stale_calls,
    open_calls,
    quiet_limit,
)
from switchboard.domain.outbound.calls import apply_call_status
from tests.support.calls import (
    call_ended,
    call_of,
    dialed_item,
    item_of,
    quiet_since,
    session_of,
    started_call,
)
from tests.support.factories import make_business
from tests.support.processes import ServiceProcess
from tests.support.waiting import wait_for
from tests.unit.worker.world import snapshot

pytestmark = pytest.mark.integration

MINUTE = timedelta(minutes=1)


@pytest.fixture
def calls_queue(pg: Settings) -> Iterator[Settings]:
    """The call jobs the test enqueues land in the in-process broker (no outbox row left)."""
    for queue in ("calls", "analysis"):
        get_broker().declare_queue(queue)
    yield pg


def _past_the_limit() -> timedelta:
    return quiet_limit(1800) + MINUTE  # a new business's longest call: 1800 s


def test_a_call_quiet_past_the_limit_is_ended_once_and_a_fresh_one_and_another_business_s_are_not(
    calls_queue: Settings,
) -> None:
    ours, theirs = make_business(), make_business()
    stale = started_call(ours.id, ours.phone_number, quiet_for=_past_the_limit())
    fresh = started_call(ours.id, ours.phone_number, quiet_for=quiet_limit(1800) - MINUTE)
    foreign = started_call(theirs.id, theirs.phone_number, quiet_for=_past_the_limit())
    with system_session() as session:
        targets = list(businesses_with_stale_calls(session, Tick(utcnow())))
    assert ours.id in targets and theirs.id in targets

    assert end_stale_calls(ours.id) == 1

    ended = call_of(ours.id, stale)
    assert (ended.status, ended.end_reason) == ("failed", "no_end_event")
    assert (ended.ended_at, ended.duration_s) == (None, None)  # unknown: left to a real end
    assert session_of(ours.id, stale).state == "ended"
    assert call_of(ours.id, fresh).status == "in-progress"
    assert session_of(ours.id, fresh).state == "active"
    assert (call_of(theirs.id, foreign).status, call_of(theirs.id, foreign).end_reason) == (
        "in-progress",
        None,
    )
    assert session_of(theirs.id, foreign).state == "active"

    before = snapshot(ours.id)
    assert end_stale_calls(ours.id) == 0
    assert snapshot(ours.id) == before
    with system_session() as session:
        assert ours.id not in list(businesses_with_stale_calls(session, Tick(utcnow())))


def test_the_limit_is_the_business_s_own_longest_call(calls_queue: Settings) -> None:
    short = make_business()
    with system_session() as session:
        session.execute(update(Business).where(Business.id == short.id).values(max_call_seconds=60))
    quiet = quiet_limit(60) + MINUTE
    assert quiet < quiet_limit(1800)
    sid = started_call(short.id, short.phone_number, quiet_for=quiet)

    assert end_stale_calls(short.id) == 1
    assert call_of(short.id, sid).status == "failed"


def test_a_real_end_after_the_sweep_is_applied_on_the_same_log_and_nothing_reopens_it(
    calls_queue: Settings,
) -> None:
    business = make_business()
    sid = started_call(business.id, business.phone_number, quiet_for=_past_the_limit())
    assert end_stale_calls(business.id) == 1

    enqueue_follow_ups(call_ended(business.id, business.phone_number, sid))  # the late end
    started_again = started_call(business.id, business.phone_number, quiet_for=MINUTE, sid=sid)

    with tenant_session(business.id) as session:
        logs = session.execute(
            select(func.count()).select_from(CallLog).where(CallLog.call_sid == sid)
        ).scalar_one()
    call = call_of(business.id, started_again)
    assert logs == 1
    assert (call.status, call.end_reason, call.duration_s) == ("completed", "caller_hung_up", 120)
    assert call.ended_at is not None and [t["text"] for t in call.transcript] == ["Thanks, bye."]
    assert end_stale_calls(business.id) == 0  # the redelivered start did not reopen it


def test_a_call_whose_outbound_item_twilio_already_failed_says_failed_without_waiting(
    calls_queue: Settings,
) -> None:
    business = make_business()
    sid = started_call(business.id, business.phone_number, quiet_for=MINUTE)
    run_id, item_id = dialed_item(
        business.id, sid, status="failed", last_call_status="failed", quiet_for=2 * MINUTE
    )
    told_now = started_call(business.id, business.phone_number, quiet_for=MINUTE)
    dialed_item(
        business.id,
        told_now,
        status="completed",
        last_call_status="completed",
        quiet_for=timedelta(0),
    )

    assert end_stale_calls(business.id) == 1

    call = call_of(business.id, sid)
    assert (call.status, call.end_reason) == ("failed", "no_end_event")
    assert (call.outbound_run_id, call.outbound_item_id) == (run_id, item_id)
    assert call_of(business.id, told_now).status == "in-progress"  # its own end may be queued
    with tenant_session(business.id) as session:
        moves = session.scalar(
            select(func.count()).select_from(Job).where(Job.actor_name == OUTBOUND_CALL_STATUS.name)
        )
    assert moves == 0  # the item already said it


def test_an_item_still_in_flight_is_failed_with_its_call(calls_queue: Settings) -> None:
    business = make_business()
    sid = started_call(business.id, business.phone_number, quiet_for=_past_the_limit())
    run_id, item_id = dialed_item(
        business.id,
        sid,
        status="in_progress",
        last_call_status="in-progress",
        quiet_for=_past_the_limit(),
    )

    assert end_stale_calls(business.id) == 1
    assert end_stale_calls(business.id) == 0

    assert call_of(business.id, sid).status == "failed"
    with tenant_session(business.id) as session:
        (job,) = session.execute(
            select(Job).where(Job.actor_name == OUTBOUND_CALL_STATUS.name)
        ).scalars()
    kwargs = json.loads(job.message)["kwargs"]
    assert kwargs == {
        "business_id": business.id,
        "run_id": run_id,
        "item_id": item_id,
        "call_sid": sid,
        "call_status": "failed",
    }
    del kwargs["business_id"]
    apply_call_status(business.id, **kwargs)  # what the job does
    assert tuple(item_of(business.id, item_id)) == ("failed", "failed", "call ended failed")


def test_the_job_in_a_worker_process_ends_the_call_and_fails_its_item(
    pg_rabbit: Settings, start_service: Callable[..., ServiceProcess]
) -> None:
    business, other = make_business(), make_business()
    sid = started_call(business.id, business.phone_number, quiet_for=MINUTE)
    _, item_id = dialed_item(
        business.id, sid, status="in_progress", last_call_status="in-progress", quiet_for=MINUTE
    )
    foreign = started_call(other.id, other.phone_number, quiet_for=MINUTE)
    start_service("worker", "--processes", "1", "--threads", "2", "--queue", "calls")
    for business_id in (business.id, other.id):
        wait_for(lambda b=business_id: _jobs_final(b), what="the call.started jobs")
    quiet_since(business.id, sid, _past_the_limit())  # the gateway died a while ago
    quiet_since(other.id, foreign, _past_the_limit())

    ref = enqueue(END_STALE_CALLS, business_id=business.id)  # as the scheduler emits it

    wait_for(
        lambda: tuple(item_of(business.id, item_id)) == ("failed", "failed", "call ended failed"),
        timeout=60,
        what="the item to fail with its call",
    )
    assert get_job(business.id, ref.job_id).status == "succeeded"
    call = call_of(business.id, sid)
    assert (call.status, call.end_reason) == ("failed", "no_end_event")
    assert call_of(other.id, foreign).status == "in-progress"


def _jobs_final(business_id: int) -> bool:
    with tenant_session(business_id) as session:
        statuses = session.execute(select(Job.status)).scalars().all()
    return bool(statuses) and all(status in FINAL_STATUSES for status in statuses)


def test_the_sweep_reads_the_open_calls_through_their_index_not_the_table(
    calls_queue: Settings,
) -> None:
    """Every minute, across every business: the calls ever logged are not read, only the open
    ones (``ix_call_logs_open``, a partial index whose predicate the sweep's query implies).
    The history is 20,000 calls: with 2,000, beside the session database's other businesses
    (~600 by then), a merge join reading every call through the business's unique index came
    out a little cheaper, as no history of a business in service would let it."""
    business = make_business()
    started_call(business.id, business.phone_number, quiet_for=MINUTE)
    with system_session() as session:
        session.execute(
            text(
                "INSERT INTO call_logs (business_id, call_sid, direction, status, "
                "created_at, updated_at) SELECT :b, 'CA' || lpad(i::text, 32, '0'), 'inbound', "
                "'completed', now(), now() FROM generate_series(1, 20000) AS i"
            ),
            {"b": business.id},
        )
        session.execute(text("ANALYZE call_logs"))
        # As a pooled connection runs it once it is prepared: one generic plan, for any values
        # of its parameters. No plan may read the table itself: the index is the only way
        # left, and it is usable only if the query's condition implies the index's without
        # the parameters' values.
        session.execute(text("SET LOCAL enable_seqscan = off"))
        session.execute(text("SET LOCAL plan_cache_mode = force_generic_plan"))
        query = open_calls(utcnow()).where(Tick(utcnow()).scope(CallLog.business_id))
        compiled = query.compile(
            dialect=postgresql.dialect(paramstyle="numeric_dollar"),
            compile_kwargs={"render_postcompile": True},
        )
        values = [compiled.params[name] for name in compiled.positiontup or ()]
        connection = session.connection()
        connection.exec_driver_sql(f"PREPARE sweep AS {compiled}")
        driver = connection.connection.driver_connection
        arguments = ", ".join(psycopg.sql.Literal(v).as_string(driver) for v in values)
        explain = connection.exec_driver_sql(f"EXPLAIN EXECUTE sweep({arguments})")
        plan = "\n".join(explain.scalars())
        connection.exec_driver_sql("DEALLOCATE sweep")
    assert "ix_call_logs_open" in plan, plan
    assert "Seq Scan on call_logs" not in plan, plan
