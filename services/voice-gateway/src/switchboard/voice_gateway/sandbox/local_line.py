"""The callees reached in memory by a sandbox adapter in the gateway's own process.

``switchboard run`` serves the gateway and runs the worker's threads in one process; the
adapter then hands calls over here instead of over HTTP (see ``sandbox/calls.py`` in common
for why). Every method returns at once: the work is scheduled on the gateway's loop.
"""

from __future__ import annotations

import asyncio

from switchboard.common.integrations.sandbox.calls import (
    CalleeLine,
    SandboxCallRequest,
    SandboxCallState,
)
from switchboard.common.integrations.twilio_rest import TwilioPermanentError
from switchboard.voice_gateway.sandbox.callee import SandboxCall, SandboxCallee


def _unknown() -> TwilioPermanentError:
    return TwilioPermanentError("sandbox: no such call", status=404, code=20404)


class LocalCalleeLine(CalleeLine):
    """The gateway's callees for callers on other threads of the same process."""

    def __init__(self, callee: SandboxCallee, loop: asyncio.AbstractEventLoop) -> None:
        self._callee = callee
        self._loop = loop

    def _known(self, sid: str) -> SandboxCall:
        call = self._callee.get(sid)
        if call is None:
            raise _unknown()
        return call

    def place(self, request: SandboxCallRequest) -> SandboxCallState:
        """Register the call here, start it on the loop."""
        call = self._callee.take(request)
        self._loop.call_soon_threadsafe(self._callee.start, call)
        return SandboxCallState(sid=call.sid, status=call.status)

    def state(self, sid: str) -> SandboxCallState:
        """The call's status now."""
        call = self._known(sid)
        return SandboxCallState(sid=call.sid, status=call.status)

    def end(self, sid: str) -> None:
        """Hang up, on the loop."""
        self._known(sid)
        self._loop.call_soon_threadsafe(self._callee.end, sid)
