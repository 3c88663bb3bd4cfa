"""PostgreSQL functions for the two units of work around sending a WhatsApp message.

``send_whatsapp_with_retry_job`` claims the message (``sending``, one more attempt) before it
calls Twilio and records the outcome after. Through the ORM each was a transaction of three
or two statements plus its overhead; here each is one statement on an autocommit connection
(``whatsapp/sending_postgres.py``), with the same steps as the portable path in
``whatsapp/sending.py``, which SQLite uses:

- ``switchboard_whatsapp_claim_send``: the message locked and checked (this business's, an
  outbound one, not sent or failed yet), marked ``sending`` with one more attempt; returns
  the addresses, the body, and when an earlier attempt that never settled began.
- ``switchboard_whatsapp_record_send``: the outcome (status, Twilio's sid when there is one,
  the error) written on the message.

Both switch to the application role and set the tenant for their transaction only.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02
"""

from collections.abc import Sequence

from alembic import op

from switchboard.common.db.tenancy import TENANT_SETTING

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CLAIM = "switchboard_whatsapp_claim_send"
RECORD = "switchboard_whatsapp_record_send"

CREATE_CLAIM = f"""
CREATE OR REPLACE FUNCTION {CLAIM}(
    p_role text, p_business_id bigint, p_message_id bigint, p_sending text, p_now timestamptz
) RETURNS TABLE (out_state text, out_contact text, out_business_number text, out_body text,
                 out_unsettled_since timestamptz)
LANGUAGE plpgsql VOLATILE SECURITY INVOKER AS $fn$
DECLARE
    v_direction text; v_status text; v_updated timestamptz; v_body text; v_contact text;
    v_number text;
BEGIN
    PERFORM set_config('role', p_role, true);
    PERFORM set_config('{TENANT_SETTING}', p_business_id::text, true);
    SELECT m.direction, m.status, m.updated_at, m.body, c.contact_number, c.business_number
    INTO v_direction, v_status, v_updated, v_body, v_contact, v_number
    FROM whatsapp_messages m
    JOIN whatsapp_conversations c
      ON c.id = m.conversation_id AND c.business_id = p_business_id
    WHERE m.business_id = p_business_id AND m.id = p_message_id
    FOR UPDATE OF m;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'missing', NULL::text, NULL::text, NULL::text, NULL::timestamptz;
    ELSIF v_direction <> 'out' THEN
        RETURN QUERY SELECT 'not_outbound', NULL::text, NULL::text, NULL::text,
                            NULL::timestamptz;
    ELSIF v_status IN ('sent', 'failed') THEN
        RETURN QUERY SELECT 'settled', NULL::text, NULL::text, NULL::text, NULL::timestamptz;
    ELSE
        UPDATE whatsapp_messages
        SET status = p_sending, attempts = attempts + 1, updated_at = p_now
        WHERE business_id = p_business_id AND id = p_message_id;
        RETURN QUERY SELECT 'claimed', v_contact, v_number, v_body,
            CASE WHEN v_status = p_sending THEN v_updated END;
    END IF;
END
$fn$
"""

CREATE_RECORD = f"""
CREATE OR REPLACE FUNCTION {RECORD}(
    p_role text, p_business_id bigint, p_message_id bigint, p_status text, p_sid text,
    p_error text, p_now timestamptz
) RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY INVOKER AS $fn$
BEGIN
    PERFORM set_config('role', p_role, true);
    PERFORM set_config('{TENANT_SETTING}', p_business_id::text, true);
    UPDATE whatsapp_messages
    SET status = p_status, message_sid = COALESCE(p_sid, message_sid), error = p_error,
        updated_at = p_now
    WHERE business_id = p_business_id AND id = p_message_id;
    RETURN FOUND;
END
$fn$
"""


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(CREATE_CLAIM)
        op.execute(CREATE_RECORD)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP FUNCTION IF EXISTS {RECORD}")
        op.execute(f"DROP FUNCTION IF EXISTS {CLAIM}")
