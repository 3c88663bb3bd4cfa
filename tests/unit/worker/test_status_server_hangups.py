"""The worker's status server and a client that hangs up before its answer (a health probe or
a scrape that timed out): no traceback printed on the worker's stderr, and the next request is
answered."""

from __future__ import annotations

import socket
import struct
from pathlib import Path

import pytest

from switchboard.worker.status_server import make_server


def _listening() -> socket.socket:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    return listener


def _hang_up_mid_request(port: int) -> None:
    """Half a request, then a reset (SO_LINGER 0), as a client whose timeout struck."""
    client = socket.create_connection(("127.0.0.1", port))
    client.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
    client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    client.close()


def test_a_client_that_hangs_up_leaves_no_traceback(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    listener = _listening()
    port = listener.getsockname()[1]
    with make_server(listener, tmp_path) as server:
        _hang_up_mid_request(port)
        server.handle_request()  # accepts the connection the client reset
        assert "Traceback" not in capfd.readouterr().err

        asking = socket.create_connection(("127.0.0.1", port))
        asking.sendall(b"GET /nothing HTTP/1.1\r\nHost: x\r\n\r\n")
        server.handle_request()
        answer = asking.recv(4096)
        asking.close()
    assert answer.startswith(b"HTTP/1.0 404")
