"""``/ready`` follows the broker (503 while RabbitMQ is stopped, 200 once it is back) and the
database's schema (503 while it is behind the code's, 200 at it or ahead)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from fastapi.testclient import TestClient
from sqlalchemy import text

from switchboard.api.app import create_app
from switchboard.common.db.engine import migration_engine
from switchboard.common.health import forget_schema_check, schema_problem
from switchboard.common.migrate import (
    alembic_config,
    newest_script_revision,
    script_revisions,
    worker_startup_migrations,
)
from switchboard.common.settings import Settings
from tests.support import services
from tests.support.environment import configured


def test_ready_turns_503_while_rabbitmq_is_stopped_and_200_after(pg_rabbit) -> None:
    with TestClient(create_app(pg_rabbit)) as client:
        assert client.get("/ready").status_code == 200
        try:
            services.rabbit_stop()
            response = client.get("/ready")
            assert response.status_code == 503
            assert response.json()["checks"] == {"database": True, "broker": False, "schema": True}
        finally:
            services.rabbit_start()
        assert client.get("/ready").status_code == 200


def test_ready_is_503_when_the_database_is_unreachable(pg_rabbit) -> None:
    with configured(
        database_url="postgresql://nobody@127.0.0.1:1/none", amqp_url=pg_rabbit.amqp_url
    ) as settings:
        with TestClient(create_app(settings)) as client:
            response = client.get("/ready")
    assert response.status_code == 503
    assert response.json()["checks"]["database"] is False


# The schema: a rollout's new pods are not ready on a database the migration has not reached.


@pytest.fixture
def scratch_database(admin_database_url: str, tmp_path: Path) -> Iterator[Settings]:
    """A database of this test's own, not migrated, embedded broker."""
    url = services.create_database(admin_database_url)
    try:
        with configured(database_url=url, amqp_url="", var_dir=str(tmp_path)) as settings:
            forget_schema_check()
            yield settings
    finally:
        forget_schema_check()
        services.drop_database(admin_database_url, url)


def _migrate_to(revision: str) -> None:
    """The schema as a previous release left it: migrated up to ``revision`` only."""
    with migration_engine() as owner, owner.connect() as connection:
        command.upgrade(alembic_config(connection), revision)
        connection.commit()


def _behind(previous: str, head: str) -> str:
    return (
        f"database schema at revision {previous}, this release needs {head}: "
        "run the migration (switchboard migrate)"
    )


def test_ready_is_503_naming_both_revisions_while_the_schema_is_behind_and_200_once_migrated(
    scratch_database,
) -> None:
    previous, head = script_revisions()[-2:]
    _migrate_to(previous)
    with TestClient(create_app(scratch_database)) as client:
        response = client.get("/ready")
        assert response.status_code == 503
        body = response.json()
        assert body["checks"] == {"database": True, "broker": True, "schema": False}
        assert body["problems"] == [_behind(previous, head)]

        worker_startup_migrations()  # the migration Job runs
        forget_schema_check()  # rather than wait out the cached read
        response = client.get("/ready")
    assert response.status_code == 200, response.json()
    assert response.json() == {
        "ready": True,
        "checks": {"database": True, "broker": True, "schema": True},
        "problems": [],
    }


def test_ready_is_503_on_a_database_never_migrated(scratch_database) -> None:
    with TestClient(create_app(scratch_database)) as client:
        response = client.get("/ready")
    assert response.status_code == 503
    assert response.json()["problems"] == [_behind("none", newest_script_revision())]


def test_ready_is_200_on_a_database_newer_code_migrated(scratch_database) -> None:
    # a rollback: the previous release runs on the next one's schema (docs/operations.md)
    worker_startup_migrations()
    with migration_engine() as owner, owner.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    with TestClient(create_app(scratch_database)) as client:
        response = client.get("/ready")
    assert response.status_code == 200, response.json()
    assert response.json()["checks"]["schema"] is True


def test_the_schema_s_revision_is_read_once_per_ttl(scratch_database) -> None:
    # probes come every few seconds: the cached read answers them meanwhile
    worker_startup_migrations()
    assert schema_problem() is None
    with migration_engine() as owner, owner.begin() as connection:
        connection.execute(text("DELETE FROM alembic_version"))
    assert schema_problem() is None  # within the TTL: the read before answers
    forget_schema_check()
    assert schema_problem() == _behind("none", newest_script_revision())


def test_the_scheduler_s_ready_follows_the_schema_too(scratch_database) -> None:
    from switchboard.scheduler.app import create_app as create_scheduler

    previous, head = script_revisions()[-2:]
    _migrate_to(previous)
    with TestClient(create_scheduler(scratch_database, migrate=False)) as client:
        response = client.get("/ready")
    assert response.status_code == 503
    assert response.json()["problems"] == [_behind(previous, head)]


def test_embedded_ready_is_503_while_the_sqlite_schema_is_behind(tmp_path: Path) -> None:
    previous, head = script_revisions()[-2:]
    with configured(database_url="", amqp_url="", var_dir=str(tmp_path / "var")) as settings:
        forget_schema_check()
        _migrate_to(previous)
        try:
            with TestClient(create_app(settings)) as client:
                response = client.get("/ready")
                assert response.status_code == 503
                assert response.json()["problems"] == [_behind(previous, head)]
                worker_startup_migrations()
                forget_schema_check()
                assert client.get("/ready").status_code == 200
        finally:
            forget_schema_check()
