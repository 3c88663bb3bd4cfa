"""Dramatiq's "was skipped" line is dropped for a job fair share parked, and only for it
(``fair_share._QuietParking``): a flood parks thousands, each would be a warning."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from dramatiq import Message
from dramatiq.broker import MessageProxy

from switchboard.common.logging import install_record_scrubbing
from switchboard.worker.runtime.fair_share import _PARKED, _QuietParking


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@pytest.fixture
def worker_thread_lines() -> Iterator[logging.Logger]:
    install_record_scrubbing()  # as every process does: records' arguments arrive wrapped
    logger = logging.getLogger("tests.dramatiq.worker.WorkerThread")
    quiet = _QuietParking()
    logger.addFilter(quiet)
    logger.propagate = False
    yield logger
    logger.removeFilter(quiet)
    logger.propagate = True


def test_only_a_parked_delivery_s_skipped_line_is_dropped(
    worker_thread_lines: logging.Logger,
) -> None:
    lines = _Lines()
    worker_thread_lines.addHandler(lines)
    parked = MessageProxy(Message("chaos", "parked_job", (), {}, {}))
    parked.__dict__[_PARKED] = True
    skipped = MessageProxy(Message("chaos", "skipped_job", (), {}, {}))
    try:
        for message in (parked, skipped):
            worker_thread_lines.warning("Message %s was skipped.", message)
    finally:
        worker_thread_lines.removeHandler(lines)

    assert lines.lines == [f"Message skipped_job(message_id={skipped.message_id}) was skipped."]
