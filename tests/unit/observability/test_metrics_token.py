"""``METRICS_TOKEN``: set, every service's ``/metrics`` answers only a scrape that shows it
(the figures name businesses by id); empty, they stay open. ``/health`` stays open either way.
The worker's status server is checked in ``tests/integration/test_worker_status_server.py``."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from switchboard.api.app import create_app
from switchboard.common.metrics_access import metrics_allowed
from switchboard.common.settings import Settings
from switchboard.scheduler.app import create_app as create_scheduler
from switchboard.voice_gateway.app import create_app as create_gateway

TOKEN = "scrape-token-of-at-least-thirty-two-chars"
SERVICES: dict[str, Callable[[Settings], FastAPI]] = {
    "api": create_app,
    "gateway": create_gateway,
    "scheduler": create_scheduler,
}


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_with_a_token_set_metrics_need_it_and_health_does_not(
    embedded: Settings, service: str
) -> None:
    app = SERVICES[service](embedded.model_copy(update={"metrics_token": TOKEN}))
    with TestClient(app) as client:
        refused = [
            client.get("/metrics"),
            client.get("/metrics", headers={"Authorization": "Bearer wrong"}),
            client.get("/metrics", headers={"Authorization": f"Basic {TOKEN}"}),
        ]
        shown = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
        health = client.get("/health")

    for response in refused:
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"] == 'Bearer realm="metrics"'
        assert response.json()["code"] == "unauthorized"
        assert "switchboard_" not in response.text
    assert shown.status_code == 200 and "# TYPE" in shown.text
    assert health.status_code == 200


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_without_a_token_metrics_are_open(embedded: Settings, service: str) -> None:
    with TestClient(SERVICES[service](embedded)) as client:
        assert client.get("/metrics").status_code == 200


def test_the_check_takes_the_bearer_scheme_in_any_case_and_nothing_else() -> None:
    assert metrics_allowed(None, "")
    assert metrics_allowed(f"bearer {TOKEN}", TOKEN)
    assert metrics_allowed(f"  Bearer   {TOKEN} ", TOKEN)
    assert not metrics_allowed(f"Bearer {TOKEN}x", TOKEN)
    assert not metrics_allowed(TOKEN, TOKEN)
    assert not metrics_allowed(None, TOKEN)
