"""Admits a Media Streams socket: waits for ``start``, checks its token, then runs the call."""

from __future__ import annotations

import asyncio
import time

from switchboard.common.logging import get_logger, log_scope
from switchboard.voice_gateway import metrics
from switchboard.voice_gateway.domain.agent_config import AgentConfig
from switchboard.voice_gateway.domain.frames import ProtocolError, SequenceGuard, StreamStart
from switchboard.voice_gateway.domain.media_token import (
    InvalidMediaToken,
    StreamClaims,
    UsedMediaTokens,
    media_token_id,
    verify_media_token,
)
from switchboard.voice_gateway.ports.agent_config import (
    AgentConfigSource,
    AgentConfigUnavailable,
)
from switchboard.voice_gateway.ports.media_socket import MediaSocket, SocketClosed
from switchboard.voice_gateway.session.admission import StartPlace, StartPlaces
from switchboard.voice_gateway.session.call_session import CallSession, SessionServices
from switchboard.voice_gateway.session.preopen import PreopenedSessions, Prepared

log = get_logger(__name__)

#: Twilio sends ``connected`` and ``start`` right after the upgrade.
START_TIMEOUT_S = 10.0
POLICY_VIOLATION = 1008
#: The close code of a socket refused for now (too many awaiting ``start``).
TRY_AGAIN_LATER = 1013


async def refuse_for_now(socket: MediaSocket) -> None:
    """Close an accepted socket that found no place among those awaiting ``start``."""
    log.info("media_stream_refused_busy")
    await socket.close(TRY_AGAIN_LATER, "too many streams awaiting start")


class MediaStreamHandler:
    """Turns an accepted socket into a running ``CallSession``, or closes it with a reason."""

    def __init__(
        self,
        services: SessionServices,
        configs: AgentConfigSource,
        media_token_secret: str,
        used_tokens: UsedMediaTokens | None = None,
        preopened: PreopenedSessions | None = None,
    ) -> None:
        self._services = services
        self._preopened = preopened
        self._configs = configs
        self._secret = media_token_secret
        # Not ``or``: an empty register is falsy (``__len__``), and the journal's is empty
        # at a first start.
        self._used_tokens = used_tokens if used_tokens is not None else UsedMediaTokens()
        #: The sockets awaiting ``start``, capped (``GATEWAY__MAX_AWAITING_START``).
        self.start_places = StartPlaces(services.settings.max_awaiting_start)
        #: The calls whose stream this process serves, from its token's check to its end.
        self._streaming: set[str] = set()

    async def handle(self, socket: MediaSocket, place: StartPlace | None = None) -> str:
        """Serve one stream until it ends; returns why it ended.

        ``place``: the socket's place among those awaiting ``start`` (``start_places``), taken
        before it was accepted; without one it is taken here, and none left closes the socket
        with 1013. It is given back as ``start`` comes, or the socket ends without one.
        """
        if place is None:
            place = self.start_places.take()
            if place is None:
                await refuse_for_now(socket)
                return "awaiting_start_full"
        guard = SequenceGuard()
        try:
            with place:
                start = await asyncio.wait_for(self._await_start(socket, guard), START_TIMEOUT_S)
            started_at = time.monotonic()
        except (ProtocolError, TimeoutError) as exc:
            reason = exc.reason if isinstance(exc, ProtocolError) else "no start message"
            kind = exc.kind if isinstance(exc, ProtocolError) else "no_start"
            metrics.PROTOCOL_ERRORS.labels(reason=kind).inc()
            log.warning("media_stream_rejected", reason=reason)
            await socket.close(POLICY_VIOLATION, reason)
            return "protocol_error"
        except SocketClosed:
            return "socket_closed"
        token = start.parameters.get("token", "")
        try:
            if not token.isascii():  # ours are base64url; compare_digest refuses other str
                raise InvalidMediaToken("not ASCII")
            claims = verify_media_token(
                token,
                self._secret,
                call_sid=start.call_sid,
                now=time.time(),
            )
        except InvalidMediaToken as exc:
            metrics.PROTOCOL_ERRORS.labels(reason="invalid_token").inc()
            log.warning("media_token_rejected", call_sid=start.call_sid, reason=str(exc))
            await socket.close(POLICY_VIOLATION, "invalid token")
            return "invalid_token"
        if not self._used_tokens.claim(media_token_id(token), claims.expires_at, time.time()):
            metrics.PROTOCOL_ERRORS.labels(reason="token_reused").inc()
            log.warning("media_token_reused", call_sid=start.call_sid)
            await socket.close(POLICY_VIOLATION, "token already used")
            return "token_reused"
        if start.call_sid in self._streaming:
            # Twilio opens one stream per call: a second, with a token of its own, is a
            # replayed webhook's. It would start a second session (a second recording,
            # call.started and call.ended) and hide the first from the registry.
            metrics.PROTOCOL_ERRORS.labels(reason="duplicate_stream").inc()
            log.warning("media_stream_duplicate", call_sid=start.call_sid)
            await socket.close(POLICY_VIOLATION, "call already has a stream")
            return "duplicate_stream"
        self._streaming.add(start.call_sid)
        try:
            return await self._serve(socket, start, claims, guard, started_at)
        finally:
            self._streaming.discard(start.call_sid)

    async def _serve(
        self,
        socket: MediaSocket,
        start: StreamStart,
        claims: StreamClaims,
        guard: SequenceGuard,
        started_at: float,
    ) -> str:
        """Run the call of an admitted stream until it ends; returns why it ended."""
        # Every later line of the call, its session's tasks' included, names the call.
        with log_scope(call_sid=start.call_sid, business_id=claims.business_id):
            business_number = (
                claims.to_number if claims.direction == "inbound" else claims.from_number
            )
            prepared = None
            if self._preopened is not None:
                prepared = await self._preopened.claim(start.call_sid)
            try:
                config = await self._agent_config(business_number, claims.business_id, prepared)
                if config is None:
                    log.warning("media_stream_without_agent", call_sid=start.call_sid)
                    await socket.close(POLICY_VIOLATION, "no agent for this call")
                    return "no_agent"
                conversation = None
                if prepared is not None and prepared.config == config:
                    conversation, prepared.conversation = prepared.conversation, None
            finally:
                if prepared is not None:
                    await prepared.close()  # whatever the call did not take
            session = CallSession(
                self._services,
                socket,
                start,
                claims,
                config,
                guard,
                conversation=conversation,
                started_at=started_at,
            )
            return await session.run()

    async def _agent_config(
        self, business_number: str, business_id: int, prepared: Prepared | None
    ) -> AgentConfig | None:
        """The call's agent: the one fetched as the phone rang, else asked for now."""
        if prepared is not None and prepared.config is not None:
            config: AgentConfig | None = prepared.config
        else:
            try:
                config = await self._configs.get(business_number)
            except AgentConfigUnavailable as exc:
                log.error("agent_config_unavailable", error=str(exc))
                config = None
        if config is None or config.business_id != business_id:
            return None
        return config

    async def _await_start(self, socket: MediaSocket, guard: SequenceGuard) -> StreamStart:
        serializer = self._services.serializer
        while True:
            frame = serializer.deserialize(await socket.receive_text())
            guard.check(frame)
            if isinstance(frame, StreamStart):
                if frame.encoding != "audio/x-mulaw" or frame.sample_rate != 8000:
                    media_format = f"{frame.encoding[:40]!r} at {frame.sample_rate} Hz"
                    raise ProtocolError(
                        f"unsupported media format {media_format}", "unsupported_format"
                    )
                return frame
