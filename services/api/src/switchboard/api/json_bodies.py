"""A body is sent as its operation reads it: a JSON operation's as JSON, an upload's as
``multipart/form-data``; one sent as anything else is a 415 that says so.

FastAPI hands a body whose ``Content-Type`` is not JSON (``text/plain``, a form) to the
model as bytes, and a client is told in a 422 that its input "should be a valid dictionary",
with no word of the header that is wrong. This middleware answers such a request 415 (in the
error body of ``errors``) naming the ``Content-Type`` it expects, when the route first asks
for a body that is not empty. It sits outside ``credentials_first``, whose checks therefore
run first: a request without a key is still a 401.

An upload (a route with a ``File``: ``POST /api/v1/leads/import``, the console's run from a
CSV) sent anything but ``multipart/form-data`` (JSON, a bare CSV) was a 422 "missing file":
FastAPI reads no such body, so the middleware never sees it asked for, and the app-wide
dependency :func:`uploads_are_multipart` answers the 415 instead, naming the file part it
expects, after the route's credentials (a request without a key is still a 401). Routes that
read a plain form (the console's forms, the Twilio webhooks) are left as they are.
"""

from __future__ import annotations

from fastapi import Request, params
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from switchboard.api.credentials_first import checks_of

JSON_TYPE = "application/json"
UPLOAD_TYPE = "multipart/form-data"


def expected_type(route: object) -> str | None:
    """What ``route``'s body must be sent as: :data:`JSON_TYPE` (a body, not a form or a
    file), :data:`UPLOAD_TYPE` (a file among its fields), or None (no body, a plain form)."""
    if not isinstance(route, APIRoute) or route.body_field is None:
        return None
    info = route.body_field.field_info
    if isinstance(info, params.File):
        return UPLOAD_TYPE
    return None if isinstance(info, params.Form) else JSON_TYPE


def _media(content_type: str) -> str:
    return content_type.split(";", 1)[0].strip().lower()


def is_json(content_type: str) -> bool:
    """``application/json`` or ``application/<anything>+json``, parameters aside."""
    media = _media(content_type)
    return media == JSON_TYPE or (media.startswith("application/") and media.endswith("+json"))


def _content_type(scope: Scope) -> str:
    for name, value in scope["headers"]:
        if name == b"content-type":
            return str(value.decode("latin-1"))
    return ""


def _sent(content_type: str) -> str:
    return f"Content-Type {content_type!r}" if content_type else "no Content-Type"


def not_json(content_type: str) -> HTTPException:
    """The 415 of a body sent as ``content_type`` to an operation that takes JSON."""
    return HTTPException(
        415, detail=f"the body must be {JSON_TYPE} (sent with {_sent(content_type)})"
    )


def _file_parts(dependant: Dependant) -> list[str]:
    """The names of the file fields ``dependant`` and its dependencies read."""
    own = [f.alias for f in dependant.body_params if isinstance(f.field_info, params.File)]
    return own + [name for sub in dependant.dependencies for name in _file_parts(sub)]


def not_an_upload(route: APIRoute, content_type: str) -> HTTPException:
    """The 415 of a body sent as ``content_type`` to an operation that takes a file upload,
    naming its file parts."""
    parts = " and ".join(f"a {name!r} part" for name in _file_parts(route.dependant))
    detail = f"the body must be {UPLOAD_TYPE} with {parts} (sent with {_sent(content_type)})"
    return HTTPException(415, detail=detail)


def _has_body(headers: Headers) -> bool:
    return headers.get("content-length", "0").strip() != "0" or "transfer-encoding" in headers


async def uploads_are_multipart(request: Request) -> None:
    """Dependency (app-wide): an upload's non-empty body sent as anything but
    ``multipart/form-data`` is a 415, after the route's credentials."""
    route = request.scope.get("route")
    if expected_type(route) != UPLOAD_TYPE or not _has_body(request.headers):
        return
    content_type = request.headers.get("content-type", "")
    if _media(content_type) == UPLOAD_TYPE:
        return
    for check in checks_of(route):
        await check(request)
    assert isinstance(route, APIRoute)
    raise not_an_upload(route, content_type)


class JsonBodies:
    """ASGI middleware: a non-empty body that is not JSON, to a JSON operation, is a 415."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or is_json(_content_type(scope)):
            await self.app(scope, receive, send)
            return
        checked = False

        async def receive_json() -> Message:
            nonlocal checked
            message = await receive()
            if not checked and message["type"] == "http.request":
                checked = True
                sent = message.get("body") or message.get("more_body", False)
                if sent and expected_type(scope.get("route")) == JSON_TYPE:
                    raise not_json(_content_type(scope))
            return message

        await self.app(scope, receive_json, send)
