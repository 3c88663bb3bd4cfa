"""Provider sessions opened while the phone rings, handed to the call's stream when it starts.

Connecting to the provider and configuring its session takes a few hundred milliseconds;
done at the media stream's ``start`` it delays the greeting by as much. So when the voice
webhook is answered, the agent config is fetched and the provider session opened in the
background, bound to the call sid; the stream of that call (its token already checked)
claims it. One that no stream claims within ``timeout_s`` is closed, as is every one left
when the gateway stops: none outlives its call.

A call whose webhook reached another gateway process than its stream simply finds nothing
here and opens its session at ``start``, as before.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from switchboard.common.logging import get_logger
from switchboard.voice_gateway import metrics
from switchboard.voice_gateway.domain.agent_config import AgentConfig
from switchboard.voice_gateway.ports.agent_config import AgentConfigUnavailable
from switchboard.voice_gateway.ports.ai import (
    AIConversation,
    AIProvider,
    CallContext,
    ProviderUnavailable,
)

log = get_logger(__name__)

#: How long a session opened at the webhook waits for its stream (Twilio starts the stream
#: within a second or two of the TwiML; an outbound call's webhook comes once answered).
DEFAULT_TIMEOUT_S = 15.0
#: Bound on closing one abandoned session.
_CLOSE_TIMEOUT_S = 5.0


@dataclass
class Prepared:
    """What was made ready for a call: its agent config and provider session (each None if
    it could not be had; the stream then fetches or opens it itself)."""

    config: AgentConfig | None
    conversation: AIConversation | None

    async def close(self) -> None:
        """Close the provider session (a stream that cannot use it)."""
        await _close(self.conversation)


@dataclass
class _Entry:
    task: asyncio.Task[Prepared]
    expiry: asyncio.TimerHandle


class PreopenedSessions:
    """The sessions being prepared or ready, by call sid."""

    def __init__(self, ai: AIProvider, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        self._ai = ai
        self.timeout_s = timeout_s
        self._entries: dict[str, _Entry] = {}
        self._closing: set[asyncio.Task[None]] = set()

    @property
    def enabled(self) -> bool:
        """False when ``timeout_s`` is 0: every call opens its session at ``start``."""
        return self.timeout_s > 0

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, call_sid: object) -> bool:
        return call_sid in self._entries

    def prepare(
        self, call: CallContext, config: Callable[[], Awaitable[AgentConfig | None]]
    ) -> None:
        """Start getting ``config()`` and opening its provider session for ``call``.

        A call already being prepared (Twilio retried its webhook) keeps the first one.
        """
        if not self.enabled or not call.call_sid or call.call_sid in self._entries:
            return
        task = asyncio.create_task(self._open(call, config), name="preopen-session")
        expiry = asyncio.get_running_loop().call_later(self.timeout_s, self._expire, call.call_sid)
        self._entries[call.call_sid] = _Entry(task, expiry)

    async def claim(self, call_sid: str) -> Prepared | None:
        """What was prepared for ``call_sid`` (waiting for it to be ready), or None.

        Only the stream of the call itself claims it, after its media token is checked.
        """
        entry = self._entries.pop(call_sid, None)
        if entry is None:
            return None
        entry.expiry.cancel()
        try:
            prepared = await asyncio.shield(entry.task)
        except asyncio.CancelledError:  # the stream went away while the session opened
            self._close_later(entry.task, "abandoned")
            raise
        metrics.PREOPENED_SESSIONS.labels(outcome="used").inc()
        return prepared

    async def close_all(self) -> None:
        """Close every session still waiting for its stream (the gateway stops)."""
        entries, self._entries = list(self._entries.values()), {}
        for entry in entries:
            entry.expiry.cancel()
            self._close_later(entry.task, "shutdown")
        if self._closing:
            await asyncio.wait(list(self._closing), timeout=_CLOSE_TIMEOUT_S * 2)

    async def _open(
        self, call: CallContext, get_config: Callable[[], Awaitable[AgentConfig | None]]
    ) -> Prepared:
        try:
            config = await get_config()
        except AgentConfigUnavailable as exc:
            log.warning("preopen_without_config", call_sid=call.call_sid, error=str(exc))
            return Prepared(None, None)
        if config is None:
            return Prepared(None, None)
        try:
            conversation = await self._ai.open(config, call)
        except ProviderUnavailable as exc:
            log.warning("preopen_failed", call_sid=call.call_sid, error=str(exc))
            metrics.PREOPENED_SESSIONS.labels(outcome="failed").inc()
            return Prepared(config, None)
        return Prepared(config, conversation)

    def _expire(self, call_sid: str) -> None:
        entry = self._entries.pop(call_sid, None)
        if entry is not None:
            log.info("preopen_abandoned", call_sid=call_sid)
            self._close_later(entry.task, "abandoned")

    def _close_later(self, task: asyncio.Task[Prepared], outcome: str) -> None:
        async def close() -> None:
            with contextlib.suppress(asyncio.CancelledError):
                prepared = await task
                await prepared.close()
            metrics.PREOPENED_SESSIONS.labels(outcome=outcome).inc()

        closing = asyncio.create_task(close(), name="preopen-close")
        self._closing.add(closing)
        closing.add_done_callback(self._closing.discard)


async def _close(conversation: AIConversation | None) -> None:
    if conversation is None:
        return
    try:
        await asyncio.wait_for(conversation.close(), _CLOSE_TIMEOUT_S)
    except (TimeoutError, OSError, ProviderUnavailable) as exc:
        log.warning("preopen_close_failed", error=repr(exc))
