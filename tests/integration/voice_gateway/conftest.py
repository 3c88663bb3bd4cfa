"""Fixtures of the gateway's integration tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.unit.voice_gateway.wiring import Core, wired_core


@pytest.fixture
async def core() -> AsyncIterator[Core]:
    """The gateway core wired with fakes."""
    async with wired_core() as wired:
        yield wired
