"""The media socket port: the call's websocket, as the session sees it."""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import Callable


class SocketClosed(ConnectionError):
    """The other side closed the socket (or it died)."""


class MediaSocket(ABC):
    """Text messages in and out of one Media Streams websocket.

    A socket whose ``sends_now`` is True can also send from synchronous code
    (``can_send_now`` / ``send_text_now``): the paced transmit path then needs no task.
    A socket that accepts ``deliver_text`` hands each text message, as it arrives, to a
    function instead of waking the task that awaits ``receive_text``: the receive path then
    needs no task switch per message either.
    """

    #: True if ``send_text_now`` works.
    sends_now = False

    @abstractmethod
    async def receive_text(self) -> str:
        """The next text message; raises ``SocketClosed`` when the socket is gone."""

    @abstractmethod
    async def send_text(self, text: str) -> None:
        """Send a text message; raises ``SocketClosed`` when the socket is gone."""

    @abstractmethod
    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Close the socket (idempotent)."""

    def deliver_text(self, handler: Callable[[str], bool] | None) -> bool:
        """From now on call ``handler(text)`` for each text message as it arrives, whenever
        no earlier message waits for ``receive_text``, until it returns False (or None is
        given here). ``handler`` must not raise. Returns False if this socket cannot: then
        only ``receive_text`` gives them. Anything else (the close, a message queued before)
        still comes by ``receive_text``.
        """
        return False

    def can_send_now(self) -> bool:
        """True if ``send_text_now`` would not have to wait for the peer to read."""
        return False

    def send_text_now(self, text: str) -> None:
        """Send a text message without waiting; raises ``SocketClosed`` when it is gone."""
        raise NotImplementedError("this socket only sends with send_text")

    def send_texts_now(self, texts: list[str]) -> None:
        """Send text messages, in order, without waiting (in one write where it can)."""
        for text in texts:
            self.send_text_now(text)


class InMemoryMediaSocket(MediaSocket):
    """A socket for tests: ``feed`` what Twilio would send, read ``sent`` for what we sent.

    It delivers text to a handler as the real socket does unless ``delivers`` is False.
    """

    sends_now = True

    def __init__(self, *, delivers: bool = True) -> None:
        self.sent: list[str] = []
        self.closed_with: tuple[int, str] | None = None
        self._inbox: asyncio.Queue[str | None] = asyncio.Queue()
        self._sent_event = asyncio.Event()
        self._delivers = delivers
        self._handler: Callable[[str], bool] | None = None
        #: How many messages went to the handler (not through ``receive_text``).
        self.delivered = 0

    def feed(self, text: str) -> None:
        """Deliver a message from "Twilio"."""
        if self._handler is not None and self._inbox.empty() and self.closed_with is None:
            self.delivered += 1
            if not self._handler(text):
                self._handler = None
            return
        self._inbox.put_nowait(text)

    def deliver_text(self, handler: Callable[[str], bool] | None) -> bool:
        """Hand fed text to ``handler`` while nothing waits in the inbox."""
        if not self._delivers:
            return False
        self._handler = handler
        return True

    def hang_up(self) -> None:
        """Make the socket die from the far side."""
        self._inbox.put_nowait(None)

    async def receive_text(self) -> str:
        """The next fed message."""
        text = await self._inbox.get()
        if text is None or self.closed_with is not None:
            raise SocketClosed("closed")
        return text

    async def send_text(self, text: str) -> None:
        """Record the message."""
        self.send_text_now(text)

    def can_send_now(self) -> bool:
        """Always: "Twilio" reads everything."""
        return True

    def send_text_now(self, text: str) -> None:
        """Record the message."""
        if self.closed_with is not None:
            raise SocketClosed("closed")
        self.sent.append(text)
        self._sent_event.set()

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Record the close."""
        if self.closed_with is None:
            self.closed_with = (code, reason)
            self._inbox.put_nowait(None)

    async def wait_until(
        self, predicate: Callable[[list[str]], bool], timeout_s: float = 5.0
    ) -> None:
        """Wait until ``predicate(sent)`` holds (re-checked after every send)."""
        async with asyncio.timeout(timeout_s):
            while not predicate(self.sent):
                self._sent_event.clear()
                await self._sent_event.wait()

    async def wait_sent(self, fragment: str, timeout_s: float = 5.0) -> str:
        """Wait until a sent message contains ``fragment``; return it."""
        await self.wait_until(lambda sent: any(fragment in text for text in sent), timeout_s)
        return next(text for text in self.sent if fragment in text)
