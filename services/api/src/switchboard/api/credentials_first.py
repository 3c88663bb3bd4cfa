"""Credentials before the body: a request to an operation that needs them, sent without valid
ones, is refused before its body is read, parsed or validated.

FastAPI reads and parses a body before it runs a route's dependencies, so an unauthenticated
100 MB upload would be read in full and a malformed one answered 422. This middleware runs the
route's authentication when the route first asks for the body (routing is done by then, and
a route that reads no body pays nothing): the API key's business, the admin key, the internal
token (``deps.BEFORE_BODY``), or a console form's login (``dashboard.console.login_first``).
What one raises (401, 403, the redirect to the login page) is the answer, and no byte of the
body has been read.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator

from fastapi import Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from switchboard.api.dashboard.console import OPEN_FORMS, login_first
from switchboard.api.deps import BEFORE_BODY

Check = Callable[[Request], Awaitable[None]]


def calls_of(dependant: Dependant) -> Iterator[object]:
    """Every dependency of ``dependant``, and theirs, first to last as declared."""
    for dependency in dependant.dependencies:
        yield dependency.call
        yield from calls_of(dependency)


def checks_of(route: object) -> list[Check]:
    """What must pass before ``route`` reads a body: nothing if FastAPI reads none for it (it
    runs the dependencies first; a response may still wait on ``receive`` for a disconnect)."""
    if not isinstance(route, APIRoute) or route.body_field is None:
        return []
    if route.path.startswith("/dashboard/"):
        return [] if route.path in OPEN_FORMS else [login_first]
    return [BEFORE_BODY[call] for call in calls_of(route.dependant) if call in BEFORE_BODY]


class CredentialsFirst:
    """ASGI middleware: the route's authentication runs before its first read of the body."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        checked = False

        async def receive_when_authenticated() -> Message:
            nonlocal checked
            if not checked:
                checked = True
                for check in checks_of(scope.get("route")):
                    await check(Request(scope))
            return await receive()

        await self.app(scope, receive_when_authenticated, send)
