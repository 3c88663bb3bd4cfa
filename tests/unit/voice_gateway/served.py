"""A gateway app served by uvicorn in a thread, as ``server.py`` serves it (its websocket
protocol, its frame size limit), and what its tests read from a socket it closes."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any

import uvicorn
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from switchboard.voice_gateway.media_websocket import MediaWebSocketProtocol
from tests.support.processes import free_port
from tests.support.waiting import wait_for


@contextlib.contextmanager
def serving(app: Any, **config: Any) -> Iterator[str]:
    """Serve ``app`` on a free port of 127.0.0.1 until the block ends; yields ``host:port``.
    ``config``: more ``uvicorn.Config`` arguments."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host="127.0.0.1",
            port=port,
            ws=MediaWebSocketProtocol,
            ws_max_size=64 * 1024,
            log_level="warning",
            lifespan="on",
            **config,
        )
    )
    thread = threading.Thread(target=server.run, name="gateway", daemon=True)
    thread.start()
    wait_for(lambda: server.started, timeout=15, what="the gateway to listen")
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(15)


async def until_closed(socket: ClientConnection) -> tuple[int | None, str]:
    """Read (and drop) everything until the gateway closes the socket: its close code and
    reason."""
    with contextlib.suppress(ConnectionClosed):
        async for _ in socket:
            pass
    return socket.close_code, socket.close_reason or ""
