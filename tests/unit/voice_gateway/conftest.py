"""Fixtures of the gateway's unit tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.unit.voice_gateway.wiring import Core, wired_core


@pytest.fixture(params=[1, 2], ids=["frame-per-write", "2-frames-per-write"])
async def core(request: pytest.FixtureRequest) -> AsyncIterator[Core]:
    """The gateway core wired with fakes, its agent audio written a frame at a time or two
    (``GATEWAY__FRAMES_PER_WRITE``): every call-session test holds for both."""
    async with wired_core(frames_per_tick=request.param) as wired:
        yield wired
