"""The WhatsApp send claim keeps when an unsettled attempt began, and returns the message's age.

``switchboard_whatsapp_claim_send`` (migration 0007) is replaced. A message found ``sending``
(an earlier attempt never learnt whether Twilio took it) is claimed for a lookup only: one more
attempt is counted but ``updated_at`` is kept, so it goes on saying when the last attempt that
may have reached Twilio began; the attempt waits until Twilio has had time to list that
message before it sends again. The function also returns ``created_at``: every attempt began
after it, so a lookup from there finds any of them. A queued message is claimed as before
(``sending``, one more attempt, ``updated_at`` now).

Revision ID: 0014
Revises: 0013
Create Date: 2027-01-14
"""

import importlib.util
from collections.abc import Sequence
from pathlib import Path

from alembic import op

from switchboard.common.db.tenancy import TENANT_SETTING

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CLAIM = "switchboard_whatsapp_claim_send"

CREATE_CLAIM = f"""
CREATE FUNCTION {CLAIM}(
    p_role text, p_business_id bigint, p_message_id bigint, p_sending text, p_now timestamptz
) RETURNS TABLE (out_state text, out_contact text, out_business_number text, out_body text,
                 out_created_at timestamptz, out_unsettled_since timestamptz)
LANGUAGE plpgsql VOLATILE SECURITY INVOKER AS $fn$
DECLARE
    v_direction text; v_status text; v_created timestamptz; v_updated timestamptz;
    v_body text; v_contact text; v_number text;
BEGIN
    PERFORM set_config('role', p_role, true);
    PERFORM set_config('{TENANT_SETTING}', p_business_id::text, true);
    SELECT m.direction, m.status, m.created_at, m.updated_at, m.body, c.contact_number,
           c.business_number
    INTO v_direction, v_status, v_created, v_updated, v_body, v_contact, v_number
    FROM whatsapp_messages m
    JOIN whatsapp_conversations c
      ON c.id = m.conversation_id AND c.business_id = p_business_id
    WHERE m.business_id = p_business_id AND m.id = p_message_id
    FOR UPDATE OF m;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'missing', NULL::text, NULL::text, NULL::text, NULL::timestamptz,
                            NULL::timestamptz;
    ELSIF v_direction <> 'out' THEN
        RETURN QUERY SELECT 'not_outbound', NULL::text, NULL::text, NULL::text,
                            NULL::timestamptz, NULL::timestamptz;
    ELSIF v_status IN ('sent', 'failed') THEN
        RETURN QUERY SELECT 'settled', NULL::text, NULL::text, NULL::text, NULL::timestamptz,
                            NULL::timestamptz;
    ELSIF v_status = p_sending THEN
        UPDATE whatsapp_messages SET attempts = attempts + 1
        WHERE business_id = p_business_id AND id = p_message_id;
        RETURN QUERY SELECT 'claimed', v_contact, v_number, v_body, v_created, v_updated;
    ELSE
        UPDATE whatsapp_messages
        SET status = p_sending, attempts = attempts + 1, updated_at = p_now
        WHERE business_id = p_business_id AND id = p_message_id;
        RETURN QUERY SELECT 'claimed', v_contact, v_number, v_body, v_created,
                            NULL::timestamptz;
    END IF;
END
$fn$
"""


def _migration_0007_claim() -> str:
    path = Path(__file__).with_name("0007_whatsapp_send_functions.py")
    spec = importlib.util.spec_from_file_location("switchboard_migration_0007", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return str(module.CREATE_CLAIM)


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP FUNCTION IF EXISTS {CLAIM}(text, bigint, bigint, text, timestamptz)")
        op.execute(CREATE_CLAIM)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP FUNCTION IF EXISTS {CLAIM}(text, bigint, bigint, text, timestamptz)")
        op.execute(_migration_0007_claim())
