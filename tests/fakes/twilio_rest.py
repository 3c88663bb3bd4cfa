"""A fake Twilio REST API (2010-04-01) that the real ``twilio`` library can talk to.

Covers Messages (create, list; a body or a Content API template, ``ContentSid`` and
``ContentVariables``), Calls (create, list, update), call Recordings (create), and
Recording media download and delete, with Twilio-shaped JSON and errors; a recording's media
may be generated as it is sent (``add_generated_recording``: an hour-long call's size without
holding it) and cut short by a connection closed mid-body. Like Twilio's, its
message and call lists may lag behind creation (``list_lag_s``, ended by ``list_now``), a
create or a recording's delete can be carried out but held unanswered (``hold_next``) so a test
can kill the client mid-request, and it can be carried out and answered with an error all the
same (``lose_answer_next``). Optionally plays a call's life like Twilio does: status callbacks
(initiated, ringing, answered, completed/busy/no-answer/failed) signed with the auth token
(``X-Twilio-Signature``, RequestValidator's algorithm), and a recording status callback when
a recording is ready.

Use the ``fake_twilio`` fixture; point ``TwilioRestClient(..., base_url=fake_twilio.url)`` at it.
"""

from __future__ import annotations

import json
import re
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from email.utils import formatdate
from typing import Any

import pytest
from werkzeug.routing import Rule
from werkzeug.wrappers import Request, Response

from tests.fakes.server import FakeServer, json_response
from tests.fakes.twilio_calls import CallProgress, FakeCall, FakeRecording, SentCallback, silent_wav

ACCOUNT_SID = "AC" + "f" * 32
AUTH_TOKEN = "fake-twilio-auth-token"
_ACCOUNT = "/2010-04-01/Accounts/<account>"
#: Call outcomes per dialled number; "live" answers and stays up until the call is ended.
OUTCOMES = ("completed", "busy", "no-answer", "failed", "live")
#: The longest message body Twilio accepts.
MAX_BODY_CHARS = 1600
#: A Content API template's sid.
_CONTENT_SID = re.compile(r"HX[0-9a-fA-F]{32}")


def _rendered(params: dict[str, str]) -> str:
    """A template message's text as the fake renders it: the sid and the variables' values
    (Twilio renders the approved template's text, which the caller does not know)."""
    variables = json.loads(params.get("ContentVariables") or "{}")
    return " ".join([params.get("ContentSid", ""), *map(str, variables.values())])


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


class FakeTwilioServer(CallProgress, FakeServer):
    """The fake API; tests read ``messages``, ``calls``, ``recordings``, ``callbacks``."""

    rules = (
        Rule(f"{_ACCOUNT}/Messages.json", methods=["POST"], endpoint="create_message"),
        Rule(f"{_ACCOUNT}/Messages.json", methods=["GET"], endpoint="list_messages"),
        Rule(f"{_ACCOUNT}/Calls.json", methods=["POST"], endpoint="create_call"),
        Rule(f"{_ACCOUNT}/Calls.json", methods=["GET"], endpoint="list_calls"),
        Rule(f"{_ACCOUNT}/Calls/<call_sid>.json", methods=["POST"], endpoint="update_call"),
        Rule(f"{_ACCOUNT}/Calls/<call_sid>.json", methods=["GET"], endpoint="fetch_call"),
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
        list_lag_s: float = 0.0,
    ) -> None:
        super().__init__()
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.send_callbacks = send_callbacks
        self.call_duration_s = call_duration_s
        self.messages: list[dict[str, str]] = []
        self._message_resources: list[dict[str, Any]] = []
        self.calls: dict[str, FakeCall] = {}
        self.recordings: dict[str, FakeRecording] = {}
        self.downloads: list[tuple[str, str]] = []
        #: Recordings whose media is generated as sent: their size and where the connection
        #: is closed mid-body (None: never).
        self._generated: dict[str, tuple[int, int | None]] = {}
        self.callbacks: list[SentCallback] = []
        self.invalid_numbers: set[str] = set()
        self.call_outcomes: dict[str, str] = {}
        self._failures: dict[str, list[int]] = {}
        self._call_failures: dict[str, list[int]] = {}
        #: Call creates answered with an error: (number, HTTP status).
        self.refused_calls: list[tuple[str, int]] = []
        self._drops: dict[str, int] = {}
        self._lost_answers: dict[str, list[int]] = {}
        #: Seconds before a created message shows in the message list (Twilio's lag).
        self.list_lag_s = list_lag_s
        self._listed_from: dict[str, float] = {}
        self._holds: dict[str, int] = {}
        self._hold_only_to: dict[str, str | None] = {}
        #: Requests carried out and waiting, unanswered, for ``release``.
        self.held: list[str] = []
        self._released = threading.Event()

    # --- test controls --------------------------------------------------------------------

    def fail_next(self, endpoint: str, count: int = 1, status: int = 500) -> None:
        """Answer the next ``count`` requests to ``endpoint`` ("create_message" …) with an error."""
        with self.recording():
            self._failures.setdefault(endpoint, []).extend([status] * count)

    def fail_calls_to(self, number: str, count: int = 1, status: int = 503) -> None:
        """Answer the next ``count`` call creates to ``number`` with ``status`` (429, 5xx…)."""
        with self.recording():
            self._call_failures.setdefault(number, []).extend([status] * count)

    def drop_next(self, endpoint: str, count: int = 1) -> None:
        """Carry out the next ``count`` requests to ``endpoint`` but hang up instead of answering.

        The client sees the connection close with no response, as when a network fails after
        Twilio took the request: it cannot know whether the message was created.
        """
        with self.recording():
            self._drops[endpoint] = self._drops.get(endpoint, 0) + count

    def lose_answer_next(self, endpoint: str, count: int = 1, status: int = 500) -> None:
        """Carry out the next ``count`` requests to ``endpoint`` but answer ``status`` as if
        they had failed (a server error after the work was done: the client cannot tell)."""
        with self.recording():
            self._lost_answers.setdefault(endpoint, []).extend([status] * count)

    def _lost_answer(self, endpoint: str) -> Response | None:
        with self.recording():
            pending = self._lost_answers.get(endpoint)
            status = pending.pop(0) if pending else None
        if status is None:
            return None
        return twilio_error(status, 20500, "Internal server error (after carrying it out)")

    def _hang_up_if_told(self, request: Request, endpoint: str) -> None:
        with self.recording():
            drop = self._drops.get(endpoint, 0) > 0
            if drop:
                self._drops[endpoint] -= 1
        if drop:
            connection = request.environ["werkzeug.socket"]
            connection.shutdown(socket.SHUT_RDWR)
            raise ConnectionAbortedError(f"fake Twilio hung up on {endpoint} as told")

    def hold_next(self, endpoint: str, count: int = 1, *, to: str | None = None) -> None:
        """Carry out the next ``count`` requests to ``endpoint`` (``to``: only those to that
        address) but answer only after :meth:`release` (``held`` lists them meanwhile): a
        client killed while it waits never learns that Twilio took its request."""
        with self.recording():
            self._holds[endpoint] = self._holds.get(endpoint, 0) + count
            self._hold_only_to[endpoint] = to

    def release(self) -> None:
        """Answer every held request (and hold no more)."""
        self._released.set()

    def _wait_if_held(self, endpoint: str, to: str | None = None) -> None:
        with self.recording():
            only_to = self._hold_only_to.get(endpoint)
            hold = self._holds.get(endpoint, 0) > 0 and only_to in (None, to)
            if hold:
                self._holds[endpoint] -= 1
                self.held.append(endpoint)
        if hold:
            self._released.wait(timeout=120)

    def stop(self) -> None:
        """Answer what is held, then stop serving."""
        self.release()
        super().stop()

    def list_now(self) -> None:
        """End the list lag (``list_lag_s``) of every message and call created so far: each
        shows in its list from now on, as once Twilio has caught up."""
        now = time.monotonic()
        with self.recording():
            self._listed_from = {sid: min(at, now) for sid, at in self._listed_from.items()}

    def set_outcome(self, number: str, outcome: str) -> None:
        """How a call to ``number`` ends: one of ``OUTCOMES`` (default "completed")."""
        assert outcome in OUTCOMES, outcome
        self.call_outcomes[number] = outcome

    def end_call(self, call_sid: str, status: str = "completed") -> None:
        """The call ends as ``status``: what a later fetch of it answers (callbacks are the
        test's to send)."""
        with self.recording():
            self.calls[call_sid].status = status

    def add_recording(self, audio: bytes | None = None, call_sid: str | None = None) -> str:
        """Store a finished recording and return its ``RE`` sid."""
        sid = self._sid("RE")
        with self.recording():
            self.recordings[sid] = FakeRecording(sid, call_sid, audio or silent_wav())
        return sid

    def add_generated_recording(
        self, size: int, call_sid: str | None = None, *, cut_after: int | None = None
    ) -> str:
        """A finished recording of ``size`` bytes (:func:`generated_media`), made as it is
        sent in 64 kB pieces; with ``cut_after``, its downloads announce the whole size but
        the connection is closed after that many bytes (a media host dropping it)."""
        sid = self.add_recording(b"-", call_sid)
        with self.recording():
            self._generated[sid] = (size, cut_after)
        return sid

    def stop_cutting(self, recording_sid: str) -> None:
        """A generated recording's downloads are sent whole from now on."""
        with self.recording():
            size, _ = self._generated[recording_sid]
            self._generated[recording_sid] = (size, None)

    def recording_url(self, recording_sid: str) -> str:
        """The ``RecordingUrl`` Twilio would send for a recording (no extension)."""
        return f"{self.url}/2010-04-01/Accounts/{self.account_sid}/Recordings/{recording_sid}"

    # --- helpers --------------------------------------------------------------------------

    def _sid(self, prefix: str) -> str:
        # Random, as Twilio's are: sequential sids collide with those a test or bench makes up.
        return f"{prefix}{uuid.uuid4().hex}"

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
            return twilio_error(
                400, 21211, f"The 'To' number {number} is not a valid phone number."
            )
        return None

    @staticmethod
    def _bad_template(content_sid: str | None, variables: str | None) -> Response | None:
        """Twilio refuses a ``ContentSid`` that is not ``HX`` + 32 hex digits (21655) and
        ``ContentVariables`` that are not a JSON object (21656)."""
        if content_sid is not None and not _CONTENT_SID.fullmatch(content_sid):
            return twilio_error(400, 21655, "The ContentSid is Invalid.")
        if variables is not None:
            try:
                parsed = json.loads(variables)
            except ValueError:
                parsed = None
            if not isinstance(parsed, dict):
                return twilio_error(400, 21656, "The ContentVariables Parameter is invalid.")
        return None

    @staticmethod
    def _unsendable(body: str, content_sid: str | None) -> Response | None:
        """Twilio refuses a message with neither a body nor a template (no media: 21619) or
        one over 1,600 characters (21617)."""
        if not body and not content_sid:
            return twilio_error(400, 21619, "A text message body or media URL must be specified.")
        if len(body) > MAX_BODY_CHARS:
            return twilio_error(
                400, 21617, "The concatenated message body exceeds the 1600 character limit."
            )
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
        refusal = (
            self._refusal(request, account, "create_message")
            or self._invalid_to(request.form.get("To", ""))
            or self._bad_template(
                request.form.get("ContentSid"), request.form.get("ContentVariables")
            )
            or self._unsendable(request.form.get("Body", ""), request.form.get("ContentSid"))
        )
        if refusal is not None:
            return refusal
        sid = self._sid("SM")
        params = request.form.to_dict()
        resource = self._resource(
            "Messages",
            sid,
            to=params.get("To"),
            body=params.get("Body") or _rendered(params),
            status="queued",
            direction="outbound-api",
            num_segments="1",
            **{"from": params.get("From")},
        )
        with self.recording():
            self.messages.append({"sid": sid, **params})
            self._message_resources.append(resource)
            self._listed_from[sid] = time.monotonic() + self.list_lag_s
        self._hang_up_if_told(request, "create_message")
        self._wait_if_held("create_message", params.get("To"))
        return self._lost_answer("create_message") or json_response(resource, status=201)

    def handle_list_messages(self, request: Request, account: str) -> Response:
        """Newest first, filtered by ``To`` and ``From``, one page of ``PageSize``; a message
        shows only ``list_lag_s`` after it was created."""
        refusal = self._refusal(request, account, "list_messages")
        if refusal is not None:
            return refusal
        to, from_ = request.args.get("To"), request.args.get("From")
        size = int(request.args.get("PageSize", "50"))
        now = time.monotonic()
        with self.recording():
            found = [
                resource
                for resource in reversed(self._message_resources)
                if to in (None, resource["to"])
                and from_ in (None, resource["from"])
                and self._listed_from[resource["sid"]] <= now
            ]
        return self._first_page("messages", "Messages", found, size)

    # --- calls ----------------------------------------------------------------------------

    def _call_json(self, call: FakeCall) -> dict[str, Any]:
        return self._resource(
            "Calls",
            call.sid,
            date_created=call.date_created,
            to=call.params.get("To"),
            status=call.status,
            direction="outbound-api",
            **{"from": call.params.get("From")},
        )

    def handle_create_call(self, request: Request, account: str) -> Response:
        to = request.form.get("To", "")
        refusal = self._refusal(request, account, "create_call") or self._invalid_to(to)
        if refusal is not None:
            return refusal
        with self.recording():
            pending = self._call_failures.get(to)
            status = pending.pop(0) if pending else None
            if status is not None:
                self.refused_calls.append((to, status))
        if status is not None:
            return twilio_error(status, 20500 if status >= 500 else 20429, "Injected failure")
        call = FakeCall(
            sid=self._sid("CA"),
            params=request.form.to_dict(),
            events=request.form.getlist("StatusCallbackEvent"),
        )
        with self.recording():
            self.calls[call.sid] = call
            self._listed_from[call.sid] = time.monotonic() + self.list_lag_s
        self._hang_up_if_told(request, "create_call")
        self._wait_if_held("create_call", to)
        lost = self._lost_answer("create_call")
        response = lost or json_response(self._call_json(call), status=201)
        if self.send_callbacks and call.params.get("StatusCallback"):
            # Like Twilio, call progress starts only after the create has been answered.
            response.call_on_close(lambda: self._in_background(self._play_call, call))
        return response

    def handle_list_calls(self, request: Request, account: str) -> Response:
        """Newest first, filtered by ``To`` and ``From``, one page of ``PageSize``; a call
        shows only ``list_lag_s`` after it was created."""
        refusal = self._refusal(request, account, "list_calls")
        if refusal is not None:
            return refusal
        to, from_ = request.args.get("To"), request.args.get("From")
        size = int(request.args.get("PageSize", "50"))
        now = time.monotonic()
        with self.recording():
            found = [
                self._call_json(call)
                for call in reversed(self.calls.values())
                if to in (None, call.params.get("To"))
                and from_ in (None, call.params.get("From"))
                and self._listed_from[call.sid] <= now
            ]
        return self._first_page("calls", "Calls", found, size)

    def _first_page(self, key: str, resource: str, found: list[Any], size: int) -> Response:
        """One page of a list, as Twilio pages it (there is never a next page here)."""
        uri = f"/2010-04-01/Accounts/{self.account_sid}/{resource}.json"
        return json_response(
            {
                key: found[:size],
                "page": 0,
                "page_size": size,
                "start": 0,
                "end": max(0, min(size, len(found)) - 1),
                "uri": uri,
                "first_page_uri": uri,
                "previous_page_uri": None,
                "next_page_uri": None,
            }
        )

    def handle_fetch_call(self, request: Request, account: str, call_sid: str) -> Response:
        refusal = self._refusal(request, account, "fetch_call")
        if refusal is not None:
            return refusal
        call = self.calls.get(call_sid)
        if call is None:
            return twilio_error(404, 20404, f"The requested resource {call_sid} was not found")
        return json_response(self._call_json(call))

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
            "Recordings",
            sid,
            call_sid=call_sid,
            status="in-progress",
            source="StartCallRecordingAPI",
        )
        response = json_response(body, status=201)
        if self.send_callbacks and callback:
            response.call_on_close(lambda: self._in_background(self._recording_callback, call, sid))
        return response

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
        generated = self._generated.get(recording_sid)
        if generated is None:
            return Response(recording.audio, status=200, mimetype=mimetype)
        size, cut_after = generated
        body = _generated_body(request, size, cut_after)
        return Response(body, status=200, mimetype=mimetype, headers={"Content-Length": str(size)})

    def handle_delete_recording(
        self, request: Request, account: str, recording_sid: str
    ) -> Response:
        refusal = self._refusal(request, account, "delete_recording")
        if refusal is not None:
            return refusal
        recording = self.recordings.get(recording_sid)
        if recording is None or recording.deleted:
            return twilio_error(404, 20404, f"The requested resource {recording_sid} was not found")
        with self.recording():
            recording.deleted = True
        self._wait_if_held("delete_recording")
        return Response(status=204)


_PIECE = bytes(range(256)) * 256  # 64 kB


def generated_media(size: int) -> Iterator[bytes]:
    """The media of a generated recording: a repeating byte pattern, 64 kB at a time."""
    while size > 0:
        piece = _PIECE[: min(size, len(_PIECE))]
        size -= len(piece)
        yield piece


def _generated_body(request: Request, size: int, cut_after: int | None) -> Iterator[bytes]:
    sent = 0
    for piece in generated_media(size):
        if cut_after is not None and sent + len(piece) > cut_after:
            yield piece[: cut_after - sent]
            request.environ["werkzeug.socket"].shutdown(socket.SHUT_RDWR)
            return
        sent += len(piece)
        yield piece


@pytest.fixture
def fake_twilio() -> Iterator[FakeTwilioServer]:
    """A running fake Twilio REST API (no callbacks unless ``send_callbacks`` is set)."""
    server = FakeTwilioServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()
