"""Readies the call path as the gateway starts, so the first call pays nothing later ones do not.

Libraries on the call path load modules and build parsers on first use: ``twilio`` imports
each REST resource when first touched, ``openai`` its websocket client and event parsers,
``anyio`` its backend. Done during the first call, in the event loop, that held every call's
audio (the first greeting reached Twilio 100–150 ms late, six frames in one burst; issue
#22). Here each port readies itself (``warm_up``) before the first call is taken.
"""

from __future__ import annotations

import anyio

from switchboard.common.logging import get_logger
from switchboard.voice_gateway.session.call_session import SessionServices

log = get_logger(__name__)


async def warm_up_call_path(services: SessionServices) -> None:
    """Import, build and start now what the first call would otherwise do in the event loop."""
    anyio.get_current_task()  # loads anyio's backend (FastAPI and ``openai`` use it per call)
    await anyio.to_thread.run_sync(int)  # FastAPI runs plain dependencies in its thread pool
    await services.ai.warm_up()  # a router readies each provider it routes to
    if services.recorder is not None:
        await services.recorder.warm_up()
    log.info("call_path_warmed_up", provider=services.ai.name)
