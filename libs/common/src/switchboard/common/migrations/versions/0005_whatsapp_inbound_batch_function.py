"""A PostgreSQL function that stores a batch of one business's inbound WhatsApp messages.

The webhook's store gathers the messages that arrive together for one business and writes
them in one transaction (``whatsapp/inbound_postgres.py``): one round trip and one commit
for the batch instead of one per message. Like 0003's single-message function it switches to
the application role and sets the tenant for its transaction only, so row-level security
checks every row; then one statement of chained CTEs upserts each contact's conversation
once, inserts each ``MessageSid`` once (nothing for one Twilio retried, or one that appears
twice in the batch), and writes one ledger row and one outbox row per new message, whose
payload is completed with the message's id. Each returned row names the input position it
answers. 0003's function stays: it stores a lone message faster than a batch of one.
SQLite (embedded mode) has no such function.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""

from collections.abc import Sequence

from alembic import op

from switchboard.common.db.tenancy import TENANT_SETTING

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FUNCTION = "switchboard_store_inbound_whatsapp_batch"

CREATE = f"""
CREATE OR REPLACE FUNCTION {FUNCTION}(
    p_role text, p_business_id bigint, p_contacts text[], p_business_numbers text[],
    p_message_sids text[], p_bodies text[], p_job_ids text[], p_payloads text[],
    p_queue_name text, p_actor_name text, p_max_retries integer, p_now timestamptz
) RETURNS TABLE (out_position integer, out_message_id bigint, out_outbox_id bigint,
                 out_payload text)
LANGUAGE plpgsql VOLATILE SECURITY INVOKER AS $fn$
BEGIN
    PERFORM set_config('role', p_role, true);
    PERFORM set_config('{TENANT_SETTING}', p_business_id::text, true);
    RETURN QUERY
    WITH item AS (
        SELECT u.contact, u.business_number, u.message_sid, u.body, u.job_id, u.payload,
               CAST(u.position AS integer) AS position
        FROM unnest(p_contacts, p_business_numbers, p_message_sids, p_bodies, p_job_ids,
                    p_payloads)
             WITH ORDINALITY AS u(contact, business_number, message_sid, body, job_id,
                                  payload, position)
    ), conversation AS (
        INSERT INTO whatsapp_conversations AS c (business_id, contact_number,
            business_number, last_message_at, created_at, updated_at)
        SELECT DISTINCT ON (item.contact)
               p_business_id, item.contact, item.business_number, p_now, p_now, p_now
        FROM item
        ORDER BY item.contact, item.position
        ON CONFLICT (business_id, contact_number) DO UPDATE
            SET last_message_at = EXCLUDED.last_message_at, updated_at = EXCLUDED.updated_at
        RETURNING c.id, c.contact_number
    ), first_of_sid AS (
        SELECT DISTINCT ON (item.message_sid) item.*, conversation.id AS conversation_id
        FROM item JOIN conversation ON conversation.contact_number = item.contact
        ORDER BY item.message_sid, item.position
    ), message AS (
        INSERT INTO whatsapp_messages AS m (business_id, conversation_id, direction,
            message_sid, body, status, attempts, created_at, updated_at)
        SELECT p_business_id, f.conversation_id, 'in', f.message_sid, f.body, 'received', 0,
               p_now, p_now
        FROM first_of_sid AS f
        ORDER BY f.position
        ON CONFLICT (business_id, message_sid) DO NOTHING
        RETURNING m.id, m.message_sid
    ), payload AS (
        SELECT f.position, f.job_id, message.id AS message_id,
               CAST(jsonb_set(CAST(f.payload AS jsonb), '{{kwargs,message_id}}',
                              to_jsonb(message.id)) AS text) AS body
        FROM message JOIN first_of_sid AS f ON f.message_sid = message.message_sid
    ), job AS (
        INSERT INTO jobs AS j (id, business_id, queue_name, actor_name, status, attempts,
            deliveries, failures, max_retries, message, enqueued_at, updated_at)
        SELECT payload.job_id, p_business_id, p_queue_name, p_actor_name, 'queued', 0, 0, 0,
               p_max_retries, payload.body, p_now, p_now
        FROM payload
        RETURNING j.id
    ), outbox_row AS (
        INSERT INTO outbox AS o (business_id, job_id, queue_name, payload, created_at)
        SELECT p_business_id, job.id, p_queue_name, payload.body, p_now
        FROM job JOIN payload ON payload.job_id = job.id
        RETURNING o.id, o.job_id
    )
    SELECT payload.position, payload.message_id, outbox_row.id, payload.body
    FROM payload JOIN outbox_row ON outbox_row.job_id = payload.job_id;
END
$fn$
"""


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(CREATE)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP FUNCTION IF EXISTS {FUNCTION}")
