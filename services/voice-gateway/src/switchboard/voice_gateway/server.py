"""Serving the gateway with uvicorn (what ``switchboard gateway`` runs)."""

from __future__ import annotations

import gc

import uvicorn

from switchboard.common.settings import Settings
from switchboard.voice_gateway.app import create_app

DEFAULT_PORT = 8001


def tune_garbage_collector() -> None:
    """Keep full garbage collections from pausing every call's audio.

    Objects alive at startup (the app, libraries) are frozen out of collections, and the
    young-generation threshold is raised: the per-frame path allocates few cyclic objects,
    so collections become rare and short instead of frequent scans of the whole heap.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)


def serve(
    host: str = "0.0.0.0", port: int = DEFAULT_PORT, settings: Settings | None = None
) -> None:
    """Run one gateway process: uvloop, httptools, the ``websockets`` protocol, no access log.

    One process serves many calls; scale out with more processes behind the proxy.
    """
    app = create_app(settings)
    tune_garbage_collector()
    uvicorn.run(
        app,
        host=host,
        port=port,
        loop="uvloop",
        http="httptools",
        ws="websockets-sansio",
        ws_max_size=64 * 1024,
        ws_ping_interval=20,
        access_log=False,
        log_level="warning",
        log_config=None,  # uvicorn's lines go through our logging (JSON with LOG_JSON)
        lifespan="on",
    )
