"""The worker's /ready: the database and the broker answer and one of its processes consumes."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from switchboard.worker.runtime.status_files import status_path
from switchboard.worker.status_server import readiness


def _status(directory: Path, turned_ago_s: float) -> None:
    status = {
        "pid": os.getpid(),
        "worker_id": f"host:{os.getpid()}",
        "consumer_turned_at": time.time() - turned_ago_s,
        "worker_threads": {"expected": 2, "alive": 2},
    }
    status_path(directory, os.getpid()).write_text(json.dumps(status))


def test_a_consuming_worker_with_its_database_and_broker_is_ready(tmp_path: Path) -> None:
    _status(tmp_path, turned_ago_s=0)

    code, body = readiness(tmp_path, database_reachable=True, broker_reachable=True)

    assert code == 200 and body["ready"] is True and body["consuming_processes"] == 1


def test_a_worker_without_its_database_is_not_ready(tmp_path: Path) -> None:
    _status(tmp_path, turned_ago_s=0)

    code, body = readiness(tmp_path, database_reachable=False, broker_reachable=True)

    assert code == 503 and body["database"] is False


def test_a_worker_whose_processes_do_not_consume_is_not_ready(tmp_path: Path) -> None:
    _status(tmp_path, turned_ago_s=120)

    code, body = readiness(tmp_path, database_reachable=True, broker_reachable=True)

    assert code == 503 and body["consuming_processes"] == 0


def test_a_worker_on_a_schema_behind_its_code_is_not_ready_and_says_why(tmp_path: Path) -> None:
    _status(tmp_path, turned_ago_s=0)
    behind = "database schema at revision 0030, this release needs 0031: run the migration"

    code, body = readiness(
        tmp_path, database_reachable=True, broker_reachable=True, schema_reason=behind
    )

    assert code == 503 and body["schema"] is False and body["problems"] == [behind]
