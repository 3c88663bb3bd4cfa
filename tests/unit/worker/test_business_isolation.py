"""For every actor: business A's job never reads or changes business B's data.

A job given A's id and one of B's object ids changes nothing anywhere and ends as a permanent
failure (one attempt, no retry loop). Jobs that take only the business id leave B untouched.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import dramatiq
import pytest
from sqlalchemy import select

from switchboard.common.db import tenant_session
from switchboard.common.jobs.catalog import CATALOG
from switchboard.common.models import OutboundItem
from tests.fakes.openai_http import FakeOpenAIServer
from tests.fakes.twilio_rest import FakeTwilioServer
from tests.support.factories import make_business
from tests.unit.api import rows
from tests.unit.worker.jobs import run
from tests.unit.worker.world import World, make_world, snapshot

#: actor → the kwargs that name one of B's objects.
FOREIGN_OBJECT: dict[str, Callable[[World], dict[str, Any]]] = {
    "deferred_call_setup_job": lambda b: {
        "call_sid": b.call_sid,
        "direction": "inbound",
        "started_at": "2026-01-01T10:00:00+00:00",
    },
    "finalize_call_log_job": lambda b: {"call_sid": b.call_sid, "status": "completed"},
    "finalize_call_session_job": lambda b: {"call_sid": b.call_sid, "end_reason": "hangup"},
    "create_lead_from_call_job": lambda b: {"call_log_id": b.call_log_id},
    "process_recording_job": lambda b: {"recording_sid": b.recording_sid, "call_sid": b.call_sid},
    "process_whatsapp_webhook_job": lambda b: {"message_id": b.inbound_id},
    "send_whatsapp_message_job": lambda b: {"message_id": b.outbound_id},
    "send_whatsapp_with_retry_job": lambda b: {"message_id": b.outbound_id},
    "analyze_conversation_job": lambda b: {"conversation_id": b.conversation_id},
    "create_lead_job": lambda b: {"conversation_id": b.conversation_id},
    "auto_summary_whatsapp_session_job": lambda b: {"session_id": b.session_id},
    "send_webhook_to_n8n_job": lambda b: {"delivery_id": b.n8n_delivery_id},
    "send_webhook_with_retry_job": lambda b: {"delivery_id": b.generic_delivery_id},
    "erase_person_job": lambda b: {"erasure_id": b.erasure_id},
    "send_push_notification_job": lambda b: {
        "subscription_id": b.subscription_id,
        "reminder_id": b.reminder_id,
    },
}
#: Actors that take only the business id (or data that is not an object id).
BUSINESS_ONLY: dict[str, dict[str, Any]] = {
    "warmup_agents_job": {},
    "warmup_business_job": {},
    "warmup_lazy_services_job": {},
    "prebuild_prompt_job": {},
    "cleanup_old_recordings_job": {},
    "end_stale_calls_job": {},
    "schedule_reminders_job": {},
    "prune_finished_jobs_job": {},
    "auto_summary_whatsapp_session_job": {},
    "outbound_reconcile_job": {},
}
#: actor → the kwargs that name one of B's outbound runs (``run``) or its dialing item.
FOREIGN_RUN: dict[str, Callable[[int, int, str], dict[str, Any]]] = {
    "outbound_run_job": lambda run, _item, _sid: {"run_id": run},
    "outbound_call_status_job": lambda run, item, sid: {
        "run_id": run,
        "item_id": item,
        "call_sid": sid,
        "call_status": "completed",
    },
}


def test_the_matrix_covers_every_actor_of_the_catalog() -> None:
    assert set(CATALOG) <= set(FOREIGN_OBJECT) | set(BUSINESS_ONLY) | set(FOREIGN_RUN)


@pytest.mark.parametrize("actor", sorted(FOREIGN_OBJECT))
def test_a_job_of_business_a_given_business_b_s_object_changes_nothing_and_fails_permanently(
    worker: dramatiq.Worker,
    fake_twilio: FakeTwilioServer,
    fake_openai: FakeOpenAIServer,
    actor: str,
) -> None:
    business_a = make_business("A")
    b = make_world()
    before = snapshot()

    job = run(actor, business_id=business_a.id, **FOREIGN_OBJECT[actor](b))

    assert job.status == "failed", job.last_error
    assert job.attempts == 1
    assert "not found" in (job.last_error or "")
    assert snapshot() == before
    assert fake_twilio.messages == [] and fake_twilio.downloads == []
    assert fake_openai.chat_requests == [] and fake_openai.transcriptions == []


def test_a_call_analysis_of_business_a_given_business_b_s_call_log_fails(
    worker: dramatiq.Worker,
) -> None:
    business_a = make_business("A")
    b = make_world()
    before = snapshot()

    job = run("analyze_conversation_job", business_id=business_a.id, call_log_id=b.call_log_id)

    assert (job.status, job.attempts) == ("failed", 1)
    assert snapshot() == before


@pytest.mark.parametrize("actor", sorted(BUSINESS_ONLY))
def test_a_job_of_business_a_leaves_business_b_untouched(
    worker: dramatiq.Worker, fake_twilio: FakeTwilioServer, actor: str
) -> None:
    a = make_world()
    b = make_world()
    kwargs = dict(BUSINESS_ONLY[actor])
    before = _rows_of(b.id)

    job = run(actor, business_id=a.id, **kwargs)

    assert job.status == "succeeded", job.last_error
    assert _rows_of(b.id) == before
    assert all(r.call_sid != b.call_sid for r in fake_twilio.recordings.values() if r.deleted)


@pytest.mark.parametrize("actor", sorted(FOREIGN_RUN))
def test_a_job_of_business_a_given_business_b_s_outbound_run_changes_nothing_and_fails(
    worker: dramatiq.Worker, fake_twilio: FakeTwilioServer, actor: str
) -> None:
    business_a = make_business("A")
    b = make_world()
    run_ = rows.running_run(b.id, 2)
    rows.advance_run(b.id, run_.id, done=0, dialing=1)
    item_id, call_sid = _dialing_item(b.id, run_.id)
    before = snapshot()

    job = run(actor, business_id=business_a.id, **FOREIGN_RUN[actor](run_.id, item_id, call_sid))

    assert (job.status, job.attempts) == ("failed", 1), job.last_error
    assert snapshot() == before
    assert fake_twilio.calls == {} and fake_twilio.messages == []


def _dialing_item(business_id: int, run_id: int) -> tuple[int, str]:
    with tenant_session(business_id) as session:
        item = session.execute(
            select(OutboundItem).where(
                OutboundItem.business_id == business_id,
                OutboundItem.run_id == run_id,
                OutboundItem.status == "dialing",
            )
        ).scalar_one()
        assert item.call_sid is not None
        return item.id, item.call_sid


def _rows_of(business_id: int) -> dict[str, list[tuple[Any, ...]]]:
    return snapshot(business_id)
