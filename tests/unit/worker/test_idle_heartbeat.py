"""An embedded (in-process) worker beats while it has nothing to do, as a RabbitMQ one does."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import dramatiq
import pytest

from switchboard.common.db import system_session
from switchboard.common.jobs.broker import get_broker
from switchboard.common.migrate import worker_startup_migrations
from switchboard.common.models import WorkerHeartbeat
from switchboard.common.settings import Settings
from switchboard.worker.runtime.heartbeat import worker_identity
from switchboard.worker.runtime.inprocess import start_worker
from tests.support import actors
from tests.support.environment import configured
from tests.support.waiting import wait_for


@pytest.fixture
def idle_worker(tmp_path: Path) -> Iterator[dramatiq.Worker]:
    """An in-process worker on the embedded broker that beats every 50 ms and gets no job."""
    with configured(
        database_url="",
        amqp_url="",
        var_dir=str(tmp_path / "var"),
        worker_heartbeat_interval_s="0.05",
    ) as settings:
        assert isinstance(settings, Settings)
        worker_startup_migrations()
        actors.register()
        worker = start_worker(get_broker(), threads=1, worker_timeout_ms=20)
        try:
            yield worker
        finally:
            worker.stop()


def beat_at() -> datetime | None:
    with system_session() as session:
        row = session.get(WorkerHeartbeat, worker_identity())
        return row.beat_at if row is not None else None


def test_an_idle_in_process_worker_s_heartbeat_keeps_advancing(idle_worker) -> None:
    first = wait_for(beat_at, timeout=10, what="the boot beat")

    wait_for(
        lambda: (beat_at() or first) > first,
        timeout=10,
        what="a beat after the boot one, with no job processed",
    )

    with system_session() as session:
        assert session.get(WorkerHeartbeat, worker_identity()).jobs_processed == 0  # type: ignore[union-attr]
