"""A gateway process told to stop (SIGTERM, as Kubernetes does) lets its calls finish."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import signal
import xml.etree.ElementTree as ET

import httpx
import pytest
import websockets
from twilio.request_validator import RequestValidator
from websockets.exceptions import InvalidStatus

from switchboard.common.settings import Settings
from switchboard.voice_gateway.domain.speech import speech_ulaw
from switchboard.voice_gateway.simulator.driver import MediaStreamDriver
from tests.support import private_data
from tests.support.factories import make_business
from tests.support.processes import ServiceProcess, free_port
from tests.support.waiting import wait_for

CALLER = "+15559870001"


def _ready(url: str) -> int | None:
    try:
        return httpx.get(f"{url}/ready", timeout=1).status_code
    except httpx.HTTPError:
        return None


class TwilioSide:
    """Twilio's part of calls to one gateway: the signed webhook, then the media stream."""

    def __init__(self, gateway_url: str, auth_token: str) -> None:
        self.gateway_url = gateway_url
        self._validator = RequestValidator(auth_token)

    async def webhook(self, to: str) -> ET.Element:
        """POST the incoming-call webhook for a new call; the TwiML answered."""
        path = "/twilio/voice/incoming"
        form = {"CallSid": "CA" + secrets.token_hex(16), "From": CALLER, "To": to}
        signature = self._validator.compute_signature(self.gateway_url + path, form)
        async with httpx.AsyncClient(timeout=10) as http:
            response = await http.post(
                self.gateway_url + path, data=form, headers={"X-Twilio-Signature": signature}
            )
        response.raise_for_status()
        root = ET.fromstring(response.text)
        root.set("call_sid", form["CallSid"])
        return root

    async def open_stream(self, twiml: ET.Element) -> MediaStreamDriver:
        """Open the media stream the TwiML names and send ``connected`` and ``start``."""
        stream = twiml.find("./Connect/Stream")
        assert stream is not None, ET.tostring(twiml)
        url = stream.get("url", "")
        signature = self._validator.compute_signature(url, {})
        websocket = await websockets.connect(
            url, additional_headers={"X-Twilio-Signature": signature}
        )
        driver = MediaStreamDriver(
            websocket,
            call_sid=twiml.get("call_sid", ""),
            stream_sid="MZ" + secrets.token_hex(16),
            parameters={p.get("name", ""): p.get("value", "") for p in stream.iter("Parameter")},
        )
        await driver.open_stream()
        return driver


async def _agent_answers(driver: MediaStreamDriver, timeout_s: float = 20) -> bool:
    """Wait until the agent has said something more than it had."""
    said = len(driver.agent_said)
    return await driver.wait_until(lambda: len(driver.agent_said) > said, timeout_s)


async def test_a_sigtermed_gateway_refuses_new_streams_but_lets_its_call_finish(
    pg_rabbit: Settings, start_service
) -> None:
    api_port, gateway_port = free_port(), free_port()
    api_url, gateway_url = f"http://127.0.0.1:{api_port}", f"http://127.0.0.1:{gateway_port}"
    urls = {"api_base_url": api_url, "public_base_url": gateway_url}
    start_service("api", "--port", str(api_port), **urls)
    gateway: ServiceProcess = start_service("gateway", "--port", str(gateway_port), **urls)
    for url in (api_url, gateway_url):
        await asyncio.to_thread(wait_for, lambda u=url: _ready(u) == 200, timeout=60, what=url)
    business = make_business("Drain Dental")
    said = "Hi, my name is Robin and I would like a cleaning on Friday."
    private_data.register(CALLER, said, "Robin")
    twilio = TwilioSide(gateway_url, pg_rabbit.twilio_auth_token)

    call = await twilio.open_stream(await twilio.webhook(business.phone_number))
    answered_before_the_stop = await twilio.webhook(business.phone_number)
    receiving = asyncio.create_task(call.receive())
    paced = asyncio.create_task(call.run_paced(lambda: asyncio.Event().wait()))
    try:
        assert await _agent_answers(call), "no greeting"

        gateway.proc.send_signal(signal.SIGTERM)  # the main process only, as the kubelet does
        await asyncio.to_thread(
            wait_for, lambda: _ready(gateway_url) == 503, timeout=10, what="readiness 503"
        )

        with pytest.raises(InvalidStatus) as refused:
            await twilio.open_stream(answered_before_the_stop)
        assert refused.value.response.status_code == 403
        bounced = await twilio.webhook(business.phone_number)
        assert bounced.find("./Connect") is None and bounced.find("./Redirect") is not None

        call.speak(speech_ulaw(said, voice="high"))  # the call in flight goes on as before
        assert await _agent_answers(call), "the agent stopped answering after SIGTERM"
        assert gateway.alive and not call.closed_by_gateway

        await call.stop()  # the caller hangs up: the last call is over
        await call.ws.close()
    finally:
        paced.cancel()
        await asyncio.gather(paced, return_exceptions=True)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(receiving, 5)
    exit_code = await asyncio.to_thread(gateway.proc.wait, 30)
    assert exit_code == 0, gateway.output()[-3000:]
    private_data.register(*call.agent_said)
