"""Chaos (6): a 15-minute worker outage (played by ``JOB_AGE_OFFSET_S=900``: the workers that
come back see every message as 15 minutes older) → no owed work expires: every WhatsApp
message is answered once, every call log finalized with its lead, every owed job's effect
applied once; the time-bound jobs are recorded ``dead`` with ``expired: …`` in the ledger
and counted on ``/metrics``."""

from __future__ import annotations

import uuid

import httpx
import pytest

from switchboard.common.events import CallStatusChanged
from switchboard.domain.calls.followups import enqueue_follow_ups
from tests.chaos.actors import TIMEBOUND
from tests.chaos.effects import count_effects, enqueue_effects, ledger_of
from tests.chaos.stack import SCHEDULED_ACTORS, Stack, scale
from tests.chaos.whatsapp import (
    exactly_once,
    fake_twilio,
    inbound_messages,
    send_webhooks,
    wait_answered,
)
from tests.support.factories import make_business, unique_phone

OUTAGE_S = 900
MESSAGES = scale(20, 100)
CALLS = scale(5, 30)
OWED_JOBS = scale(50, 500)
TIMEBOUND_JOBS = scale(10, 50)


def expired_on_metrics(api_url: str) -> float:
    """The sum of ``switchboard_jobs_expired_total`` over its labels (0 if absent)."""
    text = httpx.get(f"{api_url}/metrics", timeout=10).text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("switchboard_jobs_expired_total")
    )


@pytest.mark.timeout(scale(180, 600))
def test_owed_work_survives_a_long_outage_and_time_bound_work_expires_with_its_reason(
    stack: Stack, report
) -> None:
    business = make_business("Chaos Garage")
    with fake_twilio() as (twilio, twilio_env):
        stack.env.update(twilio_env)
        _, api_url = stack.api(wait=False)
        stack.scheduler(wait=False)
        stack.ready()
        # The outage: no worker while the work arrives.
        messages = inbound_messages(business.phone_number, MESSAGES)
        answers = send_webhooks(api_url, messages, rate=20)
        calls = [(f"CA{uuid.uuid4().hex}", unique_phone()) for _ in range(CALLS)]
        for call_sid, caller in calls:
            enqueue_follow_ups(  # what the API's consumer does with a final status callback
                CallStatusChanged(
                    business_id=business.id,
                    call_sid=call_sid,
                    call_status="completed",
                    direction="inbound",
                    from_number=caller,
                    to_number=business.phone_number,
                    call_duration_s=30,
                )
            )
        owed = enqueue_effects(business.id, OWED_JOBS)
        timebound = enqueue_effects(business.id, TIMEBOUND_JOBS, spec=TIMEBOUND)
        stack.worker(job_age_offset_s=str(OUTAGE_S))
        contacts = [message.contact for message in messages]
        wait_answered(twilio, contacts, timeout=scale(60, 180))
        stack.wait_settled(business.id, timeout=scale(60, 180))
        once, never, twice, _ = exactly_once(twilio, contacts)
        expired_metric = expired_on_metrics(api_url)

    finalized = stack.query(
        "SELECT count(*) FROM call_logs WHERE business_id = %s AND call_sid = ANY(%s)"
        " AND status = 'completed' AND lead_id IS NOT NULL",
        (business.id, [call_sid for call_sid, _ in calls]),
    )[0][0]
    owed_effects = count_effects(stack, owed)
    timebound_effects = count_effects(stack, timebound)
    ledger = ledger_of(stack, timebound)
    expired = sum(
        1
        for status, _, error in ledger.values()
        if status == "dead" and (error or "").startswith("expired")
    )
    [(owed_dead,)] = stack.query(
        "SELECT count(*) FROM jobs WHERE business_id = %s AND status <> 'succeeded'"
        " AND NOT (id = ANY(%s)) AND NOT (actor_name = ANY(%s))",
        (business.id, timebound, SCHEDULED_ACTORS),
    )
    report(
        "outage-expiry",
        f"{OUTAGE_S // 60}-minute outage: {MESSAGES} WhatsApp messages ({once} answered once,"
        f" {never} never, {twice} twice), {finalized}/{CALLS} call logs final with their lead,"
        f" {owed_effects.applied}/{OWED_JOBS} owed jobs applied ({owed_effects.twice} twice),"
        f" {owed_dead} owed jobs not succeeded; {expired}/{TIMEBOUND_JOBS} time-bound jobs"
        f" expired ({timebound_effects.applied} ran), /metrics expired total {expired_metric:g}",
    )
    assert all(answer.status == 200 for answer in answers)
    assert (never, twice) == (0, 0)
    assert finalized == CALLS
    assert (owed_effects.lost, owed_effects.twice, owed_dead) == (0, 0, 0)
    assert expired == TIMEBOUND_JOBS and timebound_effects.applied == 0
    assert expired_metric >= TIMEBOUND_JOBS
