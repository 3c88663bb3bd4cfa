"""What Twilio later reports about a WhatsApp message it took: sent, delivered, read, or not.

Twilio's answer to a send says only that it took the message (``queued``); whether WhatsApp
delivered it comes later, to the ``StatusCallback`` every send names
(``twilio_rest.WHATSAPP_STATUS_PATH``), two or three reports per message.

The report goes to the message's ``delivery_status`` (and ``delivery_status_at``), not to its
``status``, which is also the send attempt's claim (``sent`` and ``failed`` end every attempt, in
SQL functions too). Forward only: ``sent`` < ``delivered`` < ``read``, and ``failed`` or
``undelivered`` for good, so Twilio's retries and reports arriving out of order (``read`` before
``delivered``) change nothing once a later state is recorded. A failure after ``delivered`` or
``read`` is not believed: WhatsApp had the message.

A ``failed`` or ``undelivered`` report also turns the ``sent`` message ``failed`` with Twilio's
error, as a refused send would: shown in the conversation, and retried by nothing (sending the
same text again cannot succeed). The usual one is error 63016: the customer's last message is
more than 24 hours old, and WhatsApp then delivers only an approved template.

Each report is one ``UPDATE`` by the ``(business_id, message_sid)`` unique key, within the
business that owns the number the message was sent from. A report on a message whose sid the
send has not recorded yet finds nothing and is lost (docs/whatsapp.md says when).
"""

from __future__ import annotations

from typing import Literal

from sqlalchemy import ColumnElement, or_, update

from switchboard.common.db.base import utcnow
from switchboard.common.db.tenancy import tenant_session
from switchboard.common.logging import get_logger
from switchboard.common.models import WhatsAppMessage
from switchboard.domain.whatsapp.inbound import business_for_whatsapp_number

log = get_logger(__name__)

#: The reports that say the customer did not get the message.
NOT_DELIVERED = ("failed", "undelivered")
#: What a business should read for Twilio's usual WhatsApp delivery errors.
_MEANINGS = {
    "63016": "more than 24 hours since the customer's last message: WhatsApp delivers only "
    "an approved template until the customer writes again",
    "63024": "the recipient cannot receive this message",
    "63032": "the customer has opted out of messages from this business",
    "63049": "Meta chose not to deliver this message",
}


def delivery_error(status: str, error_code: str) -> str:
    """The message's ``error`` for a report that it was not delivered."""
    code = error_code.strip() or "none"
    meaning = _MEANINGS.get(code)
    return f"Twilio: {status}, error {code}" + (f" ({meaning})" if meaning else "")


#: What a message's ``delivery_status`` can say (None: no report yet).
DeliveryStatus = Literal["sent", "delivered", "read", "undelivered", "failed"]
#: Each state a report records, and the states it may follow besides None.
_FOLLOWS: dict[str, tuple[DeliveryStatus, ...]] = {
    "sent": (),
    "delivered": ("sent",),
    "read": ("sent", "delivered"),
    "undelivered": ("sent",),
    "failed": ("sent",),
}


def record_delivery(business_number: str, message_sid: str, status: str, error_code: str) -> bool:
    """Apply Twilio's report on the message it sent as ``message_sid`` from the business's
    ``business_number``; True if the message changed."""
    earlier = _FOLLOWS.get(status)
    if earlier is None:  # queued, accepted, sending: nothing WhatsApp did yet
        return False
    business_id = business_for_whatsapp_number(business_number)
    if business_id is None:
        return False
    now = utcnow()
    values: dict[str, object] = {"delivery_status": status, "delivery_status_at": now}
    if status in NOT_DELIVERED:
        values.update(status="failed", error=delivery_error(status, error_code), updated_at=now)
    not_later: ColumnElement[bool] = WhatsAppMessage.delivery_status.is_(None)
    if earlier:
        not_later = or_(not_later, WhatsAppMessage.delivery_status.in_(earlier))
    with tenant_session(business_id) as session:
        changed = session.scalar(
            update(WhatsAppMessage)
            .where(
                WhatsAppMessage.business_id == business_id,
                WhatsAppMessage.message_sid == message_sid,
                WhatsAppMessage.direction == "out",
                WhatsAppMessage.status == "sent",
                not_later,
            )
            .values(values)
            .returning(WhatsAppMessage.id)
            .execution_options(synchronize_session=False)
        )
    if changed is not None and status in NOT_DELIVERED:
        log.info(
            "whatsapp.not_delivered",
            business_id=business_id,
            message_sid=message_sid,
            code=error_code,
        )
    return changed is not None
