"""A fake Twilio REST API (2010-04-01) that the real ``twilio`` library can talk to.

Covers Messages, Calls (create, update), call Recordings (create), and Recording media
download and delete, with Twilio-shaped JSON and errors. Optionally plays a call's life like
Twilio does: status callbacks (initiated, ringing, answered, completed/busy/no-answer/failed)
signed with the auth token (``X-Twilio-Signature``, RequestValidator's algorithm), and a
recording status callback when a recording is ready.

Use the ``fake_twilio`` fixture; point ``TwilioRestClient(..., base_url=fake_twilio.url)`` at it.
"""

from __future__ import annotations

import io
import itertools
import threading
import wave
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.utils import formatdate
from typing import Any

import httpx
import pytest
from twilio.request_validator import RequestValidator
from werkzeug.routing import Rule
from werkzeug.wrappers import Request, Response

from tests.fakes.server import FakeServer, json_response

ACCOUNT_SID = "AC" + "f" * 32
AUTH_TOKEN = "fake-twilio-auth-token"
_ACCOUNT = "/2010-04-01/Accounts/<account>"
#: Call outcomes per dialled number; "live" answers and stays up until the call is ended.
OUTCOMES = ("completed", "busy", "no-answer", "failed", "live")


def silent_wav(seconds: float = 0.5, rate: int = 8000) -> bytes:
    """A valid mono 16-bit WAV file of silence."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(b"\x00\x00" * int(seconds * rate))
    return buffer.getvalue()


def twilio_error(status: int, code: int, message: str) -> Response:
    """An error body shaped like Twilio's."""
    return json_response(
        {
            "code": code,
            "message": message,
            "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status,
        },
        status=status,
    )


@dataclass
class FakeCall:
    sid: str
    params: dict[str, str]
    events: list[str]
    status: str = "queued"
    updates: list[dict[str, str]] = field(default_factory=list)


@dataclass
class FakeRecording:
    sid: str
    call_sid: str | None
    audio: bytes
    deleted: bool = False


@dataclass
class SentCallback:
    url: str
    params: dict[str, str]
    status_code: int | None


class FakeTwilioServer(FakeServer):
    """The fake API; tests read ``messages``, ``calls``, ``recordings``, ``callbacks``."""

    rules = (
        Rule(f"{_ACCOUNT}/Messages.json", methods=["POST"], endpoint="create_message"),
        Rule(f"{_ACCOUNT}/Calls.json", methods=["POST"], endpoint="create_call"),
        Rule(f"{_ACCOUNT}/Calls/<call_sid>.json", methods=["POST"], endpoint="update_call"),
        Rule(
            f"{_ACCOUNT}/Calls/<call_sid>/Recordings.json",
            methods=["POST"],
            endpoint="create_recording",
        ),
        Rule(
            f"{_ACCOUNT}/Recordings/<recording_sid>.<any(wav, mp3):ext>",
            methods=["GET"],
            endpoint="download_recording",
        ),
        Rule(
            f"{_ACCOUNT}/Recordings/<recording_sid>.json",
            methods=["DELETE"],
            endpoint="delete_recording",
        ),
    )

    def __init__(
        self,
        account_sid: str = ACCOUNT_SID,
        auth_token: str = AUTH_TOKEN,
        *,
        send_callbacks: bool = False,
        call_duration_s: int = 7,
    ) -> None:
        super().__init__()
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.send_callbacks = send_callbacks
        self.call_duration_s = call_duration_s
        self.messages: list[dict[str, str]] = []
        self.calls: dict[str, FakeCall] = {}
        self.recordings: dict[str, FakeRecording] = {}
        self.downloads: list[tuple[str, str]] = []
        self.callbacks: list[SentCallback] = []
        self.invalid_numbers: set[str] = set()
        self.call_outcomes: dict[str, str] = {}
        self._failures: dict[str, list[int]] = {}
        self._ids = itertools.count(1)

    # --- test controls --------------------------------------------------------------------

    def fail_next(self, endpoint: str, count: int = 1, status: int = 500) -> None:
        """Answer the next ``count`` requests to ``endpoint`` (e.g. "create_message") with an error."""
        with self.recording():
            self._failures.setdefault(endpoint, []).extend([status] * count)

    def set_outcome(self, number: str, outcome: str) -> None:
        """How a call to ``number`` ends: one of ``OUTCOMES`` (default "completed")."""
        assert outcome in OUTCOMES, outcome
        self.call_outcomes[number] = outcome

    def add_recording(self, audio: bytes | None = None, call_sid: str | None = None) -> str:
        """Store a finished recording and return its ``RE`` sid."""
        sid = self._sid("RE")
        with self.recording():
            self.recordings[sid] = FakeRecording(sid, call_sid, audio or silent_wav())
        return sid

    def recording_url(self, recording_sid: str) -> str:
        """The ``RecordingUrl`` Twilio would send for a recording (no extension)."""
        return f"{self.url}/2010-04-01/Accounts/{self.account_sid}/Recordings/{recording_sid}"

    # --- helpers --------------------------------------------------------------------------

    def _sid(self, prefix: str) -> str:
        return f"{prefix}{next(self._ids):032x}"

    def _refusal(self, request: Request, account: str, endpoint: str) -> Response | None:
        auth = request.authorization
        if auth is None or (auth.username, auth.password) != (self.account_sid, self.auth_token):
            return twilio_error(401, 20003, "Authenticate")
        if account != self.account_sid:
            return twilio_error(404, 20404, "The requested resource was not found")
        with self.recording():
            pending = self._failures.get(endpoint)
            status = pending.pop(0) if pending else None
        if status is not None:
            return twilio_error(status, 20500 if status >= 500 else 20429, "Injected failure")
        return None

    def _invalid_to(self, to: str) -> Response | None:
        number = to.removeprefix("whatsapp:")
        if number in self.invalid_numbers or not number.startswith("+"):
            return twilio_error(400, 21211, f"The 'To' number {number} is not a valid phone number.")
        return None

    def _resource(self, kind: str, sid: str, **fields: Any) -> dict[str, Any]:
        now = formatdate(usegmt=True)
        uri = f"/2010-04-01/Accounts/{self.account_sid}/{kind}/{sid}.json"
        return {
            "sid": sid,
            "account_sid": self.account_sid,
            "api_version": "2010-04-01",
            "date_created": now,
            "date_updated": now,
            "uri": uri,
            **fields,
        }

    # --- messages -------------------------------------------------------------------------

    def handle_create_message(self, request: Request, account: str) -> Response:
        refusal = self._refusal(request, account, "create_message") or self._invalid_to(
            request.form.get("To", "")
        )
        if refusal is not None:
            return refusal
        sid = self._sid("SM")
        params = request.form.to_dict()
        with self.recording():
            self.messages.append({"sid": sid, **params})
        return json_response(
            self._resource(
                "Messages",
                sid,
                to=params.get("To"),
                body=params.get("Body"),
                status="queued",
                direction="outbound-api",
                num_segments="1",
                **{"from": params.get("From")},
            ),
            status=201,
        )

    # --- calls ----------------------------------------------------------------------------

    def _call_json(self, call: FakeCall) -> dict[str, Any]:
        return self._resource(
            "Calls",
            call.sid,
            to=call.params.get("To"),
            status=call.status,
            direction="outbound-api",
            **{"from": call.params.get("From")},
        )

    def handle_create_call(self, request: Request, account: str) -> Response:
        refusal = self._refusal(request, account, "create_call") or self._invalid_to(
            request.form.get("To", "")
        )
        if refusal is not None:
            return refusal
        call = FakeCall(
            sid=self._sid("CA"),
            params=request.form.to_dict(),
            events=request.form.getlist("StatusCallbackEvent"),
        )
        with self.recording():
            self.calls[call.sid] = call
        response = json_response(self._call_json(call), status=201)
        if self.send_callbacks and call.params.get("StatusCallback"):
            # Like Twilio, call progress starts only after the create has been answered.
            response.call_on_close(lambda: self._in_background(self._play_call, call))
        return response

    def handle_update_call(self, request: Request, account: str, call_sid: str) -> Response:
        refusal = self._refusal(request, account, "update_call")
        if refusal is not None:
            return refusal
        call = self.calls.get(call_sid)
        if call is None:
            return twilio_error(404, 20404, f"The requested resource {call_sid} was not found")
        params = request.form.to_dict()
        with self.recording():
            call.updates.append(params)
            was_live = call.status == "in-progress"
            if params.get("Status") in ("completed", "canceled"):
                call.status = "completed" if was_live else "canceled"
        response = json_response(self._call_json(call))
        if was_live and self.send_callbacks and call.status == "completed":
            response.call_on_close(lambda: self._in_background(self._finish_call, call))
        return response

    def _in_background(self, target: Any, *args: Any) -> None:
        threading.Thread(target=target, args=args, name="fake-twilio-callbacks", daemon=True).start()

    def _play_call(self, call: FakeCall) -> None:
        outcome = self.call_outcomes.get(call.params.get("To", ""), "completed")
        progress = {"failed": [], "busy": ["initiated", "ringing"], "no-answer": ["initiated", "ringing"]}
        for event in progress.get(outcome, ["initiated", "ringing", "answered"]):
            status = "in-progress" if event == "answered" else event
            with self.recording():
                call.status = status
            if event in call.events:
                self._call_callback(call, status)
        if outcome == "live":
            return  # stays in progress until the call is ended through the API
        if outcome == "completed":
            self._finish_call(call)
        else:
            with self.recording():
                call.status = outcome
            self._call_callback(call, outcome)

    def _finish_call(self, call: FakeCall) -> None:
        extra: dict[str, str] = {}
        if call.params.get("Record", "").lower() == "true":
            recording_sid = self.add_recording(call_sid=call.sid)
            extra = {
                "RecordingSid": recording_sid,
                "RecordingUrl": self.recording_url(recording_sid),
                "RecordingDuration": str(self.call_duration_s),
            }
            self._recording_callback(call, recording_sid)
        with self.recording():
            call.status = "completed"
        duration = str(self.call_duration_s)
        self._call_callback(call, "completed", CallDuration=duration, Duration=duration, **extra)

    def _call_callback(self, call: FakeCall, status: str, **extra: str) -> None:
        params = {
            "AccountSid": self.account_sid,
            "ApiVersion": "2010-04-01",
            "CallSid": call.sid,
            "CallStatus": status,
            "Direction": "outbound-api",
            "From": call.params.get("From", ""),
            "To": call.params.get("To", ""),
            "CallbackSource": "call-progress-events",
            **extra,
        }
        if call.params.get("MachineDetection") and status == "in-progress":
            params["AnsweredBy"] = "human"
        self._post_signed(call.params["StatusCallback"], params)

    # --- recordings -----------------------------------------------------------------------

    def handle_create_recording(self, request: Request, account: str, call_sid: str) -> Response:
        refusal = self._refusal(request, account, "create_recording")
        if refusal is not None:
            return refusal
        call = self.calls.get(call_sid)
        if call is None or call.status not in ("in-progress", "queued"):
            return twilio_error(400, 21220, "Requested resource is not eligible for recording")
        sid = self.add_recording(call_sid=call_sid)
        callback = request.form.get("RecordingStatusCallback")
        if callback:
            with self.recording():
                call.params["RecordingStatusCallback"] = callback
        body = self._resource(
            "Recordings", sid, call_sid=call_sid, status="in-progress", source="StartCallRecordingAPI"
        )
        response = json_response(body, status=201)
        if self.send_callbacks and callback:
            response.call_on_close(
                lambda: self._in_background(self._recording_callback, call, sid)
            )
        return response

    def _recording_callback(self, call: FakeCall, recording_sid: str) -> None:
        url = call.params.get("RecordingStatusCallback")
        if url:
            params = {
                "AccountSid": self.account_sid,
                "CallSid": call.sid,
                "RecordingSid": recording_sid,
                "RecordingUrl": self.recording_url(recording_sid),
                "RecordingStatus": "completed",
                "RecordingDuration": str(self.call_duration_s),
                "RecordingChannels": "1",
                "RecordingSource": "StartCallRecordingAPI",
            }
            self._post_signed(url, params)

    def handle_download_recording(
        self, request: Request, account: str, recording_sid: str, ext: str
    ) -> Response:
        refusal = self._refusal(request, account, "download_recording")
        if refusal is not None:
            return refusal
        recording = self.recordings.get(recording_sid)
        if recording is None or recording.deleted:
            return twilio_error(404, 20404, f"The requested resource {recording_sid} was not found")
        with self.recording():
            self.downloads.append((recording_sid, ext))
        mimetype = "audio/x-wav" if ext == "wav" else "audio/mpeg"
        return Response(recording.audio, status=200, mimetype=mimetype)

    def handle_delete_recording(self, request: Request, account: str, recording_sid: str) -> Response:
        refusal = self._refusal(request, account, "delete_recording")
        if refusal is not None:
            return refusal
        recording = self.recordings.get(recording_sid)
        if recording is None or recording.deleted:
            return twilio_error(404, 20404, f"The requested resource {recording_sid} was not found")
        with self.recording():
            recording.deleted = True
        return Response(status=204)

    # --- signed callbacks -----------------------------------------------------------------

    def _post_signed(self, url: str, params: dict[str, str]) -> None:
        signature = RequestValidator(self.auth_token).compute_signature(url, params)
        try:
            status: int | None = httpx.post(
                url, data=params, headers={"X-Twilio-Signature": signature}, timeout=5
            ).status_code
        except httpx.HTTPError:
            status = None
        with self.recording():
            self.callbacks.append(SentCallback(url, params, status))


@pytest.fixture
def fake_twilio() -> Iterator[FakeTwilioServer]:
    """A running fake Twilio REST API (no callbacks unless ``send_callbacks`` is set)."""
    server = FakeTwilioServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()
