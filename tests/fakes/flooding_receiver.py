"""A hostile receiver: it answers any POST with an endless-looking body (``size`` bytes, in
1 MiB chunks) and records how much of it it wrote before the client hung up.

For the outgoing adapters whose receivers a tenant chooses (webhooks, Web Push): they must
read a few bytes of an answer and drop the connection, not take the whole body into memory.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from werkzeug.routing import Rule
from werkzeug.wrappers import Request, Response

from tests.fakes.server import FakeServer

CHUNK = b"x" * (1 << 20)


class FloodingReceiver(FakeServer):
    """``written`` is how many bytes of the body went out; ``ended`` whether it stopped."""

    rules = (Rule("/<path:name>", methods=["POST"], endpoint="flood"),)

    def __init__(self, size: int = 64 << 20, status: int = 200) -> None:
        super().__init__()
        self.size = size
        self.status = status
        self.written = 0
        self.ended = False

    def handle_flood(self, request: Request, name: str) -> Response:
        request.get_data()
        return Response(
            self._body(),
            status=self.status,
            headers={"Content-Length": str(self.size)},
            mimetype="text/plain",
        )

    def _body(self) -> Iterator[bytes]:
        try:
            for _ in range(self.size // len(CHUNK)):
                yield CHUNK
                with self.recording():
                    self.written += len(CHUNK)
        finally:  # the whole body, or the client hung up (the server closes the generator)
            with self.recording():
                self.ended = True


@pytest.fixture
def flooding_receiver() -> Iterator[FloodingReceiver]:
    """A running receiver answering 64 MiB to any POST."""
    with FloodingReceiver.running() as server:
        yield server
