"""Wires the gateway: real adapters by default, any port replaceable (tests pass fakes)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field

from switchboard.common.integrations.sandbox.calls import connect_local_line
from switchboard.common.integrations.sandbox.mode import telephony_mode
from switchboard.common.logging import get_logger
from switchboard.common.settings import Settings
from switchboard.voice_gateway.adapters.agent_config_api import ApiAgentConfigSource
from switchboard.voice_gateway.adapters.ai_router import ProviderRouter
from switchboard.voice_gateway.adapters.amqp_publisher import AmqpEventPublisher
from switchboard.voice_gateway.adapters.in_process_publisher import InProcessEventPublisher
from switchboard.voice_gateway.adapters.offline_agent import OfflineAgentProvider
from switchboard.voice_gateway.adapters.used_token_journal import UsedTokenJournal
from switchboard.voice_gateway.config import GatewaySettings
from switchboard.voice_gateway.domain.media_token import UsedMediaTokens
from switchboard.voice_gateway.ports.agent_config import AgentConfigSource, CachedAgentConfigSource
from switchboard.voice_gateway.ports.ai import AIProvider
from switchboard.voice_gateway.ports.clock import Clock, SystemClock
from switchboard.voice_gateway.ports.event_publisher import EventPublisher
from switchboard.voice_gateway.ports.recorder import CallRecorder
from switchboard.voice_gateway.ports.transcriber import Transcriber
from switchboard.voice_gateway.sandbox import SandboxCallee, SandboxCallRecorder
from switchboard.voice_gateway.sandbox.local_line import LocalCalleeLine
from switchboard.voice_gateway.session.admission import Admission
from switchboard.voice_gateway.session.call_session import SessionServices
from switchboard.voice_gateway.session.preopen import PreopenedSessions
from switchboard.voice_gateway.session.registry import SessionReaper, SessionRegistry
from switchboard.voice_gateway.session.stream_handler import MediaStreamHandler
from switchboard.voice_gateway.session.ticker import FrameTicker
from switchboard.voice_gateway.twilio.serializer import TwilioMediaSerializer
from switchboard.voice_gateway.twilio.signature import TwilioSignatureChecker
from switchboard.voice_gateway.webhook_handlers import TwilioWebhookHandlers

_log = get_logger(__name__)


@dataclass
class Gateway:
    """Everything one gateway process holds, built once per app."""

    settings: Settings
    gateway_settings: GatewaySettings
    publisher: EventPublisher
    owns_publisher: bool
    configs: CachedAgentConfigSource
    services: SessionServices
    signatures: TwilioSignatureChecker
    webhooks: TwilioWebhookHandlers
    media_streams: MediaStreamHandler
    reaper: SessionReaper
    #: The simulated callees while telephony is the sandbox (docs/sandbox.md), else None.
    sandbox: SandboxCallee | None = None
    #: Provider sessions opened while the phone rings, waiting for their streams.
    preopened: PreopenedSessions | None = None
    #: Whether new calls are taken (not after SIGTERM), and the streams open.
    admission: Admission = field(default_factory=Admission)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    _closers: list[object] = field(default_factory=list)

    async def start(self) -> None:
        """Start the publisher, the frame ticker and the reaper."""
        if self.owns_publisher:
            await self.publisher.start()
        self.services.ticker.start()
        self._tasks.append(asyncio.create_task(self.reaper.run(), name="session-reaper"))
        if self.sandbox is not None:
            connect_local_line(LocalCalleeLine(self.sandbox, asyncio.get_running_loop()))

    async def stop(self) -> None:
        """End live calls (publishing their events), then stop everything."""
        if self.sandbox is not None:
            connect_local_line(None)
        await self.services.registry.end_all("shutdown")
        if self.preopened is not None:
            await self.preopened.close_all()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.services.ticker.stop()
        for closer in self._closers:
            aclose = getattr(closer, "aclose", None)
            if aclose is not None:
                with contextlib.suppress(OSError):
                    await aclose()
        if self.owns_publisher:
            await self.publisher.close()


def default_publisher(settings: Settings, gateway_settings: GatewaySettings) -> EventPublisher:
    """RabbitMQ with a spool when ``AMQP_URL`` is set, else the in-process bus."""
    if not settings.amqp_url:
        return InProcessEventPublisher()
    spool_dir = gateway_settings.event_spool_dir or settings.var_dir / "event-spool"
    return AmqpEventPublisher(
        settings.amqp_url, spool_dir, durable_queue=gateway_settings.event_queue or None
    )


def default_ai_provider(settings: Settings, gateway_settings: GatewaySettings) -> AIProvider:
    """Every provider this deployment has a key for (the offline agent needs none), each call
    routed to the one its business's agent settings name. The default is ``AI_PROVIDER``;
    unset, or naming a provider without its key (a warning), OpenAI with a key, else offline.
    """
    providers: dict[str, AIProvider] = {
        "offline": OfflineAgentProvider(gateway_settings.offline_end_of_speech_ms)
    }
    # Each provider's library is imported only when the deployment has its key: openai takes
    # half a second to import and google-genai more, a third of a gateway's start.
    if settings.openai_api_key:
        from switchboard.voice_gateway.adapters.openai_realtime import OpenAIRealtimeProvider

        providers["openai"] = OpenAIRealtimeProvider(
            settings.openai_api_key, settings.openai_base_url, gateway_settings.openai_model
        )
    if settings.gemini_api_key:
        from switchboard.voice_gateway.adapters.gemini_live import GeminiLiveProvider

        providers["gemini"] = GeminiLiveProvider(
            settings.gemini_api_key, settings.gemini_base_url, gateway_settings.gemini_model
        )
    fallback = "openai" if "openai" in providers else "offline"
    default = settings.ai_provider or fallback
    if default not in providers:
        _log.warning("ai_provider_without_key", provider=default, using=fallback)
        default = fallback
    return ProviderRouter(providers, default)


def used_media_tokens(settings: Settings, closers: list[object]) -> UsedMediaTokens:
    """The single-use register of media tokens, remembered under VAR_DIR across restarts."""
    journal = UsedTokenJournal(settings.var_dir / "used-media-tokens")
    closers.append(journal)
    return UsedMediaTokens(journal.load(time.time()), journal.record)


def build_gateway(
    settings: Settings,
    gateway_settings: GatewaySettings,
    *,
    event_publisher: EventPublisher | None = None,
    agent_config_source: AgentConfigSource | None = None,
    ai_factory: AIProvider | None = None,
    transcriber: Transcriber | None = None,
    recorder: CallRecorder | None = None,
    clock: Clock | None = None,
) -> Gateway:
    """Build the gateway's object graph; a port given here replaces its default adapter."""
    clock = clock or SystemClock()
    closers: list[object] = []
    owns_publisher = event_publisher is None
    publisher = event_publisher or default_publisher(settings, gateway_settings)
    if agent_config_source is None:
        agent_config_source = ApiAgentConfigSource(
            settings.api_base_url,
            settings.internal_api_token,
            gateway_settings.agent_config_timeout_s,
        )
        closers.append(agent_config_source)
    configs = CachedAgentConfigSource(
        agent_config_source, gateway_settings.agent_config_ttl_s, clock.now
    )
    if transcriber is None and gateway_settings.google_stt_enabled:
        # Imported only when enabled: grpc and the Speech client are a tenth of a start.
        from switchboard.voice_gateway.adapters.google_stt import GoogleStreamingTranscriber

        transcriber = GoogleStreamingTranscriber(
            gateway_settings.google_stt_endpoint, insecure=gateway_settings.google_stt_insecure
        )
    registry = SessionRegistry()
    sandbox = None
    if telephony_mode(settings) == "sandbox":
        sandbox = SandboxCallee(
            settings.twilio_account_sid, settings.twilio_auth_token, live_session=registry.get
        )
        closers.append(sandbox)
        recorder = recorder or SandboxCallRecorder(sandbox)
    if recorder is None:  # aiohttp, which Twilio's async client uses, imported only here
        from switchboard.voice_gateway.adapters.twilio_recorder import TwilioCallRecorder

        recorder = TwilioCallRecorder(
            settings.twilio_account_sid, settings.twilio_auth_token, settings.twilio_api_base_url
        )
        closers.append(recorder)
    services = SessionServices(
        settings=gateway_settings,
        public_base_url=settings.public_base_url,
        publisher=publisher,
        ai=ai_factory or default_ai_provider(settings, gateway_settings),
        transcriber=transcriber,
        recorder=recorder,
        clock=clock,
        ticker=FrameTicker(gateway_settings.frames_per_write),
        registry=registry,
        serializer=TwilioMediaSerializer(),
    )
    preopened = PreopenedSessions(services.ai, gateway_settings.preopen_timeout_s)
    return Gateway(
        settings=settings,
        gateway_settings=gateway_settings,
        publisher=publisher,
        owns_publisher=owns_publisher,
        configs=configs,
        services=services,
        signatures=TwilioSignatureChecker(
            settings.twilio_auth_token,
            settings.public_base_url,
            gateway_settings.stream_base_url,
        ),
        webhooks=TwilioWebhookHandlers(
            configs,
            publisher,
            public_base_url=settings.public_base_url,
            stream_base_url=gateway_settings.stream_base_url,
            media_token_secret=settings.media_token_secret,
            media_token_ttl_s=gateway_settings.media_token_ttl_s,
            preopen=preopened,
        ),
        media_streams=MediaStreamHandler(
            services,
            configs,
            settings.media_token_secret,
            used_media_tokens(settings, closers),
            preopened=preopened,
        ),
        reaper=SessionReaper(
            registry,
            clock,
            timeout_s=gateway_settings.dead_socket_timeout_s,
            interval_s=gateway_settings.reaper_interval_s,
        ),
        sandbox=sandbox,
        preopened=preopened,
        _closers=closers,
    )
