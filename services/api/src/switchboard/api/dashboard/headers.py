"""The console's security headers on every answer under /dashboard, not only its pages: the
login's redirect that sets the session cookie, a 404 or 403, a refused form's 422, the runs'
JSON, a recording's audio; so no route writes them again. A header a route set for its own
reason (a static file's ``Cache-Control``) is kept."""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

PREFIX = "/dashboard"
#: Whoever frames or sniffs a page of ours: no one. The console's and the API docs' pages
#: (``routes.api_docs``, under a CSP of their own) both say it with these.
NO_FRAMING_OR_SNIFFING = {"X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff"}
#: Whoever frames, sniffs, caches or is referred from a console answer: no one.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
    ),
    **NO_FRAMING_OR_SNIFFING,
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def is_console(path: str) -> bool:
    """``path`` is the console's: /dashboard or below it (not /dashboards)."""
    return path == PREFIX or path.startswith(PREFIX + "/")


class ConsoleHeaders:
    """ASGI middleware: :data:`SECURITY_HEADERS` on each console answer that lacks them."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not is_console(scope["path"]):
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    if name not in headers:
                        headers[name] = value
            await send(message)

        await self.app(scope, receive, send_with_headers)
