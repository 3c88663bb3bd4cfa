"""The gateway's FastAPI app: ``create_app`` wires it, uvicorn serves it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from switchboard.common.http_errors import install_http_error_handlers
from switchboard.common.http_observability import RequestObservability
from switchboard.common.relative_redirects import RelativeRedirects
from switchboard.common.settings import Settings, get_settings
from switchboard.voice_gateway.bootstrap import build_gateway
from switchboard.voice_gateway.config import GatewaySettings
from switchboard.voice_gateway.entrypoints import media_stream, ops, sandbox, webhooks
from switchboard.voice_gateway.ports.agent_config import AgentConfigSource
from switchboard.voice_gateway.ports.ai import AIProvider
from switchboard.voice_gateway.ports.clock import Clock
from switchboard.voice_gateway.ports.event_publisher import EventPublisher
from switchboard.voice_gateway.ports.recorder import CallRecorder
from switchboard.voice_gateway.ports.transcriber import Transcriber
from switchboard.voice_gateway.session.warm_up import warm_up_call_path


def create_app(
    settings: Settings | None = None,
    *,
    gateway_settings: GatewaySettings | None = None,
    event_publisher: EventPublisher | None = None,
    agent_config_source: AgentConfigSource | None = None,
    ai_factory: AIProvider | None = None,
    transcriber: Transcriber | None = None,
    recorder: CallRecorder | None = None,
    clock: Clock | None = None,
    warm_up: bool = True,
) -> FastAPI:
    """The voice gateway app. Every port left as None gets its real adapter:

    events → RabbitMQ with spool (``AMQP_URL`` set) or the in-process bus; agent configs →
    the API's internal REST; AI → OpenAI Realtime (key set) or the offline agent;
    transcriber → Google STT if ``GATEWAY__GOOGLE_STT_ENABLED``; recorder → Twilio REST.
    ``gateway_settings`` left as None are read from the ``GATEWAY__*`` variables.
    An injected ``event_publisher`` is started and closed by whoever made it.

    ``warm_up`` readies the call path before the first call (``session/warm_up.py``); off
    only for the latency benchmark's baseline.
    """
    settings = settings or get_settings()
    gateway = build_gateway(
        settings,
        gateway_settings or GatewaySettings(),
        event_publisher=event_publisher,
        agent_config_source=agent_config_source,
        ai_factory=ai_factory,
        transcriber=transcriber,
        recorder=recorder,
        clock=clock,
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await gateway.start()
        if warm_up:
            await warm_up_call_path(gateway.services)
        try:
            yield
        finally:
            await gateway.stop()

    app = FastAPI(title="Switchboard voice gateway", lifespan=lifespan)
    app.state.gateway = gateway
    install_http_error_handlers(app, "gateway")  # {"code", "detail"}, as the API answers
    webhooks.install_webhook_errors(app)  # a form field Twilio never sends: 400
    app.add_middleware(RequestObservability, service="gateway")  # request id, access log, metrics
    app.add_middleware(RelativeRedirects)  # a redirect here names a path, never the Host
    app.include_router(webhooks.router)
    app.include_router(media_stream.router)
    app.include_router(ops.router)
    app.include_router(sandbox.router)
    return app
