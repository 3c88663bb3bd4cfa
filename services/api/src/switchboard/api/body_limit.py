"""Every request body has a limit, enforced while it streams in.

Nothing is read before the app asks for it, so a request refused first (no credentials:
``credentials_first``; no such path) never has its body read at all, whatever its size. When
the app asks, a ``Content-Length`` over the limit raises :class:`BodyTooLarge` before a byte
is read, and a body sent in chunks is counted, the read that passes the limit raising it; the
app's handlers answer it 413 like any ``HTTPException``, and the route reads nothing more.

Which limit (:class:`BodyLimits`): a path's own (the WhatsApp webhook's form), else
``API_MAX_UPLOAD_BYTES`` for a file upload (``multipart/form-data``), else
``API_MAX_BODY_BYTES`` (JSON, a form).

A body also has a time: each read of it waits at most ``API_BODY_READ_TIMEOUT_S`` for the
client's next bytes, and one that waits longer raises :class:`BodyTimedOut`, a 408 that
closes the connection. Without it, a request whose body stopped short of its
``Content-Length`` held its connection and its task for as long as the client kept the
socket open (uvicorn times the headers, never the body). The time is per read, not per body,
so a large upload over a slow link that keeps coming is never cut; once the body is complete,
reads wait unbounded again (a streamed answer waits on them for the client's disconnect).
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Generator, Mapping
from dataclasses import dataclass, field
from types import CoroutineType
from typing import Any

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from switchboard.common.http_errors import incomplete_body, send_error

_UPLOAD = b"multipart/form-data"


class BodyRefused(HTTPException):
    """A request body not read to its end: answered by the app's handlers, or here."""


class BodyTooLarge(BodyRefused):
    """A request body over its limit: a 413 that names the limit."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, detail=f"request body larger than {limit} bytes")


class BodyTimedOut(BodyRefused):
    """A request body whose next bytes did not come in time: a 408 that closes the connection
    (the rest of the body, if it ever comes, is not read)."""

    def __init__(self, received: int, timeout_s: float) -> None:
        detail = incomplete_body(received, timeout_s)
        super().__init__(408, detail=detail, headers={"Connection": "close"})


@dataclass(frozen=True)
class BodyLimits:
    """The limit of each request's body, in bytes."""

    body: int
    upload: int
    #: A path's own limit, whatever its body.
    by_path: Mapping[str, int] = field(default_factory=dict)
    #: How long one read of a body waits for the client's next bytes, in seconds.
    read_timeout_s: float = 30.0

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


async def _within(timeout_s: float, receive: Receive) -> Message:
    """``receive()``'s message, waited for at most ``timeout_s``. A read the server answers
    at once (the body already in, as a webhook's nearly always is) takes no timer: a timer
    costs ~5 µs under uvloop, 2-3 % of the API's CPU per webhook; one that must wait for the
    client goes on waiting under the time limit."""
    reading = receive()
    if not isinstance(reading, CoroutineType):  # an awaitable of another kind: timed as is
        async with asyncio.timeout(timeout_s):
            return await reading
    try:
        waits_on = reading.send(None)
    except StopIteration as answered:
        message: Message = answered.value
        return message
    except BaseException:
        reading.close()
        raise
    async with asyncio.timeout(timeout_s):
        return await _Resumed(reading, waits_on)


class _Resumed:
    """The rest of a coroutine already started (``send(None)`` gave ``waits_on``), awaited as
    ``await`` would have: what it waits on handed to the task, each answer or exception
    passed back into it, its return value returned."""

    def __init__(self, coroutine: Coroutine[Any, Any, Message], waits_on: Any) -> None:
        self.coroutine = coroutine
        self.waits_on = waits_on

    def __await__(self) -> Generator[Any, Any, Message]:
        coroutine, waits_on = self.coroutine, self.waits_on
        while True:
            try:
                sent = yield waits_on
            except GeneratorExit:
                coroutine.close()
                raise
            except BaseException as exc:  # the task's cancellation (the timeout's) included
                try:
                    waits_on = coroutine.throw(exc)
                except StopIteration as answered:
                    return answered.value  # type: ignore[no-any-return]
            else:
                try:
                    waits_on = coroutine.send(sent)
                except StopIteration as answered:
                    return answered.value  # type: ignore[no-any-return]


class BodyLimit:
    """ASGI middleware: a 413 for a body over its limit, before it is read (its
    ``Content-Length``) or as it is (chunks counted); a 408 for one that stops coming."""

    def __init__(self, app: ASGIApp, limits: BodyLimits) -> None:
        self.app = app
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limits.of(scope)
        timeout_s = self.limits.read_timeout_s
        length = _content_length(scope)
        received = 0
        complete = False
        started = False

        async def counted() -> Message:
            nonlocal received, complete
            if complete:  # the body is in: what is left to wait for is the disconnect
                return await receive()
            if length is not None and length > limit:  # said up front: none of it is read
                raise BodyTooLarge(limit)
            try:
                message = await _within(timeout_s, receive)
            except TimeoutError:
                raise BodyTimedOut(received, timeout_s) from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
                complete = not message.get("more_body", False)
            return message

        async def tracked(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, tracked)
        except BodyRefused as exc:  # not answered by the app's handlers (a bare ASGI app)
            if started:
                raise
            headers = [(k.lower().encode(), v.encode()) for k, v in (exc.headers or {}).items()]
            await send_error(send, exc.status_code, exc.detail, headers)
