from __future__ import annotations

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
