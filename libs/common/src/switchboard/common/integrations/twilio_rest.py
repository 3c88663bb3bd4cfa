"""Twilio REST: WhatsApp messages, outbound calls and call recordings.

The port, its errors and its in-memory fake. The real adapter, through the official
``twilio`` library, is ``twilio_client.py``: imported only by the processes that call Twilio,
since the library costs a tenth of a second of every process's start.
"""

from __future__ import annotations

import itertools
import re
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, BinaryIO, Literal

from switchboard.common.integrations.errors import (
    PermanentIntegrationError,
    RetryableIntegrationError,
)
from switchboard.common.logging import redact

TWILIO_PUBLIC_BASE_URL = "https://api.twilio.com"
DEFAULT_CALL_EVENTS = ("initiated", "ringing", "answered", "completed")
#: The API's path for Twilio's delivery reports on the WhatsApp messages sent (their
#: ``StatusCallback``, under the API's public base URL).
WHATSAPP_STATUS_PATH = "/webhooks/twilio/whatsapp/status"
#: The query parameter of that callback naming our message (its row's id): Twilio may report
#: before the send has recorded the sid Twilio answered with, and signs the URL with it.
WHATSAPP_STATUS_MESSAGE_ID = "message_id"
AudioFormat = Literal["wav", "mp3"]
RECORDING_SID = re.compile(r"RE[0-9a-fA-F]{32}")
#: The library logs every request's URL and headers at INFO; keep only its warnings.


class TwilioRetryableError(RetryableIntegrationError):
    """Twilio was unreachable, failed (5xx) or rate limited us (429): try again later."""


class TwilioPermanentError(PermanentIntegrationError):
    """Twilio refused the request (4xx, e.g. 21211 invalid number): retrying cannot help."""


class RecordingTooLarge(TwilioPermanentError):
    """The recording is larger than the configured maximum (``RECORDING_MAX_BYTES``): refused
    as soon as its size or its bytes so far show it, with nothing of it kept."""


def write_at_most(
    chunks: Iterable[bytes], into: BinaryIO, max_bytes: int, recording_sid: str
) -> int:
    """Write ``chunks`` into ``into``; how many bytes. Raises ``RecordingTooLarge`` at the
    first chunk past ``max_bytes``, so no more than that is ever read or held."""
    written = 0
    for chunk in chunks:
        written += len(chunk)
        if written > max_bytes:
            raise too_large(recording_sid, max_bytes)
        into.write(chunk)
    return written


def too_large(recording_sid: str, max_bytes: int) -> RecordingTooLarge:
    """The error for a recording over ``max_bytes``."""
    return RecordingTooLarge(
        f"recording {recording_sid} is larger than RECORDING_MAX_BYTES ({max_bytes} bytes)",
        status=413,
    )


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


def whatsapp_status_callback(url: str, message_id: int | None) -> str:
    """The status callback ``url`` naming our message ``message_id`` (unchanged without one)."""
    return url if message_id is None else f"{url}?{WHATSAPP_STATUS_MESSAGE_ID}={message_id}"


def recording_sid_from_url(recording_url: str) -> str:
    """The ``RE…`` sid in a Twilio ``RecordingUrl`` (with or without a file extension)."""
    match = RECORDING_SID.search(recording_url.rsplit("/", 1)[-1])
    if match is None:
        raise TwilioPermanentError(f"not a Twilio recording URL: {redact(recording_url)}")
    return match.group(0)


class TwilioRest(ABC):
    """The port: everything Switchboard asks of Twilio's REST API."""

    @abstractmethod
    def send_whatsapp(
        self,
        to: str,
        from_: str,
        body: str | None,
        *,
        content_sid: str | None = None,
        content_variables: str | None = None,
        status_callback: str | None = None,
        message_id: int | None = None,
    ) -> SentMessage:
        """Send a WhatsApp message; numbers may be given with or without ``whatsapp:``.

        The free-form ``body``, or a Content API template: ``content_sid`` (``HX…``) and its
        ``content_variables`` (a JSON object), with no body.

        ``message_id``: our message's id, named in the default ``status_callback``
        (:func:`whatsapp_status_callback`) so a report finds the message before its sid is
        recorded."""

    @abstractmethod
    def find_whatsapp(
        self, to: str, from_: str, body: str | None, *, created_after: datetime
    ) -> list[str]:
        """Sids of messages with this body (any body if None: a template's text is Twilio's)
        sent to ``to`` from ``from_`` since ``created_after``.

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
    def find_calls(self, to: str, from_: str, *, created_after: datetime) -> list[str]:
        """Sids of calls to ``to`` from ``from_`` that Twilio created since ``created_after``.

        Newest first. A dial asks this when its request may have reached Twilio without
        learning the answer (the worker died, the connection dropped, a 500).
        """

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
    def download_recording(
        self,
        recording_sid: str,
        into: BinaryIO,
        *,
        max_bytes: int,
        audio_format: AudioFormat = "wav",
    ) -> int:
        """Write the audio of a finished recording into ``into`` as it arrives; how many bytes.
        Raises ``RecordingTooLarge`` for one over ``max_bytes`` (``into`` then holds a part)."""

    @abstractmethod
    def delete_recording(self, recording_sid: str) -> bool:
        """Delete Twilio's copy; False when it was already gone."""


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
        """Make the next ``count`` requests raise ``TwilioRetryableError`` (a 503: refused, nothing
        done)."""
        self.failures_left = count

    def _sid(self, prefix: str) -> str:
        return f"{prefix}{next(self._ids):032x}"

    def _check(self, number: str) -> None:
        if self.failures_left > 0:
            self.failures_left -= 1
            raise TwilioRetryableError("injected failure", status=503)
        if number.removeprefix("whatsapp:") in self.invalid_numbers:
            raise TwilioPermanentError(f"invalid number {number}", status=400, code=21211)

    def send_whatsapp(
        self,
        to: str,
        from_: str,
        body: str | None,
        *,
        content_sid: str | None = None,
        content_variables: str | None = None,
        status_callback: str | None = None,
        message_id: int | None = None,
    ) -> SentMessage:
        """Record the message and return a queued ``SM`` sid."""
        self._check(to)
        if not body and not content_sid:
            raise TwilioPermanentError(
                "A text message body or media URL must be specified.", status=400, code=21619
            )
        sid = self._sid("SM")
        self.messages.append(
            {
                "sid": sid,
                "to": whatsapp_address(to),
                "from": whatsapp_address(from_),
                "body": body or f"template {content_sid}",
                "content_sid": content_sid,
                "content_variables": content_variables,
                "message_id": message_id,
            }
        )
        self.created[sid] = datetime.now(UTC)
        return SentMessage(sid=sid, status="queued")

    def find_whatsapp(
        self, to: str, from_: str, body: str | None, *, created_after: datetime
    ) -> list[str]:
        """The recorded messages that match, newest first."""
        return [
            message["sid"]
            for message in reversed(self.messages)
            if (message["to"], message["from"]) == (whatsapp_address(to), whatsapp_address(from_))
            and body in (None, message["body"])
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
        self.created[sid] = datetime.now(UTC)
        return PlacedCall(sid=sid, status="queued")

    def find_calls(self, to: str, from_: str, *, created_after: datetime) -> list[str]:
        """The recorded calls between the two numbers, newest first."""
        return [
            call["sid"]
            for call in reversed(self.calls)
            if (call["to"], call["from"]) == (to, from_)
            and self.created[call["sid"]] >= created_after
        ]

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

    def download_recording(
        self,
        recording_sid: str,
        into: BinaryIO,
        *,
        max_bytes: int,
        audio_format: AudioFormat = "wav",
    ) -> int:
        """The stored bytes, or a permanent 404 error."""
        if recording_sid not in self.recordings:
            raise TwilioPermanentError(f"no recording {recording_sid}", status=404, code=20404)
        return write_at_most([self.recordings[recording_sid]], into, max_bytes, recording_sid)

    def delete_recording(self, recording_sid: str) -> bool:
        """Forget the recording; False when there was none."""
        return self.recordings.pop(recording_sid, None) is not None
