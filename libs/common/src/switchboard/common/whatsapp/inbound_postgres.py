"""The WhatsApp webhook's store on PostgreSQL: one statement, one round trip, from the loop.

The conversation upsert, the message insert, the job's ledger row and its outbox row are one
call of the function that migration 0003 creates: it switches to the unprivileged application
role and sets the tenant for its transaction only, exactly as ``tenant_session`` does, so
row-level security checks every row. The job's message is built here (``prepare_job``).
Committed outbox rows go to the API's asynchronous publisher; whatever it cannot publish stays
for the scheduler's relay.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from psycopg_pool import AsyncConnectionPool

from switchboard.common.db.base import utcnow
from switchboard.common.jobs.enqueue import prepare_job
from switchboard.common.jobs.outbox import PendingMessage
from switchboard.common.settings import Settings
from switchboard.common.whatsapp.inbound import (
    REPLY_ACTOR,
    REPLY_QUEUE,
    InboundMessage,
    bare_number,
    cached_business,
    remember_business,
)
from switchboard.common.whatsapp.inbound_store import InboundStore

_BUSINESS = "SELECT id FROM businesses WHERE phone_number = %s"
# The function of migration 0003: the tenant settings and the four inserts, one statement.
_STORE = (
    "SELECT * FROM switchboard_store_inbound_whatsapp("
    "%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
)


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
        params = (
            self._app_role,
            business_id,
            bare_number(message.from_number),
            bare_number(message.to_number),
            message.message_sid,
            message.body,
            job.message.message_id,
            job.message.queue_name,
            job.message.actor_name,
            job.max_retries,
            job.payload,
            utcnow(),
        )
        async with self._pool.connection() as conn:
            row = await (await conn.execute(_STORE, params)).fetchone()
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
