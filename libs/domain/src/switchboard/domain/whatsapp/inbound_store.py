"""The port the WhatsApp webhook stores inbound messages through, and its portable adapter.

The webhook runs on the API's event loop. :class:`ThreadedInboundStore` runs the SQLAlchemy
unit of work (``inbound.store_inbound``) in a worker thread and works on any database; the
API's PostgreSQL adapter does the same in one round trip from the loop itself.
"""

from __future__ import annotations

import abc

from starlette.concurrency import run_in_threadpool

from switchboard.domain.whatsapp.inbound import (
    InboundMessage,
    business_for_whatsapp_number,
    store_inbound,
)


class NumberNotAnswered(LookupError):
    """No business has the number the message was sent to (any more)."""


class InboundStore(abc.ABC):
    """Where the webhook puts an inbound message and its ``process_whatsapp_webhook_job``."""

    @abc.abstractmethod
    async def business_for(self, address: str) -> int | None:
        """The business that answers this WhatsApp number, or None."""

    @abc.abstractmethod
    async def store(self, business_id: int, message: InboundMessage) -> int | None:
        """Store the message and enqueue its processing atomically; None if seen before.

        A store that remembers numbers' businesses checks ``business_id`` again as it writes
        and follows a moved number, raising ``NumberNotAnswered`` if nobody has it now."""

    async def close(self) -> None:  # noqa: B027 - optional hook; most stores hold nothing
        """Release what the store holds."""


class ThreadedInboundStore(InboundStore):
    """The SQLAlchemy unit of work, off the event loop (SQLite, or no RabbitMQ configured)."""

    async def business_for(self, address: str) -> int | None:
        """The business that answers this WhatsApp number, read for every message."""
        return await run_in_threadpool(business_for_whatsapp_number, address)

    async def store(self, business_id: int, message: InboundMessage) -> int | None:
        """Store the message and enqueue its processing in one transaction."""
        return await run_in_threadpool(store_inbound, business_id, message)
