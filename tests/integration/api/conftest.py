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
