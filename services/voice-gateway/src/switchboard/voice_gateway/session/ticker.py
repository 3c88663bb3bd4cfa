"""One process-wide clock that every call's transmit task follows.

A timer per frame per call means 50 × calls timer callbacks a second and every call
drifting on its own; here one task sleeps to each tick, calls every call's sending callback
(``add``) in its own step — every call's frames written in one pass — and resolves a single
shared future for the transmit tasks that wait for it instead.

A tick carries ``frames_per_tick`` 20 ms frames (``GATEWAY__FRAMES_PER_WRITE``, 2): each
call's frames of a tick go out in one write, every 40 ms. Twilio buffers what it has not
played yet, so a frame ahead of its slot plays on time; half the writes, and half the
wake-ups, cost half the CPU they did (issue #22).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

FRAME_PERIOD_S = 0.020
#: How early a tick may fire rather than sleep again (uvloop wakes up to ~1 ms early).
_SLACK_S = 0.001


class FrameTicker:
    """Resolves a shared future at every tick while anyone is listening."""

    def __init__(self, frames_per_tick: int = 1) -> None:
        if frames_per_tick < 1:
            raise ValueError("a tick carries at least one frame")
        self.frames_per_tick = frames_per_tick
        self.period_s = FRAME_PERIOD_S * frames_per_tick
        self._future: asyncio.Future[float] | None = None
        self._listeners = 0
        self._has_listeners = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._callbacks: dict[Callable[[float], None], None] = {}

    def start(self) -> None:
        """Start ticking (call once, inside the running loop)."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="frame-ticker")

    async def stop(self) -> None:
        """Stop ticking."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    def listen(self) -> None:
        """A transmit task joins; the ticker runs while at least one is listening."""
        self._listeners += 1
        self._has_listeners.set()

    def unlisten(self) -> None:
        """A transmit task leaves."""
        self._listeners -= 1
        if self._listeners <= 0:
            self._listeners = 0
            self._has_listeners.clear()

    def add(self, callback: Callable[[float], None]) -> None:
        """Call ``callback(scheduled time)`` at every tick until ``remove``; it must not raise."""
        self._callbacks[callback] = None
        self.listen()

    def remove(self, callback: Callable[[float], None]) -> None:
        """Stop calling ``callback``."""
        if self._callbacks.pop(callback, False) is None:
            self.unlisten()

    def next_tick(self) -> asyncio.Future[float]:
        """A future resolved with the scheduled time (``time.monotonic``) of the next tick."""
        if self._future is None or self._future.done():
            self._future = asyncio.get_running_loop().create_future()
        return self._future

    async def _run(self) -> None:
        while True:
            await self._has_listeners.wait()
            deadline = time.monotonic()
            while self._listeners:
                deadline += self.period_s
                # uvloop timers have millisecond resolution: re-sleep if woken more than
                # ``_SLACK_S`` early (a frame that early is still played on time: Twilio
                # buffers; each extra wake-up costs more CPU than the tick's work for a call).
                # It is a timer, not a condition to poll.
                while (delay := deadline - time.monotonic()) > _SLACK_S:  # noqa: ASYNC110
                    await asyncio.sleep(delay)
                if delay < -self.period_s * 50:
                    deadline = time.monotonic()  # the loop stalled for a second: start afresh
                future, self._future = self._future, None
                if future is not None and not future.done():
                    future.set_result(deadline)
                for callback in list(self._callbacks):
                    callback(deadline)
                if delay < 0:
                    await asyncio.sleep(0)  # behind schedule: let listeners run every tick
