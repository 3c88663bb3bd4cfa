"""HTTP pieces every service exposes: ``/health``, ``/ready`` and ``/metrics``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from switchboard.common.health import (
    broker_ready,
    database_ready,
    schema_problem,
    threads_by_name,
)
from switchboard.common.logging import get_logger
from switchboard.common.metrics_access import CHALLENGE, metrics_allowed, refused_body
from switchboard.common.settings import Settings

log = get_logger(__name__)
ReadinessCheck = Callable[[], Awaitable[bool]]


def _source_name(collector: Collector) -> str:
    """The ``source`` label of a collector's figures: its ``source`` attribute, else its class."""
    return str(getattr(collector, "source", type(collector).__name__))


def _first_line(exc: BaseException) -> str:
    """The error's type and the first line of its cause (a driver's message without
    SQLAlchemy's statement and parameters)."""
    cause = getattr(exc, "orig", None) or exc
    lines = str(cause).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0] if lines else ''}"[:300]


class _WithExtras:
    """The process's default registry plus collectors only this service exposes.

    A collector that fails (the ledger's figures while PostgreSQL is away) leaves its figures
    out of this scrape, not the whole scrape: the process's own figures (HTTP requests and
    their 5xx, the scheduler's role) are what an operator needs during that outage.
    ``switchboard_metrics_source_up`` says, per source, whether its figures were read.
    """

    def __init__(self, extras: Iterable[Collector]) -> None:
        self.extras = list(extras)

    def collect(self) -> Iterator[Metric]:
        yield from REGISTRY.collect()
        if not self.extras:
            return
        up = GaugeMetricFamily(
            "switchboard_metrics_source_up",
            "1 when this scrape read the source's figures, 0 when reading them failed "
            "(then they are left out)",
            labels=["source"],
        )
        for collector in self.extras:
            try:
                figures = list(collector.collect())
            except Exception as exc:  # any failure: the other figures are still worth having
                log.warning(
                    "metrics.source_failed", source=_source_name(collector), error=_first_line(exc)
                )
                up.add_metric([_source_name(collector)], 0)
                continue
            up.add_metric([_source_name(collector)], 1)
            yield from figures
        yield up


def health_router(
    service: str,
    settings: Settings,
    extra_checks: dict[str, ReadinessCheck] | None = None,
    extra_collectors: Iterable[Collector] = (),
    details: Callable[[], Mapping[str, object]] | None = None,
) -> APIRouter:
    """Routes for liveness (with threads by name), readiness and Prometheus metrics.

    Readiness checks the database, its schema's revision and the broker unless
    ``extra_checks`` replaces them (the gateway, which has no database, passes its own).
    ``details`` adds what the service reports of itself to ``/health`` (the scheduler: leader
    or follower, its schedules).
    """
    router = APIRouter(tags=["health"])
    registry = _WithExtras(extra_collectors)

    async def _database() -> bool:
        return await run_in_threadpool(database_ready)

    async def _broker() -> bool:
        return await broker_ready(settings)

    checks: dict[str, ReadinessCheck] = (
        extra_checks if extra_checks is not None else {"database": _database, "broker": _broker}
    )

    @router.get("/health")
    def health() -> dict[str, object]:
        """The process is alive; threads by name show what runs in threads here."""
        own = dict(details()) if details is not None else {}
        return {"status": "ok", "service": service, "threads": threads_by_name(), **own}

    @router.get(
        "/ready",
        responses={503: {"description": "a dependency is unreachable, or the schema is behind"}},
    )
    async def ready() -> JSONResponse:
        """200 only when every dependency answers and, with the database, its schema is not
        behind this code's (``problems`` says why)."""
        results = {name: await check() for name, check in checks.items()}
        problems: list[str] = []
        if extra_checks is None:
            problem = await run_in_threadpool(schema_problem) if results["database"] else None
            results["schema"] = results["database"] and problem is None
            problems += [problem] if problem else []
        ok = all(results.values())
        body = {"ready": ok, "checks": results, "problems": problems}
        return JSONResponse(body, status_code=200 if ok else 503)

    @router.get(
        "/metrics",
        response_class=Response,
        responses={401: {"description": "METRICS_TOKEN is set and was not shown"}},
    )
    def metrics(request: Request) -> Response:
        """Prometheus exposition (behind ``METRICS_TOKEN`` when it is set)."""
        if not metrics_allowed(request.headers.get("authorization"), settings.metrics_token):
            return JSONResponse(refused_body(), 401, headers={"WWW-Authenticate": CHALLENGE})
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return router
