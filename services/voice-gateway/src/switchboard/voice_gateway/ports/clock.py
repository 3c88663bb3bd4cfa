"""The clock port: monotonic time and sleeping, so watchdogs can be tested without waiting."""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from abc import ABC, abstractmethod


class Clock(ABC):
    """Monotonic seconds and a way to wait for them to pass."""

    @abstractmethod
    def now(self) -> float:
        """Monotonic seconds."""

    @abstractmethod
    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` of this clock's time."""


class SystemClock(Clock):
    """The real monotonic clock."""

    def now(self) -> float:
        """``time.monotonic()``."""
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        """``asyncio.sleep``."""
        await asyncio.sleep(seconds)


class FakeClock(Clock):
    """A clock that moves only when a test calls ``advance``; sleepers wake in time order."""

    def __init__(self, start: float = 1000.0) -> None:
        self._now = start
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    def now(self) -> float:
        """The fake time."""
        return self._now

    async def sleep(self, seconds: float) -> None:
        """Wait until ``advance`` has moved the clock ``seconds`` on."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self._now + seconds, next(self._order), future))
        await future

    async def advance(self, seconds: float, step: float = 0.1) -> None:
        """Move time on in ``step``s, letting woken tasks run after each step."""
        target = self._now + seconds
        while self._now < target:
            self._now = min(target, self._now + step)
            while self._sleepers and self._sleepers[0][0] <= self._now:
                _, _, future = heapq.heappop(self._sleepers)
                if not future.done():
                    future.set_result(None)
            for _ in range(5):  # let woken tasks (and what they wake) run
                await asyncio.sleep(0)
