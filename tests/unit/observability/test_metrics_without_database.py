"""``/metrics`` while PostgreSQL is away: the figures read from the database are left out and
said to be missing (``switchboard_metrics_source_up`` 0), the process's own figures are still
served. Before, the whole scrape failed (the API's 503, the scheduler's 500), so the HTTP
error rate an operator alerts on vanished with the outage it should show."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from switchboard.api.app import create_app
from switchboard.common.settings import Settings
from switchboard.scheduler.app import create_app as create_scheduler
from tests.support.environment import configured

#: Nothing listens on port 1: every connection is refused at once, as while PostgreSQL is down.
NOWHERE = "postgresql://postgres@127.0.0.1:1/switchboard"
SERVICES: dict[str, tuple[Callable[[Settings], FastAPI], set[str]]] = {
    "api": (create_app, {"ledger", "parked_events"}),
    # Migrations at start need the database: this scheduler lost it once it was running.
    "scheduler": (lambda settings: create_scheduler(settings, migrate=False), {"ledger"}),
}


@pytest.fixture
def unreachable(tmp_path: Path) -> Iterator[Settings]:
    with configured(database_url=NOWHERE, amqp_url="", var_dir=str(tmp_path)) as settings:
        yield settings


def _samples(text: str, name: str) -> dict[str, float]:
    """``{labels: value}`` of the metric ``name``'s samples in an exposition."""
    found = {}
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            labels, _, value = line.rpartition(" ")
            found[labels[len(name) :]] = float(value)
    return found


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_metrics_leave_out_the_database_s_figures_and_say_so(
    unreachable: Settings, service: str
) -> None:
    factory, database_sources = SERVICES[service]
    with TestClient(factory(unreachable), raise_server_exceptions=False) as client:
        client.get("/health")
        response = client.get("/metrics")

    assert response.status_code == 200, response.text
    up = _samples(response.text, "switchboard_metrics_source_up")
    for source in database_sources:
        assert up[f'{{source="{source}"}}'] == 0.0
    assert not _samples(response.text, "switchboard_queue_depth")
    assert "process_cpu_seconds_total" in response.text or "python_info" in response.text
    if service == "api":
        assert _samples(response.text, "switchboard_http_request_duration_seconds_count")
    else:
        assert _samples(response.text, "switchboard_scheduler_leader")
        assert up['{source="scheduler"}'] == 1.0


def test_with_the_database_up_every_source_is_read(embedded: Settings) -> None:
    with TestClient(create_app(embedded)) as client:
        response = client.get("/metrics")
    up = _samples(response.text, "switchboard_metrics_source_up")
    assert up == {'{source="ledger"}': 1.0, '{source="parked_events"}': 1.0}
    assert "switchboard_jobs" in response.text
