"""The CLI's options that come from the environment (``--admin-key`` from ``ADMIN_API_KEY``,
``--api-url`` from ``API_BASE_URL``, ``--api-key`` from ``SWITCHBOARD_API_KEY``) come from
``.env`` in the directory it runs in too, as the services' settings do: ``switchboard`` as a
process, in a directory holding a ``.env``, against a real API process."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer

from switchboard.cli.dotenv import OPTION_VARIABLES
from switchboard.cli.exit_codes import REFUSED
from switchboard.cli.main import app
from switchboard.common.settings import Settings
from tests.support.api_server import running_api, shared_sqlite
from tests.support.environment import configured
from tests.support.factories import TestBusiness, make_business
from tests.support.processes import run_cli, service_env

pytestmark = pytest.mark.e2e
#: Not the development default: only the file can give it to the CLI.
ADMIN_KEY = "admin-key-from-dotenv-0123456789abcdef"


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Settings]]:
    """A real API whose admin key is :data:`ADMIN_KEY`, on a SQLite file this process shares."""
    directory = tmp_path_factory.mktemp("dotenv-cli")
    with configured(admin_api_key=ADMIN_KEY), shared_sqlite(directory) as settings:
        with running_api(settings, directory) as url:
            yield url, settings


@pytest.fixture
def business(api: tuple[str, Settings]) -> TestBusiness:
    return make_business("Dotenv Dental")


def _switchboard(cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """``switchboard ARGS`` run in ``cwd``, none of the options' variables exported but ``env``."""
    environment = service_env(**env)
    for name in OPTION_VARIABLES:
        if name.lower() not in env:
            environment.pop(name, None)
    return run_cli(*args, env=environment, cwd=cwd)


def test_the_admin_key_and_the_api_url_come_from_dotenv(tmp_path: Path, api) -> None:
    """Before, ``events list`` there was a usage error: ``Missing option '--admin-key'``."""
    url, _ = api
    (tmp_path / ".env").write_text(
        f"# as .env.example has them\nADMIN_API_KEY={ADMIN_KEY}\nAPI_BASE_URL={url}\n"
    )
    listed = _switchboard(tmp_path, "events", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout) == {"items": [], "count": 0}


def test_the_business_key_comes_from_dotenv_in_any_case_and_quoted(
    tmp_path: Path, api, business: TestBusiness
) -> None:
    url, _ = api
    (tmp_path / ".env").write_text(
        f"export switchboard_api_key='{business.api_key}'\napi_base_url=\"{url}\"\n"
    )
    listed = _switchboard(tmp_path, "leads", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout) == []


def test_an_exported_variable_wins_over_dotenv(tmp_path: Path, api) -> None:
    url, _ = api
    (tmp_path / ".env").write_text(f"ADMIN_API_KEY={ADMIN_KEY}\nAPI_BASE_URL={url}\n")
    refused = _switchboard(tmp_path, "events", "list", "--json", admin_api_key="not-the-key")
    assert refused.returncode == 2, refused.stderr  # the API's 401
    assert refused.stdout == ""


def test_without_dotenv_the_key_is_still_asked_for(tmp_path: Path, api) -> None:
    url, _ = api
    asked = _switchboard(tmp_path, "events", "list", api_base_url=url)
    assert asked.returncode == 2
    assert "--admin-key" in asked.stderr and not (tmp_path / ".env").exists()


def test_a_dotenv_that_is_not_utf8_is_one_line_and_exit_2_for_commands_and_services(
    tmp_path: Path,
) -> None:
    """Every command and service ended in python-dotenv's traceback (``UnicodeDecodeError``):
    now one line naming the file, the byte (its offset in the file, past the first 8 KiB the
    reader decodes at a time) and its line, and the exit code of an environment not fit."""
    content = b"# " + b"x" * 9_000 + b"\nLOG_LEVEL=info\nNOTE=caf\xe9\n"  # Latin-1
    (tmp_path / ".env").write_bytes(content)
    byte = content.index(b"\xe9")
    said = f"{tmp_path / '.env'} is not UTF-8 text (byte {byte}, line 3): save it as UTF-8"
    runs = {
        "leads list": _switchboard(tmp_path, "leads", "list"),
        "migrate": _switchboard(tmp_path, "migrate"),
    }
    for service in ("api", "worker"):
        runs[service] = subprocess.run(
            [sys.executable, "-m", f"switchboard.{service}"],
            cwd=tmp_path,
            env=service_env(),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    for name, run in runs.items():
        assert run.returncode == REFUSED, (name, run.stderr)
        assert run.stderr.splitlines() == [run.stderr.strip()], (name, run.stderr)
        assert run.stderr.strip().endswith(said), (name, run.stderr)
        assert run.stdout == "", name
    assert runs["leads list"].stderr.startswith("error: ")
    assert runs["api"].stderr.startswith("python -m switchboard.api: refusing to start: ")
    assert _switchboard(tmp_path, "--help").returncode == 0  # reads no setting


def test_every_option_read_from_the_environment_is_read_from_dotenv() -> None:
    """A new ``envvar=`` option is added to ``OPTION_VARIABLES``, or .env would not give it."""
    root = typer.main.get_command(app)
    found: set[str] = set()

    def walk(command: Any, ctx: Any) -> None:  # typer's vendored click: duck-typed
        for param in command.params:
            envvars = param.envvar if isinstance(param.envvar, list | tuple) else [param.envvar]
            found.update(name for name in envvars if name)
        for name in command.list_commands(ctx) if hasattr(command, "list_commands") else []:
            sub = command.get_command(ctx, name)
            walk(sub, type(ctx)(sub, parent=ctx, info_name=name))

    walk(root, typer.Context(root, info_name="switchboard"))
    assert {"PUBLIC_BASE_URL", "ADMIN_API_KEY"} <= found  # the walk reached the lazy groups
    assert found == set(OPTION_VARIABLES)
