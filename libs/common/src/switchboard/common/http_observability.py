"""Request ids, the access log and HTTP metrics, as one pure ASGI middleware.

Each HTTP request gets an id: the caller's ``X-Request-ID`` when it is a plausible id (a
proxy's or a client's, so one id follows a request across services), a fresh one otherwise.
It is returned in the response, bound in structlog's context variables (every line logged
while the request is served carries it) and opens a ``log_scope`` in which a route's thread
can bind what it learns later (the API key's ``business_id``). When the response is done,
one ``http.request`` line says the method, the route template, the status and the duration,
and ``switchboard_http_request_duration_seconds`` records the duration by service, method,
route and status.

Why not asgi-correlation-id: it would only do the first of these four things (some fifteen
lines here), for the price of a second middleware layer around every request (the WhatsApp
webhook is the API's hot path) and of a second context variable for the id beside structlog's;
its default validator refuses the non-UUID ids proxies send (AWS, Heroku) unless replaced, and
it carries ids into Celery tasks, not Dramatiq jobs (``prepare_job`` does that here, from
``logging.correlation_fields``).
"""

from __future__ import annotations

import re
import time

from prometheus_client import Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from switchboard.common.log_context import correlated, log_scope
from switchboard.common.logging import get_logger
from switchboard.common.metric_children import Children
from switchboard.common.random_ids import uuid4_hex

__all__ = [
    "HTTP_REQUEST_DURATION",
    "OTHER_METHOD",
    "REQUEST_ID_HEADER",
    "RequestObservability",
    "route_of",
]

REQUEST_ID_HEADER = "X-Request-ID"
_HEADER = REQUEST_ID_HEADER.lower().encode()
#: A caller's id is kept if it looks like one: no spaces, quotes or control characters (it
#: is echoed in a header and logged), and short.
_VALID_ID = re.compile(rb"[A-Za-z0-9._:+/=-]{1,128}")
#: Probes and scrapes: measured, but their lines only at debug level (every few seconds each).
_QUIET_PATHS = frozenset({"/health", "/ready", "/metrics"})
#: What ``route`` says of a request no route matched (a 404): never its path, which would make
#: a metric label per scanned URL.
UNMATCHED = "<unmatched>"
#: The methods our routes serve. Any other a client sends (a scanner's ``PROPFIND``, any token
#: where the HTTP parser accepts any) is ``OTHER``: one label value, not one per method.
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
OTHER_METHOD = "OTHER"

HTTP_REQUEST_DURATION = Histogram(
    "switchboard_http_request_duration_seconds",
    "HTTP requests by service, method, route template and status, and how long they took",
    ["service", "method", "route", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)

log = get_logger("switchboard.http")


def route_of(scope: Scope) -> str:
    """The template of the route that served a request (``/api/v1/leads/{lead_id}``)."""
    root = str(scope.get("root_path", ""))
    route = scope.get("route")
    template = getattr(route, "path_format", None) or getattr(route, "path", None)
    if isinstance(template, str):
        return root + template
    # A mounted app (static files) sets no route; the router recorded where it is mounted.
    return f"{root}/{{path}}" if root else UNMATCHED


def _request_id(scope: Scope) -> str:
    for name, value in scope.get("headers", ()):
        if name == _HEADER:
            if _VALID_ID.fullmatch(value):
                return str(value.decode("ascii"))
            break
    return uuid4_hex()


class RequestObservability:
    """ASGI middleware: request id in and out, access log line, duration histogram.

    ``service`` labels the metric (``api``, ``gateway``): several services in one process (the
    embedded mode) share the process's registry. ``route`` names the one route ``app`` serves
    when it is a bare ASGI app (the API's WhatsApp fast path), which sets no route to read.
    Websockets and lifespan pass untouched: a Media Stream lasts a call and logs its own lines
    with the call's ``call_sid``.
    """

    def __init__(self, app: ASGIApp, service: str, route: str | None = None) -> None:
        self.app = app
        self.service = service
        self.route = route
        #: Bounded: routes are templates, methods and statuses few.
        self._durations = Children(HTTP_REQUEST_DURATION)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _request_id(scope)
        header = (_HEADER, request_id.encode("ascii"))
        status = 500  # what the server answers if the app fails before starting a response

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        started = time.perf_counter()
        with correlated(request_id=request_id), log_scope():
            try:
                await self.app(scope, receive, send_with_id)
            finally:
                # Still inside the scope: the line carries what the route bound in it.
                self._record(scope, status, time.perf_counter() - started)

    def _record(self, scope: Scope, status: int, elapsed_s: float) -> None:
        route = self.route or route_of(scope)
        method = scope.get("method", "")
        method = method if method in _METHODS else OTHER_METHOD
        self._durations(self.service, method, route, str(status)).observe(elapsed_s)
        quiet = scope.get("path") in _QUIET_PATHS and status < 500
        (log.debug if quiet else log.info)(
            "http.request",
            service=self.service,
            method=method,
            route=route,
            status=status,
            duration_ms=round(elapsed_s * 1000, 1),
        )
