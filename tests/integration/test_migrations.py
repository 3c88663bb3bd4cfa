"""Migrations: the same on PostgreSQL and SQLite, applied once however many start together."""

from __future__ import annotations

import subprocess
import sys
import uuid

import httpx
import psycopg
import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ProgrammingError
from typer.testing import CliRunner

import switchboard.common.models  # noqa: F401
from switchboard.cli.main import app
from switchboard.common.db.base import Base
from switchboard.common.db.engine import get_engine, migration_engine
from switchboard.common.migrate import (
    MIGRATION_LOCK_ID,
    MigrationFailedError,
    alembic_config,
    head_revision,
    newest_script_revision,
    schema_behind,
    script_revisions,
    worker_startup_migrations,
)
from switchboard.common.settings import get_settings
from tests.support import services
from tests.support.environment import configured
from tests.support.processes import ServiceProcess, free_port, service_env
from tests.support.waiting import wait_for


def schema_drift(url: str) -> list[object]:
    engine = create_engine(url)
    with engine.connect() as conn:
        return list(compare_metadata(MigrationContext.configure(conn), Base.metadata))


def test_the_migrated_postgres_schema_matches_the_models(pg) -> None:
    assert schema_drift(get_settings().effective_database_url) == []


def test_the_migrated_sqlite_schema_matches_the_models(embedded) -> None:
    assert schema_drift(get_settings().effective_database_url) == []


def test_concurrent_starts_apply_the_migrations_exactly_once(admin_database_url, tmp_path) -> None:
    url = services.create_database(admin_database_url)
    try:
        env = service_env(database_url=url, amqp_url="", log_level="INFO")
        procs = [ServiceProcess(["migrate"], env, tmp_path / f"m{i}.log") for i in range(4)]
        codes = [p.proc.wait(120) for p in procs]
        outputs = [p.output() for p in procs]
        assert codes == [0, 0, 0, 0], outputs
        assert sum("migrations.applied" in out for out in outputs) == 1, outputs
        assert sum("database already up to date" in out for out in outputs) == 3
        with configured(database_url=url, amqp_url=""):
            assert worker_startup_migrations() is False
        engine = create_engine(url)
        try:
            with engine.connect() as conn:
                applied = conn.exec_driver_sql("SELECT version_num FROM alembic_version").all()
        finally:
            engine.dispose()
        assert applied == [(head_revision(),)]
    finally:
        services.drop_database(admin_database_url, url)


def test_the_newest_script_s_name_is_alembic_s_head() -> None:
    # starts compare the database with the scripts' names, without importing Alembic
    assert newest_script_revision() == head_revision()


def test_only_a_schema_behind_the_code_s_newest_revision_cannot_serve_it() -> None:
    previous, head = script_revisions()[-2:]
    assert schema_behind(head) is None
    assert schema_behind("9999") is None  # ahead: a rolled-back release runs on it
    assert schema_behind(previous) == (
        f"database schema at revision {previous}, this release needs {head}: "
        "run the migration (switchboard migrate)"
    )
    assert schema_behind(None) is not None and "revision none" in str(schema_behind(None))


def test_every_tenant_table_has_a_non_null_business_id_leading_an_index() -> None:
    from sqlalchemy import UniqueConstraint

    from switchboard.common.db.base import tenant_tables

    for name in tenant_tables():
        table = Base.metadata.tables[name]
        assert table.c.business_id.nullable is False, name
        indexes = [list(index.columns) for index in table.indexes]
        keys = [list(c.columns) for c in table.constraints if isinstance(c, UniqueConstraint)]
        leaders = [columns[0].name for columns in indexes + keys]
        # exactly one: a single-column index beside a unique key that starts with business_id
        # costs every write and misleads the planner (migration 0009)
        assert leaders.count("business_id") == 1, f"{name}: business_id leads {leaders}"


def test_migrate_refuses_a_database_newer_code_migrated_and_services_run_on_it(
    new_database, tmp_path
) -> None:
    # a rollback: the database stays at the newer release's revision (docs/operations.md)
    with get_engine().begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))

    result = CliRunner().invoke(app, ["migrate"])
    assert result.exit_code == 1, result.output
    assert " ".join(result.output.split()) == (
        f"error: the database is at revision 9999, which this code does not know (its "
        f"newest is {head_revision()}): run the release that migrated it, or a newer one"
    )
    # a worker's or scheduler's start runs on it: the previous release runs on the next schema
    assert worker_startup_migrations() is False
    port = free_port()
    scheduler = subprocess.Popen(
        [sys.executable, "-m", "switchboard.scheduler", "--port", str(port)],
        env=service_env(database_url=new_database.database_url, amqp_url="", log_level="INFO"),
        stdout=(tmp_path / "scheduler.log").open("wb"),
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for(lambda: _answers(f"http://127.0.0.1:{port}/health"), timeout=60, what="/health")
    finally:
        scheduler.terminate()
        scheduler.wait(30)
    assert "migrations.database_ahead" in (tmp_path / "scheduler.log").read_text()
    with get_engine().connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).all() == [("9999",)]


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def test_a_command_on_a_postgresql_database_not_migrated_says_so_in_one_line(
    admin_database_url, tmp_path
) -> None:
    url = services.create_database(admin_database_url)
    where = "{0.host}:{0.port}/{0.database}".format(make_url(url))
    args = ["keys", "list", "--business", "1"]
    try:
        with configured(database_url=url, amqp_url="", var_dir=str(tmp_path)):
            never = CliRunner().invoke(app, args)
            with get_engine().connect() as conn:
                command.upgrade(alembic_config(conn), "0011")
                conn.commit()
            old = CliRunner().invoke(app, args)
            worker_startup_migrations()
            current = CliRunner().invoke(app, args)
    finally:
        services.drop_database(admin_database_url, url)

    assert (never.exit_code, " ".join(never.output.split())) == (
        1,
        f"error: no Switchboard tables in the database {where}: run `switchboard migrate`",
    )
    assert (old.exit_code, " ".join(old.output.split())) == (
        1,
        f"error: the database {where} is at revision 0011, older than this code's: run "
        "`switchboard migrate` (or `make run`) first",
    )
    assert current.exit_code == 2 and "business 1 not found" in current.output


def test_a_failing_migration_raises_its_own_error_and_frees_the_lock(new_database) -> None:
    with get_engine().connect() as conn:
        command.downgrade(alembic_config(conn), "0027")
        # what 0028 creates, there already (made by hand): 0028 fails
        conn.execute(text("CREATE INDEX ix_call_logs_open ON call_logs (id)"))
        conn.commit()

    with pytest.raises(MigrationFailedError, match="ix_call_logs_open") as failed:
        worker_startup_migrations()
    assert isinstance(failed.value.__cause__, ProgrammingError)  # kept for the debug log
    # A password in the URL (the local server trusts any) is not named; the rest of it is.
    url = make_url(new_database.database_url).set(password="s3cret-pw")
    with configured(database_url=url.render_as_string(hide_password=False), amqp_url=""):
        result = CliRunner().invoke(app, ["migrate"])
    assert result.exit_code == 1, result.output
    said = " ".join(result.output.split())
    assert "s3cret-pw" not in said
    shown = url.set(drivername="postgresql+psycopg").render_as_string(hide_password=True)
    assert said == (
        "error: migration 0028_open_call_logs_index failed on the database "
        f'{shown}: relation "ix_call_logs_open" already exists (nothing applied: the database '
        "stays at revision 0027)"
    )

    other = create_engine(new_database.database_url)  # another session: the lock is not its
    try:
        with other.connect() as conn:
            locked = "SELECT pg_try_advisory_lock(:id)"
            assert conn.execute(text(locked), {"id": MIGRATION_LOCK_ID}).scalar() is True
    finally:
        other.dispose()


def test_migrating_as_a_role_that_owns_nothing_is_refused_in_one_line(
    admin_database_url, tmp_path
) -> None:
    # the operator forgot MIGRATION_DATABASE_URL: DATABASE_URL is the services' login role
    owner = services.create_database(admin_database_url)
    role = f"sb_login_{uuid.uuid4().hex[:10]}"
    login = make_url(owner).set(username=role, password="pw").render_as_string(False)
    try:
        with psycopg.connect(admin_database_url, autocommit=True) as conn:
            conn.execute(f"CREATE ROLE {role} LOGIN PASSWORD 'pw' NOSUPERUSER NOBYPASSRLS")
        with configured(database_url=login, migration_database_url=owner, amqp_url=""):
            assert CliRunner().invoke(app, ["db", "grant-app-role", role]).exit_code == 0
            with migration_engine() as engine, engine.connect() as conn:
                command.downgrade(alembic_config(conn), "0027")
                conn.commit()
        with configured(database_url=login, amqp_url="", var_dir=str(tmp_path)):
            result = CliRunner().invoke(app, ["migrate"])
    finally:
        services.drop_database(admin_database_url, owner)
        with psycopg.connect(admin_database_url, autocommit=True) as conn:
            conn.execute(f"DROP ROLE IF EXISTS {role}")

    assert result.exit_code == 1, result.output
    assert " ".join(result.output.split()) == (
        f"error: the role {role} may not migrate the database (must be owner of table "
        "call_logs): migrations run as the tables' owner, MIGRATION_DATABASE_URL"
    )


def test_a_command_as_a_login_role_not_granted_yet_names_the_grant(
    admin_database_url, tmp_path
) -> None:
    # the login role was created, `switchboard db grant-app-role` not run yet
    owner = services.create_database(admin_database_url)
    role = f"sb_login_{uuid.uuid4().hex[:10]}"
    login = make_url(owner).set(username=role, password="pw").render_as_string(False)
    try:
        with psycopg.connect(admin_database_url, autocommit=True) as conn:
            conn.execute(f"CREATE ROLE {role} LOGIN PASSWORD 'pw' NOSUPERUSER NOBYPASSRLS")
        env = {"database_url": login, "migration_database_url": owner, "amqp_url": ""}
        with configured(**env, var_dir=str(tmp_path)):
            worker_startup_migrations()  # as the owner
            results = [
                CliRunner().invoke(app, args)
                for args in (
                    ["keys", "list", "--business", "1"],
                    ["create-business", "--name", "Acme", "--phone", "+15551230001"],
                )
            ]
    finally:
        services.drop_database(admin_database_url, owner)
        with psycopg.connect(admin_database_url, autocommit=True) as conn:
            conn.execute(f"DROP ROLE IF EXISTS {role}")

    for result, table in zip(results, ("alembic_version", "businesses"), strict=True):
        assert result.exit_code == 1, result.output
        assert " ".join(result.output.split()) == (
            f"error: the role {role} may not use the database (permission denied for table "
            f"{table}): grant it its rights with `switchboard db grant-app-role {role}`, as "
            "the tables' owner"
        )
