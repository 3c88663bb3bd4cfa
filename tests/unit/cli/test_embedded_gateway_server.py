"""``switchboard run`` serves the voice gateway's Media Streams as the gateway's own server
does (``voice_gateway/server.py``): its websocket protocol and its frame size limit."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from switchboard.cli.embedded import _server, build_app
from switchboard.common.settings import Settings
from tests.support.processes import free_port
from tests.support.waiting import wait_for


def test_a_media_stream_frame_over_64_kib_is_refused_as_the_gateway_server_refuses_it(
    tmp_path: Path,
) -> None:
    settings = Settings(amqp_url="", var_dir=tmp_path)
    port = free_port()
    server = _server(build_app("gateway", settings), "127.0.0.1", port, "gateway")
    thread = threading.Thread(target=server.run, name="gateway", daemon=True)
    thread.start()
    try:
        wait_for(lambda: server.started, timeout=15, what="the gateway to listen")
        with connect(f"ws://127.0.0.1:{port}/twilio/media", max_size=None) as ws:
            ws.send("x" * (64 * 1024 + 1))
            with pytest.raises(ConnectionClosed):
                ws.recv(timeout=5)
        # 1009 "message too big", from the protocol, before more is buffered (uvicorn's
        # default takes 16 MiB frames, which the gateway refuses only once whole: 1008).
        assert ws.close_code == 1009
    finally:
        server.should_exit = True
        thread.join(15)
