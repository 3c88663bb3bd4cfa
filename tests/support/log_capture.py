"""structlog's ``capture_logs`` at every level, whatever an earlier test configured."""

from __future__ import annotations

import logging
from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager
from typing import Any

import structlog
import structlog.testing


@contextmanager
def capture_logs(*, with_context: bool = False) -> Iterator[list[MutableMapping[str, Any]]]:
    """The lines logged inside the block, INFO and DEBUG included; ``with_context``: with the
    fields bound in structlog's context variables too (a job's ``job_id``, a request's id).

    ``structlog.testing.capture_logs`` replaces the processors but keeps the configured
    wrapper class, whose level filter drops a line before any processor sees it: after a
    service or command run in-process configured logging at ``WARNING`` (a module's fixture
    does, for all its tests), an INFO line was never captured.
    """
    kept = structlog.get_config()["wrapper_class"]
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG))
    try:
        processors = [structlog.contextvars.merge_contextvars] if with_context else []
        with structlog.testing.capture_logs(processors=processors) as logs:
            yield logs
    finally:
        structlog.configure(wrapper_class=kept)
