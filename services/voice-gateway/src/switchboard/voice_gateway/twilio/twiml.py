"""The TwiML the gateway answers with, built by the ``twilio`` library's ``VoiceResponse``."""

from __future__ import annotations

from twilio.twiml.voice_response import Connect, VoiceResponse

UNKNOWN_NUMBER_MESSAGE = (
    "Sorry, this number is not connected to an assistant right now. Please try again later. "
    "Goodbye."
)
UNAVAILABLE_MESSAGE = (
    "Sorry, we cannot take your call at the moment. Please try again in a few minutes. Goodbye."
)


def media_stream_url(public_base_url: str) -> str:
    """The ``wss://`` (or ``ws://``) URL of our media websocket, as Twilio will call it."""
    base = public_base_url.rstrip("/")
    if base.startswith("https://"):
        base = "wss://" + base[len("https://") :]
    elif base.startswith("http://"):
        base = "ws://" + base[len("http://") :]
    return base + "/twilio/media"


def connect_stream(stream_url: str, parameters: dict[str, str]) -> str:
    """``<Connect><Stream>`` with our ``<Parameter>``s; the call ends when the stream does."""
    response = VoiceResponse()
    connect = Connect()
    stream = connect.stream(url=stream_url)
    for name, value in parameters.items():
        stream.parameter(name=name, value=value)
    response.append(connect)
    return str(response)


def say_and_hang_up(message: str) -> str:
    """A polite message, then hang up."""
    response = VoiceResponse()
    response.say(message)
    response.hangup()
    return str(response)


def redirect(url: str) -> str:
    """Ask Twilio to fetch the call's TwiML again from ``url`` (a POST, signed as ever)."""
    response = VoiceResponse()
    response.redirect(url, method="POST")
    return str(response)
