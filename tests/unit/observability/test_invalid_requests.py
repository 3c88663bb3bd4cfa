"""A request uvicorn's parser refuses is one of our lines, ``http.invalid_request``, counted and
at most one a minute, not a WARNING from uvicorn per request (a scanner would flood them)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn

from switchboard.common import invalid_requests
from tests.support.processes import free_port
from tests.support.waiting import wait_for

from .conftest import JsonLines

GARBAGE = b"\x16\x03\x01\x02\x00 not HTTP at all\r\n\r\n"  # a TLS hello's first bytes, and more


async def _app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "http":
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})


@pytest.fixture
def server(json_lines: JsonLines) -> Iterator[int]:
    """uvicorn serving as our services configure it (``log_config=None``, httptools)."""
    port = free_port()
    config = uvicorn.Config(
        _app,
        host="127.0.0.1",
        port=port,
        http="httptools",
        access_log=False,
        log_level="warning",
        log_config=None,
        lifespan="off",
    )
    served = uvicorn.Server(config)
    thread = threading.Thread(target=served.run, name="uvicorn", daemon=True)
    thread.start()
    wait_for(lambda: served.started, timeout=15, what="uvicorn to listen")
    yield port
    served.should_exit = True
    thread.join(15)


def _send_garbage(port: int) -> bytes:
    """Garbage on a fresh connection; uvicorn's answer (a 400, then it closes)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(GARBAGE)
        answer = b""
        while chunk := sock.recv(4096):
            answer += chunk
    return answer


def _invalid_request_lines(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    assert not [line for line in lines if "Invalid HTTP request" in line["event"]]
    return [line for line in lines if line["event"] == "http.invalid_request"]


def test_malformed_requests_make_one_counted_line_not_a_warning_each(
    server: int, json_lines: JsonLines, monkeypatch: pytest.MonkeyPatch
) -> None:
    for _ in range(3):
        assert _send_garbage(server).startswith(b"HTTP/1.1 400")

    [line] = _invalid_request_lines(json_lines())
    assert (line["level"], line["count"]) == ("info", 1)
    assert not {"client", "client_addr", "address", "host"} & line.keys()  # no one's address

    monkeypatch.setattr(invalid_requests, "INTERVAL_S", 0.0)  # the minute is over
    assert _send_garbage(server).startswith(b"HTTP/1.1 400")

    [line] = _invalid_request_lines(json_lines())
    assert line["count"] == 3  # the two held back and this one
