"""The real Twilio adapter, through the ``twilio`` library, against the fake Twilio API."""

from __future__ import annotations

import logging
import socket
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from twilio.request_validator import RequestValidator
from werkzeug.routing import Rule
from werkzeug.wrappers import Request, Response

from switchboard.common.integrations.twilio_client import TwilioRestClient
from switchboard.common.integrations.twilio_rest import (
    TwilioPermanentError,
    TwilioRetryableError,
    recording_sid_from_url,
    whatsapp_address,
)
from switchboard.common.settings import Settings
from tests.fakes.server import FakeServer, json_response
from tests.fakes.twilio_rest import ACCOUNT_SID, AUTH_TOKEN, FakeTwilioServer, silent_wav
from tests.support.recordings import downloaded


@pytest.fixture
def twilio(fake_twilio: FakeTwilioServer) -> TwilioRestClient:
    return TwilioRestClient(ACCOUNT_SID, AUTH_TOKEN, base_url=fake_twilio.url, timeout=5)


class CallbackSink(FakeServer):
    """Our side of Twilio's callbacks: records them and checks Twilio's signature."""

    rules = (Rule("/status", methods=["POST"], endpoint="status"),)

    def __init__(self) -> None:
        super().__init__()
        self.received: list[tuple[dict[str, str], bool]] = []

    def handle_status(self, request: Request) -> Response:
        params = request.form.to_dict()
        valid = RequestValidator(AUTH_TOKEN).validate(
            request.url, params, request.headers.get("X-Twilio-Signature", "")
        )
        with self.recording():
            self.received.append((params, valid))
        return json_response({}, status=204 if valid else 403)


@pytest.fixture
def sink() -> CallbackSink:
    server = CallbackSink()
    server.start()
    yield server
    server.stop()


def test_a_whatsapp_message_is_sent_with_whatsapp_prefixed_numbers(
    twilio: TwilioRestClient, fake_twilio: FakeTwilioServer
) -> None:
    sent = twilio.send_whatsapp(
        "+15550001111", "+15559990000", "Hello!", status_callback="https://x.test/s"
    )

    assert sent.sid.startswith("SM") and sent.status == "queued"
    [message] = fake_twilio.messages
    assert message["To"] == "whatsapp:+15550001111"
    assert message["From"] == "whatsapp:+15559990000"
    assert message["Body"] == "Hello!"
    assert message["StatusCallback"] == "https://x.test/s"


def test_a_template_is_sent_as_content_sid_and_variables_without_a_body(
    twilio: TwilioRestClient, fake_twilio: FakeTwilioServer
) -> None:
    template = "HX" + "0123456789abcdef" * 2

    twilio.send_whatsapp(
        "+15550001111", "+15559990000", None, content_sid=template, content_variables='{"1": "x"}'
    )

    [message] = fake_twilio.messages
    assert (message["ContentSid"], message["ContentVariables"]) == (template, '{"1": "x"}')
    assert "Body" not in message
    assert twilio.find_whatsapp(
        "+15550001111", "+15559990000", None, created_after=datetime.now(UTC) - timedelta(1)
    ) == [message["sid"]]


@pytest.mark.parametrize(
    ("body", "content_sid", "variables", "code"),
    [
        (None, None, None, 21619),  # neither a body nor a template
        ("", None, None, 21619),
        (None, "HX123", None, 21655),
        (None, "HX" + "0" * 32, "[1]", 21656),
    ],
)
def test_a_message_twilio_cannot_send_is_refused_with_its_code(
    twilio: TwilioRestClient,
    fake_twilio: FakeTwilioServer,
    body: str | None,
    content_sid: str | None,
    variables: str | None,
    code: int,
) -> None:
    with pytest.raises(TwilioPermanentError) as raised:
        twilio.send_whatsapp(
            "+15550001111",
            "+15559990000",
            body,
            content_sid=content_sid,
            content_variables=variables,
        )

    assert raised.value.code == code
    assert fake_twilio.messages == []


def test_an_invalid_number_is_a_permanent_error_with_twilios_code(
    twilio: TwilioRestClient, fake_twilio: FakeTwilioServer
) -> None:
    fake_twilio.invalid_numbers.add("+15550000000")

    with pytest.raises(TwilioPermanentError) as raised:
        twilio.send_whatsapp("+15550000000", "+15559990000", "Hi")

    assert raised.value.status == 400 and raised.value.code == 21211


@pytest.mark.parametrize("status", [500, 503, 429])
def test_server_errors_and_rate_limits_are_retryable(
    twilio: TwilioRestClient, fake_twilio: FakeTwilioServer, status: int
) -> None:
    fake_twilio.fail_next("create_message", count=1, status=status)

    with pytest.raises(TwilioRetryableError):
        twilio.send_whatsapp("+15550001111", "+15559990000", "Hi")
    assert twilio.send_whatsapp("+15550001111", "+15559990000", "Hi").sid.startswith("SM")


def test_wrong_credentials_are_a_permanent_error(fake_twilio: FakeTwilioServer) -> None:
    client = TwilioRestClient(ACCOUNT_SID, "wrong-token", base_url=fake_twilio.url)

    with pytest.raises(TwilioPermanentError) as raised:
        client.send_whatsapp("+15550001111", "+15559990000", "Hi")

    assert raised.value.status == 401


def test_an_unreachable_twilio_is_retryable_and_known_unsent() -> None:
    client = TwilioRestClient(ACCOUNT_SID, AUTH_TOKEN, base_url="http://127.0.0.1:9", timeout=2)

    with pytest.raises(TwilioRetryableError) as raised:
        client.send_whatsapp("+15550001111", "+15559990000", "Hi")
    assert raised.value.unsent  # no connection was made: sending again cannot send twice


def test_a_twilio_that_took_the_request_and_never_answered_may_have_sent_it() -> None:
    with socket.create_server(("127.0.0.1", 0)) as silent:  # accepts, reads, answers nothing
        port = silent.getsockname()[1]
        client = TwilioRestClient(
            ACCOUNT_SID, AUTH_TOKEN, base_url=f"http://127.0.0.1:{port}", timeout=0.5
        )

        with pytest.raises(TwilioRetryableError) as raised:
            client.send_whatsapp("+15550001111", "+15559990000", "Hi")
    assert not raised.value.unsent  # the send may have happened: a lookup must come first


def test_text_beyond_ascii_and_form_syntax_reaches_twilio_exactly(
    twilio: TwilioRestClient, fake_twilio: FakeTwilioServer
) -> None:
    body = "¿Mañana a las 10? 👋 a=b&c=d+e %20 «ok»\nsecond line"

    twilio.send_whatsapp("+15550001111", "+15559990000", body)

    [message] = fake_twilio.messages
    assert message["Body"] == body


def test_the_adapter_reads_the_base_url_from_settings(fake_twilio: FakeTwilioServer) -> None:
    settings = Settings(
        twilio_account_sid=ACCOUNT_SID,
        twilio_auth_token=AUTH_TOKEN,
        twilio_api_base_url=fake_twilio.url,
    )

    TwilioRestClient.from_settings(settings).send_whatsapp("+15550001111", "+15559990000", "Hi")

    assert len(fake_twilio.messages) == 1


def test_a_call_is_placed_with_every_parameter_twilio_needs(
    twilio: TwilioRestClient, fake_twilio: FakeTwilioServer
) -> None:
    placed = twilio.place_call(
        "+15550001111",
        "+15559990000",
        "https://gw.test/twilio/voice/outbound",
        status_callback="https://gw.test/twilio/voice/status",
        record=True,
        machine_detection="Enable",
    )

    call = fake_twilio.calls[placed.sid]
    assert placed.sid.startswith("CA")
    assert call.params["Url"] == "https://gw.test/twilio/voice/outbound"
    assert call.params["StatusCallback"] == "https://gw.test/twilio/voice/status"
    assert call.events == ["initiated", "ringing", "answered", "completed"]
    assert call.params["Record"] == "true"
    assert call.params["MachineDetection"] == "Enable"


def test_a_completed_call_reports_signed_status_callbacks_with_its_duration(
    twilio: TwilioRestClient, fake_twilio: FakeTwilioServer, sink: CallbackSink
) -> None:
    fake_twilio.send_callbacks = True

    twilio.place_call(
        "+15550001111", "+15559990000", "https://gw.test/o", status_callback=f"{sink.url}/status"
    )

    sink.wait_for(lambda: len(sink.received) == 4)
    statuses = [params["CallStatus"] for params, _ in sink.received]
    assert statuses == ["initiated", "ringing", "in-progress", "completed"]
    assert all(valid for _, valid in sink.received)
    assert sink.received[-1][0]["CallDuration"] == "7"


def test_a_busy_number_ends_the_call_as_busy(
    twilio: TwilioRestClient, fake_twilio: FakeTwilioServer, sink: CallbackSink
) -> None:
    fake_twilio.send_callbacks = True
    fake_twilio.set_outcome("+15550002222", "busy")

    twilio.place_call(
        "+15550002222", "+15559990000", "https://gw.test/o", status_callback=f"{sink.url}/status"
    )

    sink.wait_for(lambda: any(p["CallStatus"] == "busy" for p, _ in sink.received))
    assert [p["CallStatus"] for p, _ in sink.received] == ["initiated", "ringing", "busy"]


def test_ending_a_live_call_completes_it(
    twilio: TwilioRestClient, fake_twilio: FakeTwilioServer, sink: CallbackSink
) -> None:
    fake_twilio.send_callbacks = True
    fake_twilio.set_outcome("+15550003333", "live")
    placed = twilio.place_call(
        "+15550003333", "+15559990000", "https://gw.test/o", status_callback=f"{sink.url}/status"
    )
    sink.wait_for(lambda: any(p["CallStatus"] == "in-progress" for p, _ in sink.received))

    twilio.end_call(placed.sid)

    sink.wait_for(lambda: sink.received[-1][0]["CallStatus"] == "completed")
    assert fake_twilio.calls[placed.sid].updates == [{"Status": "completed"}]


def test_ending_an_unknown_call_is_a_permanent_error(twilio: TwilioRestClient) -> None:
    with pytest.raises(TwilioPermanentError) as raised:
        twilio.end_call("CA" + "0" * 32)
    assert raised.value.status == 404


def test_a_started_recording_is_announced_by_a_signed_recording_callback(
    twilio: TwilioRestClient, fake_twilio: FakeTwilioServer, sink: CallbackSink
) -> None:
    fake_twilio.set_outcome("+15550003333", "live")
    call_sid = twilio.place_call("+15550003333", "+15559990000", "https://gw.test/o").sid
    fake_twilio.send_callbacks = True

    recording_sid = twilio.start_recording(call_sid, recording_status_callback=f"{sink.url}/status")

    params, valid = sink.wait_for(lambda: sink.received and sink.received[0])
    assert valid and params["RecordingSid"] == recording_sid
    assert recording_sid_from_url(params["RecordingUrl"]) == recording_sid
    assert fake_twilio.recordings[recording_sid].call_sid == call_sid


def test_a_recording_is_downloaded_with_the_accounts_credentials(
    twilio: TwilioRestClient, fake_twilio: FakeTwilioServer
) -> None:
    audio = silent_wav(0.25)
    recording_sid = fake_twilio.add_recording(audio)

    assert downloaded(twilio, recording_sid) == audio
    assert downloaded(twilio, recording_sid, "mp3") == audio
    assert fake_twilio.downloads == [(recording_sid, "wav"), (recording_sid, "mp3")]


def test_a_download_with_wrong_credentials_is_refused(fake_twilio: FakeTwilioServer) -> None:
    recording_sid = fake_twilio.add_recording()
    client = TwilioRestClient(ACCOUNT_SID, "wrong-token", base_url=fake_twilio.url)

    with pytest.raises(TwilioPermanentError) as raised:
        downloaded(client, recording_sid)

    assert raised.value.status == 401 and fake_twilio.downloads == []


def test_a_deleted_recording_is_gone_and_deleting_it_again_reports_false(
    twilio: TwilioRestClient, fake_twilio: FakeTwilioServer
) -> None:
    recording_sid = fake_twilio.add_recording()

    assert twilio.delete_recording(recording_sid) is True
    assert twilio.delete_recording(recording_sid) is False
    with pytest.raises(TwilioPermanentError):
        downloaded(twilio, recording_sid)


def test_numbers_and_recording_urls_are_normalised() -> None:
    assert whatsapp_address(" +1555 ".strip()) == "whatsapp:+1555"
    assert whatsapp_address("whatsapp:+1555") == "whatsapp:+1555"
    sid = "RE" + "a" * 32
    assert (
        recording_sid_from_url(
            f"https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/{sid}.wav"
        )
        == sid
    )
    with pytest.raises(TwilioPermanentError):
        recording_sid_from_url("https://example.com/audio.wav")


def test_the_proxy_in_the_environment_is_read_once_when_the_client_is_built(
    fake_twilio: FakeTwilioServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("http_proxy", "HTTP_PROXY", "no_proxy", "NO_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("http_proxy", fake_twilio.url)  # Twilio is reached through a proxy
    twilio = TwilioRestClient(ACCOUNT_SID, AUTH_TOKEN, base_url="http://twilio.test", timeout=5)
    monkeypatch.delenv("http_proxy")  # read per request, this would now go to twilio.test

    sent = twilio.send_whatsapp("+15550001111", "+15559990000", "Hello!")

    [message] = fake_twilio.messages
    assert message["sid"] == sent.sid


def test_a_worker_s_threads_sending_at_once_keep_their_connections(
    twilio: TwilioRestClient, fake_twilio: FakeTwilioServer, caplog: pytest.LogCaptureFixture
) -> None:
    """One client serves a worker process's threads (8 by default): each keeps a connection
    instead of the pool closing the surplus after every request and opening it again."""
    threads = 12
    start = threading.Barrier(threads)

    def send_three(n: int) -> None:
        start.wait()
        for i in range(3):
            twilio.send_whatsapp(f"+1555000{n:04d}", "+15559990000", f"message {i}")

    with caplog.at_level(logging.WARNING, logger="urllib3.connectionpool"):
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(send_three, range(threads)))

    assert len(fake_twilio.messages) == 3 * threads
    assert not [r for r in caplog.records if "pool is full" in r.getMessage()]
