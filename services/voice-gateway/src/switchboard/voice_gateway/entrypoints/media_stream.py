"""``WS /twilio/media``: check the upgrade's signature, then hand the socket to the handler."""

from __future__ import annotations

from fastapi import APIRouter, WebSocket
from starlette.websockets import WebSocketDisconnect, WebSocketState

from switchboard.common.logging import get_logger
from switchboard.voice_gateway.bootstrap import Gateway
from switchboard.voice_gateway.ports.media_socket import MediaSocket, SocketClosed

router = APIRouter(tags=["twilio"])
log = get_logger(__name__)


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
            self._closed = True
            raise SocketClosed(f"closed by peer ({message.get('code')})")
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

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Close the socket if it is still open."""
        if self._closed:
            return
        self._closed = True
        if self._websocket.application_state != WebSocketState.DISCONNECTED:
            try:
                await self._websocket.close(code=code, reason=_close_reason(reason))
            except (WebSocketDisconnect, RuntimeError, OSError) as exc:
                log.debug("media_socket_close_failed", error=repr(exc))


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
    await websocket.accept()
    socket = StarletteMediaSocket(websocket)
    with gateway.admission.stream():
        try:
            await gateway.media_streams.handle(socket)
        except Exception:  # a bug must still end this socket with a close frame, and only it
            log.exception("media_stream_failed")
            await socket.close(1011, "internal error")
