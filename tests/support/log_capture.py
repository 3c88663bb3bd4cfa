"""structlog's ``capture_logs`` at every level, whatever an earlier test configured."""

from __future__ import annotations

import logging
from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager
from typing import Any

import structlog
import structlog.testing


@contextmanager
def capture_logs() -> Iterator[list[MutableMapping[str, Any]]]:
    """The lines logged inside the block, INFO and DEBUG included.

    ``structlog.testing.capture_logs`` replaces the processors but keeps the configured
    wrapper class, whose level filter drops a line before any processor sees it: after a
    service or command run in-process configured logging at ``WARNING`` (a module's fixture
    does, for all its tests), an INFO line was never captured.
    """
    kept = structlog.get_config()["wrapper_class"]
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG))
    try:
        with structlog.testing.capture_logs() as logs:
            yield logs
    finally:
        structlog.configure(wrapper_class=kept)
