"""Storing an inbound WhatsApp message and enqueueing its processing, in one transaction.

:func:`store_inbound` is the portable unit of work (SQLAlchemy, on SQLite and PostgreSQL
alike) behind ``inbound_store.ThreadedInboundStore``; the API gives PostgreSQL an adapter of
the same port that writes through one function call.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import bindparam, case, exists, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from switchboard.common.db.base import utcnow
from switchboard.common.db.tenancy import system_session, tenant_session
from switchboard.common.jobs.catalog import PROCESS_WHATSAPP_WEBHOOK
from switchboard.common.jobs.enqueue import PreparedJob, enqueue_prepared, prepare_job
from switchboard.common.logging import get_logger
from switchboard.common.models import Business, WhatsAppConversation, WhatsAppMessage
from switchboard.common.phone import EXAMPLE, is_whatsapp_or_e164
from switchboard.domain.lengths import column_chars
from switchboard.domain.whatsapp.window import WINDOW, open_until_ms

log = get_logger(__name__)


class MalformedNumber(ValueError):
    """A ``From`` or ``To`` is not a phone number in E.164 form; ``fields`` names them."""

    def __init__(self, fields: list[str]) -> None:
        super().__init__(
            f"{' and '.join(fields)} must be a phone number in E.164 form, "
            f"like whatsapp:{EXAMPLE} or {EXAMPLE}"
        )
        self.fields = fields


#: The longest ``MessageSid`` a message keeps (its column's length; Twilio's are 34).
MAX_SID_CHARS = column_chars(WhatsAppMessage.__table__.c.message_sid)


@dataclass(frozen=True)
class InboundMessage:
    """The fields of Twilio's inbound-message webhook that Switchboard keeps.

    Its numbers are ``whatsapp:+E164`` or ``+E164`` (:class:`MalformedNumber` otherwise):
    Twilio sends nothing else, and a malformed one would become a conversation, then a lead
    that an outbound run dials.
    """

    message_sid: str
    from_number: str
    to_number: str
    body: str

    def __post_init__(self) -> None:
        numbers = (("From", self.from_number), ("To", self.to_number))
        malformed = [name for name, number in numbers if not is_whatsapp_or_e164(number)]
        if malformed:
            raise MalformedNumber(malformed)


def bare_number(address: str) -> str:
    """``whatsapp:+15551234567`` → ``+15551234567``."""
    return address.strip().removeprefix("whatsapp:")


def business_for_whatsapp_number(address: str) -> int | None:
    """The business that answers this WhatsApp number, read for every message.

    Not cached: an admin may move a number to another business at any time, in any API
    process, and the next message must be stored under (and answered by) its new owner. The
    read is one indexed lookup, a small part of a webhook (``docs/whatsapp.md``).
    """
    with system_session() as session:
        return session.execute(
            select(Business.id).where(Business.phone_number == bare_number(address))
        ).scalar_one_or_none()


@lru_cache
def _statements(dialect: str) -> tuple[Any, Any]:
    """The two inserts, built once per dialect so each request only binds its values.

    The conversation's upsert touches it (``last_message_at``, ``updated_at``) only when the
    message's ``MessageSid`` (``stored_sid``) is not stored for the business: a repeat leaves
    it as it was, as migration 0040's functions do on PostgreSQL.
    """
    builder = pg_insert if dialect == "postgresql" else sqlite_insert
    upsert = builder(WhatsAppConversation)
    stored = exists().where(
        WhatsAppMessage.business_id == upsert.excluded.business_id,
        WhatsAppMessage.message_sid == bindparam("stored_sid"),
    )
    conversation = upsert.on_conflict_do_update(
        index_elements=["business_id", "contact_number"],
        set_={
            column: case(
                (stored, getattr(WhatsAppConversation, column)),
                else_=getattr(upsert.excluded, column),
            )
            for column in ("last_message_at", "updated_at")
        },
    ).returning(WhatsAppConversation.id)
    message = builder(WhatsAppMessage).on_conflict_do_nothing().returning(WhatsAppMessage.id)
    return conversation, message


def _conversation_id(
    session: Session, business_id: int, contact: str, business_number: str, message_sid: str
) -> int:
    """Find or create the conversation with ``contact``, in one statement: touched for a new
    message, left as it was for a ``message_sid`` stored before (a repeat)."""
    now = utcnow()
    statement, _ = _statements(session.get_bind().dialect.name)
    params = {
        "business_id": business_id,
        "contact_number": contact,
        "business_number": business_number,
        "last_message_at": now,
        "created_at": now,
        "updated_at": now,
        "stored_sid": message_sid,
    }
    return int(session.execute(statement, params).scalar_one())


def answer_job(business_id: int, message_id: int, received: datetime) -> PreparedJob:
    """The job that answers a stored inbound message, ``received`` no later than the time
    stored as its arrival: the conversation's window is open at least 24 hours after it."""
    return prepare_job(
        PROCESS_WHATSAPP_WEBHOOK,
        business_id=business_id,
        message_id=message_id,
        window_open_until_ms=open_until_ms(received + WINDOW),
    )


def store_inbound(business_id: int, message: InboundMessage) -> int | None:
    """Store the message and enqueue its ``PROCESS_WHATSAPP_WEBHOOK`` job atomically.

    Returns the new message's id, or None when this ``MessageSid`` was stored before
    (Twilio retried the webhook): then nothing is stored or enqueued again, and the
    conversation's ``last_message_at`` and ``updated_at`` stay as they were.
    """
    with tenant_session(business_id) as session:
        conversation_id = _conversation_id(
            session,
            business_id,
            bare_number(message.from_number),
            bare_number(message.to_number),
            message.message_sid,
        )
        _, statement = _statements(session.get_bind().dialect.name)
        now = utcnow()
        params = {
            "business_id": business_id,
            "conversation_id": conversation_id,
            "direction": "in",
            "message_sid": message.message_sid,
            "body": message.body,
            "status": "received",
            "attempts": 0,
            "created_at": now,
            "updated_at": now,
        }
        message_id = session.execute(statement, params).scalar_one_or_none()
        if message_id is None:
            return None
        enqueue_prepared(answer_job(business_id, int(message_id), now))
    return int(message_id)
