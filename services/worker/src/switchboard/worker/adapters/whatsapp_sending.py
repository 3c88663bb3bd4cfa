"""Claiming and recording a WhatsApp send on PostgreSQL: one function call each (migrations
0007, 0014 and 0036)."""

from __future__ import annotations

from switchboard.common.db.base import utcnow
from switchboard.common.db.engine import call_function
from switchboard.common.integrations.twilio_rest import whatsapp_address
from switchboard.domain.whatsapp.sending import (
    SENDING,
    OrmSendLedger,
    Outgoing,
    missing,
    not_outbound,
    template_of,
)

_CLAIM = (
    "SELECT * FROM switchboard_whatsapp_claim_send("
    ":role, :business_id, :message_id, :sending, :now)"
)
_RECORD = (
    "SELECT switchboard_whatsapp_record_send("
    ":role, :business_id, :message_id, :status, :sid, :error, :now)"
)


class PostgresSendLedger(OrmSendLedger):
    """The claim and the record as function calls; the rare :meth:`retake` (an attempt that
    died unsettled) through the ORM."""

    def __init__(self, app_role: str) -> None:
        self._app_role = app_role

    def claim(self, business_id: int, message_id: int) -> Outgoing | None:
        """Claim the message; None if it is already sent or failed."""
        (
            state,
            contact,
            number,
            body,
            created_at,
            unsettled_since,
            content_sid,
            content_variables,
        ) = call_function(
            _CLAIM,
            {
                "role": self._app_role,
                "business_id": business_id,
                "message_id": message_id,
                "sending": SENDING,
                "now": utcnow(),
            },
        )
        if state == "missing":
            raise missing(business_id, message_id)
        if state == "not_outbound":
            raise not_outbound(message_id)
        if state == "settled":
            return None
        return Outgoing(
            whatsapp_address(contact),
            whatsapp_address(number),
            body,
            created_at,
            unsettled_since,
            template_of(content_sid, content_variables),
        )

    def record(
        self, business_id: int, message_id: int, status: str, sid: str | None, error: str | None
    ) -> None:
        """Write the outcome on the message."""
        (found,) = call_function(
            _RECORD,
            {
                "role": self._app_role,
                "business_id": business_id,
                "message_id": message_id,
                "status": status,
                "sid": sid,
                "error": error,
                "now": utcnow(),
            },
        )
        if not found:
            raise missing(business_id, message_id)
