"""The agent's WhatsApp reply on PostgreSQL: the worker's ``PostgresReplyStore`` (migration
0006's context function, 0021's store).

They must write exactly what the portable ``OrmReplyStore`` writes (the first test runs both on
the same database and compares), check the business the way ``owned_row`` does, write nothing
when the business is at its limit or the message is answered, and act as the application role.
"""

from __future__ import annotations

import json
from typing import Any

import psycopg
import pytest
from sqlalchemy import select, text, update

from switchboard.common.db import system_session, tenant_session
from switchboard.common.db.base import utcnow
from switchboard.common.errors import NotFoundError
from switchboard.common.integrations.ai_text import AgentAnswer, LeadFields, OfflineAIText
from switchboard.common.jobs.catalog import PROCESS_WHATSAPP_WEBHOOK
from switchboard.common.jobs.context import JobContext, set_current_job
from switchboard.common.models import (
    Business,
    Job,
    Lead,
    WhatsAppConversation,
    WhatsAppMessage,
    WhatsAppSession,
)
from switchboard.common.settings import Settings, get_settings
from switchboard.domain.whatsapp import replies
from switchboard.domain.whatsapp.concurrency import BusinessAtLimit
from switchboard.domain.whatsapp.inbound import InboundMessage, store_inbound
from switchboard.worker.adapters.whatsapp_replies import PostgresReplyStore
from switchboard.worker.runtime import ledger
from switchboard.worker.runtime.heartbeat import worker_identity
from tests.support.factories import make_business, unique_phone
from tests.support.fast_start import renew_cancellation_knowledge

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("whatsapp_queues")]

AI = OfflineAIText()


def _inbound(business: Business, contact: str, body: str) -> int:
    sid = f"SM{unique_phone()[1:]}{len(body)}"
    message_id = store_inbound(
        business.id, InboundMessage(sid, f"whatsapp:{contact}", business.phone_number, body)
    )
    assert message_id is not None
    return message_id


def _answer(reply: str) -> AgentAnswer:
    return AgentAnswer(
        reply=reply, lead=LeadFields(name=None, email=None, intent="other", status="new")
    )


def _functions() -> PostgresReplyStore:
    return PostgresReplyStore(get_settings().db_app_role)


def _reply(business_id: int, message_id: int) -> replies.ReplyToSend | None:
    return replies.reply_to_inbound(business_id, message_id, AI, _functions())


def _written(business_id: int, contact: str) -> dict[str, Any]:
    """What a reply to ``contact`` leaves behind, without ids and times."""
    with tenant_session(business_id) as session:
        messages = session.execute(select(WhatsAppMessage).order_by(WhatsAppMessage.id)).scalars()
        [conversation] = session.execute(select(WhatsAppConversation)).scalars().all()
        [lead] = session.execute(select(Lead)).scalars().all()
        sessions = session.execute(select(WhatsAppSession)).scalars().all()
        jobs = session.execute(select(Job)).scalars()
        return {
            "messages": [
                (m.direction, m.body, m.status, m.attempts, m.reply_id is not None)
                for m in messages
            ],
            "lead": (
                lead.phone == contact,
                lead.status,
                lead.source,
                lead.name,
                lead.intent,
                conversation.lead_id == lead.id,
            ),
            "sessions": [(s.closed_at, s.last_activity_at >= s.started_at) for s in sessions],
            "jobs": sorted(
                (
                    job.actor_name,
                    job.queue_name,
                    job.status,
                    job.max_retries,
                    job.dedup_key is not None,
                    sorted(json.loads(job.message)["kwargs"]),
                )
                for job in jobs
            ),
        }


def test_the_functions_write_what_the_portable_path_writes(pg: Settings) -> None:
    on_functions, on_orm = make_business(), make_business()
    written, outgoing = [], []
    for business, store in ((on_functions, _functions()), (on_orm, replies.OrmReplyStore())):
        contact = unique_phone()
        first = _inbound(business, contact, "Hi, my name is Ana Ruiz, how much is a haircut?")
        assert replies.reply_to_inbound(business.id, first, AI, store) is not None
        second = _inbound(business, contact, "And on Saturday?")
        reply = replies.reply_to_inbound(business.id, second, AI, store)
        assert reply is not None and reply.outgoing is not None
        written.append(_written(business.id, contact))
        with tenant_session(business.id) as session:
            linked = session.execute(
                select(WhatsAppMessage.reply_id).where(WhatsAppMessage.id == second)
            ).scalar_one()
        assert linked == reply.reply_id
        sent = reply.outgoing
        assert sent.to == f"whatsapp:{contact}" and sent.unsettled_since is None
        outgoing.append((sent.from_ == f"whatsapp:{business.phone_number}", sent.body))
    assert written[0] == written[1]
    assert outgoing[0] == outgoing[1]
    # Two inbound, two replies claimed for their first send (the job sends them itself), each
    # linked from its message; one open session; one analysis job while it is still queued;
    # no send job.
    assert written[0]["messages"] == [
        ("in", "Hi, my name is Ana Ruiz, how much is a haircut?", "replied", 0, True),
        ("out", written[0]["messages"][1][1], "sending", 1, False),
        ("in", "And on Saturday?", "replied", 0, True),
        ("out", written[0]["messages"][3][1], "sending", 1, False),
    ]
    # The same answer gave the lead's fields: no analysis job, no send job.
    assert [job[0] for job in written[0]["jobs"]] == [PROCESS_WHATSAPP_WEBHOOK.name] * 2
    assert written[0]["lead"][3] == "Ana Ruiz"
    assert all(job[1] != "whatsapp_send" for job in written[0]["jobs"])


def test_the_reply_sees_the_conversation_so_far_and_the_stored_prompt(pg: Settings) -> None:
    business = make_business()
    contact = unique_phone()
    first = _inbound(business, contact, "Hello")
    _reply(business.id, first)
    second = _inbound(business, contact, "Do you open on Sunday?")
    _inbound(business, contact, "A later message the reply must not see")

    context = _functions().context(business.id, second)

    assert context is not None
    assert [(turn.role, turn.content) for turn in context.history][0] == ("user", "Hello")
    assert [turn.role for turn in context.history] == ["user", "assistant", "user"]
    assert context.history[-1].content == "Do you open on Sunday?"
    with tenant_session(business.id) as session:
        expected = replies.prompt_for(session, business.id, "whatsapp")
    assert context.prompt == expected


def test_another_business_s_message_is_a_permanent_failure_that_writes_nothing(
    pg: Settings,
) -> None:
    owner, intruder = make_business(), make_business()
    message_id = _inbound(owner, unique_phone(), "Hi")

    with pytest.raises(NotFoundError):
        _reply(intruder.id, message_id)

    with tenant_session(owner.id) as session:
        assert session.execute(select(Lead)).all() == []
        assert session.execute(select(WhatsAppSession)).all() == []
        assert session.execute(select(WhatsAppMessage.status)).scalars().all() == ["received"]


def test_an_outbound_message_id_is_refused(pg: Settings) -> None:
    business = make_business()
    inbound_id = _inbound(business, unique_phone(), "Hi")
    reply = _reply(business.id, inbound_id)
    assert reply is not None

    with pytest.raises(NotFoundError, match="not an inbound message"):
        _reply(business.id, reply.reply_id)


def test_an_answered_message_is_not_answered_again_even_between_the_two_calls(
    pg: Settings,
) -> None:
    business = make_business()
    message_id = _inbound(business, unique_phone(), "Hi")
    context = _functions().context(business.id, message_id)
    assert context is not None
    first = _reply(business.id, message_id)
    assert first is not None

    # A concurrent delivery that read its context before the first reply was stored.
    late = _functions().store(business.id, message_id, context, _answer("a second answer"))

    assert late is None
    # A redelivery while the reply is unsent (its job died before the send settled) is given
    # that reply to send, claimed again by the send: nothing new is stored.
    assert _reply(business.id, message_id) == replies.ReplyToSend(first.reply_id, None)
    with tenant_session(business.id) as session:
        session.execute(
            update(WhatsAppMessage)
            .where(WhatsAppMessage.id == first.reply_id)
            .values(status="sent")
        )
    assert _reply(business.id, message_id) is None  # sent: nothing left to do
    with tenant_session(business.id) as session:
        directions = session.execute(select(WhatsAppMessage.direction)).scalars().all()
    assert sorted(directions) == ["in", "out"]


def test_a_business_at_its_limit_is_told_so_and_nothing_is_written(pg: Settings) -> None:
    business = make_business()
    message_id = _inbound(business, unique_phone(), "Hi")
    with tenant_session(business.id) as session:
        session.execute(
            update(Business).where(Business.id == business.id).values(whatsapp_concurrency=1)
        )
        for n in range(2):  # two replies of this business already running
            session.add(
                Job(
                    id=f"running-{business.id}-{n}",
                    business_id=business.id,
                    queue_name="whatsapp",
                    actor_name="process_whatsapp_webhook_job",
                    status="running",
                    message="{}",
                    enqueued_at=utcnow(),
                    updated_at=utcnow(),
                )
            )

    with pytest.raises(BusinessAtLimit):
        _reply(business.id, message_id)

    with tenant_session(business.id) as session:
        assert session.execute(select(Lead)).all() == []
        assert session.execute(select(WhatsAppSession)).all() == []
        assert session.execute(select(WhatsAppMessage.status)).scalars().all() == ["received"]


def test_the_functions_act_as_the_application_role(pg: Settings) -> None:
    """Given a role without privileges, both calls are refused: they really switch role."""
    business = make_business()
    message_id = _inbound(business, unique_phone(), "Hi")
    with system_session() as session:
        session.execute(
            text(
                "DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'sb_no_access')"
                " THEN CREATE ROLE sb_no_access NOLOGIN; END IF; END $$"
            )
        )
    context = _functions().context(business.id, message_id)
    assert context is not None
    powerless = PostgresReplyStore("sb_no_access")
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        powerless.context(business.id, message_id)
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        powerless.store(business.id, message_id, context, _answer("Hello"))
    with tenant_session(business.id) as session:
        assert session.execute(select(WhatsAppMessage.status)).scalars().all() == ["received"]


def test_a_fast_started_reply_is_marked_running_by_the_call_and_counts_itself(
    pg: Settings, fresh: None
) -> None:
    business = make_business()
    with tenant_session(business.id) as session:
        session.execute(
            update(Business).where(Business.id == business.id).values(whatsapp_concurrency=1)
        )
    messages = {body: _inbound(business, unique_phone(), body) for body in ("first", "second")}
    with tenant_session(business.id) as session:
        by_message = {
            json.loads(job.message)["kwargs"]["message_id"]: job.id
            for job in session.execute(
                select(Job).where(Job.actor_name == PROCESS_WHATSAPP_WEBHOOK.name)
            ).scalars()
        }
    jobs = {body: (message_id, by_message[message_id]) for body, message_id in messages.items()}
    renew_cancellation_knowledge(business.id)
    assert all(ledger.start_fast(job_id) for _, job_id in jobs.values())

    def context_as(name: str) -> object:
        message_id, job_id = jobs[name]
        set_current_job(
            JobContext(
                job_id, PROCESS_WHATSAPP_WEBHOOK.name, business.id, attempt=1, control=ledger
            )
        )
        try:
            return _functions().context(business.id, message_id)
        finally:
            set_current_job(None)

    assert context_as("first") is not None  # alone at the limit of one
    with pytest.raises(BusinessAtLimit):
        context_as("second")  # the first one runs: the second would be one too many
    with tenant_session(business.id) as session:
        rows = {
            job_id: session.execute(select(Job).where(Job.id == job_id)).scalar_one()
            for _, job_id in jobs.values()
        }
    first = rows[jobs["first"][1]]
    assert (first.status, first.attempts, first.deliveries) == ("running", 1, 1)
    assert first.started_at is not None
    # Named for this process: a redelivery sees it running on a live worker and waits.
    assert first.worker_id == worker_identity()
    assert ledger.mark_running_due(jobs["first"][1]) == 0, "the call wrote its mark"
