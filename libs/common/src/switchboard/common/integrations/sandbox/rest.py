"""The sandbox adapter of the Twilio REST port.

WhatsApp messages go to the sandbox inbox (``inbox.py``) instead of Twilio. Calls are placed
by asking the voice gateway to play the callee (``calls.py``): the request returns as soon as
the gateway has taken the call, as Twilio's ``calls.create`` does, so no worker thread waits
for the conversation. Recordings are short silent WAVs, since nobody real spoke.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any, BinaryIO

import httpx
from pydantic import ValidationError

from switchboard.common.integrations import config
from switchboard.common.integrations.sandbox import inbox
from switchboard.common.integrations.sandbox.audio import silent_wav
from switchboard.common.integrations.sandbox.calls import (
    CALLS_PATH,
    INVALID_NUMBER,
    CalleeLine,
    SandboxCallRequest,
    SandboxCallState,
    local_line,
)
from switchboard.common.integrations.twilio_rest import (
    DEFAULT_CALL_EVENTS,
    RECORDING_SID,
    AudioFormat,
    PlacedCall,
    SentMessage,
    TwilioPermanentError,
    TwilioRest,
    TwilioRetryableError,
    write_at_most,
)
from switchboard.common.logging import get_logger
from switchboard.common.phone import is_e164
from switchboard.common.settings import Settings

log = get_logger(__name__)


def _check_to(number: str) -> None:
    """Refuse a ``To`` as Twilio does (error 21211, before anything is sent): one not in
    E.164 form, and Twilio's test number for an invalid one."""
    if not is_e164(number) or number == INVALID_NUMBER:
        # Twilio's message names the number; ours does not, since it is kept as the error.
        raise TwilioPermanentError(
            "sandbox: the 'To' number is not a valid phone number (Twilio error 21211)",
            status=400,
            code=21211,
        )


class HttpCalleeLine(CalleeLine):
    """The gateway's callees over its ``/sandbox/v1/calls`` routes (another process)."""

    def __init__(self, gateway_url: str, internal_token: str, *, timeout: float = 10.0) -> None:
        self._http = httpx.Client(
            base_url=gateway_url.rstrip("/"),
            headers={"Authorization": f"Bearer {internal_token}"},
            timeout=timeout,
        )

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One request, its failures mapped as Twilio's would be."""
        try:
            response = self._http.request(method, CALLS_PATH + path, **kwargs)
        except httpx.ConnectError as exc:
            raise TwilioRetryableError(
                f"sandbox: the voice gateway is unreachable: {type(exc).__name__}", unsent=True
            ) from exc
        except httpx.HTTPError as exc:
            raise TwilioRetryableError(
                f"sandbox: the voice gateway did not answer: {type(exc).__name__}"
            ) from exc
        if response.status_code == 404:
            raise TwilioPermanentError("sandbox: no such call", status=404, code=20404)
        if response.status_code >= 500 or response.status_code == 429:
            raise TwilioRetryableError(
                f"sandbox: the voice gateway answered {response.status_code}",
                status=response.status_code,
            )
        if response.status_code >= 300:
            raise TwilioPermanentError(
                f"sandbox: the voice gateway refused the call ({response.status_code})",
                status=response.status_code,
            )
        return response

    @staticmethod
    def _state(response: httpx.Response) -> SandboxCallState:
        try:
            return SandboxCallState.model_validate_json(response.content)
        except ValueError as exc:
            raise TwilioRetryableError("sandbox: the voice gateway's answer is unreadable") from exc

    def place(self, request: SandboxCallRequest) -> SandboxCallState:
        """``POST /sandbox/v1/calls``."""
        return self._state(self._request("POST", "", json=request.model_dump(by_alias=True)))

    def state(self, sid: str) -> SandboxCallState:
        """``GET /sandbox/v1/calls/{sid}``."""
        return self._state(self._request("GET", f"/{sid}"))

    def end(self, sid: str) -> None:
        """``POST /sandbox/v1/calls/{sid}/end``."""
        self._request("POST", f"/{sid}/end")


class SandboxTwilioRest(TwilioRest):
    """Twilio's REST API played by Switchboard itself: an inbox and the gateway's callees."""

    def __init__(self, gateway_url: str, internal_token: str, *, timeout: float = 10.0) -> None:
        self._remote = HttpCalleeLine(gateway_url, internal_token, timeout=timeout)

    @classmethod
    def from_settings(cls, settings: Settings) -> SandboxTwilioRest:
        """The adapter for this process: the callees run in the gateway at PUBLIC_BASE_URL."""
        return cls(
            settings.public_base_url,
            settings.internal_api_token,
            timeout=config.integration_timeout_s(settings),
        )

    @property
    def _callees(self) -> CalleeLine:
        # A gateway in this process (``switchboard run``) is reached in memory, else over HTTP.
        return local_line() or self._remote

    # --- messages ---------------------------------------------------------------------------

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
        """Keep the message in the sending business's sandbox inbox (a template as its sid and
        its variables' values: the sandbox has no template's text)."""
        _check_to(inbox.bare(to))
        business_id = inbox.business_of_number(from_)
        if business_id is None:
            raise TwilioPermanentError(
                "sandbox: the 'From' number is not one of the businesses' numbers",
                status=400,
                code=21606,
            )
        if body is None:
            values = json.loads(content_variables or "{}").values()
            body = " ".join([f"[template {content_sid}]", *map(str, values)])
        sid = inbox.deliver(business_id, to, from_, body)
        log.info("sandbox.message_delivered", business_id=business_id, message_sid=sid)
        return SentMessage(sid=sid, status="delivered")

    def find_whatsapp(
        self, to: str, from_: str, body: str | None, *, created_after: datetime
    ) -> list[str]:
        """The inbox's matching messages (any body if None), newest first."""
        business_id = inbox.business_of_number(from_)
        if business_id is None:
            return []
        return inbox.find(business_id, to, from_, body, created_after)

    # --- calls ------------------------------------------------------------------------------

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
        """Hand the call to the gateway's simulated callee; returns at once, ``queued``."""
        _check_to(to.strip())
        try:
            request = SandboxCallRequest(
                to=to,
                from_=from_,
                url=url,
                status_callback=status_callback,
                status_callback_events=list(status_callback_events),
                record=record,
            )
        except ValidationError as exc:  # refused before anything was sent, as Twilio's 400
            fields = sorted(
                {str(error["loc"][0]).rstrip("_") for error in exc.errors() if error["loc"]}
            )
            raise TwilioPermanentError(
                f"sandbox: the call request is invalid ({', '.join(fields)})", status=400
            ) from exc
        state = self._callees.place(request)
        log.info("sandbox.call_placed", call_sid=state.sid)
        return PlacedCall(sid=state.sid, status=state.status)

    def find_calls(self, to: str, from_: str, *, created_after: datetime) -> list[str]:
        """None: the simulated line lists no calls, so a sandbox dial that was never answered
        is failed once Twilio's grace for listing it has passed (``outbound/unheard.py``)."""
        return []

    def call_status(self, call_sid: str) -> str:
        """The callee's status as the gateway knows it (404 once the gateway forgot it)."""
        return self._callees.state(call_sid).status

    def end_call(self, call_sid: str) -> None:
        """Make the callee hang up."""
        self._callees.end(call_sid)

    # --- recordings -------------------------------------------------------------------------

    def start_recording(self, call_sid: str, *, recording_status_callback: str) -> str:
        """The gateway starts recordings itself (its sandbox recorder); here, only a sid."""
        return "RE" + call_sid.removeprefix("CA")[:32].ljust(32, "0")

    def download_recording(
        self,
        recording_sid: str,
        into: BinaryIO,
        *,
        max_bytes: int,
        audio_format: AudioFormat = "wav",
    ) -> int:
        """A second of silence: the sandbox keeps no audio."""
        if not RECORDING_SID.fullmatch(recording_sid):
            raise TwilioPermanentError(f"not a recording sid: {recording_sid!r}")
        return write_at_most([silent_wav()], into, max_bytes, recording_sid)

    def delete_recording(self, recording_sid: str) -> bool:
        """Nothing is kept, so there is nothing to delete."""
        return True
