"""HEAD answered as GET is, without the body, on every route of the API.

Starlette's ``Route`` serves HEAD for a GET route; FastAPI's ``APIRoute`` does not, so a HEAD
on a page, ``/health`` or an API list was a 405 (a monitor checking that a page is up, a
client asking a file's size). Adding HEAD to each route would double the OpenAPI description;
this middleware, the one place, routes a HEAD as the GET and keeps its status and headers
(``Content-Length`` too) but never its body. A path with no GET stays a 405 (a POST-only
route's ``Allow`` says POST), as an unknown one stays a 404.

A streamed answer (a recording's audio, up to ~115 MB) is stopped at its first chunk: the
answer ends there, and the GET's stream is closed (``_Answered``) instead of being read to
its end and dropped.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class _Answered(Exception):
    """The HEAD's answer is complete; raised into a streaming GET to end its stream."""


class HeadAsGet:
    """ASGI middleware: a HEAD request is served as its GET, its answer sent without a body."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return

        async def without_body(message: Message) -> None:
            # The server reads the method as the answer goes out: a GET's would owe it the
            # body its Content-Length announces (uvicorn: "Response content shorter than
            # Content-Length", the connection dropped). The GET has answered: a HEAD again.
            scope["method"] = "HEAD"
            if message["type"] != "http.response.body":
                await send(message)
                return
            await send({"type": "http.response.body", "body": b"", "more_body": False})
            if message.get("more_body", False):
                raise _Answered  # a stream: its rest would be read only to be dropped

        # The scope itself (not a copy): the router records the route in it, which the
        # middleware around this one reads (the access line's route, credentials first);
        # they see the request as it came, a HEAD, once the GET has answered.
        scope["method"] = "GET"
        try:
            await self.app(scope, receive, without_body)
        except _Answered:
            pass
        finally:
            scope["method"] = "HEAD"
