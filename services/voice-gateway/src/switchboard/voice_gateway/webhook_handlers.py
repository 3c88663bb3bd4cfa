"""What each Twilio Voice webhook does, free of HTTP: answer with TwiML or publish an event."""

from __future__ import annotations

import time
from collections.abc import Mapping
from urllib.parse import parse_qsl, urlencode

from switchboard.common.events import CallStatusChanged, RecordingReady
from switchboard.common.logging import get_logger
from switchboard.voice_gateway import metrics
from switchboard.voice_gateway.domain.agent_config import AgentConfig
from switchboard.voice_gateway.domain.media_token import StreamClaims, sign_media_token
from switchboard.voice_gateway.ports.agent_config import (
    AgentConfigUnavailable,
    CachedAgentConfigSource,
)
from switchboard.voice_gateway.ports.ai import CallContext
from switchboard.voice_gateway.ports.event_publisher import EventPublisher
from switchboard.voice_gateway.session.preopen import PreopenedSessions
from switchboard.voice_gateway.twilio import twiml

log = get_logger(__name__)

#: The query parameter a draining gateway adds when it sends a call's webhook back through
#: the public URL: a call already bounced once is refused rather than bounced again.
DRAIN_REDIRECT_PARAM = "drain_redirected"

#: Twilio status-callback fields copied into ``call.status`` as they are.
_STATUS_FIELDS = (
    "CallDuration",
    "AnsweredBy",
    "SipResponseCode",
    "Duration",
    "Timestamp",
    "CallbackSource",
    "SequenceNumber",
    "ParentCallSid",
    "ErrorCode",
)


def _optional_int(value: str | None) -> int | None:
    return int(value) if value not in (None, "") and str(value).isdigit() else None


class TwilioWebhookHandlers:
    """Handlers of the four Voice webhooks (their signatures are already checked)."""

    def __init__(
        self,
        configs: CachedAgentConfigSource,
        publisher: EventPublisher,
        *,
        public_base_url: str,
        stream_base_url: str = "",
        media_token_secret: str,
        media_token_ttl_s: float,
        preopen: PreopenedSessions | None = None,
    ) -> None:
        self._configs = configs
        self._preopen = preopen
        self._publisher = publisher
        self._public_base_url = public_base_url.rstrip("/")
        self._stream_url = twiml.media_stream_url(stream_base_url or public_base_url)
        self._secret = media_token_secret
        self._ttl_s = media_token_ttl_s

    async def incoming_call(self, form: Mapping[str, str]) -> str:
        """TwiML connecting an inbound call to the media stream, or a polite refusal."""
        called = form.get("To", "")
        try:
            config = await self._configs.get(called)
        except AgentConfigUnavailable as exc:
            log.error("agent_config_unavailable", to=called, error=str(exc))
            metrics.WEBHOOKS.labels(route="incoming", outcome="unavailable").inc()
            return twiml.say_and_hang_up(twiml.UNAVAILABLE_MESSAGE)
        if config is None:
            log.info("call_to_unknown_number", to=called)
            metrics.WEBHOOKS.labels(route="incoming", outcome="unknown_number").inc()
            return twiml.say_and_hang_up(twiml.UNKNOWN_NUMBER_MESSAGE)
        metrics.WEBHOOKS.labels(route="incoming", outcome="connected").inc()
        self._preopen_session("inbound", form, config)
        return self._stream_twiml(config.business_id, "inbound", form, None, None)

    async def outbound_call(
        self, form: Mapping[str, str], business_id: int, run_id: int | None, item_id: int | None
    ) -> str:
        """TwiML for a call an outbound run placed; the agent config is fetched meanwhile."""
        self._configs.prefetch(form.get("From", ""))
        self._preopen_session("outbound", form, None)
        metrics.WEBHOOKS.labels(route="outbound", outcome="connected").inc()
        return self._stream_twiml(business_id, "outbound", form, run_id, item_id)

    def _preopen_session(
        self, direction: str, form: Mapping[str, str], config: AgentConfig | None
    ) -> None:
        """Have the call's provider session opened while Twilio starts its stream."""
        if self._preopen is None:
            return
        call = CallContext(
            form.get("CallSid", ""), direction, form.get("From", ""), form.get("To", "")
        )
        business_number = call.to_number if direction == "inbound" else call.from_number
        configs = self._configs

        async def agent_config() -> AgentConfig | None:
            return config if config is not None else await configs.get(business_number)

        self._preopen.prepare(call, agent_config)

    def while_draining(self, route: str, path: str, query: str) -> str:
        """TwiML for a new call reaching a draining gateway: fetch the TwiML again through the
        public URL, where the load balancer picks a gateway that takes calls (readiness takes
        this one out); a call bounced once already is refused politely instead of looping."""
        params = parse_qsl(query, keep_blank_values=True)
        if any(name == DRAIN_REDIRECT_PARAM for name, _ in params):
            metrics.WEBHOOKS.labels(route=route, outcome="draining_refused").inc()
            return twiml.say_and_hang_up(twiml.UNAVAILABLE_MESSAGE)
        metrics.WEBHOOKS.labels(route=route, outcome="draining_redirected").inc()
        again = urlencode([*params, (DRAIN_REDIRECT_PARAM, "1")])
        return twiml.redirect(f"{self._public_base_url}{path}?{again}")

    def _stream_twiml(
        self,
        business_id: int,
        direction: str,
        form: Mapping[str, str],
        run_id: int | None,
        item_id: int | None,
    ) -> str:
        claims = StreamClaims(
            call_sid=form.get("CallSid", ""),
            business_id=business_id,
            direction=direction,
            from_number=form.get("From", ""),
            to_number=form.get("To", ""),
            expires_at=time.time() + self._ttl_s,
            run_id=run_id,
            item_id=item_id,
        )
        parameters = {
            "token": sign_media_token(claims, self._secret),
            "business_id": str(business_id),
            "direction": direction,
        }
        if run_id is not None:
            parameters["run_id"] = str(run_id)
        if item_id is not None:
            parameters["item_id"] = str(item_id)
        return twiml.connect_stream(self._stream_url, parameters)

    async def call_status(self, form: Mapping[str, str], query: Mapping[str, str]) -> bool:
        """Publish ``call.status``; False if the call's business cannot be told."""
        business_id = _optional_int(query.get("business_id"))
        direction = form.get("Direction", "")
        if business_id is None:
            number = form.get("To", "") if direction == "inbound" else form.get("From", "")
            config = await self._config_or_none(number)
            business_id = config.business_id if config else None
        if business_id is None:
            log.warning("call_status_without_business", call_sid=form.get("CallSid"))
            metrics.WEBHOOKS.labels(route="status", outcome="unknown_business").inc()
            return False
        await self._publisher.publish(
            CallStatusChanged(
                business_id=business_id,
                call_sid=form.get("CallSid", ""),
                call_status=form.get("CallStatus", ""),
                direction=direction or None,
                from_number=form.get("From") or None,
                to_number=form.get("To") or None,
                call_duration_s=_optional_int(form.get("CallDuration")),
                answered_by=form.get("AnsweredBy") or None,
                run_id=_optional_int(query.get("run_id")),
                item_id=_optional_int(query.get("item_id")),
                twilio_fields={k: form[k] for k in _STATUS_FIELDS if form.get(k)},
            )
        )
        metrics.WEBHOOKS.labels(route="status", outcome="published").inc()
        return True

    async def recording_status(self, form: Mapping[str, str], business_id: int | None) -> bool:
        """Publish ``recording.ready`` for a completed recording."""
        status = form.get("RecordingStatus", "completed")
        if business_id is None or status != "completed":
            metrics.WEBHOOKS.labels(route="recording", outcome="ignored").inc()
            return False
        await self._publisher.publish(
            RecordingReady(
                business_id=business_id,
                call_sid=form.get("CallSid", ""),
                recording_sid=form.get("RecordingSid", ""),
                recording_url=form.get("RecordingUrl", ""),
                duration_s=_optional_int(form.get("RecordingDuration")),
            )
        )
        metrics.WEBHOOKS.labels(route="recording", outcome="published").inc()
        return True

    async def _config_or_none(self, number: str) -> AgentConfig | None:
        try:
            return await self._configs.get(number)
        except AgentConfigUnavailable:
            return None
