from __future__ import annotations

import tracemalloc
from typing import Any

import anyio
from fastapi.testclient import TestClient

from switchboard.common.integrations.storage import make_recording_storage
from switchboard.common.settings import Settings
from tests.support.factories import make_business
from tests.unit.api import rows
from tests.unit.api.rows import auth


def test_a_call_shows_its_transcript_end_reason_and_recordings(client) -> None:
    business = make_business()
    call = rows.call(business.id)
    recording = rows.recording(business.id, call)
    body = client.get(f"/api/v1/calls/{call.id}", headers=auth(business.api_key)).json()
    assert body["end_reason"] == "caller_hung_up"
    assert body["transcript"][0] == {"role": "agent", "text": "Hello!"}
    assert [r["recording_sid"] for r in body["recordings"]] == [recording.recording_sid]


def test_calls_list_newest_first_without_transcripts_and_filters(client) -> None:
    business = make_business()
    lead = rows.lead(business.id)
    inbound = rows.call(business.id, lead_id=lead.id)
    outbound = rows.call(business.id, direction="outbound", from_number="+15550001234")
    headers = auth(business.api_key)

    def ids(**params: object) -> list[int]:
        page = client.get("/api/v1/calls", params=params, headers=headers).json()
        assert all("transcript" not in item for item in page["items"])
        return [item["id"] for item in page["items"]]

    assert ids() == [outbound.id, inbound.id]
    assert ids(direction="outbound") == [outbound.id]
    assert ids(lead_id=lead.id) == [inbound.id]
    assert ids(number="0001234") == [outbound.id]
    assert (
        client.get("/api/v1/calls", params={"direction": "sideways"}, headers=headers).status_code
        == 422
    )


def test_a_recording_s_stored_audio_downloads_as_wav(client, embedded: Settings) -> None:
    business = make_business()
    call = rows.call(business.id)
    key = f"{business.id}/call-audio.wav"
    make_recording_storage(embedded).put(key, b"RIFF....WAVEfmt audio")
    recording = rows.recording(business.id, call, storage_key=key)

    response = client.get(
        f"/api/v1/calls/{call.id}/recordings/{recording.id}/audio", headers=auth(business.api_key)
    )

    assert response.status_code == 200
    assert response.content == b"RIFF....WAVEfmt audio"
    assert response.headers["content-type"] == "audio/wav"
    assert f"recording-{recording.id}.wav" in response.headers["content-disposition"]


def test_audio_not_stored_yet_or_of_another_call_is_a_404_that_says_why(client) -> None:
    business = make_business()
    call, other_call = rows.call(business.id), rows.call(business.id)
    pending = rows.recording(business.id, call, status="pending")
    removed = rows.recording(business.id, call, storage_key=f"{business.id}/removed.wav")
    headers = auth(business.api_key)

    not_yet = client.get(f"/api/v1/calls/{call.id}/recordings/{pending.id}/audio", headers=headers)
    elsewhere = client.get(
        f"/api/v1/calls/{other_call.id}/recordings/{pending.id}/audio", headers=headers
    )

    assert not_yet.status_code == 404
    assert "no stored audio" in not_yet.json()["detail"]
    assert "'pending'" in not_yet.json()["detail"]
    gone = client.get(f"/api/v1/calls/{call.id}/recordings/{removed.id}/audio", headers=headers)
    assert gone.status_code == 404 and "no stored audio" in gone.json()["detail"]
    assert elsewhere.status_code == 404
    assert elsewhere.json()["detail"] == f"recording {pending.id} not found"


async def _get_streamed(app: Any, path: str, headers: dict[str, str]) -> tuple[int, dict, list]:
    """GET ``path`` from the ASGI app, keeping only the size of each body message sent: what a
    server sends a client as it goes, without a test client's copy of the whole body."""
    sent: list[int] = []
    answer: dict[str, Any] = {}
    requested, finished = anyio.Event(), anyio.Event()

    async def receive() -> dict[str, Any]:
        if not requested.is_set():
            requested.set()
            return {"type": "http.request", "body": b"", "more_body": False}
        await finished.wait()  # the client stays until the whole answer is sent
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            answer["status"] = message["status"]
            answer["headers"] = {k.decode(): v.decode() for k, v in message["headers"]}
        elif message["type"] == "http.response.body":
            sent.append(len(message.get("body", b"")))
            if not message.get("more_body", False):
                finished.set()

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }
    await app(scope, receive, send)
    return answer["status"], answer["headers"], sent


def test_a_long_recording_downloads_streamed_from_its_file_with_its_length(
    client: TestClient, embedded: Settings
) -> None:
    """An hour's dual-channel call is 115 MB: the download is sent in pieces read from the
    file, never the whole file read first. Scaled down to 16 MiB."""
    business = make_business()
    call = rows.call(business.id)
    key = f"{business.id}/long.wav"
    size = 16 * 1024 * 1024
    make_recording_storage(embedded).put(key, b"RIFF" + bytes(size - 4))
    recording = rows.recording(business.id, call, storage_key=key)
    path = f"/api/v1/calls/{call.id}/recordings/{recording.id}/audio"
    assert client.portal is not None

    tracemalloc.start()
    try:
        status, headers, sent = client.portal.call(
            _get_streamed, client.app, path, auth(business.api_key)
        )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert status == 200 and headers["content-length"] == str(size) == str(sum(sent))
    assert max(sent) <= 64 * 1024 and peak < size // 4, f"{peak} bytes held at once"
    assert headers["accept-ranges"] == "bytes" and headers["content-type"] == "audio/wav"


def test_a_recording_s_download_answers_one_byte_range_and_416_past_its_end(
    client: TestClient, embedded: Settings
) -> None:
    business = make_business()
    call = rows.call(business.id)
    key = f"{business.id}/ranged.wav"
    audio = b"RIFF" + bytes(range(256)) * 4
    make_recording_storage(embedded).put(key, audio)
    recording = rows.recording(business.id, call, storage_key=key)
    path = f"/api/v1/calls/{call.id}/recordings/{recording.id}/audio"
    headers = auth(business.api_key)

    part = client.get(path, headers={**headers, "Range": "bytes=4-7"})
    tail = client.get(path, headers={**headers, "Range": "bytes=-3"})
    past = client.get(path, headers={**headers, "Range": f"bytes={len(audio)}-"})

    assert (part.status_code, part.content) == (206, audio[4:8])
    assert part.headers["content-range"] == f"bytes 4-7/{len(audio)}"
    assert part.headers["content-length"] == "4"
    assert "recording-" in part.headers["content-disposition"]
    assert (tail.status_code, tail.content) == (206, audio[-3:])
    assert past.status_code == 416
    assert past.headers["content-range"] == f"bytes */{len(audio)}"


def test_a_range_past_the_end_of_a_recording_is_an_error_body_not_an_empty_download(
    client: TestClient, embedded: Settings
) -> None:
    business = make_business()
    call = rows.call(business.id)
    key = f"{business.id}/short.wav"
    make_recording_storage(embedded).put(key, b"RIFF" + bytes(12))
    recording = rows.recording(business.id, call, storage_key=key)
    path = f"/api/v1/calls/{call.id}/recordings/{recording.id}/audio"

    for asked in ("bytes=16-", "bytes=10-5", "bytes=-0"):
        past = client.get(path, headers={**auth(business.api_key), "Range": asked})

        assert past.status_code == 416, asked
        assert past.headers["content-type"] == "application/json"
        assert "content-disposition" not in past.headers  # not saved as recording-N.wav
        assert past.headers["content-range"] == "bytes */16"
        body = past.json()
        assert body["code"] == "range_not_satisfiable"
        assert asked in body["detail"] and "16 bytes" in body["detail"]
    described = client.get("/openapi.json").json()["paths"][
        "/api/v1/calls/{call_id}/recordings/{recording_id}/audio"
    ]["get"]["responses"]["416"]["content"]["application/json"]
    assert described["example"]["code"] == "range_not_satisfiable"
