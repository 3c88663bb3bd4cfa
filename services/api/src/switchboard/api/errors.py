"""Errors as HTTP answers: not found is 404, a conflict 409, bad input or a bad reference 422,
the database out of reach 503 (with ``Retry-After``), anything else 500.

Every error body is ``{"code": ..., "detail": ...}``: ``code`` is machine-readable and fixed
per status (``ERROR_CODES``: ``not_found``, ``conflict``, ``validation_error``, ...), so a
client branches on it rather than on the wording of ``detail``, which is for people. A 422's
``detail`` stays FastAPI's list of field errors (``loc``, ``msg``, ``type``, ``input``),
written as ASCII JSON: the input it echoes may hold what UTF-8 cannot encode (a lone
surrogate), and is cut to ``MAX_ECHOED_INPUT`` characters; a body that cannot be read at all
is a 400 that says why (not UTF-8, nested too deeply). The body, the table of codes and the
handlers of ``HTTPException`` and of a 422 are ``switchboard.common.http_errors`` (the voice
gateway answers with them too); this module adds the domain errors, the database away and the
OpenAPI description, which says the same
for every operation (``_document_errors``).

PostgreSQL restarting, refusing connections or not handing one over in time is no fault of
the request: the caller is told to come back (Twilio retries a webhook answered 503), never
given a 500, and never kept waiting longer than the engine's connect and pool timeouts
(``switchboard.common.db.engine``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import psycopg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy import exc as sa
from starlette.exceptions import HTTPException
from starlette.types import Send

from switchboard.common.errors import ConflictError, InvalidReferenceError, NotFoundError
from switchboard.common.http_errors import (
    INTERNAL_ERROR_DETAIL,
    error_code,
    error_response,
    http_error,
    invalid_request,
    send_error,
)
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
    return error_response(503, UNAVAILABLE_DETAIL, headers=_HEADERS)


async def send_unavailable(send: Send) -> None:
    """The same answer from plain ASGI (the WhatsApp webhook's fast path)."""
    await send_error(send, 503, UNAVAILABLE_DETAIL, [(b"retry-after", str(RETRY_AFTER_S).encode())])


def log_unavailable(path: str, exc: BaseException) -> None:
    """One warning per refused request: the error's type, never its text (it names hosts)."""
    log.warning("api.database_unavailable", path=path, error=type(exc).__name__)


async def _not_found(_: Request, exc: Exception) -> JSONResponse:
    return error_response(404, str(exc))


async def _conflict(_: Request, exc: Exception) -> JSONResponse:
    return error_response(409, str(exc))


async def _invalid_reference(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, InvalidReferenceError)
    detail = [{"loc": ["body", exc.field], "msg": str(exc), "type": exc.kind}]
    return error_response(422, detail)


async def _unavailable(request: Request, exc: Exception) -> JSONResponse:
    log_unavailable(request.url.path, exc)
    return unavailable_response()


async def _unhandled(request: Request, exc: Exception) -> JSONResponse:
    # Also what reaches the outermost handler from middleware, or wrapped in another error.
    if database_unavailable(exc):
        return await _unavailable(request, exc)
    log.error("api.unhandled_error", path=request.url.path, error=type(exc).__name__)
    return error_response(500, INTERNAL_ERROR_DETAIL)


def install_error_handlers(app: FastAPI) -> None:
    """Register the error handlers on ``app``: domain errors, the database away, the rest;
    and document the error bodies in its OpenAPI description."""
    app.add_exception_handler(Exception, _unhandled)
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(RequestValidationError, invalid_request)
    app.add_exception_handler(NotFoundError, _not_found)
    app.add_exception_handler(ConflictError, _conflict)
    app.add_exception_handler(InvalidReferenceError, _invalid_reference)
    for error in UNAVAILABLE_ERRORS:
        app.add_exception_handler(error, _unavailable)
    _document_errors(app)


#: What an example of each error says.
_EXAMPLE_DETAIL: dict[int, object] = {
    400: "the body is not UTF-8: invalid start byte at byte 12",
    401: "invalid or revoked API key",
    403: "admin API key required",
    404: "lead 42 not found",
    409: "a lead with phone +15551234567 already exists",
    413: "request body larger than 2097152 bytes",
    415: "not a form body",
    422: [
        {
            "loc": ["body", "status"],
            "msg": "Input should be 'new', 'contacted', 'interested', 'qualified', "
            "'not_interested', 'won' or 'lost'",
            "type": "literal_error",
        }
    ],
    429: "too many requests; try again shortly",
    500: INTERNAL_ERROR_DETAIL,
    503: UNAVAILABLE_DETAIL,
}
_ERROR_REF = "#/components/schemas/ErrorResponse"
#: FastAPI's own schema of a 422, which our handler's body replaces.
_FASTAPI_422 = "#/components/schemas/HTTPValidationError"
#: What any operation may answer besides what it declares.
_ALWAYS: dict[str, dict[str, Any]] = {
    "500": {"description": "An unexpected error (logged by its type, never its text)"},
    "503": {
        "description": f"The database is unavailable; retry after Retry-After ({RETRY_AFTER_S}) s",
        "headers": {"Retry-After": {"schema": {"type": "integer"}}},
    },
}


#: What any operation with a body may answer (``api.body_limit``).
_TOO_LARGE = {
    "description": "The body is over its limit (API_MAX_BODY_BYTES; a file upload "
    "API_MAX_UPLOAD_BYTES), refused unread when its Content-Length says so"
}


def _document_errors(app: FastAPI) -> None:
    """Every operation's 4xx/5xx answers are ``ErrorResponse`` with an example of its code."""
    build: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            _describe_errors(build())  # build() keeps the schema in app.openapi_schema
        assert app.openapi_schema is not None
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented extension point


#: What any operation with a JSON body may answer (``api.json_bodies``).
_NOT_JSON = {"description": "A body sent without Content-Type: application/json"}
_NOT_JSON_EXAMPLE = "the body must be application/json (sent with Content-Type 'text/plain')"
#: What an upload may answer (the same middleware).
_NOT_AN_UPLOAD = {"description": "A body sent without Content-Type: multipart/form-data"}
_NOT_AN_UPLOAD_EXAMPLE = (
    "the body must be multipart/form-data with a 'file' part "
    "(sent with Content-Type 'application/json')"
)


def _describe_errors(schema: dict[str, Any]) -> None:
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            for status, extra in _ALWAYS.items():
                if status == "503" and "health" in operation.get("tags", ()):
                    continue  # liveness and metrics need no database; /ready has its own 503
                responses.setdefault(status, {**extra, "content": _error_content(int(status))})
            if "requestBody" in operation:
                responses.setdefault("413", {**_TOO_LARGE, "content": _error_content(413)})
            for status, response in responses.items():
                if status.isdigit() and int(status) >= 400:
                    _use_error_body(int(status), response)
            body_types = operation.get("requestBody", {}).get("content", {})
            if "application/json" in body_types:
                not_json = _error_content(415, _NOT_JSON_EXAMPLE)
                responses.setdefault("415", {**_NOT_JSON, "content": not_json})
            elif "multipart/form-data" in body_types:
                not_upload = _error_content(415, _NOT_AN_UPLOAD_EXAMPLE)
                responses.setdefault("415", {**_NOT_AN_UPLOAD, "content": not_upload})
    components = schema.get("components", {}).get("schemas", {})
    for unused in ("HTTPValidationError", "ValidationError"):  # FieldError says it instead
        components.pop(unused, None)


def _use_error_body(status: int, response: dict[str, Any]) -> None:
    # Only where the body is ours: /ready's 503, say, is its own report, not an error body.
    content = response.get("content", {}).get("application/json", {})
    if content.get("schema", {}).get("$ref") in (_ERROR_REF, _FASTAPI_422):
        response["content"]["application/json"] = _error_content(status)["application/json"]


def _error_content(status: int, detail: object = None) -> dict[str, Any]:
    detail = _EXAMPLE_DETAIL.get(status, "...") if detail is None else detail
    example = {"code": error_code(status), "detail": detail}
    return {"application/json": {"schema": {"$ref": _ERROR_REF}, "example": example}}
