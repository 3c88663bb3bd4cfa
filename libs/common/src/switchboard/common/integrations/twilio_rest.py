"""Twilio REST: WhatsApp messages, outbound calls and call recordings.

The real adapter drives the official ``twilio`` library; its HTTP client rewrites
``https://api.twilio.com`` to ``TWILIO_API_BASE_URL`` so tests can point it at a local fake.
Recording audio is fetched with httpx, since the library's client decodes bodies as text.
"""

from __future__ import annotations

import itertools
import logging
import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, TypeVar

import httpx
import requests
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from switchboard.common.integrations import config
from switchboard.common.integrations.errors import (
    PermanentIntegrationError,
    RetryableIntegrationError,
)
from switchboard.common.logging import get_logger, redact
from switchboard.common.settings import Settings

log = get_logger(__name__)

TWILIO_PUBLIC_BASE_URL = "https://api.twilio.com"
DEFAULT_CALL_EVENTS = ("initiated", "ringing", "answered", "completed")
AudioFormat = Literal["wav", "mp3"]
#: How many of the newest messages between two numbers ``find_whatsapp`` looks through.
_FIND_LIMIT = 50
_RECORDING_SID = re.compile(r"RE[0-9a-fA-F]{32}")
_T = TypeVar("_T")
#: The library logs every request's URL and headers at INFO; keep only its warnings.
_library_log = logging.getLogger(f"{__name__}.library")
_library_log.setLevel(logging.WARNING)


class TwilioRetryableError(RetryableIntegrationError):
    """Twilio was unreachable, failed (5xx) or rate limited us (429): try again later."""


class TwilioPermanentError(PermanentIntegrationError):
    """Twilio refused the request (4xx, e.g. 21211 invalid number): retrying cannot help."""


@dataclass(frozen=True)
class SentMessage:
    """What Twilio answered to a message send."""

    sid: str
    status: str


@dataclass(frozen=True)
class PlacedCall:
    """What Twilio answered to a call create."""

    sid: str
    status: str


def whatsapp_address(number: str) -> str:
    """``+15551234567`` → ``whatsapp:+15551234567`` (an already prefixed number is kept)."""
    number = number.strip()
    return number if number.startswith("whatsapp:") else f"whatsapp:{number}"


def recording_sid_from_url(recording_url: str) -> str:
    """The ``RE…`` sid in a Twilio ``RecordingUrl`` (with or without a file extension)."""
    match = _RECORDING_SID.search(recording_url.rsplit("/", 1)[-1])
    if match is None:
        raise TwilioPermanentError(f"not a Twilio recording URL: {redact(recording_url)}")
    return match.group(0)


class TwilioRest(ABC):
    """The port: everything Switchboard asks of Twilio's REST API."""

    @abstractmethod
    def send_whatsapp(
        self, to: str, from_: str, body: str, *, status_callback: str | None = None
    ) -> SentMessage:
        """Send a WhatsApp message; numbers may be given with or without ``whatsapp:``."""

    @abstractmethod
    def find_whatsapp(
        self, to: str, from_: str, body: str, *, created_after: datetime
    ) -> list[str]:
        """Sids of messages with this body sent to ``to`` from ``from_`` since ``created_after``.

        Newest first. A retry asks this when an earlier attempt may have reached Twilio without
        learning the answer (the worker died, or the connection dropped mid-request).
        """

    @abstractmethod
    def place_call(
        self,
        to: str,
        from_: str,
        url: str,
        *,
        status_callback: str | None = None,
        status_callback_events: Sequence[str] = DEFAULT_CALL_EVENTS,
        record: bool = False,
        machine_detection: str | None = None,
    ) -> PlacedCall:
        """Dial ``to``; Twilio fetches TwiML from ``url`` when the call is answered."""

    @abstractmethod
    def call_status(self, call_sid: str) -> str:
        """The call's status as Twilio knows it now (``in-progress``, ``completed``, ``busy``…)."""

    @abstractmethod
    def end_call(self, call_sid: str) -> None:
        """Hang up a live call (``status=completed``)."""

    @abstractmethod
    def start_recording(self, call_sid: str, *, recording_status_callback: str) -> str:
        """Start recording a live call; returns the recording sid."""

    @abstractmethod
    def download_recording(self, recording_sid: str, audio_format: AudioFormat = "wav") -> bytes:
        """The audio of a finished recording."""

    @abstractmethod
    def delete_recording(self, recording_sid: str) -> bool:
        """Delete Twilio's copy; False when it was already gone."""


def _is_retryable_status(status: int) -> bool:
    return status == 429 or status >= 500


def _rest_error(exc: TwilioRestException) -> Exception:
    status = int(exc.status)
    message = f"Twilio {exc.method} failed: {status} code={exc.code} {redact(str(exc.msg))}"
    error_class = TwilioRetryableError if _is_retryable_status(status) else TwilioPermanentError
    return error_class(message, status=status, code=exc.code)


def _call_twilio(action: str, call: Callable[[], _T]) -> _T:
    """Run one library call, translating its failures into our two error classes."""
    try:
        return call()
    except TwilioRestException as exc:
        error = _rest_error(exc)
        log.warning("twilio.request_failed", action=action, status=exc.status, code=exc.code)
        raise error from exc
    except (requests.RequestException, TwilioException) as exc:
        log.warning("twilio.unreachable", action=action, error=redact(str(exc)))
        raise TwilioRetryableError(f"Twilio {action} failed: {redact(str(exc))}") from exc


class _RebasingHttpClient(TwilioHttpClient):  # type: ignore[misc]  # twilio ships no types
    """The library's HTTP client, sending ``https://api.twilio.com`` requests to another base."""

    def __init__(self, base_url: str, timeout: float) -> None:
        super().__init__(timeout=timeout, logger=_library_log)
        self._base_url = base_url.rstrip("/")

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        if url.startswith(TWILIO_PUBLIC_BASE_URL):
            url = self._base_url + url[len(TWILIO_PUBLIC_BASE_URL) :]
        return super().request(method, url, *args, **kwargs)


class TwilioRestClient(TwilioRest):
    """The real adapter, through ``twilio.rest.Client``."""

    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        *,
        base_url: str = TWILIO_PUBLIC_BASE_URL,
        timeout: float = 15.0,
    ) -> None:
        self._account_sid = account_sid
        self._auth_token = auth_token
        self._base_url = base_url.rstrip("/")
        self._timeout = timeout
        self._client = Client(
            account_sid, auth_token, http_client=_RebasingHttpClient(self._base_url, timeout)
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> TwilioRestClient:
        """Build the adapter from the process settings."""
        return cls(
            settings.twilio_account_sid,
            settings.twilio_auth_token,
            base_url=config.twilio_api_base_url(settings),
            timeout=config.integration_timeout_s(settings),
        )

    def send_whatsapp(
        self, to: str, from_: str, body: str, *, status_callback: str | None = None
    ) -> SentMessage:
        """Send a WhatsApp message through ``messages.create``."""
        params: dict[str, Any] = {
            "to": whatsapp_address(to),
            "from_": whatsapp_address(from_),
            "body": body,
        }
        if status_callback:
            params["status_callback"] = status_callback
        message = _call_twilio("send_whatsapp", lambda: self._client.messages.create(**params))
        log.info("twilio.message_sent", sid=message.sid, status=message.status)
        return SentMessage(sid=str(message.sid), status=str(message.status))

    def find_whatsapp(
        self, to: str, from_: str, body: str, *, created_after: datetime
    ) -> list[str]:
        """Search the newest messages between the two numbers through ``messages.list``."""
        found = _call_twilio(
            "find_whatsapp",
            lambda: self._client.messages.list(
                to=whatsapp_address(to), from_=whatsapp_address(from_), limit=_FIND_LIMIT
            ),
        )
        return [
            str(message.sid)
            for message in found
            if message.body == body and message.date_created >= created_after
        ]

    def place_call(
        self,
        to: str,
        from_: str,
        url: str,
        *,
        status_callback: str | None = None,
        status_callback_events: Sequence[str] = DEFAULT_CALL_EVENTS,
        record: bool = False,
        machine_detection: str | None = None,
    ) -> PlacedCall:
        """Place an outbound call through ``calls.create``."""
        params: dict[str, Any] = {"to": to, "from_": from_, "url": url, "record": record}
        if status_callback:
            params["status_callback"] = status_callback
            params["status_callback_event"] = list(status_callback_events)
        if machine_detection:
            params["machine_detection"] = machine_detection
        call = _call_twilio("place_call", lambda: self._client.calls.create(**params))
        log.info("twilio.call_placed", sid=call.sid, status=call.status)
        return PlacedCall(sid=str(call.sid), status=str(call.status))

    def call_status(self, call_sid: str) -> str:
        """The call's current status through ``calls(sid).fetch()``."""
        call = _call_twilio("call_status", lambda: self._client.calls(call_sid).fetch())
        return str(call.status)

    def end_call(self, call_sid: str) -> None:
        """Hang up through ``calls(sid).update(status="completed")``."""
        _call_twilio("end_call", lambda: self._client.calls(call_sid).update(status="completed"))
        log.info("twilio.call_ended", sid=call_sid)

    def start_recording(self, call_sid: str, *, recording_status_callback: str) -> str:
        """Start a recording through ``calls(sid).recordings.create``."""
        recording = _call_twilio(
            "start_recording",
            lambda: self._client.calls(call_sid).recordings.create(
                recording_status_callback=recording_status_callback
            ),
        )
        log.info("twilio.recording_started", call_sid=call_sid, sid=recording.sid)
        return str(recording.sid)

    def download_recording(self, recording_sid: str, audio_format: AudioFormat = "wav") -> bytes:
        """GET the media file with the account's basic auth (never sent to another host)."""
        if not _RECORDING_SID.fullmatch(recording_sid):
            raise TwilioPermanentError(f"not a recording sid: {recording_sid!r}")
        url = (
            f"{self._base_url}/2010-04-01/Accounts/{self._account_sid}"
            f"/Recordings/{recording_sid}.{audio_format}"
        )
        try:
            response = httpx.get(
                url,
                auth=(self._account_sid, self._auth_token),
                timeout=self._timeout,
                follow_redirects=True,  # Twilio redirects media to its storage.
            )
        except httpx.HTTPError as exc:
            raise TwilioRetryableError(f"recording download failed: {redact(str(exc))}") from exc
        if response.status_code != 200:
            status = response.status_code
            error_class = (
                TwilioRetryableError if _is_retryable_status(status) else TwilioPermanentError
            )
            raise error_class(f"recording {recording_sid} download: HTTP {status}", status=status)
        log.info("twilio.recording_downloaded", sid=recording_sid, size=len(response.content))
        return response.content

    def delete_recording(self, recording_sid: str) -> bool:
        """DELETE the recording; a 404 means it is already gone."""
        try:
            _call_twilio(
                "delete_recording", lambda: self._client.recordings(recording_sid).delete()
            )
        except TwilioPermanentError as exc:
            if exc.status == 404:
                return False
            raise
        log.info("twilio.recording_deleted", sid=recording_sid)
        return True


# --- in-memory fake -------------------------------------------------------------------------


@dataclass
class FakeTwilioRest(TwilioRest):
    """In-memory Twilio for unit tests: records requests, can be told to fail."""

    messages: list[dict[str, Any]] = field(default_factory=list)
    calls: list[dict[str, Any]] = field(default_factory=list)
    ended_calls: list[str] = field(default_factory=list)
    recordings: dict[str, bytes] = field(default_factory=dict)
    recording_calls: dict[str, str] = field(default_factory=dict)
    invalid_numbers: set[str] = field(default_factory=set)
    created: dict[str, datetime] = field(default_factory=dict)
    failures_left: int = 0
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def fail_next(self, count: int) -> None:
        """Make the next ``count`` requests raise ``TwilioRetryableError``."""
        self.failures_left = count

    def _sid(self, prefix: str) -> str:
        return f"{prefix}{next(self._ids):032x}"

    def _check(self, number: str) -> None:
        if self.failures_left > 0:
            self.failures_left -= 1
            raise TwilioRetryableError("injected failure", status=500)
        if number.removeprefix("whatsapp:") in self.invalid_numbers:
            raise TwilioPermanentError(f"invalid number {number}", status=400, code=21211)

    def send_whatsapp(
        self, to: str, from_: str, body: str, *, status_callback: str | None = None
    ) -> SentMessage:
        """Record the message and return a queued ``SM`` sid."""
        self._check(to)
        sid = self._sid("SM")
        self.messages.append(
            {"sid": sid, "to": whatsapp_address(to), "from": whatsapp_address(from_), "body": body}
        )
        self.created[sid] = datetime.now(UTC)
        return SentMessage(sid=sid, status="queued")

    def find_whatsapp(
        self, to: str, from_: str, body: str, *, created_after: datetime
    ) -> list[str]:
        """The recorded messages that match, newest first."""
        return [
            message["sid"]
            for message in reversed(self.messages)
            if (message["to"], message["from"], message["body"])
            == (whatsapp_address(to), whatsapp_address(from_), body)
            and self.created[message["sid"]] >= created_after
        ]

    def place_call(
        self,
        to: str,
        from_: str,
        url: str,
        *,
        status_callback: str | None = None,
        status_callback_events: Sequence[str] = DEFAULT_CALL_EVENTS,
        record: bool = False,
        machine_detection: str | None = None,
    ) -> PlacedCall:
        """Record the call and return a queued ``CA`` sid."""
        self._check(to)
        sid = self._sid("CA")
        self.calls.append(
            {"sid": sid, "to": to, "from": from_, "url": url, "status_callback": status_callback}
        )
        return PlacedCall(sid=sid, status="queued")

    def call_status(self, call_sid: str) -> str:
        """``completed`` once hung up, else ``in-progress``; an unknown sid is a 404."""
        if call_sid not in {call["sid"] for call in self.calls}:
            raise TwilioPermanentError(f"call {call_sid} not found", status=404, code=20404)
        return "completed" if call_sid in self.ended_calls else "in-progress"

    def end_call(self, call_sid: str) -> None:
        """Remember that the call was hung up."""
        self.ended_calls.append(call_sid)

    def start_recording(self, call_sid: str, *, recording_status_callback: str) -> str:
        """Create an (empty) recording for the call."""
        sid = self._sid("RE")
        self.recordings[sid] = b""
        self.recording_calls[sid] = call_sid
        return sid

    def download_recording(self, recording_sid: str, audio_format: AudioFormat = "wav") -> bytes:
        """The stored bytes, or a permanent 404 error."""
        if recording_sid not in self.recordings:
            raise TwilioPermanentError(f"no recording {recording_sid}", status=404, code=20404)
        return self.recordings[recording_sid]

    def delete_recording(self, recording_sid: str) -> bool:
        """Forget the recording; False when there was none."""
        return self.recordings.pop(recording_sid, None) is not None
