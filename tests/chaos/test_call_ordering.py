"""Chaos (7): a call's final status, the job that links its lead and its ``call.ended``
transcript can come in any order; in each of the six, the transcript is analysed exactly
once (extractions counted at the fake OpenAI, by a real worker) and what the analysis found
lands on the call's lead.

Each step is what its job or event handler runs, called here in the order under test: the
final status is the ``finalize_call_log_job``'s work, the lead the ``create_lead_from_call_job``'s,
the transcript the API's ``call.ended`` handling (``enqueue_follow_ups``). The analysis jobs
they queue run in ``switchboard worker`` as they come, and each step waits for them; the
other follow-up jobs are run by a second worker once the three steps are done. A lead can
be linked before any status or transcript only if the call's start created its log, so
those orders begin with ``call.started``'s work.
"""

from __future__ import annotations

import itertools
import json
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from switchboard.common.events import CallEnded
from switchboard.common.events.models import TranscriptTurn
from switchboard.domain.calls.followups import enqueue_follow_ups
from switchboard.domain.calls.logs import create_lead_from_call, finalize_call_log, setup_call
from tests.chaos.stack import Stack, scale
from tests.fakes.openai_http import API_KEY, FakeOpenAIServer
from tests.support.factories import TestBusiness, make_business, unique_phone

ORDERS = list(itertools.permutations(("status", "lead", "transcript")))
NAMES = ("Alpha", "Bravo", "Charlie", "Delta", "Echo", "Foxtrot")


@dataclass
class Call:
    business: TestBusiness
    name: str
    sid: str
    caller: str
    started_at: datetime

    def started(self, stack: Stack) -> None:
        setup_call(
            self.business.id,
            call_sid=self.sid,
            direction="inbound",
            from_number=self.caller,
            to_number=self.business.phone_number,
            started_at=self.started_at.isoformat(),
        )

    def status(self, stack: Stack) -> None:
        finalize_call_log(
            self.business.id,
            call_sid=self.sid,
            status="completed",
            direction="inbound",
            from_number=self.caller,
            to_number=self.business.phone_number,
            duration_s=42,
        )

    def lead(self, stack: Stack) -> None:
        [(call_log_id,)] = stack.query(
            "SELECT id FROM call_logs WHERE business_id = %s AND call_sid = %s",
            (self.business.id, self.sid),
        )
        create_lead_from_call(self.business.id, int(call_log_id))

    def transcript(self, stack: Stack) -> None:
        said = f"Hi, my name is Dana {self.name} and I want to book a cleaning. Ref {self.sid}."
        ended_at = self.started_at + timedelta(seconds=42)
        enqueue_follow_ups(
            CallEnded(
                business_id=self.business.id,
                call_sid=self.sid,
                stream_sid=f"MZ{uuid.uuid4().hex}",
                direction="inbound",
                from_number=self.caller,
                to_number=self.business.phone_number,
                started_at=self.started_at,
                ended_at=ended_at,
                duration_s=42.0,
                end_reason="caller_hung_up",
                transcript=[
                    TranscriptTurn(role="agent", text="Thanks for calling!", at=self.started_at),
                    TranscriptTurn(role="caller", text=said, at=self.started_at),
                ],
            )
        )

    def extractions(self, openai: FakeOpenAIServer) -> int:
        """The AI calls that analysed this call's transcript."""
        with openai.recording():
            bodies = [json.dumps(body["messages"]) for body in openai.chat_requests]
        return sum(1 for body in bodies if self.sid in body)

    def lead_name(self, stack: Stack) -> str | None:
        rows = stack.query(
            "SELECT l.name FROM call_logs c JOIN leads l ON l.id = c.lead_id"
            " WHERE c.business_id = %s AND c.call_sid = %s",
            (self.business.id, self.sid),
        )
        return rows[0][0] if rows else None


def analysis_settled(stack: Stack, business_id: int) -> bool:
    [(live,)] = stack.query(
        "SELECT count(*) FROM jobs WHERE business_id = %s AND queue_name = 'analysis'"
        " AND status IN ('queued', 'running')",
        (business_id,),
    )
    return not live and not stack.outbox_rows(business_id)


def wait_analysis(stack: Stack, business_id: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not analysis_settled(stack, business_id):
        assert time.monotonic() < deadline, "the analysis jobs did not settle"
        time.sleep(0.1)


@pytest.mark.timeout(scale(180, 300))
def test_a_calls_transcript_is_analysed_once_in_every_order(stack: Stack, report) -> None:
    business = make_business("Chaos Clinic")
    with FakeOpenAIServer.running() as openai:
        stack.env.update(openai_api_key=API_KEY, openai_base_url=f"{openai.url}/v1")
        stack.worker("analysis")
        calls = []
        for name, order in zip(NAMES, ORDERS, strict=True):
            call = Call(business, name, f"CA{uuid.uuid4().hex}", unique_phone(), datetime.now(UTC))
            calls.append((order, call))
            if order[0] == "lead":
                call.started(stack)
            for step in order:
                getattr(call, step)(stack)
                wait_analysis(stack, business.id)
        stack.worker()  # the other follow-ups: lead jobs the steps queued, sessions closing
        stack.wait_settled(business.id, timeout=scale(60, 120))
        counts = {" → ".join(order): call.extractions(openai) for order, call in calls}
        names = {" → ".join(order): call.lead_name(stack) for order, call in calls}
        jobs = stack.jobs_by_status(business.id)

    once = sum(1 for count in counts.values() if count == 1)
    report(
        "call-ordering",
        f"{len(ORDERS)} orders of status, lead and transcript: analysed once in {once}"
        f" (analyses per order {counts}); ledger {dict(jobs)}",
    )
    assert counts == dict.fromkeys(counts, 1)
    expected = {" → ".join(order): f"Dana {call.name}" for order, call in calls}
    assert names == expected
    assert set(jobs) == {"succeeded"}, jobs
