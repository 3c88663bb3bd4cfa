"""Twilio's side of a call's life, for the fake Twilio API: progress and signed callbacks.

``CallProgress`` is mixed into ``FakeTwilioServer``. After a call create has been answered it
walks the call through initiated → ringing → answered → completed (or busy, no-answer, failed)
and POSTs each requested event to the call's ``StatusCallback``, signed like Twilio signs
(``X-Twilio-Signature``, the ``RequestValidator`` algorithm with the auth token).
"""

from __future__ import annotations

import io
import threading
import wave
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from email.utils import formatdate
from typing import Any

import httpx
from twilio.request_validator import RequestValidator


def silent_wav(seconds: float = 0.5, rate: int = 8000) -> bytes:
    """A valid mono 16-bit WAV file of silence."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(b"\x00\x00" * int(seconds * rate))
    return buffer.getvalue()


@dataclass
class FakeCall:
    sid: str
    params: dict[str, str]
    events: list[str]
    status: str = "queued"
    #: Twilio's ``date_created`` (RFC 2822, to the second), set when the call is created.
    date_created: str = field(default_factory=lambda: formatdate(usegmt=True))
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


class CallProgress:
    """Call progress and callbacks; expects the attributes the fake server defines."""

    account_sid: str
    auth_token: str
    call_duration_s: int
    call_outcomes: dict[str, str]
    callbacks: list[SentCallback]
    recording: Callable[[], AbstractContextManager[None]]
    add_recording: Callable[..., str]
    recording_url: Callable[[str], str]

    def _in_background(self, target: Any, *args: Any) -> None:
        threading.Thread(
            target=target, args=args, name="fake-twilio-callbacks", daemon=True
        ).start()

    def _play_call(self, call: FakeCall) -> None:
        outcome = self.call_outcomes.get(call.params.get("To", ""), "completed")
        progress = {
            "failed": [],
            "busy": ["initiated", "ringing"],
            "no-answer": ["initiated", "ringing"],
        }
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
        if call.params.get("StatusCallback"):
            self._post_signed(call.params["StatusCallback"], params)

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
