"""WhatsApp's 24-hour customer service window, and the template messages sent outside it.

WhatsApp delivers a free-form message only within 24 hours of the customer's last message to
the business; outside that window only an approved template is delivered (Twilio's Content
API: ``ContentSid`` and ``ContentVariables``), and Twilio reports a free-form one failed with
error 63016. A conversation is one customer number and one business sender, so its window
ends 24 hours after its newest inbound message (as stored: when it reached us).

The API refuses a free-form message outside the window (:class:`WindowClosed`, a 409); a send
attempt that finds the window closed (its job waited too long) fails the message without
calling Twilio (:data:`WINDOW_CLOSED_ERROR`), and a reply job that finds it closed before it
asks the agent fails the inbound message unanswered (:func:`fail_unanswerable`: no AI call, no
reply). A template is sent at any time.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import exists, select, update
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql.selectable import ScalarSelect

from switchboard.common.db.base import as_utc
from switchboard.common.db.tenancy import tenant_session
from switchboard.common.errors import ConflictError
from switchboard.common.models import WhatsAppMessage

#: How long after the customer's last message WhatsApp delivers a free-form message.
WINDOW = timedelta(hours=24)
#: A Twilio Content API template's sid.
CONTENT_SID = re.compile(r"^HX[0-9a-fA-F]{32}$")
#: The most variables one template message takes, and the longest value of one (WhatsApp's).
MAX_VARIABLES = 50
MAX_VARIABLE_CHARS = 1024
#: The error a send attempt records on a free-form message it finds outside the window.
WINDOW_CLOSED_ERROR = (
    "WhatsApp's 24-hour window closed before the message could be sent: outside it only a "
    "template is delivered (not sent to Twilio)"
)
#: The error a reply job records on an inbound message it finds outside the window.
UNANSWERED_ERROR = (
    "WhatsApp's 24-hour window closed before the agent could answer: a reply would not be "
    "delivered (the agent was not asked)"
)


@dataclass(frozen=True)
class Template:
    """A template message: its ``HX…`` sid and its variables as the JSON object to send."""

    content_sid: str
    variables: str | None


def template_body(content_sid: str) -> str:
    """What a template message stores as its body, for the console (never its variables)."""
    return f"[template {content_sid}]"


def variables_json(variables: dict[str, str] | None) -> str | None:
    """The variables as Twilio's ``ContentVariables`` (a JSON object), None without any."""
    return None if not variables else json.dumps(variables, ensure_ascii=False)


def variables_of(stored: str | None) -> dict[str, str] | None:
    """A template message's stored variables (:func:`variables_json`) as the object again."""
    return None if stored is None else json.loads(stored)


class WindowClosed(ConflictError):
    """A free-form message outside the conversation's window: only a template is delivered."""

    def __init__(self, ends_at: datetime | None) -> None:
        when = (
            "the contact has never written to this number"
            if ends_at is None
            else f"this conversation's window closed at {ends_at.isoformat()}"
        )
        super().__init__(
            f"body: WhatsApp delivers a free-form message only within 24 hours of the "
            f"contact's last message, and {when}; send an approved template instead "
            f"(content_sid, content_variables)"
        )
        self.ends_at = ends_at


def window_end(session: Session, business_id: int, conversation_id: int) -> datetime | None:
    """When the conversation's window closes (closed already, maybe); None if the contact has
    never written."""
    return _newest_inbound_end(session, business_id, conversation_id)


def _newest_inbound_end(
    session: Session, business_id: int, conversation_id: int | ScalarSelect[int]
) -> datetime | None:
    last = session.scalar(
        select(WhatsAppMessage.created_at)
        .where(
            WhatsAppMessage.business_id == business_id,
            WhatsAppMessage.conversation_id == conversation_id,
            WhatsAppMessage.direction == "in",
        )
        .order_by(WhatsAppMessage.id.desc())
        .limit(1)
    )
    return None if last is None else as_utc(last) + WINDOW


def message_window_end(business_id: int, message_id: int) -> datetime | None:
    """When the window of the message's conversation closes (see :func:`window_end`); None
    also for a message the business does not have. One query."""
    conversation_id = (
        select(WhatsAppMessage.conversation_id)
        .where(WhatsAppMessage.business_id == business_id, WhatsAppMessage.id == message_id)
        .scalar_subquery()
    )
    with tenant_session(business_id) as session:
        return _newest_inbound_end(session, business_id, conversation_id)


def fail_unanswerable(business_id: int, message_id: int, now: datetime) -> bool:
    """Fail the inbound message unanswered if its conversation's window is closed ``now``: True
    if it is (``failed``, :data:`UNANSWERED_ERROR`), so its reply job asks the agent nothing.

    One statement, which reads no more than the message's row while the message itself is
    under 24 hours old (the usual case). A message answered already (``replied``) is left as it
    is: its reply's send checks the window itself. One failed already is failed again, so a
    redelivered job ends the same way.
    """
    newer = aliased(WhatsAppMessage)
    opened_since = now - WINDOW
    with tenant_session(business_id) as session:
        failed = session.scalar(
            update(WhatsAppMessage)
            .where(
                WhatsAppMessage.business_id == business_id,
                WhatsAppMessage.id == message_id,
                WhatsAppMessage.direction == "in",
                WhatsAppMessage.status != "replied",
                WhatsAppMessage.created_at <= opened_since,
                ~exists().where(
                    newer.business_id == business_id,
                    newer.conversation_id == WhatsAppMessage.conversation_id,
                    newer.direction == "in",
                    newer.created_at > opened_since,
                ),
            )
            .values(status="failed", error=UNANSWERED_ERROR)
            .returning(WhatsAppMessage.id)
            .execution_options(synchronize_session=False)
        )
    return failed is not None


def open_until_ms(ends_at: datetime) -> int:
    """A time the window is known to be open until, as a job carries it (ms since the epoch):
    the job's send checks it without a query (:func:`known_open`). The window only grows
    after it (a newer message from the contact), so a bound stays true for a retry days later.
    """
    return int(ends_at.timestamp() * 1000)


def known_open(until_ms: int | None, now: datetime) -> bool:
    """Whether a job's bound (:func:`open_until_ms`) shows the window open ``now``; False
    when the job carries none (queued before the bound existed) or it has passed, and the
    window is then read from the database."""
    return until_ms is not None and now.timestamp() * 1000 < until_ms


def is_open(ends_at: datetime | None, now: datetime) -> bool:
    """Whether a free-form message sent ``now`` is delivered."""
    return ends_at is not None and now < ends_at


def require_open(ends_at: datetime | None, now: datetime) -> None:
    """Raise :class:`WindowClosed` unless the window is open ``now``."""
    if not is_open(ends_at, now):
        raise WindowClosed(ends_at)
