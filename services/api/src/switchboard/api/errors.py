"""Errors as HTTP answers: not found is 404, a conflict 409, bad input or a bad reference 422,
the database out of reach 503 (with ``Retry-After``), anything else 500.

A 422 is FastAPI's list of field errors (``loc``, ``msg``, ``type``, ``input``), written as
ASCII JSON: the input it echoes may hold what UTF-8 cannot encode (a lone surrogate).

PostgreSQL restarting, refusing connections or not handing one over in time is no fault of
the request: the caller is told to come back (Twilio retries a webhook answered 503), never
given a 500, and never kept waiting longer than the engine's connect and pool timeouts
(``switchboard.common.db.engine``).
"""

from __future__ import annotations

import json

import psycopg
from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy import exc as sa
from starlette.types import Send

from switchboard.common.errors import ConflictError, InvalidReferenceError, NotFoundError
from switchboard.common.logging import get_logger

log = get_logger(__name__)

#: Seconds a client is asked to wait before trying again while the database is away.
RETRY_AFTER_S = 5
UNAVAILABLE_DETAIL = "the database is unavailable; try again shortly"
#: What the database being out of reach raises: a refused or lost connection, a server
#: shutting down or starting up, a connect or statement timeout (psycopg's
#: ``OperationalError``, which the async pool's ``PoolTimeout`` is too, and SQLAlchemy's
#: wrapper), a connection already closed (``InterfaceError``), no pooled connection in time.
UNAVAILABLE_ERRORS: tuple[type[Exception], ...] = (
    psycopg.OperationalError,
    psycopg.InterfaceError,
    sa.OperationalError,
    sa.InterfaceError,
    sa.TimeoutError,
)
_HEADERS = {"Retry-After": str(RETRY_AFTER_S)}


def database_unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` (or what it was raised from) says the database is out of reach."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, UNAVAILABLE_ERRORS) or (
            isinstance(current, sa.DBAPIError) and current.connection_invalidated
        ):
            return True
        current = current.__cause__ or current.__context__
    return False


def unavailable_response() -> JSONResponse:
    """503 with ``Retry-After`` and a JSON ``detail``."""
    return JSONResponse({"detail": UNAVAILABLE_DETAIL}, status_code=503, headers=_HEADERS)


async def send_unavailable(send: Send) -> None:
    """The same answer from plain ASGI (the WhatsApp webhook's fast path)."""
    body = json.dumps({"detail": UNAVAILABLE_DETAIL}).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", b"%d" % len(body)),
        (b"retry-after", str(RETRY_AFTER_S).encode()),
    ]
    await send({"type": "http.response.start", "status": 503, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def log_unavailable(path: str, exc: BaseException) -> None:
    """One warning per refused request: the error's type, never its text (it names hosts)."""
    log.warning("api.database_unavailable", path=path, error=type(exc).__name__)


async def _invalid_request(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = jsonable_encoder(exc.errors())
    try:
        body = json.dumps({"detail": errors}, allow_nan=False)
    except ValueError:  # NaN or Infinity in the input (Python's JSON reads them): not echoed
        errors = [{k: v for k, v in error.items() if k != "input"} for error in errors]
        body = json.dumps({"detail": errors})
    return Response(body, status_code=422, media_type="application/json")


async def _not_found(_: Request, exc: Exception) -> JSONResponse:
    return JSONResponse({"detail": str(exc)}, status_code=404)


async def _conflict(_: Request, exc: Exception) -> JSONResponse:
    return JSONResponse({"detail": str(exc)}, status_code=409)


async def _invalid_reference(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, InvalidReferenceError)
    detail = [{"loc": ["body", exc.field], "msg": str(exc), "type": "value_error"}]
    return JSONResponse({"detail": detail}, status_code=422)


async def _unavailable(request: Request, exc: Exception) -> JSONResponse:
    log_unavailable(request.url.path, exc)
    return unavailable_response()


async def _unhandled(request: Request, exc: Exception) -> JSONResponse:
    # Also what reaches the outermost handler from middleware, or wrapped in another error.
    if database_unavailable(exc):
        return await _unavailable(request, exc)
    log.error("api.unhandled_error", path=request.url.path, error=type(exc).__name__)
    return JSONResponse({"detail": "internal server error"}, status_code=500)


def install_error_handlers(app: FastAPI) -> None:
    """Register the error handlers on ``app``: domain errors, the database away, the rest."""
    app.add_exception_handler(Exception, _unhandled)
    app.add_exception_handler(RequestValidationError, _invalid_request)
    app.add_exception_handler(NotFoundError, _not_found)
    app.add_exception_handler(ConflictError, _conflict)
    app.add_exception_handler(InvalidReferenceError, _invalid_reference)
    for error in UNAVAILABLE_ERRORS:
        app.add_exception_handler(error, _unavailable)
