"""Recording a WhatsApp send's outcome keeps what Twilio already reported of its delivery.

Every send names its message's id in the ``StatusCallback`` (``?message_id=``), so a report
that arrives before the send has heard back from Twilio, and recorded the sid, finds the
message all the same (``domain/whatsapp/delivery.py``). It may have said that WhatsApp did not
deliver the message (``delivery_status`` ``failed`` or ``undelivered``), which made it
``failed`` with Twilio's error. ``switchboard_whatsapp_record_send`` (migration 0007) wrote the
attempt's ``sent`` and no error over it; it now keeps that failure, and writes only the sid
(the same one, or the one the attempt heard of). The delivery columns were never its to write.

The function is replaced with the ``SET`` clauses of migration 0023.

Revision ID: 0034
Revises: 0033
Create Date: 2026-12-06
"""

import importlib
from collections.abc import Sequence

from alembic import op

from switchboard.common.db.planner import function_settings
from switchboard.common.db.tenancy import TENANT_SETTING

revision: str = "0034"
down_revision: str | None = "0033"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

RECORD = "switchboard_whatsapp_record_send"

CREATE_RECORD = f"""
CREATE OR REPLACE FUNCTION {RECORD}(
    p_role text, p_business_id bigint, p_message_id bigint, p_status text, p_sid text,
    p_error text, p_now timestamptz
) RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY INVOKER {function_settings()} AS $fn$
BEGIN
    PERFORM set_config('role', p_role, true);
    PERFORM set_config('{TENANT_SETTING}', p_business_id::text, true);
    UPDATE whatsapp_messages
    SET status = CASE WHEN delivery_status IN ('failed', 'undelivered') THEN 'failed'
                      ELSE p_status END,
        error = CASE WHEN delivery_status IN ('failed', 'undelivered') THEN error
                     ELSE p_error END,
        message_sid = COALESCE(p_sid, message_sid), updated_at = p_now
    WHERE business_id = p_business_id AND id = p_message_id;
    RETURN FOUND;
END
$fn$
"""


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(CREATE_RECORD)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        send_functions = importlib.import_module(
            "switchboard.common.migrations.versions.0007_whatsapp_send_functions"
        )
        op.execute(send_functions.CREATE_RECORD)
        op.execute(f"ALTER FUNCTION {RECORD} {function_settings()}")
