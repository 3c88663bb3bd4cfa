"""Sending a stored outbound WhatsApp message through Twilio Messaging.

The message is claimed before the call and the outcome recorded after, each its own unit of
work and a method of the :class:`SendLedger` port. :class:`OrmSendLedger` is the portable
adapter (SQLAlchemy's ORM, on SQLite and PostgreSQL alike); the worker's bootstrap gives
PostgreSQL one that makes each one function call.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select

from switchboard.common.db.base import as_utc, utcnow
from switchboard.common.db.owned import owned_row
from switchboard.common.db.tenancy import tenant_session
from switchboard.common.errors import NotFoundError
from switchboard.common.integrations.errors import IntegrationError, PermanentIntegrationError
from switchboard.common.integrations.twilio_rest import TwilioRest, whatsapp_address
from switchboard.common.logging import get_logger
from switchboard.common.models import WhatsAppConversation, WhatsAppMessage

log = get_logger(__name__)

#: A message is ``sending`` from the moment an attempt starts until the attempt knows whether
#: Twilio took it. A later attempt that finds it still ``sending`` asks Twilio first.
SENDING = "sending"
#: How far before the recorded start of an unsettled attempt Twilio may date the message it
#: created: clock skew, and an unanswered attempt records ``sending`` again only when its
#: request gave up (after the integration timeout, well under a minute).
_CLOCK_SLACK = timedelta(minutes=1)


@dataclass(frozen=True)
class Outgoing:
    """A claimed message: Twilio's addresses and the text."""

    to: str
    from_: str
    body: str
    #: When an earlier attempt began that never learned whether Twilio took the message.
    unsettled_since: datetime | None


def missing(business_id: int, message_id: int) -> NotFoundError:
    """The error for a message the business does not have."""
    return NotFoundError(f"WhatsAppMessage {message_id} not found for business {business_id}")


def not_outbound(message_id: int) -> NotFoundError:
    """The error for a message that is not one of the business's own."""
    return NotFoundError(f"message {message_id} is not an outbound message")


class SendLedger(abc.ABC):
    """Where a send attempt is claimed on its message and its outcome recorded."""

    @abc.abstractmethod
    def claim(self, business_id: int, message_id: int) -> Outgoing | None:
        """Mark the message :data:`SENDING` (one more attempt); None if it is already sent or
        failed. Raises :func:`missing` or :func:`not_outbound`'s error."""

    @abc.abstractmethod
    def record(
        self, business_id: int, message_id: int, status: str, sid: str | None, error: str | None
    ) -> None:
        """The attempt's outcome on the message (Twilio's sid, when there is one, kept)."""


class OrmSendLedger(SendLedger):
    """Claim and record through the ORM, each in a ``tenant_session`` transaction."""

    def claim(self, business_id: int, message_id: int) -> Outgoing | None:
        """Mark the message ``sending``; None if it is already sent or failed."""
        with tenant_session(business_id) as session:
            message = owned_row(session, WhatsAppMessage, business_id, message_id, lock=True)
            if message.direction != "out":
                raise not_outbound(message_id)
            if message.status in ("sent", "failed"):
                return None
            conversation = owned_row(
                session, WhatsAppConversation, business_id, message.conversation_id
            )
            unsettled_since = as_utc(message.updated_at) if message.status == SENDING else None
            message.status = SENDING
            message.attempts += 1
            return Outgoing(
                whatsapp_address(conversation.contact_number),
                whatsapp_address(conversation.business_number),
                message.body,
                unsettled_since,
            )

    def record(
        self, business_id: int, message_id: int, status: str, sid: str | None, error: str | None
    ) -> None:
        """The attempt's outcome on the message."""
        with tenant_session(business_id) as session:
            message = owned_row(session, WhatsAppMessage, business_id, message_id, lock=True)
            message.status, message.error = status, error
            if sid is not None:
                message.message_sid = sid


def _sent_since(
    business_id: int, outgoing: Outgoing, twilio: TwilioRest, since: datetime
) -> str | None:
    """The sid Twilio gave an attempt of this message begun at ``since``, if it reached Twilio."""
    candidates = twilio.find_whatsapp(
        outgoing.to, outgoing.from_, outgoing.body, created_after=since - _CLOCK_SLACK
    )
    if not candidates:
        return None
    with tenant_session(business_id) as session:
        recorded = set(
            session.scalars(
                select(WhatsAppMessage.message_sid).where(
                    WhatsAppMessage.business_id == business_id,
                    WhatsAppMessage.message_sid.in_(candidates),
                )
            )
        )
    # The same text sent as another of our messages is that message's, not this one's.
    return next((sid for sid in candidates if sid not in recorded), None)


def send_outbound(
    business_id: int, message_id: int, twilio: TwilioRest, ledger: SendLedger, *, final: bool
) -> bool:
    """Send the message once; True if sent, False if it was already sent or failed.

    A failure is recorded on the message. It becomes ``failed`` (visible in the conversation)
    when it is permanent or this was the ``final`` attempt; otherwise the error is re-raised so
    the job system retries with backoff. Twilio's own error answer means nothing was sent
    (``queued`` again). With no answer at all, the attempt asks Twilio whether the message
    arrived; if that cannot be told either, it stays ``sending``, as it does when a worker dies
    mid-send or the database fails after Twilio took the message. An attempt that finds it
    ``sending`` looks it up at Twilio before sending, so it is never sent twice.
    """
    began = utcnow()
    outgoing = ledger.claim(business_id, message_id)
    if outgoing is None:
        return False
    if outgoing.unsettled_since is not None:
        try:
            earlier = _sent_since(business_id, outgoing, twilio, outgoing.unsettled_since)
        except IntegrationError as exc:  # cannot tell: sending now might send it twice
            _record_failure(ledger, business_id, message_id, exc, "failed" if final else SENDING)
            raise
        if earlier is not None:
            return _record_sent(ledger, business_id, message_id, earlier, earlier_attempt=True)
    try:
        sent = twilio.send_whatsapp(outgoing.to, outgoing.from_, outgoing.body)
    except IntegrationError as exc:
        answered = exc.status is not None  # Twilio said no; else the outcome is unknown
        if not answered and (
            arrived := _lookup_after_silence(business_id, outgoing, twilio, began)
        ):
            return _record_sent(ledger, business_id, message_id, arrived, earlier_attempt=True)
        given_up = final or isinstance(exc, PermanentIntegrationError)
        status = "failed" if given_up else "queued" if answered else SENDING
        _record_failure(ledger, business_id, message_id, exc, status)
        raise
    return _record_sent(ledger, business_id, message_id, sent.sid, earlier_attempt=False)


def _lookup_after_silence(
    business_id: int, outgoing: Outgoing, twilio: TwilioRest, began: datetime
) -> str | None:
    try:
        return _sent_since(business_id, outgoing, twilio, began)
    except IntegrationError:
        return None  # still unknown: the message stays ``sending`` for the next attempt


def _record_sent(
    ledger: SendLedger, business_id: int, message_id: int, sid: str, *, earlier_attempt: bool
) -> bool:
    """``earlier_attempt``: the sid came from a lookup, of a request that got no answer."""
    ledger.record(business_id, message_id, "sent", sid, None)
    log.info(
        "whatsapp.sent",
        business_id=business_id,
        message_id=message_id,
        sid=sid,
        found_at_twilio=earlier_attempt,
    )
    return True


def _record_failure(
    ledger: SendLedger, business_id: int, message_id: int, exc: IntegrationError, status: str
) -> None:
    ledger.record(business_id, message_id, status, None, str(exc)[:500])
    log.warning(
        "whatsapp.send_failed", business_id=business_id, message_id=message_id, outcome=status
    )
