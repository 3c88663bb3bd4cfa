"""Every request body has a limit, enforced while it streams in.

Nothing is read before the app asks for it, so a request refused first (no credentials:
``credentials_first``; no such path) never has its body read at all, whatever its size. When
the app asks, a ``Content-Length`` over the limit raises :class:`BodyTooLarge` before a byte
is read, and a body sent in chunks is counted, the read that passes the limit raising it; the
app's handlers answer it 413 like any ``HTTPException``, and the route reads nothing more.

Which limit (:class:`BodyLimits`): a path's own (the WhatsApp webhook's form), else
``API_MAX_UPLOAD_BYTES`` for a file upload (``multipart/form-data``), else
``API_MAX_BODY_BYTES`` (JSON, a form).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from switchboard.common.http_errors import send_error

_UPLOAD = b"multipart/form-data"


class BodyTooLarge(HTTPException):
    """A request body over its limit: a 413 that names the limit."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, detail=f"request body larger than {limit} bytes")


@dataclass(frozen=True)
class BodyLimits:
    """The limit of each request's body, in bytes."""

    body: int
    upload: int
    #: A path's own limit, whatever its body.
    by_path: Mapping[str, int] = field(default_factory=dict)

    def of(self, scope: Scope) -> int:
        """The limit of this request's body."""
        own = self.by_path.get(scope["path"])
        if own is not None:
            return own
        for name, value in scope["headers"]:
            if name == b"content-type":
                return self.upload if value.lower().startswith(_UPLOAD) else self.body
        return self.body


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            return int(value) if value.isdigit() else None
    return None


class BodyLimit:
    """ASGI middleware: a 413 for a body over its limit, before it is read (its
    ``Content-Length``) or as it is (chunks counted)."""

    def __init__(self, app: ASGIApp, limits: BodyLimits) -> None:
        self.app = app
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limits.of(scope)
        length = _content_length(scope)
        received = 0
        started = False

        async def counted() -> Message:
            nonlocal received
            if length is not None and length > limit:  # said up front: none of it is read
                raise BodyTooLarge(limit)
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        async def tracked(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, tracked)
        except BodyTooLarge as exc:  # not answered by the app's handlers (a bare ASGI app)
            if started:
                raise
            await send_error(send, 413, exc.detail)
