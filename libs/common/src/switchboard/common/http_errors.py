"""The error body every HTTP service answers: ``{"code": ..., "detail": ...}`` (docs/api.md).

``code`` is machine-readable and fixed per status (``ERROR_CODES``), ``detail`` is for people.
A 422's ``detail`` stays FastAPI's list of field errors (``loc``, ``msg``, ``type``,
``input``), written as ASCII JSON: the input it echoes may hold what UTF-8 cannot encode (a
lone surrogate), and is cut to ``MAX_ECHOED_INPUT`` characters; unreadable JSON is located by
line and column. A body that cannot be read at all is a 400 that says why (not UTF-8, nested
too deeply). An unexpected error is a 500 logged by its type, never its text.

The API (``switchboard.api.errors``, which adds its domain errors, the database away and the
OpenAPI description) and the voice gateway both install these handlers.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Literal

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException
from starlette.types import Send

from switchboard.common.logging import get_logger

log = get_logger(__name__)

#: The machine-readable ``code`` of an error; one per HTTP status (``ERROR_CODES``).
ErrorCode = Literal[
    "bad_request",
    "unauthorized",
    "forbidden",
    "not_found",
    "method_not_allowed",
    "request_timeout",
    "conflict",
    "payload_too_large",
    "unsupported_media_type",
    "range_not_satisfiable",
    "validation_error",
    "rate_limited",
    "client_error",
    "internal_error",
    "unavailable",
    "server_error",
]

#: The ``code`` of an error body, by HTTP status.
ERROR_CODES: dict[int, ErrorCode] = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    408: "request_timeout",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    416: "range_not_satisfiable",
    422: "validation_error",
    429: "rate_limited",
    500: "internal_error",
    503: "unavailable",
}
INTERNAL_ERROR_DETAIL = "internal server error"
#: A 422 echoes at most this many characters of a refused input.
MAX_ECHOED_INPUT = 200
#: FastAPI's ``detail`` of any body it could not read, whatever went wrong.
UNREADABLE = "There was an error parsing the body"


def incomplete_body(received: int, timeout_s: float) -> str:
    """The ``detail`` of a 408: a request body whose next bytes did not come in time."""
    return (
        f"request body incomplete: no more of it came in {timeout_s:g} s (after {received} "
        "bytes); send the whole body its Content-Length announces"
    )


def error_code(status: int) -> ErrorCode:
    """The machine-readable code of an error answered with ``status``."""
    return ERROR_CODES.get(status, "client_error" if status < 500 else "server_error")


def error_body(status: int, detail: object) -> dict[str, object]:
    """The body of every error: its ``code`` and a ``detail`` for people."""
    return {"code": error_code(status), "detail": detail}


def error_response(
    status: int, detail: object, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    """An error answer with its code."""
    return JSONResponse(error_body(status, detail), status_code=status, headers=headers)


async def send_error(
    send: Send, status: int, detail: object, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    """An error answer from plain ASGI, the same body as the app's handlers give."""
    body = json.dumps(error_body(status, detail)).encode()
    head = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    await send({"type": "http.response.start", "status": status, "headers": head + (headers or [])})
    await send({"type": "http.response.body", "body": body})


async def http_error(_: Request, exc: Exception) -> Response:
    """Starlette's own (unknown path 404, wrong method 405) and every ``HTTPException`` raised
    by a route or a dependency (401, 403, ...), with the headers they carry."""
    assert isinstance(exc, HTTPException)
    if exc.status_code in (204, 304):  # no body allowed
        return Response(status_code=exc.status_code, headers=exc.headers)
    detail = exc.detail
    if exc.status_code == 400 and detail == UNREADABLE:  # raised from what went wrong
        detail = unreadable_body(exc.__cause__)
    return error_response(exc.status_code, detail, headers=exc.headers)


def unreadable_body(cause: BaseException | None) -> str:
    """What was wrong with a body FastAPI could not read (it says only ``UNREADABLE``)."""
    if isinstance(cause, UnicodeDecodeError):
        return f"the body is not UTF-8: {cause.reason} at byte {cause.start}"
    if isinstance(cause, RecursionError):
        return "the JSON body is nested too deeply to be read"
    return "the body could not be read"


def _echoed(value: object) -> object:
    # The input a field error echoes, cut to ``MAX_ECHOED_INPUT`` characters (of its text, or
    # of its JSON): a 50 MB field is not sent back.
    text = value if isinstance(value, str) else json.dumps(value)
    if len(text) <= MAX_ECHOED_INPUT:
        return value
    return f"{text[:MAX_ECHOED_INPUT]}... [{len(text)} characters, cut]"


def _where_not_json(error: dict[str, Any], body: object) -> dict[str, Any]:
    # FastAPI says "JSON decode error" at a character offset; say what and at which line and
    # column, as a person reads the body.
    position = error["loc"][-1]
    if not isinstance(body, str) or not isinstance(position, int):
        return error
    line = body.count("\n", 0, position) + 1
    column = position - body.rfind("\n", 0, position)
    what = (error.get("ctx") or {}).get("error", "cannot be read")
    return {**error, "msg": f"not JSON: {what} at line {line} column {column}"}


def _field_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    """FastAPI's list of field errors, as a 422 answers it: long inputs cut, unreadable JSON
    located by line and column."""
    errors: list[dict[str, Any]] = jsonable_encoder(exc.errors())
    for index, error in enumerate(errors):
        if error.get("type") == "json_invalid":
            errors[index] = error = _where_not_json(error, exc.body)
        if "input" in error:
            error["input"] = _echoed(error["input"])
    return errors


async def invalid_request(_: Request, exc: Exception) -> Response:
    """A 422 with FastAPI's list of field errors under ``detail`` (``_field_errors``)."""
    assert isinstance(exc, RequestValidationError)
    errors = _field_errors(exc)
    try:
        body = json.dumps(error_body(422, errors), allow_nan=False)
    except ValueError:  # NaN or Infinity in the input (Python's JSON reads them): not echoed
        errors = [{k: v for k, v in error.items() if k != "input"} for error in errors]
        body = json.dumps(error_body(422, errors))
    return Response(body, status_code=422, media_type="application/json")


def install_http_error_handlers(app: FastAPI, service: str) -> None:
    """Every ``HTTPException`` and 422 in the error body, anything else a logged 500
    (``service`` names the log line: ``gateway.unhandled_error``)."""

    async def unhandled(request: Request, exc: Exception) -> JSONResponse:
        # Its type, never its text (which may quote the request).
        log.error(f"{service}.unhandled_error", path=request.url.path, error=type(exc).__name__)
        return error_response(500, INTERNAL_ERROR_DETAIL)

    app.add_exception_handler(Exception, unhandled)
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(RequestValidationError, invalid_request)
