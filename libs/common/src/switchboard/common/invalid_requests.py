"""uvicorn's warning for each malformed request, made one of our lines, at most once a minute.

uvicorn logs "Invalid HTTP request received." at WARNING for every request its parser refuses
(answering 400), so a scanner sending garbage, or a proxy speaking TLS to a plain HTTP port,
floods the warnings with lines outside our event naming. A filter on ``uvicorn.error`` drops
those records and writes ``http.invalid_request`` (INFO) instead: at once for the first, then
at most one line per :data:`INTERVAL_S` per process, its ``count`` the malformed requests since
the previous line, this one included (those after the last line are counted in the next). The
client's address is not logged: no line carries one (docs/reliability.md, "Private data").
"""

from __future__ import annotations

import logging
import threading
import time

import structlog

__all__ = ["INTERVAL_S", "InvalidRequestLines", "install_invalid_request_lines"]

#: The logger uvicorn's HTTP protocols (httptools and h11) warn on.
_UVICORN_LOGGER = "uvicorn.error"
#: Their warning for a request the parser refuses.
_INVALID_REQUEST = "Invalid HTTP request received."
#: The shortest time between two ``http.invalid_request`` lines of one process.
INTERVAL_S = 60.0


class InvalidRequestLines(logging.Filter):
    """Turns uvicorn's invalid-request warnings into counted ``http.invalid_request`` lines."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._count = 0
        self._last_line: float | None = None

    def filter(self, record: logging.LogRecord) -> bool:
        if record.msg != _INVALID_REQUEST:
            return True
        now = time.monotonic()
        with self._lock:
            self._count += 1
            if self._last_line is not None and now - self._last_line < INTERVAL_S:
                return False
            count, self._count, self._last_line = self._count, 0, now
        structlog.get_logger("switchboard.http").info("http.invalid_request", count=count)
        return False


def install_invalid_request_lines() -> None:
    """Put the filter on uvicorn's logger, once per process (``configure_logging`` calls it)."""
    logger = logging.getLogger(_UVICORN_LOGGER)
    if not any(isinstance(f, InvalidRequestLines) for f in logger.filters):
        logger.addFilter(InvalidRequestLines())
