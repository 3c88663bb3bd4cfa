"""The end-to-end tier uses the integration tier's real PostgreSQL, RabbitMQ and processes.

While its tests run, the private values they use and the output of every service they start
are collected (``tests/support/private_data.py``); the scan of that output
(``test_service_output_is_private.py``) runs after every other end-to-end test.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.conftest import (  # noqa: F401 - fixtures, re-exported
    admin_database_url,
    amqp_url,
    pg,
    pg_rabbit,
    pg_url,
    start_service,
    start_worker,
)
from tests.support import private_data

_HERE = Path(__file__).resolve().parent
SCAN_MODULE = "test_service_output_is_private.py"


@pytest.fixture(scope="package", autouse=True)
def _private_values_collected() -> Iterator[None]:
    """Package scope: set up before the tier's module-scoped services start."""
    with private_data.collecting():
        yield


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The scan of the services' output runs after the tier's other tests."""
    scan = [item for item in items if item.path.name == SCAN_MODULE]
    if not scan:
        return
    rest = [item for item in items if item.path.name != SCAN_MODULE]
    ours = [index for index, item in enumerate(rest) if _HERE in item.path.parents]
    end = ours[-1] + 1 if ours else len(rest)
    items[:] = [*rest[:end], *scan, *rest[end:]]
