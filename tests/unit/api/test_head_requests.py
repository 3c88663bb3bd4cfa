"""HEAD on the API's GET routes (pages, health, the API itself) is the GET without its body; it
was a 405, FastAPI's routes serving GET alone."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from fastapi.testclient import TestClient
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import StreamingResponse
from starlette.routing import Route

from switchboard.api.head_requests import HeadAsGet
from switchboard.common.integrations.storage import make_recording_storage
from switchboard.common.settings import Settings
from tests.support.factories import TestBusiness, make_business
from tests.support.log_capture import capture_logs
from tests.unit.api import rows
from tests.unit.api.rows import auth
from tests.unit.api.test_dashboard_pages import log_in

#: What may differ between two answers to the same request.
PER_REQUEST = {"x-request-id", "date", "set-cookie"}


@pytest.fixture
def business(embedded: Settings) -> TestBusiness:
    return make_business()


def same_but_the_body(client: TestClient, path: str, headers: dict[str, str] | None = None) -> None:
    got = client.get(path, headers=headers)
    head = client.head(path, headers=headers)
    assert head.status_code == got.status_code, (path, head.status_code)
    assert head.content == b""
    kept = {name: value for name, value in got.headers.items() if name not in PER_REQUEST}
    assert {n: v for n, v in head.headers.items() if n not in PER_REQUEST} == kept
    assert int(head.headers["content-length"]) == len(got.content) > 0


@pytest.mark.parametrize("path", ["/health", "/dashboard/login", "/openapi.json", "/docs"])
def test_head_on_an_open_page_or_health_is_its_get_without_the_body(client, path) -> None:
    same_but_the_body(client, path)


def test_head_on_a_console_page_and_an_api_list_is_their_get_without_the_body(
    client, business
) -> None:
    client.post("/api/v1/leads", json={"phone": "+15551230001"}, headers=auth(business.api_key))
    same_but_the_body(client, "/api/v1/leads", headers=auth(business.api_key))
    log_in(client, business)
    same_but_the_body(client, "/dashboard/jobs")
    same_but_the_body(client, "/dashboard")


def test_head_is_refused_where_the_get_is(client) -> None:
    """Without a key a 401, with an unknown path a 404: the GET's answer, no body."""
    refused = client.head("/api/v1/leads")
    assert (refused.status_code, refused.content) == (401, b"")
    assert client.head("/api/v1/nowhere").status_code == 404


def test_head_on_a_post_only_route_is_still_a_405(client, business) -> None:
    for path in (
        "/dashboard/logout",
        "/api/v1/outbound-runs/1/start",
        "/webhooks/twilio/whatsapp",
    ):
        refused = client.head(path, headers=auth(business.api_key))
        assert refused.status_code == 405, path
        assert refused.headers["allow"] == "POST" and refused.content == b""


def test_the_access_line_says_head_and_the_route(client) -> None:
    with capture_logs() as lines:
        client.head("/health")
    [line] = [line for line in lines if line["event"] == "http.request"]
    assert (line["method"], line["route"], line["status"]) == ("HEAD", "/health", 200)


def test_head_on_a_recording_s_audio_is_its_get_without_the_body(
    client, business, embedded: Settings
) -> None:
    call = rows.call(business.id)
    key = f"{business.id}/head-audio.wav"
    audio = b"RIFF" + bytes(300_000)  # several of the stream's 64 kB reads
    make_recording_storage(embedded).put(key, audio)
    recording = rows.recording(business.id, call, storage_key=key)
    path = f"/api/v1/calls/{call.id}/recordings/{recording.id}/audio"

    with capture_logs() as lines:
        head = client.head(path, headers=auth(business.api_key))
        ranged = client.head(path, headers={**auth(business.api_key), "Range": "bytes=10-"})

    assert (head.status_code, head.content) == (200, b"")
    assert int(head.headers["content-length"]) == len(audio)
    assert (ranged.status_code, ranged.content) == (206, b"")
    assert ranged.headers["content-range"] == f"bytes 10-{len(audio) - 1}/{len(audio)}"
    assert [line["status"] for line in lines if line["event"] == "http.request"] == [200, 206]
    assert not [line for line in lines if line.get("level") in ("error", "critical")]


def test_a_streamed_get_answering_a_head_is_closed_after_its_first_chunk() -> None:
    """The GET's stream is not read to its end only to be dropped (a recording: ~115 MB)."""
    produced: list[int] = []
    closed: list[bool] = []

    async def chunks() -> AsyncIterator[bytes]:
        try:
            for number in range(1000):
                produced.append(number)
                yield b"x" * 65536
        finally:
            closed.append(True)

    async def stream(request: Request) -> StreamingResponse:
        return StreamingResponse(chunks(), headers={"Content-Length": str(1000 * 65536)})

    app = HeadAsGet(Starlette(routes=[Route("/stream", stream)]))
    with TestClient(app) as streaming:
        head = streaming.head("/stream")

    assert (head.status_code, head.content) == (200, b"")
    assert head.headers["content-length"] == str(1000 * 65536)
    assert len(produced) == 1 and closed == [True]


@pytest.mark.parametrize("protocol", ["httptools", "h11"])
def test_a_server_sends_the_head_s_answer_whole_and_keeps_the_connection(protocol: str) -> None:
    # Under uvicorn, HEAD /dashboard (any GET route) answered its headers, then uvicorn saw a
    # GET whose body fell short of its Content-Length: "Exception in ASGI application"
    # logged for each HEAD, and the connection dropped, failing the next request on it.
    import http.client
    import threading

    import uvicorn
    from starlette.responses import PlainTextResponse

    from tests.support.processes import free_port

    async def page(request: Request) -> PlainTextResponse:
        return PlainTextResponse("a page of the console")

    errors: list[BaseException] = []

    async def app(scope, receive, send) -> None:  # noqa: ANN001 (ASGI)
        try:
            await HeadAsGet(Starlette(routes=[Route("/page", page)]))(scope, receive, send)
        except BaseException as exc:  # what the server would log as an unhandled error
            errors.append(exc)
            raise

    port = free_port()
    config = uvicorn.Config(app, port=port, http=protocol, log_level="critical", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        while not server.started:
            thread.join(0.02)
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        for method in ("HEAD", "HEAD", "GET"):  # one connection, kept alive
            connection.request(method, "/page")
            answer = connection.getresponse()
            body = answer.read()
            assert answer.status == 200, method
            assert answer.headers["content-length"] == str(len("a page of the console"))
            assert body == (b"" if method == "HEAD" else b"a page of the console")
        connection.close()
    finally:
        server.should_exit = True
        thread.join(5)
    assert errors == []
