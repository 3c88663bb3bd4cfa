"""The sandbox's call recorder: recordings the simulated callee reports when calls end."""

from __future__ import annotations

from switchboard.voice_gateway.ports.recorder import CallRecorder
from switchboard.voice_gateway.sandbox.callee import SandboxCallee


class SandboxCallRecorder(CallRecorder):
    """Starts "recordings" whose signed callback comes once the call is over."""

    def __init__(self, callee: SandboxCallee) -> None:
        self._callee = callee

    async def start_recording(self, call_sid: str, status_callback_url: str) -> str:
        """A new ``RE…`` sid; the callee posts its ``completed`` callback after the call."""
        return self._callee.add_recording(call_sid, status_callback_url)
