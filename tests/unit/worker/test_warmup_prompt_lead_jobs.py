"""Warm-ups, the prebuilt prompt the gateway reads, lead capture, and the worker's heartbeat."""

from __future__ import annotations

import dramatiq
from fastapi.testclient import TestClient
from sqlalchemy import event, select, update

from switchboard.api.app import create_app
from switchboard.common.db import system_session, tenant_session
from switchboard.common.db.engine import get_engine
from switchboard.common.models import (
    AgentSettings,
    Lead,
    PrebuiltPrompt,
    WhatsAppConversation,
    WorkerHeartbeat,
)
from switchboard.common.settings import Settings
from switchboard.domain.businesses.prompts import prebuild_prompts
from tests.support.factories import make_business, unique_phone
from tests.support.waiting import wait_for
from tests.unit.worker.jobs import run
from tests.unit.worker.world import make_world


def _prompts(business_id: int) -> dict[str, tuple[str, int]]:
    with tenant_session(business_id) as session:
        rows = session.execute(select(PrebuiltPrompt)).scalars()
        return {row.channel: (row.content, row.version) for row in rows}


def test_the_prebuilt_prompt_follows_the_agent_settings_and_the_gateway_reads_it(
    worker: dramatiq.Worker, jobs_env: Settings
) -> None:
    business = make_business("Bella Salon")
    with tenant_session(business.id) as session:
        session.execute(
            update(AgentSettings).values(agent_name="Mia", instructions="We close at 6 pm.")
        )

    assert run("prebuild_prompt_job", business_id=business.id).status == "succeeded"
    assert run("prebuild_prompt_job", business_id=business.id).status == "succeeded"

    prompts = _prompts(business.id)
    assert set(prompts) == {"voice", "whatsapp"}
    voice, version = prompts["voice"]
    assert version == 1 and "Mia" in voice and "Bella Salon" in voice and "6 pm" in voice
    with TestClient(create_app(jobs_env)) as client:
        config = client.get(
            "/internal/v1/agent-config",
            params={"to": business.phone_number},
            headers={"Authorization": f"Bearer {jobs_env.internal_api_token}"},
        ).json()
    assert config["prompt"] == voice


def test_warmups_build_missing_prompts_and_construct_the_adapters(
    worker: dramatiq.Worker,
) -> None:
    business = make_business()

    for actor in ("warmup_agents_job", "warmup_business_job", "warmup_lazy_services_job"):
        job = run(actor, business_id=business.id)
        assert job.status == "succeeded", (actor, job.last_error)

    assert {channel: v for channel, (_, v) in _prompts(business.id).items()} == {
        "voice": 1,
        "whatsapp": 1,
    }


def test_a_conversation_s_contact_becomes_one_lead_however_often_asked(
    worker: dramatiq.Worker,
) -> None:
    world = make_world()  # its contact is already the lead it called about

    first = run("create_lead_job", business_id=world.id, conversation_id=world.conversation_id)
    again = run("create_lead_job", business_id=world.id, conversation_id=world.conversation_id)
    unknown = run("create_lead_job", business_id=world.id, conversation_id=987_654_321)

    with tenant_session(world.id) as session:
        [lead] = session.execute(select(Lead)).scalars().all()
        contact = session.get(WhatsAppConversation, world.conversation_id)
    assert contact is not None and lead.phone == contact.contact_number
    assert (lead.id, first.status, again.status) == (world.lead_id, "succeeded", "succeeded")
    assert (unknown.status, unknown.attempts) == ("failed", 1)


def test_a_new_contact_becomes_a_whatsapp_lead(worker: dramatiq.Worker) -> None:
    business = make_business()
    with tenant_session(business.id) as session:
        conversation = WhatsAppConversation(
            business_id=business.id,
            contact_number=unique_phone(),
            business_number=business.phone_number,
        )
        session.add(conversation)
        session.flush()
        conversation_id = conversation.id

    done = run("create_lead_job", business_id=business.id, conversation_id=conversation_id)

    with tenant_session(business.id) as session:
        [lead] = session.execute(select(Lead)).scalars().all()
    assert done.status == "succeeded" and lead.source == "whatsapp"


def test_the_worker_keeps_a_heartbeat_row(worker: dramatiq.Worker) -> None:
    business = make_business()
    run("warmup_agents_job", business_id=business.id)

    def beat() -> WorkerHeartbeat | None:
        with system_session() as session:
            return session.execute(select(WorkerHeartbeat)).scalars().first()

    heartbeat = wait_for(beat, what="a heartbeat row")
    assert "warmup" in heartbeat.queues
    # What the console's workers page shows: the process's threads, and its job threads.
    assert heartbeat.worker_threads == worker.worker_threads
    assert heartbeat.threads is not None and heartbeat.threads > worker.worker_threads


def test_two_builds_of_one_business_at_once_store_each_prompt_once(jobs_env: Settings) -> None:
    """A settings change queues the build and the warm-up, which builds too: here another build
    inserts the prompts just before this one's own insert. This one leaves them, without a
    unique-key failure (a failed attempt, retried), and counts no version twice."""
    business = make_business()
    engine = get_engine()
    others: list[list[str]] = []

    def another_build_first(conn, cursor, statement: str, *args: object) -> None:
        if statement.lstrip().upper().startswith("INSERT INTO PREBUILT_PROMPTS") and not others:
            others.append([])  # once: the build below inserts too
            others[0] = prebuild_prompts(business.id)

    event.listen(engine, "before_cursor_execute", another_build_first)
    try:
        changed = prebuild_prompts(business.id)
    finally:
        event.remove(engine, "before_cursor_execute", another_build_first)

    assert others == [["voice", "whatsapp"]] and changed == []
    assert {channel: version for channel, (_, version) in _prompts(business.id).items()} == {
        "voice": 1,
        "whatsapp": 1,
    }
