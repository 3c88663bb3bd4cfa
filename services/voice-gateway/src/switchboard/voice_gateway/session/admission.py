"""Whether this gateway process takes new calls, and the streams it still carries.

A gateway being replaced (a rolling update, a scale-in) must not cut the calls it carries:
on SIGTERM it starts *draining* (``server.py``). While draining, ``/ready`` answers 503 so
the load balancer sends it nothing new, a new Media Stream is refused, and a new call's
webhook is sent back through the public URL to a gateway that is not draining
(``webhook_handlers.py``). The streams already open run to their end; the process stops
once none is left, or when the drain's time limit is up (then the calls left are ended
with their events published, as at any shutdown).

A socket waits up to 10 s for Twilio's ``start`` (and its token) before anything is known of
it: :class:`StartPlaces` caps how many may wait at once (``GATEWAY__MAX_AWAITING_START``), so
sockets that never start cannot pile up without bound.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager

from switchboard.common.logging import get_logger
from switchboard.voice_gateway import metrics

log = get_logger(__name__)


class StartPlace:
    """One socket's place among those awaiting ``start``; ``release`` it once (more is a
    no-op) as its start has come, or it ended without one."""

    def __init__(self, places: StartPlaces) -> None:
        self._places: StartPlaces | None = places

    def release(self) -> None:
        """Give the place back."""
        if self._places is not None:
            self._places.taken -= 1
            self._places = None

    def __enter__(self) -> StartPlace:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


class StartPlaces:
    """The places of sockets accepted and awaiting ``start``, at most ``limit`` at once."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.taken = 0

    def take(self) -> StartPlace | None:
        """A place, or None (counted) when all are taken."""
        if self.taken >= self.limit:
            metrics.MEDIA_STREAMS_REFUSED.labels(reason="awaiting_start_full").inc()
            return None
        self.taken += 1
        return StartPlace(self)


class Admission:
    """The drain state of one gateway process and its count of open media streams."""

    def __init__(self) -> None:
        self.draining = False
        self._open = 0
        self._idle = asyncio.Event()
        self._idle.set()

    @property
    def open_streams(self) -> int:
        """Media streams accepted and not yet ended (calls in flight and starting)."""
        return self._open

    @contextmanager
    def stream(self) -> Iterator[None]:
        """Count one media stream while it is open."""
        self._open += 1
        self._idle.clear()
        try:
            yield
        finally:
            self._open -= 1
            if self._open == 0:
                self._idle.set()

    def begin_drain(self) -> None:
        """Take no new call from now on."""
        if not self.draining:
            self.draining = True
            metrics.DRAINING.set(1)
            log.info("gateway_draining", open_streams=self._open)

    async def drain(self, timeout_s: float) -> bool:
        """Begin draining and wait until no stream is open; False if ``timeout_s`` ran out."""
        self.begin_drain()
        try:
            await asyncio.wait_for(self._idle.wait(), timeout_s)
        except TimeoutError:
            log.warning("gateway_drain_timed_out", open_streams=self._open, timeout_s=timeout_s)
            return False
        log.info("gateway_drained")
        return True
