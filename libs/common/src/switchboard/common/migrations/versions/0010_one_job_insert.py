"""One SQL definition of a job's first ledger row and its outbox row.

``switchboard_enqueue_jobs`` writes jobs exactly as ``PreparedJob.ledger_row`` describes them
(status ``queued``, no attempt, deliveries or failures yet) with their outbox rows, ignoring a
job whose key is taken as ``enqueue`` does, and returns the outbox rows it wrote. It takes
arrays, one element per job, so a batch is two set-based ``INSERT`` statements, as a single
job is. The functions that store an inbound message (0003), a batch of them (0005) and the
agent's reply (0006) call it instead of repeating the inserts; their signatures and results
are unchanged. The caller has already switched role and set the tenant: row-level security
checks every row. SQLite (embedded mode) writes the same row through the ORM
(``switchboard.common.jobs.enqueue``); a test compares the two.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03
"""

import importlib
from collections.abc import Sequence
from types import ModuleType

from alembic import op

from switchboard.common.db.tenancy import TENANT_SETTING

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ENQUEUE = "switchboard_enqueue_jobs"

CREATE_ENQUEUE = f"""
CREATE OR REPLACE FUNCTION {ENQUEUE}(
    p_business_id bigint, p_now timestamptz, p_ids text[], p_queue_names text[],
    p_actor_names text[], p_max_retries integer[], p_messages text[],
    p_dedup_keys text[] DEFAULT NULL, p_dedup_window_keys text[] DEFAULT NULL,
    p_run_ids bigint[] DEFAULT NULL
) RETURNS TABLE (out_job_id text, out_outbox_id bigint, out_payload text)
LANGUAGE plpgsql VOLATILE SECURITY INVOKER AS $fn$
BEGIN
    RETURN QUERY
    WITH job AS (
        INSERT INTO jobs AS j (id, business_id, queue_name, actor_name, status, attempts,
            deliveries, failures, max_retries, run_id, dedup_key, dedup_window_key, message,
            enqueued_at, updated_at)
        SELECT u.id, p_business_id, u.queue_name, u.actor_name, 'queued', 0, 0, 0,
               u.max_retries, u.run_id, u.dedup_key, u.dedup_window_key, u.message,
               p_now, p_now
        FROM unnest(p_ids, p_queue_names, p_actor_names, p_max_retries, p_messages,
                    p_dedup_keys, p_dedup_window_keys, p_run_ids)
             AS u(id, queue_name, actor_name, max_retries, message, dedup_key,
                  dedup_window_key, run_id)
        ON CONFLICT DO NOTHING  -- a live job with the key, or the key's window, exists
        RETURNING j.id, j.queue_name, j.message
    ), outbox_row AS (
        INSERT INTO outbox AS o (business_id, job_id, queue_name, payload, created_at)
        SELECT p_business_id, job.id, job.queue_name, job.message, p_now FROM job
        RETURNING o.job_id, o.id, o.payload
    )
    SELECT outbox_row.job_id::text, outbox_row.id, outbox_row.payload FROM outbox_row;
END
$fn$
"""

STORE_INBOUND = f"""
CREATE OR REPLACE FUNCTION switchboard_store_inbound_whatsapp(
    p_role text, p_business_id bigint, p_contact text, p_business_number text,
    p_message_sid text, p_body text, p_job_id text, p_queue_name text, p_actor_name text,
    p_max_retries integer, p_payload text, p_now timestamptz
) RETURNS TABLE (out_message_id bigint, out_outbox_id bigint, out_payload text)
LANGUAGE plpgsql VOLATILE SECURITY INVOKER AS $fn$
BEGIN
    PERFORM set_config('role', p_role, true);
    PERFORM set_config('{TENANT_SETTING}', p_business_id::text, true);
    RETURN QUERY
    WITH conversation AS (
        INSERT INTO whatsapp_conversations AS c (business_id, contact_number,
            business_number, last_message_at, created_at, updated_at)
        VALUES (p_business_id, p_contact, p_business_number, p_now, p_now, p_now)
        ON CONFLICT (business_id, contact_number) DO UPDATE
            SET last_message_at = EXCLUDED.last_message_at, updated_at = EXCLUDED.updated_at
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
         {ENQUEUE}(p_business_id, p_now, ARRAY[p_job_id], ARRAY[p_queue_name],
                   ARRAY[p_actor_name], ARRAY[p_max_retries], ARRAY[payload.body]) AS job;
END
$fn$
"""

STORE_INBOUND_BATCH = f"""
CREATE OR REPLACE FUNCTION switchboard_store_inbound_whatsapp_batch(
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
    ), job AS (  -- one call for the batch (a volatile function: run once, not inlined)
        SELECT enqueued.*
        FROM (SELECT array_agg(p.job_id) AS ids, array_agg(p.body) AS bodies,
                     array_agg(p_queue_name) AS queue_names,
                     array_agg(p_actor_name) AS actor_names,
                     array_agg(p_max_retries) AS max_retries
              FROM payload AS p) AS batch,
             {ENQUEUE}(p_business_id, p_now, batch.ids, batch.queue_names, batch.actor_names,
                       batch.max_retries, batch.bodies) AS enqueued
    )
    SELECT payload.position, payload.message_id, job.out_outbox_id, job.out_payload
    FROM payload JOIN job ON job.out_job_id = payload.job_id;
END
$fn$
"""

STORE_REPLY = f"""
CREATE OR REPLACE FUNCTION switchboard_whatsapp_store_reply(
    p_role text, p_business_id bigint, p_message_id bigint, p_conversation_id bigint,
    p_body text, p_now timestamptz,
    p_send_job_id text, p_send_queue text, p_send_actor text, p_send_retries integer,
    p_send_payload text,
    p_analysis_job_id text, p_analysis_queue text, p_analysis_actor text,
    p_analysis_retries integer, p_analysis_payload text, p_analysis_dedup_key text
) RETURNS TABLE (out_state text, out_reply_id bigint, out_outbox_id bigint, out_payload text)
LANGUAGE plpgsql VOLATILE SECURITY INVOKER AS $fn$
DECLARE
    v_status text; v_reply bigint; v_payload text;
BEGIN
    PERFORM set_config('role', p_role, true);
    PERFORM set_config('{TENANT_SETTING}', p_business_id::text, true);
    SELECT m.status INTO v_status FROM whatsapp_messages m
    WHERE m.business_id = p_business_id AND m.id = p_message_id AND m.direction = 'in'
    FOR UPDATE;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'missing', NULL::bigint, NULL::bigint, NULL::text;
        RETURN;
    ELSIF v_status = 'replied' THEN  -- a concurrent delivery won
        RETURN QUERY SELECT 'answered', NULL::bigint, NULL::bigint, NULL::text;
        RETURN;
    END IF;
    INSERT INTO whatsapp_messages (business_id, conversation_id, direction, body, status,
        attempts, created_at, updated_at)
    VALUES (p_business_id, p_conversation_id, 'out', p_body, 'queued', 0, p_now, p_now)
    RETURNING id INTO v_reply;
    UPDATE whatsapp_messages SET status = 'replied', updated_at = p_now
    WHERE business_id = p_business_id AND id = p_message_id;
    v_payload := CAST(jsonb_set(CAST(p_send_payload AS jsonb), '{{kwargs,message_id}}',
                                to_jsonb(v_reply)) AS text);
    -- The send, and the analysis unless one of this conversation's is still to run.
    RETURN QUERY
    SELECT 'ok', v_reply, job.out_outbox_id, job.out_payload
    FROM {ENQUEUE}(p_business_id, p_now, ARRAY[p_send_job_id, p_analysis_job_id],
                   ARRAY[p_send_queue, p_analysis_queue], ARRAY[p_send_actor, p_analysis_actor],
                   ARRAY[p_send_retries, p_analysis_retries],
                   ARRAY[v_payload, p_analysis_payload],
                   ARRAY[NULL, p_analysis_dedup_key]) AS job;
END
$fn$
"""


def previous(module: str) -> ModuleType:
    """An earlier migration, for the definitions it created (``0003_whatsapp_…``)."""
    return importlib.import_module(f"switchboard.common.migrations.versions.{module}")


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(CREATE_ENQUEUE)
        op.execute(STORE_INBOUND)
        op.execute(STORE_INBOUND_BATCH)
        op.execute(STORE_REPLY)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(previous("0003_whatsapp_inbound_function").CREATE)
        op.execute(previous("0005_whatsapp_inbound_batch_function").CREATE)
        op.execute(previous("0006_whatsapp_reply_functions").CREATE_STORE)
        op.execute(f"DROP FUNCTION IF EXISTS {ENQUEUE}")
