from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from switchboard.api.app import create_app
from switchboard.common.settings import Settings


@pytest.fixture
def client(embedded: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(embedded)) as test_client:
        yield test_client


@pytest.fixture
def admin(embedded: Settings) -> dict[str, str]:
    return {"Authorization": f"Bearer {embedded.admin_api_key}"}
