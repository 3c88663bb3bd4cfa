"""Dramatiq's "was skipped" warning is dropped in a worker (``middleware.ToldSkips``): each
skip is told by the middleware that raised it, and an outage or a flood skips thousands."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from types import SimpleNamespace

import pytest
from dramatiq import Message
from dramatiq.broker import MessageProxy

from switchboard.common.logging import install_record_scrubbing
from switchboard.worker.runtime.middleware import LedgerMiddleware, ToldSkips

WORKER_THREAD = "dramatiq.worker.WorkerThread"


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@pytest.fixture
def booted_worker_lines() -> Iterator[tuple[logging.Logger, _Lines]]:
    """Dramatiq's worker-thread logger once a worker booted (twice: two workers in one
    process), its lines collected."""
    install_record_scrubbing()  # as every process does: records' arguments arrive wrapped
    logger = logging.getLogger(WORKER_THREAD)
    filters = list(logger.filters)
    middleware = LedgerMiddleware()
    middleware.sizes_connections = False  # this test's process is not a worker's
    for _ in range(2):
        middleware.before_worker_boot(SimpleNamespace(), SimpleNamespace(worker_threads=2))
    lines = _Lines()
    logger.addHandler(lines)
    try:
        yield logger, lines
    finally:
        logger.removeHandler(lines)
        logger.filters[:] = filters


def test_a_skipped_delivery_s_warning_is_dropped_and_other_warnings_kept(
    booted_worker_lines: tuple[logging.Logger, _Lines],
) -> None:
    logger, lines = booted_worker_lines
    message = MessageProxy(Message("whatsapp", "process_whatsapp_webhook_job", (), {}, {}))

    # As Dramatiq's WorkerThread writes them (dramatiq/worker.py).
    logger.warning("Message %s was skipped.", message)
    logger.warning("Failed to process message %s with unhandled exception.", message)

    assert lines.lines == [
        f"Failed to process message process_whatsapp_webhook_job(message_id="
        f"{message.message_id}) with unhandled exception."
    ]
    assert sum(isinstance(f, ToldSkips) for f in logger.filters) == 1
