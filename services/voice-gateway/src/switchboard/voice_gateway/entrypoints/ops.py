"""``/health``, ``/ready`` and ``/metrics``."""

from __future__ import annotations

import threading
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from switchboard.common.health import threads_by_name
from switchboard.common.metrics_access import CHALLENGE, metrics_allowed, refused_body
from switchboard.voice_gateway.entrypoints.dependencies import GatewayDep

router = APIRouter(tags=["ops"])


@router.get("/health")
async def health(gateway: GatewayDep) -> dict[str, Any]:
    """Liveness: the process answers; how many calls and threads it has."""
    return {
        "status": "ok",
        "service": "gateway",
        "active_calls": len(gateway.services.registry),
        "threads": threads_by_name(),
        "thread_count": threading.active_count(),
        "events_pending": gateway.publisher.pending,
    }


@router.get("/ready")
async def ready(gateway: GatewayDep) -> JSONResponse:
    """Readiness: the event broker is connected (or the in-process bus is used) and the
    process is not draining (after SIGTERM it takes no new call: 503 takes it out of the
    load balancer while its calls run on)."""
    connected = bool(getattr(gateway.publisher, "connected", True))
    draining = gateway.admission.draining
    body = {
        "ready": connected and not draining,
        "broker": "connected" if connected else "unreachable",
        "draining": draining,
        "open_streams": gateway.admission.open_streams,
    }
    return JSONResponse(body, status_code=200 if body["ready"] else 503)


@router.get("/metrics")
async def metrics(gateway: GatewayDep, request: Request) -> Response:
    """Prometheus metrics of this process (behind ``METRICS_TOKEN`` when it is set)."""
    token = gateway.settings.metrics_token
    if not metrics_allowed(request.headers.get("authorization"), token):
        return JSONResponse(refused_body(), 401, headers={"WWW-Authenticate": CHALLENGE})
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
