"""uvicorn's websocket protocol with a short path for the Media Streams' text frames.

uvicorn's ``websockets-sansio`` protocol runs every frame through the ``websockets``
parser (generators), wraps every message in an ASGI dict on an ``asyncio.Queue``, pauses
and resumes reading around each one (two ``epoll_ctl`` calls per 20 ms frame) and builds
every outgoing frame with the ``websockets`` serializer. At 50 frames a second each way
per call that is most of a call's CPU.

``MediaWebSocketProtocol`` keeps all of that for everything that is not a complete,
masked, unfragmented data frame on an open connection: the handshake, control frames
(ping, pong, close), fragments, oversized or invalid frames are handed, one whole frame at
a time, to the same ``websockets`` connection, which therefore always sees whole frames
and stays in step. The rest is parsed here, unmasked in C, and queued as bare text in
arrival order with the other ASGI messages; reading is paused only when many messages
wait. The app may use it through plain ASGI, or take the protocol from the scope's
``DIRECT_TEXT`` extension: ``pop_nowait`` / ``readable`` give text as ``str`` (other ASGI
messages as dicts), or ``deliver_text`` hands text to a function as it is parsed, with no
task woken per message; ``send_text`` / ``send_texts_now`` write frames without ASGI
messages (several in one write).

Nothing more is read from a peer that does not read what it is sent (the transport's write
buffer over its mark): each ping it sent would otherwise add a pong to that buffer, without
bound. Reading resumes once the buffer has drained.

A client must not send frames before the handshake's answer (RFC 6455 §4.1); one that
does, or whose request ends anywhere but at the end of what it sent, is served entirely
by the ``websockets`` path.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from typing import Any

from uvicorn.protocols.utils import ClientDisconnected
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.http11 import Request
from websockets.protocol import State
from websockets.speedups import apply_mask

#: The scope extension that holds the protocol (``receive``, ``send_text``).
DIRECT_TEXT = "switchboard.direct_text"
#: Reading pauses once this many messages wait for the app, and resumes when none do.
_PAUSE_AT = 32
#: Longest request head kept to find where the handshake ends (websockets refuses longer).
_MAX_HANDSHAKE_BYTES = 64 * 1024
_FIN_TEXT = 0x81
_FIN_BINARY = 0x82


class _Inbox:
    """uvicorn's receive queue, which also holds bare ``str`` text messages, in order."""

    __slots__ = ("_items", "_waiter")

    def __init__(self) -> None:
        self._items: deque[Any] = deque()
        self._waiter: asyncio.Future[None] | None = None

    def put_nowait(self, item: Any) -> None:
        self._items.append(item)
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(None)

    def empty(self) -> bool:
        return not self._items

    def __len__(self) -> int:
        return len(self._items)

    def waiter(self) -> asyncio.Future[None]:
        waiter = self._waiter
        if waiter is None or waiter.done():
            waiter = self._waiter = asyncio.get_running_loop().create_future()
        return waiter


def _frame_header(length: int, opcode_byte: int = _FIN_TEXT) -> bytes:
    """The head of an unmasked server frame carrying ``length`` bytes."""
    if length < 126:
        return bytes((opcode_byte, length))
    if length < 65536:
        return bytes((opcode_byte, 126)) + length.to_bytes(2, "big")
    return bytes((opcode_byte, 127)) + length.to_bytes(8, "big")


class MediaWebSocketProtocol(WebSocketsSansIOProtocol):
    """``websockets-sansio`` with whole data frames parsed, queued and sent on a short path."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.queue = _Inbox()  # type: ignore[assignment]
        self._inbox: _Inbox = self.queue  # type: ignore[assignment]
        self._head: bytes | None = b""  # the request's bytes until the handshake is parsed
        self._direct = False
        self._pending = b""
        self._on_text: Callable[[str], bool] | None = None
        self._peer_not_reading = False  # reading is paused until our writes drain

    # -- flow control --------------------------------------------------------------------

    def pause_writing(self) -> None:
        """The peer does not read: read no more from it until it does."""
        super().pause_writing()
        self._peer_not_reading = True
        self.transport.pause_reading()

    def resume_writing(self) -> None:
        """The peer reads again: so do we, unless messages wait for the app."""
        super().resume_writing()
        self._peer_not_reading = False
        if not self.read_paused and not self.transport.is_closing():
            self.transport.resume_reading()

    # -- receiving -----------------------------------------------------------------------

    def handle_connect(self, event: Request) -> None:
        """The handshake: take the short path only if the request ended the bytes sent."""
        head, self._head = self._head or b"", None
        end = head.find(b"\r\n\r\n")
        self._direct = end >= 0 and end + 4 == len(head) and not self.conn.reader.buffer
        super().handle_connect(event)
        if self.response.status_code == 101:
            extensions: dict[str, Any] = self.scope["extensions"]
            extensions[DIRECT_TEXT] = self

    def data_received(self, data: bytes) -> None:
        if not self._direct:
            if self._head is not None:
                if len(self._head) + len(data) <= _MAX_HANDSHAKE_BYTES:
                    self._head += data
                else:
                    self._head = None
            super().data_received(data)
            return
        buffer = self._pending + data if self._pending else data
        size, position = len(buffer), 0
        conn, inbox = self.conn, self._inbox
        max_size = conn.max_size
        while size - position >= 2:
            first, second = buffer[position], buffer[position + 1]
            length, head = second & 0x7F, 2
            if length == 126:
                if size - position < 4:
                    break
                length, head = buffer[position + 2] << 8 | buffer[position + 3], 4
            elif length == 127:
                if size - position < 10:
                    break
                length, head = int.from_bytes(buffer[position + 2 : position + 10], "big"), 10
            if max_size is not None and length > max_size:
                # Refused as soon as its head is read, as websockets does: from here on
                # every byte is its (the connection is at this frame's start).
                self._direct = False
                super().data_received(buffer[position:])
                self._pending = b""
                return
            masked = second & 0x80
            if masked:
                head += 4
            end = position + head + length
            if end > size:
                break
            if (
                masked
                and (first == _FIN_TEXT or first == _FIN_BINARY)
                and conn.state is State.OPEN
                and conn.cur_size is None
                and not self.close_sent
            ):
                payload = apply_mask(
                    buffer[position + head : end], buffer[end - length - 4 : end - length]
                )
                if first == _FIN_BINARY:
                    inbox.put_nowait({"type": "websocket.receive", "bytes": payload})
                    position = end
                    continue
                try:
                    text = payload.decode()
                except UnicodeDecodeError:
                    pass  # websockets' path closes with 1007
                else:
                    position = end
                    on_text = self._on_text
                    if on_text is not None and not inbox._items:
                        if not on_text(text):
                            self._on_text = None
                    else:
                        inbox.put_nowait(text)
                    continue
            super().data_received(buffer[position:end])
            position = end
            if self.conn.parser_exc is not None or self.transport.is_closing():
                # The connection failed or is closing: the rest is the websockets path's.
                self._direct = False
                if position < size:
                    super().data_received(buffer[position:])
                self._pending = b""
                return
        self._pending = buffer[position:] if position < size else b""
        if len(inbox) >= _PAUSE_AT and not self.read_paused:
            self.read_paused = True
            self.transport.pause_reading()

    def send_receive_event_to_app(self) -> None:
        """uvicorn's, except for a text message that is not UTF-8 (a fragmented one, or one
        the short path handed over): any client may send one, so it is a warning line and
        the close with 1007 uvicorn sends, not the traceback uvicorn logs at ERROR."""
        if self.curr_msg_data_type == "text" and not self.close_sent:
            try:
                b"".join(self.frames).decode()
            except UnicodeDecodeError:
                self.frames = []
                self.logger.warning("Invalid UTF-8 in a text message: closing with 1007.")
                self.conn.send_close(1007)
                self.handle_parser_exception()
                return
        super().send_receive_event_to_app()

    async def receive(self) -> Any:
        """The next ASGI message (bare text becomes a ``websocket.receive`` dict)."""
        item = self.pop_nowait()
        while item is None:
            await self.readable()
            item = self.pop_nowait()
        if type(item) is str:
            return {"type": "websocket.receive", "text": item}
        return item

    # -- the DIRECT_TEXT extension -----------------------------------------------------

    def pop_nowait(self) -> Any:
        """The next message, a ``str`` for text, else an ASGI message dict; None if none."""
        items = self._inbox._items
        if not items:
            return None
        item = items.popleft()
        if self.read_paused and not items:
            self.read_paused = False
            if not self._peer_not_reading:
                self.transport.resume_reading()
        return item

    def deliver_text(self, handler: Callable[[str], bool] | None) -> None:
        """Call ``handler(text)`` for each text message parsed on the short path while no
        earlier message waits in the queue, until it returns False (None: queue them all
        again). It runs inside ``data_received`` and must not raise."""
        self._on_text = handler

    def readable(self) -> asyncio.Future[None]:
        """A future resolved when a message arrives (await it, then ``pop_nowait``)."""
        return self._inbox.waiter()

    def _open_for_frames(self) -> bool:
        """True while data frames may be written straight to the transport."""
        return not (
            self.disconnected
            or self.close_sent
            or self.initial_response is not None
            or self.conn.state is not State.OPEN
        )

    async def send_text(self, text: str) -> None:
        """Send one text message (as ``websocket.send`` would)."""
        if not self.writable.is_set():
            await self.writable.wait()
        if not self._open_for_frames():
            # Whatever uvicorn does with a message it cannot send now (raise, mostly).
            await self.send({"type": "websocket.send", "text": text})
            return
        data = text.encode()
        self.transport.write(_frame_header(len(data)) + data)

    def send_text_now(self, text: str) -> None:
        """Write one text frame now (even past the buffer's mark: check ``writable``)."""
        if not self._open_for_frames():
            raise ClientDisconnected()
        data = text.encode()
        self.transport.write(_frame_header(len(data)) + data)

    def send_texts_now(self, texts: list[str]) -> None:
        """Write text frames now, in one write (even past the buffer's mark: check
        ``writable``)."""
        if not self._open_for_frames():
            raise ClientDisconnected()
        frames: list[bytes] = []
        for text in texts:
            data = text.encode()
            frames += (_frame_header(len(data)), data)
        self.transport.write(b"".join(frames))
