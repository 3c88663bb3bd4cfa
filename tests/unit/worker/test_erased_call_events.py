"""Late events of a call an erasure erased (Twilio's final status callback, late or retried,
the call's end, a call job queued before the erasure): nothing is written (no call log, lead,
session or webhook delivery names the call again), no job is queued that would, and no line
logged names the person's number."""

from __future__ import annotations

from typing import Any

import dramatiq
from sqlalchemy import select

from switchboard.common.db import tenant_session
from switchboard.common.db.base import utcnow
from switchboard.common.events import CallEnded, CallStarted, CallStatusChanged
from switchboard.common.models import CallLog, CallSession, Lead, WebhookDelivery
from switchboard.common.settings import Settings
from switchboard.domain.calls.followups import enqueue_follow_ups
from tests.fakes.twilio_rest import FakeTwilioServer
from tests.support.log_capture import capture_logs
from tests.unit.worker.erasure_world import Person, count_rows, erased_person, traces
from tests.unit.worker.jobs import jobs_of, run


def _nothing_of_the_call(person: Person) -> None:
    bid = person.business_id
    assert count_rows(bid, CallLog) == 0 and count_rows(bid, CallSession) == 0
    with tenant_session(bid) as session:
        assert session.execute(select(Lead.id).where(Lead.phone == person.phone)).first() is None
    assert traces(bid, person.phone, person.world.call_sid, "Dana") == []


def test_a_late_final_status_and_end_of_an_erased_call_write_nothing(
    worker: dramatiq.Worker, jobs_env: Settings, fake_twilio: FakeTwilioServer
) -> None:
    person = erased_person(fake_twilio, jobs_env)
    bid, call_sid, phone = person.business_id, person.world.call_sid, person.phone
    business_number = person.world.business.phone_number
    deliveries_before = count_rows(bid, WebhookDelivery)
    now = utcnow()
    parties: dict[str, Any] = {
        "business_id": bid,
        "call_sid": call_sid,
        "direction": "inbound",
        "from_number": phone,
        "to_number": business_number,
    }
    events = [
        *(  # Twilio retries an unanswered callback: each is a new event
            CallStatusChanged(call_status="completed", call_duration_s=42, **parties)
            for _ in range(2)
        ),
        CallStarted(stream_sid="MZ1", started_at=now, **parties),
        CallEnded(
            stream_sid="MZ1",
            started_at=now,
            ended_at=now,
            duration_s=42,
            end_reason="caller_hung_up",
            transcript=[{"role": "caller", "text": "I am Dana Smith", "at": now}],
            **parties,
        ),
    ]

    with capture_logs() as logs:
        refs = [ref for event in events for ref in enqueue_follow_ups(event)]

    assert refs == []  # no job: nothing to finalize, no lead to find
    assert jobs_of(bid, "finalize_call_log_job") == []
    assert count_rows(bid, WebhookDelivery) == deliveries_before  # none naming the call again
    _nothing_of_the_call(person)
    assert phone not in repr(logs)


def test_call_jobs_queued_before_the_erasure_write_nothing_after_it(
    worker: dramatiq.Worker, jobs_env: Settings, fake_twilio: FakeTwilioServer
) -> None:
    person = erased_person(fake_twilio, jobs_env)
    bid, call_sid = person.business_id, person.world.call_sid

    jobs = [
        run(
            "deferred_call_setup_job",
            business_id=bid,
            call_sid=call_sid,
            stream_sid="MZ1",
            direction="inbound",
            started_at=utcnow().isoformat(),
        ),
        run("finalize_call_log_job", business_id=bid, call_sid=call_sid, status="completed"),
        run("finalize_call_session_job", business_id=bid, call_sid=call_sid, stream_sid="MZ1"),
    ]

    assert [job.status for job in jobs] == ["succeeded"] * 3, [job.last_error for job in jobs]
    _nothing_of_the_call(person)
