"""A call's status callback, its lead job and its ``call.ended`` transcript, in every order:
the transcript is analysed exactly once and the lead gets what the analysis found."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import timedelta

import dramatiq
import pytest
from sqlalchemy import select

from switchboard.common.db import tenant_session
from switchboard.common.events import (
    CallEnded,
    CallStarted,
    CallStatusChanged,
    TranscriptTurn,
    utc_now,
)
from switchboard.common.models import CallLog, Job, Lead
from switchboard.common.models.jobs import FINAL_STATUSES
from switchboard.domain.calls.followups import enqueue_follow_ups
from switchboard.domain.calls.logs import queue_lead_from_call
from tests.fakes.openai_http import FakeOpenAIServer
from tests.support.factories import TestBusiness, make_business, unique_phone
from tests.support.waiting import wait_for
from tests.unit.worker.world import sid

STEPS = ("status", "lead", "transcript")


def _quiet(business_id: int) -> None:
    """Every job of the business has finished (what a step queued has run)."""

    def done() -> bool:
        with tenant_session(business_id) as session:
            statuses = session.execute(select(Job.status).where(Job.business_id == business_id))
            return all(status in FINAL_STATUSES for status in statuses.scalars())

    wait_for(done, what="the business's jobs to finish")


def _call_log_id(business_id: int) -> int:
    with tenant_session(business_id) as session:
        return session.execute(select(CallLog.id)).scalar_one()


def _steps(business: TestBusiness, caller: str, call_sid: str) -> dict[str, Callable[[], object]]:
    started = utc_now() - timedelta(minutes=2)
    status = CallStatusChanged(
        business_id=business.id,
        call_sid=call_sid,
        call_status="completed",
        direction="inbound",
        from_number=caller,
        to_number=business.phone_number,
        call_duration_s=120,
    )
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
            TranscriptTurn(
                role="caller",
                text="My name is Dana Smith, I want to book an appointment, dana@example.com",
                at=started,
            )
        ],
    )

    def lead_job() -> None:  # the job the status callback or call.ended queues, on its own
        queue_lead_from_call(business.id, _call_log_id(business.id))

    return {
        "status": lambda: enqueue_follow_ups(status),
        "lead": lead_job,
        "transcript": lambda: enqueue_follow_ups(ended),
    }


@pytest.mark.parametrize("order", list(itertools.permutations(STEPS)), ids="-".join)
def test_the_transcript_is_analysed_once_whatever_the_order(
    worker: dramatiq.Worker, fake_openai: FakeOpenAIServer, order: tuple[str, ...]
) -> None:
    business, caller, call_sid = make_business(), unique_phone(), sid("CA")
    enqueue_follow_ups(
        CallStarted(
            business_id=business.id,
            call_sid=call_sid,
            stream_sid=sid("MZ"),
            direction="inbound",
            from_number=caller,
            to_number=business.phone_number,
            started_at=utc_now() - timedelta(minutes=2),
        )
    )
    _quiet(business.id)
    steps = _steps(business, caller, call_sid)

    for step in order:
        steps[step]()
        _quiet(business.id)

    with tenant_session(business.id) as session:
        analyses = session.execute(
            select(Job.status).where(Job.actor_name == "analyze_conversation_job")
        ).all()
        lead = session.execute(select(Lead)).scalar_one()
        log = session.execute(select(CallLog)).scalar_one()
    extractions = [
        request
        for request in fake_openai.chat_requests
        if (request.get("response_format") or {}).get("type") == "json_schema"
    ]
    assert [status for (status,) in analyses] == ["succeeded"]
    assert len(extractions) == 1
    assert (lead.phone, lead.name, lead.email, lead.intent) == (
        caller,
        "Dana Smith",
        "dana@example.com",
        "booking",
    )
    assert (log.lead_id, log.status) == (lead.id, "completed")
