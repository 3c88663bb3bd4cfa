"""Serving the gateway with uvicorn (what ``switchboard gateway`` runs)."""

from __future__ import annotations

import asyncio
import signal
import socket
import sys
from collections.abc import Mapping
from types import FrameType
from typing import Any

import uvicorn
from fastapi import FastAPI

from switchboard.common.clean_stop import CleanStop
from switchboard.common.service_start import UNFIT_ENVIRONMENT
from switchboard.common.settings import Settings, get_settings
from switchboard.common.startup_heap import tune_for_serving
from switchboard.common.startup_imports import startup_imports
from switchboard.voice_gateway.media_websocket import MediaWebSocketProtocol
from switchboard.voice_gateway.session.admission import Admission

DEFAULT_PORT = 8001
#: How a gateway server takes Media Streams (``serve_app``, and ``switchboard run``'s): the
#: protocol with the short path for media, frames of at most 64 KiB (no message the gateway
#: accepts is larger: a bigger one is refused before it is buffered), a ping every 20 s.
WEBSOCKET_OPTIONS: Mapping[str, Any] = {
    "ws": MediaWebSocketProtocol,
    "ws_max_size": 64 * 1024,
    "ws_ping_interval": 20,
}
#: uvicorn's exit status when the app failed to start.
STARTUP_FAILURE = 3


class DrainingServer(CleanStop, uvicorn.Server):
    """uvicorn's server, except that SIGTERM drains before it stops; either stop signal ends
    the process cleanly, exit 0 and ``gateway.stopped`` (``CleanStop``).

    uvicorn stops on SIGTERM at once: it closes its listening socket and every websocket
    (1012), which would cut every call in flight on each rolling update. Here the first
    SIGTERM only starts the drain (``session/admission.py``): the process keeps serving, its
    ``/ready`` answers 503, new calls go elsewhere, and the calls in flight run on; uvicorn's
    own shutdown starts when the last one has ended or ``drain_timeout_s`` is up. A second
    SIGTERM, or SIGINT (Ctrl-C), stops at once as before.
    """

    service = "gateway"

    def __init__(self, config: uvicorn.Config, admission: Admission, drain_timeout_s: float):
        super().__init__(config)
        self._admission = admission
        self._drain_timeout_s = drain_timeout_s
        self._loop: asyncio.AbstractEventLoop | None = None
        self._drain_task: asyncio.Task[None] | None = None

    async def serve(self, sockets: list[socket.socket] | None = None) -> None:
        """Serve until stopped (the loop is kept for the signal handler)."""
        self._loop = asyncio.get_running_loop()
        await super().serve(sockets)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        """SIGTERM first drains; anything else (or a second SIGTERM) is uvicorn's stop."""
        self.note_stop(sig)
        first_term = sig == signal.SIGTERM and not self._admission.draining
        if not first_term or self.should_exit or self._loop is None:
            super().handle_exit(sig, frame)
            return
        # A signal handler runs between two bytecodes of the loop's own thread: hand the
        # drain to the loop rather than touch its state from here.
        self._admission.begin_drain()
        self._loop.call_soon_threadsafe(self._start_drain)

    def _start_drain(self) -> None:
        self._drain_task = asyncio.create_task(self._drain(), name="gateway-drain")

    async def _drain(self) -> None:
        await self._admission.drain(self._drain_timeout_s)
        self.should_exit = True  # uvicorn's main loop sees it within 0.1 s and shuts down


def serve(
    host: str = "0.0.0.0", port: int = DEFAULT_PORT, settings: Settings | None = None
) -> None:
    """Run one gateway process: uvloop, httptools, the ``websockets`` protocol, no access log.

    One process serves many calls; scale out with more processes behind the proxy. SIGTERM
    drains (``DrainingServer``). Without ``AMQP_URL`` it refuses to start (exit 2): its call
    events would go to this process's in-process bus, where nothing reads them (only
    ``switchboard run`` has the API's consumer in the same process).
    """
    settings = settings or get_settings()
    if not settings.amqp_url:
        sys.stderr.write(
            "refusing to start the gateway on its own: AMQP_URL is empty, so its call events "
            "would stay in this process, where nothing reads them (no call would reach the "
            "call log); set AMQP_URL to the broker the API reads, or run everything in one "
            "process with `switchboard run`\n"
        )
        sys.exit(UNFIT_ENVIRONMENT)
    with startup_imports():  # the app's modules are imported here, not with this one's
        from switchboard.voice_gateway.app import create_app

        app = create_app(settings)
    serve_app(app, host, port)


def serve_app(app: FastAPI, host: str, port: int) -> None:
    """Serve a gateway app built by ``create_app`` as ``serve`` does (tests pass their own)."""
    gateway = app.state.gateway
    tune_for_serving()  # no collection pausing every call's audio (startup_heap)
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        loop="uvloop",
        http="httptools",
        **WEBSOCKET_OPTIONS,
        access_log=False,
        log_level="warning",
        log_config=None,  # uvicorn's lines go through our logging (JSON with LOG_JSON)
        lifespan="on",
    )
    server = DrainingServer(config, gateway.admission, gateway.gateway_settings.drain_timeout_s)
    server.run()
    if not server.started:
        sys.exit(STARTUP_FAILURE)
