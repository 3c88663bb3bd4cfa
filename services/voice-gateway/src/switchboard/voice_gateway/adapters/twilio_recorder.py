"""Call recording through Twilio's REST API (the ``twilio`` library, async HTTP client)."""

from __future__ import annotations

import aiohttp
from twilio.base.exceptions import TwilioException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.rest import Client

from switchboard.voice_gateway.ports.recorder import CallRecorder, RecordingFailed


class TwilioCallRecorder(CallRecorder):
    """``POST /2010-04-01/Accounts/{sid}/Calls/{call}/Recordings.json`` via ``twilio.rest``.

    ``api_base_url`` replaces ``https://api.twilio.com`` (a local fake in tests).
    """

    def __init__(self, account_sid: str, auth_token: str, api_base_url: str) -> None:
        self._account_sid = account_sid
        self._auth_token = auth_token
        self._api_base_url = api_base_url.rstrip("/")
        self._client: Client | None = None

    def _rest(self) -> Client:
        # Built on first use: its aiohttp session must be created inside the running loop.
        if self._client is None:
            client = Client(
                self._account_sid, self._auth_token, http_client=AsyncTwilioHttpClient(timeout=10)
            )
            client.api.base_url = self._api_base_url
            self._client = client
        return self._client

    async def start_recording(self, call_sid: str, status_callback_url: str) -> str:
        """Start a dual-channel recording whose status callback is ``status_callback_url``."""
        try:
            recording = (
                await self._rest()
                .calls(call_sid)
                .recordings.create_async(
                    recording_status_callback=status_callback_url,
                    recording_status_callback_event=["completed"],
                    recording_channels="dual",
                )
            )
        except (TwilioException, aiohttp.ClientError, TimeoutError) as exc:
            raise RecordingFailed(str(exc)) from exc
        return str(recording.sid)

    async def warm_up(self) -> None:
        """Build the REST client and the recordings resource: ``twilio`` imports each of its
        resources on first use (some 50 ms of module loading in the event loop)."""
        self._rest().calls("CA" + "0" * 32).recordings  # noqa: B018 (built for its imports)

    async def aclose(self) -> None:
        """Close the HTTP session."""
        if self._client is not None:
            http_client = self._client.http_client
            if isinstance(http_client, AsyncTwilioHttpClient):
                await http_client.close()
