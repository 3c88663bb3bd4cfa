"""A property-based fuzz of the OpenAPI schema, in-process on embedded SQLite: no 5xx, and
answers as documented (``tests/support/openapi_fuzz.py``; the PostgreSQL tier runs it too)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from switchboard.api.app import create_app
from switchboard.common.migrate import worker_startup_migrations
from tests.support.environment import configured
from tests.support.openapi_fuzz import FuzzTarget, caller_for, fuzz_operations, seed_target


@pytest.fixture(scope="module")
def fuzz_target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FuzzTarget]:
    var = Path(tmp_path_factory.mktemp("fuzz")) / "var"
    with configured(database_url="", amqp_url="", var_dir=str(var)) as app_settings:
        worker_startup_migrations()
        yield seed_target(create_app(app_settings), app_settings)


def test_no_business_operation_answers_with_a_server_error(fuzz_target: FuzzTarget) -> None:
    failures, seen = fuzz_operations(fuzz_target, lambda path: caller_for(path) != "admin")
    assert not failures, "\n\n".join(failures)
    assert sum(seen.values()) > 200 and seen[200] + seen[201] > 40, seen


# Last: the admin routes may revoke the business's key.
def test_no_admin_operation_answers_with_a_server_error(fuzz_target: FuzzTarget) -> None:
    failures, seen = fuzz_operations(fuzz_target, lambda path: caller_for(path) == "admin")
    assert not failures, "\n\n".join(failures)
    assert seen[200] + seen[201] > 5, seen
