"""Serving the gateway with uvicorn (what ``switchboard gateway`` runs)."""

from __future__ import annotations

import uvicorn

from switchboard.common.settings import Settings
from switchboard.voice_gateway.app import create_app

DEFAULT_PORT = 8001


def serve(
    host: str = "0.0.0.0", port: int = DEFAULT_PORT, settings: Settings | None = None
) -> None:
    """Run one gateway process: uvloop, httptools, the ``websockets`` protocol, no access log.

    One process serves many calls; scale out with more processes behind the proxy.
    """
    uvicorn.run(
        create_app(settings),
        host=host,
        port=port,
        loop="uvloop",
        http="httptools",
        ws="websockets-sansio",
        ws_max_size=64 * 1024,
        ws_ping_interval=20,
        access_log=False,
        log_level="warning",
        lifespan="on",
    )
