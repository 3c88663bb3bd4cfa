"""The agent's WhatsApp reply is sent by the job that wrote it, which also writes what the same
model answer told about the lead: no send job and no analysis job per reply.

- ``whatsapp_messages.reply_id``: on an inbound message, the reply to it. A reply job
  redelivered after its worker died between storing the reply and learning whether Twilio took
  it finds the reply here and finishes the send under the send ledger's rules (look it up at
  Twilio, send only once the lookup window has passed).
- ``switchboard_whatsapp_store_reply`` (0006, 0010) queues no job any more: it stores the
  reply already claimed for its first attempt (``sending``, one attempt, ``updated_at`` now —
  what ``switchboard_whatsapp_claim_send`` (0007) would write), links it from the inbound
  message, writes the lead's fields the same model answer gave (through 0008's
  ``switchboard_apply_lead_fields``, the one SQL definition of that rule) on the
  conversation's lead, and returns the addresses the send needs — one transaction. No send job
  and no analysis job follow a reply. A message that was already answered, or is missing,
  returns its state as before.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-04
"""

import importlib
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from switchboard.common.db.tenancy import TENANT_SETTING

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APPLY = "switchboard_apply_lead_fields"
STORE = "switchboard_whatsapp_store_reply"

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

# The signature 0006 and 0010 gave it (with a send job's five arguments).
OLD_SIGNATURE = (
    f"{STORE}(text, bigint, bigint, bigint, text, timestamptz, text, text, text, integer, "
    "text, text, text, text, integer, text, text)"
)

STORE_REPLY = f"""
CREATE OR REPLACE FUNCTION {STORE}(
    p_role text, p_business_id bigint, p_message_id bigint, p_conversation_id bigint,
    p_body text, p_now timestamptz, p_sending text,
    p_name text, p_email text, p_intent text, p_status text
) RETURNS TABLE (out_state text, out_reply_id bigint, out_contact text,
                 out_business_number text)
LANGUAGE plpgsql VOLATILE SECURITY INVOKER AS $fn$
DECLARE
    v_status text; v_reply bigint; v_contact text; v_number text; v_lead bigint;
BEGIN
    PERFORM set_config('role', p_role, true);
    PERFORM set_config('{TENANT_SETTING}', p_business_id::text, true);
    SELECT m.status INTO v_status FROM whatsapp_messages m
    WHERE m.business_id = p_business_id AND m.id = p_message_id AND m.direction = 'in'
    FOR UPDATE;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'missing', NULL::bigint, NULL::text, NULL::text;
        RETURN;
    ELSIF v_status = 'replied' THEN  -- a concurrent delivery won
        RETURN QUERY SELECT 'answered', NULL::bigint, NULL::text, NULL::text;
        RETURN;
    END IF;
    SELECT c.contact_number, c.business_number, c.lead_id INTO v_contact, v_number, v_lead
    FROM whatsapp_conversations c
    WHERE c.business_id = p_business_id AND c.id = p_conversation_id;
    -- Claimed for its first attempt, as the send claim would: this job sends it next.
    INSERT INTO whatsapp_messages (business_id, conversation_id, direction, body, status,
        attempts, created_at, updated_at)
    VALUES (p_business_id, p_conversation_id, 'out', p_body, p_sending, 1, p_now, p_now)
    RETURNING id INTO v_reply;
    UPDATE whatsapp_messages SET status = 'replied', reply_id = v_reply, updated_at = p_now
    WHERE business_id = p_business_id AND id = p_message_id;
    -- What the same answer told about the lead, by 0008's one rule (the context made the lead).
    IF v_lead IS NOT NULL THEN
        PERFORM {APPLY}(p_role, p_business_id, v_lead, p_name, p_email, p_intent, p_status,
                        p_now);
    END IF;
    RETURN QUERY SELECT 'ok', v_reply, v_contact, v_number;
END
$fn$
"""


def upgrade() -> None:
    with op.batch_alter_table("whatsapp_messages") as batch:
        batch.add_column(sa.Column("reply_id", BIG_ID, nullable=True))
        batch.create_foreign_key(
            "fk_whatsapp_messages_reply_id_whatsapp_messages",
            "whatsapp_messages",
            ["reply_id"],
            ["id"],
            ondelete="SET NULL",
        )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP FUNCTION IF EXISTS {OLD_SIGNATURE}")
        op.execute(STORE_REPLY)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP FUNCTION IF EXISTS {STORE}")
        earlier = importlib.import_module(
            "switchboard.common.migrations.versions.0010_one_job_insert"
        )
        op.execute(earlier.STORE_REPLY)
    with op.batch_alter_table("whatsapp_messages") as batch:
        batch.drop_constraint("fk_whatsapp_messages_reply_id_whatsapp_messages", "foreignkey")
        batch.drop_column("reply_id")
