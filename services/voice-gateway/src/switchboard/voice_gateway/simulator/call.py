"""``simulate_call``: one whole call against a running gateway, as Twilio would place it."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import urlencode, urlsplit

import httpx
import websockets
from twilio.request_validator import RequestValidator
from websockets.exceptions import InvalidStatus

from switchboard.voice_gateway.domain.speech import speech_ulaw
from switchboard.voice_gateway.simulator.driver import MediaStreamDriver
from switchboard.voice_gateway.twilio import twiml as gateway_twiml

DEFAULT_UTTERANCES = ("Hello, I would like to book an appointment for next Tuesday morning.",)


def _words(text: str) -> str:
    return " ".join(text.split())


#: Why the gateway refused a call, told by what its TwiML says (``twilio/twiml.py``).
REFUSALS = {
    _words(gateway_twiml.UNKNOWN_NUMBER_MESSAGE): "unknown_number",
    _words(gateway_twiml.UNAVAILABLE_MESSAGE): "unavailable",
}


#: Why a call failed when the gateway's webhook refused its signature (403).
SIGNATURE_REFUSED = "signature_refused"


@dataclass(frozen=True)
class OutboundCall:
    """Simulate a call placed by an outbound run (``/twilio/voice/outbound``)."""

    business_id: int
    run_id: int | None = None
    item_id: int | None = None


@dataclass
class CallOutcome:
    """What happened on a simulated call."""

    call_sid: str
    #: ``completed`` (the stream ran), ``rejected`` (TwiML said no), ``failed`` (an error).
    status: Literal["completed", "rejected", "failed"]
    #: ``caller`` (we sent ``stop``) or ``gateway`` (it closed the stream).
    ended_by: str = "caller"
    agent_said: list[str] = field(default_factory=list)
    agent_audio_s: float = 0.0
    frames_sent: int = 0
    frames_received: int = 0
    marks_echoed: int = 0
    clears: int = 0
    duration_s: float = 0.0
    message: str = ""
    #: Of a ``rejected`` call, why: ``unknown_number`` (no business answers the number,
    #: :data:`REFUSALS`), ``unavailable`` (the gateway could not look it up), or ``""``. Of
    #: a ``failed`` one, ``signature_refused`` when the webhook answered 403: the call was
    #: signed for another URL or with another auth token than the gateway's.
    reason: str = ""


def _sign(auth_token: str, url: str, params: dict[str, str]) -> str:
    return str(RequestValidator(auth_token).compute_signature(url, params))


def _ws_url_on(gateway_url: str, stream_url: str) -> str:
    """The stream URL with its host swapped for the gateway we can actually reach."""
    gateway, stream = urlsplit(gateway_url), urlsplit(stream_url)
    scheme = "wss" if gateway.scheme == "https" else "ws"
    return f"{scheme}://{gateway.netloc}{stream.path}" + (
        f"?{stream.query}" if stream.query else ""
    )


async def _wait_agent_quiet(
    driver: MediaStreamDriver, timeout_s: float, quiet_s: float = 0.6
) -> None:
    """Wait until the agent has spoken and everything it said has been played."""
    deadline = time.monotonic() + timeout_s
    start_frames = driver.frames_received
    while time.monotonic() < deadline:
        heard = driver.frames_received > start_frames
        quiet = time.monotonic() - driver.last_agent_frame_at > quiet_s
        if heard and quiet and not driver.agent_playing:
            return
        await asyncio.sleep(0.05)


async def simulate_call(
    gateway_url: str,
    from_: str,
    to: str,
    *,
    auth_token: str,
    public_base_url: str | None = None,
    utterances: Sequence[str] = DEFAULT_UTTERANCES,
    outbound: OutboundCall | None = None,
    barge_in: bool = False,
    answer_timeout_s: float = 10.0,
    call_sid: str | None = None,
) -> CallOutcome:
    """Place one simulated call through the gateway at ``gateway_url`` and report it.

    Signs the webhook with ``auth_token`` against ``public_base_url`` (what the gateway
    believes its public URL is; defaults to ``gateway_url``), opens the media stream with
    the TwiML's parameters, waits for the greeting, speaks each utterance (8 kHz μ-law
    speech-like audio in paced 20 ms frames) and waits for each answer; with ``barge_in``
    it talks over the last answer. Then it hangs up with ``stop``.
    """
    call_sid = call_sid or "CA" + secrets.token_hex(16)
    public = (public_base_url or gateway_url).rstrip("/")
    path = "/twilio/voice/outbound" if outbound else "/twilio/voice/incoming"
    query = ""
    if outbound is not None:
        params = {
            "business_id": outbound.business_id,
            "run_id": outbound.run_id,
            "item_id": outbound.item_id,
        }
        query = "?" + urlencode({k: v for k, v in params.items() if v is not None})
    form = {
        "CallSid": call_sid,
        "AccountSid": "AC" + "0" * 32,
        "From": from_,
        "To": to,
        "CallStatus": "in-progress" if outbound else "ringing",
        "Direction": "outbound-api" if outbound else "inbound",
    }
    started = time.monotonic()
    async with httpx.AsyncClient(timeout=10) as http:
        response = await http.post(
            gateway_url.rstrip("/") + path + query,
            data=form,
            headers={"X-Twilio-Signature": _sign(auth_token, public + path + query, form)},
        )
    if response.status_code != 200:
        reason = SIGNATURE_REFUSED if response.status_code == 403 else ""
        message = f"webhook answered {response.status_code}"
        return CallOutcome(call_sid, "failed", message=message, reason=reason)
    try:
        twiml = ET.fromstring(response.text)
    except ET.ParseError:
        return CallOutcome(call_sid, "failed", message="the webhook's answer is not TwiML")
    stream = twiml.find("./Connect/Stream")
    if stream is None:
        said = _words(" ".join(el.text or "" for el in twiml.iter("Say")))
        reason = REFUSALS.get(said, "")
        return CallOutcome(call_sid, "rejected", ended_by="gateway", message=said, reason=reason)
    parameters = {p.get("name", ""): p.get("value", "") for p in stream.iter("Parameter")}
    stream_url = stream.get("url", "")
    headers = {"X-Twilio-Signature": _sign(auth_token, stream_url, {})}
    try:
        websocket = await websockets.connect(
            _ws_url_on(gateway_url, stream_url), additional_headers=headers
        )
    except (InvalidStatus, OSError) as exc:
        return CallOutcome(call_sid, "failed", message=f"media stream refused: {exc}")
    driver = MediaStreamDriver(
        websocket, call_sid=call_sid, stream_sid="MZ" + secrets.token_hex(16), parameters=parameters
    )

    async def script() -> None:
        await _wait_agent_quiet(driver, answer_timeout_s)
        for number, text in enumerate(utterances, start=1):
            driver.speak(speech_ulaw(text, voice="high"))
            await driver.wait_until(lambda: not driver.caller_speaking, 60)
            if barge_in and number == len(utterances):
                await _talk_over_answer(driver, answer_timeout_s)
            await _wait_agent_quiet(driver, answer_timeout_s)

    receiver = asyncio.create_task(driver.receive())
    try:
        await driver.open_stream()
        await driver.run_paced(script)
        if not driver.closed_by_gateway:
            with contextlib.suppress(websockets.ConnectionClosed):
                await driver.stop()
            await websocket.close()
        await asyncio.wait_for(receiver, 5)
    finally:
        receiver.cancel()
    return CallOutcome(
        call_sid=call_sid,
        status="completed",
        ended_by="caller" if driver.hung_up else "gateway",
        agent_said=driver.agent_said,
        agent_audio_s=driver.frames_received * 0.02,
        frames_sent=driver.frames_sent,
        frames_received=driver.frames_received,
        marks_echoed=driver.marks_echoed,
        clears=driver.clears,
        duration_s=round(time.monotonic() - started, 2),
    )


async def _talk_over_answer(driver: MediaStreamDriver, timeout_s: float) -> None:
    """Wait for the agent to start answering, then speak over it."""
    start = driver.frames_received
    await driver.wait_until(lambda: driver.frames_received >= start + 25, timeout_s)
    driver.speak(speech_ulaw("Sorry, wait, one more thing about that please.", voice="high"))
    await driver.wait_until(lambda: not driver.caller_speaking, 60)
