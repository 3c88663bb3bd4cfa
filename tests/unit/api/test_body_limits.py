"""Every request body has a limit, checked before it is read (``Content-Length``) or as it
streams in (chunks counted): the app is driven over plain ASGI, so the test sees how much of
a body was pulled."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import chain
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.types import Message

from switchboard.api.app import create_app
from switchboard.api.body_limit import BodyLimit, BodyLimits, _within
from switchboard.api.routes import whatsapp_webhook
from switchboard.common.settings import Settings
from tests.support.factories import make_business, unique_phone

BODY_LIMIT = 1_000
UPLOAD_LIMIT = 5_000
JSON = (b"content-type", b"application/json")
UPLOAD = (b"content-type", b"multipart/form-data; boundary=xyz")
FORM = b"application/x-www-form-urlencoded"


@pytest.fixture
def app(embedded: Settings) -> FastAPI:
    limits = {"api_max_body_bytes": BODY_LIMIT, "api_max_upload_bytes": UPLOAD_LIMIT}
    return create_app(embedded.model_copy(update=limits))


@dataclass
class Answer:
    status: int = 0
    body: bytes = b""
    #: How many of the body's chunks the app asked for.
    pulled: int = 0
    headers: dict[bytes, bytes] = field(default_factory=dict)

    def json(self) -> object:
        return json.loads(self.body)


def _post(
    app: FastAPI,
    path: str,
    chunks: Iterator[bytes],
    headers: list[tuple[bytes, bytes]],
) -> Answer:
    pulled = 0

    async def receive() -> Message:
        nonlocal pulled
        chunk = next(chunks, None)
        pulled += chunk is not None
        return {"type": "http.request", "body": chunk or b"", "more_body": chunk is not None}

    answer = _serve(app, path, headers, receive)
    answer.pulled = pulled
    return answer


def _serve(app: Any, path: str, headers: list[tuple[bytes, bytes]], client: Any) -> Answer:
    """The answer of ``app`` to a POST whose body ``client`` gives (ASGI's ``receive``)."""
    answer = Answer()

    async def send(message: Message) -> None:
        if message["type"] == "http.response.start":
            answer.status, answer.headers = message["status"], dict(message["headers"])
        elif message["type"] == "http.response.body":
            answer.body += message.get("body", b"")

    asyncio.run(app(_scope(path, headers), client, send))
    return answer


def _scope(path: str, headers: list[tuple[bytes, bytes]]) -> dict[str, object]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }


def _endless(size: int = 300) -> Iterator[bytes]:
    """A body sent in chunks, without a length: 10,000 of them, far more than any limit."""
    for _ in range(10_000):
        yield b" " * size


def _bearer(key: str) -> tuple[bytes, bytes]:
    return (b"authorization", f"Bearer {key}".encode())


def test_a_body_whose_length_is_over_the_limit_is_refused_unread(app: FastAPI) -> None:
    key = make_business().api_key
    length = (b"content-length", str(100 * 1024 * 1024).encode())

    answer = _post(app, "/api/v1/leads", _endless(), [JSON, length, _bearer(key)])

    assert answer.status == 413 and answer.pulled == 0
    assert answer.json() == {
        "code": "payload_too_large",
        "detail": f"request body larger than {BODY_LIMIT} bytes",
    }


def test_a_body_sent_in_chunks_is_counted_and_cut_at_the_limit(app: FastAPI) -> None:
    key = make_business().api_key

    answer = _post(app, "/api/v1/leads", _endless(300), [JSON, _bearer(key)])

    assert answer.status == 413 and answer.pulled == 4  # 1200 bytes: one chunk past 1000
    assert answer.json() == {
        "code": "payload_too_large",
        "detail": f"request body larger than {BODY_LIMIT} bytes",
    }


def test_an_upload_may_be_larger_up_to_its_own_limit(app: FastAPI) -> None:
    key = make_business().api_key
    form = b'--xyz\r\nContent-Disposition: form-data; name="file"; filename="a.csv"\r\n\r\n'
    csv = f"phone,notes\n{unique_phone()},{'x' * 3000}\n".encode()  # over the body limit

    fits = _post(
        app, "/api/v1/leads/import", iter([form, csv, b"\r\n--xyz--\r\n"]), [UPLOAD, _bearer(key)]
    )
    over = _post(app, "/api/v1/leads/import", chain([form], _endless(1000)), [UPLOAD, _bearer(key)])

    assert fits.status == 200 and json.loads(fits.body)["created"] == 1, fits.body
    assert over.status == 413 and over.pulled == 6
    assert over.json() == {
        "code": "payload_too_large",
        "detail": f"request body larger than {UPLOAD_LIMIT} bytes",
    }


def test_the_whatsapp_webhook_keeps_its_own_smaller_limit_on_its_fast_path(
    app: FastAPI,
) -> None:
    form = (b"content-type", b"application/x-www-form-urlencoded")
    limit = whatsapp_webhook.MAX_BODY_BYTES

    answer = _post(app, whatsapp_webhook.PATH, _endless(1024), [form])

    assert answer.status == 413 and answer.pulled == limit // 1024 + 1
    assert answer.json() == {
        "code": "payload_too_large",
        "detail": f"request body larger than {limit} bytes",
    }
    assert b"x-request-id" in answer.headers  # observed like every other request


# --- credentials before the body -------------------------------------------------------


HUGE = (b"content-length", str(100 * 1024 * 1024).encode())


@pytest.mark.parametrize(
    ("path", "headers", "credentials", "status"),
    [
        ("/api/v1/leads", [JSON], None, 401),
        ("/api/v1/leads", [JSON, HUGE], None, 401),  # not a 413: the credentials come first
        ("/api/v1/leads", [JSON], "sbk_not-a-key", 401),
        ("/api/v1/leads/import", [UPLOAD], None, 401),
        ("/api/v1/leads/import", [UPLOAD, HUGE], None, 401),
        ("/api/v1/businesses", [JSON], "business", 403),  # an admin operation
    ],
)
def test_a_body_is_not_read_before_the_credentials_pass(
    app: FastAPI,
    path: str,
    headers: list[tuple[bytes, bytes]],
    credentials: str | None,
    status: int,
) -> None:
    key = make_business().api_key if credentials == "business" else credentials
    headers = headers + ([_bearer(key)] if key else [])

    answer = _post(app, path, _endless(), headers)

    assert answer.status == status and answer.pulled == 0
    assert answer.json()["code"] == ("unauthorized" if status == 401 else "forbidden")  # type: ignore[index]


def test_a_body_to_no_such_path_is_a_404_unread(app: FastAPI) -> None:
    answer = _post(app, "/api/v1/nothing-here", _endless(), [JSON, HUGE])

    assert answer.status == 404 and answer.pulled == 0


def test_a_console_form_is_not_read_before_the_login(app: FastAPI) -> None:
    answer = _post(app, "/dashboard/runs/csv", _endless(), [UPLOAD])

    assert answer.status == 303 and answer.pulled == 0
    assert answer.headers[b"location"] == b"/dashboard/login"


def test_malformed_json_without_a_key_is_a_401_not_a_422(client: TestClient) -> None:
    headers = {"Content-Type": "application/json"}

    response = client.post("/api/v1/leads", content=b'{"phone": ', headers=headers)

    assert response.status_code == 401
    assert response.json()["code"] == "unauthorized"
    assert response.headers["www-authenticate"] == "Bearer"


def test_with_valid_credentials_the_body_is_read_as_before(client: TestClient) -> None:
    headers = {"Authorization": f"Bearer {make_business().api_key}"}

    created = client.post("/api/v1/leads", json={"phone": unique_phone()}, headers=headers)
    malformed = client.post(
        "/api/v1/leads",
        content=b'{"phone": ',
        headers={**headers, "Content-Type": "application/json"},
    )

    assert created.status_code == 201, created.text
    assert malformed.status_code == 422


# --- a body that stops coming ----------------------------------------------------------


READ_TIMEOUT_S = 0.3


@pytest.fixture
def impatient_app(embedded: Settings) -> FastAPI:
    return create_app(embedded.model_copy(update={"api_body_read_timeout_s": READ_TIMEOUT_S}))


@pytest.mark.parametrize("path", ["/api/v1/leads", whatsapp_webhook.PATH])
def test_a_body_that_stops_coming_is_a_408_that_closes_the_connection(
    impatient_app: FastAPI, path: str
) -> None:
    """Its first 10 bytes of 100 come, then nothing while the socket stays open: before, the
    request held its connection for as long as the client kept it."""
    key = make_business().api_key
    content = JSON if path.startswith("/api") else (b"content-type", FORM)
    headers = [content, (b"content-length", b"100"), _bearer(key)]
    sent: list[bytes] = []

    async def stalling_client() -> Message:
        if sent:  # nothing more: it hangs up only long after (a test without the timeout ends)
            await asyncio.sleep(READ_TIMEOUT_S * 20)
            return {"type": "http.disconnect"}
        sent.append(b'{"phone": ')
        return {"type": "http.request", "body": sent[0], "more_body": True}

    answer = _serve(impatient_app, path, headers, stalling_client)

    assert answer.status == 408, answer.body
    assert answer.json() == {
        "code": "request_timeout",
        "detail": f"request body incomplete: no more of it came in {READ_TIMEOUT_S:g} s "
        "(after 10 bytes); send the whole body its Content-Length announces",
    }
    assert answer.headers[b"connection"] == b"close"


def test_a_slow_body_that_keeps_coming_is_read_and_then_a_read_waits_unbounded() -> None:
    """The time is per read: each chunk comes within it, the whole body takes longer. Once
    the body is in, a read (a streamed answer's wait for the disconnect) is not timed."""
    after_body: list[Message] = []

    async def echo(request: Request) -> JSONResponse:
        body = await request.body()
        after_body.append(await request.receive())
        return JSONResponse({"received": len(body)})

    app = BodyLimit(
        Starlette(routes=[Route("/echo", echo, methods=["POST"])]),
        BodyLimits(body=10_000, upload=10_000, read_timeout_s=READ_TIMEOUT_S),
    )
    chunks = [b"x" * 100] * 8

    async def slow_client() -> Message:
        if not chunks:
            await asyncio.sleep(READ_TIMEOUT_S * 2)  # it hangs up long after the body
            return {"type": "http.disconnect"}
        await asyncio.sleep(READ_TIMEOUT_S / 3)  # each chunk in time, 8 of them take longer
        chunk = chunks.pop()
        return {"type": "http.request", "body": chunk, "more_body": bool(chunks)}

    answer = _serve(app, "/echo", [], slow_client)

    assert answer.status == 200 and answer.json() == {"received": 800}
    assert after_body == [{"type": "http.disconnect"}]


def test_a_read_answered_at_once_arms_no_timer_and_one_that_waits_is_timed() -> None:
    """The body's time limit costs the webhook nothing when its body is in (a timer per read
    was ~5 µs under uvloop, 2-3 % of the API's CPU per webhook): only a read that must wait
    for the client is timed, and it still ends in time."""
    timers: list[float] = []

    class CountingLoop(asyncio.SelectorEventLoop):
        def call_at(self, when: float, *args: Any, **kwargs: Any) -> asyncio.TimerHandle:
            timers.append(when)
            return super().call_at(when, *args, **kwargs)

    async def at_once() -> Message:
        return {"type": "http.request", "body": b"x" * 100, "more_body": False}

    async def reads() -> tuple[int, int]:
        await _within(READ_TIMEOUT_S, at_once)
        answered_at_once = len(timers)
        with pytest.raises(TimeoutError):
            await _within(READ_TIMEOUT_S, asyncio.Event().wait)  # type: ignore[arg-type]
        return answered_at_once, len(timers)

    loop = CountingLoop()
    try:
        assert loop.run_until_complete(reads()) == (0, 1)
    finally:
        loop.close()
