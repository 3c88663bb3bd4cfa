"""Sending a stored outbound WhatsApp message through Twilio Messaging."""

from __future__ import annotations

from dataclasses import dataclass

from switchboard.common.db.tenancy import tenant_session
from switchboard.common.integrations.errors import IntegrationError, PermanentIntegrationError
from switchboard.common.integrations.twilio_rest import TwilioRest, whatsapp_address
from switchboard.common.logging import get_logger
from switchboard.common.models import WhatsAppConversation, WhatsAppMessage
from switchboard.common.tenant_rows import ForeignOrMissingRow, owned_row

log = get_logger(__name__)


@dataclass(frozen=True)
class _Outgoing:
    to: str
    from_: str
    body: str


def _outgoing(business_id: int, message_id: int) -> _Outgoing | None:
    with tenant_session(business_id) as session:
        message = owned_row(session, WhatsAppMessage, business_id, message_id)
        if message.direction != "out":
            raise ForeignOrMissingRow(f"message {message_id} is not an outbound message")
        if message.status in ("sent", "failed"):
            return None
        conversation = owned_row(
            session, WhatsAppConversation, business_id, message.conversation_id
        )
        return _Outgoing(
            whatsapp_address(conversation.contact_number),
            whatsapp_address(conversation.business_number),
            message.body,
        )


def _record(business_id: int, message_id: int, **values: object) -> None:
    with tenant_session(business_id) as session:
        message = owned_row(session, WhatsAppMessage, business_id, message_id, lock=True)
        message.attempts += 1
        for name, value in values.items():
            setattr(message, name, value)


def send_outbound(business_id: int, message_id: int, twilio: TwilioRest, *, final: bool) -> bool:
    """Send the message once; True if sent, False if it was already sent or failed.

    A failure is recorded on the message. It becomes ``failed`` (visible in the conversation)
    when it is permanent or this was the ``final`` attempt; otherwise it stays ``queued`` and
    the error is re-raised so the job system retries with backoff.
    """
    outgoing = _outgoing(business_id, message_id)
    if outgoing is None:
        return False
    try:
        sent = twilio.send_whatsapp(outgoing.to, outgoing.from_, outgoing.body)
    except IntegrationError as exc:
        given_up = final or isinstance(exc, PermanentIntegrationError)
        _record(
            business_id,
            message_id,
            status="failed" if given_up else "queued",
            error=str(exc)[:500],
        )
        log.warning(
            "whatsapp.send_failed", business_id=business_id, message_id=message_id, final=given_up
        )
        raise
    _record(business_id, message_id, status="sent", message_sid=sent.sid, error=None)
    log.info("whatsapp.sent", business_id=business_id, message_id=message_id, sid=sent.sid)
    return True
