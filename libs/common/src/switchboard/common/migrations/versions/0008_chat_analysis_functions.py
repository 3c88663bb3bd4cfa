"""PostgreSQL functions for the two units of work of a WhatsApp chat's analysis.

``analyze_conversation_job`` follows every answered message. Through the ORM it read the
conversation, its messages and the lead in one transaction and wrote the lead's fields in
another; here each is one statement on an autocommit connection (``analysis_postgres.py``),
with the same steps as the portable path in ``analysis.py``, which SQLite uses:

- ``switchboard_chat_for_analysis``: the conversation checked (this business's), its lead
  found or created, its messages in order;
- ``switchboard_apply_lead_fields``: the lead locked by its update; a name or e-mail only
  where the lead has none, the intent always, the status unless the analysis says ``new``.

Both switch to the application role and set the tenant for their transaction only.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02
"""

from collections.abc import Sequence

from alembic import op

from switchboard.common.db.tenancy import TENANT_SETTING

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CHAT = "switchboard_chat_for_analysis"
APPLY = "switchboard_apply_lead_fields"

CREATE_CHAT = f"""
CREATE OR REPLACE FUNCTION {CHAT}(
    p_role text, p_business_id bigint, p_conversation_id bigint, p_now timestamptz
) RETURNS TABLE (out_found boolean, out_lead_id bigint, out_directions text[],
                 out_bodies text[])
LANGUAGE plpgsql VOLATILE SECURITY INVOKER AS $fn$
DECLARE
    v_lead bigint; v_contact text;
BEGIN
    PERFORM set_config('role', p_role, true);
    PERFORM set_config('{TENANT_SETTING}', p_business_id::text, true);
    SELECT c.lead_id, c.contact_number INTO v_lead, v_contact
    FROM whatsapp_conversations c
    WHERE c.business_id = p_business_id AND c.id = p_conversation_id;
    IF NOT FOUND THEN
        RETURN QUERY SELECT false, NULL::bigint, NULL::text[], NULL::text[];
        RETURN;
    END IF;
    IF v_lead IS NULL THEN
        INSERT INTO leads (business_id, phone, status, source, created_at, updated_at)
        VALUES (p_business_id, v_contact, 'new', 'whatsapp', p_now, p_now)
        ON CONFLICT DO NOTHING;
        SELECT l.id INTO v_lead FROM leads l
        WHERE l.business_id = p_business_id AND l.phone = v_contact;
        UPDATE whatsapp_conversations SET lead_id = v_lead, updated_at = p_now
        WHERE business_id = p_business_id AND id = p_conversation_id;
    END IF;
    RETURN QUERY
    SELECT true, v_lead,
           COALESCE(array_agg(m.direction::text ORDER BY m.id), '{{}}'::text[]),
           COALESCE(array_agg(m.body ORDER BY m.id), '{{}}'::text[])
    FROM whatsapp_messages m
    WHERE m.business_id = p_business_id AND m.conversation_id = p_conversation_id;
END
$fn$
"""

CREATE_APPLY = f"""
CREATE OR REPLACE FUNCTION {APPLY}(
    p_role text, p_business_id bigint, p_lead_id bigint, p_name text, p_email text,
    p_intent text, p_status text, p_now timestamptz
) RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY INVOKER AS $fn$
BEGIN
    PERFORM set_config('role', p_role, true);
    PERFORM set_config('{TENANT_SETTING}', p_business_id::text, true);
    UPDATE leads SET
        name = CASE WHEN COALESCE(p_name, '') <> '' AND COALESCE(name, '') = ''
                    THEN p_name ELSE name END,
        email = CASE WHEN COALESCE(p_email, '') <> '' AND COALESCE(email, '') = ''
                     THEN p_email ELSE email END,
        intent = p_intent,
        status = CASE WHEN p_status <> 'new' THEN p_status ELSE status END,
        updated_at = p_now
    WHERE business_id = p_business_id AND id = p_lead_id;
    RETURN FOUND;
END
$fn$
"""


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(CREATE_CHAT)
        op.execute(CREATE_APPLY)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP FUNCTION IF EXISTS {APPLY}")
        op.execute(f"DROP FUNCTION IF EXISTS {CHAT}")
