"""A lean HTTP/1.1 load generator for the benchmarks: pre-built requests on keep-alive sockets.

The load generator shares the two cores with the servers it measures, so what it spends is
taken from them. aiohttp cost ~0.5 ms of CPU per request here (a ceiling near 2,000 requests/s
that was its own, not the server's). This one writes requests built before the clock starts
and reads answers with ``httptools`` (the parser uvicorn uses) on ``uvloop``: a fraction of
that per request.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Iterator
from urllib.parse import urlencode, urlsplit

import httptools


def build_request(url: str, form: dict[str, str], headers: dict[str, str]) -> bytes:
    """``POST url`` with ``form`` url-encoded, as raw HTTP/1.1 bytes (keep-alive)."""
    parts = urlsplit(url)
    body = urlencode(form).encode()
    lines = [
        f"POST {parts.path} HTTP/1.1",
        f"Host: {parts.netloc}",
        "Content-Type: application/x-www-form-urlencoded",
        f"Content-Length: {len(body)}",
        *(f"{name}: {value}" for name, value in headers.items()),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


class _Connection(asyncio.Protocol):
    """One keep-alive connection; one request in flight at a time."""

    def __init__(self) -> None:
        self._parser = httptools.HttpResponseParser(self)
        self._transport: asyncio.WriteTransport | None = None
        self._answer: asyncio.Future[int] | None = None
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]  # a TCP transport writes

    def data_received(self, data: bytes) -> None:
        self._parser.feed_data(data)

    def on_message_complete(self) -> None:  # httptools callback
        if self._answer is not None and not self._answer.done():
            self._answer.set_result(self._parser.get_status_code())

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self._answer is not None and not self._answer.done():
            self._answer.set_exception(ConnectionError("server closed the connection"))

    async def send(self, request: bytes) -> int:
        assert self._transport is not None
        self._answer = asyncio.get_running_loop().create_future()
        self._transport.write(request)
        return await self._answer


class Client:
    """Connections to one server, opened on demand and reused (at most ``limit`` at once)."""

    def __init__(self, url: str, limit: int) -> None:
        parts = urlsplit(url)
        self._host, self._port = parts.hostname or "127.0.0.1", parts.port or 80
        self._idle: list[_Connection] = []
        self._slots = asyncio.Semaphore(limit)

    async def _connection(self) -> _Connection:
        while self._idle:
            connection = self._idle.pop()
            if not connection.closed:
                return connection
        loop = asyncio.get_running_loop()
        _, connection = await loop.create_connection(_Connection, self._host, self._port)
        return connection

    async def post(self, request: bytes) -> float:
        """Send one pre-built request; milliseconds until the whole answer was read."""
        async with self._slots:
            connection = await self._connection()
            started = time.perf_counter()
            status = await connection.send(request)
            elapsed = (time.perf_counter() - started) * 1000
            self._idle.append(connection)
        if status != 200:
            raise RuntimeError(f"HTTP {status}")
        return elapsed


async def at_rate(client: Client, requests: list[bytes], rate: float) -> tuple[list[float], float]:
    """Send ``requests`` at ``rate`` per second; (latencies in ms, seconds it took)."""
    tasks = []
    begin = time.perf_counter()
    for i, request in enumerate(requests):
        delay = begin + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(client.post(request)))
    latencies = await asyncio.gather(*tasks)
    return list(latencies), time.perf_counter() - begin


async def closed_loop(
    client: Client, requests: Iterable[bytes], connections: int, seconds: float
) -> tuple[list[float], float]:
    """``connections`` clients each sending its next request as soon as the last is answered."""
    source: Iterator[bytes] = iter(requests)
    done: list[float] = []
    deadline = time.perf_counter() + seconds

    async def one_client() -> None:
        for request in source:
            if time.perf_counter() >= deadline:
                return
            done.append(await client.post(request))

    begin = time.perf_counter()
    await asyncio.gather(*(one_client() for _ in range(connections)))
    return done, time.perf_counter() - begin
