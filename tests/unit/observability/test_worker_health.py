"""The worker's /health from its processes' status files: 200 only when every process is
alive, consuming, with its worker threads, and the broker answers."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from switchboard.worker.runtime.status_files import status_path
from switchboard.worker.status_server import health


def _status(directory: Path, **changes: Any) -> None:
    status = {
        "pid": os.getpid(),
        "worker_id": f"host:{os.getpid()}",
        "written_at": time.time(),
        "consumer_turned_at": time.time(),
        "worker_threads": {"expected": 4, "alive": 4},
        "consumers": {"whatsapp": True},
        "threads": {"MainThread": 1},
        "current_jobs": [],
        **changes,
    }
    status_path(directory, int(status["pid"])).write_text(json.dumps(status))


def test_live_consuming_processes_and_a_reachable_broker_are_healthy(tmp_path: Path) -> None:
    _status(tmp_path)

    code, body = health(tmp_path, broker_reachable=True)

    assert code == 200 and body["status"] == "ok" and body["problems"] == []
    assert body["processes"][0]["consuming"] is True


def test_a_stopped_consumer_loop_dead_threads_or_no_broker_are_503_with_reasons(
    tmp_path: Path,
) -> None:
    _status(
        tmp_path,
        consumer_turned_at=time.time() - 60,
        worker_threads={"expected": 4, "alive": 3},
    )

    code, body = health(tmp_path, broker_reachable=False)

    assert code == 503 and body["status"] == "degraded"
    problems = " | ".join(body["problems"])
    assert "consumer loop stopped" in problems
    assert "worker threads died" in problems
    assert "broker unreachable" in problems


def test_a_worker_with_no_process_reporting_yet_is_not_healthy(tmp_path: Path) -> None:
    code, body = health(tmp_path, broker_reachable=True)

    assert code == 503 and body["problems"] == ["no worker process has reported yet"]
