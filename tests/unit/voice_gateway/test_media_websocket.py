"""The gateway's websocket protocol (uvicorn's websockets-sansio with a short path for whole
data frames) against real clients: messages arrive whole and in order whichever path they
take, control frames and fragments still work, and broken frames close as before."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import struct
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from switchboard.voice_gateway.media_websocket import DIRECT_TEXT, MediaWebSocketProtocol
from tests.support.processes import free_port
from tests.support.waiting import wait_for
from tests.unit.voice_gateway.raw_websocket import frame, handshake


async def echo_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Echoes every message; ``/direct`` uses the DIRECT_TEXT extension, ``/asgi`` plain ASGI,
    ``/delivered`` has text delivered to a function (``deliver_text``) until "last-delivered"
    and says "ready" first; text it is not delivered comes back as "queued:…"."""
    if scope["type"] != "websocket":
        return
    await receive()  # websocket.connect
    await send({"type": "websocket.accept"})
    path = scope["path"]
    direct = scope["extensions"].get(DIRECT_TEXT) if path in ("/direct", "/delivered") else None
    if path == "/delivered":

        def deliver(text: str) -> bool:
            direct.send_texts_now([f"echo:{text}", "after"])
            return text != "last-delivered"

        direct.deliver_text(deliver)
        direct.send_texts_now(["ready"])
    while True:
        if direct is not None:
            message = direct.pop_nowait()
            while message is None:
                await direct.readable()
                message = direct.pop_nowait()
            if type(message) is str:
                prefix = "queued" if path == "/delivered" else "echo"
                direct.send_texts_now([f"{prefix}:{message}", "after"])
                continue
        else:
            message = await receive()
        if message["type"] == "websocket.disconnect":
            return
        text = message.get("text")
        if text is None:
            text = "bytes:" + bytes(message["bytes"]).hex()
        prefix = "queued" if path == "/delivered" and "text" in message else "echo"
        await send({"type": "websocket.send", "text": f"{prefix}:{text}"})
        await send({"type": "websocket.send", "text": "after"})


@contextlib.contextmanager
def serving(protocol: Any, buffer_bytes: int | None = None) -> Iterator[str]:
    """The echo app served by uvicorn with this websocket protocol, in a thread; with
    ``buffer_bytes``, its sockets' kernel buffers that small."""
    port = free_port()
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if buffer_bytes is not None:  # accepted sockets inherit them
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, buffer_bytes)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, buffer_bytes)
    listener.bind(("127.0.0.1", port))
    config = uvicorn.Config(
        echo_app,
        ws=protocol,
        ws_max_size=64 * 1024,
        log_level="warning",
        lifespan="off",
    )
    served = uvicorn.Server(config)
    thread = threading.Thread(
        target=served.run, kwargs={"sockets": [listener]}, name="ws", daemon=True
    )
    thread.start()
    wait_for(lambda: served.started, timeout=15, what="the server to listen")
    yield f"127.0.0.1:{port}"
    served.should_exit = True
    thread.join(15)
    listener.close()


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with serving(MediaWebSocketProtocol) as address:
        yield address


@pytest.fixture(scope="module")
def stock_server() -> Iterator[str]:
    """The same app on uvicorn's own websockets-sansio protocol."""
    with serving("websockets-sansio") as address:
        yield address


async def _echoes(ws: Any, count: int) -> list[str]:
    return [str(await asyncio.wait_for(ws.recv(), 5)) for _ in range(count)]


@pytest.mark.parametrize("path", ["/asgi", "/direct", "/delivered"])
async def test_text_of_every_size_comes_back_whole_and_in_order(server: str, path: str) -> None:
    texts = ["a", "é" * 100, "x" * 300, "y" * 60_000]
    async with connect(f"ws://{server}{path}", max_size=None, compression=None) as ws:
        if path == "/delivered":
            assert await _echoes(ws, 1) == ["ready"]
        for text in texts:
            await ws.send(text)
        replies = await _echoes(ws, 2 * len(texts))
    assert replies[0::2] == [f"echo:{t}" for t in texts]
    assert set(replies[1::2]) == {"after"}


@pytest.mark.parametrize("path", ["/asgi", "/direct", "/delivered"])
async def test_pings_fragments_and_binary_messages_still_work_between_text(
    server: str, path: str
) -> None:
    async with connect(f"ws://{server}{path}", max_size=None, compression=None) as ws:
        if path == "/delivered":
            assert await _echoes(ws, 1) == ["ready"]
        await ws.send("one")
        await asyncio.wait_for(await ws.ping(), 5)  # answered by the websockets path
        await ws.send(["fr", "ag", "ments"])  # a fragmented message
        await ws.send(b"\x01\x02")
        await ws.send("two")
        replies = await _echoes(ws, 8)
    # Delivered text that arrives while a fragment or binary message waits is queued behind it.
    echoed = [reply.replace("queued:", "echo:", 1) for reply in replies if reply != "after"]
    assert echoed == ["echo:one", "echo:fragments", "echo:bytes:0102", "echo:two"]


async def test_delivered_text_stops_when_the_function_says_so_and_then_queues(
    server: str,
) -> None:
    # Uncompressed, as Twilio sends (compressed frames take the websockets path).
    async with connect(f"ws://{server}/delivered", max_size=None, compression=None) as ws:
        assert await _echoes(ws, 1) == ["ready"]
        for text in ("a", "last-delivered", "b", "c"):
            await ws.send(text)
        replies = [r for r in await _echoes(ws, 8) if r != "after"]
    assert replies == ["echo:a", "echo:last-delivered", "queued:b", "queued:c"]


async def test_a_message_over_the_size_limit_closes_with_1009(server: str) -> None:
    async with connect(f"ws://{server}/direct", max_size=None) as ws:
        await ws.send("z" * (64 * 1024 + 1))
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(ws.recv(), 5)
    assert ws.close_code == 1009


# -- a raw client: frames as bytes, to send what well-behaved clients never do -----------------


def _recv(sock: socket.socket) -> bytes:
    chunk = sock.recv(65536)
    if not chunk:
        raise EOFError
    return chunk


def _read_frames(sock: socket.socket, data: bytes, count: int) -> list[tuple[int, bytes]]:
    """Up to ``count`` server frames (opcode, payload), fewer if the server closes first."""
    frames: list[tuple[int, bytes]] = []
    try:
        while len(frames) < count:
            while len(data) < 4:
                data += _recv(sock)
            length, head = data[1] & 0x7F, 2
            if length == 126:
                length, head = struct.unpack("!H", data[2:4])[0], 4
            while len(data) < head + length:
                data += _recv(sock)
            frames.append((data[0] & 0x0F, data[head : head + length]))
            data = data[head + length :]
    except (EOFError, TimeoutError):
        pass
    return frames


def _raw(server: str, path: str, *, pipelined: bytes = b"", parts: tuple[bytes, ...] = ()) -> Any:
    """Handshake (with ``pipelined`` bytes right behind it), then send ``parts`` one by one."""
    host, port = server.split(":")
    with socket.create_connection((host, int(port)), timeout=2) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.sendall(handshake(server, path) + pipelined)
        data = b""
        while b"\r\n\r\n" not in data:
            data += _recv(sock)
        for part in parts:
            sock.sendall(part)
        return _read_frames(sock, data.split(b"\r\n\r\n", 1)[1], 6)


@pytest.mark.parametrize("path", ["/asgi", "/direct"])
def test_several_frames_in_one_segment_and_a_frame_split_across_two_all_arrive(
    server: str, path: str
) -> None:
    three = frame(b"a") + frame(b"b" * 200) + frame(b"c")
    frames = _raw(server, path, parts=(three[:5], three[5:]))
    assert [p for _, p in frames if p != b"after"] == [b"echo:a", b"echo:" + b"b" * 200, b"echo:c"]


def test_a_client_that_sends_frames_with_its_handshake_gets_what_uvicorn_gave_it(
    server: str, stock_server: str
) -> None:
    early = frame(b"early") + frame(b"later")
    ours = _raw(server, "/direct", pipelined=early)
    assert ours == _raw(stock_server, "/direct", pipelined=early)


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@contextlib.contextmanager
def uvicorn_errors() -> Iterator[list[logging.LogRecord]]:
    """The records uvicorn's protocols log (``uvicorn.error``) inside the block."""
    handler = _Records()
    logger = logging.getLogger("uvicorn.error")
    logger.addHandler(handler)
    try:
        yield handler.records
    finally:
        logger.removeHandler(handler)


@pytest.mark.parametrize("fragmented", [False, True], ids=["whole", "fragmented"])
def test_invalid_utf8_text_closes_with_1007_as_before_with_a_warning_not_a_traceback(
    server: str, fragmented: bool
) -> None:
    bad = frame(b"\xff", 0x01) + frame(b"\xfe", 0x80) if fragmented else frame(b"\xff\xfe")
    with uvicorn_errors() as records:
        frames = _raw(server, "/direct", parts=(frame(b"ok") + bad,))
    opcode, payload = frames[-1]
    assert opcode == 8  # close
    assert struct.unpack("!H", payload[:2])[0] == 1007
    # Any client may send it: not a traceback at ERROR for the operator to chase.
    assert [(r.levelno, r.exc_info) for r in records] == [(logging.WARNING, None)]


def test_a_peer_that_pings_and_never_reads_the_pongs_is_read_no_further() -> None:
    # Each ping read adds a pong to the transport's write buffer: read from a peer that
    # reads nothing, they would pile up in the server's memory for as long as it sends.
    with serving(MediaWebSocketProtocol, buffer_bytes=4096) as address:
        host, port = address.split(":")
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
            sock.settimeout(2)
            sock.connect((host, int(port)))
            sock.sendall(handshake(address, "/direct"))
            answer = b""
            while b"\r\n\r\n" not in answer:
                answer += sock.recv(1)  # the upgrade's answer, then nothing more is read
            pings = frame(b"p" * 125, first=0x89) * 100
            sent = 0
            with contextlib.suppress(TimeoutError):  # the server stopped reading
                while sent < 10 * 1024 * 1024:
                    sock.sendall(pings)
                    sent += len(pings)
    assert sent < 1024 * 1024, f"{sent} bytes of pings read from a peer that reads nothing"
