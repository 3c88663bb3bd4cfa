"""A call's jobs carry its sid, never a phone number: the consumer writes the numbers on the
call log in its transaction and the jobs read them there. A job that succeeded keeps no
payload in the ledger."""

from __future__ import annotations

import dramatiq
import pytest
from sqlalchemy import select

from switchboard.common.db import tenant_session
from switchboard.common.events import CallStarted, CallStatusChanged, utc_now
from switchboard.common.jobs.catalog import DEFERRED_CALL_SETUP, FINALIZE_CALL_LOG
from switchboard.common.jobs.enqueue import prepare_job
from switchboard.common.models import CallLog, Job, Lead
from switchboard.common.models.jobs import FINAL_STATUSES
from switchboard.common.settings import Settings
from switchboard.domain.calls.followups import enqueue_follow_ups
from tests.support.factories import make_business, unique_phone
from tests.support.waiting import wait_for
from tests.unit.worker.world import sid


def _started(business_id: int, caller: str, business_number: str) -> CallStarted:
    return CallStarted(
        business_id=business_id,
        call_sid=sid("CA"),
        stream_sid=sid("MZ"),
        direction="inbound",
        from_number=caller,
        to_number=business_number,
        started_at=utc_now(),
    )


def _completed(business_id: int, caller: str, business_number: str) -> CallStatusChanged:
    return CallStatusChanged(
        business_id=business_id,
        call_sid=sid("CA"),
        call_status="completed",
        direction="inbound",
        from_number=caller,
        to_number=business_number,
        call_duration_s=42,
    )


def _jobs(business_id: int) -> list[Job]:
    with tenant_session(business_id) as session:
        return list(session.execute(select(Job).where(Job.business_id == business_id)).scalars())


@pytest.mark.parametrize("event", [_started, _completed], ids=["call.started", "call.status"])
def test_the_numbers_are_on_the_call_log_at_commit_and_not_in_any_job(
    jobs_env: Settings, event
) -> None:
    business, caller = make_business(), unique_phone()
    call = event(business.id, caller, business.phone_number)

    enqueue_follow_ups(call)  # no worker runs

    with tenant_session(business.id) as session:
        log = session.execute(
            select(CallLog).where(CallLog.business_id == business.id)
        ).scalar_one()
    assert (log.call_sid, log.from_number, log.to_number) == (
        call.call_sid,
        caller,
        business.phone_number,
    )
    jobs = _jobs(business.id)
    assert jobs and all(call.call_sid in job.message for job in jobs)
    for job in jobs:
        assert caller[1:] not in job.message and business.phone_number[1:] not in job.message


@pytest.mark.parametrize("spec", [DEFERRED_CALL_SETUP, FINALIZE_CALL_LOG], ids=lambda s: s.name)
@pytest.mark.parametrize("field", ["from_number", "to_number"])
def test_the_call_jobs_refuse_a_phone_number(spec, field: str) -> None:
    with pytest.raises(TypeError, match=f"unexpected argument.*{field}"):
        prepare_job(spec, business_id=7, call_sid="CA1", **{field: "+15551234567"})


def test_the_setup_job_finds_the_caller_on_the_call_log_and_its_row_keeps_no_payload(
    worker: dramatiq.Worker,
) -> None:
    business, caller = make_business(), unique_phone()

    enqueue_follow_ups(_started(business.id, caller, business.phone_number))

    def done() -> bool:
        jobs = _jobs(business.id)
        return bool(jobs) and all(job.status in FINAL_STATUSES for job in jobs)

    wait_for(done, what="the call's jobs")
    with tenant_session(business.id) as session:
        lead = session.execute(select(Lead).where(Lead.business_id == business.id)).scalar_one()
        log = session.execute(
            select(CallLog).where(CallLog.business_id == business.id)
        ).scalar_one()
    assert lead.phone == caller and log.lead_id == lead.id
    assert [(job.status, job.message) for job in _jobs(business.id)] == [("succeeded", "")]
