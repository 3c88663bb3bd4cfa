"""The live sessions of this process, and the one reaper that closes dead ones."""

from __future__ import annotations

import asyncio
from typing import Protocol

from switchboard.common.logging import get_logger
from switchboard.voice_gateway.ports.clock import Clock

log = get_logger(__name__)


class ReapableSession(Protocol):
    """What the registry and reaper need from a session."""

    call_sid: str
    last_message_at: float

    def end(self, reason: str) -> None:
        """Ask the session to end."""

    async def wait_ended(self) -> None:
        """Wait until the session has ended and published its events."""


class SessionRegistry:
    """Sessions by call sid."""

    def __init__(self) -> None:
        self._sessions: dict[str, ReapableSession] = {}

    def add(self, session: ReapableSession) -> None:
        """Register a session that has started."""
        self._sessions[session.call_sid] = session

    def remove(self, session: ReapableSession) -> None:
        """Forget a session that has ended."""
        if self._sessions.get(session.call_sid) is session:
            del self._sessions[session.call_sid]

    def __len__(self) -> int:
        return len(self._sessions)

    def get(self, call_sid: str) -> ReapableSession | None:
        """The live session of a call, if any."""
        return self._sessions.get(call_sid)

    def sessions(self) -> list[ReapableSession]:
        """A snapshot of the live sessions."""
        return list(self._sessions.values())

    async def end_all(self, reason: str, timeout_s: float = 10.0) -> None:
        """End every session and wait (bounded) until they have published their events."""
        sessions = self.sessions()
        for session in sessions:
            session.end(reason)
        if sessions:
            await asyncio.wait(
                [asyncio.ensure_future(s.wait_ended()) for s in sessions], timeout=timeout_s
            )


class SessionReaper:
    """One task for the whole process: ends sessions whose socket has gone quiet.

    Twilio sends caller audio every 20 ms for the whole call, so a socket silent for
    seconds is dead even if TCP has not noticed yet.
    """

    def __init__(
        self, registry: SessionRegistry, clock: Clock, *, timeout_s: float, interval_s: float
    ) -> None:
        self._registry = registry
        self._clock = clock
        self._timeout_s = timeout_s
        self._interval_s = interval_s

    def reap_once(self) -> list[str]:
        """End the dead sessions now; returns their call sids."""
        now = self._clock.now()
        dead = [s for s in self._registry.sessions() if now - s.last_message_at > self._timeout_s]
        for session in dead:
            log.warning("session_reaped", call_sid=session.call_sid)
            session.end("socket_dead")
        return [s.call_sid for s in dead]

    async def run(self) -> None:
        """Reap forever, every ``interval_s``."""
        while True:
            await self._clock.sleep(self._interval_s)
            self.reap_once()
