"""The contract between the sandbox adapter and the gateway's simulated callee.

The adapter (in whatever process places a call: the worker) asks the voice gateway, over its
``/sandbox/v1/calls`` routes and with ``INTERNAL_API_TOKEN``, to play the callee; the gateway
runs each call as an asyncio task that acts as Twilio would (status callbacks, the TwiML
webhook, the Media Stream). The gateway owns the callees because it is asyncio already, holds
the call simulator, and is the process Twilio's traffic lands on.
"""

from __future__ import annotations

from typing import Protocol

from pydantic import BaseModel, Field

from switchboard.common.integrations.twilio_rest import DEFAULT_CALL_EVENTS

CALLS_PATH = "/sandbox/v1/calls"
#: Twilio's test number for "invalid phone number" (error 21211): the sandbox refuses it too,
#: so a failed dial can be tried without real credentials.
INVALID_NUMBER = "+15005550001"
#: Numbers whose simulated callee does not pick up: busy, or no answer.
BUSY_NUMBER = "+15005550003"
NO_ANSWER_NUMBER = "+15005550004"


class SandboxCallRequest(BaseModel):
    """``POST /sandbox/v1/calls``: what ``calls.create`` would have told Twilio."""

    to: str = Field(min_length=1, max_length=64)
    from_: str = Field(min_length=1, max_length=64, alias="from")
    url: str = Field(min_length=1, max_length=2000)
    status_callback: str | None = Field(default=None, max_length=2000)
    status_callback_events: list[str] = Field(default_factory=lambda: list(DEFAULT_CALL_EVENTS))
    record: bool = False

    model_config = {"populate_by_name": True}


class SandboxCallState(BaseModel):
    """A sandbox call as the gateway knows it (``GET /sandbox/v1/calls/{sid}``)."""

    sid: str
    status: str


class CalleeLine(Protocol):
    """How the sandbox adapter reaches the simulated callees (raises ``TwilioRestError``s)."""

    def place(self, request: SandboxCallRequest) -> SandboxCallState:
        """Hand over a call; answers at once with its sid, ``queued``."""

    def state(self, sid: str) -> SandboxCallState:
        """The call's status now (a permanent 404 error when unknown)."""

    def end(self, sid: str) -> None:
        """Hang the call up (a permanent 404 error when unknown)."""


#: The callees of a gateway in this very process (``switchboard run``), if one runs here:
#: then the adapter hands calls over in memory. Over HTTP, a worker thread that places a
#: call inside its SQLite transaction would wait on the event loop that the API's event
#: consumer may be holding while it waits for that transaction's lock.
_local_line: CalleeLine | None = None


def connect_local_line(line: CalleeLine | None) -> None:
    """Register (or, with None, remove) the callees of this process's gateway."""
    global _local_line
    _local_line = line


def local_line() -> CalleeLine | None:
    """The callees of this process's gateway, if one runs here."""
    return _local_line
