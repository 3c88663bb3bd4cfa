"""Mixed load at steady rates until stopped: signed WhatsApp webhooks (a new customer each)
and REST reads of the business's leads, from a thread of its own."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import httpx

from tests.chaos.whatsapp import CLIENT_TIMEOUT_S, Answer, Inbound, inbound_messages, send_one
from tests.support.factories import TestBusiness


@dataclass
class MixedLoad:
    api_url: str
    business: TestBusiness
    webhooks_per_s: float
    reads_per_s: float
    webhooks: list[Answer] = field(default_factory=list)
    reads: list[Answer] = field(default_factory=list)
    sent: list[Inbound] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> MixedLoad:
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), name="load")
        self._thread.start()
        return self

    def stop(self) -> MixedLoad:
        """Stop sending and wait for the answers of what was sent."""
        self._stop.set()
        assert self._thread is not None
        self._thread.join(CLIENT_TIMEOUT_S + 30)
        return self

    async def _run(self) -> None:
        limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
        async with httpx.AsyncClient(timeout=CLIENT_TIMEOUT_S, limits=limits) as client:
            await asyncio.gather(
                self._paced(self.webhooks_per_s, lambda: self._webhook(client)),
                self._paced(self.reads_per_s, lambda: self._read(client)),
            )

    async def _paced(self, rate: float, request: Callable[[], Awaitable[None]]) -> None:
        if rate <= 0:
            return
        start, tasks, i = time.monotonic(), [], 0
        while not self._stop.is_set():
            delay = start + i / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(request()))
            i += 1
        await asyncio.gather(*tasks)

    async def _webhook(self, client: httpx.AsyncClient) -> None:
        [inbound] = inbound_messages(self.business.phone_number, 1)
        self.sent.append(inbound)
        self.webhooks.append(await send_one(client, self.api_url, inbound))

    async def _read(self, client: httpx.AsyncClient) -> None:
        answer = Answer(None, time.monotonic())
        try:
            response = await client.get(
                f"{self.api_url}/api/v1/leads",
                headers={"Authorization": f"Bearer {self.business.api_key}"},
            )
            answer.status = response.status_code
            answer.retry_after = response.headers.get("retry-after")
        except httpx.HTTPError as exc:
            answer.error = type(exc).__name__
        answer.latency_s = time.monotonic() - answer.sent_at
        self.reads.append(answer)
