"""A fake Gemini Live server speaking the Live API's websocket protocol, for ``google-genai``.

The library always opens ``wss://`` (it swaps the base URL's scheme), so the fake serves TLS
with a self-signed certificate for 127.0.0.1: in-process tests hand ``client_ssl_context()``
to the provider, a gateway process gets ``SSL_CERT_FILE=<ca_file>`` (read by the library).

It listens on ``/ws/google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent``,
checks the ``x-goog-api-key`` header (a wrong key is closed with 1007 as the real service
does), and:
- answers the first message, ``setup``, with ``setupComplete`` (and keeps the setup);
- runs a crude VAD over ``realtimeInput.audio`` (16 kHz PCM16): when the caller stops, sends
  the caller's words as ``inputTranscription`` fragments, then an answer; when the caller
  starts while an answer is still "playing", sends ``interrupted`` then ``turnComplete``;
- answers a text turn (``clientContent`` with ``turnComplete``, or ``realtimeInput.text``)
  with the text after its first ``:``;
- an answer is ``modelTurn`` parts of ``inlineData`` 24 kHz PCM16 (faster than real time, like
  the real service) with ``outputTranscription`` fragments between them, then
  ``generationComplete``, then ``turnComplete`` once the audio would have been played
  (``playback_pacing`` × its duration: the real service waits for playback likewise).
- when the setup asks for session resumption, sends ``sessionResumptionUpdate`` with a new
  resumable handle after every ``turnComplete`` and after a resumed setup; a setup carrying a
  handle resumes if the fake issued it (and ``refuse_resumption`` is off), else the connection
  is closed with 1008 before ``setupComplete``; ``hold_resumption`` (an event) makes a resumed
  setup wait for it;
- ``go_away(time_left_s)`` sends ``goAway`` on every open connection and closes each one
  ``time_left_s`` later, as the service does when a connection's time is up;
  ``go_away_after_answers = n`` does that to a connection by itself once n answers are done
  (for a gateway process, which a test cannot reach into).
Client messages are kept in ``received`` with camelCase keys (the library mixes both cases),
and per connection in ``connections[i].received``.
"""

from __future__ import annotations

import asyncio
import atexit
import base64
import contextlib
import datetime
import ipaddress
import json
import re
import shutil
import ssl
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from websockets.asyncio.server import ServerConnection, serve
from websockets.protocol import State

from switchboard.voice_gateway.domain.codecs import resample, ulaw_to_pcm16
from switchboard.voice_gateway.domain.speech import speech_ulaw

API_KEY = "gemini-test-key-0123456789"
PATH = "/ws/google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent"
_FRAME = 320  # 20 ms of 16 kHz samples
_CHUNK_BYTES = 24_000  # 500 ms of 24 kHz PCM16 per modelTurn message


@cache
def _certificate() -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and its key, written once per test process."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fake-gemini-live")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    directory = Path(tempfile.mkdtemp(prefix="fake-gemini-"))
    atexit.register(shutil.rmtree, directory, ignore_errors=True)
    cert_file, key_file = directory / "cert.pem", directory / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


def _camel(key: str) -> str:
    return re.sub(r"_([a-z])", lambda m: m.group(1).upper(), key)


def _camel_keys(value: Any) -> Any:
    if isinstance(value, dict):
        return {_camel(k): _camel_keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_camel_keys(v) for v in value]
    return value


def decode_bytes(data: str) -> bytes:
    """Bytes as proto JSON carries them: base64, standard or URL-safe, padded or not (the
    library sends URL-safe)."""
    return base64.urlsafe_b64decode(
        data.replace("+", "-").replace("/", "_") + "=" * (-len(data) % 4)
    )


def answer_pcm24k(text: str) -> bytes:
    """The speech-like audio the fake answers ``text`` with, as 24 kHz PCM16 LE."""
    samples = resample(ulaw_to_pcm16(speech_ulaw(text)), 8000, 24000)
    return np.rint(samples).astype("<i2").tobytes()


class FakeGeminiLive:
    """One fake server; ``url`` is the ``GEMINI_BASE_URL`` to give the client."""

    def __init__(
        self,
        answer_text: str = "Sure, I can help you with that booking.",
        *,
        playback_pacing: float = 1.0,
    ) -> None:
        self.answer_text = answer_text
        #: How long, as a fraction of its audio, an answer stays open to ``interrupted``.
        self.playback_pacing = playback_pacing
        self.received: list[dict[str, Any]] = []
        self.setups: list[dict[str, Any]] = []
        self.rejected_keys: list[str] = []
        #: The answer audio sent (24 kHz PCM16), chunk by chunk.
        self.sent_audio: list[bytes] = []
        self.interruptions = 0
        #: Caller words to transcribe only after the next answer has begun (the Live API does
        #: not order transcriptions with model turns).
        self.late_caller_words: str | None = None
        #: Every connection that got past the API key check, in order.
        self.connections: list[_Session] = []
        #: Handles sent in ``sessionResumptionUpdate``, and those setups resumed from.
        self.issued_handles: list[str] = []
        self.resumed_handles: list[str] = []
        self.refuse_resumption = False
        #: Send ``goAway`` (30 s left) after this many answers are done, counted across
        #: connections.
        self.go_away_after_answers: int | None = None
        self.answers_done = 0
        #: When set to an unset event, a resumed setup waits for it before ``setupComplete``.
        self.hold_resumption: asyncio.Event | None = None
        self.port = 0
        self._connections: list[ServerConnection] = []
        self._changed = asyncio.Event()
        self._closers: set[asyncio.Task[None]] = set()

    @property
    def url(self) -> str:
        """The base URL (``https://127.0.0.1:<port>``); the library derives the ``wss://`` one."""
        return f"https://127.0.0.1:{self.port}"

    @property
    def ca_file(self) -> Path:
        """The certificate to trust (``SSL_CERT_FILE`` for a gateway process)."""
        return _certificate()[0]

    def client_ssl_context(self) -> ssl.SSLContext:
        """A client context that trusts the fake."""
        return ssl.create_default_context(cafile=str(self.ca_file))

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        """Client messages of one kind (``setup``, ``realtimeInput``, ``clientContent``)."""
        return [message[kind] for message in self.received if kind in message]

    def caller_audio_pcm(self) -> bytes:
        """Every caller audio chunk received, joined."""
        return b"".join(
            decode_bytes(m["audio"]["data"]) for m in self.of_type("realtimeInput") if "audio" in m
        )

    async def wait_until(self, predicate: Any, timeout_s: float = 5) -> None:
        """Wait until ``predicate()`` holds for what the fake has seen."""
        async with asyncio.timeout(timeout_s):
            while not predicate():
                self._changed.clear()
                await self._changed.wait()

    async def wait_for(self, kind: str, timeout_s: float = 5) -> dict[str, Any]:
        """Wait until the client sent a message of ``kind``; return the first."""
        await self.wait_until(lambda: self.of_type(kind), timeout_s)
        return self.of_type(kind)[0]

    @property
    def open_connections(self) -> int:
        """Connections open now (a resumed setup being held counts)."""
        return len(self._connections)

    async def drop_connections(self, code: int = 1011, reason: str = "Internal error") -> None:
        """Close every open session as the service does when it fails."""
        for ws in list(self._connections):
            await ws.close(code, reason)

    async def go_away(self, time_left_s: float = 10) -> None:
        """Tell every open connection its time is nearly up, and end it ``time_left_s`` later."""
        for ws in list(self._connections):
            await self.go_away_from(ws, time_left_s)

    async def go_away_from(self, ws: ServerConnection, time_left_s: float) -> None:
        """``goAway`` on one connection, which ends ``time_left_s`` later."""
        with contextlib.suppress(Exception):
            await ws.send(json.dumps({"goAway": {"timeLeft": f"{time_left_s:g}s"}}))
        closer = asyncio.create_task(self._expire(ws, time_left_s))
        self._closers.add(closer)
        closer.add_done_callback(self._closers.discard)

    async def _expire(self, ws: ServerConnection, after_s: float) -> None:
        await asyncio.sleep(after_s)
        await ws.close(1011, "The session's time is up.")

    @asynccontextmanager
    async def running(self) -> AsyncIterator[FakeGeminiLive]:
        """Serve on a free port for the duration of the block."""
        cert_file, key_file = _certificate()
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert_file, key_file)
        async with serve(self._handle, "127.0.0.1", 0, ssl=context) as server:
            self.port = next(iter(server.sockets)).getsockname()[1]
            try:
                yield self
            finally:
                for closer in list(self._closers):
                    closer.cancel()

    def _note(self, message: dict[str, Any]) -> None:
        self.received.append(message)
        self._changed.set()

    async def _handle(self, ws: ServerConnection) -> None:
        request = ws.request
        assert request is not None
        key = request.headers.get("x-goog-api-key", "")
        if request.path != PATH:
            await ws.close(1008, "Method not found")
            return
        if key != API_KEY:
            self.rejected_keys.append(key)
            await ws.close(1007, "API key not valid. Please pass a valid API key.")
            return
        self._connections.append(ws)
        session = _Session(self, ws, len(self.connections))
        self.connections.append(session)
        self._changed.set()
        try:
            async for raw in ws:
                message = _camel_keys(json.loads(raw))
                session.received.append(message)
                self._note(message)
                await session.on_message(message)
        finally:
            self._connections.remove(ws)
            self._changed.set()
            session.stop()


class _Session:
    def __init__(self, server: FakeGeminiLive, ws: ServerConnection, index: int) -> None:
        self.server = server
        self.ws = ws
        self.index = index
        self.received: list[dict[str, Any]] = []
        self.resumable = False  # the setup asked for session resumption
        self.handles = 0
        self.in_speech = False
        self.voiced = 0
        self.silent_ms = 0
        self.speech_ms = 0
        self.pending = b""
        self.turn: asyncio.Task[None] | None = None  # an answer "playing" until turnComplete

    async def send(self, message: dict[str, Any]) -> None:
        await self.ws.send(json.dumps(message))

    def stop(self) -> None:
        if self.turn is not None:
            self.turn.cancel()

    async def on_message(self, message: dict[str, Any]) -> None:
        if "setup" in message:
            await self.on_setup(message["setup"])
        elif "realtimeInput" in message:
            realtime = message["realtimeInput"]
            if "audio" in realtime:
                await self.on_audio(decode_bytes(realtime["audio"]["data"]))
            elif "text" in realtime:
                await self.respond(_spoken(realtime["text"]))
        elif "clientContent" in message:
            content = message["clientContent"]
            if content.get("turnComplete"):
                texts = [p.get("text", "") for t in content.get("turns", []) for p in t["parts"]]
                await self.respond(_spoken(" ".join(texts)))

    async def on_setup(self, setup: dict[str, Any]) -> None:
        self.server.setups.append(setup)
        resumption = setup.get("sessionResumption")
        self.resumable = resumption is not None
        handle = (resumption or {}).get("handle")
        if handle is not None:
            if self.server.refuse_resumption or handle not in self.server.issued_handles:
                await self.ws.close(1008, "Invalid session resumption handle.")
                return
            if self.server.hold_resumption is not None:
                released = asyncio.ensure_future(self.server.hold_resumption.wait())
                closed = asyncio.ensure_future(self.ws.wait_closed())
                await asyncio.wait({released, closed}, return_when=asyncio.FIRST_COMPLETED)
                for waiter in (released, closed):
                    waiter.cancel()
                if self.ws.state is not State.OPEN:  # the client gave up waiting
                    return
            self.server.resumed_handles.append(handle)
        await self.send({"setupComplete": {}})
        if handle is not None:
            await self.send_handle()

    async def send_handle(self) -> None:
        """A resumption point: a new handle, if the setup asked for them."""
        if not self.resumable:
            return
        self.handles += 1
        handle = f"session-{self.index}-{self.handles}"
        self.server.issued_handles.append(handle)
        await self.send({"sessionResumptionUpdate": {"newHandle": handle, "resumable": True}})

    async def on_audio(self, audio: bytes) -> None:
        data = self.pending + audio
        whole = len(data) - len(data) % (2 * _FRAME)
        self.pending = data[whole:]
        samples = np.frombuffer(data[:whole], dtype="<i2").astype(np.int32)
        for start in range(0, samples.size, _FRAME):
            loud = int(np.count_nonzero(np.abs(samples[start : start + _FRAME]) > 900)) >= 48
            if not self.in_speech:
                self.voiced = self.voiced + 1 if loud else 0
                if self.voiced >= 3:
                    self.in_speech, self.silent_ms, self.speech_ms = True, 0, 60
                    await self.caller_started()
                continue
            self.speech_ms += 20
            self.silent_ms = 0 if loud else self.silent_ms + 20
            if self.silent_ms >= 500:
                self.in_speech, self.voiced = False, 0
                spoke_ms = self.speech_ms - self.silent_ms
                for fragment in ("caller spoke", f" for {spoke_ms} ms"):
                    await self.send({"serverContent": {"inputTranscription": {"text": fragment}}})
                await self.respond(self.server.answer_text)

    async def caller_started(self) -> None:
        """Barge-in: an answer still playing is cut off."""
        if self.turn is None or self.turn.done():
            return
        self.turn.cancel()
        self.server.interruptions += 1
        await self.send({"serverContent": {"interrupted": True}})
        await self.send({"serverContent": {"turnComplete": True}})
        await self.send_handle()

    async def respond(self, text: str) -> None:
        if self.turn is not None and not self.turn.done():
            await self.caller_started()
        audio = answer_pcm24k(text)
        chunks = [audio[i : i + _CHUNK_BYTES] for i in range(0, len(audio), _CHUNK_BYTES)]
        words = text.split(" ")
        per_chunk = -(-len(words) // len(chunks))
        for index, chunk in enumerate(chunks):
            self.server.sent_audio.append(chunk)
            inline = {"mimeType": "audio/pcm;rate=24000", "data": base64.b64encode(chunk).decode()}
            await self.send({"serverContent": {"modelTurn": {"parts": [{"inlineData": inline}]}}})
            late, self.server.late_caller_words = self.server.late_caller_words, None
            if late:
                await self.send({"serverContent": {"inputTranscription": {"text": late}}})
            said = words[index * per_chunk : (index + 1) * per_chunk]
            if said:
                fragment = (" " if index else "") + " ".join(said)
                await self.send({"serverContent": {"outputTranscription": {"text": fragment}}})
        await self.send({"serverContent": {"generationComplete": True}})
        duration_s = len(audio) / 2 / 24_000
        self.turn = asyncio.create_task(self.finish_turn(duration_s * self.server.playback_pacing))

    async def finish_turn(self, after_s: float) -> None:
        # The real service keeps the turn open while the client plays it out.
        await asyncio.sleep(after_s)
        with contextlib.suppress(Exception):
            await self.send({"serverContent": {"turnComplete": True}})
            await self.send_handle()
            self.server.answers_done += 1
            if self.server.answers_done == self.server.go_away_after_answers:
                await self.server.go_away_from(self.ws, 30)


def _spoken(instructions: str) -> str:
    """The words a text turn asks for: what follows its first colon, else all of it."""
    return instructions.split(":", 1)[-1].strip() or instructions
