from __future__ import annotations

from collections.abc import Iterator

import dramatiq
import pytest

from switchboard.common.jobs.broker import get_broker
from switchboard.common.settings import Settings
from switchboard.worker.runtime.inprocess import start_worker
from tests.support import actors


@pytest.fixture
def stub_worker(embedded: Settings) -> Iterator[dramatiq.Worker]:
    """An in-process Dramatiq worker on the embedded broker, with the test actors declared."""
    broker = get_broker()
    actors.register()
    worker = start_worker(broker, threads=2, worker_timeout_ms=50)
    yield worker
    worker.stop()
