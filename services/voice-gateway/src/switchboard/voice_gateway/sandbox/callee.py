"""Simulated callees: each sandbox call is an asyncio task that plays Twilio and the lead.

A call placed through the sandbox adapter lives here as Twilio would carry it: signed status
callbacks (``initiated``, ``ringing``, ``answered``, then ``completed`` with its duration) to
the run's status URL, the TwiML webhook, and the Media Stream with the callee's speech, all
through the call simulator against the gateway's public URL, the path real calls take. A
recording started on the call gets its signed recording callback once the call is over.
Nothing here blocks: every call is a task on the gateway's event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

import httpx
from twilio.request_validator import RequestValidator

from switchboard.common.integrations.sandbox.calls import (
    BUSY_NUMBER,
    NO_ANSWER_NUMBER,
    SandboxCallRequest,
)
from switchboard.common.integrations.twilio_rest import TWILIO_PUBLIC_BASE_URL
from switchboard.common.logging import get_logger
from switchboard.voice_gateway.session.registry import ReapableSession
from switchboard.voice_gateway.simulator.call import OutboundCall, simulate_call

log = get_logger(__name__)

#: What the simulated lead says, one turn each.
CALLEE_LINES = (
    "Hello, yes, this is a good time to talk.",
    "I am interested. Could you call me back tomorrow morning with the details?",
)
#: A call whose recording waits for a session that never ends is given up after this long.
_RECORDING_WAIT_S = 3600.0
#: Final statuses a callee leaves with when it does not pick up.
_UNANSWERED = {BUSY_NUMBER: "busy", NO_ANSWER_NUMBER: "no-answer"}


@dataclass
class SandboxCall:
    """One call the sandbox carries."""

    sid: str
    request: SandboxCallRequest
    status: str = "queued"
    started_at: float = field(default_factory=time.monotonic)
    sequence: int = 0
    recordings: list[tuple[str, str]] = field(default_factory=list)
    conversation: asyncio.Task[object] | None = None
    runner: asyncio.Task[None] | None = None


def _query(url: str) -> dict[str, str]:
    return {key: values[0] for key, values in parse_qs(urlsplit(url).query).items()}


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


class SandboxCallee:
    """Carries sandbox calls; one per gateway process."""

    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        *,
        live_session: Callable[[str], ReapableSession | None],
        lines: tuple[str, ...] = CALLEE_LINES,
        answer_timeout_s: float = 10.0,
    ) -> None:
        self._account_sid = account_sid
        self._auth_token = auth_token
        self._validator = RequestValidator(auth_token)
        self._live_session = live_session
        self._lines = lines
        self._answer_timeout_s = answer_timeout_s
        self._calls: dict[str, SandboxCall] = {}
        self._waiters: set[asyncio.Task[None]] = set()
        self._http: httpx.AsyncClient | None = None

    def _client(self) -> httpx.AsyncClient:
        # Created on first use, inside the running loop.
        if self._http is None:
            self._http = httpx.AsyncClient(timeout=10)
        return self._http

    def take(self, request: SandboxCallRequest) -> SandboxCall:
        """Register a call, ``queued`` (safe from any thread: one dictionary insert)."""
        call = SandboxCall(sid="CA" + secrets.token_hex(16), request=request)
        self._calls[call.sid] = call
        return call

    def start(self, call: SandboxCall) -> None:
        """Start carrying a taken call, on the gateway's event loop."""
        call.runner = asyncio.create_task(self._carry(call), name=f"sandbox-call-{call.sid}")
        log.info("sandbox.call_taken", call_sid=call.sid)

    def place(self, request: SandboxCallRequest) -> SandboxCall:
        """Take a call and start carrying it in the background; returns it ``queued``."""
        call = self.take(request)
        self.start(call)
        return call

    def get(self, sid: str) -> SandboxCall | None:
        """The call with this sid, if this process carries or carried it."""
        return self._calls.get(sid)

    def end(self, sid: str) -> bool:
        """Hang up a call (the API's ``status=completed``); False if it is unknown."""
        call = self._calls.get(sid)
        if call is None:
            return False
        if call.conversation is not None:
            call.conversation.cancel()
        elif call.runner is not None and call.status in ("queued", "ringing"):
            call.runner.cancel()
            call.status = "canceled"
        return True

    def add_recording(self, call_sid: str, callback_url: str) -> str:
        """A recording of ``call_sid``; its callback follows once the call is over."""
        sid = "RE" + secrets.token_hex(16)
        call = self._calls.get(call_sid)
        if call is not None and call.status not in ("completed", "failed", "canceled"):
            call.recordings.append((sid, callback_url))
        else:
            # A call the sandbox did not place (``switchboard simulate-call``): wait for its
            # session to end, then report the recording, as Twilio does.
            waiter = asyncio.create_task(self._report_when_over(call_sid, sid, callback_url))
            self._waiters.add(waiter)
            waiter.add_done_callback(self._waiters.discard)
        return sid

    async def aclose(self) -> None:
        """Stop every call and the HTTP client."""
        tasks = [c.runner for c in self._calls.values() if c.runner] + list(self._waiters)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._http is not None:
            await self._http.aclose()

    # --- one call ---------------------------------------------------------------------------

    async def _carry(self, call: SandboxCall) -> None:
        request = call.request
        await self._progress(call, "initiated", "queued")
        await self._progress(call, "ringing", "ringing")
        unanswered = _UNANSWERED.get(request.to.strip())
        if unanswered is not None:
            await self._progress(call, "completed", unanswered)
            return
        await self._progress(call, "answered", "in-progress")
        answered_at = time.monotonic()
        params = _query(request.url)
        gateway = _origin(request.url)
        call.conversation = asyncio.create_task(
            simulate_call(
                gateway,
                request.from_,
                request.to,
                auth_token=self._auth_token,
                public_base_url=gateway,
                utterances=self._lines,
                outbound=OutboundCall(
                    business_id=int(params.get("business_id", "0")),
                    run_id=int(params["run_id"]) if "run_id" in params else None,
                    item_id=int(params["item_id"]) if "item_id" in params else None,
                ),
                answer_timeout_s=self._answer_timeout_s,
                call_sid=call.sid,
            )
        )
        final = "completed"
        try:
            outcome = await call.conversation
        except asyncio.CancelledError:
            if call.runner is not None and call.runner.cancelling():
                raise  # the gateway is stopping, not the call ending
            log.info("sandbox.call_hung_up", call_sid=call.sid)
        else:
            if getattr(outcome, "status", "") != "completed":
                final = "failed"
                log.warning(
                    "sandbox.call_failed",
                    call_sid=call.sid,
                    outcome=getattr(outcome, "status", ""),
                    reason=getattr(outcome, "message", ""),
                )
        duration = str(round(time.monotonic() - answered_at))
        await self._progress(call, "completed", final, CallDuration=duration)
        for recording_sid, url in call.recordings:
            await self._report_recording(call.sid, recording_sid, url, duration)

    async def _progress(self, call: SandboxCall, event: str, status: str, **extra: str) -> None:
        """Move the call to ``status``; send its callback if the caller asked for ``event``."""
        call.status = status
        request = call.request
        if not request.status_callback or event not in request.status_callback_events:
            return
        call.sequence += 1
        form = {
            "CallSid": call.sid,
            "AccountSid": self._account_sid,
            "From": request.from_,
            "To": request.to,
            "CallStatus": status,
            "Direction": "outbound-api",
            "ApiVersion": "2010-04-01",
            "CallbackSource": "call-progress-events",
            "SequenceNumber": str(call.sequence - 1),
            "Timestamp": time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime()),
            **extra,
        }
        await self._post(request.status_callback, form, call.sid)

    async def _report_when_over(self, call_sid: str, recording_sid: str, url: str) -> None:
        session = self._live_session(call_sid)
        if session is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(session.wait_ended(), _RECORDING_WAIT_S)
        await self._report_recording(call_sid, recording_sid, url, "1")

    async def _report_recording(
        self, call_sid: str, recording_sid: str, url: str, duration: str
    ) -> None:
        form = {
            "AccountSid": self._account_sid,
            "CallSid": call_sid,
            "RecordingSid": recording_sid,
            "RecordingUrl": (
                f"{TWILIO_PUBLIC_BASE_URL}/2010-04-01/Accounts/{self._account_sid}"
                f"/Recordings/{recording_sid}"
            ),
            "RecordingStatus": "completed",
            "RecordingDuration": duration,
            "RecordingChannels": "2",
            "RecordingSource": "StartCallRecordingAPI",
        }
        await self._post(url, form, call_sid)

    async def _post(self, url: str, form: Mapping[str, str], call_sid: str) -> None:
        """POST a Twilio-signed callback; a failure is logged, as Twilio's debugger would."""
        signature = self._validator.compute_signature(url, dict(form))
        try:
            response = await self._client().post(
                url, data=dict(form), headers={"X-Twilio-Signature": signature}
            )
        except httpx.HTTPError as exc:
            log.warning("sandbox.callback_failed", call_sid=call_sid, error=type(exc).__name__)
            return
        if response.status_code >= 400:
            log.warning("sandbox.callback_refused", call_sid=call_sid, status=response.status_code)
