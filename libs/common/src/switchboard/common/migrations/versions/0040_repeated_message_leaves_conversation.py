"""A repeated inbound WhatsApp message leaves its conversation as it was.

When Twilio retries a webhook (or a signed request is replayed), the ``MessageSid`` is
stored already and no message or job is written again, but 0010's functions upserted the
conversation first and so moved its ``last_message_at`` and ``updated_at`` to the time of the
repeat. Here the conversation is still found or created (and locked) by the same upsert, in
the same one statement, but an existing one takes the new time only when a message for it is
new: its ``MessageSid`` not stored for the business (in a batch, the first item of its sid).
A batch with a repeated and a new message of one contact moves the conversation (to the
batch's time). ``inbound.store_inbound`` (SQLite, or no broker) applies the same rule.

The check reads the statement's snapshot: a repeat running while its original is still
uncommitted does not see it and touches the conversation (a moment after the original did).

Otherwise as 0010's, with the ``SET`` clauses of migration 0023 (``CREATE OR REPLACE`` drops
them; the downgrade gives them again to 0010's definitions).

Revision ID: 0040
Revises: 0039
Create Date: 2026-12-06
"""

import importlib
from collections.abc import Sequence
from types import ModuleType

from alembic import op

from switchboard.common.db.planner import function_settings
from switchboard.common.db.tenancy import TENANT_SETTING

revision: str = "0040"
down_revision: str | None = "0039"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STORE = "switchboard_store_inbound_whatsapp"
STORE_BATCH = "switchboard_store_inbound_whatsapp_batch"

STORE_INBOUND = f"""
CREATE OR REPLACE FUNCTION {STORE}(
    p_role text, p_business_id bigint, p_contact text, p_business_number text,
    p_message_sid text, p_body text, p_job_id text, p_queue_name text, p_actor_name text,
    p_max_retries integer, p_payload text, p_now timestamptz
) RETURNS TABLE (out_message_id bigint, out_outbox_id bigint, out_payload text)
LANGUAGE plpgsql VOLATILE SECURITY INVOKER AS $fn$
BEGIN
    PERFORM set_config('role', p_role, true);
    PERFORM set_config('{TENANT_SETTING}', p_business_id::text, true);
    RETURN QUERY
    WITH conversation AS (  -- touched only for a MessageSid not stored (not a repeat)
        INSERT INTO whatsapp_conversations AS c (business_id, contact_number,
            business_number, last_message_at, created_at, updated_at)
        VALUES (p_business_id, p_contact, p_business_number, p_now, p_now, p_now)
        ON CONFLICT (business_id, contact_number) DO UPDATE
            SET (last_message_at, updated_at) = (
                SELECT CASE WHEN stored THEN c.last_message_at ELSE EXCLUDED.last_message_at END,
                       CASE WHEN stored THEN c.updated_at ELSE EXCLUDED.updated_at END
                FROM (SELECT EXISTS (
                          SELECT 1 FROM whatsapp_messages AS s
                          WHERE s.business_id = p_business_id
                            AND s.message_sid = p_message_sid) AS stored) AS sid)
        RETURNING c.id
    ), message AS (
        INSERT INTO whatsapp_messages AS m (business_id, conversation_id, direction,
            message_sid, body, status, attempts, created_at, updated_at)
        SELECT p_business_id, conversation.id, 'in', p_message_sid, p_body, 'received', 0,
               p_now, p_now
        FROM conversation
        ON CONFLICT (business_id, message_sid) DO NOTHING
        RETURNING m.id
    ), payload AS (
        SELECT message.id AS message_id,
               CAST(jsonb_set(CAST(p_payload AS jsonb), '{{kwargs,message_id}}',
                              to_jsonb(message.id)) AS text) AS body
        FROM message
    )
    SELECT payload.message_id, job.out_outbox_id, job.out_payload
    FROM payload,
         switchboard_enqueue_jobs(p_business_id, p_now, ARRAY[p_job_id], ARRAY[p_queue_name],
                   ARRAY[p_actor_name], ARRAY[p_max_retries], ARRAY[payload.body]) AS job;
END
$fn$
"""

STORE_INBOUND_BATCH = f"""
CREATE OR REPLACE FUNCTION {STORE_BATCH}(
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
    ), new_item AS (  -- the first item of a MessageSid not stored: not a repeat
        SELECT DISTINCT ON (item.message_sid) item.contact
        FROM item
        WHERE NOT EXISTS (SELECT 1 FROM whatsapp_messages AS s
                          WHERE s.business_id = p_business_id
                            AND s.message_sid = item.message_sid)
        ORDER BY item.message_sid, item.position
    ), conversation AS (  -- touched only for a contact with a new item
        INSERT INTO whatsapp_conversations AS c (business_id, contact_number,
            business_number, last_message_at, created_at, updated_at)
        SELECT DISTINCT ON (item.contact)
               p_business_id, item.contact, item.business_number, p_now, p_now, p_now
        FROM item
        ORDER BY item.contact, item.position
        ON CONFLICT (business_id, contact_number) DO UPDATE
            SET (last_message_at, updated_at) = (
                SELECT CASE WHEN fresh THEN EXCLUDED.last_message_at ELSE c.last_message_at END,
                       CASE WHEN fresh THEN EXCLUDED.updated_at ELSE c.updated_at END
                FROM (SELECT EXISTS (
                          SELECT 1 FROM new_item
                          WHERE new_item.contact = EXCLUDED.contact_number) AS fresh) AS sid)
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
    ), job AS (  -- one call for the batch (a volatile function: run once, not inlined)
        SELECT enqueued.*
        FROM (SELECT array_agg(p.job_id) AS ids, array_agg(p.body) AS bodies,
                     array_agg(p_queue_name) AS queue_names,
                     array_agg(p_actor_name) AS actor_names,
                     array_agg(p_max_retries) AS max_retries
              FROM payload AS p) AS batch,
             switchboard_enqueue_jobs(p_business_id, p_now, batch.ids, batch.queue_names,
                       batch.actor_names, batch.max_retries, batch.bodies) AS enqueued
    )
    SELECT payload.position, payload.message_id, job.out_outbox_id, job.out_payload
    FROM payload JOIN job ON job.out_job_id = payload.job_id;
END
$fn$
"""


def _one_job_insert() -> ModuleType:
    """Migration 0010, whose definitions these replace."""
    return importlib.import_module("switchboard.common.migrations.versions.0010_one_job_insert")


def _create(definitions: dict[str, str]) -> None:
    for name, create in definitions.items():
        op.execute(create)
        op.execute(f"ALTER FUNCTION {name} {function_settings()}")


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        _create({STORE: STORE_INBOUND, STORE_BATCH: STORE_INBOUND_BATCH})


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        earlier = _one_job_insert()
        _create({STORE: earlier.STORE_INBOUND, STORE_BATCH: earlier.STORE_INBOUND_BATCH})
