"""The real Twilio REST adapter, through the official ``twilio`` library.

Its HTTP client (``twilio_http.py``: urllib3 under the library) rewrites
``https://api.twilio.com`` to ``TWILIO_API_BASE_URL`` so tests can point it at a local fake.
Recording audio is fetched with httpx, since the library's client decodes bodies as text,
and streamed into the caller's file a chunk at a time, bounded by a maximum size; Twilio
redirects it to its media storage, and every redirect hop passes the outbound-address policy
(:mod:`.address_policy`), only the configured API host trusted.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, BinaryIO, TypeVar

import httpx
import urllib3
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.rest import Client
from urllib3.exceptions import ConnectTimeoutError

from switchboard.common.integrations import config
from switchboard.common.integrations.address_policy import (
    AddressPolicy,
    DestinationRefused,
    pinned_client,
)
from switchboard.common.integrations.twilio_http import Urllib3TwilioHttpClient
from switchboard.common.integrations.twilio_rest import (
    DEFAULT_CALL_EVENTS,
    RECORDING_SID,
    TWILIO_PUBLIC_BASE_URL,
    AudioFormat,
    PlacedCall,
    SentMessage,
    TwilioPermanentError,
    TwilioRest,
    TwilioRetryableError,
    too_large,
    whatsapp_address,
    whatsapp_status_callback,
    write_at_most,
)
from switchboard.common.logging import get_logger, redact
from switchboard.common.settings import Settings

log = get_logger(__name__)

#: How many of the newest messages (``find_whatsapp``) or calls (``find_calls``) between two
#: numbers a lookup reads.
_FIND_LIMIT = 50
#: How much of a recording's body one read holds.
_DOWNLOAD_CHUNK_BYTES = 64 * 1024
_T = TypeVar("_T")
_library_log = logging.getLogger(f"{__name__}.library")
_library_log.setLevel(logging.WARNING)


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
    except (urllib3.exceptions.HTTPError, TwilioException) as exc:
        unsent = _never_sent(exc)
        log.warning("twilio.unreachable", action=action, unsent=unsent, error=redact(str(exc)))
        raise TwilioRetryableError(
            f"Twilio {action} failed: {redact(str(exc))}", unsent=unsent
        ) from exc


def _never_sent(exc: Exception) -> bool:
    """Whether the request failed before any of it reached Twilio: no connection was made
    (refused, a name that does not resolve: ``NewConnectionError``, a kind of connect timeout)."""
    return isinstance(exc, ConnectTimeoutError)


class TwilioRestClient(TwilioRest):
    """The real adapter, through ``twilio.rest.Client``."""

    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        *,
        base_url: str = TWILIO_PUBLIC_BASE_URL,
        timeout: float = 15.0,
        policy: AddressPolicy | None = None,
        whatsapp_status_callback: str | None = None,
    ) -> None:
        self._account_sid = account_sid
        #: Every WhatsApp message sent names it, so a failed delivery is reported back.
        self._whatsapp_status_callback = whatsapp_status_callback
        self._auth_token = auth_token
        self._base_url = base_url.rstrip("/")
        self._timeout = timeout
        downloads = (policy or AddressPolicy()).trusting(httpx.URL(self._base_url).host)
        # Twilio redirects media to its storage: followed, each hop through the policy.
        self._downloads = pinned_client(downloads, timeout=timeout, follow_redirects=True)
        self._client = Client(
            account_sid,
            auth_token,
            http_client=Urllib3TwilioHttpClient(self._base_url, timeout, _library_log),
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> TwilioRestClient:
        """Build the adapter from the process settings."""
        return cls(
            settings.twilio_account_sid,
            settings.twilio_auth_token,
            base_url=config.twilio_api_base_url(settings),
            timeout=config.integration_timeout_s(settings),
            policy=AddressPolicy.from_settings(settings),
            whatsapp_status_callback=config.whatsapp_status_url(settings),
        )

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
        """Send a WhatsApp message (or template) through ``messages.create``."""
        params: dict[str, Any] = {"to": whatsapp_address(to), "from_": whatsapp_address(from_)}
        if body is not None:
            params["body"] = body
        if content_sid is not None:
            params["content_sid"] = content_sid
        if content_variables is not None:
            params["content_variables"] = content_variables
        if not status_callback and self._whatsapp_status_callback:
            status_callback = whatsapp_status_callback(self._whatsapp_status_callback, message_id)
        if status_callback:
            params["status_callback"] = status_callback
        message = _call_twilio("send_whatsapp", lambda: self._client.messages.create(**params))
        log.info("twilio.message_sent", message_sid=message.sid, status=message.status)
        return SentMessage(sid=str(message.sid), status=str(message.status))

    def find_whatsapp(
        self, to: str, from_: str, body: str | None, *, created_after: datetime
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
            if body in (None, message.body) and message.date_created >= created_after
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
        log.info("twilio.call_placed", call_sid=call.sid, status=call.status)
        return PlacedCall(sid=str(call.sid), status=str(call.status))

    def find_calls(self, to: str, from_: str, *, created_after: datetime) -> list[str]:
        """Search the newest calls between the two numbers through ``calls.list``."""
        found = _call_twilio(
            "find_calls",
            lambda: self._client.calls.list(to=to, from_=from_, limit=_FIND_LIMIT),
        )
        return [
            str(call.sid)
            for call in found
            if call.date_created is not None and call.date_created >= created_after
        ]

    def call_status(self, call_sid: str) -> str:
        """The call's current status through ``calls(sid).fetch()``."""
        call = _call_twilio("call_status", lambda: self._client.calls(call_sid).fetch())
        return str(call.status)

    def end_call(self, call_sid: str) -> None:
        """Hang up through ``calls(sid).update(status="completed")``."""
        _call_twilio("end_call", lambda: self._client.calls(call_sid).update(status="completed"))
        log.info("twilio.call_ended", call_sid=call_sid)

    def start_recording(self, call_sid: str, *, recording_status_callback: str) -> str:
        """Start a recording through ``calls(sid).recordings.create``."""
        recording = _call_twilio(
            "start_recording",
            lambda: self._client.calls(call_sid).recordings.create(
                recording_status_callback=recording_status_callback
            ),
        )
        log.info("twilio.recording_started", call_sid=call_sid, recording_sid=recording.sid)
        return str(recording.sid)

    def download_recording(
        self,
        recording_sid: str,
        into: BinaryIO,
        *,
        max_bytes: int,
        audio_format: AudioFormat = "wav",
    ) -> int:
        """GET the media file with the account's basic auth (never sent to another host),
        streamed into ``into``: refused unread when its ``Content-Length`` is over
        ``max_bytes``, else at the first chunk past it. A body cut short (the connection
        closed, a read timed out) is a retryable error."""
        if not RECORDING_SID.fullmatch(recording_sid):
            raise TwilioPermanentError(f"not a recording sid: {recording_sid!r}")
        url = (
            f"{self._base_url}/2010-04-01/Accounts/{self._account_sid}"
            f"/Recordings/{recording_sid}.{audio_format}"
        )
        # Undecoded (identity asked): a compressed body cannot inflate past the bound.
        headers = {"Accept-Encoding": "identity"}
        try:
            # httpx drops the credentials on a redirect to another host.
            with self._downloads.stream(
                "GET", url, auth=(self._account_sid, self._auth_token), headers=headers
            ) as response:
                _check_download(response, recording_sid, max_bytes)
                size = write_at_most(
                    response.iter_raw(_DOWNLOAD_CHUNK_BYTES), into, max_bytes, recording_sid
                )
                declared = response.headers.get("Content-Length")
        except DestinationRefused as exc:
            raise TwilioPermanentError(f"recording {recording_sid} download: {exc}") from exc
        except httpx.HTTPError as exc:
            raise TwilioRetryableError(f"recording download failed: {redact(str(exc))}") from exc
        if declared is not None and declared.isdigit() and int(declared) != size:
            raise TwilioRetryableError(
                f"recording {recording_sid} download: {size} of {declared} bytes"
            )
        log.info("twilio.recording_downloaded", recording_sid=recording_sid, size=size)
        return size

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
        log.info("twilio.recording_deleted", recording_sid=recording_sid)
        return True


def _check_download(response: httpx.Response, recording_sid: str, max_bytes: int) -> None:
    """Refuse an answer that is not the recording's audio, or says it is too large."""
    status = response.status_code
    if status != 200:
        error_class = TwilioRetryableError if _is_retryable_status(status) else TwilioPermanentError
        raise error_class(f"recording {recording_sid} download: HTTP {status}", status=status)
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise too_large(recording_sid, max_bytes)
