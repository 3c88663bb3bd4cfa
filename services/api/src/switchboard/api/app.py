"""The API service's FastAPI application."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from functools import cached_property

from fastapi import Depends, FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send

from switchboard.api.adapters.whatsapp_inbound import open_postgres_inbound_store
from switchboard.api.body_limit import BodyLimit, BodyLimits
from switchboard.api.credentials_first import CredentialsFirst
from switchboard.api.dashboard.errors import install_console_errors
from switchboard.api.dashboard.headers import ConsoleHeaders
from switchboard.api.errors import install_error_handlers
from switchboard.api.events import CallEventConsumer
from switchboard.api.events.parking import ParkedEventsCollector
from switchboard.api.head_requests import HeadAsGet
from switchboard.api.idempotency import install_idempotency
from switchboard.api.json_bodies import JsonBodies, uploads_are_multipart
from switchboard.api.params import UNREADABLE_BODY
from switchboard.api.repeated_params import one_value_each
from switchboard.api.routes import (
    api_docs,
    api_keys,
    businesses,
    calls,
    conversations,
    dashboard,
    dashboard_calls,
    dashboard_conversations,
    dashboard_erasures,
    dashboard_jobs,
    dashboard_overview,
    dashboard_runs,
    erasures,
    internal,
    jobs,
    leads,
    outbound_runs,
    parked_events,
    push_subscriptions,
    reminders,
    root,
    sandbox,
    webhooks,
    whatsapp_status,
    whatsapp_webhook,
)
from switchboard.common.http_observability import RequestObservability
from switchboard.common.integrations.twilio_form import MAX_FORM_BYTES
from switchboard.common.integrations.twilio_rest import WHATSAPP_STATUS_PATH
from switchboard.common.jobs.async_outbox import AsyncOutboxPublisher
from switchboard.common.jobs.outbox import set_outbox_sink
from switchboard.common.logging import configure_logging, get_logger
from switchboard.common.metrics import LedgerCollector
from switchboard.common.relative_redirects import RelativeRedirects
from switchboard.common.settings import Settings, get_settings
from switchboard.common.startup_heap import tune_for_serving
from switchboard.common.web import health_router
from switchboard.domain.whatsapp.inbound_store import ThreadedInboundStore

log = get_logger(__name__)
SHUTDOWN_STEP_S = 15.0


async def _bounded(step: Awaitable[None], what: str) -> None:
    """One step of the shutdown, given at most ``SHUTDOWN_STEP_S``: a shutdown that hangs on
    a peer (a broker reconnecting, a stuck connection) would keep a deploy waiting. What a
    step leaves unpublished stays in the outbox for the next relay."""
    try:
        await asyncio.wait_for(step, SHUTDOWN_STEP_S)
    except TimeoutError:
        log.warning("api.shutdown_step_timed_out", step=what, timeout_s=SHUTDOWN_STEP_S)


class SwitchboardAPI(FastAPI):
    """The API app; the WhatsApp webhook, its hottest route, is served below the framework."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if whatsapp_webhook.is_webhook(scope):
            await self._observed_webhook(scope, receive, send)
            return
        await super().__call__(scope, receive, send)

    @cached_property
    def _observed_webhook(self) -> ASGIApp:
        # Below the framework, hence below its middleware: request id, access line, metric and
        # body limit added here, as for every other request.
        limited = BodyLimit(self._serve_webhook, self.state.body_limits)
        return RequestObservability(limited, "api", route=whatsapp_webhook.PATH)

    async def _serve_webhook(self, scope: Scope, receive: Receive, send: Send) -> None:
        await whatsapp_webhook.serve_webhook(self.state.whatsapp_inbound, scope, receive, send)


def body_limits(settings: Settings) -> BodyLimits:
    """The limits of the API's request bodies: the settings', the WhatsApp webhook's own."""
    return BodyLimits(
        body=settings.api_max_body_bytes,
        upload=settings.api_max_upload_bytes,
        by_path={
            whatsapp_webhook.PATH: whatsapp_webhook.MAX_BODY_BYTES,
            WHATSAPP_STATUS_PATH: MAX_FORM_BYTES,
        },
        read_timeout_s=settings.api_body_read_timeout_s,
    )


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the API application (routes, error handling, metrics)."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        publisher = None
        if settings.amqp_url and settings.effective_database_url.startswith("postgresql"):
            # Requests commit their outbox rows and move on; this task publishes them, and
            # another relays whatever is left (broker down), scheduler or no scheduler.
            publisher = AsyncOutboxPublisher(
                settings.amqp_url,
                settings.effective_database_url,
                relay_interval_s=settings.outbox_relay_interval_s,
                relay_min_age_s=settings.outbox_relay_min_age_s,
            )
            await publisher.start()
            set_outbox_sink(publisher.submit)
            app.state.whatsapp_inbound = await open_postgres_inbound_store(
                settings, publisher.submit
            )
        consumer = CallEventConsumer(settings)  # call events → follow-up jobs
        await consumer.start()
        tune_for_serving()  # the start's objects frozen, collections rare (startup_heap)
        try:
            yield
        finally:
            await _bounded(consumer.stop(), "call_event_consumer")
            await _bounded(app.state.whatsapp_inbound.close(), "whatsapp_inbound_store")
            app.state.whatsapp_inbound = ThreadedInboundStore()
            if publisher is not None:
                set_outbox_sink(None)
                await _bounded(publisher.stop(), "outbox_publisher")

    app = SwitchboardAPI(
        lifespan=lifespan,
        title="Switchboard API",
        version="0.1.0",
        description="Multi-tenant backend for AI phone and WhatsApp agents.",
        responses=UNREADABLE_BODY,
        # ?limit=5&limit=500 is a 422 on every route; an upload not sent as one, a 415
        dependencies=[Depends(one_value_each), Depends(uploads_are_multipart)],
        docs_url=None,  # served from vendored files by routes.api_docs, offline too
        redoc_url=None,
    )
    app.state.whatsapp_inbound = ThreadedInboundStore()  # until the lifespan picks another
    app.state.body_limits = body_limits(settings)
    install_error_handlers(app)  # domain errors, the database away (503), the rest (500)
    install_idempotency(app)  # Idempotency-Key on the POSTs that depend on Idempotent
    install_console_errors(app)  # the same errors as pages, for a console page
    app.add_middleware(HeadAsGet)  # innermost: HEAD served as the GET is, without its body
    app.add_middleware(CredentialsFirst)  # 401 before a body is read
    app.add_middleware(JsonBodies)  # then 415 for a body that is not JSON, to a JSON operation
    app.add_middleware(BodyLimit, limits=app.state.body_limits)  # 413 while it streams
    app.add_middleware(RequestObservability, service="api")  # request id, access log, metrics
    app.add_middleware(ConsoleHeaders)  # the console's security headers on all its answers
    app.add_middleware(RelativeRedirects)  # a redirect here names a path, never the Host
    collectors = [LedgerCollector(), ParkedEventsCollector()]
    app.include_router(health_router("api", settings, extra_collectors=collectors))
    for module in (
        root,  # / to the docs, the favicon
        api_docs,
        whatsapp_webhook,  # documents the webhook; the fast path serves it
        whatsapp_status,
        businesses,
        api_keys,
        leads,
        calls,
        conversations,
        webhooks,
        reminders,
        push_subscriptions,
        erasures,
        jobs,
        outbound_runs,
        internal,
        parked_events,
        sandbox,
        dashboard_runs,  # before dashboard: the console's runs and calls pages
        dashboard_calls,
        dashboard_conversations,
        dashboard_erasures,
        dashboard_overview,  # overview, queues, workers
        dashboard_jobs,
        dashboard,
    ):
        app.include_router(module.router)
    return app


def create_served_app() -> FastAPI:
    """The application of one ``switchboard api`` server process, its logging configured.

    With ``--workers N`` uvicorn spawns fresh interpreters that import this factory: the
    parent's logging (JSON, the scrubbing of private data) does not reach them otherwise.
    """
    settings = get_settings()
    configure_logging(settings.log_level, settings.log_json)
    return create_app(settings)
