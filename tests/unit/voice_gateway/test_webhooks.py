import asyncio
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator

import httpx
import pytest
from pydantic import ValidationError
from twilio.request_validator import RequestValidator

from switchboard.common.events import CallStatusChanged, EventBase, RecordingReady
from switchboard.common.http_errors import incomplete_body
from switchboard.common.ids import MAX_ID
from switchboard.common.models import Recording
from switchboard.common.settings import Settings
from switchboard.voice_gateway.app import create_app
from switchboard.voice_gateway.config import GatewaySettings
from switchboard.voice_gateway.domain.media_token import verify_media_token
from switchboard.voice_gateway.entrypoints import webhooks
from switchboard.voice_gateway.ports.agent_config import InMemoryAgentConfigSource
from switchboard.voice_gateway.ports.event_publisher import InMemoryEventPublisher
from switchboard.voice_gateway.ports.recorder import InMemoryCallRecorder
from switchboard.voice_gateway.twilio import form_fields
from switchboard.voice_gateway.twilio.signature import TwilioSignatureChecker
from tests.support.log_capture import capture_logs
from tests.unit.observability.conftest import JsonLines, json_lines
from tests.unit.voice_gateway.wiring import AGENT

__all__ = ["json_lines"]

PUBLIC = "https://voice.example.com"
SETTINGS = Settings(
    public_base_url=PUBLIC,
    twilio_auth_token="tw-token",
    media_token_secret="media-secret",
    amqp_url="",
)


@pytest.fixture
def events() -> InMemoryEventPublisher:
    return InMemoryEventPublisher()


@pytest.fixture
async def client(events: InMemoryEventPublisher) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(
        SETTINGS,
        event_publisher=events,
        agent_config_source=InMemoryAgentConfigSource([AGENT]),
        recorder=InMemoryCallRecorder(),
    )
    # The gateway sits behind a proxy: it is reached at http://internal, signed as PUBLIC.
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://internal:8001") as client:
        yield client


def signed(path: str, form: dict[str, str], token: str = "tw-token") -> dict[str, str]:
    return {"X-Twilio-Signature": RequestValidator(token).compute_signature(PUBLIC + path, form)}


CALL_SID = "CA" + "1" * 32
RECORDING_SID = "RE" + "2" * 32
CALL = {
    "CallSid": CALL_SID,
    "From": "+15557654321",
    "To": AGENT.phone_number,
    "CallStatus": "ringing",
}


#: Every Twilio webhook of the gateway, with the query our own callback URLs give it.
SIGNED_PATHS = [
    "/twilio/voice/incoming",
    "/twilio/voice/outbound?business_id=7",
    "/twilio/voice/status?business_id=7",
    "/twilio/voice/recording?business_id=7",
]


def test_every_webhook_route_of_the_gateway_is_tried_unsigned() -> None:
    app = create_app(SETTINGS, event_publisher=InMemoryEventPublisher())
    posted = sorted(
        path
        for path, methods in app.openapi()["paths"].items()
        if "post" in methods and path.startswith("/twilio/")
    )
    assert posted == sorted(path.split("?")[0] for path in SIGNED_PATHS)


@pytest.mark.parametrize("path", SIGNED_PATHS)
async def test_an_unsigned_or_wrongly_signed_webhook_is_403(
    client: httpx.AsyncClient, events: InMemoryEventPublisher, path: str
) -> None:
    forged = signed(path, CALL, token="not-the-auth-token")
    # Twilio's signature for our URL naming another business (or none), and the reverse.
    other = (
        path.replace("business_id=7", "business_id=8") if "?" in path else path + "?business_id=8"
    )
    elsewhere = signed(other, CALL)
    with capture_logs() as logs:
        assert (await client.post(path, data=CALL)).status_code == 403
        assert (await client.post(path, data=CALL, headers=forged)).status_code == 403
    assert (await client.post(path, data=CALL, headers=elsewhere)).status_code == 403
    assert (await client.post(other, data=CALL, headers=signed(path, CALL))).status_code == 403
    changed = {**CALL, "CallStatus": "completed"}
    assert (await client.post(path, data=changed, headers=signed(path, CALL))).status_code == 403
    assert events.events == []

    # The operator learns why, and which URL the signature had to be for (PUBLIC_BASE_URL).
    refusals = [line for line in logs if line["event"] == "twilio.signature_refused"]
    assert [line["reason"] for line in refusals] == ["missing", "mismatch"]
    assert {line["checked_for"] for line in refusals} == {PUBLIC + path.split("?")[0]}


async def test_an_incoming_call_is_connected_to_the_media_stream_with_a_token(
    client: httpx.AsyncClient,
) -> None:
    path = "/twilio/voice/incoming"
    response = await client.post(path, data=CALL, headers=signed(path, CALL))

    assert response.status_code == 200
    stream = ET.fromstring(response.text).find("./Connect/Stream")
    assert stream is not None and stream.get("url") == "wss://voice.example.com/twilio/media"
    parameters = {p.get("name"): p.get("value") for p in stream.iter("Parameter")}
    assert parameters["business_id"] == "7"
    claims = verify_media_token(parameters["token"], "media-secret", call_sid=CALL_SID, now=0)
    assert (claims.business_id, claims.direction, claims.to_number) == (
        7,
        "inbound",
        AGENT.phone_number,
    )


async def test_a_call_to_an_unknown_number_gets_a_polite_message_and_a_hang_up(
    client: httpx.AsyncClient,
) -> None:
    path, form = "/twilio/voice/incoming", {**CALL, "To": "+15559999999"}
    response = await client.post(path, data=form, headers=signed(path, form))

    assert response.status_code == 200
    twiml = ET.fromstring(response.text)
    assert "not connected to an assistant" in (twiml.findtext("Say") or "")
    assert twiml.find("Hangup") is not None


async def test_an_outbound_call_carries_its_run_and_item_into_the_stream(
    client: httpx.AsyncClient,
) -> None:
    path = "/twilio/voice/outbound?business_id=7&run_id=12&item_id=34"
    form = {**CALL, "From": AGENT.phone_number, "To": "+15557654321"}
    response = await client.post(path, data=form, headers=signed(path, form))

    stream = ET.fromstring(response.text).find("./Connect/Stream")
    assert stream is not None
    parameters = {p.get("name"): p.get("value") for p in stream.iter("Parameter")}
    assert (parameters["run_id"], parameters["item_id"], parameters["direction"]) == (
        "12",
        "34",
        "outbound",
    )
    claims = verify_media_token(parameters["token"], "media-secret", call_sid=CALL_SID, now=0)
    assert (claims.run_id, claims.item_id) == (12, 34)


async def test_a_status_callback_becomes_a_call_status_event(
    client: httpx.AsyncClient, events: InMemoryEventPublisher
) -> None:
    path = "/twilio/voice/status?business_id=7&run_id=12&item_id=34"
    form = {
        **CALL,
        "CallStatus": "completed",
        "CallDuration": "42",
        "AnsweredBy": "human",
        "Direction": "outbound-api",
    }
    response = await client.post(path, data=form, headers=signed(path, form))

    assert response.status_code == 204
    (event,) = events.events
    assert isinstance(event, CallStatusChanged)
    assert (event.business_id, event.call_status, event.call_duration_s, event.answered_by) == (
        7,
        "completed",
        42,
        "human",
    )
    assert (event.run_id, event.item_id) == (12, 34)
    assert event.twilio_fields == {"CallDuration": "42", "AnsweredBy": "human"}


async def test_a_webhook_s_access_line_names_its_call(
    client: httpx.AsyncClient, json_lines: JsonLines
) -> None:
    path = "/twilio/voice/status?business_id=7"
    form = {**CALL, "CallStatus": "completed"}
    json_lines()  # forget the setup's lines

    response = await client.post(path, data=form, headers=signed(path, form))

    assert response.status_code == 204
    (access,) = [line for line in json_lines() if line["event"] == "http.request"]
    assert access["call_sid"] == CALL_SID  # grep the sid: the gateway's lines, then its jobs'


async def test_an_inbound_status_callback_finds_its_business_from_the_called_number(
    client: httpx.AsyncClient, events: InMemoryEventPublisher
) -> None:
    path, form = (
        "/twilio/voice/status",
        {**CALL, "CallStatus": "in-progress", "Direction": "inbound"},
    )
    await client.post(path, data=form, headers=signed(path, form))
    assert [e.business_id for e in events.events] == [7]


async def test_a_completed_recording_becomes_a_recording_ready_event(
    client: httpx.AsyncClient, events: InMemoryEventPublisher
) -> None:
    path = "/twilio/voice/recording?business_id=7"
    form = {
        "CallSid": CALL_SID,
        "RecordingSid": RECORDING_SID,
        "RecordingUrl": f"https://api.twilio.com/{RECORDING_SID}",
        "RecordingStatus": "completed",
        "RecordingDuration": "31",
    }
    response = await client.post(path, data=form, headers=signed(path, form))

    assert response.status_code == 204
    (event,) = events.events
    assert isinstance(event, RecordingReady)
    assert (event.recording_sid, event.call_sid, event.duration_s) == (RECORDING_SID, CALL_SID, 31)


async def test_a_callback_twilio_sends_again_is_published_as_the_same_event(
    client: httpx.AsyncClient, events: InMemoryEventPublisher
) -> None:
    """Twilio sends a callback again when it got no 2xx in time: the same event id (the
    consumers' dedup key), from its call sid and status or its recording sid. Another status
    of the call, or the same sid under another business, is another event."""
    recording = {
        "CallSid": CALL_SID,
        "RecordingSid": RECORDING_SID,
        "RecordingUrl": f"https://api.twilio.com/{RECORDING_SID}",
        "RecordingStatus": "completed",
    }
    posts = [
        ("/twilio/voice/status?business_id=7", {**CALL, "CallStatus": "busy"}),
        ("/twilio/voice/status?business_id=7", {**CALL, "CallStatus": "busy"}),
        ("/twilio/voice/status?business_id=7", {**CALL, "CallStatus": "ringing"}),
        ("/twilio/voice/status?business_id=8", {**CALL, "CallStatus": "busy"}),
        ("/twilio/voice/recording?business_id=7", recording),
        ("/twilio/voice/recording?business_id=7", recording),
    ]
    for path, form in posts:
        assert (await client.post(path, data=form, headers=signed(path, form))).status_code == 204

    ids = [event.event_id for event in events.events]
    assert ids[0] == ids[1] and ids[4] == ids[5]
    assert len({ids[0], ids[2], ids[3], ids[4]}) == 4


@pytest.mark.parametrize("recording_status", ["in-progress", "absent", "failed"])
async def test_a_recording_that_is_not_completed_publishes_nothing(
    client: httpx.AsyncClient, events: InMemoryEventPublisher, recording_status: str
) -> None:
    """``absent`` (no audio, e.g. the call ended as recording began) and ``failed`` have no
    media to fetch; ``in-progress`` comes before the ``completed`` one when subscribed."""
    path = "/twilio/voice/recording?business_id=7"
    form = {
        "CallSid": CALL_SID,
        "RecordingSid": RECORDING_SID,
        "RecordingStatus": recording_status,
        "RecordingDuration": "-1" if recording_status != "in-progress" else "",
    }
    response = await client.post(path, data=form, headers=signed(path, form))

    assert response.status_code == 204 and events.events == []


async def test_a_dual_channel_recording_s_extra_fields_do_not_stop_its_event(
    client: httpx.AsyncClient, events: InMemoryEventPublisher
) -> None:
    path = "/twilio/voice/recording?business_id=7"
    form = {
        "AccountSid": "AC" + "0" * 32,
        "CallSid": CALL_SID,
        "RecordingSid": RECORDING_SID,
        "RecordingUrl": f"https://api.twilio.com/{RECORDING_SID}",
        "RecordingStatus": "completed",
        "RecordingDuration": "0",
        "RecordingChannels": "2",
        "RecordingSource": "OutboundAPI",
        "RecordingTrack": "both",
        "RecordingStartTime": "Sun, 06 Dec 2026 13:00:00 +0000",
    }
    response = await client.post(path, data=form, headers=signed(path, form))

    assert response.status_code == 204
    (event,) = events.events
    assert isinstance(event, RecordingReady) and event.duration_s == 0


async def test_health_reports_threads_by_name_and_metrics_are_prometheus_text(
    client: httpx.AsyncClient,
) -> None:
    health = (await client.get("/health")).json()
    assert health["status"] == "ok" and health["threads"]["MainThread"] == 1
    metrics = (await client.get("/metrics")).text
    assert "switchboard_gateway_active_calls" in metrics
    assert "switchboard_gateway_tx_jitter_seconds_bucket" in metrics
    assert (await client.get("/ready")).status_code == 200


async def test_a_stream_base_url_sends_the_stream_to_this_process_and_signs_it_there(
    events: InMemoryEventPublisher,
) -> None:
    own = "https://gw-2.voice.example.com"
    app = create_app(
        SETTINGS,
        gateway_settings=GatewaySettings(stream_base_url=own + "/"),
        event_publisher=events,
        agent_config_source=InMemoryAgentConfigSource([AGENT]),
        recorder=InMemoryCallRecorder(),
    )
    path = "/twilio/voice/incoming"
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://internal:8001"
    ) as http:
        response = await http.post(path, data=CALL, headers=signed(path, CALL))  # signed as PUBLIC

    stream = ET.fromstring(response.text).find("./Connect/Stream")
    assert stream is not None and stream.get("url") == "wss://gw-2.voice.example.com/twilio/media"
    checker = TwilioSignatureChecker("tw-token", PUBLIC, own)
    validator = RequestValidator("tw-token")
    query = "a=1"
    for_stream = validator.compute_signature(f"{stream.get('url')}?{query}", {})
    for_public = validator.compute_signature(f"wss://voice.example.com/twilio/media?{query}", {})
    assert checker.websocket_is_signed(query, for_stream)
    assert not checker.websocket_is_signed(query, for_public)
    assert TwilioSignatureChecker("tw-token", PUBLIC).websocket_is_signed(query, for_public)


def test_a_stream_base_url_must_be_an_http_url() -> None:
    with pytest.raises(ValidationError, match="GATEWAY__STREAM_BASE_URL"):
        GatewaySettings(stream_base_url="gw-2.voice.example.com")


async def test_a_refused_webhook_answers_the_error_body_with_its_code(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post("/twilio/voice/incoming", data=CALL)

    assert response.status_code == 403
    assert response.json() == {"code": "forbidden", "detail": "invalid Twilio signature"}
    assert (await client.get("/nowhere")).json() == {"code": "not_found", "detail": "Not Found"}
    wrong_method = await client.get("/twilio/voice/incoming")
    assert wrong_method.json()["code"] == "method_not_allowed"


class _BrokenPublisher(InMemoryEventPublisher):
    """A publisher whose broker fails in a way nobody planned for."""

    async def publish(self, event: EventBase) -> None:
        raise RuntimeError(f"broker said no to {event.model_dump_json()}")


async def test_an_unexpected_error_is_a_json_500_logged_by_its_type_only() -> None:
    app = create_app(
        SETTINGS,
        event_publisher=_BrokenPublisher(),
        agent_config_source=InMemoryAgentConfigSource([AGENT]),
        recorder=InMemoryCallRecorder(),
    )
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    path = "/twilio/voice/status?business_id=7"
    form = {**CALL, "CallStatus": "completed"}
    async with httpx.AsyncClient(transport=transport, base_url="http://internal:8001") as http:
        with capture_logs() as logs:
            response = await http.post(path, data=form, headers=signed(path, form))

    assert response.status_code == 500
    assert response.json() == {"code": "internal_error", "detail": "internal server error"}
    (line,) = [entry for entry in logs if entry["event"] == "gateway.unhandled_error"]
    assert line["error"] == "RuntimeError" and line["path"] == "/twilio/voice/status"
    assert CALL["From"] not in repr(logs)


WEBHOOKS = [
    "/twilio/voice/incoming",
    "/twilio/voice/outbound?business_id=7",
    "/twilio/voice/status",
    "/twilio/voice/recording?business_id=7",
]


@pytest.mark.parametrize("path", WEBHOOKS)
async def test_a_webhook_that_is_not_a_url_encoded_form_is_403_unless_signed_then_415(
    client: httpx.AsyncClient, path: str
) -> None:
    """The signature first: a body that is no form, unsigned or wrongly signed, is 403 (it
    was 415, telling a caller without the auth token what the webhook takes)."""
    answers = {}
    for name, headers in (
        ("unsigned", {}),
        ("garbage", {"X-Twilio-Signature": "x"}),
        ("signed for its fields", signed(path, CALL)),  # which the body does not carry
        ("signed for the URL", signed(path, {})),
    ):
        with_a_file = await client.post(
            path,
            data={"To": AGENT.phone_number},
            files={"f": ("hostname", b"gw\n")},
            headers=headers,
        )
        as_json = await client.post(path, json=CALL, headers=headers)
        answers[name] = [(r.status_code, r.json()["code"]) for r in (with_a_file, as_json)]

    refused = [(403, "forbidden")] * 2
    assert answers == {
        "unsigned": refused,
        "garbage": refused,
        "signed for its fields": refused,
        "signed for the URL": [(415, "unsupported_media_type")] * 2,
    }


@pytest.mark.parametrize("path", WEBHOOKS)
async def test_a_form_too_large_or_not_utf8_is_refused_with_its_code(
    client: httpx.AsyncClient, path: str
) -> None:
    form_type = {"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": "x"}
    huge = await client.post(path, content=b"To=" + b"1" * 70_000, headers=form_type)
    latin1 = await client.post(path, content=b"To=caf\xe9", headers=form_type)
    signed_latin1 = await client.post(
        path, content=b"To=caf\xe9", headers={**form_type, **signed(path, {})}
    )

    assert (huge.status_code, huge.json()["code"]) == (413, "payload_too_large")
    assert (latin1.status_code, latin1.json()["code"]) == (403, "forbidden")  # not signed
    assert (signed_latin1.status_code, signed_latin1.json()["code"]) == (400, "bad_request")


@pytest.mark.parametrize("path", WEBHOOKS)
async def test_a_form_that_stops_coming_is_a_408_that_closes_the_connection(
    events: InMemoryEventPublisher, path: str
) -> None:
    """Its first bytes come, then nothing while the socket stays open: before, the request
    held its connection for as long as the client kept it (the signature is checked only
    once the body is in, so any client could)."""
    timeout_s = 0.3
    app = create_app(
        SETTINGS,
        gateway_settings=GatewaySettings(body_read_timeout_s=timeout_s),
        event_publisher=events,
        agent_config_source=InMemoryAgentConfigSource([AGENT]),
        recorder=InMemoryCallRecorder(),
    )

    async def stalling_body() -> AsyncIterator[bytes]:
        yield b"CallSid=CA1"
        await asyncio.sleep(timeout_s * 20)  # then it hangs up (a test without the timeout ends)

    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "Content-Length": "100",
        "X-Twilio-Signature": "x",
    }
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://internal:8001"
    ) as http:
        response = await http.post(path, content=stalling_body(), headers=headers)

    assert response.status_code == 408, response.text
    assert response.json() == {"code": "request_timeout", "detail": incomplete_body(11, timeout_s)}
    assert response.headers["connection"] == "close"


async def post_signed(client: httpx.AsyncClient, path: str, form: dict[str, str]) -> httpx.Response:
    return await client.post(path, data=form, headers=signed(path, form))


@pytest.mark.parametrize("value", ["²", "9" * 5000, "-1", "1.5", "86401", " 42"])
async def test_a_duration_that_is_not_a_day_of_ascii_seconds_is_400_naming_it(
    client: httpx.AsyncClient, events: InMemoryEventPublisher, value: str
) -> None:
    status = await post_signed(
        client, "/twilio/voice/status?business_id=7", {**CALL, "CallDuration": value}
    )
    recording = await post_signed(
        client,
        "/twilio/voice/recording?business_id=7",
        {"CallSid": CALL_SID, "RecordingSid": RECORDING_SID, "RecordingDuration": value},
    )

    assert status.status_code == 400 and recording.status_code == 400
    assert status.json()["code"] == "bad_request" and "CallDuration" in status.json()["detail"]
    assert "RecordingDuration" in recording.json()["detail"]
    assert events.events == []


@pytest.mark.parametrize(
    "query",
    [
        "business_id=%C2%B2",
        "business_id=7&run_id=%C2%B2",
        "business_id=7&item_id=%C2%B2",
        "business_id=99999999999999999999",
        "business_id=0",
        "business_id=7&run_id=" + "9" * 5000,
    ],
)
@pytest.mark.parametrize("route", ["status", "outbound", "recording"])
async def test_an_id_in_the_query_that_no_bigint_holds_is_422_naming_it(
    client: httpx.AsyncClient, events: InMemoryEventPublisher, route: str, query: str
) -> None:
    if route == "recording" and "business_id=7&" in query:
        return  # the recording callback carries the business only
    form = {**CALL, "From": AGENT.phone_number, "To": "+15557654321"}
    response = await post_signed(client, f"/twilio/voice/{route}?{query}", form)

    assert response.status_code == 422
    (error,) = response.json()["detail"]
    assert error["loc"][0] == "query" and error["loc"][1] in query.split("&")[-1]
    assert events.events == []


@pytest.mark.parametrize(
    "call_sid",
    ["", "CA1", "CA" + "1" * 63, "CA" + "1" * 31 + "\x00", "ca" + "1" * 32, "CA" + "g" * 32],
)
@pytest.mark.parametrize(
    "path",
    [
        "/twilio/voice/incoming",
        "/twilio/voice/outbound?business_id=7",
        "/twilio/voice/status?business_id=7",
        "/twilio/voice/recording?business_id=7",
    ],
)
async def test_a_call_sid_that_is_not_twilio_s_is_400_and_nothing_is_published(
    client: httpx.AsyncClient, events: InMemoryEventPublisher, path: str, call_sid: str
) -> None:
    form = {
        **CALL,
        "From": AGENT.phone_number,
        "To": AGENT.phone_number,
        "CallSid": call_sid,
        "RecordingSid": RECORDING_SID,
    }
    response = await post_signed(client, path, form)

    assert response.status_code == 400
    assert "CallSid" in response.json()["detail"]
    assert events.events == []


@pytest.mark.parametrize("recording_sid", ["", "RE1", "RE" + "2" * 40, "RE" + "2" * 31 + "\x00"])
async def test_a_recording_sid_that_is_not_twilio_s_is_400(
    client: httpx.AsyncClient, events: InMemoryEventPublisher, recording_sid: str
) -> None:
    form = {"CallSid": CALL_SID, "RecordingSid": recording_sid, "RecordingStatus": "completed"}
    response = await post_signed(client, "/twilio/voice/recording?business_id=7", form)

    assert response.status_code == 400 and "RecordingSid" in response.json()["detail"]
    assert events.events == []


@pytest.fixture
def configs() -> InMemoryAgentConfigSource:
    return InMemoryAgentConfigSource([AGENT])


@pytest.fixture
async def gateway(
    events: InMemoryEventPublisher, configs: InMemoryAgentConfigSource
) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(
        SETTINGS,
        event_publisher=events,
        agent_config_source=configs,
        recorder=InMemoryCallRecorder(),
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://internal:8001") as client:
        yield client


@pytest.mark.parametrize("to", ["1" * 60_000, "garbage\x00", "+1555000111\x00", "client:alice"])
async def test_a_call_to_what_is_not_a_phone_number_is_the_unknown_number_s_without_lookup(
    gateway: httpx.AsyncClient, configs: InMemoryAgentConfigSource, to: str
) -> None:
    with capture_logs() as logs:
        response = await post_signed(gateway, "/twilio/voice/incoming", {**CALL, "To": to})

    assert response.status_code == 200
    assert "not connected to an assistant" in response.text
    assert configs.lookups == []
    assert to not in repr(logs) and "\x00" not in repr(logs)


async def test_an_outbound_call_whose_numbers_are_not_e164_is_400_naming_them(
    gateway: httpx.AsyncClient, configs: InMemoryAgentConfigSource
) -> None:
    path = "/twilio/voice/outbound?business_id=7"
    bad_from = await post_signed(gateway, path, {**CALL, "From": "1" * 60_000})
    bad_to = await post_signed(gateway, path, {**CALL, "From": AGENT.phone_number, "To": "x\x00"})

    assert bad_from.status_code == 400 and "From" in bad_from.json()["detail"]
    assert bad_to.status_code == 400 and "To" in bad_to.json()["detail"]
    assert configs.lookups == []


async def test_a_withheld_caller_is_connected_with_no_number(gateway: httpx.AsyncClient) -> None:
    response = await post_signed(gateway, "/twilio/voice/incoming", {**CALL, "From": "anonymous"})

    stream = ET.fromstring(response.text).find("./Connect/Stream")
    assert stream is not None
    token = {p.get("name"): p.get("value") for p in stream.iter("Parameter")}["token"]
    claims = verify_media_token(token, "media-secret", call_sid=CALL_SID, now=0)
    assert claims.from_number == ""


async def test_a_status_callback_with_numbers_that_are_not_e164_looks_nothing_up(
    gateway: httpx.AsyncClient, configs: InMemoryAgentConfigSource, events: InMemoryEventPublisher
) -> None:
    form = {**CALL, "Direction": "inbound", "To": "1" * 60_000, "From": "x\x00"}
    response = await post_signed(gateway, "/twilio/voice/status", form)
    with_business = await post_signed(gateway, "/twilio/voice/status?business_id=7", form)

    assert response.status_code == 204 and with_business.status_code == 204
    assert configs.lookups == []
    (event,) = events.events
    assert isinstance(event, CallStatusChanged)
    assert (event.from_number, event.to_number) == (None, None)


def test_the_gateway_bounds_ids_by_the_platform_s_one_constant_not_a_copy() -> None:
    # common.ids loads no SQLAlchemy (test_startup_imports keeps the gateway free of it).
    assert webhooks.MAX_ID is MAX_ID


async def test_extra_status_fields_are_kept_only_as_short_printable_text(
    client: httpx.AsyncClient, events: InMemoryEventPublisher
) -> None:
    form = {**CALL, "SipResponseCode": "200", "ErrorCode": "1" * 201, "Timestamp": "now\x00"}
    response = await post_signed(client, "/twilio/voice/status?business_id=7", form)

    assert response.status_code == 204
    (event,) = events.events
    assert isinstance(event, CallStatusChanged) and event.twilio_fields == {
        "SipResponseCode": "200"
    }


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("CallStatus", ""),
        ("CallStatus", "garbage"),
        ("CallStatus", "completed" + "d" * 30),  # past the 32 characters an item's status holds
        ("CallStatus", "completed\x00"),
        ("Direction", "outbound-api" + "x" * 10),  # past the 16 characters a call log's holds
        ("Direction", "sideways"),
    ],
)
async def test_a_status_or_direction_twilio_never_sends_is_400_naming_it_and_not_published(
    client: httpx.AsyncClient, events: InMemoryEventPublisher, field: str, value: str
) -> None:
    form = {**CALL, "CallStatus": "completed", "Direction": "outbound-api", field: value}
    path = "/twilio/voice/status?business_id=7&run_id=1&item_id=2"
    response = await post_signed(client, path, form)

    assert response.status_code == 400 and field in response.json()["detail"]
    assert value not in response.json()["detail"] or not value
    assert events.events == []


#: Every ``CallStatus`` Twilio's Voice API documents.
TWILIO_CALL_STATUSES = (
    "queued initiated ringing in-progress completed busy failed no-answer canceled".split()
)


@pytest.mark.parametrize("status", TWILIO_CALL_STATUSES)
async def test_every_status_twilio_sends_is_published_in_every_direction(
    client: httpx.AsyncClient, events: InMemoryEventPublisher, status: str
) -> None:
    for direction in ("inbound", "outbound-api", "outbound-dial", ""):
        form = {**CALL, "CallStatus": status, "Direction": direction}
        response = await post_signed(client, "/twilio/voice/status?business_id=7", form)
        assert response.status_code == 204

    # Twilio's two outbound words are one direction here (the call log's).
    assert [(e.call_status, e.direction) for e in events.events] == [  # type: ignore[attr-defined]
        (status, "inbound"),
        (status, "outbound"),
        (status, "outbound"),
        (status, None),
    ]


async def test_answered_by_is_kept_only_as_short_printable_text(
    client: httpx.AsyncClient, events: InMemoryEventPublisher
) -> None:
    for answered_by in ("machine_end_beep", "human\x00", "h" * 201):
        form = {**CALL, "AnsweredBy": answered_by}
        await post_signed(client, "/twilio/voice/status?business_id=7", form)

    answers = [e.answered_by for e in events.events]  # type: ignore[attr-defined]
    assert answers == ["machine_end_beep", None, None]


@pytest.mark.parametrize(
    "url",
    [
        "",
        "ftp://api.twilio.com/recording",
        "javascript:alert(1)",
        "https://api.twilio.com/" + "a" * 500,  # past the 500 characters a recording's holds
        "https://api.twilio.com/Recordings/RE1\x00",
        "https://api.twilio.com/Recordings/RE 1",
    ],
)
async def test_a_recording_url_that_is_not_a_short_http_url_is_400_naming_it(
    client: httpx.AsyncClient, events: InMemoryEventPublisher, url: str
) -> None:
    form = {"CallSid": CALL_SID, "RecordingSid": RECORDING_SID, "RecordingUrl": url}
    response = await post_signed(client, "/twilio/voice/recording?business_id=7", form)

    assert response.status_code == 400 and "RecordingUrl" in response.json()["detail"]
    assert events.events == []


def test_the_gateway_s_longest_recording_url_is_the_database_s() -> None:
    assert form_fields.MAX_URL_CHARS == Recording.__table__.c.source_url.type.length


async def test_a_trailing_slash_is_a_307_to_the_path_without_it_whatever_the_host(
    client: httpx.AsyncClient,
) -> None:
    """Its ``Location`` was ``http://<the request's Host>/twilio/voice/incoming``."""
    response = await client.post(
        "/twilio/voice/incoming/?x=1", headers={"Host": "evil.example"}, data=CALL
    )
    assert response.status_code == 307
    assert response.headers["location"] == "/twilio/voice/incoming?x=1"
