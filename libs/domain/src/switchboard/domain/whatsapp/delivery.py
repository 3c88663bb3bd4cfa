"""What Twilio later reports about a WhatsApp message it took: a delivery that failed.

Twilio's answer to a send says only that it took the message (``queued``); whether WhatsApp
delivered it comes later, to the ``StatusCallback`` every send names
(``twilio_rest.WHATSAPP_STATUS_PATH``). The usual failure is error 63016: the customer's
last message is more than 24 hours old, and WhatsApp then delivers only an approved template.
Before, such a message stayed ``sent`` and the business never learnt its customer got nothing.

A ``failed`` or ``undelivered`` report turns the ``sent`` message ``failed`` with Twilio's
error, as a refused send would: shown in the conversation, and retried by nothing (sending the
same text again cannot succeed). Forward only: nothing but a ``sent`` message changes, so a
late or repeated report undoes nothing. ``queued``, ``sent``, ``delivered`` and ``read`` change
nothing either: the message's ``status`` is also the send's claim (``sent`` and ``failed``
end every send attempt, in SQL functions too), and recording them needs a column of its own.
"""

from __future__ import annotations

from sqlalchemy import update

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


def record_delivery(business_number: str, message_sid: str, status: str, error_code: str) -> bool:
    """Apply Twilio's report on the message it sent as ``message_sid`` from the business's
    ``business_number``; True if the message changed."""
    if status not in NOT_DELIVERED:
        return False
    business_id = business_for_whatsapp_number(business_number)
    if business_id is None:
        return False
    with tenant_session(business_id) as session:
        changed = session.scalar(
            update(WhatsAppMessage)
            .where(
                WhatsAppMessage.business_id == business_id,
                WhatsAppMessage.message_sid == message_sid,
                WhatsAppMessage.direction == "out",
                WhatsAppMessage.status == "sent",
            )
            .values(status="failed", error=delivery_error(status, error_code), updated_at=utcnow())
            .returning(WhatsAppMessage.id)
            .execution_options(synchronize_session=False)
        )
    if changed is not None:
        log.info(
            "whatsapp.not_delivered", business_id=business_id, sid=message_sid, code=error_code
        )
    return changed is not None
