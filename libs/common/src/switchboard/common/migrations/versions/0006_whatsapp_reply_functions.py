"""PostgreSQL functions for the two transactions of the agent's WhatsApp reply.

``process_whatsapp_webhook_job`` is the worker's busiest job. Through the ORM its two units
of work took ~20 statements and ~10 more round trips of transaction overhead per message,
and most of the worker's CPU. Each is one statement here (``whatsapp/replies_postgres.py``),
with the same steps as the portable path in ``whatsapp/replies.py``, which SQLite uses:

- ``switchboard_whatsapp_reply_context``: the reply job's ledger row marked running when
  the job started on the ledger's fast path (it must count itself), the inbound message
  checked (this business's, an inbound one, not answered yet), the business's limit of
  running replies, the
  conversation's lead found or created, its session touched or opened; returns the stored
  prompt and the recent history. Nothing is written when the message is answered or the
  business is at its limit.
- ``switchboard_whatsapp_store_reply``: the inbound message locked and checked again, the
  reply inserted and the inbound marked replied, the reply's send job and the conversation's
  analysis job (unless one is live for the same key) written to the ledger and the outbox;
  returns the outbox rows to publish.

Both switch to the application role and set the tenant for their transaction only, exactly as
``tenant_session`` does, so row-level security checks every row.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

from collections.abc import Sequence

from alembic import op

from switchboard.common.db.tenancy import TENANT_SETTING

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CONTEXT = "switchboard_whatsapp_reply_context"
STORE = "switchboard_whatsapp_store_reply"

CREATE_CONTEXT = f"""
CREATE OR REPLACE FUNCTION {CONTEXT}(
    p_role text, p_business_id bigint, p_message_id bigint, p_reply_actor text,
    p_history integer, p_now timestamptz, p_job_id text, p_job_started timestamptz
) RETURNS TABLE (out_state text, out_conversation_id bigint, out_prompt text,
                 out_directions text[], out_bodies text[])
LANGUAGE plpgsql VOLATILE SECURITY INVOKER AS $fn$
DECLARE
    v_direction text; v_status text; v_conversation bigint; v_lead bigint; v_contact text;
    v_limit integer; v_running bigint; v_session bigint;
BEGIN
    IF p_job_id IS NOT NULL THEN
        -- The ledger's running mark, written as jobs/ledger.py writes it: as the service's
        -- own user, before the switch to the application role, and by the job's key alone.
        -- The status and the business are tested in forms no index serves: with row-level
        -- security's tenant test, or an equality on status, a planner without statistics
        -- (a new database) read the business's whole backlog of queued jobs to find this one.
        UPDATE jobs SET status = 'running', attempts = attempts + 1,
            deliveries = deliveries + 1, started_at = p_job_started, updated_at = p_now
        WHERE id = p_job_id AND business_id IS NOT DISTINCT FROM p_business_id
          AND status NOT IN ('running', 'succeeded', 'failed', 'dead', 'cancelled');
    END IF;
    PERFORM set_config('role', p_role, true);
    PERFORM set_config('{TENANT_SETTING}', p_business_id::text, true);
    SELECT m.direction, m.status, m.conversation_id INTO v_direction, v_status, v_conversation
    FROM whatsapp_messages m WHERE m.business_id = p_business_id AND m.id = p_message_id;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'missing', NULL::bigint, NULL::text, NULL::text[], NULL::text[];
        RETURN;
    ELSIF v_direction <> 'in' THEN
        RETURN QUERY SELECT 'not_inbound', NULL::bigint, NULL::text, NULL::text[], NULL::text[];
        RETURN;
    ELSIF v_status = 'replied' THEN
        RETURN QUERY SELECT 'answered', NULL::bigint, NULL::text, NULL::text[], NULL::text[];
        RETURN;
    END IF;
    SELECT b.whatsapp_concurrency,
           (SELECT count(*) FROM jobs j WHERE j.business_id = p_business_id
              AND j.status = 'running' AND j.actor_name = p_reply_actor)
    INTO v_limit, v_running FROM businesses b WHERE b.id = p_business_id;
    IF FOUND AND v_running > v_limit THEN
        RETURN QUERY SELECT 'busy', NULL::bigint, NULL::text, NULL::text[], NULL::text[];
        RETURN;
    END IF;
    SELECT c.lead_id, c.contact_number INTO v_lead, v_contact
    FROM whatsapp_conversations c WHERE c.business_id = p_business_id AND c.id = v_conversation;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'missing', NULL::bigint, NULL::text, NULL::text[], NULL::text[];
        RETURN;
    END IF;
    IF v_lead IS NULL THEN
        INSERT INTO leads (business_id, phone, status, source, created_at, updated_at)
        VALUES (p_business_id, v_contact, 'new', 'whatsapp', p_now, p_now)
        ON CONFLICT DO NOTHING;
        SELECT l.id INTO v_lead FROM leads l
        WHERE l.business_id = p_business_id AND l.phone = v_contact;
        UPDATE whatsapp_conversations SET lead_id = v_lead, updated_at = p_now
        WHERE business_id = p_business_id AND id = v_conversation;
    END IF;
    SELECT s.id INTO v_session FROM whatsapp_sessions s
    WHERE s.business_id = p_business_id AND s.conversation_id = v_conversation
      AND s.closed_at IS NULL
    ORDER BY s.id DESC LIMIT 1 FOR UPDATE;
    IF FOUND THEN
        UPDATE whatsapp_sessions SET last_activity_at = p_now, updated_at = p_now
        WHERE id = v_session;
    ELSE
        INSERT INTO whatsapp_sessions (business_id, conversation_id, started_at,
            last_activity_at, created_at, updated_at)
        VALUES (p_business_id, v_conversation, p_now, p_now, p_now, p_now);
    END IF;
    RETURN QUERY
    SELECT 'ok', v_conversation,
           (SELECT p.content FROM prebuilt_prompts p
            WHERE p.business_id = p_business_id AND p.channel = 'whatsapp'),
           array_agg(h.direction ORDER BY h.id), array_agg(h.body ORDER BY h.id)
    FROM (SELECT m.id, m.direction::text AS direction, m.body FROM whatsapp_messages m
          WHERE m.business_id = p_business_id AND m.conversation_id = v_conversation
            AND m.id <= p_message_id
          ORDER BY m.id DESC LIMIT p_history) h;
END
$fn$
"""

CREATE_STORE = f"""
CREATE OR REPLACE FUNCTION {STORE}(
    p_role text, p_business_id bigint, p_message_id bigint, p_conversation_id bigint,
    p_body text, p_now timestamptz,
    p_send_job_id text, p_send_queue text, p_send_actor text, p_send_retries integer,
    p_send_payload text,
    p_analysis_job_id text, p_analysis_queue text, p_analysis_actor text,
    p_analysis_retries integer, p_analysis_payload text, p_analysis_dedup_key text
) RETURNS TABLE (out_state text, out_reply_id bigint, out_outbox_id bigint, out_payload text)
LANGUAGE plpgsql VOLATILE SECURITY INVOKER AS $fn$
DECLARE
    v_status text; v_reply bigint; v_payload text; v_outbox bigint; v_job text;
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
    INSERT INTO jobs (id, business_id, queue_name, actor_name, status, attempts, deliveries,
        failures, max_retries, message, enqueued_at, updated_at)
    VALUES (p_send_job_id, p_business_id, p_send_queue, p_send_actor, 'queued', 0, 0, 0,
        p_send_retries, v_payload, p_now, p_now);
    INSERT INTO outbox (business_id, job_id, queue_name, payload, created_at)
    VALUES (p_business_id, p_send_job_id, p_send_queue, v_payload, p_now)
    RETURNING id INTO v_outbox;
    RETURN QUERY SELECT 'ok', v_reply, v_outbox, v_payload;
    INSERT INTO jobs (id, business_id, queue_name, actor_name, status, attempts, deliveries,
        failures, max_retries, dedup_key, message, enqueued_at, updated_at)
    VALUES (p_analysis_job_id, p_business_id, p_analysis_queue, p_analysis_actor, 'queued',
        0, 0, 0, p_analysis_retries, p_analysis_dedup_key, p_analysis_payload, p_now, p_now)
    ON CONFLICT DO NOTHING
    RETURNING id INTO v_job;
    IF v_job IS NOT NULL THEN  -- else an analysis of this conversation is still to run
        INSERT INTO outbox (business_id, job_id, queue_name, payload, created_at)
        VALUES (p_business_id, v_job, p_analysis_queue, p_analysis_payload, p_now)
        RETURNING id INTO v_outbox;
        RETURN QUERY SELECT 'ok', v_reply, v_outbox, p_analysis_payload;
    END IF;
END
$fn$
"""


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(CREATE_CONTEXT)
        op.execute(CREATE_STORE)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP FUNCTION IF EXISTS {STORE}")
        op.execute(f"DROP FUNCTION IF EXISTS {CONTEXT}")
