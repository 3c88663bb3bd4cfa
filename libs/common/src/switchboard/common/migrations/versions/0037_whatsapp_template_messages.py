"""WhatsApp template messages: an outbound message may be a Twilio Content API template.

Outside WhatsApp's 24-hour window only an approved template is delivered. A message sent as one
keeps the template's sid (``content_sid``, ``HX…``) and its variables (``content_variables``,
the JSON object sent to Twilio). ``switchboard_whatsapp_claim_send`` (migration 0014) is
replaced to return them too, so the attempt sends the template; otherwise as before, with the
``SET`` clauses of migration 0023.

Revision ID: 0037
Revises: 0036
Create Date: 2026-12-06
"""

import importlib
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from switchboard.common.db.planner import function_settings
from switchboard.common.db.tenancy import TENANT_SETTING

revision: str = "0037"
down_revision: str | None = "0036"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CLAIM = "switchboard_whatsapp_claim_send"
_SIGNATURE = f"{CLAIM}(text, bigint, bigint, text, timestamptz)"

CREATE_CLAIM = f"""
CREATE FUNCTION {CLAIM}(
    p_role text, p_business_id bigint, p_message_id bigint, p_sending text, p_now timestamptz
) RETURNS TABLE (out_state text, out_contact text, out_business_number text, out_body text,
                 out_created_at timestamptz, out_unsettled_since timestamptz,
                 out_content_sid text, out_content_variables text)
LANGUAGE plpgsql VOLATILE SECURITY INVOKER {function_settings()} AS $fn$
DECLARE
    v_direction text; v_status text; v_created timestamptz; v_updated timestamptz;
    v_body text; v_contact text; v_number text; v_content_sid text; v_content_variables text;
BEGIN
    PERFORM set_config('role', p_role, true);
    PERFORM set_config('{TENANT_SETTING}', p_business_id::text, true);
    SELECT m.direction, m.status, m.created_at, m.updated_at, m.body, c.contact_number,
           c.business_number, m.content_sid, m.content_variables
    INTO v_direction, v_status, v_created, v_updated, v_body, v_contact, v_number,
         v_content_sid, v_content_variables
    FROM whatsapp_messages m
    JOIN whatsapp_conversations c
      ON c.id = m.conversation_id AND c.business_id = p_business_id
    WHERE m.business_id = p_business_id AND m.id = p_message_id
    FOR UPDATE OF m;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'missing', NULL::text, NULL::text, NULL::text, NULL::timestamptz,
                            NULL::timestamptz, NULL::text, NULL::text;
    ELSIF v_direction <> 'out' THEN
        RETURN QUERY SELECT 'not_outbound', NULL::text, NULL::text, NULL::text,
                            NULL::timestamptz, NULL::timestamptz, NULL::text, NULL::text;
    ELSIF v_status IN ('sent', 'failed') THEN
        RETURN QUERY SELECT 'settled', NULL::text, NULL::text, NULL::text, NULL::timestamptz,
                            NULL::timestamptz, NULL::text, NULL::text;
    ELSIF v_status = p_sending THEN
        UPDATE whatsapp_messages SET attempts = attempts + 1
        WHERE business_id = p_business_id AND id = p_message_id;
        RETURN QUERY SELECT 'claimed', v_contact, v_number, v_body, v_created, v_updated,
                            v_content_sid, v_content_variables;
    ELSE
        UPDATE whatsapp_messages
        SET status = p_sending, attempts = attempts + 1, updated_at = p_now
        WHERE business_id = p_business_id AND id = p_message_id;
        RETURN QUERY SELECT 'claimed', v_contact, v_number, v_body, v_created,
                            NULL::timestamptz, v_content_sid, v_content_variables;
    END IF;
END
$fn$
"""


def upgrade() -> None:
    op.add_column("whatsapp_messages", sa.Column("content_sid", sa.String(34), nullable=True))
    op.add_column("whatsapp_messages", sa.Column("content_variables", sa.Text(), nullable=True))
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP FUNCTION IF EXISTS {_SIGNATURE}")
        op.execute(CREATE_CLAIM)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        unsettled_claim = importlib.import_module(
            "switchboard.common.migrations.versions.0014_whatsapp_unsettled_send_claim"
        )
        op.execute(f"DROP FUNCTION IF EXISTS {_SIGNATURE}")
        op.execute(unsettled_claim.CREATE_CLAIM)
        op.execute(f"ALTER FUNCTION {CLAIM} {function_settings()}")
    with op.batch_alter_table("whatsapp_messages") as batch:
        batch.drop_column("content_variables")
        batch.drop_column("content_sid")
