"""The OpenAPI fuzz on PostgreSQL (``tests/support/openapi_fuzz.py``), where a NUL character or
an integer beyond BIGINT reaches a database that refuses it: no 5xx, answers as documented,
with a business's key on its routes and with the admin key on the admin routes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from switchboard.api.app import create_app
from switchboard.common.migrate import worker_startup_migrations
from tests.support import services
from tests.support.environment import configured
from tests.support.openapi_fuzz import FuzzTarget, caller_for, fuzz_operations, seed_target

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def fuzz_target(
    admin_database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[FuzzTarget]:
    """The API on a database of its own: what the fuzz creates disturbs no other test."""
    url = services.create_database(admin_database_url)
    var = Path(tmp_path_factory.mktemp("fuzz-postgres")) / "var"
    try:
        with configured(database_url=url, amqp_url="", var_dir=str(var)) as app_settings:
            worker_startup_migrations()
            yield seed_target(create_app(app_settings), app_settings)
    finally:
        services.drop_database(admin_database_url, url)


def test_no_business_operation_answers_with_a_server_error(fuzz_target: FuzzTarget) -> None:
    failures, seen = fuzz_operations(fuzz_target, lambda path: caller_for(path) != "admin")
    assert not failures, "\n\n".join(failures)
    assert seen[422] > 20 and seen[200] + seen[201] > 40, seen


# Last: the admin routes may revoke the business's key.
def test_no_admin_operation_answers_with_a_server_error(fuzz_target: FuzzTarget) -> None:
    failures, seen = fuzz_operations(fuzz_target, lambda path: caller_for(path) == "admin")
    assert not failures, "\n\n".join(failures)
    assert seen[422] > 5 and seen[200] + seen[201] > 5, seen
