"""``WS /twilio/media``: check the upgrade's signature, then hand the socket to the handler."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import Any

from fastapi import APIRouter, WebSocket
from starlette.websockets import WebSocketDisconnect, WebSocketState

from switchboard.common.logging import get_logger
from switchboard.voice_gateway.bootstrap import Gateway
from switchboard.voice_gateway.media_websocket import DIRECT_TEXT, MediaWebSocketProtocol
from switchboard.voice_gateway.ports.media_socket import MediaSocket, SocketClosed
from switchboard.voice_gateway.session.stream_handler import refuse_for_now

router = APIRouter(tags=["twilio"])
log = get_logger(__name__)

#: How long a close frame may wait to be written: a peer that stopped reading (its buffers
#: full) would hold it, and with it the end of the call and its ``call.ended``, for ever.
CLOSE_TIMEOUT_S = 5.0


def _close_reason(reason: str) -> str:
    # A close frame's reason is at most 123 bytes of UTF-8; a longer one is refused and the
    # socket would end without its close frame.
    return reason.encode(errors="replace")[:123].decode(errors="ignore")


class StarletteMediaSocket(MediaSocket):
    """The media socket port over Starlette's ``WebSocket``, with the ASGI calls inlined."""

    def __init__(self, websocket: WebSocket) -> None:
        self._websocket = websocket
        self._receive = websocket.receive
        self._send = websocket.send
        self._closed = False

    async def receive_text(self) -> str:
        """The next text message (binary frames are decoded as UTF-8)."""
        message = await self._receive()
        if message["type"] == "websocket.disconnect":
            raise self._disconnected(message)
        text = message.get("text")
        if text is None:
            data = message.get("bytes") or b""
            text = data.decode("utf-8", errors="replace")
        return str(text)

    async def send_text(self, text: str) -> None:
        """Send one text message."""
        if self._closed:
            raise SocketClosed("closed")
        try:
            await self._send({"type": "websocket.send", "text": text})
        except (WebSocketDisconnect, OSError, RuntimeError) as exc:
            self._closed = True
            raise SocketClosed(str(exc)) from exc

    def _disconnected(self, message: Mapping[str, Any]) -> SocketClosed:
        self._closed = True
        return SocketClosed(f"closed by peer ({message.get('code')})")

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Close the socket if it is still open."""
        if self._closed:
            return
        self._closed = True
        if self._websocket.application_state != WebSocketState.DISCONNECTED:
            try:
                await asyncio.wait_for(
                    self._websocket.close(code=code, reason=_close_reason(reason)),
                    CLOSE_TIMEOUT_S,
                )
            except TimeoutError:
                log.warning("media_socket_not_reading", code=code)
                self._abort()
            except (WebSocketDisconnect, RuntimeError, OSError) as exc:
                log.debug("media_socket_close_failed", error=repr(exc))

    def _abort(self) -> None:
        """Drop a connection whose close frame could not be written (plain ASGI cannot: the
        server closes it once the app returns)."""


class DirectMediaSocket(StarletteMediaSocket):
    """The media socket over ``MediaWebSocketProtocol``'s short path: text without ASGI dicts.

    Messages come and go straight through the protocol (``media_websocket.DIRECT_TEXT``);
    closing is still Starlette's.
    """

    sends_now = True

    def __init__(self, websocket: WebSocket, protocol: MediaWebSocketProtocol) -> None:
        super().__init__(websocket)
        self._protocol = protocol

    def _abort(self) -> None:
        """Drop the connection now, without the close frame its peer does not read."""
        self._protocol.transport.abort()

    def deliver_text(self, handler: Callable[[str], bool] | None) -> bool:
        """Text parsed by the protocol goes to ``handler`` straight from ``data_received``."""
        self._protocol.deliver_text(handler)
        return True

    def can_send_now(self) -> bool:
        """False while the peer does not read (the transport's buffer is over its mark)."""
        return self._protocol.writable.is_set()

    def send_text_now(self, text: str) -> None:
        """Write one text frame now."""
        self._write_now(self._protocol.send_text_now, text)

    def send_texts_now(self, texts: list[str]) -> None:
        """Write text frames now, in one write."""
        self._write_now(self._protocol.send_texts_now, texts)

    def _write_now(self, write: Callable[[Any], None], what: Any) -> None:
        if self._closed:
            raise SocketClosed("closed")
        try:
            write(what)
        except (OSError, RuntimeError) as exc:  # uvicorn's ClientDisconnected is an OSError
            self._closed = True
            raise SocketClosed(str(exc)) from exc

    async def receive_text(self) -> str:
        """The next text message (binary frames are decoded as UTF-8)."""
        protocol = self._protocol
        item = protocol.pop_nowait()
        while item is None:  # awaiting the future itself: one frame less to resume per message
            await protocol.readable()
            item = protocol.pop_nowait()
        if type(item) is str:
            return item
        if item["type"] == "websocket.disconnect":
            raise self._disconnected(item)
        text = item.get("text")
        if text is None:
            text = (item.get("bytes") or b"").decode("utf-8", errors="replace")
        return str(text)

    async def send_text(self, text: str) -> None:
        """Send one text message."""
        if self._closed:
            raise SocketClosed("closed")
        try:
            await self._protocol.send_text(text)
        except (OSError, RuntimeError) as exc:  # uvicorn's ClientDisconnected is an OSError
            self._closed = True
            raise SocketClosed(str(exc)) from exc


def media_socket(websocket: WebSocket) -> StarletteMediaSocket:
    """The fastest media socket the server offers for this (accepted) websocket."""
    protocol = websocket.scope.get("extensions", {}).get(DIRECT_TEXT)
    if isinstance(protocol, MediaWebSocketProtocol):
        return DirectMediaSocket(websocket, protocol)
    return StarletteMediaSocket(websocket)


@router.websocket("/twilio/media")
async def media_stream(websocket: WebSocket) -> None:
    """One call's Media Stream."""
    gateway: Gateway = websocket.app.state.gateway
    signature = websocket.headers.get("x-twilio-signature")
    if signature is not None and not gateway.signatures.websocket_is_signed(
        websocket.url.query, signature
    ):
        log.warning("media_stream_bad_signature")
        await websocket.close(code=1008)  # before accept: the upgrade is refused with 403
        return
    if gateway.admission.draining:  # this process is going away: no new call starts here
        log.info("media_stream_refused_draining")
        await websocket.close(code=1013)  # before accept: 403, as for any refused upgrade
        return
    # Its place among the sockets awaiting start is taken before the upgrade is answered:
    # a client that sees its socket open holds one.
    place = gateway.media_streams.start_places.take()
    if place is None:  # accepted to be told why: 1013, try again later
        await websocket.accept()
        await refuse_for_now(media_socket(websocket))
        return
    with place:
        await websocket.accept()
        socket = media_socket(websocket)
        with gateway.admission.stream():
            try:
                await gateway.media_streams.handle(socket, place)
            except Exception:  # a bug must still end this socket with a close frame, only it
                log.exception("media_stream_failed")
                await socket.close(1011, "internal error")
