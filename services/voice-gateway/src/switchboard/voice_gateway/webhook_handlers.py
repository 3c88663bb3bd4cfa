"""What each Twilio Voice webhook does, free of HTTP: answer with TwiML or publish an event."""

from __future__ import annotations

import time
from collections.abc import Mapping
from urllib.parse import parse_qsl, urlencode

from switchboard.common.events import CallStatusChanged, RecordingReady
from switchboard.common.logging import bind_in_scope, get_logger
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
from switchboard.voice_gateway.twilio import form_fields, twiml

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
_MAX_EXTRA_CHARS = 200


def _extra_fields(form: Mapping[str, str]) -> dict[str, str]:
    """The ``_STATUS_FIELDS`` worth keeping: short printable text, as Twilio sends them."""
    return {
        name: value
        for name in _STATUS_FIELDS
        if (value := form.get(name, "")) and len(value) <= _MAX_EXTRA_CHARS and value.isprintable()
    }


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
        """TwiML connecting an inbound call to the media stream, or a polite refusal (a
        ``To`` that is not E.164 is no number of ours: the unknown number's, unlooked-up)."""
        call_sid = form_fields.sid(form, "CallSid")
        bind_in_scope(call_sid=call_sid)  # the request's lines (its access line) name the call
        called = form_fields.number_or_none(form, "To")
        try:
            config = await self._configs.get(called) if called is not None else None
        except AgentConfigUnavailable as exc:
            log.error("agent_config_unavailable", to=called, error=str(exc))
            metrics.WEBHOOKS.labels(route="incoming", outcome="unavailable").inc()
            return twiml.say_and_hang_up(twiml.UNAVAILABLE_MESSAGE)
        if config is None or called is None:
            log.info("call_to_unknown_number", to=called)
            metrics.WEBHOOKS.labels(route="incoming", outcome="unknown_number").inc()
            return twiml.say_and_hang_up(twiml.UNKNOWN_NUMBER_MESSAGE)
        metrics.WEBHOOKS.labels(route="incoming", outcome="connected").inc()
        caller = form_fields.number_or_none(form, "From") or ""  # "": withheld
        call = CallContext(call_sid, "inbound", caller, called)
        self._preopen_session(call, config)
        return self._stream_twiml(config.business_id, call, None, None)

    async def outbound_call(
        self, form: Mapping[str, str], business_id: int, run_id: int | None, item_id: int | None
    ) -> str:
        """TwiML for a call an outbound run placed; the agent config is fetched meanwhile.
        Both numbers are ours to have dialed: E.164, or the request is refused."""
        call_sid = form_fields.sid(form, "CallSid")
        bind_in_scope(call_sid=call_sid)
        call = CallContext(
            call_sid,
            "outbound",
            form_fields.number(form, "From"),
            form_fields.number(form, "To"),
        )
        self._configs.prefetch(call.from_number)
        self._preopen_session(call, None)
        metrics.WEBHOOKS.labels(route="outbound", outcome="connected").inc()
        return self._stream_twiml(business_id, call, run_id, item_id)

    def _preopen_session(self, call: CallContext, config: AgentConfig | None) -> None:
        """Have the call's provider session opened while Twilio starts its stream."""
        if self._preopen is None:
            return
        business_number = call.to_number if call.direction == "inbound" else call.from_number
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
        self, business_id: int, call: CallContext, run_id: int | None, item_id: int | None
    ) -> str:
        claims = StreamClaims(
            call_sid=call.call_sid,
            business_id=business_id,
            direction=call.direction,
            from_number=call.from_number,
            to_number=call.to_number,
            expires_at=time.time() + self._ttl_s,
            run_id=run_id,
            item_id=item_id,
        )
        parameters = {
            "token": sign_media_token(claims, self._secret),
            "business_id": str(business_id),
            "direction": call.direction,
        }
        if run_id is not None:
            parameters["run_id"] = str(run_id)
        if item_id is not None:
            parameters["item_id"] = str(item_id)
        return twiml.connect_stream(self._stream_url, parameters)

    async def call_status(
        self,
        form: Mapping[str, str],
        business_id: int | None,
        run_id: int | None = None,
        item_id: int | None = None,
    ) -> bool:
        """Publish ``call.status``; False if the call's business cannot be told."""
        call_sid = form_fields.sid(form, "CallSid")
        bind_in_scope(call_sid=call_sid)
        call_status = form_fields.one_of(form, "CallStatus", form_fields.CALL_STATUSES)
        call_duration_s = form_fields.duration(form, "CallDuration")
        direction = form_fields.one_of_or_none(form, "Direction", form_fields.DIRECTIONS)
        from_number = form_fields.number_or_none(form, "From")
        to_number = form_fields.number_or_none(form, "To")
        if business_id is None:
            number = to_number if direction == "inbound" else from_number
            config = await self._config_or_none(number) if number is not None else None
            business_id = config.business_id if config else None
        if business_id is None:
            log.warning("call_status_without_business", call_sid=call_sid)
            metrics.WEBHOOKS.labels(route="status", outcome="unknown_business").inc()
            return False
        twilio_fields = _extra_fields(form)
        await self._publisher.publish(
            CallStatusChanged(
                business_id=business_id,
                call_sid=call_sid,
                call_status=call_status,
                direction=direction,
                from_number=from_number,
                to_number=to_number,
                call_duration_s=call_duration_s,
                answered_by=twilio_fields.get("AnsweredBy"),
                run_id=run_id,
                item_id=item_id,
                twilio_fields=twilio_fields,
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
        call_sid = form_fields.sid(form, "CallSid")
        bind_in_scope(call_sid=call_sid)
        await self._publisher.publish(
            RecordingReady(
                business_id=business_id,
                call_sid=call_sid,
                recording_sid=form_fields.sid(form, "RecordingSid"),
                duration_s=form_fields.duration(form, "RecordingDuration"),
                recording_url=form_fields.url(form, "RecordingUrl"),
            )
        )
        metrics.WEBHOOKS.labels(route="recording", outcome="published").inc()
        return True

    async def _config_or_none(self, number: str) -> AgentConfig | None:
        try:
            return await self._configs.get(number)
        except AgentConfigUnavailable:
            return None
