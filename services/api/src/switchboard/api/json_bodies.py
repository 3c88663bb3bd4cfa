"""A JSON operation's body is JSON: one sent as anything else is a 415 that says so.

FastAPI hands a body whose ``Content-Type`` is not JSON (``text/plain``, a form) to the
model as bytes, and a client is told in a 422 that its input "should be a valid dictionary",
with no word of the header that is wrong. This middleware answers such a request 415 (in the
error body of ``errors``) naming the ``Content-Type`` it expects, when the route first asks
for a body that is not empty. It sits outside ``credentials_first``, whose checks therefore
run first: a request without a key is still a 401. Routes that read a form or a file upload
(the console's forms, the recording uploads, the Twilio webhooks) are left as they are.
"""

from __future__ import annotations

from fastapi import params
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

JSON_TYPE = "application/json"


def expects_json(route: object) -> bool:
    """Whether FastAPI reads ``route``'s body as JSON (a body, and not a form or a file)."""
    if not isinstance(route, APIRoute) or route.body_field is None:
        return False
    return not isinstance(route.body_field.field_info, params.Form)  # File is a Form


def is_json(content_type: str) -> bool:
    """``application/json`` or ``application/<anything>+json``, parameters aside."""
    media = content_type.split(";", 1)[0].strip().lower()
    return media == JSON_TYPE or (media.startswith("application/") and media.endswith("+json"))


def _content_type(scope: Scope) -> str:
    for name, value in scope["headers"]:
        if name == b"content-type":
            return str(value.decode("latin-1"))
    return ""


def not_json(content_type: str) -> HTTPException:
    """The 415 of a body sent as ``content_type`` to an operation that takes JSON."""
    sent = f"Content-Type {content_type!r}" if content_type else "no Content-Type"
    return HTTPException(415, detail=f"the body must be {JSON_TYPE} (sent with {sent})")


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
                if sent and expects_json(scope.get("route")):
                    raise not_json(_content_type(scope))
            return message

        await self.app(scope, receive_json, send)
