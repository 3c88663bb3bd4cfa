"""The call-recording port: ask Twilio to record a call that was just answered."""

from __future__ import annotations

from abc import ABC, abstractmethod


class RecordingFailed(RuntimeError):
    """Twilio refused or could not be reached to start the recording."""


class CallRecorder(ABC):
    """Starts recordings."""

    @abstractmethod
    async def start_recording(self, call_sid: str, status_callback_url: str) -> str:
        """Start recording ``call_sid``; Twilio calls ``status_callback_url`` when it is ready.

        Returns the recording sid.
        """

    async def warm_up(self) -> None:  # noqa: B027 (optional: most adapters need none)
        """Build now what the first recording would build (clients, lazy imports).

        Called once as the gateway starts, so the first call does not stall the event loop
        (and every other call's audio) doing it. Nothing by default.
        """


class InMemoryCallRecorder(CallRecorder):
    """Remembers which calls it was asked to record."""

    def __init__(self) -> None:
        self.started: list[tuple[str, str]] = []

    async def start_recording(self, call_sid: str, status_callback_url: str) -> str:
        """Record the request and return a made-up sid."""
        self.started.append((call_sid, status_callback_url))
        return f"RE{len(self.started):032d}"
