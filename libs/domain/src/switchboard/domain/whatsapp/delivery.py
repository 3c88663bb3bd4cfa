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
error, as a refused send would: shown in the conversation (Twilio's code in ``error_code``, what
it means in ``error``), and retried by nothing, not even a retried dead send job
(``sending.reopen_failed_send``): sending the same text again cannot succeed, and could reach
the customer twice or a number that blocked the business. The usual one is error 63016: the
customer's last message is more than 24 hours old, and WhatsApp then delivers only an approved
template.

Each report is one ``UPDATE``, within the business that owns the number the message was sent
from. Every send names our message's id in its callback (``?message_id=``, part of the URL
Twilio signs), and the report finds the message by it: Twilio may report before the send has
heard back and recorded the sid, while the message is still ``sending``. Such a report is kept
all the same, with Twilio's sid when the message has none yet; a sid already recorded must be
the report's. The send's record afterwards leaves the delivery alone, and a message reported
not delivered stays ``failed`` (``sending.SendLedger.record``). A callback without the id (a
message sent before the id was named) finds its message by the ``(business_id, message_sid)``
unique key, once the sid is recorded.
"""

from __future__ import annotations

import re
from typing import Literal

from sqlalchemy import ColumnElement, Exists, exists, func, or_, update
from sqlalchemy.orm import aliased

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


#: Twilio's error codes are numbers (five digits today); anything else in ``ErrorCode`` is
#: not kept as one.
_ERROR_CODE = re.compile(r"[0-9]{1,8}")
#: The most of Twilio's own ``ErrorMessage`` a message keeps.
MAX_DESCRIPTION_CHARS = 160
#: What in Twilio's text could name a person: a phone number written with any separators, a
#: ``whatsapp:`` address or an email address. Replaced, never kept.
_PERSONAL = re.compile(
    r"[^\s()<>,;]*@[^\s()<>,;]*|whatsapp:[^\s()<>,;]*|\+?[0-9][0-9 ().-]{4,}[0-9]",
    re.IGNORECASE,
)


def error_code_of(raw: str) -> str | None:
    """Twilio's ``ErrorCode`` as the message keeps it; None when absent or not a number."""
    code = raw.strip()
    return code if _ERROR_CODE.fullmatch(code) else None


def _description(code: str | None, twilio_message: str) -> str | None:
    """What the error means: ours for Twilio's usual codes, else Twilio's ``ErrorMessage`` when
    it sends one, on one line, cut short, and with anything that could be a phone number or an
    address taken out (the report is about a customer; their number is not the error)."""
    if code in _MEANINGS:
        return _MEANINGS[code]
    text = " ".join("".join(c if c.isprintable() else " " for c in twilio_message).split())
    text = _PERSONAL.sub("…", text)[:MAX_DESCRIPTION_CHARS].strip()
    return text or None


def delivery_error(status: str, error_code: str, error_message: str = "") -> str:
    """The message's ``error`` for a report that it was not delivered."""
    code = error_code_of(error_code)
    description = _description(code, error_message)
    return f"Twilio: {status}, error {code or 'none'}" + (
        f" ({description})" if description else ""
    )


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


#: The message's send states a report applies to when it names the message by id: an attempt
#: may not have heard back from Twilio yet.
_REPORTED_BY_ID = ("sending", "sent")


def _sid_elsewhere(business_id: int, message_id: int, message_sid: str) -> Exists:
    """Whether another message of the business records the sid: the report is not this one's
    (and its sid could not be kept, the key being unique)."""
    other = aliased(WhatsAppMessage)
    return exists().where(
        other.business_id == business_id,
        other.message_sid == message_sid,
        other.id != message_id,
    )


def record_delivery(
    business_number: str,
    message_sid: str,
    status: str,
    error_code: str,
    message_id: int | None = None,
    error_message: str = "",
) -> bool:
    """Apply Twilio's report on the message it sent as ``message_sid`` from the business's
    ``business_number`` (our ``message_id`` when the callback names it); True if the message
    changed. A report that it was not delivered keeps Twilio's ``error_code`` on the message,
    and in its ``error`` what the code means (or Twilio's ``error_message``, see
    :func:`delivery_error`)."""
    earlier = _FOLLOWS.get(status)
    if earlier is None:  # queued, accepted, sending: nothing WhatsApp did yet
        return False
    business_id = business_for_whatsapp_number(business_number)
    if business_id is None:
        return False
    now = utcnow()
    values: dict[str, object] = {"delivery_status": status, "delivery_status_at": now}
    if status in NOT_DELIVERED:
        values.update(
            status="failed",
            error=delivery_error(status, error_code, error_message),
            error_code=error_code_of(error_code),
            updated_at=now,
        )
    not_later: ColumnElement[bool] = WhatsAppMessage.delivery_status.is_(None)
    if earlier:
        not_later = or_(not_later, WhatsAppMessage.delivery_status.in_(earlier))
    which: tuple[ColumnElement[bool], ...]
    if message_id is None:
        which = (WhatsAppMessage.message_sid == message_sid, WhatsAppMessage.status == "sent")
    else:
        which = (
            WhatsAppMessage.id == message_id,
            or_(WhatsAppMessage.message_sid.is_(None), WhatsAppMessage.message_sid == message_sid),
            WhatsAppMessage.status.in_(_REPORTED_BY_ID),
            ~_sid_elsewhere(business_id, message_id, message_sid),
        )
        values["message_sid"] = func.coalesce(WhatsAppMessage.message_sid, message_sid)
    with tenant_session(business_id) as session:
        changed = session.scalar(
            update(WhatsAppMessage)
            .where(
                WhatsAppMessage.business_id == business_id,
                WhatsAppMessage.direction == "out",
                *which,
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
            message_id=changed,
            message_sid=message_sid,
            code=error_code_of(error_code),
        )
    return changed is not None
