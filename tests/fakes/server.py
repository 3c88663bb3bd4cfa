"""A real HTTP server on 127.0.0.1 for the fakes of outside services.

Each fake is a WSGI app (werkzeug) served from a background thread on a free port. What it
receives is recorded under a lock, and ``wait_for`` blocks on a condition variable until the
record satisfies a predicate, so tests never sleep.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map, Rule
from werkzeug.serving import BaseWSGIServer, make_server
from werkzeug.wrappers import Request, Response

T = TypeVar("T")
Handler = Callable[..., Response]


def json_response(payload: Any, status: int = 200) -> Response:
    """A JSON response with the given status."""
    return Response(json.dumps(payload), status=status, mimetype="application/json")


class FakeServer:
    """Routes requests to ``handle_<endpoint>`` methods; subclasses declare ``rules``."""

    rules: tuple[Rule, ...] = ()

    def __init__(self) -> None:
        self._url_map = Map([rule.empty() for rule in self.rules])
        self._changed = threading.Condition()
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle ------------------------------------------------------------------------

    def start(self, port: int = 0) -> None:
        """Listen on ``port`` (a free one by default) and serve from a daemon thread."""
        self._server = make_server("127.0.0.1", port, self.wsgi, threaded=True)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.02},  # shutdown() waits for one poll
            name=type(self).__name__,
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and wait for the thread to end."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        assert self._server is not None, "server not started"
        return f"http://127.0.0.1:{self._server.server_port}"

    @classmethod
    @contextmanager
    def running(cls: type[T], *args: Any, **kwargs: Any) -> Iterator[T]:
        """Start a fake for the duration of a ``with`` block (or a fixture)."""
        fake = cls(*args, **kwargs)
        fake.start()  # type: ignore[attr-defined]
        try:
            yield fake
        finally:
            fake.stop()  # type: ignore[attr-defined]

    # --- recording ------------------------------------------------------------------------

    @contextmanager
    def recording(self) -> Iterator[None]:
        """Hold the lock while changing recorded state; waiters are woken afterwards."""
        with self._changed:
            yield
            self._changed.notify_all()

    def wait_for(self, predicate: Callable[[], T], timeout: float = 5.0) -> T:
        """Block until ``predicate()`` is truthy (checked after every recorded change)."""
        with self._changed:
            result = self._changed.wait_for(predicate, timeout=timeout)
        if not result:
            raise AssertionError(f"{type(self).__name__}: timed out waiting for {predicate}")
        return result

    # --- dispatch -------------------------------------------------------------------------

    def wsgi(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        """The fake as a WSGI app: what ``start`` serves (the benchmarks serve it otherwise)."""
        request = Request(environ)
        adapter = self._url_map.bind_to_environ(environ)
        try:
            endpoint, values = adapter.match()
            response: Response = getattr(self, f"handle_{endpoint}")(request, **values)
        except HTTPException as exc:
            response = json_response({"error": exc.description}, status=exc.code or 500)
        return response(environ, start_response)


class HeldAnswers:
    """For a fake that carries out a request and then holds its answer: ``hold_next(n)``
    makes the next n requests wait for :meth:`release` once recorded, so a test can kill the
    client after the fake did its work and before the client heard of it. Mixed into a
    :class:`FakeServer` (it uses its ``recording`` lock); ``stop`` releases what is held."""

    def __init__(self) -> None:
        super().__init__()
        self._holds_left = 0
        #: How many requests were carried out and are waiting, unanswered, for ``release``.
        self.held = 0
        self._released = threading.Event()

    def hold_next(self, count: int = 1) -> None:
        """Hold the answers to the next ``count`` requests."""
        with self.recording():  # type: ignore[attr-defined]
            self._holds_left += count

    def release(self) -> None:
        """Answer every held request (and hold no more)."""
        self._released.set()

    def _wait_if_held(self) -> None:
        """Called by a handler after it recorded the request."""
        with self.recording():  # type: ignore[attr-defined]
            hold = self._holds_left > 0
            if hold:
                self._holds_left -= 1
                self.held += 1
        if hold:
            self._released.wait(timeout=120)

    def stop(self) -> None:
        """Answer what is held, then stop serving."""
        self.release()
        super().stop()  # type: ignore[misc]
