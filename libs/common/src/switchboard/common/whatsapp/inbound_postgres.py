"""The WhatsApp webhook's store on PostgreSQL: one statement, one round trip, from the loop.

The conversation upsert, the message insert, the job's ledger row and its outbox row are one
statement of chained CTEs; with the tenant settings before it and BEGIN/COMMIT around it,
the transaction goes to the server as one pipeline with a single sync. It runs as the
unprivileged application role with the business id set, so row-level security checks every
row, exactly as ``tenant_session`` does. Committed outbox rows go to the API's asynchronous
publisher; whatever it cannot publish stays for the scheduler's relay.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool

from switchboard.common.db.base import utcnow
from switchboard.common.db.tenancy import TENANT_SETTING
from switchboard.common.jobs.enqueue import prepare_job
from switchboard.common.jobs.outbox import PendingMessage
from switchboard.common.settings import Settings
from switchboard.common.whatsapp.inbound import (
    InboundMessage,
    bare_number,
    cached_business,
    remember_business,
)
from switchboard.common.whatsapp.inbound_store import InboundStore

REPLY_QUEUE, REPLY_ACTOR = "whatsapp", "process_whatsapp_webhook_job"

_TENANT = "SELECT set_config('role', %s, true), set_config(%s, %s, true)"
_BUSINESS = "SELECT id FROM businesses WHERE phone_number = %s"
# The job's message names the new message's id, known only inside the statement: the
# payload is written with a placeholder and completed with jsonb_set.
_STORE = """
WITH conversation AS (
    INSERT INTO whatsapp_conversations
        (business_id, contact_number, business_number, last_message_at, created_at, updated_at)
    VALUES (%(business_id)s, %(contact)s, %(business_number)s, %(now)s, %(now)s, %(now)s)
    ON CONFLICT (business_id, contact_number) DO UPDATE
        SET last_message_at = EXCLUDED.last_message_at, updated_at = EXCLUDED.updated_at
    RETURNING id
), message AS (
    INSERT INTO whatsapp_messages (business_id, conversation_id, direction, message_sid, body,
                                   status, attempts, created_at, updated_at)
    SELECT %(business_id)s, conversation.id, 'in', %(message_sid)s, %(body)s,
           'received', 0, %(now)s, %(now)s
    FROM conversation
    ON CONFLICT (business_id, message_sid) DO NOTHING
    RETURNING id
), payload AS (
    SELECT message.id AS message_id,
           CAST(jsonb_set(CAST(%(payload)s AS jsonb), '{kwargs,message_id}',
                          to_jsonb(message.id)) AS text) AS body
    FROM message
), job AS (
    INSERT INTO jobs (id, business_id, queue_name, actor_name, status, attempts, deliveries,
                      failures, max_retries, run_id, dedup_key, dedup_window_key, message,
                      enqueued_at, updated_at)
    SELECT %(id)s, %(business_id)s, %(queue_name)s, %(actor_name)s, 'queued', 0, 0, 0,
           %(max_retries)s, NULL, NULL, NULL, payload.body, %(now)s, %(now)s
    FROM payload
    RETURNING id
), outbox_row AS (
    INSERT INTO outbox (business_id, job_id, queue_name, payload, created_at)
    SELECT %(business_id)s, job.id, %(queue_name)s, payload.body, %(now)s
    FROM job, payload
    RETURNING id
)
SELECT payload.message_id, outbox_row.id, payload.body FROM payload, outbox_row
"""


class PostgresInboundStore(InboundStore):
    """Stores inbound messages through an asyncio psycopg pool (autocommit connections)."""

    def __init__(
        self,
        pool: AsyncConnectionPool[Any],
        publish: Callable[[list[PendingMessage]], object],
        app_role: str,
    ) -> None:
        self._pool = pool
        self._publish = publish
        self._app_role = app_role

    async def close(self) -> None:
        """Close the pool's connections."""
        await self._pool.close()

    async def business_for(self, address: str) -> int | None:
        """The business that answers this WhatsApp number (cached briefly)."""
        number = bare_number(address)
        known, business_id = cached_business(number)
        if known:
            return business_id
        async with self._pool.connection() as conn:
            row = await (await conn.execute(_BUSINESS, (number,))).fetchone()
        business_id = int(row[0]) if row else None
        remember_business(number, business_id)
        return business_id

    async def store(self, business_id: int, message: InboundMessage) -> int | None:
        """Store the message and enqueue its processing in one transaction; None if seen."""
        job = prepare_job(REPLY_QUEUE, REPLY_ACTOR, (), {"message_id": 0}, business_id=business_id)
        params = {
            "business_id": business_id,
            "contact": bare_number(message.from_number),
            "business_number": bare_number(message.to_number),
            "message_sid": message.message_sid,
            "body": message.body,
            "payload": job.payload,
            "id": job.message.message_id,
            "queue_name": job.message.queue_name,
            "actor_name": job.message.actor_name,
            "max_retries": job.max_retries,
            "now": utcnow(),
        }
        async with self._pool.connection() as conn:
            try:
                async with conn.pipeline():
                    await conn.execute("BEGIN")
                    await conn.execute(_TENANT, (self._app_role, TENANT_SETTING, str(business_id)))
                    cursor = await conn.execute(_STORE, params)
                    await conn.execute("COMMIT")
            except psycopg.Error:
                if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
                    await conn.execute("ROLLBACK")
                raise
            row = await cursor.fetchone()
        if row is None:
            return None  # Twilio retried a message already stored: nothing new
        message_id, outbox_id, payload = row
        self._publish([(int(outbox_id), str(payload))])
        return int(message_id)


async def open_postgres_inbound_store(
    settings: Settings, publish: Callable[[list[PendingMessage]], object]
) -> PostgresInboundStore:
    """A store with its own small pool of autocommit connections (filled in the background)."""
    dsn = settings.effective_database_url.replace("postgresql+psycopg://", "postgresql://")
    pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
        dsn,
        min_size=2,
        max_size=settings.whatsapp_db_pool_size,
        kwargs={"autocommit": True},
        open=False,
        name="whatsapp-inbound",
    )
    await pool.open()
    return PostgresInboundStore(pool, publish, settings.db_app_role)
