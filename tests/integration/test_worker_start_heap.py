"""``switchboard worker`` starts with the collector paused over its imports, and its worker
processes run jobs with the collector on and the start's objects frozen
(``switchboard.common.startup_heap``), on PostgreSQL and RabbitMQ."""

from __future__ import annotations

import json
from pathlib import Path

from switchboard.common.jobs import enqueue
from tests.support import actors
from tests.support.factories import make_business
from tests.support.waiting import wait_for


def test_a_worker_process_collects_and_keeps_its_start_frozen(start_worker, tmp_path: Path) -> None:
    start_worker("test_jobs", processes=1, threads=2)
    marker = tmp_path / "heap.json"
    enqueue(actors.HEAP_PROBE, business_id=make_business().id, marker=str(marker))

    def probed() -> dict[str, object] | None:
        return json.loads(marker.read_text()) if marker.exists() else None

    heap = wait_for(probed, timeout=60, what="the heap probe job to run")
    assert heap["enabled"] is True  # never left off after the start
    # SQLAlchemy, the models, Dramatiq, the actors: imported by the main process with the
    # collector paused, frozen there, inherited by the forked worker process.
    assert isinstance(heap["frozen"], int) and heap["frozen"] > 100_000
