"""Call events → call log, session, lead and analysis, through the worker."""

from __future__ import annotations

import json
from datetime import timedelta

import dramatiq
from sqlalchemy import func, select

from switchboard.common.db import tenant_session
from switchboard.common.events import (
    CallEnded,
    CallStarted,
    CallStatusChanged,
    TranscriptTurn,
    utc_now,
)
from switchboard.common.jobs.enqueue import MAX_TEXT
from switchboard.common.models import CallLog, CallSession, Job, Lead
from switchboard.common.models.jobs import FINAL_STATUSES
from switchboard.common.settings import Settings
from switchboard.domain.calls.followups import enqueue_follow_ups
from tests.support.factories import make_business, unique_phone
from tests.support.waiting import wait_for
from tests.unit.worker.world import sid


def _all_jobs_done(business_id: int) -> bool:
    with tenant_session(business_id) as session:
        statuses = session.execute(select(Job.status).where(Job.business_id == business_id))
        return all(status in FINAL_STATUSES for status in statuses.scalars())


def _count(business_id: int, model: type) -> int:
    with tenant_session(business_id) as session:
        return session.execute(
            select(func.count()).select_from(model).where(model.business_id == business_id)
        ).scalar_one()


def test_a_call_ended_twice_makes_one_call_log_and_one_lead_with_the_analysed_fields(
    worker: dramatiq.Worker,
) -> None:
    business = make_business()
    caller = unique_phone()
    started = utc_now() - timedelta(minutes=2)
    call_sid = sid("CA")
    ended = CallEnded(
        business_id=business.id,
        call_sid=call_sid,
        stream_sid=sid("MZ"),
        direction="inbound",
        from_number=caller,
        to_number=business.phone_number,
        started_at=started,
        ended_at=utc_now(),
        duration_s=120.0,
        end_reason="caller_hung_up",
        transcript=[
            TranscriptTurn(role="agent", text="Hello, how can I help?", at=started),
            TranscriptTurn(
                role="caller",
                text="My name is Dana Smith, I want to book an appointment, dana@example.com",
                at=started,
            ),
        ],
    )

    first = enqueue_follow_ups(ended)
    second = enqueue_follow_ups(ended)  # the bus redelivered it

    assert all(ref.created for ref in first) and not any(ref.created for ref in second)
    wait_for(lambda: _count(business.id, Lead) == 1 and _all_jobs_done(business.id))
    wait_for(lambda: _lead(business.id).intent is not None, what="the analysis")
    assert _count(business.id, CallLog) == 1
    with tenant_session(business.id) as session:
        log = session.execute(select(CallLog)).scalar_one()
        call_session = session.execute(select(CallSession)).scalar_one()
    lead = _lead(business.id)
    assert (log.status, log.end_reason, log.lead_id) == ("completed", "caller_hung_up", lead.id)
    assert [turn["role"] for turn in log.transcript] == ["agent", "caller"]
    assert call_session.state == "ended"
    assert (lead.phone, lead.name, lead.email) == (caller, "Dana Smith", "dana@example.com")
    assert lead.intent == "booking"


def _ended(business_id: int, caller: str, to_number: str, call_sid: str) -> CallEnded:
    started = utc_now() - timedelta(minutes=2)
    return CallEnded(
        business_id=business_id,
        call_sid=call_sid,
        stream_sid=sid("MZ"),
        direction="inbound",
        from_number=caller,
        to_number=to_number,
        started_at=started,
        ended_at=utc_now(),
        duration_s=120.0,
        end_reason="caller_hung_up",
        transcript=[
            TranscriptTurn(
                role="caller",
                text="My name is Dana Smith, I want to book an appointment, dana@example.com",
                at=started,
            ),
        ],
    )


def test_call_ended_is_on_the_call_log_at_commit_and_its_jobs_carry_ids_only(
    jobs_env: Settings,
) -> None:
    business = make_business()
    ended = _ended(business.id, unique_phone(), business.phone_number, sid("CA"))

    enqueue_follow_ups(ended)  # no worker runs: nothing but this transaction writes the call log
    enqueue_follow_ups(ended)

    with tenant_session(business.id) as session:
        log = session.execute(select(CallLog)).scalar_one()
        jobs = session.execute(select(Job.actor_name, Job.message)).all()
    assert (log.call_sid, log.status, log.end_reason) == (
        ended.call_sid,
        "completed",
        "caller_hung_up",
    )
    assert log.ended_at is not None and log.duration_s == 120.0
    assert [turn["text"] for turn in log.transcript] == [ended.transcript[0].text]
    assert sorted(actor for actor, _ in jobs) == [
        "analyze_conversation_job",
        "create_lead_from_call_job",
        "finalize_call_session_job",
    ]
    for _, message in jobs:
        assert "Dana" not in message
        assert all(
            value is None or isinstance(value, int | float) or len(value) <= MAX_TEXT
            for value in json.loads(message)["kwargs"].values()
        )


def test_a_final_call_status_before_call_ended_still_gets_the_transcript_analysed(
    worker: dramatiq.Worker,
) -> None:
    business = make_business()
    caller = unique_phone()
    call_sid = sid("CA")
    status = CallStatusChanged(
        business_id=business.id,
        call_sid=call_sid,
        call_status="completed",
        direction="inbound",
        from_number=caller,
        to_number=business.phone_number,
        call_duration_s=120,
    )

    enqueue_follow_ups(status)
    wait_for(lambda: _count(business.id, Lead) == 1 and _all_jobs_done(business.id))
    enqueue_follow_ups(_ended(business.id, caller, business.phone_number, call_sid))

    wait_for(lambda: _lead(business.id).intent is not None, what="the analysis")
    lead = _lead(business.id)
    assert (lead.name, lead.email, lead.intent) == ("Dana Smith", "dana@example.com", "booking")
    assert _count(business.id, CallLog) == 1


def test_call_started_sets_up_the_call_log_session_and_lead(worker: dramatiq.Worker) -> None:
    business = make_business()
    caller = unique_phone()
    started = CallStarted(
        business_id=business.id,
        call_sid=sid("CA"),
        stream_sid=sid("MZ"),
        direction="inbound",
        from_number=caller,
        to_number=business.phone_number,
        started_at=utc_now(),
    )

    enqueue_follow_ups(started)

    wait_for(lambda: _count(business.id, CallSession) == 1 and _all_jobs_done(business.id))
    with tenant_session(business.id) as session:
        log = session.execute(select(CallLog)).scalar_one()
    assert log.status == "in-progress" and log.lead_id == _lead(business.id).id


def _lead(business_id: int) -> Lead:
    with tenant_session(business_id) as session:
        return session.execute(select(Lead).where(Lead.business_id == business_id)).scalar_one()


def test_an_outbound_call_known_only_from_twilio_s_status_is_logged_with_the_callee_s_lead(
    worker: dramatiq.Worker,
) -> None:
    """A busy or unanswered outbound call never reaches the gateway's stream: its status
    callback alone logs it, with Twilio's ``Direction`` (``outbound-api``). The call is
    ``outbound`` and its lead the callee, never the business's own number."""
    business = make_business()
    callee = unique_phone()
    for direction in ("outbound-api", "outbound-dial"):
        enqueue_follow_ups(
            CallStatusChanged(
                business_id=business.id,
                call_sid=sid("CA"),
                call_status="busy",
                direction=direction,
                from_number=business.phone_number,
                to_number=callee,
            )
        )

    wait_for(lambda: _count(business.id, CallLog) == 2 and _all_jobs_done(business.id))
    with tenant_session(business.id) as session:
        logs = session.execute(select(CallLog)).scalars().all()
    lead = _lead(business.id)
    assert lead.phone == callee
    assert {(log.direction, log.lead_id) for log in logs} == {("outbound", lead.id)}
