"""JSON logging as a service configures it, the process's logging put back after: the
``json_lines`` fixture, for the tests that read the lines a piece of code writes."""

from __future__ import annotations

import json
import logging
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import structlog

from switchboard.common.logging import configure_logging

JsonLines = Callable[[], list[dict[str, Any]]]


@pytest.fixture
def json_lines(capsys: pytest.CaptureFixture[str]) -> Iterator[JsonLines]:
    """``configure_logging(json=True)``; calling the fixture returns the lines written since,
    each parsed (a line that is not JSON fails the test)."""
    factory = logging.getLogRecordFactory()
    hooks = sys.excepthook, threading.excepthook
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    uvicorn = logging.getLogger("uvicorn.error")
    uvicorn_filters = list(uvicorn.filters)
    uvicorn.filters[:] = []  # a filter of its own (``invalid_requests.py``), counting afresh
    configure_logging("INFO", json=True)

    def lines() -> list[dict[str, Any]]:
        return [json.loads(line) for line in capsys.readouterr().err.splitlines() if line]

    try:
        yield lines
    finally:
        structlog.reset_defaults()
        structlog.contextvars.clear_contextvars()
        logging.setLogRecordFactory(factory)
        sys.excepthook, threading.excepthook = hooks
        root.handlers[:] = handlers
        root.setLevel(level)
        logging.captureWarnings(False)
        uvicorn.filters[:] = uvicorn_filters
