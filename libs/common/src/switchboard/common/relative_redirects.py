"""A redirect to the server itself names a path, never a host: ``Location: /api/v1/leads?x=1``.

Starlette's router answers a path that only differs from a route's by a trailing slash
(``GET /api/v1/leads/``) with a 307 to the other form, and writes its ``Location`` as an
absolute URL built from the request's ``Host`` header and scheme: a client that sent
``Host: evil.example`` was sent to ``http://evil.example/api/v1/leads`` (a cache in front
would keep that for everyone), and behind a proxy that ends TLS an ``https`` request was sent
to ``http``. This middleware writes any ``Location`` that starts with the request's own origin,
as built from its scope, as the path and query alone (RFC 9110 allows a relative reference):
the client resolves it against the URL it used, whatever the ``Host``. The status (307, which
keeps the method and body) is left as it is. A path that would begin with ``//`` (read as
another host) starts ``/%2F`` instead, as Starlette writes such a path without a host.
"""

from __future__ import annotations

from starlette.datastructures import URL
from starlette.types import ASGIApp, Message, Receive, Scope, Send


def own_origin(scope: Scope) -> str:
    """``scheme://host[:port]`` as Starlette builds it for ``scope`` (its ``Host`` header,
    else the server's address), or ``""`` when it builds no host."""
    return str(URL(scope={**scope, "path": "", "query_string": b""}))


def relative(location: str, origin: str) -> str:
    """``location`` without ``origin`` when it starts with it, else as it is."""
    if not origin or not location.startswith(origin):
        return location
    rest = location[len(origin) :]
    if not rest.startswith(("/", "?")) and rest != "":
        return location  # another host that begins like this one (``host.evil``, ``host:81``)
    if rest.startswith("//"):
        return "/%2F" + rest[2:]
    return rest if rest.startswith("/") else "/" + rest


class RelativeRedirects:
    """ASGI middleware: a response's ``Location`` on the request's own origin is made relative."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_relative(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = message.get("headers") or []
                if any(name == b"location" for name, _ in headers):
                    origin = own_origin(scope)
                    message["headers"] = [
                        (name, relative(value.decode("latin-1"), origin).encode("latin-1"))
                        if name == b"location"
                        else (name, value)
                        for name, value in headers
                    ]
            await send(message)

        await self.app(scope, receive, send_relative)
