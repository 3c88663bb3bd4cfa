"""The API in-process on real PostgreSQL, where row-level security is the second wall."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from switchboard.api.app import create_app
from switchboard.common.settings import Settings


@pytest.fixture
def client(pg: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(pg)) as test_client:
        yield test_client


@pytest.fixture
def admin(pg: Settings) -> dict[str, str]:
    return {"Authorization": f"Bearer {pg.admin_api_key}"}


@pytest.fixture
def embedded(pg: Settings) -> Settings:
    """The unit tests collected here again run on this tier's PostgreSQL: one of theirs (or a
    fixture) asking for ``embedded`` gets these settings, instead of switching the process
    onto a fresh SQLite file halfway through the test."""
    return pg
